//! The search indexer: files new and edited messages under their terms in
//! the background, many per commit, so the send path writes one small key
//! per message instead of its every term. A message waits in the store's
//! `search_pending` table (written in its own commit) until indexed, so a
//! crash loses nothing; a search first waits, briefly, for the messages of
//! the caller's chats that are still waiting (`catch_up`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::id::ChatId;
use crate::store::{Query, Store, StoreError, ops};

/// Messages filed per commit, at most.
const BATCH: usize = 2_000;
/// Time spent on the messages of one commit, at most. The sends that
/// share the commit wait for it: 2,000 messages at a time held them up for
/// tens of milliseconds (p99 at 11,000 sends/s 32 ms, 14 ms with this).
const WORK_PER_COMMIT: Duration = Duration::from_micros(250);
/// Messages filed per commit in a store shared by several nodes, where each
/// block of postings read is a round trip and every node's writes wait for
/// the commit: small, so sends are not held up behind the indexer.
const SHARED_BATCH: usize = 8;
/// How often an idle indexer looks for new work without being nudged.
const IDLE_LOOK: Duration = Duration::from_millis(200);
/// A backlog this large (an upgraded data directory) is worth progress
/// lines in the log.
const LARGE_BACKLOG: u64 = 20_000;
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Longest a search waits for the indexer before answering `partial`.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

/// Wakes the indexer and lets searches wait for it; cheap to clone.
#[derive(Clone, Default)]
pub struct Indexer {
    inner: Arc<Signals>,
}

#[derive(Default)]
struct Signals {
    /// Work may be waiting: look now.
    nudge: Notify,
    /// A commit of the indexer landed.
    progressed: Notify,
}

impl Indexer {
    /// Runs until `stop`: files waiting messages whenever there are any.
    pub async fn run(self, store: Store, stop: CancellationToken) {
        let mut progress = Progress::new(&store);
        loop {
            match Self::index_some(&store).await {
                Ok(indexed) => {
                    self.inner.progressed.notify_waiters();
                    progress.note(indexed.messages, !indexed.more);
                    if indexed.more {
                        continue;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "search indexing failed; trying again shortly");
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.inner.nudge.notified() => {}
                () = tokio::time::sleep(IDLE_LOOK) => {}
            }
        }
    }

    /// One commit's worth, if anything waits (looked up in a snapshot
    /// first, so an idle server does not commit empty batches).
    async fn index_some(store: &Store) -> Result<ops::Indexed, StoreError> {
        if store.read()?.search_pending(1)?.is_empty() {
            return Ok(ops::Indexed {
                messages: 0,
                more: false,
            });
        }
        let limit = if store.is_embedded() {
            BATCH
        } else {
            SHARED_BATCH
        };
        store
            .apply(ops::IndexForSearch {
                limit,
                budget: Some(WORK_PER_COMMIT),
            })
            .await
    }

    /// Waits until every message of `chats` that was waiting when called
    /// is indexed, or `CATCH_UP_WAIT` passes; whether all of them are.
    pub async fn catch_up(&self, store: &Store, chats: &[ChatId]) -> Result<bool, StoreError> {
        let waiting: Vec<(ChatId, u64)> = {
            let reader = store.read()?;
            let mut waiting = Vec::new();
            for &chat in chats {
                waiting.extend(
                    reader
                        .search_pending_in(chat)?
                        .into_iter()
                        .map(|seq| (chat, seq)),
                );
            }
            waiting
        };
        if waiting.is_empty() {
            return Ok(true);
        }
        let deadline = tokio::time::Instant::now() + CATCH_UP_WAIT;
        loop {
            let progressed = self.inner.progressed.notified();
            tokio::pin!(progressed);
            progressed.as_mut().enable();
            let reader = store.read()?;
            let mut done = true;
            for &(chat, seq) in &waiting {
                if reader.is_search_pending(chat, seq)? {
                    done = false;
                    break;
                }
            }
            drop(reader);
            if done {
                return Ok(true);
            }
            self.inner.nudge.notify_one();
            if tokio::time::timeout_at(deadline, progressed).await.is_err() {
                return Ok(false);
            }
        }
    }
}

/// Log lines while a large backlog (an upgraded data directory) drains.
struct Progress {
    total: u64,
    done: u64,
    last: Instant,
}

impl Progress {
    fn new(store: &Store) -> Self {
        let total = store
            .read()
            .and_then(|reader| reader.search_backlog())
            .unwrap_or(0);
        if total >= LARGE_BACKLOG {
            tracing::info!(
                messages = total,
                "indexing stored messages for search in the background; search answers `partial` until done"
            );
        }
        Self {
            total,
            done: 0,
            last: Instant::now(),
        }
    }

    fn note(&mut self, indexed: usize, finished: bool) {
        if self.total < LARGE_BACKLOG {
            return;
        }
        self.done += indexed as u64;
        if finished {
            tracing::info!(messages = self.done, "search index complete");
            self.total = 0;
        } else if self.last.elapsed() >= PROGRESS_EVERY {
            self.last = Instant::now();
            tracing::info!(
                indexed = self.done,
                of = self.total,
                "indexing messages for search"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::Blobs;
    use crate::bus::Hub;
    use crate::chat::{ChatService, NewChat, NewMessage, SearchRequest, Settings};
    use crate::settings::{LiveSettings, RuntimeSettings};
    use crate::store::{UserRecord, ops};
    use crate::timestamp::Timestamp;

    async fn user(store: &Store, phone: &str) -> crate::id::UserId {
        let user = UserRecord::new(phone.into(), None, Timestamp::now());
        store.apply(ops::AddUser { user }).await.unwrap().id
    }

    #[tokio::test]
    async fn a_search_says_partial_while_messages_wait_and_finds_them_once_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let live = LiveSettings::fixed(RuntimeSettings {
            registration: crate::domain::Registration::Open,
            allowed_prefixes: Vec::new(),
            edit_window: Duration::ZERO,
            delete_window: Duration::ZERO,
        });
        let chat = ChatService::new(
            store.clone(),
            Arc::new(Hub::new()),
            Blobs::open(&dir.path().join("uploads")).unwrap(),
            Settings {
                message_rate: 0,
                live,
            },
        );
        let (ana, budi) = (
            user(&store, "+6281200000001").await,
            user(&store, "+6281200000002").await,
        );
        let new_chat = NewChat {
            participants: vec![budi],
            kind: None,
            name: None,
        };
        let (view, _) = chat.create_chat(ana, new_chat).await.unwrap();
        let message = NewMessage {
            content: Some("kopi susu".into()),
            ..NewMessage::default()
        };
        chat.send_message(ana, view.id, message).await.unwrap();
        let request = SearchRequest {
            query: "kopi".into(),
            chat: None,
            limit: 20,
            before: None,
        };
        // No indexer runs: the search waits its while, then says so.
        let page = chat.search(budi, &request).await.unwrap();
        assert!(page.partial);
        assert!(page.results.is_empty());
        let stop = CancellationToken::new();
        let indexer = tokio::spawn({
            let chat = chat.clone();
            let stop = stop.clone();
            async move { chat.index_for_search(stop).await }
        });
        let page = chat.search(budi, &request).await.unwrap();
        assert!(!page.partial);
        assert_eq!(page.results.len(), 1);
        stop.cancel();
        indexer.await.unwrap();
        store.close().await;
    }
}
