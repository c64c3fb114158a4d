//! The search index: for each term, the messages whose text holds it, as
//! postings (chat number, seq) in that order, cut into blocks of at most
//! `BLOCK_BYTES`. A block is filed under its first posting and holds the
//! others as steps from the one before (varints), so a posting takes a
//! byte or two rather than a key of its own; a term seen once in many
//! chats shares blocks with them.
//!
//! Reads walk one chat's postings newest first and intersect several terms
//! by leapfrogging: each step is one seek to the block holding the newest
//! posting below a position, so the work depends on how the terms meet,
//! not on the chat's length. Within a chat, seq order is sent order.

use std::collections::BTreeMap;
use std::ops::Bound;

use redb::Table;

use super::StoreError;
use super::journal::Changes;
use super::open_tables::OpenTables;
use super::postgres::PgTxn;
use super::query::{Query, edge_in};
use super::records::MessageRecord;
use super::tables::{self, Entry};
use crate::domain::MessageKind;

/// The most bytes a block's value grows to before a new block starts: small
/// enough that filing a posting rewrites little, big enough that the key
/// (the term and 12 bytes) is a small share.
pub const BLOCK_BYTES: usize = 256;

/// One message in a term's postings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Posting {
    /// The chat's number in the index (`Query::search_chat`).
    pub chat: u32,
    pub seq: u64,
}

/// What `message` is found by: its text, and an attachment's file name.
pub fn document_of(message: &MessageRecord) -> String {
    let metadata = match message.kind {
        MessageKind::Text => None,
        _ => message.metadata.as_deref(),
    };
    crate::search::document(&message.content, metadata)
}

/// The terms `message` is filed under as it is now: none once deleted.
pub(super) fn terms_of(message: &MessageRecord) -> Vec<String> {
    if message.is_deleted() {
        return Vec::new();
    }
    crate::search::index_terms(&document_of(message))
        .into_iter()
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
    /// The newest message (its seq) below the bound filed under every term.
    Found(u64),
    /// None below the bound.
    Exhausted,
    /// The seek budget ran out; nothing above this seq (inclusive) is a
    /// match, and nothing at or below it was decided.
    Stopped(u64),
}

/// The newest message of chat number `chat` below seq `below` (exclusive)
/// filed under every one of `terms` (at least one), spending at most
/// `budget` seeks.
pub fn newest_match(
    reader: &impl Query,
    terms: &[String],
    chat: u32,
    below: u64,
    budget: &mut usize,
) -> Result<Probe, StoreError> {
    let Some(first) = terms.first() else {
        return Ok(Probe::Exhausted);
    };
    let seek = |term: &str, below: u64, budget: &mut usize| {
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
        match seek(&terms[at], candidate.saturating_add(1), budget)? {
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

/// The newest posting of `term` in chat number `chat` below seq `below`
/// (exclusive): the last posting of the block that starts below it.
fn newest_posting(
    reader: &impl Query,
    term: &str,
    chat: u32,
    below: u64,
) -> Result<Option<u64>, StoreError> {
    let start = tables::search_term(term);
    let end = tables::search_block(term, chat, below);
    let range = (
        Bound::Included(start.as_slice()),
        Bound::Excluded(end.as_slice()),
    );
    let Some((key, value)) = reader
        .access()
        .edge_entry(tables::SEARCH_POSTINGS, range, true)?
    else {
        return Ok(None);
    };
    let bound = Posting { chat, seq: below };
    let newest = decode(&key, &value)?
        .into_iter()
        .rev()
        .find(|posting| *posting < bound);
    Ok(newest
        .filter(|posting| posting.chat == chat)
        .map(|posting| posting.seq))
}

/// The search index's table, open for writing, in either engine.
pub(super) trait Postings {
    /// The first (or, with `back`, the last) block in a key range.
    fn edge_block(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        back: bool,
    ) -> Result<Option<Entry>, StoreError>;
    fn put_block(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    fn remove_block(&mut self, key: &[u8]) -> Result<(), StoreError>;
}

impl Postings for Table<'_, &'static [u8], &'static [u8]> {
    fn edge_block(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        back: bool,
    ) -> Result<Option<Entry>, StoreError> {
        edge_in(self, range, back)
    }

    fn put_block(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.insert(key, value)?;
        Ok(())
    }

    fn remove_block(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.remove(key)?;
        Ok(())
    }
}

/// redb's postings table among a batch's open tables, keeping its writes
/// for the journal when the batch has one.
pub(super) struct Journaled<'a, 't> {
    tables: &'a OpenTables<'t>,
    changes: Option<&'a Changes>,
}

impl<'a, 't> Journaled<'a, 't> {
    pub(super) fn new(tables: &'a OpenTables<'t>, changes: Option<&'a Changes>) -> Self {
        Self { tables, changes }
    }
}

impl Postings for Journaled<'_, '_> {
    fn edge_block(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        back: bool,
    ) -> Result<Option<Entry>, StoreError> {
        self.tables.with(tables::SEARCH_POSTINGS, |postings| {
            postings.edge_block(range, back)
        })
    }

    fn put_block(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.tables.with(tables::SEARCH_POSTINGS, |postings| {
            postings.put_block(key, value)
        })?;
        if let Some(changes) = self.changes {
            changes.put(tables::SEARCH_POSTINGS, key, value);
        }
        Ok(())
    }

    fn remove_block(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.tables.with(tables::SEARCH_POSTINGS, |postings| {
            postings.remove_block(key)
        })?;
        if let Some(changes) = self.changes {
            changes.delete(tables::SEARCH_POSTINGS, key);
        }
        Ok(())
    }
}

impl Postings for &PgTxn {
    fn edge_block(
        &self,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        back: bool,
    ) -> Result<Option<Entry>, StoreError> {
        Ok(self.range(tables::SEARCH_POSTINGS, range, back, 1)?.pop())
    }

    fn put_block(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.put(tables::SEARCH_POSTINGS, key, value);
        Ok(())
    }

    fn remove_block(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.delete(tables::SEARCH_POSTINGS, key);
        Ok(())
    }
}

/// Files each term's postings (sorted, no repeats), touching each block
/// they land in once.
pub(super) fn file(
    table: &mut impl Postings,
    terms: &BTreeMap<String, Vec<Posting>>,
) -> Result<(), StoreError> {
    for (term, postings) in terms {
        file_term(table, term, postings)?;
    }
    Ok(())
}

fn file_term(table: &mut impl Postings, term: &str, new: &[Posting]) -> Result<(), StoreError> {
    let start = tables::search_term(term);
    let end = term_end(term);
    let mut rest = new;
    while let Some(&first) = rest.first() {
        // The block `first` belongs in: the last one starting at or before
        // it, or, when it comes before them all, the term's first block.
        let at = tables::search_block(term, first.chat, first.seq);
        let block = match edge(table, (Bound::Included(&start), Bound::Included(&at)), true)? {
            Some(block) => Some(block),
            None => edge(table, (Bound::Excluded(&at), Bound::Excluded(&end)), false)?,
        };
        // The postings up to the next block's first go into this one.
        let next = match &block {
            Some((key, _)) => edge(table, (Bound::Excluded(key), Bound::Excluded(&end)), false)?,
            None => None,
        };
        let take = match next {
            Some((key, _)) => {
                let limit = first_of(&key)?;
                rest.partition_point(|posting| *posting < limit)
            }
            None => rest.len(),
        };
        let (mine, later) = rest.split_at(take.max(1));
        let merged = match &block {
            Some((key, value)) => merge(&decode(key, value)?, mine),
            None => mine.to_vec(),
        };
        rewrite(table, term, block.as_ref(), &merged)?;
        rest = later;
    }
    Ok(())
}

/// Takes `posting` out of `term`'s postings, if it is there.
pub(super) fn unfile(
    table: &mut impl Postings,
    term: &str,
    posting: Posting,
) -> Result<(), StoreError> {
    let start = tables::search_term(term);
    let at = tables::search_block(term, posting.chat, posting.seq);
    let Some(block) = edge(table, (Bound::Included(&start), Bound::Included(&at)), true)? else {
        return Ok(());
    };
    let mut postings = decode(&block.0, &block.1)?;
    let Ok(found) = postings.binary_search(&posting) else {
        return Ok(());
    };
    postings.remove(found);
    rewrite(table, term, Some(&block), &postings)
}

/// Replaces `old` (a block's key and value) with `postings` in as many
/// blocks as they need, writing only what changed.
fn rewrite(
    table: &mut impl Postings,
    term: &str,
    old: Option<&Entry>,
    postings: &[Posting],
) -> Result<(), StoreError> {
    let mut kept_old_key = false;
    for block in blocks(postings) {
        let key = tables::search_block(term, block[0].chat, block[0].seq);
        let value = encode_rest(block);
        if let Some((old_key, old_value)) = old
            && *old_key == key
        {
            kept_old_key = true;
            if *old_value == value {
                continue;
            }
        }
        table.put_block(&key, &value)?;
    }
    if let Some((old_key, _)) = old
        && !kept_old_key
    {
        table.remove_block(old_key)?;
    }
    Ok(())
}

/// `postings` cut into blocks, each as full as `BLOCK_BYTES` allows.
fn blocks(postings: &[Posting]) -> Vec<&[Posting]> {
    let mut blocks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for at in 1..postings.len() {
        let step = step_len(postings[at - 1], postings[at]);
        if bytes + step > BLOCK_BYTES {
            blocks.push(&postings[start..at]);
            start = at;
            bytes = 0;
        } else {
            bytes += step;
        }
    }
    if start < postings.len() {
        blocks.push(&postings[start..]);
    }
    blocks
}

/// Two sorted lists as one, without repeats.
fn merge(old: &[Posting], new: &[Posting]) -> Vec<Posting> {
    let mut merged = Vec::with_capacity(old.len() + new.len());
    let (mut a, mut b) = (old.iter().peekable(), new.iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x < y => a.next(),
            (Some(x), Some(y)) if x > y => b.next(),
            (Some(_), Some(_)) => {
                a.next();
                b.next()
            }
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => break,
        };
        merged.extend(next.copied());
    }
    merged
}

/// The first (or, with `back`, the last) block in a key range.
fn edge(
    table: &impl Postings,
    range: (Bound<&Vec<u8>>, Bound<&Vec<u8>>),
    back: bool,
) -> Result<Option<Entry>, StoreError> {
    let range = (range.0.map(Vec::as_slice), range.1.map(Vec::as_slice));
    table.edge_block(range, back)
}

/// Past every block of `term`: `term ‖ 1`.
fn term_end(term: &str) -> Vec<u8> {
    let mut end = term.as_bytes().to_vec();
    end.push(1);
    end
}

/// The posting a block's key starts with: its last 12 bytes.
fn first_of(key: &[u8]) -> Result<Posting, StoreError> {
    let corrupt = || StoreError::Corrupt("search block key".into());
    let at = key.len().checked_sub(12).ok_or_else(corrupt)?;
    let chat = key[at..at + 4].try_into().map_err(|_| corrupt())?;
    Ok(Posting {
        chat: u32::from_be_bytes(chat),
        seq: tables::u64_at(key, at + 4).ok_or_else(corrupt)?,
    })
}

/// A block's postings: the first from its key, each other as a step from
/// the one before: `2·Δseq` in the same chat, or `2·Δchat + 1` and then the
/// seq when the chat changes.
fn decode(key: &[u8], value: &[u8]) -> Result<Vec<Posting>, StoreError> {
    let corrupt = || StoreError::Corrupt("search block".into());
    let mut postings = vec![first_of(key)?];
    let mut last = postings[0];
    let mut at = 0;
    while at < value.len() {
        let step = read_varint(value, &mut at).ok_or_else(corrupt)?;
        let next = if step & 1 == 0 {
            Posting {
                chat: last.chat,
                seq: last.seq.checked_add(step >> 1).ok_or_else(corrupt)?,
            }
        } else {
            let chat = u32::try_from(step >> 1).map_err(|_| corrupt())?;
            Posting {
                chat: last.chat.checked_add(chat).ok_or_else(corrupt)?,
                seq: read_varint(value, &mut at).ok_or_else(corrupt)?,
            }
        };
        if next <= last {
            return Err(corrupt());
        }
        postings.push(next);
        last = next;
    }
    Ok(postings)
}

/// The value of the block starting with `postings[0]`.
fn encode_rest(postings: &[Posting]) -> Vec<u8> {
    let mut value = Vec::new();
    for pair in postings.windows(2) {
        let (last, next) = (pair[0], pair[1]);
        if next.chat == last.chat {
            put_varint(&mut value, (next.seq - last.seq) << 1);
        } else {
            put_varint(&mut value, (u64::from(next.chat - last.chat) << 1) | 1);
            put_varint(&mut value, next.seq);
        }
    }
    value
}

fn step_len(last: Posting, next: Posting) -> usize {
    if next.chat == last.chat {
        varint_len((next.seq - last.seq) << 1)
    } else {
        varint_len((u64::from(next.chat - last.chat) << 1) | 1) + varint_len(next.seq)
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_len(value: u64) -> usize {
    (64 - value.max(1).leading_zeros() as usize).div_ceil(7)
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChatKind;
    use crate::id::{ChatId, UserId};
    use crate::store::ops::{AddUser, CreateChat, Created, Draft, SendMessage};
    use crate::store::{ChatRecord, Store, UserRecord};
    use crate::timestamp::Timestamp;

    async fn chat_with(store: &Store, texts: &[String]) -> ChatId {
        let chat = unindexed_chat_with(store, texts).await;
        index(store).await;
        chat
    }

    /// A chat holding `texts`, all of them waiting for the indexer.
    async fn unindexed_chat_with(store: &Store, texts: &[String]) -> ChatId {
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
        chat.id
    }

    /// Runs the indexer's write until nothing waits.
    async fn index(store: &Store) {
        use crate::store::ops::IndexForSearch;
        while store
            .apply(IndexForSearch {
                limit: 1_000,
                budget: None,
            })
            .await
            .unwrap()
            .more
        {}
    }

    #[tokio::test]
    async fn an_indexing_commit_stops_at_its_limit_or_out_of_time_and_says_whether_more_wait() {
        use crate::store::ops::{IndexForSearch, Indexed};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let texts: Vec<String> = (0..150).map(|n| format!("kopi {n}")).collect();
        let chat = unindexed_chat_with(&store, &texts).await;
        let index = |limit, budget| store.apply(IndexForSearch { limit, budget });
        let indexed = |messages, more| Indexed { messages, more };
        // No time to spare: one message all the same, so the backlog shrinks.
        let none_to_spare = Some(std::time::Duration::ZERO);
        assert_eq!(index(1_000, none_to_spare).await.unwrap(), indexed(1, true));
        // Across more than one page of waiting messages, to the limit.
        assert_eq!(index(100, None).await.unwrap(), indexed(100, true));
        assert_eq!(index(49, None).await.unwrap(), indexed(49, false));
        let reader = store.read().unwrap();
        assert_eq!(reader.search_backlog().unwrap(), 0);
        // Every message filed once.
        let (chat, terms) = (number(&store, chat), ["kopi".to_owned()]);
        let (mut found, mut before, mut seeks) = (0, u64::MAX, 10_000);
        while let Probe::Found(seq) =
            newest_match(&reader, &terms, chat, before, &mut seeks).unwrap()
        {
            found += 1;
            before = seq;
        }
        assert_eq!(found, 150);
        drop(reader);
        store.close().await;
    }

    /// The index's number for `chat`.
    fn number(store: &Store, chat: ChatId) -> u32 {
        store.read().unwrap().search_chat(chat).unwrap().unwrap()
    }

    #[tokio::test]
    async fn terms_that_rarely_meet_stop_at_the_budget_and_resume_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // "alpha" and "beta" alternate for 60 messages and meet only in the first.
        let mut texts = vec!["alpha beta".to_owned()];
        texts.extend((0..60).map(|n| if n % 2 == 0 { "alpha" } else { "beta" }.to_owned()));
        let chat = number(&store, chat_with(&store, &texts).await);
        let reader = store.read().unwrap();
        let terms = ["alpha".to_owned(), "beta".to_owned()];
        let mut budget = 10;
        let Probe::Stopped(at) =
            newest_match(&reader, &terms, chat, u64::MAX, &mut budget).unwrap()
        else {
            panic!("ten seeks are not enough");
        };
        assert_eq!(budget, 0);
        assert!(at > 1);
        // Going on from there, with seeks enough, finds the one match.
        let mut budget = 1_000;
        let probe = newest_match(&reader, &terms, chat, at + 1, &mut budget).unwrap();
        assert_eq!(probe, Probe::Found(1));
        let probe = newest_match(&reader, &terms, chat, 1, &mut budget).unwrap();
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
                number(&store, chat),
                u64::MAX,
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
        assert_eq!(find("tiga"), Probe::Found(1));
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
    fn a_block_reads_back_what_was_written() {
        let postings = [
            Posting { chat: 0, seq: 1 },
            Posting { chat: 0, seq: 2 },
            Posting { chat: 0, seq: 300 },
            Posting { chat: 7, seq: 1 },
            Posting {
                chat: 70_000,
                seq: u64::MAX,
            },
        ];
        let key = tables::search_block("kopi", 0, 1);
        let value = encode_rest(&postings);
        assert_eq!(decode(&key, &value).unwrap(), postings);
        let steps: usize = postings
            .windows(2)
            .map(|pair| step_len(pair[0], pair[1]))
            .sum();
        assert_eq!(value.len(), steps);
        // A step of one in the same chat is one byte.
        assert_eq!(encode_rest(&postings[..2]), [2]);
        // Out of order, cut short or overlong: refused, never misread.
        assert!(decode(&key, &[0]).is_err());
        assert!(decode(&key, &[0x80]).is_err());
        assert!(decode(&key, &[0xff; 11]).is_err());
        assert!(decode(&key[..5], &[]).is_err());
    }

    /// Files and unfiles postings of a few terms at random, checking after
    /// each round that the blocks hold exactly what a plain set holds,
    /// in order, none over `BLOCK_BYTES`, and that a newest-posting read
    /// agrees with the set at every position.
    #[test]
    fn blocks_hold_exactly_the_postings_filed_through_any_mix_of_changes() {
        use rand::{Rng, SeedableRng};
        use redb::ReadableDatabase;
        use std::collections::BTreeSet;
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("index.redb")).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let terms = ["ka", "kop", "东京"];
        let mut model: BTreeMap<&str, BTreeSet<Posting>> = BTreeMap::new();
        for round in 0..60 {
            let txn = db.begin_write().unwrap();
            {
                let mut table = txn.open_table(tables::SEARCH_POSTINGS).unwrap();
                let mut batch: BTreeMap<String, Vec<Posting>> = BTreeMap::new();
                for _ in 0..rng.random_range(1..200) {
                    let term = terms[rng.random_range(0..terms.len())];
                    // Mostly appends at each chat's end, some into the middle.
                    let chat = rng.random_range(0..12);
                    let seq = if rng.random_bool(0.8) {
                        round * 1_000 + rng.random_range(0..1_000)
                    } else {
                        rng.random_range(0..60_000)
                    };
                    let posting = Posting { chat, seq };
                    batch.entry(term.to_owned()).or_default().push(posting);
                    model.entry(term).or_default().insert(posting);
                }
                for postings in batch.values_mut() {
                    postings.sort_unstable();
                    postings.dedup();
                }
                file(&mut table, &batch).unwrap();
                for _ in 0..rng.random_range(0..40) {
                    let term = terms[rng.random_range(0..terms.len())];
                    let filed: Vec<Posting> = model[term].iter().copied().collect();
                    let posting = if rng.random_bool(0.9) && !filed.is_empty() {
                        filed[rng.random_range(0..filed.len())]
                    } else {
                        Posting {
                            chat: rng.random_range(0..12),
                            seq: rng.random_range(0..60_000),
                        }
                    };
                    unfile(&mut table, term, posting).unwrap();
                    model.get_mut(term).unwrap().remove(&posting);
                }
            }
            txn.commit().unwrap();
            let txn = db.begin_read().unwrap();
            for (term, expected) in &model {
                let start = tables::search_term(term);
                let end = term_end(term);
                let mut held = Vec::new();
                let table = txn.open_table(tables::SEARCH_POSTINGS).unwrap();
                for entry in table.range(start.as_slice()..end.as_slice()).unwrap() {
                    let (key, value) = entry.unwrap();
                    assert!(value.value().len() <= BLOCK_BYTES);
                    let block = decode(key.value(), value.value()).unwrap();
                    assert!(held.last() < block.first(), "blocks in order");
                    held.extend(block);
                }
                let expected: Vec<Posting> = expected.iter().copied().collect();
                assert_eq!(held, expected, "round {round}, {term}");
                for chat in 0..12 {
                    for below in [0, 1, 500, round * 1_000 + 500, 59_999, u64::MAX] {
                        let newest = expected
                            .iter()
                            .rev()
                            .find(|p| p.chat == chat && p.seq < below)
                            .map(|p| p.seq);
                        let read = newest_posting(&Snapshot(&txn), term, chat, below);
                        assert_eq!(read.unwrap(), newest, "{term} {chat} {below}");
                    }
                }
            }
        }
    }

    /// A bare read transaction, read through `Query`.
    struct Snapshot<'a>(&'a redb::ReadTransaction);

    impl Query for Snapshot<'_> {
        fn access(&self) -> super::super::query::Access<'_> {
            super::super::query::Access::read(self.0)
        }
    }
}
