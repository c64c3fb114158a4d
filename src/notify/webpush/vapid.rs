//! The server's VAPID key (RFC 8292): an ECDSA P-256 key made on first start
//! and kept in the data directory, and the signed token a push carries.
//! Browsers bind each subscription to this key, so losing or replacing it
//! silently ends every subscription.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};

use crate::data_dir::{VAPID_KEY, write_private};

/// The server's signing key for Web Push.
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public_key_base64url())
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    /// Loads the key from `data_dir`, or makes one and keeps it there (mode
    /// 0600). A file that does not hold a key is replaced, with a warning.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, String> {
        let path = data_dir.join(VAPID_KEY);
        match std::fs::read_to_string(&path) {
            Ok(pem) => match Self::from_pem(&pem) {
                Ok(key) => return Ok(key),
                Err(error) => tracing::warn!(
                    path = %path.display(),
                    %error,
                    "the Web Push key file is damaged; a new key replaces it, and \
                     browsers subscribed with the old key get no pushes until they subscribe again"
                ),
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        }
        let pem = Self::new_pem()?;
        write_private(&path, pem.as_bytes())
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
        Self::from_pem(&pem)
    }

    /// A new key as PEM: kept in the data directory, or, for nodes that
    /// must agree on one, offered to the shared store (see `keep`).
    pub fn new_pem() -> Result<String, String> {
        Self::generate()
            .signing
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|error| format!("cannot encode the Web Push key: {error}"))
    }

    /// Makes `pem` (the key every node shares) this node's key in
    /// `data_dir`, where `load_or_create` finds it.
    pub fn keep(data_dir: &Path, pem: &str) -> Result<(), String> {
        Self::from_pem(pem).map_err(|error| format!("the shared Web Push key: {error}"))?;
        let path = data_dir.join(VAPID_KEY);
        if std::fs::read_to_string(&path).is_ok_and(|kept| kept == pem) {
            return Ok(());
        }
        write_private(&path, pem.as_bytes())
            .map_err(|error| format!("cannot write {}: {error}", path.display()))
    }

    fn from_pem(pem: &str) -> Result<Self, String> {
        SigningKey::from_pkcs8_pem(pem)
            .map(|signing| Self { signing })
            .map_err(|error| error.to_string())
    }

    /// A fresh key from the system's random source. Almost every 32 random
    /// bytes are a valid scalar; the rare ones that are not are drawn again.
    fn generate() -> Self {
        loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(signing) = SigningKey::from_slice(&bytes) {
                return Self { signing };
            }
        }
    }

    /// The public key as an uncompressed point, base64url without padding:
    /// what a browser's `applicationServerKey` takes.
    pub fn public_key_base64url(&self) -> String {
        let point = self.signing.verifying_key().to_encoded_point(false);
        URL_SAFE_NO_PAD.encode(point.as_bytes())
    }

    /// The `Authorization` header value for a push to `audience` (the
    /// endpoint's origin), valid until `expires` (Unix seconds).
    pub(super) fn authorization(&self, audience: &str, expires: u64, subject: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": audience, "exp": expires, "sub": subject });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        // ES256 in a JWS is the raw r‖s pair, which is `Signature`'s own form.
        let signature: Signature = self.signing.sign(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!(
            "vapid t={signed}.{signature}, k={}",
            self.public_key_base64url()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_and_loaded_afterwards() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let made = VapidKey::load_or_create(dir.path()).expect("a new key");
        let loaded = VapidKey::load_or_create(dir.path()).expect("the same key");
        assert_eq!(made.public_key_base64url(), loaded.public_key_base64url());
        // 65 bytes, uncompressed point, unpadded base64url.
        assert_eq!(made.public_key_base64url().len(), 87);
        assert!(made.public_key_base64url().starts_with('B'));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(VAPID_KEY))
            .expect("the key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_damaged_key_file_is_replaced() {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join(VAPID_KEY), "not a key").expect("a damaged file");
        let made = VapidKey::load_or_create(dir.path()).expect("a replacement key");
        let loaded = VapidKey::load_or_create(dir.path()).expect("the replacement again");
        assert_eq!(made.public_key_base64url(), loaded.public_key_base64url());
    }
}
