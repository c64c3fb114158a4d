//! The search indexer's write: files messages that wait for it under their
//! terms, many per commit, off the send path.

use std::collections::BTreeMap;

use super::{Operation, StoreError, Tx};
use crate::store::query::Query;
use crate::store::search::{self, Posting};

/// Files up to `limit` waiting messages in the search index, each with its
/// text as it is now (a message deleted meanwhile files nothing).
#[derive(Debug, Clone, Copy)]
pub struct IndexForSearch {
    pub limit: usize,
}

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
        let waiting = tx.search_pending(self.limit + 1)?;
        let more = waiting.len() > self.limit;
        let mut terms: BTreeMap<String, Vec<Posting>> = BTreeMap::new();
        let mut messages = 0;
        for &(chat, seq) in waiting.iter().take(self.limit) {
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
        for postings in terms.values_mut() {
            postings.sort_unstable();
            postings.dedup();
        }
        tx.file_postings(&terms)?;
        Ok(Indexed { messages, more })
    }
}
