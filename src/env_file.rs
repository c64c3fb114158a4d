//! `.env`: settings read from a file in the working directory, and only
//! there (never from a parent directory), and only when nobody but the user
//! running Clavox could have written it, since it can set the signing key
//! and where the data lives. It only fills in variables the environment
//! does not already set.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The file's name, in the working directory.
pub const NAME: &str = ".env";

/// What became of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    Applied,
    Absent,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvFileError {
    #[error(
        "refusing to read {path}: its group or other users can write it (mode {mode:o}); \
         run `chmod go-w {path}`"
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error(
        "refusing to read {path}: it belongs to uid {owner}, but Clavox runs as uid {user}; \
         run `chown {user} {path}` if its contents are yours, or remove it"
    )]
    ForeignOwner {
        path: PathBuf,
        owner: u32,
        user: u32,
    },
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
}

/// Loads `./.env` into the environment, if it exists and is safe to read.
/// Sets process variables: call before any thread starts.
pub fn load() -> Result<Loaded, EnvFileError> {
    load_from(Path::new(NAME))
}

fn load_from(path: &Path) -> Result<Loaded, EnvFileError> {
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let unreadable = |reason: String| EnvFileError::Unreadable {
        path: shown.clone(),
        reason,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Loaded::Absent),
        Err(error) => return Err(unreadable(error.to_string())),
    };
    // The open file is checked, not the name, so what is read is what was checked.
    let metadata = file
        .metadata()
        .map_err(|error| unreadable(error.to_string()))?;
    let user = rustix::process::geteuid().as_raw();
    check(&shown, metadata.uid(), metadata.mode(), user)?;
    dotenvy::from_read(file).map_err(|error| unreadable(error.to_string()))?;
    Ok(Loaded::Applied)
}

/// A file owned by `owner` with permission bits `mode` may be read by `user`
/// only if it is theirs and neither group nor others may write it.
fn check(path: &Path, owner: u32, mode: u32, user: u32) -> Result<(), EnvFileError> {
    if owner != user {
        return Err(EnvFileError::ForeignOwner {
            path: path.to_owned(),
            owner,
            user,
        });
    }
    if mode & 0o022 != 0 {
        return Err(EnvFileError::Writable {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const ME: u32 = 1000;

    #[test]
    fn a_file_only_its_owner_can_write_is_read() {
        for mode in [0o600, 0o640, 0o644, 0o400, 0o100_644] {
            assert_eq!(check(Path::new(".env"), ME, mode, ME), Ok(()), "{mode:o}");
        }
    }

    #[test]
    fn a_file_group_or_others_can_write_is_refused_with_the_fix() {
        for mode in [0o620, 0o602, 0o666, 0o100_664] {
            let error = check(Path::new("/srv/.env"), ME, mode, ME).unwrap_err();
            assert!(matches!(error, EnvFileError::Writable { .. }), "{mode:o}");
            assert!(
                error.to_string().contains("chmod go-w /srv/.env"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_file_of_another_user_is_refused_with_the_fix() {
        for owner in [0, 1001] {
            let error = check(Path::new("/srv/.env"), owner, 0o600, ME).unwrap_err();
            assert!(
                error.to_string().contains("chown 1000 /srv/.env"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_missing_file_is_no_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_from(&dir.path().join(NAME)), Ok(Loaded::Absent));
    }

    #[test]
    fn a_writable_file_on_disk_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NAME);
        std::fs::write(&path, "CLAVOX_ENV_FILE_TEST_NEVER_SET=1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(matches!(
            load_from(&path),
            Err(EnvFileError::Writable { mode: 0o666, .. })
        ));
        assert!(std::env::var_os("CLAVOX_ENV_FILE_TEST_NEVER_SET").is_none());
    }
}
