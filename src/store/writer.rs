//! The single writer: one thread owns every write transaction. It takes all
//! queued jobs, runs them in one transaction and makes it durable once for
//! all of them (group commit): in redb, by appending the batch's writes to
//! the journal with one synchronous write and then committing without a
//! sync, with a durable commit (a checkpoint) now and then; in PostgreSQL,
//! by its own commit. While jobs come faster than commits, a small batch
//! waits a fraction of a millisecond for company (`LINGER`), so each commit
//! carries more. One thread means `seq` assignment needs no locks. A
//! committed batch goes to the fan-out thread, which runs each job's
//! after-commit hooks (publishing) and answers it, in commit order, while
//! the writer starts the next batch. A checkpoint that comes due while
//! nothing is queued is made then, in the quiet, rather than in front of
//! the next write: it syncs every page written since the last one, which
//! after a busy spell takes tens of milliseconds.

use std::sync::Arc;
use std::thread::JoinHandle;

use redb::{Database, Durability};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::file::DatabaseFile;
use super::journal::{Changes, Journal};
use super::ops::Operation;
use super::postgres::Postgres;
use super::tx::Tx;

/// How many writes may wait for the writer before senders are slowed down.
pub(super) const QUEUE_CAPACITY: usize = 8192;
/// The most jobs in one transaction: bounds the latency a batch adds.
const MAX_BATCH: usize = 1024;
/// How long a busy writer lets a small batch wait for more jobs before
/// committing it. Each commit costs the same CPU however few jobs it
/// carries, so while jobs arrive faster than commits (the last batch had
/// more than one) a fraction of a millisecond buys fewer, fuller commits;
/// an idle writer commits a lone job at once.
const LINGER: std::time::Duration = std::time::Duration::from_micros(300);
/// A batch this large is worth committing without waiting.
const LINGER_UNTIL: usize = 64;
/// Committed batches that may wait for the fan-out thread; past that the
/// writer waits too, so a fan-out that falls behind slows commits down
/// instead of piling answers up in memory.
const FAN_OUT_BACKLOG: usize = 16;
/// How often an idle writer is asked whether a checkpoint is due.
const IDLE_LOOK: std::time::Duration = std::time::Duration::from_millis(250);

type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// One queued write: run it inside the batch, or refuse it without running.
pub(super) trait Job: Send {
    /// Runs the operation; the returned completion answers the caller once
    /// the batch's commit has succeeded or failed.
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Completion;
    fn reject(self: Box<Self>, error: StoreError);
}

/// What runs after an operation's commit, before its caller is answered.
pub(super) type AfterCommit<T> = Box<dyn FnOnce(&T) + Send>;

/// A caller's operation and where its answer goes.
pub(super) struct Pending<O: Operation> {
    pub op: O,
    pub after_commit: Option<AfterCommit<O::Output>>,
    pub reply: oneshot::Sender<Result<O::Output, StoreError>>,
}

impl<O: Operation> Job for Pending<O> {
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Completion {
        let Self {
            op,
            after_commit,
            reply,
        } = *self;
        let result = op.apply(tx);
        if let Err(error) = &result {
            tx.abort_batch(error.clone());
        }
        Box::new(move |committed| {
            let answer = committed.and(result);
            if let (Ok(output), Some(after_commit)) = (&answer, after_commit) {
                after_commit(output);
            }
            // The caller may have gone away (a client disconnected); the
            // write stands either way.
            let _ = reply.send(answer);
        })
    }

    fn reject(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

pub(super) enum Command {
    Run(Box<dyn Job>),
    /// From the idle look: make a due checkpoint if nothing else is queued.
    Checkpoint,
    Stop,
}

/// A finished batch on its way to the fan-out thread: each job's answer
/// (with its after-commit work), and whether the batch was committed.
struct Finished {
    jobs: Vec<Completion>,
    outcome: Result<(), StoreError>,
}

/// Where the writer commits.
pub(super) enum Engine {
    Redb(Arc<DatabaseFile>, Journal),
    Postgres(Arc<Postgres>),
}

/// Starts the writer on `queue`; `jobs` is the queue's sending side, for
/// the idle look (which ends when the queue does).
pub(super) fn spawn(
    engine: Engine,
    queue: mpsc::Receiver<Command>,
    jobs: mpsc::WeakSender<Command>,
) -> std::io::Result<JoinHandle<()>> {
    if matches!(engine, Engine::Redb(..)) {
        std::thread::Builder::new()
            .name("clavox-idle".into())
            .spawn(move || look_while_idle(&jobs))?;
    }
    let (finished, fan_out) = std::sync::mpsc::sync_channel(FAN_OUT_BACKLOG);
    let fan_out = std::thread::Builder::new()
        .name("clavox-fanout".into())
        .spawn(move || {
            for batch in fan_out {
                answer(batch);
            }
        })?;
    std::thread::Builder::new()
        .name("clavox-writer".into())
        .spawn(move || {
            run(engine, queue, &finished);
            // Every answer is out before the store counts as closed.
            drop(finished);
            let _ = fan_out.join();
        })
}

/// Asks the writer every `IDLE_LOOK` whether a checkpoint is due, until the
/// queue is gone. A full queue needs no asking: the writer is busy, and
/// checkpoints with the batches it commits.
fn look_while_idle(jobs: &mpsc::WeakSender<Command>) {
    loop {
        std::thread::sleep(IDLE_LOOK);
        let Some(jobs) = jobs.upgrade() else {
            return;
        };
        if let Err(mpsc::error::TrySendError::Closed(_)) = jobs.try_send(Command::Checkpoint) {
            return;
        }
    }
}

/// Publishes a committed batch's events and answers its callers, in commit
/// order; or tells every caller of a failed batch why.
fn answer(batch: Finished) {
    for completion in batch.jobs {
        completion(batch.outcome.clone());
    }
}

/// What the writer keeps between batches, per engine.
enum State {
    /// After an I/O failure redb takes no more writes until reopened.
    Redb {
        file: Arc<DatabaseFile>,
        journal: Journal,
        broken: bool,
    },
    /// The writer's own connection, made again when it was lost.
    Postgres {
        db: Arc<Postgres>,
        client: Option<tokio_postgres::Client>,
    },
}

fn run(
    engine: Engine,
    mut queue: mpsc::Receiver<Command>,
    finished: &std::sync::mpsc::SyncSender<Finished>,
) {
    let mut state = match engine {
        Engine::Redb(file, journal) => State::Redb {
            file,
            journal,
            broken: false,
        },
        Engine::Postgres(db) => State::Postgres { db, client: None },
    };
    let mut stopping = false;
    // Whether the last batch found company: then jobs are arriving faster
    // than the writer commits them.
    let mut busy = false;
    while !stopping {
        let Some(first) = queue.blocking_recv() else {
            break;
        };
        let mut batch = Vec::new();
        stopping = gather(&mut queue, first, &mut batch);
        if busy && !stopping && batch.len() < LINGER_UNTIL {
            std::thread::sleep(LINGER);
            if let Ok(next) = queue.try_recv() {
                stopping = gather(&mut queue, next, &mut batch);
            }
        }
        if batch.is_empty() {
            // Nothing but the idle look came: the quiet moment to checkpoint.
            if let State::Redb {
                file,
                journal,
                broken: broken @ false,
            } = &mut state
                && journal.checkpoint_due()
                && let Err(error) = checkpoint(file, journal)
            {
                tracing::warn!(%error, "a checkpoint failed; the journal keeps every write");
                *broken = error.needs_reopen();
            }
            continue;
        }
        busy = batch.len() > 1;
        let done = match &mut state {
            State::Redb {
                file,
                journal,
                broken,
            } => commit_to_redb(file, journal, broken, batch),
            State::Postgres { db, client } => Some(commit_to_postgres(db, client, batch)),
        };
        // The fan-out thread outlives this loop: sending cannot fail.
        if let Some(done) = done {
            let _ = finished.send(done);
        }
    }
    // Anything still queued after a stop is refused, not silently dropped:
    // its sender sees `StoreError::Closed`.
    queue.close();
    if let State::Redb {
        file,
        journal,
        broken: false,
    } = &mut state
    {
        // A clean stop leaves the journal with nothing to apply.
        if let Err(error) = checkpoint(file, journal) {
            tracing::warn!(%error, "the last checkpoint failed; the journal is applied at the next start");
        }
    }
}

/// Adds `first` and whatever is queued behind it to `batch`, up to
/// `MAX_BATCH`; whether a stop came (nothing after it is taken).
fn gather(
    queue: &mut mpsc::Receiver<Command>,
    first: Command,
    batch: &mut Vec<Box<dyn Job>>,
) -> bool {
    let mut next = Some(first);
    while let Some(command) = next.take() {
        match command {
            Command::Run(job) => batch.push(job),
            Command::Checkpoint => {}
            Command::Stop => return true,
        }
        if batch.len() < MAX_BATCH {
            next = queue.try_recv().ok();
        }
    }
    false
}

fn reject(batch: Vec<Box<dyn Job>>, error: &StoreError) {
    tracing::warn!(%error, jobs = batch.len(), "writes refused");
    for job in batch {
        job.reject(error.clone());
    }
}

/// Commits `batch` to redb, reopening the file first after an I/O
/// failure; `None` when the batch was refused before it ran.
fn commit_to_redb(
    file: &DatabaseFile,
    journal: &mut Journal,
    broken: &mut bool,
    batch: Vec<Box<dyn Job>>,
) -> Option<Finished> {
    if *broken {
        // Reopening forgets redb's unsynced commits: the journal puts
        // them back before anything else is written.
        let reopened = file
            .reopen()
            .and_then(|()| journal.recover(&*file.get()?).map(drop));
        if let Err(error) = reopened {
            reject(batch, &error);
            return None;
        }
        *broken = false;
    }
    if !file.has_room() {
        reject(batch, &StoreError::Full);
        return None;
    }
    let db = match file.get() {
        Ok(db) => db,
        Err(error) => {
            reject(batch, &error);
            return None;
        }
    };
    let checkpoint = journal.checkpoint_due();
    let txn = match begin(&db, checkpoint) {
        Ok(txn) => txn,
        Err(error) => {
            reject(batch, &error);
            return None;
        }
    };
    let changes = Changes::default();
    let (jobs, abort) = run_jobs(Tx::journaled(&txn, &changes), batch);
    let started = std::time::Instant::now();
    let outcome = match abort {
        Some(error) => {
            drop(txn);
            Err(error)
        }
        // A checkpoint's own commit is durable: its batch needs no record.
        None if checkpoint => journal
            .mark_checkpoint(&txn)
            .and_then(|()| Ok(txn.commit()?))
            .map(|()| journal.restart()),
        // On disk in the journal first, so nothing a reader sees can be lost.
        None => journal.append(&changes).and_then(|()| Ok(txn.commit()?)),
    };
    *broken = outcome.as_ref().is_err_and(StoreError::needs_reopen);
    Some(finish(jobs, outcome, started))
}

/// Commits `batch` to PostgreSQL in one transaction under the write lock.
fn commit_to_postgres(
    db: &Arc<Postgres>,
    client: &mut Option<tokio_postgres::Client>,
    batch: Vec<Box<dyn Job>>,
) -> Finished {
    let txn = match db.begin_write(client) {
        Ok(txn) => txn,
        Err(error) => {
            reject(batch, &error);
            return Finished {
                jobs: Vec::new(),
                outcome: Err(error),
            };
        }
    };
    let (jobs, abort) = run_jobs(Tx::postgres(&txn), batch);
    let started = std::time::Instant::now();
    let outcome = match abort {
        Some(error) => {
            *client = txn.rollback().ok();
            Err(error)
        }
        None => txn.commit().map(|open| *client = Some(open)),
    };
    finish(jobs, outcome, started)
}

/// Runs each job of a batch, one after another, in the transaction. Returns
/// their completions and the error that must fail the batch, if any. The
/// `Tx` (with the tables it opened) is dropped before anything commits.
fn run_jobs(mut tx: Tx<'_>, batch: Vec<Box<dyn Job>>) -> (Vec<Completion>, Option<StoreError>) {
    let mut finished: Vec<Completion> = Vec::with_capacity(batch.len());
    let mut abort = None;
    for job in batch {
        // A panicking operation must not take the only writer down with it:
        // it fails its batch like any other error, and the writer goes on.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut tx)));
        let job_abort = tx.take_abort();
        match run {
            Ok(completion) => finished.push(completion),
            Err(_) => {
                abort.get_or_insert(StoreError::Corrupt("a write operation panicked".into()));
            }
        }
        if abort.is_none() {
            abort = job_abort;
        }
    }
    (finished, abort)
}

fn finish(
    jobs: Vec<Completion>,
    outcome: Result<(), StoreError>,
    started: std::time::Instant,
) -> Finished {
    metrics::histogram!("clavox_writer_batch_size").record(jobs.len() as f64);
    metrics::histogram!("clavox_writer_commit_seconds").record(started.elapsed().as_secs_f64());
    if let Err(error) = &outcome {
        tracing::error!(%error, jobs = jobs.len(), "write batch failed; nothing in it was stored");
    }
    Finished { jobs, outcome }
}

/// A batch's transaction: synced at its commit only for a checkpoint.
fn begin(db: &Database, durable: bool) -> Result<redb::WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(if durable {
        Durability::Immediate
    } else {
        Durability::None
    })?;
    Ok(txn)
}

/// A durable commit of nothing but the checkpoint mark, while idle or at a
/// stop.
fn checkpoint(file: &DatabaseFile, journal: &mut Journal) -> Result<(), StoreError> {
    let txn = begin(&*file.get()?, true)?;
    journal.mark_checkpoint(&txn)?;
    txn.commit()?;
    journal.restart();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use redb::ReadableDatabase;

    use super::super::journal::CHECKPOINT_INTERVAL;
    use super::super::{Store, ops, tables};
    use crate::data_dir::DataDir;

    /// What redb's file alone holds under `key` in `META`, as a crash would
    /// leave it (the journal not applied): a copy opened on its own. `None`
    /// also for a copy taken in the middle of a commit that redb cannot
    /// open: the caller looks again.
    fn synced_meta(data_dir: &std::path::Path, key: &[u8]) -> Option<Vec<u8>> {
        let copy = tempfile::tempdir().unwrap();
        let path = copy.path().join("copy.redb");
        std::fs::copy(DataDir::new(data_dir).database(), &path).unwrap();
        let db = redb::Database::open(&path).ok()?;
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(tables::META).unwrap();
        table.get(key).unwrap().map(|value| value.value().to_vec())
    }

    #[tokio::test]
    async fn a_write_followed_by_quiet_is_checkpointed_without_another_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Long enough after the opening checkpoint that the next one is due
        // as soon as the journal holds something.
        tokio::time::sleep(CHECKPOINT_INTERVAL).await;
        store
            .apply(ops::SharedSecret {
                name: "quiet",
                candidate: "kept".into(),
            })
            .await
            .unwrap();
        let key = tables::shared_secret("quiet");
        let deadline = Instant::now() + CHECKPOINT_INTERVAL + Duration::from_secs(5);
        while synced_meta(dir.path(), &key).is_none() {
            assert!(
                Instant::now() < deadline,
                "the write is still only in the journal"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            synced_meta(dir.path(), &key).as_deref(),
            Some(b"kept".as_slice())
        );
    }
}
