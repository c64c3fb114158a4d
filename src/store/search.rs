//! The search index's keys and reads. A message is filed under each term of
//! its searchable text (`search::document`, `search::index_terms`) at
//! (chat, sent time, seq), in the same commit that stores, edits or deletes
//! it, so the index never disagrees with the messages. Reads walk one chat's
//! postings newest first and intersect several terms by leapfrogging: each
//! step is one seek to the newest posting at or below a position, so the
//! work depends on how the terms meet, not on the chat's length.

use super::StoreError;
use super::query::Query;
use super::records::MessageRecord;
use super::tables;
use crate::domain::MessageKind;
use crate::id::ChatId;

/// Where a message sits in its chat's postings: by sent time, then seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    pub millis: u64,
    pub seq: u64,
}

impl Stamp {
    /// Past every message: a bound that excludes nothing.
    pub const TOP: Self = Self {
        millis: u64::MAX,
        seq: u64::MAX,
    };

    pub fn of(message: &MessageRecord) -> Self {
        Self {
            millis: u64::try_from(message.created_at.millis()).unwrap_or(0),
            seq: message.seq,
        }
    }

    /// The next position up: an exclusive bound that includes `self`.
    pub fn after(self) -> Self {
        match self.seq.checked_add(1) {
            Some(seq) => Self { seq, ..self },
            None => Self {
                millis: self.millis.saturating_add(1),
                seq: 0,
            },
        }
    }
}

/// What `message` is found by: its text, and an attachment's file name.
pub fn document_of(message: &MessageRecord) -> String {
    let metadata = match message.kind {
        MessageKind::Text => None,
        _ => message.metadata.as_deref(),
    };
    crate::search::document(&message.content, metadata)
}

/// The index keys of `message` as it is now: none once it is deleted.
pub(super) fn postings(message: &MessageRecord) -> Vec<Vec<u8>> {
    if message.is_deleted() {
        return Vec::new();
    }
    let at = Stamp::of(message);
    crate::search::index_terms(&document_of(message))
        .iter()
        .map(|term| tables::search_posting(term, message.chat, at.millis, at.seq))
        .collect()
}

/// Whether an edit from `old` to `new` changes what the message is found by.
pub(super) fn same_document(old: &MessageRecord, new: &MessageRecord) -> bool {
    old.content == new.content
        && old.metadata == new.metadata
        && old.is_deleted() == new.is_deleted()
}

/// What looking for the newest match below a position found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The newest message below the bound filed under every term.
    Found(Stamp),
    /// None below the bound.
    Exhausted,
    /// The seek budget ran out; nothing above this position (inclusive)
    /// is a match, and nothing at or below it was decided.
    Stopped(Stamp),
}

/// The newest message of `chat` below `below` (exclusive) filed under every
/// one of `terms` (at least one), spending at most `budget` seeks.
pub fn newest_match(
    reader: &impl Query,
    terms: &[String],
    chat: ChatId,
    below: Stamp,
    budget: &mut usize,
) -> Result<Probe, StoreError> {
    let Some(first) = terms.first() else {
        return Ok(Probe::Exhausted);
    };
    let seek = |term: &str, below: Stamp, budget: &mut usize| {
        *budget = budget.saturating_sub(1);
        newest_posting(reader, term, chat, below)
    };
    let Some(mut candidate) = seek(first, below, budget)? else {
        return Ok(Probe::Exhausted);
    };
    // Terms that agree on `candidate`, counting from the one that found it.
    let mut agreed = 1;
    let mut at = 0;
    while agreed < terms.len() {
        if *budget == 0 {
            return Ok(Probe::Stopped(candidate));
        }
        at = (at + 1) % terms.len();
        match seek(&terms[at], candidate.after(), budget)? {
            None => return Ok(Probe::Exhausted),
            Some(found) if found == candidate => agreed += 1,
            Some(found) => {
                candidate = found;
                agreed = 1;
            }
        }
    }
    Ok(Probe::Found(candidate))
}

/// The newest posting of `term` in `chat` below `below` (exclusive).
fn newest_posting(
    reader: &impl Query,
    term: &str,
    chat: ChatId,
    below: Stamp,
) -> Result<Option<Stamp>, StoreError> {
    let start = tables::search_term(term, chat);
    let end = tables::search_posting(term, chat, below.millis, below.seq);
    let Some(key) = reader
        .access()
        .last_key_before(tables::SEARCH_TERMS, &start, &end)?
    else {
        return Ok(None);
    };
    let at = key.len().saturating_sub(16);
    match (tables::u64_at(&key, at), tables::u64_at(&key, at + 8)) {
        (Some(millis), Some(seq)) => Ok(Some(Stamp { millis, seq })),
        _ => Err(StoreError::Corrupt("search index key".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChatKind;
    use crate::id::UserId;
    use crate::store::ops::{AddUser, CreateChat, Created, Draft, SendMessage};
    use crate::store::{ChatRecord, Store, UserRecord};
    use crate::timestamp::Timestamp;

    async fn chat_with(store: &Store, texts: &[String]) -> ChatId {
        let user = UserRecord::new("+6281200000001".into(), None, Timestamp::now());
        let user: UserId = store.apply(AddUser { user }).await.unwrap().id;
        let now = Timestamp::now();
        let chat = ChatRecord {
            id: ChatId::generate(),
            kind: ChatKind::Group,
            admins: vec![user],
            participants: vec![user],
            name: Some("notes".into()),
            avatar: None,
            created_by: user,
            created_at: now,
            updated_at: now,
        };
        let Created::New(chat) = store.apply(CreateChat { chat }).await.unwrap() else {
            panic!("a new chat");
        };
        for text in texts {
            let draft = Draft {
                kind: MessageKind::Text,
                content: text.clone(),
                metadata: None,
                upload: None,
                reply_to: None,
                mentions: Vec::new(),
                forwarded: false,
            };
            let send = SendMessage {
                chat: chat.id,
                sender: user,
                draft,
                client_id: None,
                at: Timestamp::now(),
            };
            store.apply(send).await.unwrap();
        }
        index(store).await;
        chat.id
    }

    /// Runs the indexer's write until nothing waits.
    async fn index(store: &Store) {
        use crate::store::ops::IndexForSearch;
        while store
            .apply(IndexForSearch { limit: 1_000 })
            .await
            .unwrap()
            .more
        {}
    }

    #[tokio::test]
    async fn terms_that_rarely_meet_stop_at_the_budget_and_resume_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // "alpha" and "beta" alternate for 60 messages and meet only in the first.
        let mut texts = vec!["alpha beta".to_owned()];
        texts.extend((0..60).map(|n| if n % 2 == 0 { "alpha" } else { "beta" }.to_owned()));
        let chat = chat_with(&store, &texts).await;
        let reader = store.read().unwrap();
        let terms = ["alpha".to_owned(), "beta".to_owned()];
        let mut budget = 10;
        let Probe::Stopped(at) =
            newest_match(&reader, &terms, chat, Stamp::TOP, &mut budget).unwrap()
        else {
            panic!("ten seeks are not enough");
        };
        assert_eq!(budget, 0);
        assert!(at.seq > 1);
        // Going on from there, with seeks enough, finds the one match.
        let mut budget = 1_000;
        let probe = newest_match(&reader, &terms, chat, at.after(), &mut budget).unwrap();
        let Probe::Found(found) = probe else {
            panic!("the first message matches: {probe:?}");
        };
        assert_eq!(found.seq, 1);
        let probe = newest_match(&reader, &terms, chat, found, &mut budget).unwrap();
        assert_eq!(probe, Probe::Exhausted);
        store.close().await;
    }

    #[tokio::test]
    async fn an_edit_moves_the_message_to_its_new_terms_and_a_deletion_removes_it() {
        use crate::domain::ChangeWindows;
        use crate::store::ops::{Change, ChangeMessage};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let chat = chat_with(&store, &["satu dua".to_owned()]).await;
        let actor = store
            .read()
            .unwrap()
            .message(chat, 1)
            .unwrap()
            .unwrap()
            .sender;
        let windows = ChangeWindows {
            edit: None,
            delete: None,
        };
        let find = |term: &str| {
            let mut budget = 100;
            newest_match(
                &store.read().unwrap(),
                &[term.to_owned()],
                chat,
                Stamp::TOP,
                &mut budget,
            )
            .unwrap()
        };
        let change = |change| ChangeMessage {
            chat,
            seq: 1,
            actor,
            change,
            at: Timestamp::now(),
        };
        let edit = Change::Edit {
            content: "tiga".into(),
            windows,
        };
        store.apply(change(edit)).await.unwrap();
        // The old text is never found, even before the indexer runs.
        assert_eq!(find("satu"), Probe::Exhausted);
        assert!(store.read().unwrap().is_search_pending(chat, 1).unwrap());
        index(&store).await;
        assert!(matches!(find("tiga"), Probe::Found(stamp) if stamp.seq == 1));
        store
            .apply(change(Change::Delete { windows }))
            .await
            .unwrap();
        assert_eq!(find("tiga"), Probe::Exhausted);
        index(&store).await;
        assert_eq!(find("tiga"), Probe::Exhausted);
        store.close().await;
    }

    #[test]
    fn the_position_after_one_is_the_next_in_order() {
        let at = Stamp { millis: 5, seq: 9 };
        assert!(at < at.after());
        assert_eq!(at.after(), Stamp { millis: 5, seq: 10 });
        let last = Stamp {
            millis: 5,
            seq: u64::MAX,
        };
        assert_eq!(last.after(), Stamp { millis: 6, seq: 0 });
    }
}
