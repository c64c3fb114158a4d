//! Where uploaded files live: one file per upload under `uploads/` in the
//! data directory, named by the upload's 128-bit id, so any upload can be
//! found (and later removed) from its id alone.

use std::path::PathBuf;

use crate::chat::UploadLookup;
use crate::chat::validate;

pub struct UploadDir {
    dir: PathBuf,
}

impl UploadDir {
    pub fn new(data_dir: &std::path::Path) -> Self {
        Self {
            dir: data_dir.join("uploads"),
        }
    }

    /// The file of upload `id`; `None` for anything that is not an upload id,
    /// so no path can be built from untrusted text.
    pub fn path_of(&self, id: &str) -> Option<PathBuf> {
        validate::upload_id(&format!("/api/uploads/{id}"))?;
        Some(self.dir.join(id))
    }
}

impl UploadLookup for UploadDir {
    fn exists(&self, id: &str) -> bool {
        self.path_of(id).is_some_and(|path| path.is_file())
    }
}
