//! ntfy's subscribe protocol, spoken to as ntfy's clients do: the JSON
//! stream read line by line, Server-Sent Events, raw lines and the
//! WebSocket, with `since=` and `poll=1`. Each test serves the ntfy router
//! alone on 127.0.0.1, without the rest of the app.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use clavox::notify::ntfy::{self, NtfyMessage, Settings, Topics};
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// A topic name as the server hands them out: 128 bits in hex.
const TOPIC: &str = "5f0c2a9e7d3b4c1a8e6f2d0b9a7c3e51";
/// Long enough that no keepalive interrupts a test that is not about them.
const NO_KEEPALIVE: Duration = Duration::from_secs(3600);
/// How long to wait for anything the server should do at once.
const WAIT: Duration = Duration::from_secs(5);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Server {
    address: SocketAddr,
    topics: Topics,
    known: Arc<Mutex<HashSet<String>>>,
    shutdown: CancellationToken,
    serving: JoinHandle<()>,
    client: reqwest::Client,
}

impl Server {
    async fn spawn() -> Self {
        Self::spawn_with_keepalive(NO_KEEPALIVE).await
    }

    async fn spawn_with_keepalive(keepalive: Duration) -> Self {
        let shutdown = CancellationToken::new();
        let mut settings = Settings::new(shutdown.clone());
        settings.keepalive = keepalive;
        let known = Arc::new(Mutex::new(HashSet::from([TOPIC.to_owned()])));
        let topics = Topics::new(settings, {
            let known = Arc::clone(&known);
            move |topic| known.lock().unwrap().contains(topic)
        });
        let app = Router::new()
            .nest("/notify", ntfy::router())
            .with_state(topics.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let stopped = shutdown.clone().cancelled_owned();
        let serving = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
                .unwrap();
        });
        Self {
            address,
            topics,
            known,
            shutdown,
            serving,
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/notify/{path}", self.address)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        timeout(WAIT, self.client.get(self.url(path)).send())
            .await
            .expect("the server answers")
            .unwrap()
    }

    /// A streaming subscription, read line by line.
    async fn subscribe(&self, path: &str) -> Lines {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        Lines {
            response,
            buffer: Vec::new(),
        }
    }

    async fn connect(&self, path: &str) -> Socket {
        let url = format!("ws://{}/notify/{path}", self.address);
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        socket
    }

    fn publish(&self, text: &str) -> String {
        self.topics.publish(
            TOPIC,
            NtfyMessage {
                message: text.into(),
                ..NtfyMessage::default()
            },
        )
    }

    /// What the owner of a topic does when replacing it.
    fn replace_topic(&self) {
        self.known.lock().unwrap().remove(TOPIC);
        self.topics.forget(TOPIC);
    }
}

struct Lines {
    response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Lines {
    /// The next line without its `\n`, or `None` once the body has ended.
    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|byte| *byte == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Some(String::from_utf8(line[..end].to_vec()).unwrap());
            }
            let chunk = timeout(WAIT, self.response.chunk())
                .await
                .expect("a line or the end in time")
                .unwrap();
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => {
                    assert!(self.buffer.is_empty(), "a partial line at the end");
                    return None;
                }
            }
        }
    }

    async fn event(&mut self) -> Value {
        let line = self.next().await.expect("an event");
        serde_json::from_str(&line).unwrap()
    }

    /// The lines of the next Server-Sent Event.
    async fn sse_block(&mut self) -> Vec<String> {
        let mut block = Vec::new();
        while let Some(line) = self.next().await {
            if line.is_empty() {
                return block;
            }
            block.push(line);
        }
        panic!("the stream ended inside an event: {block:?}");
    }

    async fn ended(&mut self) -> bool {
        self.next().await.is_none()
    }
}

/// The next text frame as JSON, skipping control frames.
async fn frame(socket: &mut Socket) -> Value {
    loop {
        let received = timeout(WAIT, socket.next()).await.expect("a frame in time");
        match received.expect("the socket is open").unwrap() {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// The close code the server ends the socket with.
async fn close_code(socket: &mut Socket) -> u16 {
    loop {
        let received = timeout(WAIT, socket.next()).await.expect("a close in time");
        match received {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(Message::Text(text))) if text.contains("keepalive") => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

fn texts(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["message"].as_str().unwrap())
        .collect()
}

fn now() -> i64 {
    clavox::timestamp::Timestamp::now().seconds()
}

fn assert_ntfy_id(value: &Value) {
    let id = value.as_str().expect("a string id");
    assert_eq!(id.len(), 12, "{id}");
    assert!(id.bytes().all(|byte| byte.is_ascii_alphanumeric()), "{id}");
}

#[tokio::test]
async fn a_json_subscriber_gets_open_then_messages_in_the_ntfy_format() {
    let server = Server::spawn().await;
    let mut lines = server.subscribe(&format!("{TOPIC}/json")).await;
    assert_eq!(
        lines.response.headers()["content-type"],
        "application/x-ndjson; charset=utf-8"
    );

    let open = lines.event().await;
    assert_eq!(open["event"], "open");
    assert_eq!(open["topic"], TOPIC);
    assert_ntfy_id(&open["id"]);
    assert!((open["time"].as_i64().unwrap() - now()).abs() <= 2);
    assert!(open.get("message").is_none() && open.get("expires").is_none());

    let id = server.topics.publish(
        TOPIC,
        NtfyMessage {
            title: "Ana".into(),
            message: "Halo!".into(),
            click: Some("http://192.168.1.20:5000/#/chats/42".into()),
            priority: 4,
            tags: vec!["speech_balloon".into()],
        },
    );
    let message = lines.event().await;
    assert_eq!(message["id"], id.as_str());
    assert_ntfy_id(&message["id"]);
    assert_eq!(message["event"], "message");
    assert_eq!(message["topic"], TOPIC);
    assert_eq!(message["title"], "Ana");
    assert_eq!(message["message"], "Halo!");
    assert_eq!(message["click"], "http://192.168.1.20:5000/#/chats/42");
    assert_eq!(message["priority"], 4);
    assert_eq!(message["tags"], serde_json::json!(["speech_balloon"]));
    let time = message["time"].as_i64().expect("time in unix seconds");
    assert!((time - now()).abs() <= 2);
    assert_eq!(message["expires"].as_i64(), Some(time + 12 * 3600));
}

#[tokio::test]
async fn json_keepalives_come_at_the_configured_interval() {
    let server = Server::spawn_with_keepalive(Duration::from_millis(150)).await;
    let mut lines = server.subscribe(&format!("{TOPIC}/json")).await;
    assert_eq!(lines.event().await["event"], "open");
    let started = Instant::now();
    for _ in 0..2 {
        let keepalive = lines.event().await;
        assert_eq!(keepalive["event"], "keepalive");
        assert_eq!(keepalive["topic"], TOPIC);
        assert_ntfy_id(&keepalive["id"]);
        assert!(keepalive["time"].is_i64());
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn sse_names_its_events_and_carries_ntfy_json_as_data() {
    let server = Server::spawn_with_keepalive(Duration::from_millis(150)).await;
    let mut sse = server.subscribe(&format!("{TOPIC}/sse")).await;
    assert_eq!(
        sse.response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let open = sse.sse_block().await;
    assert_eq!(open[0], "event: open");
    let data: Value = serde_json::from_str(open[1].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(data["event"], "open");

    let keepalive = sse.sse_block().await;
    assert_eq!(keepalive[0], "event: keepalive");

    let id = server.publish("Halo!");
    let message = loop {
        let block = sse.sse_block().await;
        if block[0] != "event: keepalive" {
            break block;
        }
    };
    assert_eq!(message[0], format!("id: {id}"));
    let data: Value = serde_json::from_str(message[1].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(
        (data["event"].as_str(), data["id"].as_str()),
        (Some("message"), Some(id.as_str()))
    );
    assert_eq!(data["message"], "Halo!");
}

#[tokio::test]
async fn raw_writes_message_text_one_per_line_and_keepalives_as_empty_lines() {
    let server = Server::spawn_with_keepalive(Duration::from_millis(150)).await;
    let mut raw = server.subscribe(&format!("{TOPIC}/raw")).await;
    assert_eq!(
        raw.response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(raw.next().await.as_deref(), Some(""), "open");
    assert_eq!(raw.next().await.as_deref(), Some(""), "keepalive");
    server.publish("Halo!");
    server.publish("two\nlines");
    let mut messages = Vec::new();
    while messages.len() < 2 {
        let line = raw.next().await.unwrap();
        if !line.is_empty() {
            messages.push(line);
        }
    }
    assert_eq!(messages, ["Halo!", "two lines"]);
}

#[tokio::test]
async fn the_websocket_sends_each_event_as_one_json_text_frame() {
    let server = Server::spawn_with_keepalive(Duration::from_millis(150)).await;
    let mut socket = server.connect(&format!("{TOPIC}/ws")).await;
    let open = frame(&mut socket).await;
    assert_eq!(
        (open["event"].as_str(), open["topic"].as_str()),
        (Some("open"), Some(TOPIC))
    );
    assert_eq!(frame(&mut socket).await["event"], "keepalive");
    let id = server.publish("Halo!");
    let message = loop {
        let event = frame(&mut socket).await;
        if event["event"] != "keepalive" {
            break event;
        }
    };
    assert_eq!(message["event"], "message");
    assert_eq!(message["id"], id.as_str());
    assert_eq!(message["message"], "Halo!");
}

#[tokio::test]
async fn since_all_replays_the_cache_after_open_then_streams_on() {
    let server = Server::spawn().await;
    server.publish("one");
    server.publish("two");
    let mut lines = server.subscribe(&format!("{TOPIC}/json?since=all")).await;
    assert_eq!(lines.event().await["event"], "open");
    let replayed = [lines.event().await, lines.event().await];
    assert_eq!(texts(&replayed), ["one", "two"]);
    server.publish("three");
    assert_eq!(lines.event().await["message"], "three");
}

#[tokio::test]
async fn since_an_id_replays_only_later_messages_on_json_and_websocket() {
    let server = Server::spawn().await;
    let first = server.publish("one");
    server.publish("two");
    server.publish("three");

    let mut lines = server
        .subscribe(&format!("{TOPIC}/json?since={first}"))
        .await;
    assert_eq!(lines.event().await["event"], "open");
    let replayed = [lines.event().await, lines.event().await];
    assert_eq!(texts(&replayed), ["two", "three"]);

    let mut socket = server.connect(&format!("{TOPIC}/ws?since={first}")).await;
    assert_eq!(frame(&mut socket).await["event"], "open");
    let replayed = [frame(&mut socket).await, frame(&mut socket).await];
    assert_eq!(texts(&replayed), ["two", "three"]);
}

#[tokio::test]
async fn since_a_duration_or_a_timestamp_selects_by_time() {
    let server = Server::spawn().await;
    server.publish("recent");

    let mut lines = server.subscribe(&format!("{TOPIC}/json?since=10m")).await;
    assert_eq!(lines.event().await["event"], "open");
    assert_eq!(lines.event().await["message"], "recent");

    let later = now() + 3600;
    let mut lines = server
        .subscribe(&format!("{TOPIC}/json?since={later}"))
        .await;
    assert_eq!(lines.event().await["event"], "open");
    server.publish("live");
    assert_eq!(
        lines.event().await["message"],
        "live",
        "nothing cached is that new"
    );
}

#[tokio::test]
async fn without_since_a_live_stream_starts_with_the_next_message() {
    let server = Server::spawn().await;
    server.publish("old");
    let mut lines = server.subscribe(&format!("{TOPIC}/json")).await;
    assert_eq!(lines.event().await["event"], "open");
    server.publish("new");
    assert_eq!(lines.event().await["message"], "new");
}

#[tokio::test]
async fn poll_returns_the_cached_messages_and_ends() {
    let server = Server::spawn().await;
    let first = server.publish("one");
    server.publish("two");

    let mut lines = server.subscribe(&format!("{TOPIC}/json?poll=1")).await;
    let polled = [lines.event().await, lines.event().await];
    assert_eq!(texts(&polled), ["one", "two"]);
    assert!(lines.ended().await, "no open, no keepalive, then the end");

    let mut lines = server
        .subscribe(&format!("{TOPIC}/json?poll=1&since={first}"))
        .await;
    assert_eq!(lines.event().await["message"], "two");
    assert!(lines.ended().await);

    let raw = server.get(&format!("{TOPIC}/raw?poll=1")).await;
    assert_eq!(raw.text().await.unwrap(), "one\ntwo\n");

    let mut socket = server.connect(&format!("{TOPIC}/ws?poll=1")).await;
    let polled = [frame(&mut socket).await, frame(&mut socket).await];
    assert_eq!(texts(&polled), ["one", "two"]);
    assert_eq!(close_code(&mut socket).await, 1000);
}

#[tokio::test]
async fn a_message_published_while_the_phone_was_away_arrives_when_it_reconnects() {
    let server = Server::spawn().await;
    let mut lines = server.subscribe(&format!("{TOPIC}/json")).await;
    lines.event().await;
    let seen = server.publish("seen");
    assert_eq!(lines.event().await["id"], seen.as_str());
    drop(lines);

    server.publish("while away");
    let mut lines = server
        .subscribe(&format!("{TOPIC}/json?since={seen}"))
        .await;
    assert_eq!(lines.event().await["event"], "open");
    assert_eq!(lines.event().await["message"], "while away");
}

#[tokio::test]
async fn unknown_topics_answer_404_in_the_ntfy_error_shape() {
    let server = Server::spawn().await;
    let unknown = "00000000000000000000000000000000";
    for endpoint in ["json", "sse", "raw", "auth", "json?poll=1"] {
        let response = server.get(&format!("{unknown}/{endpoint}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{endpoint}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], 40401, "{endpoint}");
        assert_eq!(body["http"], 404);
        assert!(body["error"].is_string());
    }
    let url = format!("ws://{}/notify/{unknown}/ws", server.address);
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
        }
        other => panic!("expected a 404 handshake, got {other:?}"),
    }
}

#[tokio::test]
async fn a_known_topic_passes_the_access_check_of_the_ntfy_app() {
    let server = Server::spawn().await;
    let response = server.get(&format!("{TOPIC}/auth")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"success": true})
    );
}

#[tokio::test]
async fn subscribing_is_get_only_and_a_bad_since_is_refused() {
    let server = Server::spawn().await;
    let posted = server
        .client
        .post(server.url(&format!("{TOPIC}/json")))
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);

    let response = server.get(&format!("{TOPIC}/json?since=yesterday")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["code"].as_i64(), body["http"].as_i64()),
        (Some(40008), Some(400))
    );
}

#[tokio::test]
async fn forgetting_a_topic_closes_its_live_streams() {
    let server = Server::spawn().await;
    server.publish("cached");
    let mut json = server.subscribe(&format!("{TOPIC}/json")).await;
    let mut sse = server.subscribe(&format!("{TOPIC}/sse")).await;
    let mut socket = server.connect(&format!("{TOPIC}/ws")).await;
    json.event().await;
    sse.sse_block().await;
    frame(&mut socket).await;

    server.replace_topic();
    assert!(json.ended().await);
    assert!(sse.ended().await);
    assert_eq!(close_code(&mut socket).await, 1000);

    let again = server.get(&format!("{TOPIC}/json?poll=1")).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cancelling_shutdown_ends_every_stream_and_lets_the_server_stop() {
    let server = Server::spawn().await;
    let mut json = server.subscribe(&format!("{TOPIC}/json")).await;
    let mut raw = server.subscribe(&format!("{TOPIC}/raw")).await;
    let mut socket = server.connect(&format!("{TOPIC}/ws")).await;
    json.event().await;
    raw.next().await;
    frame(&mut socket).await;

    server.shutdown.cancel();
    assert!(json.ended().await);
    assert!(raw.ended().await);
    assert_eq!(close_code(&mut socket).await, 1001);
    drop(socket);
    timeout(WAIT, server.serving)
        .await
        .expect("graceful shutdown finishes")
        .unwrap();
}
