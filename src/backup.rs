//! Backups: one tar file holding a consistent copy of the database, the
//! generated signing key, and every upload the copy names. Taken while the
//! server runs, without stopping writers; restored into an empty data
//! directory while no server uses it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::store::{Query, Store, StoreError, create_private_dir};

const DATABASE_FILE: &str = "clavox.redb";
const SECRET_FILE: &str = "jwt-secret";
const UPLOADS_DIR: &str = "uploads";

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
/// the file appears complete or not at all.
pub fn create(store: &Store, data_dir: &Path, out: &Path) -> Result<Summary, BackupError> {
    let staging = tempdir_beside(out)?;
    let result = write_archive(store, data_dir, out, &staging);
    let _ = fs::remove_dir_all(&staging);
    result
}

fn write_archive(
    store: &Store,
    data_dir: &Path,
    out: &Path,
    staging: &Path,
) -> Result<Summary, BackupError> {
    let database = staging.join(DATABASE_FILE);
    let (snapshot, entries) = store.snapshot_to(&database)?;
    let partial = out.with_extension("partial");
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        // The archive holds the signing key: readable by this user only.
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .map_err(io("cannot create", &partial))?
    };
    let mut archive = tar::Builder::new(file);
    archive
        .append_path_with_name(&database, DATABASE_FILE)
        .map_err(io("cannot archive", &database))?;
    let secret = data_dir.join(SECRET_FILE);
    if secret.exists() {
        archive
            .append_path_with_name(&secret, SECRET_FILE)
            .map_err(io("cannot archive", &secret))?;
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
    fs::rename(&partial, out).map_err(io("cannot rename to", out))?;
    Ok(Summary {
        entries,
        uploads: uploads.len(),
        bytes,
    })
}

fn tempdir_beside(out: &Path) -> Result<PathBuf, BackupError> {
    let parent = out
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = parent.join(format!(
        ".clavox-backup-{}",
        hex::encode(rand::random::<[u8; 6]>())
    ));
    create_private_dir(&dir)?;
    Ok(dir)
}

/// What a restore brought back, read from the restored database itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    pub users: usize,
    pub uploads: usize,
}

/// Unpacks `archive` into `data_dir`, which must be empty or absent, and
/// opens the result to prove it is a working data directory.
pub fn restore(archive: &Path, data_dir: &Path) -> Result<Restored, BackupError> {
    if fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(BackupError::Io(format!(
            "{} is not empty: restore into a new directory, then point CLAVOX_DATA_DIR at it",
            data_dir.display()
        )));
    }
    create_private_dir(&data_dir.join(UPLOADS_DIR))?;
    let file = fs::File::open(archive).map_err(io("cannot open", archive))?;
    let mut uploads = 0;
    for entry in tar::Archive::new(file)
        .entries()
        .map_err(io("cannot read", archive))?
    {
        let mut entry = entry.map_err(io("cannot read", archive))?;
        let name = entry
            .path()
            .map_err(io("cannot read", archive))?
            .into_owned();
        let allowed = name == Path::new(DATABASE_FILE)
            || name == Path::new(SECRET_FILE)
            || (name.parent() == Some(Path::new(UPLOADS_DIR)) && name.file_name().is_some());
        if !allowed {
            return Err(BackupError::Io(format!(
                "{} holds an unexpected entry {}: not a Clavox backup",
                archive.display(),
                name.display()
            )));
        }
        if name.starts_with(UPLOADS_DIR) {
            uploads += 1;
        }
        let target = data_dir.join(&name);
        entry.unpack(&target).map_err(io("cannot write", &target))?;
        set_private(&target)?;
    }
    let store = Store::open(data_dir)?;
    let users = store.read()?.users()?.len();
    Ok(Restored { users, uploads })
}

fn set_private(path: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io("cannot secure", path))
}
