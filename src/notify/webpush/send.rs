//! Sending one push: encrypt the payload for the subscription (RFC 8291,
//! aes128gcm), sign the request with the server's VAPID key (RFC 8292), POST
//! it to the endpoint and read the push service's answer as a
//! [`PushOutcome`].

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{StatusCode, Url, header};
use sha2::{Digest as _, Sha256};

use super::endpoint::{AllowedHosts, parse_endpoint};
use super::resolver::{AddressRefused, PushResolver};
use super::vapid::VapidKey;

/// The largest payload sent. Push services must accept 4096 encrypted bytes
/// (RFC 8291 §4); aes128gcm adds an 86-byte header and 17 bytes to one record.
pub const MAX_PAYLOAD: usize = 4096 - 86 - 17;

/// How long a VAPID token is valid; RFC 8292 allows at most 24 hours.
const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// A token is reused for its push service this long, then signed anew:
/// signing is a third of a push's cost, and one service takes most pushes.
const TOKEN_REUSE: Duration = Duration::from_secs(60 * 60);
/// Dialling a push service: long enough for a slow mobile uplink, short
/// enough that a black-holed address does not hold a sender.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole push, answer included.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait suggested when a push service gives none.
const DEFAULT_RETRY: Duration = Duration::from_secs(30);
/// The longest `Retry-After` believed: a day, which is a push's whole TTL.
const MAX_RETRY: Duration = Duration::from_secs(24 * 60 * 60);

/// One push to one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    pub endpoint: String,
    /// The subscription's `keys.p256dh`: its public key, base64url.
    pub p256dh: String,
    /// The subscription's `keys.auth`: its 16-byte secret, base64url.
    pub auth: String,
    /// At most [`MAX_PAYLOAD`] bytes, usually JSON the service worker reads.
    pub payload: Vec<u8>,
    /// How long the push service keeps the push for an offline device.
    pub ttl: Duration,
    pub urgency: Urgency,
    /// A later push with the same topic replaces one not yet delivered.
    pub topic: Option<String>,
}

/// RFC 8030 §5.3: how soon the device should wake for the push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    VeryLow,
    Low,
    Normal,
    High,
}

impl Urgency {
    pub fn as_header(self) -> &'static str {
        match self {
            Self::VeryLow => "very-low",
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

/// What became of a push, and so what the caller does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The push service took it.
    Delivered,
    /// The subscription no longer exists (404, 410): remove it.
    Gone,
    /// A passing failure (429, 5xx, timeout, connection): try again after this wait.
    RetryAfter(Duration),
    /// The push can never succeed as it is (another 4xx, a redirect, an
    /// endpoint or keys refused, a payload too large): drop it. The text
    /// says why, for the log.
    Refused(String),
}

/// A Topic (RFC 8030 §5.4) for `id`: at most 32 characters of the base64url
/// alphabet, the same for the same id and revealing nothing of it.
pub fn topic_for(id: &str) -> String {
    let digest = Sha256::digest(id.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..24])
}

/// Checks a subscription's keys as a browser gives them: `p256dh` a P-256
/// public key, `auth` a 16-byte secret, both base64url. The error is a
/// sentence for a `400 validation_error`.
pub fn check_keys(p256dh: &str, auth: &str) -> Result<(), String> {
    parse_keys(p256dh, auth).map(|_| ())
}

fn parse_keys(
    p256dh: &str,
    auth: &str,
) -> Result<(p256::PublicKey, web_push_native::Auth), String> {
    let decode = |text: &str| URL_SAFE_NO_PAD.decode(text.trim_end_matches('='));
    let public = decode(p256dh)
        .ok()
        .and_then(|bytes| p256::PublicKey::from_sec1_bytes(&bytes).ok())
        .ok_or("The subscription's p256dh key is not a base64url P-256 public key.")?;
    let secret = decode(auth)
        .ok()
        .and_then(|bytes| <[u8; 16]>::try_from(bytes.as_slice()).ok())
        .map(web_push_native::Auth::from)
        .ok_or("The subscription's auth secret is not 16 bytes in base64url.")?;
    Ok((public, secret))
}

/// Sends pushes: the server's key, the admitted hosts, and an HTTP client
/// that follows no redirect and dials only checked addresses.
#[derive(Debug, Clone)]
pub struct WebPush {
    key: VapidKey,
    allowed: Arc<AllowedHosts>,
    subject: String,
    client: reqwest::Client,
    timeout: Duration,
    /// Signed tokens by audience, with when they stop being reused.
    tokens: Arc<std::sync::Mutex<std::collections::HashMap<String, (String, SystemTime)>>>,
}

impl WebPush {
    /// `subject` is the contact push services see (RFC 8292 `sub`): a
    /// `mailto:` or `https:` URL.
    pub fn new(key: VapidKey, allowed: AllowedHosts, subject: String) -> Result<Self, String> {
        if !(subject.starts_with("mailto:") || subject.starts_with("https://")) {
            return Err(format!(
                "the Web Push contact `{subject}` must be a mailto: or https:// URL"
            ));
        }
        let allowed = Arc::new(allowed);
        let resolver = PushResolver::new(Arc::clone(&allowed))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .dns_resolver(Arc::new(resolver))
            .user_agent(concat!("Clavox/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| format!("cannot build the Web Push client: {error}"))?;
        Ok(Self {
            key,
            allowed,
            subject,
            client,
            timeout: DEFAULT_TIMEOUT,
            tokens: Arc::default(),
        })
    }

    /// Gives up on a push after `timeout` (10 s unless set).
    #[must_use]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// Encrypts, signs and posts one push. Never retries: a
    /// [`PushOutcome::RetryAfter`] is the caller's to schedule.
    pub async fn send(&self, message: &PushMessage) -> PushOutcome {
        let request = match self.request(message) {
            Ok(request) => request,
            Err(why) => return PushOutcome::Refused(why),
        };
        match request.send().await {
            Ok(response) => outcome_of(response.status(), response.headers(), SystemTime::now()),
            Err(error) => outcome_of_error(&error),
        }
    }

    fn request(&self, message: &PushMessage) -> Result<reqwest::RequestBuilder, String> {
        let url = parse_endpoint(&message.endpoint, &self.allowed)?;
        if message.payload.len() > MAX_PAYLOAD {
            return Err(format!("the payload is larger than {MAX_PAYLOAD} bytes"));
        }
        let (public, secret) = parse_keys(&message.p256dh, &message.auth)?;
        let body = web_push_native::encrypt(message.payload.clone(), &public, &secret)
            .map_err(|error| format!("cannot encrypt the push: {error}"))?;
        let authorization = self.authorization(&url);
        let mut request = self
            .client
            .post(url)
            .timeout(self.timeout)
            .header("TTL", message.ttl.as_secs())
            .header("Urgency", message.urgency.as_header())
            .header(header::CONTENT_ENCODING, "aes128gcm")
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::AUTHORIZATION, authorization)
            .body(body);
        if let Some(topic) = &message.topic {
            request = request.header("Topic", topic);
        }
        Ok(request)
    }

    /// VAPID for `url`: the audience is its origin with any non-default
    /// port, which push services on a LAN port check.
    fn authorization(&self, url: &Url) -> String {
        let audience = url.origin().ascii_serialization();
        let now = SystemTime::now();
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((token, until)) = tokens.get(&audience)
            && now < *until
        {
            return token.clone();
        }
        let expires = (now + TOKEN_LIFETIME)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let token = self.key.authorization(&audience, expires, &self.subject);
        // Few audiences exist (one per push service); drop stale ones so
        // the map stays that small.
        tokens.retain(|_, (_, until)| now < *until);
        tokens.insert(audience, (token.clone(), now + TOKEN_REUSE));
        token
    }
}

/// Reads a push service's answer. A redirect is refused, not followed: a
/// push service does not redirect, and following one would dial a place no
/// check admitted.
fn outcome_of(status: StatusCode, headers: &header::HeaderMap, now: SystemTime) -> PushOutcome {
    match status.as_u16() {
        200..=299 => PushOutcome::Delivered,
        404 | 410 => PushOutcome::Gone,
        429 | 500..=599 => PushOutcome::RetryAfter(retry_after(headers, now)),
        300..=399 => PushOutcome::Refused(format!("the push service redirected ({status})")),
        _ => PushOutcome::Refused(format!("the push service answered {status}")),
    }
}

/// `Retry-After` in seconds or as a date, within a day; 30 s when absent.
fn retry_after(headers: &header::HeaderMap, now: SystemTime) -> Duration {
    let Some(value) = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    else {
        return DEFAULT_RETRY;
    };
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => httpdate::parse_http_date(value)
            .ok()
            .map(|at| at.duration_since(now).unwrap_or_default()),
    };
    wait.map_or(DEFAULT_RETRY, |wait| wait.min(MAX_RETRY))
}

/// A request that got no answer: refused when the resolver refused every
/// address, otherwise a passing failure.
fn outcome_of_error(error: &reqwest::Error) -> PushOutcome {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<AddressRefused>() {
            return PushOutcome::Refused(refused.to_string());
        }
        source = cause.source();
    }
    if error.is_builder() {
        return PushOutcome::Refused(format!("cannot build the push request: {error}"));
    }
    PushOutcome::RetryAfter(DEFAULT_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry: &str) -> header::HeaderMap {
        let mut headers = header::HeaderMap::new();
        headers.insert(header::RETRY_AFTER, retry.parse().expect("a header value"));
        headers
    }

    #[test]
    fn topics_are_32_base64url_characters_and_stable() {
        let topic = topic_for("chat 42");
        assert_eq!(topic.len(), 32);
        assert!(
            topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(topic, topic_for("chat 42"));
        assert_ne!(topic, topic_for("chat 43"));
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date_within_a_day() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after(&headers("7"), now), Duration::from_secs(7));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(120));
        assert_eq!(retry_after(&headers(&date), now), Duration::from_secs(120));
        assert_eq!(retry_after(&headers("99999999"), now), MAX_RETRY);
        assert_eq!(retry_after(&headers("soon"), now), DEFAULT_RETRY);
        assert_eq!(retry_after(&header::HeaderMap::new(), now), DEFAULT_RETRY);
    }

    #[test]
    fn statuses_map_to_outcomes() {
        let now = SystemTime::now();
        let none = header::HeaderMap::new();
        let outcome =
            |status: u16| outcome_of(StatusCode::from_u16(status).expect("a status"), &none, now);
        assert_eq!(outcome(201), PushOutcome::Delivered);
        assert_eq!(outcome(404), PushOutcome::Gone);
        assert_eq!(outcome(410), PushOutcome::Gone);
        assert_eq!(outcome(429), PushOutcome::RetryAfter(DEFAULT_RETRY));
        assert_eq!(outcome(503), PushOutcome::RetryAfter(DEFAULT_RETRY));
        assert!(matches!(outcome(302), PushOutcome::Refused(_)));
        assert!(matches!(outcome(400), PushOutcome::Refused(_)));
        assert!(matches!(outcome(413), PushOutcome::Refused(_)));
    }

    #[test]
    fn subscription_keys_are_checked() {
        let public = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
        assert_eq!(check_keys(public, "BTBZMqHH6r4Tts7J_aSIgg"), Ok(()));
        assert_eq!(check_keys(public, "BTBZMqHH6r4Tts7J_aSIgg=="), Ok(()));
        assert!(check_keys(public, "c2hvcnQ").is_err());
        assert!(check_keys("AAAA", "BTBZMqHH6r4Tts7J_aSIgg").is_err());
        assert!(check_keys("not base64!", "BTBZMqHH6r4Tts7J_aSIgg").is_err());
    }
}
