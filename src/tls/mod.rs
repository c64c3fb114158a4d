//! HTTPS beside plain HTTP (`TLS`): where the certificate comes from
//! (`local`: the server's own authority; `files`: an admin's), the rustls
//! configuration the accept loop uses, and what the `/join` page and the
//! banner show about it.

pub mod acme;
pub mod authority;
pub mod files;
pub mod local;
pub mod names;
pub mod slot;

use std::sync::Arc;

use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, TlsMode};
use acme::AcmeTls;
use files::FileTls;
use local::LocalTls;

/// The ALPN protocol of TLS-ALPN-01 validations (RFC 8737).
pub const ACME_ALPN: &[u8] = b"acme-tls/1";

/// Where the HTTPS port's certificate comes from.
pub enum Source {
    Local(Arc<LocalTls>),
    Acme(Arc<AcmeTls>),
    Files(Arc<FileTls>),
}

/// The HTTPS side, ready to accept.
pub struct Https {
    pub acceptor: TlsAcceptor,
    pub source: Source,
}

impl Https {
    /// Loads or makes the certificate `config` asks for; `None` under
    /// `TLS=off`.
    pub fn prepare(config: &Config) -> Result<Option<Self>, String> {
        let source = match config.tls {
            TlsMode::Off => return Ok(None),
            TlsMode::Auto => {
                let extra = config.tls_names.clone();
                Source::Local(Arc::new(LocalTls::start(&config.data_dir, move || {
                    names::Names::of_this_machine().with(&extra)
                })?))
            }
            TlsMode::Acme => Source::Acme(Arc::new(AcmeTls::start(config)?)),
            TlsMode::Files => {
                let (Some(certificate), Some(key)) = (&config.tls_cert, &config.tls_key) else {
                    return Err("TLS=files needs TLS_CERT and TLS_KEY".into());
                };
                Source::Files(Arc::new(FileTls::start(certificate.clone(), key.clone())?))
            }
        };
        let config = match &source {
            Source::Local(local) => server_config(local.slot(), false)?,
            Source::Files(files) => server_config(files.slot(), false)?,
            Source::Acme(acme) => server_config(acme.resolver(), true)?,
        };
        Ok(Some(Self {
            acceptor: TlsAcceptor::from(config),
            source,
        }))
    }

    /// Keeps the certificate current (renewal, reload) until `stop`.
    pub fn upkeep(&self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        match &self.source {
            Source::Local(local) => tokio::spawn(Arc::clone(local).keep_fresh(stop)),
            Source::Files(files) => tokio::spawn(Arc::clone(files).watch(stop)),
            Source::Acme(acme) => tokio::spawn(Arc::clone(acme).run(stop)),
        }
    }

    /// What `/join` and the banner show, for HTTPS on `port`.
    pub fn public(&self, port: u16) -> Public {
        let (authority, domain) = match &self.source {
            Source::Local(local) => (Some(AuthorityCard::of(local)), None),
            Source::Acme(acme) => (None, Some(acme.domain().to_owned())),
            Source::Files(_) => (None, None),
        };
        Public {
            port,
            authority,
            domain,
        }
    }
}

/// HTTPS as clients see it: the port, and under `TLS=auto` the authority
/// they must trust.
#[derive(Debug, Clone)]
pub struct Public {
    pub port: u16,
    pub authority: Option<AuthorityCard>,
    /// The public name, under `TLS=acme`: the one address to open.
    pub domain: Option<String>,
}

/// The local authority, for downloads and comparison.
#[derive(Debug, Clone)]
pub struct AuthorityCard {
    pub certificate_pem: String,
    pub certificate_der: Vec<u8>,
    /// SHA-256, `AB:CD:…`.
    pub fingerprint: String,
    /// Its common name, as phones list it.
    pub name: String,
    /// Whether it was made at this start (devices must trust it anew).
    pub new: bool,
}

impl AuthorityCard {
    fn of(local: &LocalTls) -> Self {
        let authority = local.authority();
        Self {
            certificate_pem: authority.certificate_pem().to_owned(),
            certificate_der: authority.certificate_der().to_vec(),
            fingerprint: authority.fingerprint(),
            name: authority.name(),
            new: *local.origin() != local::Origin::Loaded,
        }
    }
}

/// The one place the crypto provider is chosen: ring, as for every other
/// TLS use in the binary.
fn server_config(
    resolver: Arc<dyn rustls::server::ResolvesServerCert>,
    acme: bool,
) -> Result<Arc<ServerConfig>, String> {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("cannot set up TLS: {error}"))?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
    // The server speaks HTTP/1.1 (WebSocket upgrades included), and under
    // ACME answers validators that ask for nothing else.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if acme {
        config.alpn_protocols.push(ACME_ALPN.to_vec());
    }
    Ok(Arc::new(config))
}
