//! Web Push against a stand-in push service on 127.0.0.1: the push arrives
//! encrypted for the subscription and signed with the server's VAPID key
//! (both checked here with this file's own RFC 8291 and RFC 8292 code, not
//! the sender's), each answer a push service gives maps to its outcome, and
//! endpoints that could reach the server's own network are refused before
//! any connection.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead as _, KeyInit as _};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavox::notify::webpush::{
    AllowedHosts, PushMessage, PushOutcome, PushResolver, Urgency, VapidKey, WebPush,
    check_endpoint, topic_for,
};
use hkdf::Hkdf;
use p256::ecdsa::signature::Verifier as _;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use reqwest::dns::Resolve as _;
use sha2::Sha256;

const SUBJECT: &str = "mailto:admin@example.com";

/// A request the stand-in received.
#[derive(Clone)]
pub(crate) struct Hit {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A push service on 127.0.0.1 that records every request and answers by path.
pub(crate) struct StandIn {
    pub(crate) port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl StandIn {
    pub(crate) async fn spawn() -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/push/{answer}", post(answer).get(answer))
            .with_state(Arc::clone(&hits));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = listener.local_addr().expect("an address").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, hits }
    }

    pub(crate) fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn allowed(&self) -> AllowedHosts {
        format!("127.0.0.1:{}", self.port)
            .parse()
            .expect("a valid list")
    }

    pub(crate) fn hits(&self) -> Vec<Hit> {
        self.hits.lock().expect("hits").clone()
    }

    pub(crate) fn hits_at(&self, path: &str) -> usize {
        self.hits().iter().filter(|hit| hit.path == path).count()
    }
}

async fn answer(
    State(hits): State<Arc<Mutex<Vec<Hit>>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    hits.lock().expect("hits").push(Hit {
        path: path.clone(),
        headers,
        body,
    });
    match path.as_str() {
        "/push/gone-404" => StatusCode::NOT_FOUND.into_response(),
        "/push/gone-410" => StatusCode::GONE.into_response(),
        "/push/busy" => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")]).into_response(),
        "/push/broken" => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        "/push/silent" => std::future::pending().await,
        "/push/moved" => (StatusCode::FOUND, [("location", "/push/target")]).into_response(),
        _ => StatusCode::CREATED.into_response(),
    }
}

/// A browser's side of a subscription: its key pair and auth secret.
pub(crate) struct Subscription {
    secret: p256::SecretKey,
    pub(crate) auth: [u8; 16],
}

impl Subscription {
    pub(crate) fn new() -> Self {
        let secret = loop {
            if let Ok(secret) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                break secret;
            }
        };
        Self {
            secret,
            auth: rand::random(),
        }
    }

    pub(crate) fn public_bytes(&self) -> Vec<u8> {
        let point = self.secret.public_key().to_encoded_point(false);
        point.as_bytes().to_vec()
    }

    fn message(&self, endpoint: String, payload: &[u8]) -> PushMessage {
        PushMessage {
            endpoint,
            p256dh: URL_SAFE_NO_PAD.encode(self.public_bytes()),
            auth: URL_SAFE_NO_PAD.encode(self.auth),
            payload: payload.to_vec(),
            ttl: Duration::from_secs(86_400),
            urgency: Urgency::High,
            topic: Some(topic_for("chat-1")),
        }
    }

    /// RFC 8291 §3–4 and RFC 8188 §2: one aes128gcm record.
    pub(crate) fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        let (salt, rest) = body.split_at(16);
        let (record_size, rest) = rest.split_at(4);
        assert!(u32::from_be_bytes(record_size.try_into().expect("4 bytes")) >= 18);
        let (key_id_length, rest) = rest.split_first().expect("a key id length");
        let (sender_public, ciphertext) = rest.split_at(usize::from(*key_id_length));
        let sender = p256::PublicKey::from_sec1_bytes(sender_public).expect("the sender's key");
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), sender.as_affine());

        let mut key_info = b"WebPush: info\0".to_vec();
        key_info.extend_from_slice(&self.public_bytes());
        key_info.extend_from_slice(sender_public);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&key_info, &mut ikm)
            .expect("an IKM");

        let content = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let mut key = [0u8; 16];
        content
            .expand(b"Content-Encoding: aes128gcm\0", &mut key)
            .expect("a key");
        let mut nonce = [0u8; 12];
        content
            .expand(b"Content-Encoding: nonce\0", &mut nonce)
            .expect("a nonce");
        let cipher = aes_gcm::Aes128Gcm::new_from_slice(&key).expect("a cipher");
        let mut plain = cipher
            .decrypt(&nonce.into(), ciphertext)
            .expect("the record decrypts");

        // The last record ends with the delimiter 2 and optional zero padding.
        while plain.last() == Some(&0) {
            plain.pop();
        }
        assert_eq!(plain.pop(), Some(2), "the last record's delimiter");
        plain
    }
}

/// RFC 8292: `vapid t=<JWT>, k=<key>`, an ES256 JWT signed by `k`, for
/// `audience`, expiring within a day.
pub(crate) fn verify_vapid(authorization: &str, audience: &str, server_key: &str, subject: &str) {
    let params = authorization
        .strip_prefix("vapid ")
        .expect("the vapid scheme");
    let mut token = None;
    let mut key = None;
    for param in params.split(',').map(str::trim) {
        match param.split_once('=') {
            Some(("t", value)) => token = Some(value),
            Some(("k", value)) => key = Some(value),
            _ => panic!("an unexpected parameter {param}"),
        }
    }
    let (token, key) = (token.expect("t="), key.expect("k="));
    assert_eq!(key, server_key, "k= is the key GET /api/push/key gives");

    let (signed, signature) = token.rsplit_once('.').expect("a signed JWT");
    let (header, claims) = signed.split_once('.').expect("a header and claims");
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url")).expect("json");
    assert_eq!(header["alg"], "ES256");

    let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(
        &URL_SAFE_NO_PAD.decode(key).expect("base64url key"),
    )
    .expect("a P-256 key");
    let signature = p256::ecdsa::Signature::from_slice(
        &URL_SAFE_NO_PAD
            .decode(signature)
            .expect("base64url signature"),
    )
    .expect("an r‖s signature");
    verifying
        .verify(signed.as_bytes(), &signature)
        .expect("the signature verifies with k=");

    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64url")).expect("json");
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["sub"], subject);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let expires = claims["exp"].as_u64().expect("a numeric exp");
    assert!(
        expires > now + 11 * 3600 && expires <= now + 24 * 3600,
        "exp {expires}"
    );
}

fn web_push(stand_in: &StandIn) -> (WebPush, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let key = VapidKey::load_or_create(dir.path()).expect("a VAPID key");
    let public = key.public_key_base64url();
    let push = WebPush::new(key, stand_in.allowed(), SUBJECT.into()).expect("a sender");
    (push.with_timeout(Duration::from_millis(500)), public)
}

#[tokio::test]
async fn a_push_arrives_encrypted_for_the_subscription_and_signed_with_vapid() {
    let stand_in = StandIn::spawn().await;
    let (push, server_key) = web_push(&stand_in);
    let subscription = Subscription::new();
    let endpoint = format!("{}/push/delivered", stand_in.origin());
    let payload = br#"{"chat":"1","from":"Ana","preview":"Halo!"}"#;

    let outcome = push.send(&subscription.message(endpoint, payload)).await;

    assert_eq!(outcome, PushOutcome::Delivered);
    let hits = stand_in.hits();
    let [hit] = hits.as_slice() else {
        panic!("one request, got {}", hits.len())
    };
    let header = |name: &str| {
        hit.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    assert_eq!(header("ttl"), "86400");
    assert_eq!(header("urgency"), "high");
    assert_eq!(header("topic"), topic_for("chat-1"));
    assert_eq!(header("content-encoding"), "aes128gcm");
    assert_eq!(header("content-type"), "application/octet-stream");
    verify_vapid(
        header("authorization"),
        &stand_in.origin(),
        &server_key,
        SUBJECT,
    );
    assert_eq!(subscription.decrypt(&hit.body), payload);
    // The next push to the same service reuses the signed token; the
    // encryption is fresh every time.
    let endpoint = format!("{}/push/delivered", stand_in.origin());
    assert_eq!(
        push.send(&subscription.message(endpoint, payload)).await,
        PushOutcome::Delivered
    );
    let hits = stand_in.hits();
    assert_eq!(
        hits[0].headers["authorization"],
        hits[1].headers["authorization"]
    );
    assert_ne!(hits[0].body, hits[1].body);
}

#[tokio::test]
async fn the_push_services_answers_map_to_outcomes() {
    let stand_in = StandIn::spawn().await;
    let (push, _) = web_push(&stand_in);
    let subscription = Subscription::new();
    let send = |path: &str| {
        let message = subscription.message(format!("{}/push/{path}", stand_in.origin()), b"hi");
        let push = push.clone();
        async move { push.send(&message).await }
    };

    assert_eq!(send("gone-404").await, PushOutcome::Gone);
    assert_eq!(send("gone-410").await, PushOutcome::Gone);
    assert_eq!(
        send("busy").await,
        PushOutcome::RetryAfter(Duration::from_secs(7))
    );
    assert!(matches!(send("broken").await, PushOutcome::RetryAfter(_)));

    let started = Instant::now();
    assert!(matches!(send("silent").await, PushOutcome::RetryAfter(_)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the timeout held"
    );

    // A redirect is neither followed nor retried.
    assert!(matches!(send("moved").await, PushOutcome::Refused(_)));
    assert_eq!(stand_in.hits_at("/push/moved"), 1);
    assert_eq!(stand_in.hits_at("/push/target"), 0);
}

#[tokio::test]
async fn endpoints_outside_push_services_and_listed_hosts_are_refused_unsent() {
    let stand_in = StandIn::spawn().await;
    let (push, _) = web_push(&stand_in);
    let subscription = Subscription::new();
    let port = stand_in.port;
    for endpoint in [
        "http://fcm.googleapis.com/fcm/send/abc".to_owned(),
        "https://push.example.com/abc".to_owned(),
        format!("http://user:pw@127.0.0.1:{port}/push/delivered"),
        format!("http://127.0.0.2:{port}/push/delivered"),
        format!("http://[::1]:{port}/push/delivered"),
        format!("http://localhost:{port}/push/delivered"),
    ] {
        let refusal = check_endpoint(&endpoint, &stand_in.allowed());
        assert!(refusal.is_err(), "{endpoint} admitted");
        let outcome = push
            .send(&subscription.message(endpoint.clone(), b"hi"))
            .await;
        assert!(
            matches!(outcome, PushOutcome::Refused(_)),
            "{endpoint}: {outcome:?}"
        );
    }
    assert_eq!(stand_in.hits().len(), 0);
}

#[tokio::test]
async fn an_unlisted_name_resolving_to_loopback_is_never_dialled() {
    let stand_in = StandIn::spawn().await;
    let resolver = PushResolver::new(Arc::new(stand_in.allowed())).expect("a resolver");
    let name = "localhost".parse().expect("a name");
    let refused = resolver.resolve(name).await.err().expect("refused");
    assert!(refused.to_string().contains("localhost"), "{refused}");

    let client = reqwest::Client::builder()
        .dns_resolver(Arc::new(resolver))
        .build()
        .expect("a client");
    let sent = client
        .post(format!("http://localhost:{}/push/delivered", stand_in.port))
        .send()
        .await;
    assert!(sent.is_err());
    assert_eq!(stand_in.hits().len(), 0);
}

#[tokio::test]
async fn a_listed_name_may_resolve_to_the_lan_or_loopback() {
    let stand_in = StandIn::spawn().await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let key = VapidKey::load_or_create(dir.path()).expect("a VAPID key");
    let allowed = format!("localhost:{}", stand_in.port)
        .parse()
        .expect("a list");
    let push = WebPush::new(key, allowed, SUBJECT.into()).expect("a sender");
    let endpoint = format!("http://localhost:{}/push/delivered", stand_in.port);

    let outcome = push
        .send(&Subscription::new().message(endpoint, b"hi"))
        .await;

    assert_eq!(outcome, PushOutcome::Delivered);
    assert_eq!(stand_in.hits_at("/push/delivered"), 1);
}
