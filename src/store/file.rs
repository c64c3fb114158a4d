//! The open database file. After an I/O failure (a full disk above all)
//! redb refuses every later write until the file is opened again; this type
//! does that reopening, and tells the writer whether the disk still has
//! room, so most full-disk moments are refused before redb ever sees them.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redb::Database;

use super::StoreError;

/// Free space the disk must keep for a write batch to start: a batch is
/// refused (`StoreError::Full`) rather than let redb run into ENOSPC.
const RESERVE_BYTES: u64 = 4 * 1024 * 1024;

pub(super) struct DatabaseFile {
    path: PathBuf,
    current: RwLock<Option<Arc<Database>>>,
}

impl DatabaseFile {
    pub(super) fn new(path: PathBuf, database: Database) -> Self {
        Self {
            path,
            current: RwLock::new(Some(Arc::new(database))),
        }
    }

    /// The open database; `Unavailable` while it is being reopened.
    pub(super) fn get(&self) -> Result<Arc<Database>, StoreError> {
        let current = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current.clone().ok_or(StoreError::Unavailable)
    }

    /// Closes and opens the file again. Readers may still hold the old
    /// handle for a moment; the file lock frees when the last one finishes.
    pub(super) fn reopen(&self) -> Result<(), StoreError> {
        let old = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(old);
        let mut last = StoreError::Unavailable;
        for _ in 0..40 {
            match Database::create(&self.path) {
                Ok(database) => {
                    *self
                        .current
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        Some(Arc::new(database));
                    tracing::info!("database reopened after an I/O failure");
                    return Ok(());
                }
                Err(error) => last = error.into(),
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(last)
    }

    /// Whether the disk holding the database has room for another batch.
    pub(super) fn has_room(&self) -> bool {
        let dir = self.path.parent().unwrap_or(&self.path);
        rustix::fs::statvfs(dir).map_or(true, |stats| {
            stats.f_bavail.saturating_mul(stats.f_frsize) >= RESERVE_BYTES
        })
    }
}
