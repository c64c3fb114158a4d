//! The sweep: uploads that no message or avatar named within
//! `UPLOAD_SWEEP_AFTER` (24 h) go, record and usage first in one write, then
//! the blob. A crash between the two leaves a blob that no record names,
//! harmless and removed by a later sweep; never a record, let alone a
//! message, naming a missing file (a send that names an upload checks, in
//! its own write, that the upload is still there).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{Query, StoreError, ops};
use crate::timestamp::Timestamp;

use super::Uploads;

/// The longest wait between two sweeps: an upload outlives its time by at
/// most this much.
const SWEEP_EVERY: Duration = Duration::from_secs(10 * 60);
/// The first sweep after start-up: soon, so a server that restarts often
/// still sweeps, yet out of the way of the start itself.
const FIRST_SWEEP_AFTER: Duration = Duration::from_secs(30);
/// Uploads removed per write, so one sweep never holds the writer for long.
const SWEEP_BATCH: usize = 256;

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Uploads that nothing named: record, usage and blob.
    pub uploads: usize,
    /// Blobs without a record, left by a crash or a failed removal.
    pub orphans: usize,
}

impl Uploads {
    /// Sweeps once shortly after start, then every `SWEEP_EVERY` (or every
    /// `sweep_after`, when that is shorter), until `shutdown` fires.
    pub async fn run_sweeper(self, shutdown: CancellationToken) {
        let every = SWEEP_EVERY.min(self.inner.settings.sweep_after);
        let mut wait = FIRST_SWEEP_AFTER.min(every);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            let before = Timestamp::now().minus(self.inner.settings.sweep_after);
            match self.sweep(before).await {
                Ok(Sweep {
                    uploads: 0,
                    orphans: 0,
                }) => {}
                Ok(Sweep { uploads, orphans }) => {
                    tracing::info!(uploads, orphans, "removed uploads that nothing names");
                }
                Err(error) => tracing::warn!(%error, "sweeping uploads failed; trying again later"),
            }
            wait = every;
        }
    }

    /// Removes the uploads stored before `before` that no message or avatar
    /// ever named, and the blobs last written before then that no upload
    /// record names.
    pub async fn sweep(&self, before: Timestamp) -> Result<Sweep, StoreError> {
        let mut swept = Sweep::default();
        loop {
            let batch = ops::SweepUploads {
                before,
                limit: SWEEP_BATCH,
            };
            let ops::Swept { removed, more } = self.inner.store.apply(batch).await?;
            // Records first, then blobs: a crash in between leaves only a
            // blob without a record, which the orphan pass below removes.
            for id in &removed {
                let _ = self.inner.blobs.remove(id).await;
            }
            swept.uploads += removed.len();
            if !more {
                break;
            }
        }
        swept.orphans = self.sweep_orphans(before).await?;
        Ok(swept)
    }

    /// Removes blobs written before `before` that no record names. The
    /// snapshot is read after the listing, and a blob is placed before its
    /// record is stored, so a blob whose upload is still finishing is never
    /// old enough to be taken.
    async fn sweep_orphans(&self, before: Timestamp) -> Result<usize, StoreError> {
        let old = self
            .inner
            .blobs
            .written_before(before.system_time())
            .await
            .map_err(|error| StoreError::Io {
                context: "listing uploads".into(),
                message: error.to_string(),
            })?;
        let reader = self.inner.store.read()?;
        let mut removed = 0;
        for id in old {
            if reader.upload_by_id(&id)?.is_none() && self.inner.blobs.remove(&id).await.is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_dir::DataDir;
    use crate::store::Store;
    use crate::uploads::Settings;

    #[tokio::test]
    async fn a_sweep_removes_old_blobs_that_no_record_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let settings = Settings {
            max_bytes: 100,
            quota_bytes: 100,
            sweep_after: Duration::from_secs(3600),
        };
        let uploads = Uploads::open(dir.path(), store, settings).unwrap();
        let blobs = DataDir::new(dir.path()).uploads();
        // As a crash between removing a record and its blob leaves them.
        let (old, young) = (
            blobs.join(hex::encode([1; 16])),
            blobs.join(hex::encode([2; 16])),
        );
        for path in [&old, &young] {
            std::fs::write(path, b"x").unwrap();
        }
        let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
        let file = std::fs::File::options().write(true).open(&old).unwrap();
        file.set_modified(two_hours_ago).unwrap();
        let before = Timestamp::now().minus(settings.sweep_after);
        let swept = uploads.sweep(before).await.unwrap();
        assert_eq!(
            swept,
            Sweep {
                uploads: 0,
                orphans: 1
            }
        );
        assert!(!old.exists() && young.exists());
    }
}
