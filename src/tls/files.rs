//! `TLS=files`: the certificate chain and key an admin (or certbot) keeps in
//! `TLS_CERT` and `TLS_KEY`, read again whenever either file changes. A
//! renewal takes effect at the next handshake; open connections keep going.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::slot::{CertSlot, certified_key};

/// How often the files are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// The two files and what was last read from them.
pub struct FileTls {
    certificate: PathBuf,
    key: PathBuf,
    slot: Arc<CertSlot>,
    /// The contents last seen (served, or refused and already reported).
    seen: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl FileTls {
    /// Reads the pair; an unusable pair stops the start.
    pub fn start(certificate: PathBuf, key: PathBuf) -> Result<Self, String> {
        let (chain, secret) = read_pair(&certificate, &key)?;
        let loaded = certified_key(&chain, &secret)
            .map_err(|problem| format!("TLS_CERT / TLS_KEY: {problem}"))?;
        Ok(Self {
            certificate,
            key,
            slot: Arc::new(CertSlot::new(loaded)),
            seen: Mutex::new((chain, secret)),
        })
    }

    pub fn slot(&self) -> Arc<CertSlot> {
        Arc::clone(&self.slot)
    }

    /// Serves the files' new contents, if they changed and make a usable
    /// pair; says whether it did.
    pub fn reload(&self) -> bool {
        let Ok(pair) = read_pair(&self.certificate, &self.key) else {
            // Mid-rename or briefly missing: the next look decides.
            return false;
        };
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == pair {
            return false;
        }
        let loaded = certified_key(&pair.0, &pair.1);
        *seen = pair;
        match loaded {
            Ok(loaded) => {
                self.slot.replace(loaded);
                tracing::info!(
                    certificate = %self.certificate.display(),
                    "reloaded the HTTPS certificate"
                );
                true
            }
            Err(problem) => {
                // Said once per new content; a half-written renewal fixes
                // itself at the next look.
                tracing::warn!(
                    "TLS_CERT / TLS_KEY changed but cannot be used ({problem}); still serving the previous certificate"
                );
                false
            }
        }
    }

    /// Looks at the files every `CHECK_EVERY` until `stop`.
    pub async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let this = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || this.reload()).await;
        }
    }
}

fn read_pair(certificate: &PathBuf, key: &PathBuf) -> Result<(Vec<u8>, Vec<u8>), String> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
    };
    Ok((read(certificate)?, read(key)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::authority::Authority;
    use crate::tls::names::Names;

    #[test]
    fn a_renewed_pair_is_served_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (certificate, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let root = Authority::create(&Names::from_parts(Some("box"), [])).unwrap();
        let write = |issued: &crate::tls::authority::Issued| {
            std::fs::write(&certificate, &issued.certificate_pem).unwrap();
            std::fs::write(&key, &issued.key_pem).unwrap();
        };
        let machine = Names::from_parts(Some("box"), ["192.168.0.2".parse().unwrap()]);
        write(&root.issue(&machine).unwrap());
        let tls = FileTls::start(certificate.clone(), key.clone()).unwrap();
        let first = tls.slot().current();
        assert!(!tls.reload(), "unchanged files are not reloaded");
        write(&root.issue(&machine).unwrap());
        assert!(tls.reload());
        let second = tls.slot().current();
        assert_ne!(second.cert, first.cert);
        // Only the certificate renewed, not yet its key: keep serving.
        std::fs::write(&certificate, root.issue(&machine).unwrap().certificate_pem).unwrap();
        assert!(!tls.reload());
        assert_eq!(tls.slot().current().cert, second.cert);
        std::fs::write(&key, "garbage").unwrap();
        assert!(!tls.reload());
        assert!(FileTls::start(certificate, key).is_err());
    }
}
