//! redb's own durable write rate on a given disk, for `clavox bench`: the
//! ceiling any send path built on it can reach. Each record writes exactly
//! what a stored message writes (the message, its chat's head, the sender's
//! read mark, through the same `Tx` calls), and each transaction commits with
//! the same durability as the writer's batches.

use std::path::Path;
use std::time::{Duration, Instant};

use redb::{Database, Durability};

use super::StoreError;
use super::records::{ChatHead, MemberRecord, MessageRecord};
use super::tx::Tx;
use crate::domain::{DeliveryMark, MessageKind, ReadMark};
use crate::id::{ChatId, MessageId, UserId};
use crate::timestamp::Timestamp;

/// The result of committing batches of one size for a while.
#[derive(Debug, Clone, Copy)]
pub struct CommitRate {
    pub batch: usize,
    pub records: u64,
    pub commits: u64,
    pub elapsed: Duration,
}

impl CommitRate {
    pub fn records_per_second(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Commits batches of `batch` message-shaped records into a fresh database
/// file in `dir` for about `duration` (at least one commit), then deletes it.
pub fn commit_rate(dir: &Path, batch: usize, duration: Duration) -> Result<CommitRate, StoreError> {
    let path = dir.join(format!("ceiling-{batch}.redb"));
    let result = measure(&path, batch.max(1), duration);
    let _ = std::fs::remove_file(&path);
    result
}

fn measure(path: &Path, batch: usize, duration: Duration) -> Result<CommitRate, StoreError> {
    let db = Database::create(path)?;
    super::migrate(&db)?;
    let chats: Vec<ChatId> = (0..16).map(|_| ChatId::generate()).collect();
    let sender = UserId::generate();
    let now = Timestamp::now();
    let mut seq = 0u64;
    let mut commits = 0u64;
    let started = Instant::now();
    while commits == 0 || started.elapsed() < duration {
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        {
            let tx = Tx::new(&txn);
            for _ in 0..batch {
                seq += 1;
                // Spread over a few chats, as a server's traffic is.
                let chat = chats[(seq % chats.len() as u64) as usize];
                tx.put_message(&MessageRecord {
                    id: MessageId::generate(),
                    chat,
                    seq,
                    sender,
                    kind: MessageKind::Text,
                    content: format!("a message of ordinary length, number {seq}"),
                    metadata: None,
                    client_id: None,
                    created_at: now,
                    updated_at: now,
                    rev: seq,
                    upload: None,
                    reply_to: None,
                    mentions: Vec::new(),
                    forwarded: false,
                    reactions: Vec::new(),
                    pinned: false,
                    edited_at: None,
                    deleted_at: None,
                })?;
                tx.put_chat_head(
                    chat,
                    &ChatHead {
                        last_seq: seq,
                        last_activity: now,
                        last_rev: seq,
                    },
                )?;
                tx.update_member(
                    chat,
                    sender,
                    &MemberRecord {
                        joined_at: now,
                        mark: ReadMark {
                            seq: 0,
                            at: now,
                            own_above: seq,
                        },
                        delivered: DeliveryMark { seq: 0, at: now },
                    },
                )?;
            }
        }
        txn.commit()?;
        commits += 1;
    }
    Ok(CommitRate {
        batch,
        records: commits * batch as u64,
        commits,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_whole_batches_and_cleans_up() {
        let dir = std::env::temp_dir().join(format!("clavox-ceiling-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rate = commit_rate(&dir, 10, Duration::from_millis(20)).unwrap();
        assert!(rate.commits >= 1);
        assert_eq!(rate.records, rate.commits * 10);
        assert!(rate.records_per_second() > 0.0);
        assert!(!dir.join("ceiling-10.redb").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
