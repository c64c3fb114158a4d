//! Queued pushes through the real binary: one in flight when the server is
//! killed with SIGKILL is sent after the restart, and a push service that
//! never answers does not hold up sending messages.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use serde_json::json;

use crate::support::phone;
use crate::support::process::Server;

/// A push service on 127.0.0.1 that counts what reaches it, and either
/// answers `201` or (while `hang` is set) never answers.
struct StandIn {
    port: u16,
    hits: Arc<Mutex<Vec<String>>>,
    hang: Arc<AtomicBool>,
}

impl StandIn {
    async fn spawn() -> Self {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let hang = Arc::new(AtomicBool::new(true));
        let app = Router::new()
            .route("/push/{who}", post(receive))
            .with_state((Arc::clone(&hits), Arc::clone(&hang)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, hits, hang }
    }

    fn count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }

    async fn wait_for(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.count() < count {
            assert!(
                Instant::now() < deadline,
                "{count} pushes never came, only {}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

type Shared = (Arc<Mutex<Vec<String>>>, Arc<AtomicBool>);

async fn receive(State((hits, hang)): State<Shared>, uri: axum::http::Uri) -> StatusCode {
    hits.lock().unwrap().push(uri.path().to_owned());
    if hang.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    StatusCode::CREATED
}

/// A browser's subscription keys: a P-256 public point and an auth secret.
fn keys() -> serde_json::Value {
    let secret = loop {
        if let Ok(secret) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break secret;
        }
    };
    let point = secret.public_key().to_encoded_point(false);
    json!({
        "p256dh": URL_SAFE_NO_PAD.encode(point.as_bytes()),
        "auth": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()),
    })
}

#[tokio::test]
async fn a_push_in_flight_at_sigkill_is_sent_after_the_restart_and_a_hung_service_slows_no_send() {
    let stand_in = StandIn::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let allowed = format!("127.0.0.1:{}", stand_in.port);
    let settings = [("PUSH_ALLOWED_HOSTS", allowed.as_str())];
    let client = reqwest::Client::new();
    let mut server = Server::start_with(dir.path(), &settings);
    let (ana, _) = server.login(&client, &phone(9101)).await;
    let (budi, budi_id) = server.login(&client, &phone(9102)).await;
    let subscribed = client
        .post(format!("{}/api/push/subscriptions", server.base))
        .bearer_auth(&budi)
        .json(&json!({
            "endpoint": format!("http://127.0.0.1:{}/push/budi", stand_in.port),
            "keys": keys(),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(subscribed.status(), 201);
    let chat = server
        .create_chat(
            &client,
            &ana,
            json!({ "type": "private", "participants": [budi_id] }),
        )
        .await;
    let url = format!("{}/api/chats/{chat}/messages", server.base);
    let send = |text: &str| {
        client
            .post(&url)
            .bearer_auth(&ana)
            .json(&json!({ "content": text }))
            .send()
    };
    assert_eq!(send("first").await.unwrap().status(), 201);
    stand_in.wait_for(1).await;
    // The push service hangs on that push; sends go on at their own pace.
    let started = Instant::now();
    for n in 0..20 {
        assert_eq!(send(&format!("more {n}")).await.unwrap().status(), 201);
    }
    let twenty = started.elapsed();
    assert!(
        twenty < Duration::from_secs(5),
        "20 sends took {twenty:?} while the push service hung"
    );
    let before_kill = stand_in.count();
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    stand_in.hang.store(false, Ordering::SeqCst);
    let _restarted = Server::start_with(dir.path(), &settings);
    // All 21 pushes were queued (none was answered): each is tried again
    // after the restart and now goes through.
    stand_in.wait_for(before_kill + 21).await;
}
