//! PostgreSQL as the store of record, for several nodes (`STORE=postgres`).
//!
//! It keeps the embedded layout: each of `tables::ALL` is a table of
//! `(k bytea primary key, v bytea)`, so every typed read (`Query`) and every
//! write operation (`ops`) runs unchanged, over the same keys, with the same
//! flat-cost range scans (PostgreSQL compares `bytea` bytewise, as redb
//! compares its keys).
//!
//! Writes: a writer batch is one transaction that first takes one advisory
//! lock held by every node's writer in turn. Batches from all nodes thus
//! commit one after another, as one node's single writer commits them, and
//! every rule that single writer keeps (gapless `seq` and `rev`, one message
//! per client id, attempt counts, marks only forward) holds across nodes
//! without retry loops. What a batch writes stays in memory, visible to its
//! own reads, until the commit sends it in one statement per table.
//!
//! Reads: each `Reader` is a `REPEATABLE READ READ ONLY` transaction, one
//! consistent snapshot like a redb read transaction.
//!
//! The store's callers are synchronous, so each call blocks its thread on
//! the runtime that drives the connections (`block_in_place` on a worker).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redb::TableHandle;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

use super::StoreError;
use super::tables::{self, Entry, Table};

/// How long one statement, or a connection attempt, may take before the
/// store counts as unreachable: writes then fail fast (`503`) instead of
/// hanging while PostgreSQL is away.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The advisory lock every writer batch holds until it commits.
const WRITE_LOCK: i64 = 0x0000_636c_6176_6f78;
/// Connections kept open for readers between reads.
const IDLE_READERS: usize = 16;
/// The layout of the tables themselves (not of the records in them, which
/// `SCHEMA_VERSION` in the meta table versions as in redb).
const TABLES_VERSION: i32 = 1;

type Params<'a> = Vec<(&'a (dyn ToSql + Sync), Type)>;

/// A connected PostgreSQL database; shared by the writer and the readers.
pub(super) struct Postgres {
    config: tokio_postgres::Config,
    runtime: Handle,
    idle: Mutex<Vec<Client>>,
}

impl Postgres {
    /// Checks `url`, connects once (so a wrong address or password is
    /// reported at start) and brings the tables to this build's layout.
    /// Must be called inside the multi-threaded runtime that will drive the
    /// connections.
    pub(super) fn open(url: &str) -> Result<Arc<Self>, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|error| StoreError::Database(format!("DATABASE_URL: {error}")))?;
        config
            .connect_timeout(TIMEOUT)
            .application_name("clavox")
            .keepalives_idle(Duration::from_secs(10));
        let runtime = Handle::try_current().map_err(|_| {
            StoreError::Database("PostgreSQL needs the server's async runtime".into())
        })?;
        let postgres = Arc::new(Self {
            config,
            runtime,
            idle: Mutex::new(Vec::new()),
        });
        postgres.create_tables()?;
        Ok(postgres)
    }

    /// Runs `future` to completion from synchronous code, within `TIMEOUT`.
    fn wait<T>(
        &self,
        future: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, StoreError> {
        let bounded = async { tokio::time::timeout(TIMEOUT, future).await };
        let outcome = match Handle::try_current().map(|current| current.runtime_flavor()) {
            Ok(RuntimeFlavor::CurrentThread) => {
                return Err(StoreError::Database(
                    "PostgreSQL reads need the multi-threaded runtime".into(),
                ));
            }
            Ok(_) => tokio::task::block_in_place(|| self.runtime.block_on(bounded)),
            Err(_) => self.runtime.block_on(bounded),
        };
        match outcome {
            Ok(result) => result.map_err(|error| lift(&error)),
            Err(_) => Err(StoreError::Unavailable),
        }
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let config = self.config.clone();
        let (client, connection) = self.wait(async move { config.connect(NoTls).await })?;
        self.runtime.spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "a PostgreSQL connection closed");
            }
        });
        Ok(client)
    }

    /// An open connection with no transaction in progress.
    fn client(&self) -> Result<Client, StoreError> {
        loop {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            match idle {
                Some(client) if !client.is_closed() => return Ok(client),
                Some(_) => {}
                None => return self.connect(),
            }
        }
    }

    /// Keeps `client` for the next reader. It must have no transaction open.
    fn give_back(&self, client: Client) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS && !client.is_closed() {
            idle.push(client);
        }
    }

    fn create_tables(&self) -> Result<(), StoreError> {
        let client = self.connect()?;
        let mut ddl = String::from(
            "BEGIN;
             SELECT pg_advisory_xact_lock(1);
             CREATE TABLE IF NOT EXISTS clavox_layout (version integer NOT NULL);",
        );
        for &table in tables::ALL {
            ddl.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {} (k bytea PRIMARY KEY, v bytea NOT NULL);",
                name(table)
            ));
        }
        let layout = self.wait(async {
            client.batch_execute(&ddl).await?;
            client
                .query_opt("SELECT max(version) FROM clavox_layout", &[])
                .await
        })?;
        let found: Option<i32> = layout.and_then(|row| row.get(0));
        match found {
            Some(found) if found > TABLES_VERSION => {
                return Err(StoreError::NewerSchema {
                    found: found.unsigned_abs(),
                    supported: TABLES_VERSION.unsigned_abs(),
                });
            }
            Some(_) => {}
            None => {
                let insert = format!("INSERT INTO clavox_layout VALUES ({TABLES_VERSION})");
                self.wait(client.batch_execute(&insert))?;
            }
        }
        self.wait(client.batch_execute("COMMIT"))?;
        Ok(())
    }

    /// A consistent snapshot of the last commit.
    pub(super) fn begin_read(self: &Arc<Self>) -> Result<PgTxn, StoreError> {
        let client = self.client()?;
        self.wait(client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))?;
        Ok(PgTxn {
            db: Arc::clone(self),
            client: Some(client),
            writes: None,
            read: Mutex::default(),
        })
    }

    /// A write transaction on the writer's own connection (`client`, made
    /// again when it was lost), holding the write lock.
    pub(super) fn begin_write(
        self: &Arc<Self>,
        client: &mut Option<Client>,
    ) -> Result<PgTxn, StoreError> {
        let open = match client.take() {
            Some(open) if !open.is_closed() => open,
            _ => self.connect()?,
        };
        let begin = format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})");
        self.wait(open.batch_execute(&begin))?;
        Ok(PgTxn {
            db: Arc::clone(self),
            client: Some(open),
            writes: Some(Mutex::new(HashMap::new())),
            read: Mutex::default(),
        })
    }
}

impl Postgres {
    /// Copies every entry `source` holds into this database, with the
    /// secrets the nodes will share (the embedded server kept them as files),
    /// in one transaction (all or nothing), refusing a database that already
    /// holds anything. `progress` hears each table's name, entries copied and
    /// entries in all. Returns how many entries were copied.
    pub(super) fn copy_in(
        &self,
        source: &redb::ReadTransaction,
        shared_secrets: &[(&str, String)],
        mut progress: impl FnMut(&str, u64, u64),
    ) -> Result<u64, StoreError> {
        use redb::{ReadableTable, ReadableTableMetadata};
        /// Entries sent in one statement.
        const CHUNK: usize = 2000;
        let client = self.connect()?;
        self.wait(client.batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
        )))?;
        for &table in tables::ALL {
            let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", name(table));
            let row = self.wait(client.query_one(&sql, &[]))?;
            if row.get::<_, bool>(0) {
                return Err(StoreError::Database(format!(
                    "the database already holds Clavox data ({} is not empty); copy into a new, empty database",
                    name(table)
                )));
            }
        }
        let mut copied = 0;
        for &table in tables::ALL {
            let entries = source.open_table(table)?;
            let total = entries.len()?;
            let sql = format!(
                "INSERT INTO {} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[])",
                name(table)
            );
            let mut done = 0;
            let mut keys: Vec<Vec<u8>> = Vec::with_capacity(CHUNK);
            let mut values: Vec<Vec<u8>> = Vec::with_capacity(CHUNK);
            let mut rows = entries.iter()?;
            loop {
                let next = rows.next().transpose()?;
                if let Some((key, value)) = &next {
                    keys.push(key.value().to_vec());
                    values.push(value.value().to_vec());
                }
                if keys.len() == CHUNK || (next.is_none() && !keys.is_empty()) {
                    let params: Params<'_> =
                        vec![(&keys, Type::BYTEA_ARRAY), (&values, Type::BYTEA_ARRAY)];
                    self.wait(client.query_typed(&sql, &params))?;
                    done += keys.len() as u64;
                    progress(table.name(), done, total);
                    keys.clear();
                    values.clear();
                }
                if next.is_none() {
                    break;
                }
            }
            copied += done;
        }
        for (secret, value) in shared_secrets {
            let sql = format!("INSERT INTO {} (k, v) VALUES ($1, $2)", name(tables::META));
            let key = tables::shared_secret(secret);
            let value = value.as_bytes();
            let params: Params<'_> = vec![(&key, Type::BYTEA), (&value, Type::BYTEA)];
            self.wait(client.query_typed(&sql, &params))?;
        }
        self.wait(client.batch_execute("COMMIT"))?;
        Ok(copied)
    }
}

/// One statement of a commit: an upsert of `keys` with `values`, or a
/// delete of `keys`.
struct Statement<'a> {
    sql: String,
    keys: Vec<&'a [u8]>,
    values: Option<Vec<&'a [u8]>>,
}

impl Statement<'_> {
    fn params(&self) -> Params<'_> {
        let mut params: Params<'_> = vec![(&self.keys, Type::BYTEA_ARRAY)];
        if let Some(values) = &self.values {
            params.push((values, Type::BYTEA_ARRAY));
        }
        params
    }
}

/// A key's value, or `None` for a key not there (or removed).
type Stored = Option<Vec<u8>>;

/// What a write transaction changed, per table: a new value, or `None`
/// for a removed key.
type Overlay = HashMap<String, BTreeMap<Vec<u8>, Stored>>;

/// One transaction: a reader's snapshot, or a writer batch with the
/// writes it has not sent yet.
pub(super) struct PgTxn {
    db: Arc<Postgres>,
    client: Option<Client>,
    writes: Option<Mutex<Overlay>>,
    /// A writer batch's point reads, kept: under the write lock nothing
    /// else changes them, and the operations of a batch read the same
    /// chats and members again and again.
    read: Mutex<HashMap<(String, Vec<u8>), Stored>>,
}

impl PgTxn {
    fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a transaction holds its connection until it ends")
    }

    fn overlay(&self) -> Option<std::sync::MutexGuard<'_, Overlay>> {
        self.writes
            .as_ref()
            .map(|writes| writes.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(super) fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(overlay) = self.overlay()
            && let Some(written) = overlay.get(table.name()).and_then(|keys| keys.get(key))
        {
            return Ok(written.clone());
        }
        let cached = (table.name().to_owned(), key.to_vec());
        if self.writes.is_some()
            && let Some(value) = self
                .read
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&cached)
        {
            return Ok(value.clone());
        }
        let sql = format!("SELECT v FROM {} WHERE k = $1", name(table));
        let params: Params<'_> = vec![(&key, Type::BYTEA)];
        let rows = self.db.wait(self.client().query_typed(&sql, &params))?;
        let value: Option<Vec<u8>> = rows.first().map(|row| row.get(0));
        if self.writes.is_some() {
            self.read
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(cached, value.clone());
        }
        Ok(value)
    }

    /// Up to `limit` entries in `range`, in key order (or, with `back`,
    /// from the last one down).
    pub(super) fn range(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        back: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let pending: Vec<(Vec<u8>, Option<Vec<u8>>)> = match self.overlay() {
            Some(overlay) => overlay
                .get(table.name())
                .map(|keys| {
                    keys.range::<[u8], _>(range)
                        .map(|(key, value)| (key.clone(), value.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        };
        // Keys this transaction removed may still be among the stored
        // ones: fetch that many more so `limit` remain.
        let removed = pending.iter().filter(|(_, value)| value.is_none()).count();
        let fetch = limit.saturating_add(removed);
        let stored = self.fetch(table, range, back, fetch)?;
        if pending.is_empty() {
            return Ok(stored);
        }
        // Past the last stored key fetched, a written key may have stored
        // neighbours the fetch cut off: only keys up to it are complete.
        let cut = (stored.len() == fetch).then(|| stored.last().map(|(key, _)| key.clone()));
        let cut = cut.flatten();
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = stored.into_iter().collect();
        for (key, value) in pending {
            let beyond = cut
                .as_ref()
                .is_some_and(|cut| if back { key < *cut } else { key > *cut });
            if beyond {
                continue;
            }
            match value {
                Some(value) => merged.insert(key, value),
                None => merged.remove(&key),
            };
        }
        Ok(if back {
            merged.into_iter().rev().take(limit).collect()
        } else {
            merged.into_iter().take(limit).collect()
        })
    }

    fn fetch(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        back: bool,
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut sql = format!("SELECT k, v FROM {} WHERE true", name(table));
        let mut params: Params<'_> = Vec::with_capacity(2);
        for (bound, inclusive, exclusive) in [(&range.0, ">=", ">"), (&range.1, "<=", "<")] {
            let (key, op) = match bound {
                Bound::Included(key) => (key, inclusive),
                Bound::Excluded(key) => (key, exclusive),
                Bound::Unbounded => continue,
            };
            params.push((key, Type::BYTEA));
            sql.push_str(&format!(" AND k {op} ${}", params.len()));
        }
        sql.push_str(if back {
            " ORDER BY k DESC"
        } else {
            " ORDER BY k"
        });
        if let Ok(limit) = i64::try_from(limit) {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let rows = self.db.wait(self.client().query_typed(&sql, &params))?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// How many entries `table` holds, this transaction's writes included.
    pub(super) fn len(&self, table: Table) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM {}", name(table));
        let rows = self.db.wait(self.client().query_typed(&sql, &[]))?;
        let stored: i64 = rows.first().map_or(0, |row| row.get(0));
        let mut count = stored.unsigned_abs();
        let Some(overlay) = self.overlay() else {
            return Ok(count);
        };
        let Some(written) = overlay.get(table.name()) else {
            return Ok(count);
        };
        let keys: Vec<&[u8]> = written.keys().map(Vec::as_slice).collect();
        let sql = format!("SELECT k FROM {} WHERE k = ANY($1)", name(table));
        let params: Params<'_> = vec![(&keys, Type::BYTEA_ARRAY)];
        let rows = self.db.wait(self.client().query_typed(&sql, &params))?;
        let existing: std::collections::HashSet<Vec<u8>> =
            rows.iter().map(|row| row.get(0)).collect();
        for (key, value) in written {
            match (existing.contains(key), value.is_some()) {
                (false, true) => count += 1,
                (true, false) => count = count.saturating_sub(1),
                _ => {}
            }
        }
        Ok(count)
    }

    /// The bytes `table` takes in PostgreSQL, indexes included.
    pub(super) fn stored_bytes(&self, table: Table) -> Result<u64, StoreError> {
        let sql = format!("SELECT pg_total_relation_size('{}')", name(table));
        let rows = self.db.wait(self.client().query_typed(&sql, &[]))?;
        Ok(rows
            .first()
            .map_or(0, |row| row.get::<_, i64>(0).unsigned_abs()))
    }

    pub(super) fn put(&self, table: Table, key: &[u8], value: &[u8]) {
        self.write(table, key, Some(value.to_vec()));
    }

    pub(super) fn delete(&self, table: Table, key: &[u8]) {
        self.write(table, key, None);
    }

    fn write(&self, table: Table, key: &[u8], value: Option<Vec<u8>>) {
        let mut overlay = self
            .overlay()
            .expect("writes happen only in the writer's transaction");
        overlay
            .entry(table.name().to_owned())
            .or_default()
            .insert(key.to_vec(), value);
    }

    /// Sends the batch's writes and commits; returns the connection for
    /// the next batch.
    pub(super) fn commit(mut self) -> Result<Client, StoreError> {
        let overlay = self
            .writes
            .take()
            .map(|writes| writes.into_inner().unwrap_or_else(PoisonError::into_inner))
            .unwrap_or_default();
        let client = self
            .client
            .take()
            .expect("a transaction holds its connection until it ends");
        let db = Arc::clone(&self.db);
        let mut statements: Vec<Statement<'_>> = Vec::new();
        for (table, keys) in &overlay {
            let (mut put, mut values, mut removed) = (Vec::new(), Vec::new(), Vec::new());
            for (key, value) in keys {
                match value {
                    Some(value) => {
                        put.push(key.as_slice());
                        values.push(value.as_slice());
                    }
                    None => removed.push(key.as_slice()),
                }
            }
            if !put.is_empty() {
                statements.push(Statement {
                    sql: format!(
                        "INSERT INTO kv_{table} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                         ON CONFLICT (k) DO UPDATE SET v = excluded.v"
                    ),
                    keys: put,
                    values: Some(values),
                });
            }
            if !removed.is_empty() {
                statements.push(Statement {
                    sql: format!("DELETE FROM kv_{table} WHERE k = ANY($1)"),
                    keys: removed,
                    values: None,
                });
            }
        }
        db.wait(async {
            let params: Vec<Params<'_>> = statements.iter().map(Statement::params).collect();
            // Sent one after another without waiting for each answer: the
            // batch's writes cost one round trip, however many tables.
            futures_util::future::try_join_all(
                statements
                    .iter()
                    .zip(&params)
                    .map(|(statement, params)| client.query_typed(&statement.sql, params)),
            )
            .await?;
            client.batch_execute("COMMIT").await
        })?;
        Ok(client)
    }
}

impl PgTxn {
    /// Ends a failed batch, keeping the connection for the next one.
    pub(super) fn rollback(mut self) -> Result<Client, StoreError> {
        self.writes.take();
        let client = self
            .client
            .take()
            .expect("a transaction holds its connection until it ends");
        self.db.wait(client.batch_execute("ROLLBACK"))?;
        Ok(client)
    }
}

impl Drop for PgTxn {
    /// A transaction not committed is rolled back before its connection
    /// serves again; one lost meanwhile is simply not reused.
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        let db = Arc::clone(&self.db);
        let reader = self.writes.is_none();
        self.db.runtime.spawn(async move {
            let rolled_back = tokio::time::timeout(TIMEOUT, client.batch_execute("ROLLBACK"))
                .await
                .is_ok_and(|result| result.is_ok());
            // The writer keeps its own connection; a failed batch's is closed.
            if rolled_back && reader {
                db.give_back(client);
            }
        });
    }
}

/// The PostgreSQL table holding redb table `table`.
fn name(table: Table) -> String {
    format!("kv_{}", table.name())
}

/// A client error as the store's: a lost or refused connection makes the
/// store unavailable (`503`, try again), a full disk is `Full`.
fn lift(error: &tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    match error.code() {
        Some(code) if *code == SqlState::DISK_FULL => StoreError::Full,
        Some(code)
            if *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
                || *code == SqlState::TOO_MANY_CONNECTIONS =>
        {
            StoreError::Unavailable
        }
        Some(_) => StoreError::Database(error.to_string()),
        None => StoreError::Unavailable,
    }
}
