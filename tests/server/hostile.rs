//! Hostile clients over real sockets on 127.0.0.1: a slow-loris head, a
//! stalled body, one address flooding the realtime endpoints, and paths that
//! try to climb out of the web app and the upload store. Timeouts are set
//! to a second so the tests stay fast.

use std::time::{Duration, Instant};

use futures_util::stream;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{TestApp, phone, raw_exchange, raw_get};

const FAST_TIMEOUTS: [(&str, &str); 2] = [("--header-timeout", "1s"), ("--body-timeout", "1s")];

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off_while_others_are_served() {
    let app = TestApp::spawn_with(&FAST_TIMEOUTS).await;
    let mut slow = TcpStream::connect(app.address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        .await
        .unwrap();
    let (mut reader, mut writer) = slow.into_split();
    // Trickles a byte every 200 ms: progress, but never a whole head.
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let started = Instant::now();
    for _ in 0..3 {
        let (status, body) = app.call(reqwest::Method::GET, "/healthz", None, None).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("ok"))
        );
    }
    let mut answer = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut answer)).await;
    assert!(
        closed.is_ok(),
        "the slow client was still connected after 10 s"
    );
    assert!(started.elapsed() >= Duration::from_millis(900));
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    trickle.abort();
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(&FAST_TIMEOUTS).await;
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "an idle connection stayed open");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn a_stalled_json_body_is_answered_408_request_timeout() {
    let app = TestApp::spawn_with(&FAST_TIMEOUTS).await;
    let head = "POST /api/auth/send-otp HTTP/1.1\r\nHost: localhost\r\n\
                Content-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    let started = Instant::now();
    let answer = raw_exchange(&app, head, b"{\"phoneNumber\":", Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_stalled_upload_is_answered_408_and_nothing_is_kept() {
    let app = TestApp::spawn_with(&FAST_TIMEOUTS).await;
    let user = app.login(&phone(990_001)).await;
    let head = format!(
        "POST /api/uploads?name=a.bin HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n",
        user.access
    );
    let answer = raw_exchange(&app, &head, &[7; 1000], Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert_eq!(upload_files(&app), Vec::<String>::new());
}

/// The files in the data directory's `uploads/`, partial ones included.
fn upload_files(app: &TestApp) -> Vec<String> {
    let dir = app.data_dir().join("uploads");
    let mut names: Vec<String> = walk(&dir)
        .into_iter()
        .map(|path| path.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    names.sort();
    names
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn a_slow_upload_that_keeps_moving_is_not_cut_off() {
    let app = TestApp::spawn_with(&FAST_TIMEOUTS).await;
    let user = app.login(&phone(990_002)).await;
    // 12 chunks 250 ms apart: three times the body timeout in all, never
    // idle for longer than a quarter of it.
    let chunks = stream::unfold(0u8, |sent| async move {
        if sent == 12 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        Some((Ok::<_, std::io::Error>(vec![sent; 4096]), sent + 1))
    });
    let response = app.upload_stream(&user.access, "slow.bin", chunks).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["size"], 12 * 4096);
}

/// A `/ws` upgrade as a client behind a trusted proxy at `ip`.
async fn ws_from(
    app: &TestApp,
    ip: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    tungstenite::Error,
> {
    let mut request = format!("ws://{}/ws", app.address)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("x-forwarded-for", ip.parse().unwrap());
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(stream, _)| stream)
}

fn assert_rate_limited(refused: Result<impl Sized, tungstenite::Error>) {
    match refused {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            assert!(response.headers().contains_key("retry-after"));
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["code"], "rate_limited");
            assert!(body["retryAfter"].as_u64().is_some());
        }
        Err(other) => panic!("expected a 429, got {other}"),
        Ok(_) => panic!("expected a 429, the upgrade was accepted"),
    }
}

#[tokio::test]
async fn one_address_gets_its_share_of_sockets_and_a_closed_one_lets_another_in() {
    let app =
        TestApp::spawn_with(&[("--trust-proxy", "true"), ("--max-sockets-per-ip", "3")]).await;
    let flooder = "198.51.100.7";
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(ws_from(&app, flooder).await.expect("within the cap"));
    }
    assert_rate_limited(ws_from(&app, flooder).await);
    // Socket.IO counts against the same share: no new session either.
    let polling = app
        .client
        .get(app.url("/socket.io/?EIO=4&transport=polling"))
        .header("x-forwarded-for", flooder)
        .send()
        .await
        .unwrap();
    assert_eq!(polling.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(polling.headers().contains_key("retry-after"));
    let body: Value = polling.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    // Others are not affected.
    let _neighbour = ws_from(&app, "198.51.100.8")
        .await
        .expect("another address");

    let mut first = sockets.remove(0);
    futures_util::SinkExt::send(&mut first, Message::Close(None))
        .await
        .unwrap();
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ws_from(&app, flooder).await {
            Ok(socket) => {
                sockets.push(socket);
                break;
            }
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the freed place was not given back: {error}"),
        }
    }
    assert_rate_limited(ws_from(&app, flooder).await);
}

#[tokio::test]
async fn loopback_clients_are_not_capped() {
    let app = TestApp::spawn_with(&[("--max-sockets-per-ip", "2")]).await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        sockets.push(app.connect_ws(None).await);
    }
}

#[tokio::test]
async fn paths_that_climb_out_of_the_web_app_find_nothing() {
    let app = TestApp::spawn().await;
    let (_, index) = raw_get(&app, "/").await;
    let version = index
        .split("/assets/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("index.html names its asset version")
        .to_owned();
    let (status, _) = raw_get(&app, &format!("/assets/{version}/app.css")).await;
    assert_eq!(status, 200, "a real asset is served");
    let assets = [
        "../../Cargo.toml",
        "../../src/main.rs",
        "%2e%2e/%2e%2e/Cargo.toml",
        "..%2f..%2fCargo.toml",
        "..%5c..%5cCargo.toml",
        "js/../../Cargo.toml",
        "/etc/passwd",
        "%2fetc%2fpasswd",
        "//etc/passwd",
        "app.css%00.txt",
        "./app.css",
    ];
    for asset in assets {
        let (status, body) = raw_get(&app, &format!("/assets/{version}/{asset}")).await;
        assert!(
            matches!(status, 400 | 404),
            "/assets/{version}/{asset}: {status}"
        );
        assert_no_secret(&body, asset);
    }
    // Outside /assets/ every path is an app route: index.html, never a file.
    for path in [
        "/../Cargo.toml",
        "/%2e%2e/%2e%2e/Cargo.toml",
        "/..%2f..%2fetc%2fpasswd",
        "/static/..%2f..%2fCargo.toml",
        "//etc/passwd",
        "/a\\..\\Cargo.toml",
    ] {
        let (status, body) = raw_get(&app, path).await;
        assert!(matches!(status, 200 | 400 | 404), "{path}: {status}");
        assert_no_secret(&body, path);
        if status == 200 {
            assert!(body.contains("<html"), "{path} served something else");
        }
    }
    // hyper refuses what is not a valid request target at all.
    for target in ["/assets/x/a\0b", "/a\0/../Cargo.toml"] {
        let (status, body) = raw_get(&app, target).await;
        assert!(matches!(status, 0 | 400 | 404), "{target:?}: {status}");
        assert_no_secret(&body, target);
    }
}

fn assert_no_secret(body: &str, path: &str) {
    for secret in ["[package]", "root:", "fn main", "jwt"] {
        assert!(!body.contains(secret), "{path} leaked {secret}");
    }
}

#[tokio::test]
async fn upload_ids_that_are_not_ids_find_nothing() {
    let app = TestApp::spawn().await;
    for id in [
        "..%2f..%2fclavox.redb",
        "..%2F..%2FCargo.toml",
        "%2e%2e",
        "..",
        "abc",
        "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcde%00",
        "partial",
        "%2fetc%2fpasswd",
    ] {
        let (status, body) = raw_get(&app, &format!("/api/uploads/{id}")).await;
        assert_eq!(status, 404, "/api/uploads/{id}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        assert_eq!(body["code"], "not_found", "/api/uploads/{id}");
    }
    let (status, _) = raw_get(&app, "/api/uploads/../../Cargo.toml").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_uploaded_file_name_cannot_place_the_file_anywhere() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(990_003)).await;
    let cases = [
        ("../../x", "x"),
        ("..%2F..%2Fevil.txt", "evil.txt"),
        ("..\\..\\win.txt", "win.txt"),
        ("/etc/passwd", "passwd"),
        ("..", "file"),
        ("a%00b.txt", "ab.txt"),
    ];
    // The names a traversal would write, as they stand before the uploads
    // (`../x` is outside the test's own directory: another program may
    // have made it).
    let root = app.data_dir();
    let strays = ["x", "evil.txt", "win.txt", "../x", "../evil.txt"];
    let before: Vec<bool> = strays
        .iter()
        .map(|stray| root.join(stray).exists())
        .collect();
    let mut ids = Vec::new();
    for (name, kept) in cases {
        let response = app
            .client
            .post(app.url(&format!("/api/uploads?name={name}")))
            .bearer_auth(&user.access)
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["name"], kept, "{name}");
        let id = body["id"].as_str().unwrap().to_owned();
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));
        ids.push(id);
    }
    // Every file sits in uploads/, named by its id, and nowhere else.
    ids.sort();
    let mut files = upload_files(&app);
    files.retain(|file| !file.starts_with("partial"));
    assert_eq!(files, ids);
    for (stray, existed) in strays.iter().zip(before) {
        assert!(existed || !root.join(stray).exists(), "{stray} was written");
    }
}
