//! Where attachment bytes live: one file per blob, named by its 128-bit id,
//! in one directory (the data directory's `uploads/`). A new blob is written
//! under `partial/`, fsync'd, and only then renamed into place (and the
//! directory fsync'd), so a crash never leaves a truncated blob behind;
//! whatever `partial/` holds at start-up was never acknowledged and goes.
//! The rules about uploads (limits, types, who may see them) live in
//! `uploads`; this module knows only bytes and names.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::io::AsyncWriteExt;

use crate::data_dir::PARTIAL_UPLOADS;

/// A blob's name: 128 random bits.
pub type BlobId = [u8; 16];

/// The space of the disk that holds the blobs, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    /// What this (unprivileged) process may still write.
    pub free: u64,
    pub total: u64,
}

/// The blob directory of one server.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
    partial: PathBuf,
}

impl Blobs {
    /// Opens `dir` (creating it readable by this user only), removing any
    /// partial blob a crash left behind.
    pub fn open(dir: &Path) -> io::Result<Self> {
        Self::open_partials_older_than(dir, Duration::ZERO)
    }

    /// `open` for a directory other nodes write to as well: a partial blob
    /// may be another node's upload in progress, so only one untouched for
    /// an hour (longer than any upload may take) is left over from a crash.
    pub fn open_shared(dir: &Path) -> io::Result<Self> {
        Self::open_partials_older_than(dir, Duration::from_secs(3600))
    }

    fn open_partials_older_than(dir: &Path, age: Duration) -> io::Result<Self> {
        let partial = dir.join(PARTIAL_UPLOADS);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&partial)?;
        let now = SystemTime::now();
        for entry in std::fs::read_dir(&partial)?.flatten() {
            let stale = entry
                .metadata()
                .and_then(|meta| meta.modified())
                .map_or(true, |modified| {
                    now.duration_since(modified).unwrap_or_default() >= age
                });
            if stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            partial,
        })
    }

    /// Starts writing the blob `id`; nothing of it is visible until placed.
    pub async fn create(&self, id: &BlobId) -> io::Result<NewBlob> {
        let partial = self.partial.join(format!("{}.part", hex::encode(id)));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .await?;
        Ok(NewBlob {
            file,
            partial,
            target: self.path(id),
            dir: self.dir.clone(),
        })
    }

    /// The blob `id`, opened for reading.
    pub async fn read(&self, id: &BlobId) -> io::Result<tokio::fs::File> {
        tokio::fs::File::open(self.path(id)).await
    }

    /// Removes the blob `id` (a placed blob whose record could not be stored).
    pub async fn remove(&self, id: &BlobId) -> io::Result<()> {
        tokio::fs::remove_file(self.path(id)).await
    }

    pub fn disk_space(&self) -> io::Result<DiskSpace> {
        let stats = rustix::fs::statvfs(&self.dir)?;
        Ok(DiskSpace {
            free: stats.f_bavail.saturating_mul(stats.f_frsize),
            total: stats.f_blocks.saturating_mul(stats.f_frsize),
        })
    }

    /// The placed blobs last written before `cutoff`.
    pub async fn written_before(&self, cutoff: SystemTime) -> io::Result<Vec<BlobId>> {
        let mut found = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let mut id: BlobId = [0; 16];
            let name = entry.file_name();
            let is_blob = name
                .to_str()
                .is_some_and(|name| hex::decode_to_slice(name, &mut id).is_ok());
            if is_blob && entry.metadata().await?.modified()? < cutoff {
                found.push(id);
            }
        }
        Ok(found)
    }

    /// Where a placed blob's bytes are, for reading them without the
    /// async runtime (an export written on a blocking thread).
    pub fn path_of(&self, id: &BlobId) -> PathBuf {
        self.path(id)
    }

    fn path(&self, id: &BlobId) -> PathBuf {
        self.dir.join(hex::encode(id))
    }
}

/// A blob being written.
pub struct NewBlob {
    file: tokio::fs::File,
    partial: PathBuf,
    target: PathBuf,
    dir: PathBuf,
}

impl NewBlob {
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes).await
    }

    /// Makes the blob durable and visible under its id.
    pub async fn place(self) -> io::Result<()> {
        let placed = async {
            self.file.sync_all().await?;
            tokio::fs::rename(&self.partial, &self.target).await?;
            // The rename itself must survive a crash: sync the directory.
            tokio::fs::File::open(&self.dir).await?.sync_all().await
        };
        let result = placed.await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&self.partial).await;
        }
        result
    }

    /// Gives the blob up: nothing of it stays.
    pub async fn discard(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.partial).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_blob_is_seen_only_once_placed_and_partial_ones_go_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let id = [7; 16];
        let mut blob = blobs.create(&id).await.unwrap();
        blob.write(b"halo").await.unwrap();
        assert!(
            blobs.read(&id).await.is_err(),
            "not visible before it is placed"
        );
        blob.place().await.unwrap();
        let mut text = String::new();
        blobs
            .read(&id)
            .await
            .unwrap()
            .read_to_string(&mut text)
            .await
            .unwrap();
        assert_eq!(text, "halo");

        let mut left = blobs.create(&[8; 16]).await.unwrap();
        left.write(b"half").await.unwrap();
        drop(left);
        Blobs::open(dir.path()).unwrap();
        let partial = std::fs::read_dir(dir.path().join(PARTIAL_UPLOADS))
            .unwrap()
            .count();
        assert_eq!(partial, 0, "a crash's partial blob is gone after open");
        blobs.remove(&id).await.unwrap();
        assert!(blobs.read(&id).await.is_err());
    }

    #[tokio::test]
    async fn blobs_are_listed_by_when_they_were_written() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path()).unwrap();
        let mut blob = blobs.create(&[9; 16]).await.unwrap();
        blob.write(b"old").await.unwrap();
        blob.place().await.unwrap();
        std::fs::write(dir.path().join("not-a-blob"), b"x").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(blobs.written_before(later).await.unwrap(), vec![[9; 16]]);
        let earlier = SystemTime::now() - std::time::Duration::from_secs(60);
        assert!(blobs.written_before(earlier).await.unwrap().is_empty());
    }
}
