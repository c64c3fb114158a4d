//! The server's signing key: given by the admin, or generated on first start
//! and kept in the data directory (mode 0600) so tokens survive restarts;
//! nodes sharing a PostgreSQL store keep it there instead, so all sign alike.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Config;
use crate::data_dir::DataDir;
use crate::store::Store;
use crate::store::ops::SharedSecret;

/// Where the key came from, for the start-up banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Setting,
    File,
    Generated,
    DataDir,
    /// Chosen by the first node of a shared store and kept there.
    Store,
}

pub struct Keys {
    pub jwt: Vec<u8>,
    /// Derived from the JWT key, so one secret protects both.
    pub otp: [u8; 32],
    pub source: KeySource,
}

impl Keys {
    pub fn from_secret(secret: &[u8], source: KeySource) -> Self {
        // HMAC takes keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
        mac.update(b"clavox one-time codes v1");
        Self {
            jwt: secret.to_vec(),
            otp: mac.finalize().into_bytes().into(),
            source,
        }
    }

    /// `JWT_SECRET`, else `JWT_SECRET_FILE`, else the key in the data dir,
    /// made on first use. The data dir must already exist.
    pub fn load(config: &Config) -> Result<Self, String> {
        if let Some(secret) = &config.jwt_secret {
            return Ok(Self::from_secret(
                secret.expose().as_bytes(),
                KeySource::Setting,
            ));
        }
        if let Some(path) = &config.jwt_secret_file {
            let secret = fs::read_to_string(path).map_err(|error| {
                format!("JWT_SECRET_FILE: cannot read {}: {error}", path.display())
            })?;
            let secret = secret.trim();
            if secret.len() < 32 {
                return Err(format!(
                    "JWT_SECRET_FILE: {} must hold at least 32 characters",
                    path.display()
                ));
            }
            return Ok(Self::from_secret(secret.as_bytes(), KeySource::File));
        }
        load_or_generate(&DataDir::new(&config.data_dir).jwt_secret())
    }
}

impl Keys {
    /// `load` for nodes sharing a store: with no key given, the one kept in
    /// the store (chosen by the first node to start), so a token from one
    /// node is good on every other.
    pub async fn load_shared(config: &Config, store: &Store) -> Result<Self, String> {
        if config.jwt_secret.is_some() || config.jwt_secret_file.is_some() {
            return Self::load(config);
        }
        let candidate = new_secret();
        let secret = store
            .apply(SharedSecret {
                name: "jwt",
                candidate: candidate.clone(),
            })
            .await
            .map_err(|error| format!("cannot read the shared signing key: {error}"))?;
        let source = if secret == candidate {
            KeySource::Generated
        } else {
            KeySource::Store
        };
        Ok(Self::from_secret(secret.as_bytes(), source))
    }
}

/// A fresh signing key: 256 random bits, in hex.
fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn load_or_generate(path: &Path) -> Result<Keys, String> {
    match fs::read_to_string(path) {
        Ok(secret) if secret.trim().len() >= 32 => {
            return Ok(Keys::from_secret(
                secret.trim().as_bytes(),
                KeySource::DataDir,
            ));
        }
        Ok(_) => {
            return Err(format!(
                "{} is damaged (too short); delete it to make a new key (this logs everyone out)",
                path.display()
            ));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    }
    let secret = new_secret();
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
    file.write_all(secret.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    Ok(Keys::from_secret(secret.as_bytes(), KeySource::Generated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_generated_key_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = DataDir::new(dir.path()).jwt_secret();
        let first = load_or_generate(&path).unwrap();
        assert_eq!(first.source, KeySource::Generated);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let second = load_or_generate(&path).unwrap();
        assert_eq!(second.source, KeySource::DataDir);
        assert_eq!(first.jwt, second.jwt);
        assert_eq!(first.otp, second.otp);
    }
}
