//! `TLS=acme`: a publicly trusted certificate for `TLS_DOMAIN`, got by ACME
//! (RFC 8555) with the TLS-ALPN-01 challenge (RFC 8737) answered on the
//! HTTPS port itself, kept in the data directory and renewed a month before
//! it expires. While there is none yet (the ACME server is unreachable, the
//! name does not point here), plain HTTP serves on and the attempt is
//! retried with growing pauses, each failure logged with its reason.

use std::fs;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::Request;
use http_body_util::BodyExt as _;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType,
    HttpClient, Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::ACME_ALPN;
use super::authority::pem_der;
use super::slot::certified_key;
use crate::config::Config;
use crate::data_dir::{self, DataDir};

/// A certificate this close to expiry is renewed.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest sleep between two looks at the certificate's age.
const LOOK_EVERY: Duration = Duration::from_secs(12 * 3600);
/// The first pause after a failure; it doubles up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_secs(5);
const MAX_PAUSE: Duration = Duration::from_secs(3600);
/// How long the ACME server may take to validate and to issue.
const ORDER_TIMEOUT: Duration = Duration::from_secs(90);

/// The certificate for ordinary handshakes, and the one that answers a
/// TLS-ALPN-01 validation while an order waits for it.
#[derive(Debug, Default)]
pub struct AcmeResolver {
    certificate: RwLock<Option<Arc<CertifiedKey>>>,
    challenge: RwLock<Option<Arc<CertifiedKey>>>,
}

impl AcmeResolver {
    fn set_certificate(&self, key: CertifiedKey) {
        *self
            .certificate
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(key));
    }

    fn set_challenge(&self, key: Option<CertifiedKey>) {
        *self
            .challenge
            .write()
            .unwrap_or_else(PoisonError::into_inner) = key.map(Arc::new);
    }
}

impl ResolvesServerCert for AcmeResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validating = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|protocol| protocol == ACME_ALPN));
        let slot = if validating {
            &self.challenge
        } else {
            &self.certificate
        };
        slot.read().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// The ACME side of a server.
pub struct AcmeTls {
    domain: String,
    email: Option<String>,
    directory: String,
    http: reqwest::Client,
    dir: DataDir,
    resolver: Arc<AcmeResolver>,
    /// When the certificate in use expires (`None`: there is none yet).
    expires: RwLock<Option<SystemTime>>,
}

/// The account, saved with the directory it belongs to.
#[derive(Serialize, Deserialize)]
struct SavedAccount {
    directory: String,
    credentials: serde_json::Value,
}

impl AcmeTls {
    /// Reads a saved certificate for the domain, if there is one; the
    /// first order happens in `run`.
    pub fn start(config: &Config) -> Result<Self, String> {
        let domain = config
            .tls_domain
            .clone()
            .ok_or("TLS=acme needs TLS_DOMAIN")?;
        let mut http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("clavox/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.acme_ca_file {
            let pem = fs::read(path).map_err(|error| {
                format!("ACME_CA_FILE: cannot read {}: {error}", path.display())
            })?;
            let root = reqwest::Certificate::from_pem(&pem)
                .map_err(|error| format!("ACME_CA_FILE: {}: {error}", path.display()))?;
            http = http.add_root_certificate(root);
        }
        let this = Self {
            domain,
            email: config.acme_email.clone(),
            directory: config.acme_directory.clone(),
            http: http
                .build()
                .map_err(|error| format!("cannot set up the ACME client: {error}"))?,
            dir: DataDir::new(&config.data_dir),
            resolver: Arc::default(),
            expires: RwLock::new(None),
        };
        match this.load_saved() {
            Ok(true) => tracing::info!(domain = %this.domain, "serving the saved ACME certificate"),
            Ok(false) => {}
            Err(problem) => tracing::warn!(
                "the saved ACME certificate cannot be used ({problem}); a new one will be ordered"
            ),
        }
        Ok(this)
    }

    pub fn resolver(&self) -> Arc<AcmeResolver> {
        Arc::clone(&self.resolver)
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Orders and renews certificates until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut failures = 0;
        loop {
            let due = self.renewal_due();
            let pause = if due.is_zero() {
                match self.order().await {
                    Ok(()) => {
                        failures = 0;
                        continue;
                    }
                    Err(problem) => {
                        failures += 1;
                        let pause = FIRST_PAUSE
                            .saturating_mul(1 << failures.min(10))
                            .min(MAX_PAUSE);
                        tracing::warn!(
                            domain = %self.domain,
                            directory = %self.directory,
                            "cannot get a certificate by ACME: {problem}; plain HTTP serves on, trying again in {}s",
                            pause.as_secs()
                        );
                        pause
                    }
                }
            } else {
                due.min(LOOK_EVERY)
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// How long until the certificate should be renewed (zero: now).
    fn renewal_due(&self) -> Duration {
        let expires = *self.expires.read().unwrap_or_else(PoisonError::into_inner);
        expires
            .and_then(|expires| expires.checked_sub(RENEW_BEFORE))
            .and_then(|renew_at| renew_at.duration_since(SystemTime::now()).ok())
            .unwrap_or_default()
    }

    /// One order: account, challenge, finalisation, certificate.
    async fn order(&self) -> Result<(), String> {
        let account = self.account().await?;
        let identifiers = [Identifier::Dns(self.domain.clone())];
        let mut order = account
            .new_order(&NewOrder::new(&identifiers))
            .await
            .map_err(|error| format!("the order was refused: {}", chain(&error)))?;
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization
                .map_err(|error| format!("cannot read the authorization: {}", chain(&error)))?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                status => return Err(format!("the authorization is {status:?}")),
            }
            let mut challenge = authorization
                .challenge(ChallengeType::TlsAlpn01)
                .ok_or("the ACME server offers no TLS-ALPN-01 challenge")?;
            let proof = challenge_certificate(
                &self.domain,
                challenge.key_authorization().digest().as_ref(),
            )?;
            self.resolver.set_challenge(Some(proof));
            challenge
                .set_ready()
                .await
                .map_err(|error| format!("the challenge was refused: {}", chain(&error)))?;
        }
        let retries = RetryPolicy::new().timeout(ORDER_TIMEOUT);
        let status = order.poll_ready(&retries).await;
        self.resolver.set_challenge(None);
        let status = status.map_err(|error| {
            format!(
                "validation failed (does {} reach this server's TLS_PORT?): {}",
                self.domain,
                chain(&error)
            )
        })?;
        if status != OrderStatus::Ready {
            return Err(format!("the order is {status:?} after validation"));
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|error| error.to_string())?;
        let mut params =
            CertificateParams::new(vec![self.domain.clone()]).map_err(|error| error.to_string())?;
        params.distinguished_name = DistinguishedName::new();
        let request = params
            .serialize_request(&key)
            .map_err(|error| error.to_string())?;
        order
            .finalize_csr(request.der())
            .await
            .map_err(|error| format!("finalising the order failed: {}", chain(&error)))?;
        let chain = order
            .poll_certificate(&retries)
            .await
            .map_err(|error| format!("the certificate was not issued: {}", chain(&error)))?;
        let key_pem = key.serialize_pem();
        self.install(&chain, &key_pem)?;
        let save = |name: &str, text: &str| {
            let path = self.dir.file(name);
            data_dir::write_private(&path, text.as_bytes())
                .map_err(|error| format!("cannot save {}: {error}", path.display()))
        };
        save(data_dir::ACME_CERTIFICATE_KEY, &key_pem)?;
        save(data_dir::ACME_CERTIFICATE, &chain)?;
        tracing::info!(domain = %self.domain, "got a certificate by ACME");
        Ok(())
    }

    /// The saved account for this directory, or a new one (then saved).
    async fn account(&self) -> Result<Account, String> {
        let path = self.dir.file(data_dir::ACME_ACCOUNT);
        let http = || Box::new(AcmeHttp(self.http.clone())) as Box<dyn HttpClient>;
        if let Ok(text) = fs::read_to_string(&path)
            && let Ok(saved) = serde_json::from_str::<SavedAccount>(&text)
            && saved.directory == self.directory
            && let Ok(credentials) = serde_json::from_value::<AccountCredentials>(saved.credentials)
        {
            return Account::builder_with_http(http())
                .from_credentials(credentials)
                .await
                .map_err(|error| format!("cannot reach {}: {}", self.directory, chain(&error)));
        }
        let contact = self.email.as_ref().map(|email| format!("mailto:{email}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let (account, credentials) = Account::builder_with_http(http())
            .create(
                &NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.directory.clone(),
                None,
            )
            .await
            .map_err(|error| {
                format!(
                    "cannot open an account at {}: {}",
                    self.directory,
                    chain(&error)
                )
            })?;
        let saved = SavedAccount {
            directory: self.directory.clone(),
            credentials: serde_json::to_value(&credentials).map_err(|error| error.to_string())?,
        };
        let text = serde_json::to_vec_pretty(&saved).map_err(|error| error.to_string())?;
        data_dir::write_private(&path, &text)
            .map_err(|error| format!("cannot save {}: {error}", path.display()))?;
        Ok(account)
    }

    /// Serves the saved certificate if it is for this domain; says whether.
    fn load_saved(&self) -> Result<bool, String> {
        let read = |name: &str| fs::read_to_string(self.dir.file(name));
        let (Ok(chain), Ok(key)) = (
            read(data_dir::ACME_CERTIFICATE),
            read(data_dir::ACME_CERTIFICATE_KEY),
        ) else {
            return Ok(false);
        };
        let der = pem_der(&chain, "CERTIFICATE").ok_or("not PEM")?;
        let (_, leaf) =
            x509_parser::parse_x509_certificate(&der).map_err(|error| error.to_string())?;
        let names_domain = leaf.subject_alternative_name().ok().flatten().is_some_and(|names| {
            names.value.general_names.iter().any(|name| {
                matches!(name, x509_parser::extensions::GeneralName::DNSName(dns) if dns.eq_ignore_ascii_case(&self.domain))
            })
        });
        if !names_domain {
            return Ok(false);
        }
        self.install(&chain, &key)?;
        Ok(true)
    }

    /// Serves `chain` with `key` from the next handshake on.
    fn install(&self, chain: &str, key: &str) -> Result<(), String> {
        let certified = certified_key(chain.as_bytes(), key.as_bytes())?;
        let der = pem_der(chain, "CERTIFICATE").ok_or("the certificate is not PEM")?;
        let (_, leaf) =
            x509_parser::parse_x509_certificate(&der).map_err(|error| error.to_string())?;
        let expires = u64::try_from(leaf.validity().not_after.timestamp())
            .map(|seconds| UNIX_EPOCH + Duration::from_secs(seconds))
            .map_err(|_| "the certificate expired before 1970")?;
        self.resolver.set_certificate(certified);
        *self.expires.write().unwrap_or_else(PoisonError::into_inner) = Some(expires);
        Ok(())
    }
}

/// The self-signed certificate that proves control of `domain` to a
/// TLS-ALPN-01 validator: the domain, and the key authorization's digest in
/// the critical acmeIdentifier extension.
fn challenge_certificate(domain: &str, digest: &[u8]) -> Result<CertifiedKey, String> {
    let key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|error| error.to_string())?;
    let mut params =
        CertificateParams::new(vec![domain.to_owned()]).map_err(|error| error.to_string())?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let certificate = params
        .self_signed(&key)
        .map_err(|error| error.to_string())?;
    let private = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|error| format!("the challenge key: {error}"))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&private)
        .map_err(|error| format!("the challenge key: {error}"))?;
    // Not `certified_key`: its check parses the certificate, and the
    // parser refuses the critical acmeIdentifier extension the validator
    // looks for.
    Ok(CertifiedKey::new(vec![certificate.der().clone()], signing))
}

/// `error` with the errors under it, which say what actually failed (a
/// refused connection, an unknown certificate).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// ACME requests through reqwest: the binary's one HTTP client stack
/// (rustls with built-in roots, plus `ACME_CA_FILE`).
struct AcmeHttp(reqwest::Client);

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        request: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|error| instant_acme::Error::Other(Box::new(error)))?;
            Ok(BytesResponse::from(axum::http::Response::from(response)))
        })
    }
}
