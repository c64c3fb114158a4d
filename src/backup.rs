//! Backups: one tar file holding a consistent copy of the database, the
//! generated signing key, and every upload the copy names. Taken while the
//! server runs, without stopping writers; restored into an empty data
//! directory while no server uses it.

use std::fs;
use std::path::{Component, Path, PathBuf};

// A backup's entries carry the data directory's own names.
use crate::data_dir::{
    DATABASE as DATABASE_FILE, JWT_SECRET as SECRET_FILE, TLS_AUTHORITY, TLS_AUTHORITY_KEY,
    UPLOADS as UPLOADS_DIR, VAPID_KEY,
};

/// Key files a backup carries beside the database, when they exist.
const KEY_FILES: [&str; 4] = [SECRET_FILE, TLS_AUTHORITY, TLS_AUTHORITY_KEY, VAPID_KEY];
use crate::store::{Query, Store, StoreError, create_private_dir};

/// The archive's name inside the staging directory, until it is renamed to `out`.
const ARCHIVE_FILE: &str = "backup.tar";
/// `O_NOFOLLOW`, for `OpenOptionsExt::custom_flags`.
const NO_FOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits().cast_signed();

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub entries: u64,
    pub uploads: usize,
    pub bytes: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} database entries, {} uploads, {} bytes",
            self.entries, self.uploads, self.bytes
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(String),
}

fn io(context: &str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let message = format!("{context} {}", path.display());
    move |error| BackupError::Io(format!("{message}: {error}"))
}

/// Writes a backup of `data_dir` (served by `store`) to `out`, atomically:
/// the file appears complete or not at all. It is written inside a fresh
/// private directory beside `out` (so the final rename stays on one
/// filesystem), never at a guessable name that someone could have planted a
/// file or symlink at beforehand.
pub fn create(store: &Store, data_dir: &Path, out: &Path) -> Result<Summary, BackupError> {
    let staged = stage(store, data_dir, parent_of(out))?;
    place(&staged.archive(), out)?;
    Ok(staged.summary)
}

/// A finished archive in a private directory of its own, removed with it.
pub struct Staged {
    dir: PathBuf,
    pub summary: Summary,
}

impl Staged {
    pub fn archive(&self) -> PathBuf {
        self.dir.join(ARCHIVE_FILE)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Writes a backup of `data_dir` (served by `store`) into a fresh private
/// directory inside `scratch`, for the caller to move or send on.
pub fn stage(store: &Store, data_dir: &Path, scratch: &Path) -> Result<Staged, BackupError> {
    let dir = fresh_dir_in(scratch)?;
    let mut staged = Staged {
        dir,
        summary: Summary {
            entries: 0,
            uploads: 0,
            bytes: 0,
        },
    };
    staged.summary = write_archive(store, data_dir, &staged.dir)?;
    Ok(staged)
}

/// Moves a finished archive to `out` durably: the rename, then the directory.
fn place(archive: &Path, out: &Path) -> Result<(), BackupError> {
    fs::rename(archive, out).map_err(io("cannot rename to", out))?;
    let parent = parent_of(out);
    fs::File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(io("cannot sync", parent))
}

/// An archive arriving from a running server (`clavox backup` over the
/// admin socket), written by the receiving process itself: a private file
/// in a fresh private directory beside `out`, renamed into place once whole.
pub struct Receiving {
    dir: PathBuf,
    pub file: fs::File,
}

impl Receiving {
    pub fn begin(out: &Path) -> Result<Self, BackupError> {
        let dir = fresh_dir_in(parent_of(out))?;
        match create_private_file(&dir.join(ARCHIVE_FILE)) {
            Ok(file) => Ok(Self { dir, file }),
            Err(error) => {
                let _ = fs::remove_dir_all(&dir);
                Err(error)
            }
        }
    }

    /// Makes what arrived durable and moves it to `out`.
    pub fn finish(self, out: &Path) -> Result<(), BackupError> {
        let archive = self.dir.join(ARCHIVE_FILE);
        self.file.sync_all().map_err(io("cannot sync", &archive))?;
        place(&archive, out)
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn write_archive(store: &Store, data_dir: &Path, staging: &Path) -> Result<Summary, BackupError> {
    let database = staging.join(DATABASE_FILE);
    let (snapshot, entries) = store.snapshot_to(&database)?;
    let partial = staging.join(ARCHIVE_FILE);
    let mut archive = tar::Builder::new(create_private_file(&partial)?);
    archive
        .append_path_with_name(&database, DATABASE_FILE)
        .map_err(io("cannot archive", &database))?;
    // The keys, when there are any: the JWT key keeps everyone signed in,
    // the local authority keeps phones trusting the restored server.
    for name in KEY_FILES {
        let path = data_dir.join(name);
        if path.exists() {
            archive
                .append_path_with_name(&path, name)
                .map_err(io("cannot archive", &path))?;
        }
    }
    // Uploads never change once stored, so copying those the snapshot names
    // gives exactly the files that belong to it.
    let uploads = snapshot.uploads()?;
    for upload in &uploads {
        let name = format!("{UPLOADS_DIR}/{}", upload.id_hex());
        let path = data_dir.join(&name);
        archive
            .append_path_with_name(&path, &name)
            .map_err(io("cannot archive", &path))?;
    }
    let file = archive
        .into_inner()
        .map_err(io("cannot finish", &partial))?;
    file.sync_all().map_err(io("cannot sync", &partial))?;
    let bytes = file
        .metadata()
        .map_err(io("cannot measure", &partial))?
        .len();
    Ok(Summary {
        entries,
        uploads: uploads.len(),
        bytes,
    })
}

/// Creates `path` for writing, readable by this user only (a backup holds
/// the signing key). Fails if anything already exists there, and never
/// follows a symlink, so a planted file can neither receive the bytes nor
/// keep its own owner and mode.
fn create_private_file(path: &Path) -> Result<fs::File, BackupError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(NO_FOLLOW)
        .mode(0o600)
        .open(path)
        .map_err(io("cannot create", path))?;
    // The umask may have narrowed the mode given at creation.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io("cannot secure", path))?;
    Ok(file)
}

fn parent_of(path: &Path) -> &Path {
    path.parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A new private directory in `parent`, under a random name: creating it
/// fails rather than reuse anything already there.
fn fresh_dir_in(parent: &Path) -> Result<PathBuf, BackupError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = parent.join(format!(
        ".clavox-backup-{}",
        hex::encode(rand::random::<[u8; 6]>())
    ));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(io("cannot create", &dir))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .map_err(io("cannot secure", &dir))?;
    Ok(dir)
}

/// What a restore brought back, read from the restored database itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    pub users: usize,
    pub uploads: usize,
}

/// Unpacks `archive` into `data_dir`, which must be empty or absent, and
/// opens the result to prove it is a working data directory. Every entry is
/// checked before anything is written, so a refused archive leaves
/// `data_dir` as it was.
pub fn restore(archive: &Path, data_dir: &Path) -> Result<Restored, BackupError> {
    if fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(BackupError::Io(format!(
            "{} is not empty: restore into a new directory, then point CLAVOX_DATA_DIR at it",
            data_dir.display()
        )));
    }
    for_each_entry(archive, |_, _| Ok(()))?;
    create_private_dir(&data_dir.join(UPLOADS_DIR))?;
    let mut uploads = 0;
    for_each_entry(archive, |name, entry| {
        if name.starts_with(UPLOADS_DIR) {
            uploads += 1;
        }
        let target = data_dir.join(name);
        let mut file = create_private_file(&target)?;
        std::io::copy(entry, &mut file).map_err(io("cannot write", &target))?;
        file.sync_all().map_err(io("cannot sync", &target))
    })?;
    let store = Store::open(data_dir)?;
    let users = store.read()?.users()?.len();
    Ok(Restored { users, uploads })
}

/// Calls `visit` with each entry of `archive` and its path, in order,
/// checking each first (again on every pass: the file could change between
/// passes).
fn for_each_entry(
    archive: &Path,
    mut visit: impl FnMut(&Path, &mut tar::Entry<'_, fs::File>) -> Result<(), BackupError>,
) -> Result<(), BackupError> {
    let file = fs::File::open(archive).map_err(io("cannot open", archive))?;
    let mut reader = tar::Archive::new(file);
    for entry in reader
        .entries_with_seek()
        .map_err(io("cannot read", archive))?
    {
        let mut entry = entry.map_err(io("cannot read", archive))?;
        let name = entry
            .path()
            .map_err(io("cannot read", archive))?
            .into_owned();
        check_entry(&name, entry.header().entry_type()).map_err(|problem| {
            BackupError::Io(format!(
                "refusing {}: its entry {} {problem}",
                archive.display(),
                name.display()
            ))
        })?;
        visit(&name, &mut entry)?;
    }
    Ok(())
}

/// A backup holds regular files at the names `create` writes, and nothing
/// else: a link, device or fifo, an absolute path or a `..` would let an
/// archive reach or expose files outside the data directory.
fn check_entry(name: &Path, kind: tar::EntryType) -> Result<(), String> {
    // A sparse entry is a regular file with holes (a database file often
    // has some), which the archive stores compactly.
    if !kind.is_file() && !kind.is_gnu_sparse() {
        return Err(format!(
            "is {}, and a Clavox backup holds only regular files",
            kind_name(kind)
        ));
    }
    if !name
        .components()
        .all(|part| matches!(part, Component::Normal(_)))
    {
        return Err("has an absolute path or a `..` component".into());
    }
    let is_upload = name.parent() == Some(Path::new(UPLOADS_DIR))
        && name
            .file_name()
            .and_then(|file| file.to_str())
            .is_some_and(is_upload_id);
    let is_key = KEY_FILES.iter().any(|key| name == Path::new(key));
    if name == Path::new(DATABASE_FILE) || is_key || is_upload {
        Ok(())
    } else {
        Err("is not a file a Clavox backup holds".into())
    }
}

fn kind_name(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Symlink => "a symbolic link".into(),
        tar::EntryType::Link => "a hard link".into(),
        tar::EntryType::Char | tar::EntryType::Block => "a device".into(),
        tar::EntryType::Fifo => "a fifo".into(),
        tar::EntryType::Directory => "a directory".into(),
        other => format!("an entry of type {:?}", char::from(other.as_byte())),
    }
}

/// Uploads are stored under their id: 32 lowercase hex characters.
fn is_upload_id(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar::EntryType;

    const UPLOAD: &str = "uploads/0123456789abcdef0123456789abcdef";

    #[test]
    fn regular_files_at_the_names_a_backup_writes_are_accepted() {
        for name in [
            DATABASE_FILE,
            SECRET_FILE,
            TLS_AUTHORITY,
            TLS_AUTHORITY_KEY,
            VAPID_KEY,
            UPLOAD,
        ] {
            assert_eq!(check_entry(Path::new(name), EntryType::Regular), Ok(()));
            // Files with holes come as sparse entries.
            assert_eq!(check_entry(Path::new(name), EntryType::GNUSparse), Ok(()));
        }
    }

    #[test]
    fn links_devices_fifos_and_directories_are_refused() {
        for kind in [
            EntryType::Symlink,
            EntryType::Link,
            EntryType::Char,
            EntryType::Block,
            EntryType::Fifo,
            EntryType::Directory,
        ] {
            for name in [DATABASE_FILE, SECRET_FILE, UPLOAD] {
                assert!(
                    check_entry(Path::new(name), kind).is_err(),
                    "{name} as {kind:?}"
                );
            }
        }
    }

    #[test]
    fn paths_outside_the_known_names_are_refused() {
        for name in [
            "/clavox.redb",
            "../clavox.redb",
            "./jwt-secret",
            "uploads/../jwt-secret",
            "uploads/partial",
            "uploads/0123456789ABCDEF0123456789ABCDEF",
            "uploads/0123456789abcdef0123456789abcdef/x",
            "uploads",
            "admin.sock",
        ] {
            assert!(
                check_entry(Path::new(name), EntryType::Regular).is_err(),
                "{name}"
            );
        }
    }
}
