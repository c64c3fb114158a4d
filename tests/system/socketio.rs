//! Socket.IO at `/socket.io/`: the official `socket.io-client` (Node.js,
//! pinned by tests/socketio/package-lock.json) runs tests/socketio/client.mjs
//! against the real server and chats with a `/ws` peer that this test
//! drives: once with the default transports (polling, upgraded to
//! websocket), once forced onto long-polling. tests/socketio/edges.mjs
//! checks a foreign Origin and token expiry on each transport, SIGTERM with
//! sends in flight, and a client too slow to read.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command};

use crate::support::process::{Server, node_package};
use crate::support::{Login, TestApp, Ws, phone};

/// How long the script may take to reach its next step.
const STEP_WAIT: Duration = Duration::from_secs(60);

fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/socketio")
}

/// Whether Node.js and the pinned client are installed (see `process::node_package`).
fn node_available(test: &str) -> bool {
    node_package(test, &script_dir(), "socket.io-client")
}

/// The script's next JSON line.
async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> Value {
    let line = tokio::time::timeout(STEP_WAIT, lines.next_line())
        .await
        .expect("the socket.io client reaches its next step in time")
        .expect("the client's output is readable")
        .expect("the socket.io client ended early (its reason is on stderr above)");
    serde_json::from_str(&line).unwrap_or_else(|_| panic!("the client prints JSON lines: {line}"))
}

/// Waits for `name` on the `/ws` peer whose data satisfies `matches`.
async fn wait_on_ws(ws: &mut Ws, name: &str, matches: impl Fn(&Value) -> bool) -> Value {
    loop {
        let data = ws.wait_for(name).await;
        if matches(&data) {
            return data;
        }
    }
}

async fn is_online(app: &TestApp, viewer: &Login, user: &str) -> bool {
    let (status, body) = app.get(&format!("/api/users/{user}"), &viewer.access).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["isOnline"].as_bool().expect("isOnline")
}

/// Runs the script with `transport` (`default` or `polling`) and `auth`
/// (`handshake` or `join_user`) and plays the `/ws` peer's part.
async fn chat_with_a_ws_peer(transport: &str, auth: &str, n: u32) {
    let app = TestApp::spawn().await;
    let client = app.login(&phone(n)).await;
    let peer = app.login(&phone(n + 1)).await;
    let chat = app.private_chat(&peer, &client).await;
    let mut ws = app.joined_ws(&peer).await;

    // The script logs in by itself through REST with a fresh code.
    let (status, body) = app.send_otp(&client.phone).await;
    assert_eq!(status, StatusCode::OK, "send-otp: {body}");
    let code = app.codes.last_code(&client.phone).expect("a code was sent");
    let mut child = Command::new("node")
        .arg(script_dir().join("client.mjs"))
        .arg(app.url("/"))
        .args([transport, auth])
        .env("CLAVOX_PHONE", &client.phone)
        .env("CLAVOX_CODE", &code)
        .env("CLAVOX_CHAT", &chat)
        .env("CLAVOX_PEER", &peer.id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();

    let ready = next_line(&mut lines).await;
    assert_eq!(ready["step"], "ready", "{ready}");
    assert_eq!(ready["userId"], client.id.as_str(), "{ready}");
    // Presence counts the Socket.IO socket: the /ws peer saw it come online.
    let online = wait_on_ws(&mut ws, "user_status", |s| {
        s["userId"] == client.id.as_str()
    })
    .await;
    assert_eq!(online["status"], "online", "{online}");
    assert!(is_online(&app, &peer, &client.id).await);

    // The peer's part: a message, typing, offline and back online.
    let sent = ws
        .request(
            "send_message",
            json!({ "chatId": chat, "content": "hello from /ws" }),
        )
        .await;
    assert_eq!(sent["event"], "ack", "{sent}");
    let typing = ws.request("typing_start", json!({ "chatId": chat })).await;
    assert_eq!(typing["event"], "ack", "{typing}");
    ws.stream.close(None).await.expect("close frame is sent");
    while ws.next_frame().await.is_some() {}
    // Back online only once the client saw it go offline: a reconnect
    // before the offline is announced rightly leaves the peer online.
    let saw_offline = next_line(&mut lines).await;
    assert_eq!(saw_offline["step"], "peer_offline", "{saw_offline}");
    let mut ws = app.joined_ws(&peer).await;

    let result = next_line(&mut lines).await;
    let result = &result["result"];
    assert!(
        result.is_object(),
        "the client ends with its result: {result}"
    );
    let received = &result["received"]["message"];
    assert_eq!(received["id"], sent["data"]["id"], "{result}");
    assert_eq!(received["content"], "hello from /ws", "{result}");
    assert_eq!(
        result["received"]["typing"],
        json!({ "chatId": chat, "userId": peer.id, "isTyping": true }),
    );
    assert_eq!(result["received"]["offline"]["status"], "offline");
    assert_eq!(
        result["errors"],
        json!({ "missing": "not_found", "invalid": "validation_failed", "unknown": "unknown_event" }),
    );
    let expected_transport = if transport == "polling" {
        "polling"
    } else {
        "websocket"
    };
    assert_eq!(result["transport"], expected_transport, "{result}");
    if auth == "handshake" {
        assert_eq!(result["badTokenRefusal"], "unauthorized", "{result}");
    }
    assert_eq!(result["afterLogout"], "io server disconnect", "{result}");
    assert_eq!(result["burst"], 50, "{result}");

    // What the Socket.IO client did reached the /ws peer, as /ws data.
    let stored = &result["sent"];
    let message = wait_on_ws(&mut ws, "new_message", |m| m["id"] == stored["id"]).await;
    assert_eq!(&message, stored);
    assert_eq!(message["senderId"], client.id.as_str());
    let typing = wait_on_ws(&mut ws, "user_typing", |t| {
        t["userId"] == client.id.as_str()
    })
    .await;
    assert_eq!(typing["isTyping"], true, "{typing}");
    let read = wait_on_ws(&mut ws, "message_read", |r| {
        r["userId"] == client.id.as_str()
    })
    .await;
    assert_eq!(read["seq"], stored["seq"], "{read}");
    // Its disconnect ends its presence.
    let offline = wait_on_ws(&mut ws, "user_status", |s| {
        s["userId"] == client.id.as_str() && s["status"] == "offline"
    })
    .await;
    assert!(offline["lastSeen"].is_string(), "{offline}");
    assert!(!is_online(&app, &peer, &client.id).await);

    let status = tokio::time::timeout(STEP_WAIT, child.wait())
        .await
        .expect("the client exits")
        .unwrap();
    assert!(status.success(), "the client exits cleanly: {status}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_authenticated_by_handshake_chats_with_a_ws_peer() {
    if node_available("the_official_client_authenticated_by_handshake_chats_with_a_ws_peer") {
        chat_with_a_ws_peer("default", "handshake", 9101).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_on_long_polling_joins_by_join_user_and_chats_with_a_ws_peer() {
    if node_available(
        "the_official_client_on_long_polling_joins_by_join_user_and_chats_with_a_ws_peer",
    ) {
        chat_with_a_ws_peer("polling", "join_user", 9201).await;
    }
}

/// Runs `edges.mjs` with `scenario` over `transport` as `login`; its result.
async fn edge_case(app: &TestApp, login: &Login, scenario: &str, transport: &str) -> Value {
    let output = tokio::time::timeout(
        STEP_WAIT,
        Command::new("node")
            .arg(script_dir().join("edges.mjs"))
            .arg(app.url("/"))
            .args([scenario, transport])
            .env("CLAVOX_TOKEN", &login.access)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the script ends in time")
    .expect("node starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{scenario} over {transport}: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    line["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_is_refused_on_both_transports_and_our_own_let_in() {
    if !node_available("a_foreign_origin_is_refused_on_both_transports_and_our_own_let_in") {
        return;
    }
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(9301)).await;
    for transport in ["polling", "websocket"] {
        let result = edge_case(&app, &ana, "origin", transport).await;
        assert_eq!(result["ownOrigin"], "connected", "{transport}: {result}");
        assert!(
            result["foreignRefused"].is_string(),
            "{transport}: {result}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_io_session_ends_when_its_token_expires_on_both_transports() {
    if !node_available("a_socket_io_session_ends_when_its_token_expires_on_both_transports") {
        return;
    }
    let app = TestApp::spawn_with(&[("--jwt-expire", "3s")]).await;
    for (n, transport) in [(9302, "polling"), (9303, "websocket")] {
        let login = app.login(&phone(n)).await;
        let result = edge_case(&app, &login, "expiry", transport).await;
        assert_eq!(
            result,
            json!({ "error": "unauthorized", "reason": "io server disconnect" }),
            "{transport}"
        );
    }
}

/// SIGTERM while a Socket.IO client has sends in flight: every send the
/// server took in is stored and answered before the transport closes, and
/// the session ends cleanly (the client is not left hanging).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_socket_io_sends_in_flight_and_ends_the_session_cleanly() {
    if !node_available("sigterm_answers_socket_io_sends_in_flight_and_ends_the_session_cleanly") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut server = Server::start(dir.path());
    let (ana, _) = server.login(&client, &phone(9304)).await;
    let (_, budi) = server.login(&client, &phone(9305)).await;
    let chat = server
        .create_chat(
            &client,
            &ana,
            json!({ "type": "private", "participants": [budi] }),
        )
        .await;
    let mut child = Command::new("node")
        .arg(script_dir().join("edges.mjs"))
        .arg(format!("{}/", server.base))
        .args(["sigterm", "websocket"])
        .env("CLAVOX_TOKEN", &ana)
        .env("CLAVOX_CHAT", &chat)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(next_line(&mut lines).await["step"], "sent");
    let pid = server.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let result = next_line(&mut lines).await;
    let result = &result["result"];
    let status = tokio::time::timeout(STEP_WAIT, child.wait())
        .await
        .expect("node exits")
        .unwrap();
    assert!(status.success(), "{result}");
    let exited = server.child.wait().unwrap();
    assert!(exited.success(), "the server exits cleanly: {exited}");
    assert!(
        ["io server disconnect", "transport close"]
            .contains(&result["reason"].as_str().unwrap_or("")),
        "{result}"
    );

    // Every acknowledged send is there after a restart, with its seq.
    let acknowledged = result["acknowledged"].as_array().unwrap().clone();
    let mut server = Server::start(dir.path());
    let (ana, _) = server.login(&client, &phone(9304)).await;
    let page: Value = client
        .get(format!(
            "{}/api/chats/{chat}/messages?limit=100",
            server.base
        ))
        .bearer_auth(&ana)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: Vec<(Value, Value)> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| (message["content"].clone(), message["seq"].clone()))
        .collect();
    // And every send the server stored was answered before it went away.
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "stored {stored:?}, acknowledged {result}"
    );
    for answer in &acknowledged {
        assert!(
            stored.contains(&(answer["content"].clone(), answer["seq"].clone())),
            "acknowledged {answer} is missing from {stored:?}"
        );
    }
}

/// The official client stops reading (its TCP socket paused) while a chat
/// floods: the server disconnects it, the /ws reader misses nothing, and
/// once the client reads again it finds a gapless prefix, the server's
/// disconnect, and a working session after `connect()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_official_client_too_slow_to_read_is_disconnected_and_reconnects() {
    const CAP: usize = 12_000;
    const BATCH: usize = 48;
    if !node_available("an_official_client_too_slow_to_read_is_disconnected_and_reconnects") {
        return;
    }
    let app = TestApp::spawn_with(&[("--message-rate", "0")]).await;
    let sender = app.login(&phone(9306)).await;
    let slow = app.login(&phone(9307)).await;
    let reader = app.login(&phone(9308)).await;
    let chat = app.group(&sender, &[&slow, &reader], "firehose").await;
    let mut reader_ws = app.joined_ws(&reader).await;
    let mut child = Command::new("node")
        .arg(script_dir().join("edges.mjs"))
        .arg(app.url("/"))
        .args(["slow", "websocket"])
        .env("CLAVOX_TOKEN", &slow.access)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(next_line(&mut lines).await["step"], "paused");
    wait_on_ws(&mut reader_ws, "user_status", |s| {
        s["userId"] == slow.id.as_str() && s["status"] == "online"
    })
    .await;

    let content = "slow consumers must not hold up the others; ".repeat(100);
    let content = &content[..4000];
    let path = format!("/api/chats/{chat}/messages");
    let (mut sent, mut seqs, mut slow_gone) = (0, Vec::new(), false);
    while sent < CAP && !slow_gone {
        let batch =
            (0..BATCH).map(|_| app.post(&path, &sender.access, json!({ "content": content })));
        for (status, body) in futures_util::future::join_all(batch).await {
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        sent += BATCH;
        while let Ok(Some(frame)) =
            tokio::time::timeout(Duration::from_millis(1), reader_ws.next_frame()).await
        {
            if frame["event"] == "new_message" {
                seqs.push(frame["data"]["seq"].as_u64().unwrap());
            }
            slow_gone |= frame["event"] == "user_status"
                && frame["data"]["userId"] == slow.id.as_str()
                && frame["data"]["status"] == "offline";
        }
    }
    assert!(
        slow_gone,
        "the paused client was still connected after {sent} messages"
    );
    let total = u64::try_from(sent).unwrap();
    while seqs.last().copied().unwrap_or(0) < total {
        let frame = reader_ws
            .next_frame()
            .await
            .expect("the reader's socket stays open");
        if frame["event"] == "new_message" {
            seqs.push(frame["data"]["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "the reader got every message, in order"
    );

    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, b"resume\n")
        .await
        .unwrap();
    drop(stdin);
    let result = next_line(&mut lines).await;
    let result = &result["result"];
    assert_eq!(result["reason"], "io server disconnect", "{result}");
    assert_eq!(result["reconnected"], true, "{result}");
    let received: Vec<u64> = result["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seq| seq.as_u64().unwrap())
        .collect();
    let got = u64::try_from(received.len()).unwrap();
    assert!(
        got < total,
        "the slow client was dropped before it got everything"
    );
    assert_eq!(
        received,
        (1..=got).collect::<Vec<_>>(),
        "what it got is a gapless prefix"
    );
    let status = tokio::time::timeout(STEP_WAIT, child.wait())
        .await
        .expect("node exits")
        .unwrap();
    assert!(status.success());
    app.stop().await;
}
