//! `TLS=auto`: the local authority and the certificate it issues for this
//! machine, loaded from the data directory or made anew, and kept fresh
//! while the server runs: re-issued well before it expires and whenever
//! the machine's names change (a laptop joins another Wi-Fi), with no
//! restart.

use std::fs;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::authority::{Authority, Issued, pem_der};
use super::names::Names;
use super::slot::{CertSlot, certified_key};
use crate::data_dir::{self, DataDir};

/// A certificate this close to expiry is replaced.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often the machine's names and the certificate's age are checked.
const CHECK_EVERY: Duration = Duration::from_secs(30);

/// How the authority came to be at this start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from the data directory, as phones already trust it.
    Loaded,
    /// Made now, on the first start with HTTPS.
    Created,
    /// Made now because the saved one was unusable: devices that trusted
    /// the old one must trust the new one.
    Replaced { reason: String },
}

/// The certificate in use: for which names, until when.
struct Current {
    names: Names,
    not_after: SystemTime,
}

/// The local authority and this machine's certificate.
pub struct LocalTls {
    authority: Authority,
    origin: Origin,
    dir: DataDir,
    slot: Arc<CertSlot>,
    current: Mutex<Current>,
    names: Box<dyn Fn() -> Names + Send + Sync>,
}

impl LocalTls {
    /// Loads or makes the authority and the machine's certificate in
    /// `data_dir`, for the names `names` reports (called again at every
    /// check).
    pub fn start(
        data_dir: &std::path::Path,
        names: impl Fn() -> Names + Send + Sync + 'static,
    ) -> Result<Self, String> {
        let dir = DataDir::new(data_dir);
        let machine = names();
        let (authority, origin) = load_or_create_authority(&dir, &machine)?;
        let wanted = authority.scope().restrict(&machine);
        if wanted.len() < machine.len() {
            tracing::warn!(
                left_out = %describe(&left_out(&machine, &wanted)),
                "some names of this machine are outside what the local certificate authority may sign for \
                 (it was made for other names); use TLS=files or TLS=off behind a proxy for them"
            );
        }
        let (key, current) = match load_certificate(&dir, &authority) {
            Ok(Some((key, current))) if is_fresh(&current, &wanted) => (key, current),
            loaded => {
                if let Err(reason) = loaded {
                    tracing::warn!(
                        "the HTTPS certificate in {} was unusable ({reason}); issuing a new one",
                        dir.file(data_dir::TLS_CERTIFICATE).display()
                    );
                }
                issue(&dir, &authority, &machine)?
            }
        };
        Ok(Self {
            authority,
            origin,
            dir,
            slot: Arc::new(CertSlot::new(key)),
            current: Mutex::new(current),
            names: Box::new(names),
        })
    }

    pub fn slot(&self) -> Arc<CertSlot> {
        Arc::clone(&self.slot)
    }

    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The names the certificate in use carries.
    pub fn names(&self) -> Names {
        self.lock().names.clone()
    }

    /// Re-issues the certificate if the machine's names changed or it
    /// nears expiry; says whether it did.
    pub fn refresh(&self) -> Result<bool, String> {
        let machine = (self.names)();
        let wanted = self.authority.scope().restrict(&machine);
        if is_fresh(&self.lock(), &wanted) {
            return Ok(false);
        }
        let (key, current) = issue(&self.dir, &self.authority, &machine)?;
        tracing::info!(
            names = %describe(&current.names),
            "issued a new HTTPS certificate for this machine"
        );
        self.slot.replace(key);
        *self.lock() = current;
        Ok(true)
    }

    /// Checks every `CHECK_EVERY` until `stop`.
    pub async fn keep_fresh(self: Arc<Self>, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let this = Arc::clone(&self);
            // Reading interfaces and signing are blocking work.
            match tokio::task::spawn_blocking(move || this.refresh()).await {
                Ok(Ok(_)) => {}
                Ok(Err(problem)) => tracing::warn!(
                    "cannot renew the HTTPS certificate: {problem}; the current one stays in use"
                ),
                Err(error) => tracing::warn!(%error, "the certificate check failed"),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn is_fresh(current: &Current, wanted: &Names) -> bool {
    current.names == *wanted
        && current
            .not_after
            .duration_since(SystemTime::now())
            .is_ok_and(|left| left > RENEW_BEFORE)
}

fn load_or_create_authority(dir: &DataDir, machine: &Names) -> Result<(Authority, Origin), String> {
    let certificate_path = dir.file(data_dir::TLS_AUTHORITY);
    let key_path = dir.file(data_dir::TLS_AUTHORITY_KEY);
    let origin = match (
        fs::read_to_string(&certificate_path),
        fs::read_to_string(&key_path),
    ) {
        (Ok(certificate), Ok(key)) => match Authority::load(&certificate, &key) {
            Ok(authority) => return Ok((authority, Origin::Loaded)),
            Err(reason) => Origin::Replaced { reason },
        },
        (Err(missing), Err(_)) if missing.kind() == ErrorKind::NotFound => Origin::Created,
        (Err(error), _) | (_, Err(error)) if error.kind() != ErrorKind::NotFound => {
            return Err(format!(
                "cannot read the local certificate authority in {}: {error}",
                dir.root().display()
            ));
        }
        _ => Origin::Replaced {
            reason: "its certificate or key file is missing".into(),
        },
    };
    if let Origin::Replaced { reason } = &origin {
        tracing::warn!(
            "the local certificate authority in {} was unusable ({reason}); made a new one: \
             phones and computers that trusted the old one must trust the new one from /join",
            certificate_path.display()
        );
    }
    let authority = Authority::create(machine)?;
    // The key first: a certificate without its key would be unusable.
    data_dir::write_private(&key_path, authority.key_pem().as_bytes())
        .and_then(|()| {
            data_dir::write_private(&certificate_path, authority.certificate_pem().as_bytes())
        })
        .map_err(|error| {
            format!(
                "cannot save the local certificate authority in {}: {error}",
                dir.root().display()
            )
        })?;
    Ok((authority, origin))
}

/// Issues, saves and returns a certificate for `machine`.
fn issue(
    dir: &DataDir,
    authority: &Authority,
    machine: &Names,
) -> Result<(rustls::sign::CertifiedKey, Current), String> {
    let Issued {
        certificate_pem,
        key_pem,
        names,
    } = authority.issue(machine)?;
    let key = certified_key(certificate_pem.as_bytes(), key_pem.as_bytes())?;
    let save = |name: &str, text: &str| {
        let path = dir.file(name);
        data_dir::write_private(&path, text.as_bytes())
            .map_err(|error| format!("cannot save {}: {error}", path.display()))
    };
    save(data_dir::TLS_CERTIFICATE_KEY, &key_pem)?;
    save(data_dir::TLS_CERTIFICATE, &certificate_pem)?;
    let not_after = SystemTime::now() + super::authority::LEAF_LIFETIME;
    Ok((key, Current { names, not_after }))
}

/// The saved machine certificate, if there is one signed by `authority`.
fn load_certificate(
    dir: &DataDir,
    authority: &Authority,
) -> Result<Option<(rustls::sign::CertifiedKey, Current)>, String> {
    let read = |name: &str| match fs::read_to_string(dir.file(name)) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.to_string()),
    };
    let (Some(certificate_pem), Some(key_pem)) = (
        read(data_dir::TLS_CERTIFICATE)?,
        read(data_dir::TLS_CERTIFICATE_KEY)?,
    ) else {
        return Ok(None);
    };
    let key = certified_key(certificate_pem.as_bytes(), key_pem.as_bytes())?;
    let der = pem_der(&certificate_pem, "CERTIFICATE").ok_or("not PEM")?;
    let (_, leaf) = x509_parser::parse_x509_certificate(&der).map_err(|error| error.to_string())?;
    let (_, root) = x509_parser::parse_x509_certificate(authority.certificate_der())
        .map_err(|error| error.to_string())?;
    // A certificate from an earlier authority is replaced, not served.
    if key_identifier(&leaf, true) != key_identifier(&root, false)
        || key_identifier(&root, false).is_none()
    {
        return Ok(None);
    }
    let mut names = Names::default();
    if let Ok(Some(alternatives)) = leaf.subject_alternative_name() {
        for name in &alternatives.value.general_names {
            match name {
                GeneralName::DNSName(dns) => {
                    names.dns.insert((*dns).to_owned());
                }
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_of(bytes) {
                        names.ips.insert(ip);
                    }
                }
                _ => {}
            }
        }
    }
    let not_after = u64::try_from(leaf.validity().not_after.timestamp())
        .map(|seconds| UNIX_EPOCH + Duration::from_secs(seconds))
        .map_err(|_| "its expiry is before 1970")?;
    Ok(Some((key, Current { names, not_after })))
}

/// A certificate's own key identifier, or (`authority`) its issuer's.
fn key_identifier(
    certificate: &x509_parser::certificate::X509Certificate<'_>,
    authority: bool,
) -> Option<Vec<u8>> {
    certificate
        .extensions()
        .iter()
        .find_map(|extension| match extension.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(identifier) if authority => {
                identifier.key_identifier.as_ref().map(|id| id.0.to_vec())
            }
            ParsedExtension::SubjectKeyIdentifier(identifier) if !authority => {
                Some(identifier.0.to_vec())
            }
            _ => None,
        })
}

fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?).to_canonical()),
        _ => None,
    }
}

/// The names of `all` that `kept` lacks.
fn left_out(all: &Names, kept: &Names) -> Names {
    Names {
        dns: all.dns.difference(&kept.dns).cloned().collect(),
        ips: all.ips.difference(&kept.ips).copied().collect(),
    }
}

/// `clavox.local, localhost, 192.168.1.20, …` for a log line.
pub fn describe(names: &Names) -> String {
    names
        .dns
        .iter()
        .cloned()
        .chain(names.ips.iter().map(ToString::to_string))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn names(ip: &str) -> Names {
        Names::from_parts(Some("kitchen"), [ip.parse().unwrap()])
    }

    #[test]
    fn the_first_start_makes_private_files_and_the_next_reuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalTls::start(dir.path(), || names("192.168.1.20")).unwrap();
        assert_eq!(first.origin(), &Origin::Created);
        for name in [
            data_dir::TLS_AUTHORITY,
            data_dir::TLS_AUTHORITY_KEY,
            data_dir::TLS_CERTIFICATE,
            data_dir::TLS_CERTIFICATE_KEY,
        ] {
            let mode = fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        let served = first.slot().current();
        let second = LocalTls::start(dir.path(), || names("192.168.1.20")).unwrap();
        assert_eq!(second.origin(), &Origin::Loaded);
        assert_eq!(
            second.authority().fingerprint(),
            first.authority().fingerprint()
        );
        assert_eq!(
            second.slot().current().cert,
            served.cert,
            "the saved certificate is reused"
        );
    }

    #[test]
    fn a_new_address_gets_a_new_certificate_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let moved = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&moved);
        let tls = LocalTls::start(dir.path(), move || {
            names(if flag.load(Ordering::Relaxed) {
                "10.0.0.9"
            } else {
                "192.168.1.20"
            })
        })
        .unwrap();
        assert!(!tls.refresh().unwrap(), "nothing changed");
        let before = tls.slot().current();
        moved.store(true, Ordering::Relaxed);
        assert!(tls.refresh().unwrap());
        assert_ne!(tls.slot().current().cert, before.cert);
        assert!(
            tls.names()
                .ips
                .contains(&"10.0.0.9".parse::<IpAddr>().unwrap())
        );
    }

    #[test]
    fn a_damaged_authority_is_replaced_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalTls::start(dir.path(), || names("192.168.1.20")).unwrap();
        fs::write(
            dir.path().join(data_dir::TLS_AUTHORITY),
            "-----BEGIN CERTIFICATE-----\nAAAA",
        )
        .unwrap();
        let second = LocalTls::start(dir.path(), || names("192.168.1.20")).unwrap();
        assert!(matches!(second.origin(), Origin::Replaced { .. }));
        assert_ne!(
            second.authority().fingerprint(),
            first.authority().fingerprint()
        );
        // The certificate of the old authority is not served any more.
        assert_ne!(second.slot().current().cert, first.slot().current().cert);
        fs::remove_file(dir.path().join(data_dir::TLS_AUTHORITY_KEY)).unwrap();
        let third = LocalTls::start(dir.path(), || names("192.168.1.20")).unwrap();
        assert!(matches!(third.origin(), Origin::Replaced { .. }));
    }

    #[test]
    fn a_damaged_certificate_is_reissued_by_the_same_authority() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalTls::start(dir.path(), || names("192.168.1.20")).unwrap();
        fs::write(dir.path().join(data_dir::TLS_CERTIFICATE_KEY), "nonsense").unwrap();
        let second = LocalTls::start(dir.path(), || names("192.168.1.20")).unwrap();
        assert_eq!(second.origin(), &Origin::Loaded);
        assert_eq!(
            second.authority().fingerprint(),
            first.authority().fingerprint()
        );
        assert_ne!(second.slot().current().cert, first.slot().current().cert);
    }
}
