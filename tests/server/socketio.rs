//! Engine.IO v4 and Socket.IO v5 at `/socket.io/`, spoken by hand: the
//! long-polling requests, the upgrade of a polling session to a websocket,
//! and the refusals of requests no client should send. The official client
//! runs against the same endpoint in `tests/system/socketio.rs`.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{TestApp, phone};

const SEPARATOR: char = '\x1e';

/// A long-polling session opened by hand.
struct Polling<'a> {
    app: &'a TestApp,
    sid: String,
}

impl<'a> Polling<'a> {
    /// The handshake: the open packet's fields.
    async fn open(app: &'a TestApp) -> (Self, Value) {
        let response = app
            .client
            .get(app.url("/socket.io/?EIO=4&transport=polling"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.text().await.unwrap();
        let open: Value = serde_json::from_str(body.strip_prefix('0').expect("an open packet"))
            .unwrap_or_else(|_| panic!("{body}"));
        let sid = open["sid"].as_str().unwrap().to_owned();
        (Self { app, sid }, open)
    }

    fn url(&self) -> String {
        self.app.url(&format!(
            "/socket.io/?EIO=4&transport=polling&sid={}",
            self.sid
        ))
    }

    async fn post(&self, packets: &[&str]) -> (StatusCode, String) {
        let response = self
            .app
            .client
            .post(self.url())
            .header("content-type", "text/plain;charset=UTF-8")
            .body(packets.join(&SEPARATOR.to_string()))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// One long-poll: the packets it brought.
    async fn get(&self) -> Vec<String> {
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            self.app.client.get(self.url()).send(),
        )
        .await
        .expect("the poll is answered in time")
        .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.text().await.unwrap();
        body.split(SEPARATOR).map(str::to_owned).collect()
    }

    /// Polls until a packet starting with `prefix` comes; that packet.
    async fn get_until(&self, prefix: &str) -> String {
        loop {
            if let Some(found) = self
                .get()
                .await
                .into_iter()
                .find(|packet| packet.starts_with(prefix))
            {
                return found;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_session_joins_sends_with_a_callback_and_hears_its_answer() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(9401)).await;
    let budi = app.login(&phone(9402)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let (session, open) = Polling::open(&app).await;
    assert_eq!(open["upgrades"], json!(["websocket"]), "{open}");
    assert_eq!(open["pingInterval"], 25_000);
    assert_eq!(open["pingTimeout"], 20_000);
    assert_eq!(open["maxPayload"], 64 * 1024);

    let join = format!("40{}", json!({ "token": ana.access }));
    assert_eq!(session.post(&[&join]).await, (StatusCode::OK, "ok".into()));
    let joined = session.get_until("40").await;
    assert!(joined.starts_with(r#"40{"sid":""#), "{joined}");

    // Two events in one request: answered in the order sent.
    let first = format!(
        "427{}",
        json!(["send_message", { "chatId": chat, "content": "one" }])
    );
    let second = format!(
        "428{}",
        json!(["send_message", { "chatId": chat, "content": "two" }])
    );
    assert_eq!(session.post(&[&first, &second]).await.0, StatusCode::OK);
    let mut acks = Vec::new();
    while acks.len() < 2 {
        acks.extend(
            session
                .get()
                .await
                .into_iter()
                .filter(|packet| packet.starts_with("43")),
        );
    }
    let one: Value = serde_json::from_str(acks[0].strip_prefix("437").unwrap()).unwrap();
    let two: Value = serde_json::from_str(acks[1].strip_prefix("438").unwrap()).unwrap();
    assert_eq!(
        (&one[0]["content"], &one[0]["seq"]),
        (&json!("one"), &json!(1))
    );
    assert_eq!(
        (&two[0]["content"], &two[0]["seq"]),
        (&json!("two"), &json!(2))
    );

    // A failure goes into the callback; without one, into an `error` event.
    let missing = format!(
        "429{}",
        json!(["join_chat", { "chatId": "0123456789abcdef01234567" }])
    );
    session.post(&[&missing, r#"42["no_such_event",{}]"#]).await;
    let mut heard = Vec::new();
    while heard.len() < 2 {
        heard.extend(
            session
                .get()
                .await
                .into_iter()
                .filter(|packet| packet.starts_with("439") || packet.starts_with(r#"42["error""#)),
        );
    }
    assert!(
        heard[0].starts_with("439") && heard[0].contains(r#""code":"not_found""#),
        "{heard:?}"
    );
    assert!(heard[1].contains("unknown_event"), "{heard:?}");

    // The client leaves: the session is over, its id worth nothing.
    assert_eq!(session.post(&["41"]).await.0, StatusCode::OK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = app.client.get(session.url()).send().await.unwrap().status();
        if status == StatusCode::BAD_REQUEST {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session outlived its client"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polling_session_upgrades_to_a_websocket_and_keeps_what_was_queued() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(9403)).await;
    let budi = app.login(&phone(9404)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let (session, _) = Polling::open(&app).await;
    session
        .post(&[&format!("40{}", json!({ "token": ana.access }))])
        .await;
    session.get_until("40").await;
    let join = format!("421{}", json!(["join_chat", { "chatId": chat }]));
    session.post(&[&join]).await;
    session.get_until("431").await;

    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket&sid={}",
        app.address, session.sid
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket.send(Message::text("2probe")).await.unwrap();
    let probe = socket.next().await.unwrap().unwrap();
    assert_eq!(probe.to_text().unwrap(), "3probe");
    // A message sent now, while the client has not yet said `upgrade`, is
    // not lost: it comes on the poll or, once upgraded, on the websocket.
    let (status, _) = app
        .post(
            &format!("/api/chats/{chat}/messages"),
            &budi.access,
            json!({ "content": "in between" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let polled = session.get().await;
    socket.send(Message::text("5")).await.unwrap();
    let mut heard = polled
        .iter()
        .any(|packet| packet.starts_with("42") && packet.contains("in between"));
    let ping = format!("422{}", json!(["ping", {}]));
    socket.send(Message::text(ping)).await.unwrap();
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the websocket answers in time")
            .unwrap()
            .unwrap();
        let text = frame.to_text().unwrap();
        heard |= text.starts_with("42") && text.contains("in between");
        if text.starts_with("432") {
            assert_eq!(text, "432[{}]");
            break;
        }
    }
    assert!(heard, "the message sent during the upgrade arrived");
    // The polling id is worth nothing once upgraded.
    let status = app.client.get(session.url()).send().await.unwrap().status();
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_no_client_sends_are_refused_with_engine_io_errors() {
    let app = TestApp::spawn().await;
    let refusal = |query: &'static str, post: bool| {
        let app = &app;
        async move {
            let url = app.url(&format!("/socket.io/?{query}"));
            let request = if post {
                app.client.post(url).body("40")
            } else {
                app.client.get(url)
            };
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap()["code"].clone(),
            )
        }
    };
    assert_eq!(
        refusal("EIO=3&transport=polling", false).await,
        (StatusCode::BAD_REQUEST, json!(5))
    );
    assert_eq!(
        refusal("transport=polling", false).await,
        (StatusCode::BAD_REQUEST, json!(5))
    );
    assert_eq!(
        refusal("EIO=4&transport=carrier-pigeon", false).await,
        (StatusCode::BAD_REQUEST, json!(0))
    );
    assert_eq!(
        refusal("EIO=4&transport=polling&sid=nope", false).await,
        (StatusCode::BAD_REQUEST, json!(1))
    );
    assert_eq!(
        refusal("EIO=4&transport=polling", true).await,
        (StatusCode::BAD_REQUEST, json!(2))
    );
    assert_eq!(
        refusal("EIO=4&transport=websocket", false).await,
        (StatusCode::BAD_REQUEST, json!(3))
    );

    // One long-poll at a time per session.
    let (session, _) = Polling::open(&app).await;
    let waiting = tokio::spawn({
        let url = session.url();
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = app.client.get(session.url()).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::BAD_REQUEST);
    // The waiting one is let go when the session ends (a close packet).
    session.post(&["1"]).await;
    let first = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting poll ends with the session")
        .unwrap();
    assert_eq!(first, StatusCode::OK);

    // A body over the payload limit.
    let (session, _) = Polling::open(&app).await;
    let huge = format!("42{}", json!(["ping", "x".repeat(70 * 1024)]));
    assert_eq!(
        session.post(&[&huge]).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_namespaces_and_binary_events_are_not_spoken() {
    let app = TestApp::spawn().await;
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.address);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let open = socket.next().await.unwrap().unwrap();
    let open: Value = serde_json::from_str(&open.to_text().unwrap()[1..]).unwrap();
    assert_eq!(
        open["upgrades"],
        json!([]),
        "a websocket has nothing to upgrade to"
    );
    socket.send(Message::text("40/admin,")).await.unwrap();
    let refused = socket.next().await.unwrap().unwrap();
    assert_eq!(
        refused.to_text().unwrap(),
        r#"44/admin,{"message":"Invalid namespace"}"#
    );
    // A namespace the client never joined hears nothing back.
    socket
        .send(Message::text(r#"421["ping",{}]"#))
        .await
        .unwrap();
    socket.send(Message::text("40")).await.unwrap();
    let joined = socket.next().await.unwrap().unwrap();
    assert!(joined.to_text().unwrap().starts_with("40{"), "{joined}");
    // Binary attachments: the transport closes.
    socket
        .send(Message::text(
            r#"451-["ping",{"_placeholder":true,"num":0}]"#,
        ))
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(frame)) = socket.next().await {
            if let Message::Close(frame) = frame {
                return frame.map(|frame| u16::from(frame.code));
            }
        }
        None
    })
    .await
    .expect("the server closes the websocket");
    assert_eq!(closed, Some(1000));
}
