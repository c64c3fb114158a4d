//! The single writer: one thread owns every write transaction. It takes all
//! queued jobs, runs them in one transaction, commits once with
//! `Durability::Immediate` (one fsync shared by the batch: group commit), then
//! runs each job's after-commit hooks and answers it, in queue order. One
//! thread means `seq` assignment needs no locks, and hooks run in commit order.

use std::sync::Arc;
use std::thread::JoinHandle;

use redb::{Database, Durability};
use tokio::sync::{mpsc, oneshot};

use super::StoreError;
use super::file::DatabaseFile;
use super::tx::{Hook, Tx};

/// How many writes may wait for the writer before senders are slowed down.
pub(super) const QUEUE_CAPACITY: usize = 8192;
/// The most jobs in one transaction: bounds the latency a batch adds.
const MAX_BATCH: usize = 1024;

type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// One queued write: run it inside the batch, or refuse it without running.
pub(super) trait Job: Send {
    /// Runs the operation; the returned completion answers the caller once
    /// the batch's commit has succeeded or failed.
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Completion;
    fn reject(self: Box<Self>, error: StoreError);
}

/// A caller's operation and where its answer goes.
pub(super) struct Pending<F, T> {
    pub op: F,
    pub reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<F, T> Job for Pending<F, T>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> Result<T, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &mut Tx<'_>) -> Completion {
        let result = (self.op)(tx);
        if let Err(error) = &result {
            tx.abort_batch(error.clone());
        }
        let reply = self.reply;
        Box::new(move |committed| {
            // The caller may have gone away (a client disconnected); the
            // write stands either way.
            let _ = reply.send(committed.and(result));
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

pub(super) fn spawn(
    file: Arc<DatabaseFile>,
    queue: mpsc::Receiver<Command>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("clavox-writer".into())
        .spawn(move || run(&file, queue))
}

fn run(file: &DatabaseFile, mut queue: mpsc::Receiver<Command>) {
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
            Ok(db) => broken = commit_batch(&db, batch).is_err_and(|error| error.needs_reopen()),
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

/// Runs and commits one batch; the error, if the batch failed.
fn commit_batch(db: &Database, batch: Vec<Box<dyn Job>>) -> Result<(), StoreError> {
    let txn = match begin(db) {
        Ok(txn) => txn,
        Err(error) => {
            reject(batch, &error);
            return Err(error);
        }
    };
    let mut finished: Vec<(Completion, Vec<Hook>)> = Vec::with_capacity(batch.len());
    let mut abort = None;
    for job in batch {
        let mut tx = Tx::new(&txn);
        // A panicking operation must not take the only writer down with it:
        // it fails its batch like any other error, and the writer goes on.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut tx)));
        let (hooks, job_abort) = tx.finish();
        match run {
            Ok(completion) => finished.push((completion, hooks)),
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
    match &outcome {
        Ok(()) => {
            for (completion, hooks) in finished {
                for hook in hooks {
                    hook();
                }
                completion(Ok(()));
            }
        }
        Err(error) => {
            tracing::error!(%error, jobs = finished.len(), "write batch failed; nothing in it was stored");
            for (completion, _) in finished {
                completion(Err(error.clone()));
            }
        }
    }
    outcome
}

fn begin(db: &Database) -> Result<redb::WriteTransaction, StoreError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    Ok(txn)
}
