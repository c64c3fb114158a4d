//! The search indexer's write: files messages that wait for it under their
//! terms, many per commit, off the send path.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Operation, StoreError, Tx};
use crate::store::query::Query;
use crate::store::search::{self, Posting};

/// Files up to `limit` waiting messages in the search index, each with its
/// text as it is now (a message deleted meanwhile files nothing).
#[derive(Debug, Clone, Copy)]
pub struct IndexForSearch {
    pub limit: usize,
    /// Once this much time went into the messages taken (at least one is),
    /// the rest wait for the next commit: sends that share this commit wait
    /// for it, so a large backlog must not hold them up for long. `None`:
    /// up to `limit`.
    pub budget: Option<Duration>,
}

/// Waiting messages read from the store at a time.
const PAGE: usize = 64;

/// What one indexing commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Indexed {
    pub messages: usize,
    /// Whether more messages were waiting than this commit took.
    pub more: bool,
}

impl Operation for IndexForSearch {
    type Output = Indexed;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Indexed, StoreError> {
        let started = Instant::now();
        let out_of_time = |messages: usize| {
            self.budget
                .is_some_and(|budget| messages > 0 && started.elapsed() >= budget)
        };
        let mut terms: BTreeMap<String, Vec<Posting>> = BTreeMap::new();
        let mut messages = 0;
        // A page at a time: the ones taken leave the table in this
        // transaction, so each read starts at the next waiting message.
        let more = 'filing: loop {
            let waiting = tx.search_pending(PAGE)?;
            if waiting.is_empty() {
                break false;
            }
            for (chat, seq) in waiting {
                if messages == self.limit || out_of_time(messages) {
                    break 'filing true;
                }
                if let Some(message) = tx.message(chat, seq)? {
                    let message_terms = search::terms_of(&message);
                    if !message_terms.is_empty() {
                        let posting = Posting {
                            chat: tx.search_chat_number(chat)?,
                            seq,
                        };
                        for term in message_terms {
                            terms.entry(term).or_default().push(posting);
                        }
                    }
                }
                tx.remove_search_pending(chat, seq)?;
                messages += 1;
            }
        };
        for postings in terms.values_mut() {
            postings.sort_unstable();
            postings.dedup();
        }
        tx.file_postings(&terms)?;
        Ok(Indexed { messages, more })
    }
}
