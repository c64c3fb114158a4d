//! The write-ahead journal beside the redb file: what makes a batch durable
//! with one small write instead of a durable redb commit, which writes and
//! syncs every page the batch touched (some fifty page writes for one
//! message: its row, the chat's head, the sender's marks and four indexes).
//!
//! The writer commits each batch to redb without syncing
//! (`Durability::None`: readers see it at once, the disk later) after the
//! batch's writes are appended here with one synchronous write. Every
//! second, or once the journal holds `CHECKPOINT_BYTES`, a batch is
//! committed durably instead: a checkpoint, after which the journal starts
//! again from its beginning. At open, the batches the journal holds past
//! redb's last checkpoint are applied again before anything reads the store.
//!
//! A record is a header — payload length (u32), the journal's id (u64), the
//! batch number (u64) and the CRC-32 of those and the payload (u32) — then
//! the payload: for each write, its table's name, its key, and its value or
//! its deletion. Reading starts at offset 0 and goes on while each record is
//! whole, carries this journal's id and numbers the batch after the one
//! before it; the first that does not ends the journal (a write torn by a
//! crash, or an older pass the current one has not yet overwritten). The id
//! changes at every open, so records an earlier run left behind are never
//! taken for this run's.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::IoSlice;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableTable, TableHandle, WriteTransaction};

use super::StoreError;
use super::tables::{self, Table};

/// Past this many bytes the next batch is a checkpoint, so the journal
/// stays small (it is overwritten in place) and a restart replays little.
pub(super) const CHECKPOINT_BYTES: u64 = 4 * 1024 * 1024;
/// The longest the journal goes without a checkpoint while writes come.
pub(super) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

const HEADER_BYTES: usize = 4 + 8 + 8 + 4;
/// In `META`: the journal id of the running store, and the last batch a
/// durable commit holds.
const ID_KEY: &[u8] = b"journal/id";
const APPLIED_KEY: &[u8] = b"journal/applied";

/// Whether a `META` key belongs to the journal: a copy of the store (a
/// backup) leaves them out, so it never adopts another file's journal.
pub(super) fn is_journal_key(key: &[u8]) -> bool {
    key.starts_with(b"journal/")
}

/// The writes of one batch, as the journal stores them.
#[derive(Default)]
pub(super) struct Changes {
    payload: RefCell<Vec<u8>>,
}

impl Changes {
    pub(super) fn put(&self, table: Table, key: &[u8], value: &[u8]) {
        let mut payload = self.payload.borrow_mut();
        write_key(&mut payload, table, key);
        payload.push(PUT);
        write_bytes(&mut payload, value);
    }

    pub(super) fn delete(&self, table: Table, key: &[u8]) {
        let mut payload = self.payload.borrow_mut();
        write_key(&mut payload, table, key);
        payload.push(DELETE);
    }

    fn is_empty(&self) -> bool {
        self.payload.borrow().is_empty()
    }
}

const PUT: u8 = 1;
const DELETE: u8 = 0;

fn write_key(payload: &mut Vec<u8>, table: Table, key: &[u8]) {
    let name = table.name().as_bytes();
    payload.push(u8::try_from(name.len()).expect("table names are short"));
    payload.extend_from_slice(name);
    write_bytes(payload, key);
}

fn write_bytes(payload: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("a stored value fits in 4 GiB");
    payload.extend_from_slice(&len.to_le_bytes());
    payload.extend_from_slice(bytes);
}

/// The journal file and where the next record goes.
pub(super) struct Journal {
    file: File,
    path: PathBuf,
    id: u64,
    /// The last batch journaled.
    batch: u64,
    offset: u64,
    last_checkpoint: Instant,
    /// False once the file system refused `RWF_DSYNC`: write, then sync.
    dsync_writes: bool,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` for the redb file
    /// `db`, applies what it holds past `db`'s last checkpoint, and starts
    /// a new pass under a new id. Returns the journal and how many batches
    /// it applied.
    pub(super) fn open(path: &Path, db: &Database) -> Result<(Self, u64), StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|error| StoreError::io(format!("opening {}", path.display()), &error))?;
        let mut journal = Self {
            file,
            path: path.to_owned(),
            id: 0,
            batch: 0,
            offset: 0,
            last_checkpoint: Instant::now(),
            dsync_writes: true,
        };
        let replayed = journal.recover(db)?;
        Ok((journal, replayed))
    }

    /// Applies the batches past `db`'s last checkpoint, commits durably and
    /// starts a new pass: after opening, and after redb was reopened (which
    /// forgets its commits that were not yet synced).
    pub(super) fn recover(&mut self, db: &Database) -> Result<u64, StoreError> {
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let (id, applied) = {
            let meta = txn.open_table(tables::META)?;
            let number = |key: &[u8]| -> Result<Option<u64>, StoreError> {
                Ok(meta.get(key)?.map(|value| u64_at(value.value(), 0)))
            };
            (number(ID_KEY)?, number(APPLIED_KEY)?.unwrap_or(0))
        };
        let mut replayed = 0;
        if let Some(id) = id {
            for record in self.records(id)? {
                if record.batch > applied {
                    apply(&txn, &record.payload)?;
                    replayed += 1;
                }
            }
        }
        self.id = rand::random();
        self.batch = 0;
        {
            let mut meta = txn.open_table(tables::META)?;
            meta.insert(ID_KEY, self.id.to_le_bytes().as_slice())?;
            meta.insert(APPLIED_KEY, 0u64.to_le_bytes().as_slice())?;
        }
        txn.commit()?;
        self.restart();
        if replayed > 0 {
            tracing::info!(
                batches = replayed,
                "applied the journal's batches after an unclean stop"
            );
        }
        Ok(replayed)
    }

    /// The whole records of the current pass, in order.
    fn records(&self, id: u64) -> Result<Vec<Record>, StoreError> {
        let contents = std::fs::read(&self.path)
            .map_err(|error| StoreError::io(format!("reading {}", self.path.display()), &error))?;
        Ok(parse(&contents, id))
    }

    /// Whether the next batch should be a checkpoint.
    pub(super) fn checkpoint_due(&self) -> bool {
        self.offset >= CHECKPOINT_BYTES
            || (self.offset > 0 && self.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL)
    }

    /// Records, in `txn`, that it is a checkpoint: once committed durably
    /// it holds every batch journaled so far. Call `restart` after its commit.
    pub(super) fn mark_checkpoint(&self, txn: &WriteTransaction) -> Result<(), StoreError> {
        txn.open_table(tables::META)?
            .insert(APPLIED_KEY, self.batch.to_le_bytes().as_slice())?;
        Ok(())
    }

    /// After a checkpoint's durable commit: the next record goes first.
    pub(super) fn restart(&mut self) {
        self.offset = 0;
        self.last_checkpoint = Instant::now();
    }

    /// Appends `changes` as the next batch and waits until it is on disk.
    /// Nothing to append (a batch that wrote nothing) returns at once.
    pub(super) fn append(&mut self, changes: &Changes) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let payload = changes.payload.borrow();
        let header = header(self.id, self.batch + 1, &payload);
        self.write(&header, &payload)
            .map_err(|error| StoreError::io(format!("writing {}", self.path.display()), &error))?;
        self.batch += 1;
        self.offset += (header.len() + payload.len()) as u64;
        Ok(())
    }

    fn write(&mut self, header: &[u8], payload: &[u8]) -> std::io::Result<()> {
        let len = header.len() + payload.len();
        if self.dsync_writes {
            let slices = [IoSlice::new(header), IoSlice::new(payload)];
            match rustix::io::pwritev2(
                &self.file,
                &slices,
                self.offset,
                rustix::io::ReadWriteFlags::DSYNC,
            ) {
                Ok(written) if written == len => return Ok(()),
                // A short write: the rest goes the ordinary way.
                Ok(_) => {}
                Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {
                    self.dsync_writes = false;
                }
                Err(error) => return Err(error.into()),
            }
        }
        let mut record = Vec::with_capacity(len);
        record.extend_from_slice(header);
        record.extend_from_slice(payload);
        self.file.write_all_at(&record, self.offset)?;
        self.file.sync_data()
    }
}

/// One batch read back from the journal.
struct Record {
    batch: u64,
    payload: Vec<u8>,
}

fn header(id: u64, batch: u64, payload: &[u8]) -> [u8; HEADER_BYTES] {
    let mut header = [0u8; HEADER_BYTES];
    let len = u32::try_from(payload.len()).expect("a batch's journal record fits in 4 GiB");
    header[0..4].copy_from_slice(&len.to_le_bytes());
    header[4..12].copy_from_slice(&id.to_le_bytes());
    header[12..20].copy_from_slice(&batch.to_le_bytes());
    let crc = checksum(&header[..20], payload);
    header[20..24].copy_from_slice(&crc.to_le_bytes());
    header
}

fn checksum(header: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header);
    hasher.update(payload);
    hasher.finalize()
}

/// The records of journal `id` from the start of `contents` while each is
/// whole and follows the one before it.
fn parse(contents: &[u8], id: u64) -> Vec<Record> {
    let mut records: Vec<Record> = Vec::new();
    let mut at = 0;
    while let Some(header) = contents.get(at..at + HEADER_BYTES) {
        let len = u32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
        let batch = u64_at(header, 12);
        let crc = u32::from_le_bytes(header[20..24].try_into().unwrap());
        let Some(payload) = contents.get(at + HEADER_BYTES..at + HEADER_BYTES + len) else {
            break;
        };
        let follows = records.last().is_none_or(|last| last.batch + 1 == batch);
        if u64_at(header, 4) != id || !follows || checksum(&header[..20], payload) != crc {
            break;
        }
        records.push(Record {
            batch,
            payload: payload.to_vec(),
        });
        at += HEADER_BYTES + len;
    }
    records
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut number = [0u8; 8];
    if let Some(found) = bytes.get(at..at + 8) {
        number.copy_from_slice(found);
    }
    u64::from_le_bytes(number)
}

/// Applies one record's writes to `txn`.
fn apply(txn: &WriteTransaction, payload: &[u8]) -> Result<(), StoreError> {
    let mut cursor = Cursor(payload);
    while !cursor.0.is_empty() {
        let name_len = cursor.byte()?;
        let name = std::str::from_utf8(cursor.take(name_len.into())?).map_err(|_| damaged())?;
        let table = *tables::ALL
            .iter()
            .find(|table| table.name() == name)
            .ok_or_else(|| StoreError::Corrupt(format!("the journal names no table {name}")))?;
        let key = cursor.bytes()?;
        let mut open = txn.open_table(table)?;
        match cursor.byte()? {
            PUT => {
                open.insert(key, cursor.bytes()?)?;
            }
            DELETE => {
                open.remove(key)?;
            }
            _ => return Err(damaged()),
        }
    }
    Ok(())
}

fn damaged() -> StoreError {
    StoreError::Corrupt("a journal record does not decode".into())
}

/// Reads a record's payload front to back.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], StoreError> {
        let (taken, rest) = self.0.split_at_checked(len).ok_or_else(damaged)?;
        self.0 = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }

    /// A length-prefixed run of bytes.
    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().unwrap());
        self.take(len as usize)
    }
}

#[cfg(test)]
mod tests {
    use redb::ReadableDatabase;

    use super::*;
    use crate::store::tx::Tx;
    use crate::timestamp::Timestamp;

    fn get(db: &Database, table: Table, key: &[u8]) -> Option<Vec<u8>> {
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(table).unwrap();
        table.get(key).unwrap().map(|value| value.value().to_vec())
    }

    fn meta(db: &Database, key: &[u8]) -> Option<Vec<u8>> {
        get(db, tables::META, key)
    }

    /// Commits one batch the way the writer does between checkpoints.
    fn journaled_batch(db: &Database, journal: &mut Journal, write: impl FnOnce(&Tx<'_>)) {
        let mut txn = db.begin_write().unwrap();
        txn.set_durability(Durability::None).unwrap();
        let changes = Changes::default();
        write(&Tx::journaled(&txn, &changes));
        journal.append(&changes).unwrap();
        txn.commit().unwrap();
    }

    /// The files as a crash would leave them: redb's synced pages and the
    /// journal, copied while the database is still open.
    fn crash_image(from: &Path, to: &Path) {
        for name in ["db", "journal"] {
            std::fs::copy(from.join(name), to.join(name)).unwrap();
        }
    }

    #[test]
    fn batches_committed_without_a_sync_come_back_from_the_journal() {
        let (live, crashed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let db = Database::create(live.path().join("db")).unwrap();
        let (mut journal, replayed) = Journal::open(&live.path().join("journal"), &db).unwrap();
        assert_eq!(replayed, 0);
        let gone = tables::rate_window("sends", "gone");
        journaled_batch(&db, &mut journal, |tx| {
            tx.put_meta(b"kept", b"1").unwrap();
            tx.put_rate_window("sends", "gone", Timestamp::now(), 1)
                .unwrap();
        });
        journaled_batch(&db, &mut journal, |tx| {
            tx.put_meta(b"kept", b"2").unwrap();
            tx.remove_rate_window(&gone).unwrap();
        });
        crash_image(live.path(), crashed.path());

        let db = Database::create(crashed.path().join("db")).unwrap();
        assert_eq!(
            meta(&db, b"kept"),
            None,
            "redb alone lost the unsynced commits"
        );
        let (_, replayed) = Journal::open(&crashed.path().join("journal"), &db).unwrap();
        assert_eq!(replayed, 2);
        assert_eq!(meta(&db, b"kept").as_deref(), Some(b"2".as_slice()));
        assert_eq!(get(&db, tables::RATE_WINDOWS, &gone), None);
    }

    #[test]
    fn a_checkpoint_ends_what_the_journal_must_replay() {
        let (live, crashed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let db = Database::create(live.path().join("db")).unwrap();
        let (mut journal, _) = Journal::open(&live.path().join("journal"), &db).unwrap();
        for n in 0..3u8 {
            journaled_batch(&db, &mut journal, |tx| {
                tx.put_meta(b"before", &[n]).unwrap();
            });
        }
        let mut txn = db.begin_write().unwrap();
        txn.set_durability(Durability::Immediate).unwrap();
        Tx::journaled(&txn, &Changes::default())
            .put_meta(b"at", b"checkpoint")
            .unwrap();
        journal.mark_checkpoint(&txn).unwrap();
        txn.commit().unwrap();
        journal.restart();
        // The next pass overwrites the start of the last one, and is
        // shorter: the older records after it must not be applied.
        journaled_batch(&db, &mut journal, |tx| {
            tx.put_meta(b"after", b"x").unwrap();
        });
        crash_image(live.path(), crashed.path());

        let db = Database::create(crashed.path().join("db")).unwrap();
        let (_, replayed) = Journal::open(&crashed.path().join("journal"), &db).unwrap();
        assert_eq!(replayed, 1);
        assert_eq!(meta(&db, b"before").as_deref(), Some([2u8].as_slice()));
        assert_eq!(meta(&db, b"after").as_deref(), Some(b"x".as_slice()));
    }

    #[test]
    fn records_end_at_a_torn_write_another_id_or_a_gap() {
        let record = |id: u64, batch: u64, payload: &[u8]| {
            let mut bytes = header(id, batch, payload).to_vec();
            bytes.extend_from_slice(payload);
            bytes
        };
        let batches = |contents: &[u8]| -> Vec<u64> {
            parse(contents, 7)
                .iter()
                .map(|record| record.batch)
                .collect()
        };
        let whole = [record(7, 1, b"one"), record(7, 2, b"two")].concat();
        assert_eq!(batches(&whole), [1, 2]);

        let torn = &whole[..whole.len() - 1];
        assert_eq!(batches(torn), [1]);

        let mut flipped = whole.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(batches(&flipped), [1]);

        let other_run = [record(7, 1, b"one"), record(8, 2, b"two")].concat();
        assert_eq!(batches(&other_run), [1]);

        let older_pass = [record(7, 5, b"new"), record(7, 3, b"old")].concat();
        assert_eq!(batches(&older_pass), [5]);

        assert!(batches(&[0u8; 64]).is_empty(), "zeros are no record");
    }

    #[test]
    fn a_record_that_does_not_decode_is_refused_not_half_applied() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("db")).unwrap();
        let txn = db.begin_write().unwrap();
        let mut payload = Vec::new();
        write_key(&mut payload, tables::META, b"key");
        payload.push(PUT);
        payload.extend_from_slice(&100u32.to_le_bytes());
        payload.extend_from_slice(b"short");
        assert!(matches!(apply(&txn, &payload), Err(StoreError::Corrupt(_))));
    }
}
