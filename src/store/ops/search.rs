//! The search indexer's write: files messages that wait for it under their
//! terms, many per commit, off the send path.

use super::{Operation, StoreError, Tx};
use crate::store::query::Query;
use crate::store::search;

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
        let mut messages = 0;
        for &(chat, seq) in waiting.iter().take(self.limit) {
            if let Some(message) = tx.message(chat, seq)? {
                tx.put_postings(&[], &search::postings(&message))?;
            }
            tx.remove_search_pending(chat, seq)?;
            messages += 1;
        }
        Ok(Indexed { messages, more })
    }
}
