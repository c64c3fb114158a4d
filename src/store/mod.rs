//! The only code that knows redb exists. `Store` opens the database, migrates
//! it, answers reads from snapshots (`Store::read`) and funnels every write,
//! a typed operation (`ops`), through one writer thread (`Store::apply`),
//! which commits whatever is queued as one durable transaction. Callers see
//! typed records and outcomes, never redb.

pub mod ceiling;
mod file;
pub mod ops;
mod query;
pub mod records;
mod tables;
mod tx;
mod writer;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use crate::data_dir::DataDir;

pub use ops::{Operation, Swap};
pub use query::{Query, Reader};
pub use records::*;

/// The layout version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("the disk is full")]
    Full,
    #[error("the store is closed")]
    Closed,
    #[error("the database is being reopened after an I/O failure")]
    Unavailable,
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error(
        "the data directory was written by a newer Clavox (schema {found}, this build knows {supported}); run that version or restore a backup"
    )]
    NewerSchema { found: u32, supported: u32 },
    #[error("another Clavox process is using this data directory")]
    AlreadyOpen,
    #[error("{context}: {message}")]
    Io { context: String, message: String },
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Whether redb must be reopened before it takes writes again.
    pub(crate) fn needs_reopen(&self) -> bool {
        matches!(self, Self::Full | Self::Io { .. } | Self::Unavailable)
    }

    fn io(context: impl Into<String>, error: &std::io::Error) -> Self {
        if error.kind() == std::io::ErrorKind::StorageFull {
            return Self::Full;
        }
        Self::Io {
            context: context.into(),
            message: error.to_string(),
        }
    }
}

impl From<redb::Error> for StoreError {
    fn from(error: redb::Error) -> Self {
        match error {
            redb::Error::DatabaseAlreadyOpen => Self::AlreadyOpen,
            redb::Error::Io(io) => Self::io("database file", &io),
            redb::Error::PreviousIo => Self::Unavailable,
            redb::Error::Corrupted(message) => Self::Corrupt(message),
            other => Self::Database(other.to_string()),
        }
    }
}

macro_rules! lift_redb_errors {
    ($($kind:ty),*) => {
        $(impl From<$kind> for StoreError {
            fn from(error: $kind) -> Self {
                redb::Error::from(error).into()
            }
        })*
    };
}
lift_redb_errors!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError,
    redb::SetDurabilityError
);

/// A handle to the open database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    file: Arc<file::DatabaseFile>,
    jobs: mpsc::Sender<writer::Command>,
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`, migrates it to
    /// `SCHEMA_VERSION` and starts the writer thread.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(data_dir)?;
        let path = DataDir::new(data_dir).database();
        let db = Database::create(&path)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(|error| StoreError::io(format!("securing {}", path.display()), &error))?;
        migrate(&db)?;
        let file = Arc::new(file::DatabaseFile::new(path.clone(), db));
        let (jobs, queue) = mpsc::channel(writer::QUEUE_CAPACITY);
        let handle = writer::spawn(Arc::clone(&file), queue)
            .map_err(|error| StoreError::io("starting the writer thread", &error))?;
        Ok(Self {
            inner: Arc::new(Inner {
                file,
                jobs,
                writer: std::sync::Mutex::new(Some(handle)),
                path,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A consistent snapshot of the last commit. Never waits for the writer.
    pub fn read(&self) -> Result<Reader, StoreError> {
        Ok(Reader::new(self.inner.file.get()?.begin_read()?))
    }

    /// Applies `op` in the writer's next batch and answers once that batch
    /// is committed and fsync'd.
    pub async fn apply<O: Operation>(&self, op: O) -> Result<O::Output, StoreError> {
        self.queue(op, None).await?.await
    }

    /// `apply`, and once committed, `after_commit` with the outcome before
    /// the caller is answered. After-commit work runs in commit order on the
    /// fan-out thread (so events of one chat are published in `seq` order)
    /// and must not block.
    pub async fn apply_then<O: Operation>(
        &self,
        op: O,
        after_commit: impl FnOnce(&O::Output) + Send + 'static,
    ) -> Result<O::Output, StoreError> {
        self.submit(op, after_commit).await?.await
    }

    /// `apply_then` in two steps: queues `op` (waiting only while the queue
    /// is full) and returns what resolves once its batch is committed.
    /// Operations run in the order they were queued, so one caller can have
    /// many in flight and still know their order (a socket's sends keep
    /// their `seq` order while they share an fsync).
    pub async fn submit<O: Operation>(
        &self,
        op: O,
        after_commit: impl FnOnce(&O::Output) + Send + 'static,
    ) -> Result<impl Future<Output = Result<O::Output, StoreError>> + Send + 'static, StoreError>
    {
        self.queue(op, Some(Box::new(after_commit))).await
    }

    async fn queue<O: Operation>(
        &self,
        op: O,
        after_commit: Option<writer::AfterCommit<O::Output>>,
    ) -> Result<impl Future<Output = Result<O::Output, StoreError>> + Send + 'static, StoreError>
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(writer::Pending {
            op,
            after_commit,
            reply,
        });
        self.inner
            .jobs
            .send(writer::Command::Run(job))
            .await
            .map_err(|_| StoreError::Closed)?;
        Ok(async move { answer.await.map_err(|_| StoreError::Closed)? })
    }

    /// Whether a write transaction can be committed right now (for `/readyz`).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        self.apply(ops::Probe).await
    }

    /// Copies the last commit, every table of it, into a new database file
    /// at `path`, without pausing writers: the copy is exactly what a read
    /// taken at the start saw. Returns the snapshot for further reads (the
    /// uploads it names) and how many entries were copied.
    pub fn snapshot_to(&self, path: &Path) -> Result<(Reader, u64), StoreError> {
        let txn = self.inner.file.get()?.begin_read()?;
        let copy = Database::create(path)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|error| StoreError::io(format!("securing {}", path.display()), &error))?;
        let mut copied = 0u64;
        let mut write = copy.begin_write()?;
        write.set_durability(redb::Durability::Immediate)?;
        for table in tables::ALL {
            let source = txn.open_table(table)?;
            let mut target = write.open_table(table)?;
            for entry in source.iter()? {
                let (key, value) = entry?;
                target.insert(key.value(), value.value())?;
                copied += 1;
            }
        }
        write.commit()?;
        Ok((Reader::new(txn), copied))
    }

    /// Commits everything already queued, then stops the writer. Later
    /// writes fail with `StoreError::Closed`.
    pub async fn close(&self) {
        let _ = self.inner.jobs.send(writer::Command::Stop).await;
        let handle = self
            .inner
            .writer
            .lock()
            .map(|mut slot| slot.take())
            .ok()
            .flatten();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }
}

/// Creates `dir` (and parents) readable by this user only.
pub fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|error| StoreError::io(format!("creating {}", dir.display()), &error))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|error| StoreError::io(format!("securing {}", dir.display()), &error))
}

fn migrate(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    for table in tables::ALL {
        txn.open_table(table)?;
    }
    {
        let mut meta = txn.open_table(tables::META)?;
        let found = match meta.get(tables::SCHEMA_VERSION_KEY)? {
            Some(value) => {
                let bytes: [u8; 4] = value
                    .value()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("schema version".into()))?;
                Some(u32::from_be_bytes(bytes))
            }
            None => None,
        };
        match found {
            // Version 1 is the first layout: there is nothing older to upgrade.
            None | Some(SCHEMA_VERSION) => {}
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StoreError::NewerSchema {
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(found) => {
                return Err(StoreError::Corrupt(format!(
                    "unknown schema version {found}"
                )));
            }
        }
        meta.insert(
            tables::SCHEMA_VERSION_KEY,
            SCHEMA_VERSION.to_be_bytes().as_slice(),
        )?;
    }
    count_upload_usage(&txn)?;
    txn.commit()?;
    Ok(())
}

/// Gives a data directory from before usage was kept the usage of the
/// uploads it has. Every stored upload adds to its owner's usage, so uploads
/// without any usage can only come from such a directory; this runs once.
fn count_upload_usage(txn: &WriteTransaction) -> Result<(), StoreError> {
    if !txn.open_table(tables::UPLOAD_USAGE)?.is_empty()? {
        return Ok(());
    }
    let tx = tx::Tx::new(txn);
    let mut totals = std::collections::HashMap::<crate::id::UserId, u64>::new();
    for upload in tx.uploads()? {
        *totals.entry(upload.owner).or_default() += upload.size;
    }
    for (user, bytes) in totals {
        tx.put_upload_usage(user, &UsageRecord { bytes })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::UserId;
    use crate::timestamp::Timestamp;

    fn upload(owner: UserId, size: u64) -> UploadRecord {
        UploadRecord {
            id: rand::random(),
            owner,
            name: "file".into(),
            content_type: "application/octet-stream".into(),
            size,
            sha256: [0; 32],
            dimensions: None,
            created_at: Timestamp::now(),
        }
    }

    #[test]
    fn a_directory_from_before_usage_was_kept_gets_the_usage_of_its_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let (ana, budi) = (UserId::generate(), UserId::generate());
        {
            // Uploads as an earlier build stored them: no usage beside them.
            let db = Database::create(DataDir::new(dir.path()).database()).unwrap();
            let txn = db.begin_write().unwrap();
            for record in [upload(ana, 100), upload(ana, 250), upload(budi, 7)] {
                tx::Tx::new(&txn).put_upload(&record).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let reader = store.read().unwrap();
        assert_eq!(reader.upload_usage(ana).unwrap().bytes, 350);
        assert_eq!(reader.upload_usage(budi).unwrap().bytes, 7);
    }
}
