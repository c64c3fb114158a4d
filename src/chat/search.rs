//! Searching the messages of the chats a user is in now, newest first.
//!
//! Each chat's matches come from the store's index (`store::newest_match`)
//! newest first; the chats are merged by (sent time, chat id, seq), the
//! order the cursor names. Every candidate is then checked exactly against
//! the query (`search::Plan::matches`) and against what the caller may see
//! (deleted for everyone, or by the caller for themselves, is never found).
//! A request does bounded work: past `SEEK_BUDGET` index seeks or
//! `CHECK_BUDGET` candidates it answers what it has, with a cursor to go on
//! from, so a page may hold fewer than `limit` results while `next` is set.

use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;

use super::views::MessageView;
use super::{ChatService, chat_of};
use crate::domain::ChatKind;
use crate::error::Result;
use crate::id::{ChatId, UserId};
use crate::search::Plan;
use crate::store::{
    ChatRecord, MemberRecord, MessageRecord, Probe, Query, StoreError, newest_match,
};

pub const SEARCH_LIMIT_DEFAULT: usize = 20;
pub const SEARCH_LIMIT_MAX: usize = 50;
/// Index seeks one request may make: a few milliseconds of work.
const SEEK_BUDGET: usize = 20_000;
/// Candidates one request may load and check.
const CHECK_BUDGET: usize = 1_000;

/// A position in the order results come in: newest first by sent time,
/// then by chat id and seq, both descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    millis: u64,
    chat: [u8; 12],
    seq: u64,
}

impl Cursor {
    fn of(message: &MessageRecord) -> Self {
        Self {
            millis: u64::try_from(message.created_at.millis()).unwrap_or(0),
            chat: *message.chat.as_bytes(),
            seq: message.seq,
        }
    }

    /// The exclusive bound that still includes `self`.
    fn including(self) -> Self {
        match self.seq.checked_add(1) {
            Some(seq) => Self { seq, ..self },
            None => Self {
                millis: self.millis.saturating_add(1),
                seq: 0,
                ..self
            },
        }
    }

    /// Opaque to clients: 28 bytes, base64url.
    pub fn encode(self) -> String {
        let mut bytes = Vec::with_capacity(28);
        bytes.extend_from_slice(&self.millis.to_be_bytes());
        bytes.extend_from_slice(&self.chat);
        bytes.extend_from_slice(&self.seq.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let bytes: [u8; 28] = bytes.try_into().ok()?;
        let (millis, rest) = bytes.split_at(8);
        let (chat, seq) = rest.split_at(12);
        Some(Self {
            millis: u64::from_be_bytes(millis.try_into().ok()?),
            chat: chat.try_into().ok()?,
            seq: u64::from_be_bytes(seq.try_into().ok()?),
        })
    }
}

/// A search, its input already checked.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// 1-200 characters after trimming.
    pub query: String,
    /// Only this chat (which the caller must be in).
    pub chat: Option<ChatId>,
    pub limit: usize,
    pub before: Option<Cursor>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchPage {
    pub results: Vec<SearchResult>,
    /// Pass as `before` for the next page; `null` when there is none.
    pub next: Option<String>,
    /// Some messages of these chats were not indexed yet (a large upgrade
    /// still being indexed, or a very busy server): search again shortly
    /// for everything.
    pub partial: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResult {
    pub message: MessageView,
    pub chat: ChatSummary,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatSummary {
    pub id: ChatId,
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "group")]
    pub kind: &'static str,
    /// The group's name; `null` for a private chat.
    pub name: Option<String>,
}

impl ChatSummary {
    fn of(chat: &ChatRecord) -> Self {
        Self {
            id: chat.id,
            kind: match chat.kind {
                ChatKind::Private => "private",
                ChatKind::Group => "group",
            },
            name: chat.name.clone(),
        }
    }
}

/// Why a page ended.
enum End {
    /// Nothing more matches.
    Done,
    /// More may match below this cursor.
    More(Cursor),
}

impl ChatService {
    /// The messages of `user`'s chats (or of `request.chat`) that match the
    /// query, newest first, once the indexer has filed what those chats had
    /// waiting (or a short while has passed: then the page is `partial`).
    pub async fn search(&self, user: UserId, request: &SearchRequest) -> Result<SearchPage> {
        let chats: Vec<ChatId> = {
            let reader = self.store().read()?;
            match request.chat {
                Some(chat) => vec![chat_of(&reader, chat, user)?.id],
                None => reader.chats_of(user)?,
            }
        };
        let complete = self.inner.indexer.catch_up(self.store(), &chats).await?;
        let mut page = self.search_indexed(user, request)?;
        page.partial = !complete;
        Ok(page)
    }

    fn search_indexed(&self, user: UserId, request: &SearchRequest) -> Result<SearchPage> {
        let reader = self.store().read()?;
        let chats: Vec<ChatRecord> = match request.chat {
            Some(chat) => vec![chat_of(&reader, chat, user)?],
            None => {
                let mut chats = Vec::new();
                for id in reader.chats_of(user)? {
                    if let Some(chat) = reader.chat(id)?.filter(|c| c.has_participant(user)) {
                        chats.push(chat);
                    }
                }
                chats
            }
        };
        let plan = Plan::parse(&request.query);
        if plan.is_empty() {
            return Ok(SearchPage {
                results: Vec::new(),
                next: None,
                partial: false,
            });
        }
        let mut walk = Walk {
            reader: &reader,
            plan: &plan,
            chats: &chats,
            numbers: Vec::with_capacity(chats.len()),
            seeks: SEEK_BUDGET,
            heads: BinaryHeap::new(),
            messages: vec![None; chats.len()],
            undecided: None,
        };
        for (index, chat) in chats.iter().enumerate() {
            walk.numbers.push(reader.search_chat(chat.id)?);
            let below = match request.before {
                Some(cursor) => seq_bound(&reader, chat.id, cursor)?,
                None => u64::MAX,
            };
            walk.advance(index, below)?;
        }
        let mut found = Vec::new();
        let mut checked = 0;
        let end = loop {
            let Some(&(head, index)) = walk.heads.peek() else {
                break walk
                    .undecided
                    .map_or(End::Done, |at| End::More(at.including()));
            };
            if let Some(undecided) = walk.undecided.filter(|undecided| head <= *undecided) {
                break End::More(undecided.including());
            }
            if found.len() == request.limit || checked == CHECK_BUDGET {
                break End::More(head.including());
            }
            walk.heads.pop();
            checked += 1;
            let message = walk.messages[index]
                .take()
                .ok_or_else(|| StoreError::Corrupt("search walk".into()))?;
            let seq = message.seq;
            if !message.is_deleted()
                && !reader.is_hidden(user, message.chat, seq)?
                && plan.matches(&crate::store::document_of(&message))
            {
                found.push((index, message));
            }
            walk.advance(index, seq)?;
        };
        let results = views(&reader, &chats, found)?;
        Ok(SearchPage {
            results,
            next: match end {
                End::Done => None,
                End::More(cursor) => Some(cursor.encode()),
            },
            partial: false,
        })
    }
}

/// The first seq of `chat` that does not come after `cursor` in the order
/// results are given: every message below it does. A chat's messages are
/// in sent order by seq (the writer never stamps one earlier than the one
/// before), so this is a binary search over its messages.
fn seq_bound(reader: &impl Query, chat: ChatId, cursor: Cursor) -> Result<u64> {
    let Some(head) = reader.chat_head(chat)? else {
        return Ok(0);
    };
    let (mut low, mut high) = (1, head.last_seq.saturating_add(1));
    while low < high {
        let middle = low + (high - low) / 2;
        let below = match reader.message(chat, middle)? {
            Some(message) => Cursor::of(&message) < cursor,
            None => true,
        };
        if below {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Ok(low)
}

/// The merge of every chat's matches.
struct Walk<'a, R: Query> {
    reader: &'a R,
    plan: &'a Plan,
    chats: &'a [ChatRecord],
    /// Each chat's number in the index; `None` for a chat it has no
    /// message of.
    numbers: Vec<Option<u32>>,
    seeks: usize,
    /// Each chat's newest match not yet taken, by position.
    heads: BinaryHeap<(Cursor, usize)>,
    /// The message of each chat's head.
    messages: Vec<Option<MessageRecord>>,
    /// The highest position a chat stopped at for want of seeks: nothing
    /// at or below it is known.
    undecided: Option<Cursor>,
}

impl<R: Query> Walk<'_, R> {
    /// Finds chat `index`'s newest match below seq `below`.
    fn advance(&mut self, index: usize, below: u64) -> Result<()> {
        let Some(number) = self.numbers[index] else {
            return Ok(());
        };
        let chat = self.chats[index].id;
        let probe = newest_match(
            self.reader,
            self.plan.lookups(),
            number,
            below,
            &mut self.seeks,
        )?;
        match probe {
            Probe::Found(seq) => {
                let message = self.indexed(chat, seq)?;
                self.heads.push((Cursor::of(&message), index));
                self.messages[index] = Some(message);
            }
            Probe::Exhausted => {}
            Probe::Stopped(seq) => {
                let at = Cursor::of(&self.indexed(chat, seq)?);
                self.undecided = Some(self.undecided.map_or(at, |known| known.max(at)));
            }
        }
        Ok(())
    }

    /// A message the index holds a posting of (messages are never removed).
    fn indexed(&self, chat: ChatId, seq: u64) -> Result<MessageRecord> {
        self.reader
            .message(chat, seq)?
            .ok_or_else(|| StoreError::Corrupt("a search posting of no message".into()).into())
    }
}

/// The found messages as their chats' members see them.
fn views(
    reader: &impl Query,
    chats: &[ChatRecord],
    found: Vec<(usize, crate::store::MessageRecord)>,
) -> Result<Vec<SearchResult>> {
    let mut members: HashMap<usize, Vec<(UserId, MemberRecord)>> = HashMap::new();
    let mut results = Vec::with_capacity(found.len());
    for (index, message) in found {
        let chat = &chats[index];
        let members = match members.entry(index) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(reader.members(chat.id)?),
        };
        let reply = match message.reply_to {
            Some(seq) => reader.message(chat.id, seq)?,
            None => None,
        };
        results.push(SearchResult {
            message: MessageView::new(&message, members, reply.as_ref()),
            chat: ChatSummary::of(chat),
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_rejects_anything_else() {
        let cursor = Cursor {
            millis: 1_700_000_000_123,
            chat: [7; 12],
            seq: 42,
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        assert_eq!(Cursor::decode("nope"), None);
        assert_eq!(Cursor::decode(""), None);
    }
}
