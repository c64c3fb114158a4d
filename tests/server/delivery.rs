//! Code delivery through a webhook or Twilio, against stand-in servers on
//! 127.0.0.1.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

use crate::support::{TestApp, phone};

/// What a stand-in server received.
#[derive(Clone, Default)]
struct Received {
    requests: Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>,
}

impl Received {
    fn all(&self) -> Vec<(String, HeaderMap, Bytes)> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serves `status` after `delay` on every POST, recording what came in.
async fn stand_in(status: StatusCode, delay: Duration) -> (String, Received) {
    let received = Received::default();
    let recorder = received.clone();
    let app = Router::new().fallback(post(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let recorder = recorder.clone();
            async move {
                recorder
                    .requests
                    .lock()
                    .unwrap()
                    .push((uri.path().to_owned(), headers, body));
                tokio::time::sleep(delay).await;
                status
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), received)
}

#[tokio::test]
async fn the_webhook_receives_a_signed_code_that_logs_in() {
    let (url, received) = stand_in(StatusCode::OK, Duration::ZERO).await;
    let hook = format!("{url}/sms");
    let app = TestApp::spawn_delivering(&[
        ("--otp-webhook-url", &hook),
        ("--otp-webhook-secret", "s3cret"),
    ])
    .await;
    let number = phone(1000);
    let (status, _) = app.send_otp(&number).await;
    assert_eq!(status, StatusCode::OK);
    let requests = received.all();
    assert_eq!(requests.len(), 1);
    let (path, headers, body) = &requests[0];
    assert_eq!(path, "/sms");
    assert_eq!(headers["content-type"], "application/json");
    let expected = clavox::auth::delivery::signature("s3cret", body);
    assert_eq!(headers["x-clavox-signature"], expected.as_str());
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["phoneNumber"], number);
    let code = payload["otp"].as_str().unwrap();
    assert!(payload["message"].as_str().unwrap().contains(code));
    assert!(payload["expiresAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(app.verify(&number, code).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_failing_webhook_is_a_502_and_leaves_no_usable_code() {
    let (url, received) = stand_in(StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO).await;
    let app = TestApp::spawn_delivering(&[("--otp-webhook-url", &url)]).await;
    let number = phone(1010);
    let (status, body) = app.send_otp(&number).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("otp_delivery_failed"))
    );
    let requests = received.all();
    assert!(
        requests[0].1.get("x-clavox-signature").is_none(),
        "no secret, no signature"
    );
    let payload: Value = serde_json::from_slice(&requests[0].2).unwrap();
    let (status, body) = app.verify(&number, payload["otp"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_otp"))
    );
}

#[tokio::test]
async fn a_webhook_that_hangs_times_out_after_five_seconds() {
    let (url, _) = stand_in(StatusCode::OK, Duration::from_secs(30)).await;
    let app = TestApp::spawn_delivering(&[("--otp-webhook-url", &url)]).await;
    let started = Instant::now();
    let (status, body) = app.send_otp(&phone(1020)).await;
    let waited = started.elapsed();
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("otp_delivery_failed"))
    );
    assert!(
        waited >= Duration::from_millis(4500) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
}

#[tokio::test]
async fn twilio_gets_the_messages_api_request_it_expects() {
    let (url, received) = stand_in(StatusCode::CREATED, Duration::ZERO).await;
    let app = TestApp::spawn_delivering(&[
        ("--twilio-account-sid", "AC123"),
        ("--twilio-auth-token", "tok"),
        ("--twilio-phone-number", "+15005550006"),
        ("--twilio-api-url", &url),
    ])
    .await;
    let number = phone(1030);
    assert_eq!(app.send_otp(&number).await.0, StatusCode::OK);
    let requests = received.all();
    let (path, headers, body) = &requests[0];
    assert_eq!(path, "/2010-04-01/Accounts/AC123/Messages.json");
    // Basic auth of "AC123:tok".
    assert_eq!(headers["authorization"], "Basic QUMxMjM6dG9r");
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap();
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap()
    };
    assert_eq!(field("To"), number);
    assert_eq!(field("From"), "+15005550006");
    let text = field("Body");
    let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    assert_eq!(app.verify(&number, &code).await.0, StatusCode::OK, "{text}");
}

async fn timed_send(app: &TestApp, number: &str) -> Duration {
    let started = Instant::now();
    let (status, body) = app.send_otp(number).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    started.elapsed()
}

#[tokio::test]
async fn a_refused_number_answers_about_as_slowly_as_a_delivered_code() {
    let (url, received) = stand_in(StatusCode::OK, Duration::from_millis(200)).await;
    let app =
        TestApp::spawn_delivering(&[("--otp-webhook-url", &url), ("--registration", "invite")])
            .await;
    let (guest, stranger) = (phone(1040), phone(1041));
    app.admin(clavox::admin::Request::Invite {
        phone: guest.clone(),
    })
    .await;
    let before_any_delivery = timed_send(&app, &stranger).await;
    let delivered = timed_send(&app, &guest).await;
    let refused = timed_send(&app, &stranger).await;
    assert_eq!(received.all().len(), 1, "only the guest got a code");
    for waited in [before_any_delivery, delivered, refused] {
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
            "refused first {before_any_delivery:?}, delivered {delivered:?}, refused after {refused:?}"
        );
    }
}
