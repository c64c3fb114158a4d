//! The data directory's layout: every file and directory name in it is
//! spelled here once, for the store, the keys, uploads, the admin socket,
//! backups and restores alike.

use std::path::{Path, PathBuf};

/// The database file, relative to the data directory.
pub const DATABASE: &str = "clavox.redb";
/// The database's write-ahead journal (see `store::journal`).
pub const JOURNAL: &str = "clavox.journal";
/// The generated HS256 key (when `JWT_SECRET` is not set).
pub const JWT_SECRET: &str = "jwt-secret";
/// Attachment files, one per upload id.
pub const UPLOADS: &str = "uploads";
/// Inside `UPLOADS`: uploads still being received, cleared at start-up.
pub const PARTIAL_UPLOADS: &str = "partial";
/// The admin commands' Unix socket.
pub const ADMIN_SOCKET: &str = "admin.sock";
/// The local certificate authority (`TLS=auto`): certificate and key. Both
/// go into backups, so a restored server keeps the root phones trust.
pub const TLS_AUTHORITY: &str = "tls-ca.pem";
pub const TLS_AUTHORITY_KEY: &str = "tls-ca.key";
/// The certificate the authority issued for this machine, and its key.
pub const TLS_CERTIFICATE: &str = "tls-cert.pem";
pub const TLS_CERTIFICATE_KEY: &str = "tls-cert.key";
/// `TLS=acme`: the ACME account, and the certificate it got and its key.
pub const ACME_ACCOUNT: &str = "acme-account.json";
pub const ACME_CERTIFICATE: &str = "acme-cert.pem";
pub const ACME_CERTIFICATE_KEY: &str = "acme-cert.key";
/// The Web Push (VAPID) signing key. It goes into backups: subscriptions
/// browsers made stop working when it changes.
pub const VAPID_KEY: &str = "vapid-key.pem";

/// A data directory: where each of its parts lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn database(&self) -> PathBuf {
        self.root.join(DATABASE)
    }

    pub fn journal(&self) -> PathBuf {
        self.root.join(JOURNAL)
    }

    pub fn jwt_secret(&self) -> PathBuf {
        self.root.join(JWT_SECRET)
    }

    pub fn uploads(&self) -> PathBuf {
        self.root.join(UPLOADS)
    }

    pub fn partial_uploads(&self) -> PathBuf {
        self.uploads().join(PARTIAL_UPLOADS)
    }

    pub fn admin_socket(&self) -> PathBuf {
        self.root.join(ADMIN_SOCKET)
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

/// Replaces `path` with `bytes`, readable by this user only, atomically: a
/// crash leaves the old file or the new one, never a torn one.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut staged = path.as_os_str().to_owned();
    staged.push(".new");
    let staged = PathBuf::from(staged);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&staged)?;
    // An older file at the staging name may have other permissions.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&staged, path)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}
