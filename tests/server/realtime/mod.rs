//! The WebSocket gateway, `GET /ws`, against SPEC's "WebSocket" contract:
//! fan-out, ordering, typing, presence, authentication, bad frames, limits,
//! slow consumers, origins, read marks, token expiry and budgets; one file
//! per section, the shared helpers here.

mod authentication;
mod bad_frames;
mod budgets;
mod fan_out;
mod frame_limits;
mod ordering;
mod origin;
mod presence;
mod read_marks;
mod removed_members;
mod session_end;
mod slow_consumers;
mod token_expiry;
mod typing;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{Login, TestApp, Ws, phone};

/// How long a test listens to prove that something does NOT arrive.
const QUIET: Duration = Duration::from_millis(500);

/// Frame ids used by the raw helpers below; `Ws::request` counts from 1, so
/// these never collide with its ids.
const RAW_ID: i64 = 1000;

/// Sends `event` with `id` and reads until its answer; returns the answer
/// and every other frame that arrived before it (which `Ws::request` would
/// have dropped).
async fn request_seeing(ws: &mut Ws, id: i64, event: &str, data: Value) -> (Value, Vec<Value>) {
    ws.send_raw(Message::text(
        json!({ "event": event, "data": data, "id": id }).to_string(),
    ))
    .await;
    let mut seen = Vec::new();
    loop {
        let frame = ws
            .next_frame()
            .await
            .unwrap_or_else(|| panic!("socket closed before answering {event}"));
        if frame["id"] == id && (frame["event"] == "ack" || frame["event"] == "error") {
            return (frame, seen);
        }
        seen.push(frame);
    }
}

/// The next `new_message` of `chat`.
async fn next_message(ws: &mut Ws, chat: &str) -> Value {
    loop {
        let data = ws.wait_for("new_message").await;
        if data["chatId"] == chat {
            return data;
        }
    }
}

/// Asserts that `frame` is an `error` answering `id` with `code`.
#[track_caller]
fn assert_error(frame: &Value, id: i64, code: &str) {
    assert_eq!(frame["event"], "error", "{frame}");
    assert_eq!(frame["id"], id, "{frame}");
    assert_eq!(frame["data"]["code"], code, "{frame}");
    assert!(
        frame["data"]["error"].is_string(),
        "errors carry a human message: {frame}"
    );
}

/// Asserts that a socket is open and answering: a ping with an id is acked.
async fn assert_answers(ws: &mut Ws) {
    let ack = ws.request("ping", json!({})).await;
    assert_eq!(ack["event"], "ack", "{ack}");
    assert_eq!(ack["data"], json!({}));
}

/// Closes a socket from the client side and waits for the server's close.
async fn hang_up(mut ws: Ws) {
    ws.stream.close(None).await.expect("close frame is sent");
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = ws.stream.next().await {}
    })
    .await
    .expect("the server answers the close");
}

fn ws_url(app: &TestApp, query: &str) -> String {
    format!("ws://{}/ws{query}", app.address)
}

/// Attempts an upgrade that the server must refuse; returns the HTTP status
/// and the JSON body of the refusal.
async fn refused_upgrade(request: tungstenite::handshake::client::Request) -> (u16, Value) {
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            let body = serde_json::from_slice(body).unwrap_or(Value::Null);
            (response.status().as_u16(), body)
        }
        Err(other) => panic!("expected an HTTP refusal of the upgrade, got: {other}"),
        Ok(_) => panic!("the upgrade was accepted"),
    }
}

fn upgrade_with_origin(app: &TestApp, origin: &str) -> tungstenite::handshake::client::Request {
    let mut request = ws_url(app, "").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Origin", HeaderValue::from_str(origin).unwrap());
    request
}

/// Decodes unpadded base64url (JWT segments).
fn base64url(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut bits, mut count) = (0u32, 0u32);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => continue,
        };
        bits = ((bits << 6) | u32::from(value)) & 0xffff;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push(((bits >> count) & 0xff) as u8);
        }
    }
    out
}

/// When an access token's `exp` claim says it expires.
fn expiry_of(token: &str) -> SystemTime {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let claims: Value = serde_json::from_slice(&base64url(payload)).expect("JWT claims are JSON");
    UNIX_EPOCH + Duration::from_secs(claims["exp"].as_u64().expect("exp claim"))
}

/// Sleeps until the wall clock reaches `moment` (at once if it has passed).
async fn sleep_until_wall(moment: SystemTime) {
    if let Ok(wait) = moment.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
}

/// Signed seconds from `reference` to now (negative: before it).
fn seconds_since(reference: SystemTime) -> f64 {
    match SystemTime::now().duration_since(reference) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

async fn messages_of(app: &TestApp, who: &Login, chat: &str) -> Vec<Value> {
    let (status, page) = app
        .get(
            &format!("/api/chats/{chat}/messages?limit=100"),
            &who.access,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["messages"].as_array().unwrap().clone()
}
