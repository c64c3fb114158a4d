//! Attachments: the bytes in `Blobs`, named by the upload's 128-bit id, and
//! their description in the store. A file is streamed into a new blob while
//! its size is checked, its SHA-256 computed and its first bytes sniffed, and
//! the blob is placed only once all of it passed, so nothing is ever held
//! whole in memory and a refused upload leaves nothing behind. Each user
//! starts at most `UPLOADS_PER_HOUR` uploads and keeps at most
//! `UPLOAD_QUOTA_BYTES`: checked against the declared size before any byte
//! is written, while the body streams in, and finally by the store as it
//! adds the record. Uploads stop while the disk still has ample room, which
//! is kept for messages. An upload that no message or avatar names within a
//! day is swept away, by a task that runs with the server.

pub mod sniff;
mod sweep;

pub use sweep::Sweep;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::blobs::{BlobId, Blobs, DiskSpace, NewBlob};
use crate::config::Config;
use crate::data_dir::DataDir;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::store::{Query, Store, StoreError, UploadRecord, ops};
use crate::timestamp::Timestamp;
use crate::token_bucket::Buckets;

/// Uploads one user may start per hour (SPEC), in a burst or spread out.
pub const UPLOADS_PER_HOUR: u32 = 100;

/// The uploads of one server; cheap to clone.
#[derive(Clone)]
pub struct Uploads {
    inner: Arc<Inner>,
}

struct Inner {
    blobs: Blobs,
    store: Store,
    settings: Settings,
    /// Each user's budget of uploads.
    starts: Buckets<UserId>,
}

/// The limits uploads are held to.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The largest file (`UPLOAD_MAX_BYTES`).
    pub max_bytes: u64,
    /// The bytes of uploads one user may keep (`UPLOAD_QUOTA_BYTES`).
    pub quota_bytes: u64,
    /// How long an upload that nothing names is kept (24 h).
    pub sweep_after: Duration,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_bytes: config.upload_max_bytes,
            quota_bytes: config.upload_quota_bytes,
            sweep_after: config.upload_sweep_after,
        }
    }
}

/// How many bytes one upload may still bring in.
#[derive(Debug, Clone, Copy)]
struct Allowance {
    max_bytes: u64,
    quota_bytes: u64,
    /// What the owner's quota leaves.
    quota_left: u64,
}

impl Allowance {
    /// Refuses a file of `size` bytes: too large for any upload (`413`), or
    /// for what the owner's quota leaves (`403`).
    fn check(&self, size: u64) -> Result<()> {
        if size > self.max_bytes {
            return Err(Error::PayloadTooLarge {
                limit: usize::try_from(self.max_bytes).unwrap_or(usize::MAX),
            });
        }
        if size > self.quota_left {
            return Err(Error::QuotaExceeded {
                quota: self.quota_bytes,
            });
        }
        Ok(())
    }
}

/// What the client says about a file it uploads.
pub struct Incoming<'a> {
    pub owner: UserId,
    pub name: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// The `Content-Length` header, when sent: refuses too-large files early.
    pub declared_size: Option<u64>,
}

impl Uploads {
    /// Prepares `uploads/` in `data_dir`, removing any partial file a crash
    /// left behind (it was never acknowledged).
    pub fn open(data_dir: &Path, store: Store, settings: Settings) -> Result<Self, StoreError> {
        Self::open_in(&DataDir::new(data_dir).uploads(), false, store, settings)
    }

    /// Prepares the uploads directory `dir`; `shared` when other nodes
    /// write to it too (`UPLOADS_DIR` with a PostgreSQL store).
    pub fn open_in(
        dir: &Path,
        shared: bool,
        store: Store,
        settings: Settings,
    ) -> Result<Self, StoreError> {
        let blobs = if shared {
            Blobs::open_shared(dir)
        } else {
            Blobs::open(dir)
        };
        let blobs = blobs.map_err(|error| StoreError::Io {
            context: format!("preparing {}", dir.display()),
            message: error.to_string(),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                blobs,
                store,
                settings,
                starts: Buckets::per_period(UPLOADS_PER_HOUR, Duration::from_secs(3600)),
            }),
        })
    }

    /// Where the bytes live, for the rules that let an upload go.
    pub fn blobs(&self) -> &Blobs {
        &self.inner.blobs
    }

    pub fn max_bytes(&self) -> u64 {
        self.inner.settings.max_bytes
    }

    /// Stores `body` as a new upload; answers once it is on disk.
    pub async fn receive(&self, incoming: Incoming<'_>, body: Body) -> Result<UploadRecord> {
        let allowance = self.admit(&incoming)?;
        let id: BlobId = rand::random();
        let content_type = content_type(incoming.content_type);
        let mut blob = self
            .inner
            .blobs
            .create(&id)
            .await
            .map_err(|error| io_error(&error))?;
        let streamed = Self::stream_to(&mut blob, allowance, &content_type, body).await;
        let (size, sha256, dimensions) = match streamed {
            Ok(received) => received,
            Err(error) => {
                blob.discard().await;
                return Err(error);
            }
        };
        blob.place().await.map_err(|error| io_error(&error))?;
        let record = UploadRecord {
            id,
            owner: incoming.owner,
            name: file_name(incoming.name),
            content_type,
            size,
            sha256,
            dimensions,
            created_at: Timestamp::now(),
        };
        self.describe(record, allowance.quota_bytes).await
    }

    /// Stores the record of a placed blob, if its owner's uploads still fit
    /// within `quota` with it; otherwise the blob goes.
    async fn describe(&self, record: UploadRecord, quota: u64) -> Result<UploadRecord> {
        let id = record.id;
        let add = ops::AddUpload {
            upload: record.clone(),
            quota,
        };
        let refused = match self.inner.store.apply(add).await {
            Ok(ops::Added::Stored) => return Ok(record),
            Ok(ops::Added::OverQuota) => Error::QuotaExceeded { quota },
            Err(error) => error.into(),
        };
        let _ = self.inner.blobs.remove(&id).await;
        Err(refused)
    }

    /// Decides whether an upload may start, before a byte of it is read:
    /// within its owner's budget, quota and the file size limit (as far as
    /// its declared size tells), and with room left on the disk.
    fn admit(&self, incoming: &Incoming<'_>) -> Result<Allowance> {
        self.spend_budget(incoming.owner)?;
        let allowance = self.allowance(incoming.owner)?;
        let declared = incoming.declared_size.unwrap_or(0);
        allowance.check(declared)?;
        // Unreadable disk statistics refuse nothing: a write that then
        // fails for want of space is answered 507 all the same.
        let space = self.inner.blobs.disk_space();
        if space.is_ok_and(|space| !leaves_room(space, declared)) {
            return Err(Error::StorageFull);
        }
        Ok(allowance)
    }

    /// Counts an upload against `owner`'s budget. Every attempt counts, a
    /// refused one too, so refusals cannot be repeated for free.
    fn spend_budget(&self, owner: UserId) -> Result<()> {
        self.inner
            .starts
            .take(owner, Instant::now())
            .map_err(|wait| Error::RateLimited {
                // Rounded up: a client that waits this long is not refused again.
                retry_after: u64::try_from(wait.as_millis().div_ceil(1000)).unwrap_or(u64::MAX),
            })
    }

    /// What a new upload of `owner` may bring in, as of the last commit.
    fn allowance(&self, owner: UserId) -> Result<Allowance> {
        let Settings {
            max_bytes,
            quota_bytes,
            ..
        } = self.inner.settings;
        let usage = self.inner.store.read()?.upload_usage(owner)?;
        Ok(Allowance {
            max_bytes,
            quota_bytes,
            quota_left: usage.left(quota_bytes),
        })
    }

    /// Writes the body into `blob`, returning its size, digest and, for
    /// images, dimensions. Refuses bodies past the `allowance` and images
    /// whose bytes are not of their declared type.
    async fn stream_to(
        blob: &mut NewBlob,
        allowance: Allowance,
        content_type: &str,
        body: Body,
    ) -> Result<(u64, [u8; 32], Option<(u32, u32)>)> {
        let mut digest = Sha256::new();
        let mut head = Vec::new();
        let mut size = 0u64;
        let mut chunks = body.into_data_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk
                .map_err(|_| Error::BadRequest("the upload was interrupted; send it again"))?;
            size += chunk.len() as u64;
            allowance.check(size)?;
            if head.len() < sniff::HEAD_BYTES {
                let wanted = (sniff::HEAD_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..wanted]);
            }
            digest.update(&chunk);
            blob.write(&chunk).await.map_err(|error| io_error(&error))?;
        }
        if size == 0 {
            return Err(Error::validation("body", "the file is empty"));
        }
        if !sniff::matches(content_type, &head) {
            return Err(Error::validation(
                "contentType",
                format!("the file is not a valid {content_type}"),
            ));
        }
        Ok((
            size,
            digest.finalize().into(),
            sniff::dimensions(content_type, &head),
        ))
    }

    /// An upload's description and its file, opened for reading.
    pub async fn open_file(&self, id: &str) -> Result<(UploadRecord, tokio::fs::File)> {
        let record = self
            .inner
            .store
            .read()?
            .upload(id)?
            .ok_or(Error::NotFound)?;
        let file = self
            .inner
            .blobs
            .read(&record.id)
            .await
            .map_err(|_| Error::NotFound)?;
        Ok((record, file))
    }
}

fn io_error(error: &std::io::Error) -> Error {
    if error.kind() == std::io::ErrorKind::StorageFull {
        Error::StorageFull
    } else {
        Error::Internal(format!("upload storage: {error}").into())
    }
}

/// The least free space uploads leave for messages. The writer refuses
/// batches only within 4 MiB of a full disk (`store::file`); uploads stop
/// far earlier, so that once attachments are refused messages, a few hundred
/// bytes each, still have room for a long time: 64 MiB is room for about a
/// hundred thousand of them, and two 25 MiB uploads that pass this check at
/// the same moment still land above the writer's reserve. On a large disk
/// 1 % of it, as a file system nearly full slows down and fragments long
/// before it runs out.
const MESSAGE_ROOM_MIN: u64 = 64 * 1024 * 1024;

/// Whether an upload of `incoming` bytes leaves the free space uploads keep
/// for messages.
fn leaves_room(space: DiskSpace, incoming: u64) -> bool {
    let reserve = MESSAGE_ROOM_MIN.max(space.total / 100);
    space.free.saturating_sub(incoming) >= reserve
}

/// A normalised media type (`type/subtype`, lower case), or
/// `application/octet-stream` for anything unusable.
fn content_type(header: Option<&str>) -> String {
    let essence = header
        .and_then(|value| value.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let token = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match essence.split_once('/') {
        Some(("image", "jpg")) => "image/jpeg".into(),
        Some((kind, subtype)) if token(kind) && token(subtype) => essence,
        _ => "application/octet-stream".into(),
    }
}

/// The last path component of a client's file name, without control
/// characters, at most 255 characters; `file` when nothing is left.
fn file_name(name: Option<&str>) -> String {
    let base = name.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).take(255).collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." {
        "file".into()
    } else {
        clean.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_stop_well_before_the_disk_is_full() {
        const MIB: u64 = 1024 * 1024;
        const GIB: u64 = 1024 * MIB;
        // On a small disk the floor holds: 64 MiB stay free.
        let small = DiskSpace {
            free: 100 * MIB,
            total: 4 * GIB,
        };
        assert!(leaves_room(small, 36 * MIB));
        assert!(!leaves_room(small, 36 * MIB + 1));
        // On a large one, 1 % of it.
        let large = DiskSpace {
            free: 30 * GIB,
            total: 2048 * GIB,
        };
        assert!(leaves_room(large, 9 * GIB));
        assert!(!leaves_room(large, 10 * GIB));
        // Far above the writer's own 4 MiB, even for an empty upload.
        let nearly_full = DiskSpace {
            free: 60 * MIB,
            total: 4 * GIB,
        };
        assert!(!leaves_room(nearly_full, 0));
        assert!(!leaves_room(
            DiskSpace {
                free: 1,
                total: 8 * GIB
            },
            2
        ));
    }

    #[test]
    fn media_types_are_normalised() {
        assert_eq!(content_type(Some("Image/PNG; charset=x")), "image/png");
        assert_eq!(content_type(Some("image/jpg")), "image/jpeg");
        assert_eq!(content_type(Some("nonsense")), "application/octet-stream");
        assert_eq!(
            content_type(Some("text/html\r\nX-Evil: 1")),
            "application/octet-stream"
        );
        assert_eq!(content_type(None), "application/octet-stream");
    }

    #[test]
    fn file_names_lose_their_paths_and_control_characters() {
        assert_eq!(file_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(file_name(Some("C:\\Users\\ana\\photo.jpg")), "photo.jpg");
        assert_eq!(file_name(Some("a\u{0}b\nc.txt")), "abc.txt");
        assert_eq!(file_name(Some("..")), "file");
        assert_eq!(file_name(None), "file");
        assert_eq!(file_name(Some(&"x".repeat(300))).len(), 255);
    }
}
