//! The data directory's layout: every file and directory name in it is
//! spelled here once, for the store, the keys, uploads, the admin socket,
//! backups and restores alike.

use std::path::{Path, PathBuf};

/// The database file, relative to the data directory.
pub const DATABASE: &str = "clavox.redb";
/// The generated HS256 key (when `JWT_SECRET` is not set).
pub const JWT_SECRET: &str = "jwt-secret";
/// Attachment files, one per upload id.
pub const UPLOADS: &str = "uploads";
/// Inside `UPLOADS`: uploads still being received, cleared at start-up.
pub const PARTIAL_UPLOADS: &str = "partial";
/// The admin commands' Unix socket.
pub const ADMIN_SOCKET: &str = "admin.sock";

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
}
