//! A redb write transaction's tables, each opened once. Opening a table
//! looks its name up in redb's table tree and closing it files the table's
//! new root there; a send reads and writes a dozen tables, so the writer
//! keeps each open for the rest of its batch instead of paying that per
//! read and per write.

use std::cell::RefCell;
use std::ops::Bound;

use redb::{ReadableTableMetadata, TableHandle, WriteTransaction};

use super::StoreError;
use super::query::{self, TableReads};
use super::tables::{Entry, Table};

/// One of the store's tables, open for writing.
pub(super) type WriteTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;

/// The tables opened so far in one write transaction. Dropping it closes
/// them, which must happen before the transaction commits.
pub(super) struct OpenTables<'t> {
    txn: &'t WriteTransaction,
    // A batch touches few tables: a list is quicker than a map to search.
    open: RefCell<Vec<(Table, WriteTable<'t>)>>,
}

impl<'t> OpenTables<'t> {
    pub(super) fn new(txn: &'t WriteTransaction) -> Self {
        Self {
            txn,
            open: RefCell::new(Vec::new()),
        }
    }

    /// Runs `use_table` on `table`, opening it the first time.
    pub(super) fn with<R>(
        &self,
        table: Table,
        use_table: impl FnOnce(&mut WriteTable<'t>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut open = self.open.borrow_mut();
        let index = match open
            .iter()
            .position(|(definition, _)| definition.name() == table.name())
        {
            Some(index) => index,
            None => {
                open.push((table, self.txn.open_table(table)?));
                open.len() - 1
            }
        };
        use_table(&mut open[index].1)
    }
}

impl TableReads for OpenTables<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(table, |open| query::get_in(open, key))
    }

    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        self.with(table, |open| query::scan_in(open, start, end, limit))
    }

    fn last(
        &self,
        table: Table,
        start: &[u8],
        end: Bound<&[u8]>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(table, |open| query::last_in(open, start, end))
    }

    fn edge(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        back: bool,
    ) -> Result<Option<Entry>, StoreError> {
        self.with(table, |open| query::edge_in(open, range, back))
    }

    fn stored_bytes(&self, table: Table) -> Result<u64, StoreError> {
        self.with(table, |open| {
            let stats = open.stats()?;
            Ok(stats.stored_bytes() + stats.metadata_bytes())
        })
    }

    fn len(&self, table: Table) -> Result<u64, StoreError> {
        self.with(table, |open| Ok(open.len()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tables;
    use redb::ReadableDatabase;

    #[test]
    fn a_table_opened_once_sees_every_write_and_closes_before_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        let open = OpenTables::new(&txn);
        open.with(tables::META, |meta| {
            Ok(meta.insert(&b"a"[..], &b"1"[..])?.map(drop))
        })
        .unwrap();
        open.with(tables::META, |meta| {
            Ok(meta.insert(&b"b"[..], &b"2"[..])?.map(drop))
        })
        .unwrap();
        assert_eq!(open.get(tables::META, b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(open.len(tables::META).unwrap(), 2);
        assert_eq!(open.open.borrow().len(), 1);
        drop(open);
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        let meta = read.open_table(tables::META).unwrap();
        assert_eq!(meta.len().unwrap(), 2);
    }
}
