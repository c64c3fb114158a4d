//! The single writer: one thread owns every write transaction. It takes all
//! queued jobs, runs them in one transaction and commits once with
//! `Durability::Immediate` (one fsync shared by the batch: group commit). One
//! thread means `seq` assignment needs no locks. A committed batch goes to the
//! fan-out thread, which runs each job's after-commit hooks (publishing) and
//! answers it, in commit order, while the writer starts the next batch.

use std::sync::Arc;
use std::thread::JoinHandle;

use redb::{Database, Durability};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::file::DatabaseFile;
use super::ops::Operation;
use super::tx::Tx;

/// How many writes may wait for the writer before senders are slowed down.
pub(super) const QUEUE_CAPACITY: usize = 8192;
/// The most jobs in one transaction: bounds the latency a batch adds.
const MAX_BATCH: usize = 1024;
/// Committed batches that may wait for the fan-out thread; past that the
/// writer waits too, so a fan-out that falls behind slows commits down
/// instead of piling answers up in memory.
const FAN_OUT_BACKLOG: usize = 16;

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
    Stop,
}

/// A finished batch on its way to the fan-out thread: each job's answer
/// (with its after-commit work), and whether the batch was committed.
struct Finished {
    jobs: Vec<Completion>,
    outcome: Result<(), StoreError>,
}

pub(super) fn spawn(
    file: Arc<DatabaseFile>,
    queue: mpsc::Receiver<Command>,
) -> std::io::Result<JoinHandle<()>> {
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
            run(&file, queue, &finished);
            // Every answer is out before the store counts as closed.
            drop(finished);
            let _ = fan_out.join();
        })
}

/// Publishes a committed batch's events and answers its callers, in commit
/// order; or tells every caller of a failed batch why.
fn answer(batch: Finished) {
    for completion in batch.jobs {
        completion(batch.outcome.clone());
    }
}

fn run(
    file: &DatabaseFile,
    mut queue: mpsc::Receiver<Command>,
    finished: &std::sync::mpsc::SyncSender<Finished>,
) {
    let mut stopping = false;
    let mut broken = false;
    while !stopping {
        let Some(first) = queue.blocking_recv() else {
            break;
        };
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Run(job) => batch.push(job),
                Command::Stop => {
                    stopping = true;
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        if batch.is_empty() {
            continue;
        }
        // After an I/O failure redb takes no more writes until reopened.
        if broken {
            match file.reopen() {
                Ok(()) => broken = false,
                Err(error) => {
                    reject(batch, &error);
                    continue;
                }
            }
        }
        if !file.has_room() {
            reject(batch, &StoreError::Full);
            continue;
        }
        match file.get() {
            Ok(db) => {
                let batch = commit_batch(&db, batch);
                broken = batch.outcome.as_ref().is_err_and(StoreError::needs_reopen);
                // The fan-out thread outlives this loop: sending cannot fail.
                let _ = finished.send(batch);
            }
            Err(error) => reject(batch, &error),
        }
    }
    // Anything still queued after a stop is refused, not silently dropped:
    // its sender sees `StoreError::Closed`.
    queue.close();
}

fn reject(batch: Vec<Box<dyn Job>>, error: &StoreError) {
    tracing::warn!(%error, jobs = batch.len(), "writes refused");
    for job in batch {
        job.reject(error.clone());
    }
}

/// Runs and commits one batch, for the fan-out thread to answer.
fn commit_batch(db: &Database, batch: Vec<Box<dyn Job>>) -> Finished {
    let txn = match begin(db) {
        Ok(txn) => txn,
        Err(error) => {
            reject(batch, &error);
            return Finished {
                jobs: Vec::new(),
                outcome: Err(error),
            };
        }
    };
    let mut finished: Vec<Completion> = Vec::with_capacity(batch.len());
    let mut abort = None;
    for job in batch {
        let mut tx = Tx::new(&txn);
        // A panicking operation must not take the only writer down with it:
        // it fails its batch like any other error, and the writer goes on.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut tx)));
        let job_abort = tx.finish();
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
    let started = std::time::Instant::now();
    let outcome = match abort {
        Some(error) => {
            drop(txn);
            Err(error)
        }
        None => txn.commit().map_err(StoreError::from),
    };
    metrics::histogram!("clavox_writer_batch_size").record(finished.len() as f64);
    metrics::histogram!("clavox_writer_commit_seconds").record(started.elapsed().as_secs_f64());
    if let Err(error) = &outcome {
        tracing::error!(%error, jobs = finished.len(), "write batch failed; nothing in it was stored");
    }
    Finished {
        jobs: finished,
        outcome,
    }
}

fn begin(db: &Database) -> Result<redb::WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    Ok(txn)
}
