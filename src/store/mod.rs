//! The only code that knows redb exists. `Store` opens the database, migrates
//! it, answers reads from snapshots (`Store::read`) and funnels every write,
//! a typed operation (`ops`), through one writer thread (`Store::apply`),
//! which commits whatever is queued as one durable transaction. Callers see
//! typed records and outcomes, never redb.

pub mod ceiling;
mod file;
mod journal;
mod migrate;
mod open_tables;
pub mod ops;
mod postgres;
mod query;
pub mod records;
mod search;
mod tables;
mod tx;
mod writer;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableHandle};
use tokio::sync::{mpsc, oneshot};

use crate::data_dir::DataDir;

pub use ops::{Operation, Swap};
pub use query::{Query, Reader, Totals};
pub use records::*;
pub use search::{Probe, document_of, newest_match};

/// The layout version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 4;

use migrate::migrate;

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

/// The engine that holds the store.
enum Engine {
    /// One file in the data directory: the default, and the fastest.
    Redb(Arc<file::DatabaseFile>),
    /// PostgreSQL, shared by several nodes.
    Postgres(Arc<postgres::Postgres>),
}

/// A handle to the open database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    jobs: mpsc::Sender<writer::Command>,
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir`, migrates it to
    /// `SCHEMA_VERSION` and starts the writer thread.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        create_private_dir(data_dir)?;
        let data_dir = DataDir::new(data_dir);
        let path = data_dir.database();
        let db = Database::create(&path)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
            .map_err(|error| StoreError::io(format!("securing {}", path.display()), &error))?;
        // The journal first: migrations read what it puts back.
        let (journal, _) = journal::Journal::open(&data_dir.journal(), &db)?;
        migrate(&db)?;
        let file = Arc::new(file::DatabaseFile::new(path.clone(), db));
        let writer = writer::Engine::Redb(Arc::clone(&file), journal);
        Self::start(Engine::Redb(file), writer, path)
    }

    /// Connects to the PostgreSQL database at `url` (`STORE=postgres`),
    /// creating its tables on first use. Call it inside the server's
    /// multi-threaded runtime, which then drives the connections.
    pub async fn open_postgres(url: &str) -> Result<Self, StoreError> {
        let db = postgres::Postgres::open(url)?;
        let writer = writer::Engine::Postgres(Arc::clone(&db));
        let store = Self::start(Engine::Postgres(db), writer, PathBuf::new())?;
        store.apply(ops::AdoptSchema).await?;
        Ok(store)
    }

    fn start(engine: Engine, writer: writer::Engine, path: PathBuf) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel(writer::QUEUE_CAPACITY);
        let handle = writer::spawn(writer, queue, jobs.downgrade())
            .map_err(|error| StoreError::io("starting the writer thread", &error))?;
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                jobs,
                writer: std::sync::Mutex::new(Some(handle)),
                path,
            }),
        })
    }

    /// The database file; empty for a PostgreSQL store.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether the store is the embedded one (a file in the data directory).
    pub fn is_embedded(&self) -> bool {
        matches!(self.inner.engine, Engine::Redb(_))
    }

    /// A consistent snapshot of the last commit. Never waits for the writer.
    pub fn read(&self) -> Result<Reader, StoreError> {
        match &self.inner.engine {
            Engine::Redb(file) => Ok(Reader::new(file.get()?.begin_read()?)),
            Engine::Postgres(db) => Ok(Reader::postgres(db.begin_read()?)),
        }
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
        let Engine::Redb(file) = &self.inner.engine else {
            return Err(StoreError::Database(
                "a PostgreSQL store is backed up by PostgreSQL's own tools (pg_dump)".into(),
            ));
        };
        let txn = file.get()?.begin_read()?;
        let copy = Database::create(path)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|error| StoreError::io(format!("securing {}", path.display()), &error))?;
        let mut copied = 0u64;
        let mut write = copy.begin_write()?;
        write.set_durability(redb::Durability::Immediate)?;
        for &table in tables::ALL {
            let source = txn.open_table(table)?;
            let mut target = write.open_table(table)?;
            for entry in source.iter()? {
                let (key, value) = entry?;
                // The copy gets a journal of its own when it is opened.
                if table.name() == tables::META.name() && journal::is_journal_key(key.value()) {
                    continue;
                }
                target.insert(key.value(), value.value())?;
                copied += 1;
            }
        }
        write.commit()?;
        Ok((Reader::new(txn), copied))
    }

    /// Copies this embedded store, as of its last commit, into the empty
    /// PostgreSQL database at `url` (`clavox migrate --to postgres`); see
    /// `postgres::Postgres::copy_in`. Call it inside a multi-threaded runtime.
    pub fn copy_to_postgres(
        &self,
        url: &str,
        shared_secrets: &[(&str, String)],
        progress: impl FnMut(&str, u64, u64),
    ) -> Result<u64, StoreError> {
        let Engine::Redb(file) = &self.inner.engine else {
            return Err(StoreError::Database(
                "the store is PostgreSQL already".into(),
            ));
        };
        let source = file.get()?.begin_read()?;
        let target = postgres::Postgres::open(url)?;
        let copied = target.copy_in(&source, shared_secrets, progress)?;
        Ok(copied)
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
