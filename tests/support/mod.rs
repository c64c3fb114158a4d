//! The test harness: `TestApp::spawn()` starts the real router on a free
//! port of 127.0.0.1 with a temporary data directory and a code sender that
//! records codes instead of printing them, and offers typed helpers;
//! `process` runs the real binary. Shared by both test binaries, each of
//! which uses part of it.

#![allow(dead_code)]

pub mod nats;
pub mod postgres;
pub mod process;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use clavox::app;
use clavox::auth::delivery::{OtpMessage, OtpSender, SendFuture};
use clavox::auth::keys::Keys;
use clavox::config::Config;
use clavox::http::AppState;
use clavox::store::Store;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A unique, valid Indonesian mobile number for test `n`.
pub fn phone(n: u32) -> String {
    format!("+62812{:07}", n % 10_000_000)
}

/// Remembers every code instead of delivering it.
#[derive(Default)]
pub struct RecordingSender {
    codes: Mutex<HashMap<String, Vec<String>>>,
}

impl RecordingSender {
    pub fn last_code(&self, phone: &str) -> Option<String> {
        self.codes
            .lock()
            .unwrap()
            .get(phone)
            .and_then(|codes| codes.last().cloned())
    }

    pub fn count(&self, phone: &str) -> usize {
        self.codes.lock().unwrap().get(phone).map_or(0, Vec::len)
    }
}

impl OtpSender for RecordingSender {
    fn send<'a>(&'a self, message: &'a OtpMessage) -> SendFuture<'a> {
        self.codes
            .lock()
            .unwrap()
            .entry(message.phone.clone())
            .or_default()
            .push(message.code.clone());
        Box::pin(async { Ok(()) })
    }

    fn describe(&self) -> String {
        "recorded by the tests".into()
    }
}

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    config: Config,
}

/// Settings every test server starts with; each can be overridden.
const TEST_DEFAULTS: [(&str, &str); 5] = [
    // Tests send nothing beyond 127.0.0.1.
    ("--mdns", "false"),
    ("--otp-cooldown", "0"),
    ("--auth-rate-limit-max", "100000"),
    ("--rate-limit-max-requests", "1000000"),
    ("--host", "127.0.0.1"),
];

pub fn config_for(data_dir: &Path, overrides: &[(&str, &str)]) -> Config {
    let mut settings: BTreeMap<&str, &str> = TEST_DEFAULTS.into_iter().collect();
    settings.extend(overrides.iter().copied());
    let data_dir = data_dir.to_str().unwrap().to_owned();
    let mut argv = vec!["clavox".to_owned(), "--data-dir".to_owned(), data_dir];
    for (flag, value) in settings {
        argv.push(format!("{flag}={value}"));
    }
    let config = Args::try_parse_from(argv)
        .expect("test settings parse")
        .config;
    config.validate().expect("test settings are valid");
    config
}

enum Delivery {
    Recorded,
    FromSettings,
}

pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub codes: Arc<RecordingSender>,
    /// The HTTPS port's address, for a server started with one.
    pub https: Option<SocketAddr>,
    dir: Option<TempDir>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Login {
    pub phone: String,
    pub id: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        Self::spawn_in(tempfile::tempdir().unwrap(), overrides).await
    }

    /// Starts a server on an existing data directory (to test restarts).
    pub async fn spawn_in(dir: TempDir, overrides: &[(&str, &str)]) -> Self {
        Self::start(dir, overrides, Delivery::Recorded).await
    }

    /// Starts a server with HTTPS beside HTTP, its certificate from its own
    /// local authority (`TLS=auto`), as `clavox serve` runs by default.
    pub async fn spawn_with_https() -> Self {
        Self::start(
            tempfile::tempdir().unwrap(),
            &[("--tls", "auto")],
            Delivery::Recorded,
        )
        .await
    }

    /// Starts a server that delivers codes the way its settings say
    /// (webhook, Twilio), not through the recorder.
    pub async fn spawn_delivering(overrides: &[(&str, &str)]) -> Self {
        Self::start(
            tempfile::tempdir().unwrap(),
            overrides,
            Delivery::FromSettings,
        )
        .await
    }

    async fn start(dir: TempDir, overrides: &[(&str, &str)], delivery: Delivery) -> Self {
        if std::env::var_os("CLAVOX_TEST_LOG").is_some() {
            clavox::telemetry::init(clavox::config::LogFormat::Pretty, std::io::stderr);
        }
        let config = config_for(dir.path(), overrides);
        let store = Store::open(&config.data_dir).expect("store opens");
        let keys = Keys::load(&config).expect("keys load");
        let codes = Arc::new(RecordingSender::default());
        let sender: Arc<dyn OtpSender> = match delivery {
            Delivery::Recorded => codes.clone(),
            Delivery::FromSettings => {
                clavox::auth::delivery::from_config(&config).expect("delivery settings are valid")
            }
        };
        let https = if overrides.contains(&("--tls", "auto")) {
            clavox::tls::Https::prepare(&config).expect("HTTPS prepares")
        } else {
            None
        };
        let mut state = AppState::new(config, store, &keys, sender).expect("state builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut ports = vec![clavox::listener::Port::plain(listener)];
        let mut https_address = None;
        if let Some(https) = https {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let local = listener.local_addr().unwrap();
            state = state.with_https(https.public(local.port()));
            ports.push(clavox::listener::Port {
                listener,
                tls: Some(https.acceptor.clone()),
            });
            https_address = Some(local);
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app::serve(ports, state, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            address,
            client,
            codes,
            https: https_address,
            dir: Some(dir),
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.as_ref().unwrap().path().to_owned()
    }

    /// Shuts down gracefully and hands back the data directory.
    pub async fn stop(mut self) -> TempDir {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), self.server.take().unwrap())
            .await
            .expect("server stops in time")
            .unwrap();
        self.dir.take().unwrap()
    }

    /// Runs an admin command through the admin socket, as `clavox users ...`
    /// does against a running server; waits for the socket, which the server
    /// opens just after it starts.
    pub async fn admin(&self, request: clavox::admin::Request) -> Vec<String> {
        for _ in 0..100 {
            if let Some(answer) = clavox::admin::ask(&self.data_dir(), &request)
                .await
                .unwrap()
            {
                assert!(answer.ok, "{request:?}: {:?}", answer.lines);
                return answer.lines;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the admin socket never answered");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// Sends `method path` with an optional bearer token and JSON body;
    /// returns the status and the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request is answered");
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// Uploads `chunks` as `name`, streamed without a length (as a client
    /// reading a file piece by piece sends it).
    pub async fn upload_stream<S>(&self, token: &str, name: &str, chunks: S) -> reqwest::Response
    where
        S: futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + Sync + 'static,
    {
        self.client
            .post(self.url(&format!("/api/uploads?name={name}")))
            .bearer_auth(token)
            .header("content-type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap()
    }

    pub async fn send_otp(&self, phone: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/api/auth/send-otp",
            None,
            Some(json!({ "phoneNumber": phone })),
        )
        .await
    }

    pub async fn verify(&self, phone: &str, code: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            "/api/auth/verify-otp",
            None,
            Some(json!({ "phoneNumber": phone, "otp": code })),
        )
        .await
    }

    /// Logs in by the real path: send a code, read it from the recorder, verify.
    pub async fn login(&self, phone: &str) -> Login {
        let (status, body) = self.send_otp(phone).await;
        assert_eq!(status, StatusCode::OK, "send-otp: {body}");
        let code = self.codes.last_code(phone).expect("a code was sent");
        let (status, body) = self.verify(phone, &code).await;
        assert_eq!(status, StatusCode::OK, "verify-otp: {body}");
        Login {
            phone: phone.to_owned(),
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            access: body["accessToken"].as_str().unwrap().to_owned(),
            refresh: body["refreshToken"].as_str().unwrap().to_owned(),
        }
    }

    /// `login` for an owned number (handy with `join_all`).
    pub async fn login_owned(&self, phone: String) -> Login {
        self.login(&phone).await
    }

    pub async fn private_chat(&self, a: &Login, b: &Login) -> String {
        let (status, chat) = self
            .post(
                "/api/chats",
                &a.access,
                json!({ "type": "private", "participants": [b.id] }),
            )
            .await;
        assert!(status.is_success(), "create chat: {chat}");
        chat["id"].as_str().unwrap().to_owned()
    }

    pub async fn group(&self, admin: &Login, members: &[&Login], name: &str) -> String {
        let ids: Vec<&str> = members.iter().map(|member| member.id.as_str()).collect();
        let (status, chat) = self
            .post(
                "/api/chats",
                &admin.access,
                json!({ "type": "group", "name": name, "participants": ids }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create group: {chat}");
        chat["id"].as_str().unwrap().to_owned()
    }

    pub async fn send_message(&self, who: &Login, chat: &str, text: &str) -> Value {
        let (status, message) = self
            .post(
                &format!("/api/chats/{chat}/messages"),
                &who.access,
                json!({ "content": text }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "send: {message}");
        message
    }

    pub async fn connect_ws(&self, token: Option<&str>) -> Ws {
        let url = match token {
            Some(token) => format!("ws://{}/ws?token={token}", self.address),
            None => format!("ws://{}/ws", self.address),
        };
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Ws {
            stream,
            next_id: 1,
            closed_with: None,
        }
    }

    /// A socket authenticated by `join_user`, its ack consumed.
    pub async fn joined_ws(&self, login: &Login) -> Ws {
        let mut ws = self.connect_ws(None).await;
        let ack = ws
            .request("join_user", json!({ "token": login.access }))
            .await;
        assert_eq!(ack["event"], "ack", "join_user: {ack}");
        ws
    }
}

/// A WebSocket test client speaking the `/ws` protocol.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: i64,
    /// The server's close frame, once `next_frame` has read it.
    closed_with: Option<Option<u16>>,
}

/// How long a test waits for an expected frame.
pub const FRAME_WAIT: Duration = Duration::from_secs(10);

impl Ws {
    /// Connects to a `/ws` URL of any server (a child process's, say).
    pub async fn connect(url: &str) -> Self {
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Self {
            stream,
            next_id: 1,
            closed_with: None,
        }
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.stream.send(message).await.expect("frame is sent");
    }

    pub async fn emit(&mut self, event: &str, data: Value) {
        self.send_raw(Message::text(
            json!({ "event": event, "data": data }).to_string(),
        ))
        .await;
    }

    /// Sends a frame with a fresh `id` and waits for its `ack` or `error`,
    /// skipping pushed events.
    pub async fn request(&mut self, event: &str, data: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send_raw(Message::text(
            json!({ "event": event, "data": data, "id": id }).to_string(),
        ))
        .await;
        loop {
            let frame = self
                .next_frame()
                .await
                .unwrap_or_else(|| panic!("socket closed before answering {event}"));
            if frame["id"] == id {
                return frame;
            }
        }
    }

    /// The next JSON text frame, or `None` once the socket is closed.
    pub async fn next_frame(&mut self) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(FRAME_WAIT, self.stream.next())
                .await
                .expect("a frame arrives in time")?;
            match message {
                Ok(Message::Text(text)) => {
                    return Some(serde_json::from_str(&text).expect("frames are JSON"));
                }
                Ok(Message::Close(frame)) => {
                    self.closed_with = Some(frame.map(|frame| u16::from(frame.code)));
                    return None;
                }
                Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Waits for the next event called `name`, skipping others.
    pub async fn wait_for(&mut self, name: &str) -> Value {
        loop {
            let frame = self
                .next_frame()
                .await
                .unwrap_or_else(|| panic!("socket closed while waiting for {name}"));
            if frame["event"] == name {
                return frame["data"].clone();
            }
        }
    }

    /// Whether an event called `name` arrives within `wait`.
    pub async fn receives_within(&mut self, name: &str, wait: Duration) -> bool {
        tokio::time::timeout(wait, async {
            while let Some(frame) = self.next_frame().await {
                if frame["event"] == name {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false)
    }

    /// Reads until the server closes the socket; returns the close code.
    pub async fn close_code(&mut self) -> Option<u16> {
        if let Some(code) = self.closed_with {
            return code;
        }
        loop {
            match tokio::time::timeout(Duration::from_secs(30), self.stream.next())
                .await
                .expect("socket closes in time")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|frame| u16::from(frame.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// Sends `head` (and `body`) on a fresh connection, then reads until the
/// server closes it or `wait` passes; returns all it answered.
pub async fn raw_exchange(app: &TestApp, head: &str, body: &[u8], wait: Duration) -> String {
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, body)
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        wait,
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer),
    )
    .await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// A complete `GET` of `target` exactly as written (no client normalises
/// the dots or the escapes away); returns the status line's code and the body.
pub async fn raw_get(app: &TestApp, target: &str) -> (u16, String) {
    let head = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let answer = raw_exchange(app, &head, b"", Duration::from_secs(10)).await;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}
