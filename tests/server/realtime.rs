//! The WebSocket gateway, `GET /ws`, against SPEC's "WebSocket" contract:
//! fan-out, ordering, typing, presence, authentication, bad frames, limits,
//! slow consumers, origins, read marks and token expiry.

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
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{FRAME_WAIT, Login, TestApp, Ws, phone};

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

// 1. Fan-out ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_by_socket_or_rest_reaches_every_socket_of_every_participant() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3001)).await;
    let budi = app.login(&phone(3002)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut ana_phone = app.joined_ws(&ana).await;
    let mut ana_laptop = app.joined_ws(&ana).await;
    let mut budi_ws = app.joined_ws(&budi).await;
    let mut anonymous = app.connect_ws(None).await;

    // Over the socket: the ack carries the stored message.
    let (ack, seen) = request_seeing(
        &mut ana_phone,
        RAW_ID,
        "send_message",
        json!({ "chatId": chat, "content": "hello over the socket" }),
    )
    .await;
    assert_eq!(ack["event"], "ack", "{ack}");
    let stored = ack["data"].clone();
    assert_eq!(stored["seq"], 1, "{stored}");
    assert_eq!(stored["chatId"], chat);
    assert_eq!(stored["senderId"], ana.id);
    assert_eq!(stored["content"], "hello over the socket");
    assert_eq!(stored["type"], "text");
    assert_eq!(stored["id"].as_str().map(str::len), Some(24), "{stored}");
    let on_disk = messages_of(&app, &budi, &chat).await;
    assert_eq!(on_disk.len(), 1);
    assert_eq!(
        on_disk[0]["id"], stored["id"],
        "the ack names the stored message"
    );

    // The sender's own socket gets the event too (before or after its ack).
    let echo = match seen.iter().find(|frame| frame["event"] == "new_message") {
        Some(frame) => frame["data"].clone(),
        None => next_message(&mut ana_phone, &chat).await,
    };
    for socket_copy in [
        echo,
        next_message(&mut ana_laptop, &chat).await,
        next_message(&mut budi_ws, &chat).await,
    ] {
        for field in ["id", "seq", "chatId", "senderId", "content", "type"] {
            assert_eq!(socket_copy[field], stored[field], "{field}: {socket_copy}");
        }
    }

    // Over REST: every socket of both participants, the sender's included.
    let sent = app.send_message(&budi, &chat, "hello over REST").await;
    assert_eq!(sent["seq"], 2, "{sent}");
    for ws in [&mut ana_phone, &mut ana_laptop, &mut budi_ws] {
        let event = next_message(ws, &chat).await;
        assert_eq!(
            (&event["id"], &event["seq"], &event["senderId"]),
            (&sent["id"], &json!(2), &json!(budi.id))
        );
        assert_eq!(event["content"], "hello over REST");
    }

    // Each socket got each message exactly once; an unauthenticated socket none.
    let (a, b, c, d) = tokio::join!(
        ana_phone.receives_within("new_message", QUIET),
        ana_laptop.receives_within("new_message", QUIET),
        budi_ws.receives_within("new_message", QUIET),
        anonymous.receives_within("new_message", QUIET),
    );
    assert_eq!(
        (a, b, c),
        (false, false, false),
        "no socket receives a message twice"
    );
    assert!(!d, "a socket that never authenticated receives nothing");
}

// 2. Ordering under concurrency ----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_produce_gapless_increasing_seqs_on_every_socket() {
    const SENDERS: usize = 4;
    const EACH: usize = 50;
    const TOTAL: usize = SENDERS * EACH;
    let app = TestApp::spawn().await;
    let mut users = Vec::new();
    for n in 0..SENDERS {
        users.push(app.login(&phone(3010 + u32::try_from(n).unwrap())).await);
    }
    let members: Vec<&Login> = users[1..].iter().collect();
    let chat = app.group(&users[0], &members, "race").await;
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(app.joined_ws(user).await);
    }
    let mut observer = app.joined_ws(&users[1]).await;

    let barrier = Arc::new(tokio::sync::Barrier::new(SENDERS));
    let mut tasks = Vec::new();
    for (sender, mut ws) in sockets.into_iter().enumerate() {
        let (barrier, chat) = (barrier.clone(), chat.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            // Pipelined: every frame goes out before any answer is read.
            for n in 0..EACH {
                let id = RAW_ID + i64::try_from(n).unwrap();
                let data =
                    json!({ "chatId": chat, "content": format!("sender {sender} message {n}") });
                ws.send_raw(Message::text(
                    json!({ "event": "send_message", "data": data, "id": id }).to_string(),
                ))
                .await;
            }
            let (mut acks, mut received) = (Vec::new(), Vec::new());
            while acks.len() < EACH || received.len() < TOTAL {
                let frame = ws
                    .next_frame()
                    .await
                    .expect("the sender's socket stays open");
                match frame["event"].as_str() {
                    Some("ack") => acks.push(frame),
                    Some("error") => panic!("send failed: {frame}"),
                    Some("new_message") if frame["data"]["chatId"] == chat => {
                        received.push(frame["data"].clone());
                    }
                    _ => {}
                }
            }
            (acks, received)
        }));
    }
    let mut observed = Vec::new();
    while observed.len() < TOTAL {
        observed.push(next_message(&mut observer, &chat).await);
    }

    // What each sender was told it stored: seq -> content.
    let mut stored = BTreeMap::new();
    let mut streams = vec![observed];
    for (sender, task) in tasks.into_iter().enumerate() {
        let (acks, received) = task.await.unwrap();
        let mut previous = 0;
        for (n, ack) in acks.iter().enumerate() {
            assert_eq!(
                ack["id"],
                RAW_ID + i64::try_from(n).unwrap(),
                "acks answer frames in order: {ack}"
            );
            let seq = ack["data"]["seq"].as_u64().unwrap();
            assert!(
                seq > previous,
                "one socket's messages are stored in the order sent"
            );
            previous = seq;
            assert_eq!(
                ack["data"]["content"],
                format!("sender {sender} message {n}")
            );
            assert!(
                stored.insert(seq, ack["data"]["content"].clone()).is_none(),
                "seq {seq} was given twice"
            );
        }
        streams.push(received);
    }
    let all: Vec<u64> = (1..=u64::try_from(TOTAL).unwrap()).collect();
    assert_eq!(
        stored.keys().copied().collect::<Vec<_>>(),
        all,
        "the acks hold seqs 1..={TOTAL}"
    );
    for (socket, stream) in streams.iter().enumerate() {
        let seqs: Vec<u64> = stream
            .iter()
            .map(|message| message["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(
            seqs, all,
            "socket {socket} received seqs out of order or with gaps"
        );
        for message in stream {
            assert_eq!(
                message["content"],
                stored[&message["seq"].as_u64().unwrap()],
                "seq and content travel together"
            );
        }
    }
}

// 3. Typing ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_reaches_the_others_but_not_the_typer_and_ends_by_itself() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3020)).await;
    let budi = app.login(&phone(3021)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut ana_ws = app.joined_ws(&ana).await;
    let mut budi_ws = app.joined_ws(&budi).await;

    let ack = ana_ws
        .request("typing_start", json!({ "chatId": chat }))
        .await;
    assert_eq!(
        (&ack["event"], &ack["data"]),
        (&json!("ack"), &json!({})),
        "{ack}"
    );
    let started = Instant::now();
    let typing = budi_ws.wait_for("user_typing").await;
    assert_eq!(
        typing,
        json!({ "chatId": chat, "userId": ana.id, "isTyping": true })
    );
    assert!(
        !ana_ws.receives_within("user_typing", QUIET).await,
        "the typer is not told of their own typing"
    );

    // No typing_stop: the state ends by itself after 6 s.
    let stopped = budi_ws.wait_for("user_typing").await;
    let after = started.elapsed();
    assert_eq!(
        stopped,
        json!({ "chatId": chat, "userId": ana.id, "isTyping": false })
    );
    assert!(
        after >= Duration::from_millis(5500) && after <= Duration::from_secs(8),
        "typing ended after {after:?}, not ~6 s"
    );
    assert!(
        !ana_ws.receives_within("user_typing", QUIET).await,
        "nor of its end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_stop_ends_typing_at_once() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3025)).await;
    let budi = app.login(&phone(3026)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut ana_ws = app.joined_ws(&ana).await;
    let mut budi_ws = app.joined_ws(&budi).await;

    ana_ws
        .request("typing_start", json!({ "chatId": chat }))
        .await;
    assert_eq!(budi_ws.wait_for("user_typing").await["isTyping"], true);
    let ack = ana_ws
        .request("typing_stop", json!({ "chatId": chat }))
        .await;
    assert_eq!(
        (&ack["event"], &ack["data"]),
        (&json!("ack"), &json!({})),
        "{ack}"
    );
    let asked = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(2), budi_ws.wait_for("user_typing"))
        .await
        .expect("isTyping false arrives at once");
    assert_eq!(
        stopped,
        json!({ "chatId": chat, "userId": ana.id, "isTyping": false })
    );
    assert!(asked.elapsed() < Duration::from_secs(2));
    // Typing ended once: the 6 s timer must not announce it a second time.
    assert!(
        !budi_ws
            .receives_within("user_typing", Duration::from_secs(7))
            .await,
        "a stopped typing state is not ended again"
    );
}

// 4. Presence --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_the_first_and_last_socket_and_reaches_only_contacts() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3030)).await;
    let budi = app.login(&phone(3031)).await;
    let citra = app.login(&phone(3032)).await;
    let dewi = app.login(&phone(3033)).await;
    app.private_chat(&ana, &budi).await;
    // Citra shares a chat with Budi only, never with Ana.
    app.private_chat(&citra, &budi).await;
    app.private_chat(&citra, &dewi).await;
    let mut citra_ws = app.joined_ws(&citra).await;
    let mut budi_ws = app.joined_ws(&budi).await;

    let (_, profile) = app
        .get(&format!("/api/users/{}", ana.id), &budi.access)
        .await;
    assert_eq!(
        (&profile["isOnline"], &profile["lastSeen"]),
        (&json!(false), &Value::Null),
        "{profile}"
    );

    let ana_first = app.joined_ws(&ana).await;
    let online = budi_ws.wait_for("user_status").await;
    assert_eq!(
        online,
        json!({ "userId": ana.id, "status": "online", "lastSeen": null }),
        "never seen before: lastSeen null"
    );
    let (_, profile) = app
        .get(&format!("/api/users/{}", ana.id), &budi.access)
        .await;
    assert_eq!(profile["isOnline"], true, "{profile}");

    // A second device coming and going changes nothing.
    let ana_second = app.joined_ws(&ana).await;
    assert!(
        !budi_ws.receives_within("user_status", QUIET).await,
        "a second socket does not announce anything"
    );
    hang_up(ana_second).await;
    assert!(
        !budi_ws.receives_within("user_status", QUIET).await,
        "closing one of two sockets does not announce anything"
    );
    let (_, profile) = app
        .get(&format!("/api/users/{}", ana.id), &budi.access)
        .await;
    assert_eq!(
        (&profile["isOnline"], &profile["lastSeen"]),
        (&json!(true), &Value::Null),
        "still online on the first socket: {profile}"
    );

    hang_up(ana_first).await;
    let offline = budi_ws.wait_for("user_status").await;
    assert_eq!(
        (&offline["userId"], &offline["status"]),
        (&json!(ana.id), &json!("offline")),
        "{offline}"
    );
    let last_seen = offline["lastSeen"]
        .as_str()
        .expect("going offline carries lastSeen")
        .to_owned();
    let (_, profile) = app
        .get(&format!("/api/users/{}", ana.id), &budi.access)
        .await;
    assert_eq!(profile["isOnline"], false, "{profile}");
    assert_eq!(
        profile["lastSeen"],
        last_seen.as_str(),
        "the stored lastSeen is the announced one"
    );

    // Coming back announces the stored lastSeen.
    let _ana_again = app.joined_ws(&ana).await;
    let online = budi_ws.wait_for("user_status").await;
    assert_eq!(
        online,
        json!({ "userId": ana.id, "status": "online", "lastSeen": last_seen })
    );

    // Citra heard of Budi coming online, never of Ana.
    let mut heard = Vec::new();
    let _ = tokio::time::timeout(QUIET, async {
        while let Some(frame) = citra_ws.next_frame().await {
            if frame["event"] == "user_status" {
                heard.push(frame["data"]["userId"].clone());
            }
        }
    })
    .await;
    assert_eq!(
        heard,
        [json!(budi.id)],
        "someone who shares no chat with Ana hears nothing of her"
    );
}

// 5. Removed members -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_is_told_and_then_receives_nothing_of_the_chat() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3040)).await;
    let budi = app.login(&phone(3041)).await;
    let citra = app.login(&phone(3042)).await;
    let chat = app.group(&ana, &[&budi, &citra], "team").await;
    let mut budi_ws = app.joined_ws(&budi).await;
    let mut citra_ws = app.joined_ws(&citra).await;

    app.send_message(&ana, &chat, "before").await;
    assert_eq!(
        next_message(&mut citra_ws, &chat).await["content"],
        "before",
        "Citra hears the chat while a member"
    );
    assert_eq!(next_message(&mut budi_ws, &chat).await["content"], "before");

    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/chats/{chat}/participants/{}", citra.id),
            Some(&ana.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let update = citra_ws.wait_for("chat_updated").await;
    assert_eq!(update["id"], chat, "{update}");
    assert!(
        !update["participants"]
            .as_array()
            .unwrap()
            .contains(&json!(citra.id)),
        "{update}"
    );
    let update = budi_ws.wait_for("chat_updated").await;
    assert_eq!(update["participants"], json!([ana.id, budi.id]), "{update}");

    app.send_message(&ana, &chat, "after").await;
    assert_eq!(next_message(&mut budi_ws, &chat).await["content"], "after");
    assert!(
        !citra_ws.receives_within("new_message", QUIET).await,
        "a removed member receives nothing more of the chat"
    );
    let answer = citra_ws
        .request(
            "send_message",
            json!({ "chatId": chat, "content": "still here?" }),
        )
        .await;
    assert_eq!(answer["data"]["code"], "not_found", "{answer}");
}

// 6. Authentication --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_before_join_user_is_unauthorized_and_the_socket_stays_open() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3050)).await;
    let budi = app.login(&phone(3051)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut ws = app.connect_ws(None).await;

    let events = [
        (
            "send_message",
            json!({ "chatId": chat, "content": "sneaky" }),
        ),
        ("join_chat", json!({ "chatId": chat })),
        ("leave_chat", json!({ "chatId": chat })),
        ("typing_start", json!({ "chatId": chat })),
        ("typing_stop", json!({ "chatId": chat })),
        ("mark_read", json!({ "chatId": chat, "seq": 1 })),
    ];
    for (n, (event, data)) in events.into_iter().enumerate() {
        let id = RAW_ID + i64::try_from(n).unwrap();
        let (answer, _) = request_seeing(&mut ws, id, event, data).await;
        assert_error(&answer, id, "unauthorized");
    }
    // Without an id the refusal is an error event.
    ws.emit(
        "send_message",
        json!({ "chatId": chat, "content": "sneaky" }),
    )
    .await;
    let error = ws.wait_for("error").await;
    assert_eq!(error["code"], "unauthorized", "{error}");

    // Still open: it can authenticate now, and nothing was stored.
    let ack = ws
        .request("join_user", json!({ "token": ana.access }))
        .await;
    assert_eq!(ack["event"], "ack", "{ack}");
    assert!(
        messages_of(&app, &ana, &chat).await.is_empty(),
        "an unauthorized send stores nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_user_with_a_bad_token_is_unauthorized_and_a_valid_one_then_works() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3055)).await;
    let budi = app.login(&phone(3056)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut ws = app.connect_ws(None).await;

    for (n, token) in [
        json!("garbage"),
        json!(format!("{}x", ana.access)),
        json!(ana.refresh),
    ]
    .into_iter()
    .enumerate()
    {
        let id = RAW_ID + i64::try_from(n).unwrap();
        let (answer, _) = request_seeing(&mut ws, id, "join_user", json!({ "token": token })).await;
        assert_error(&answer, id, "unauthorized");
    }
    let (answer, _) = request_seeing(
        &mut ws,
        RAW_ID + 10,
        "send_message",
        json!({ "chatId": chat, "content": "x" }),
    )
    .await;
    assert_error(&answer, RAW_ID + 10, "unauthorized");

    let ack = ws
        .request("join_user", json!({ "token": ana.access }))
        .await;
    assert_eq!(ack["event"], "ack", "{ack}");
    assert_eq!(ack["data"]["user"]["id"], ana.id, "{ack}");
    assert_eq!(ack["data"]["user"]["phoneNumber"], ana.phone, "{ack}");
    let ack = ws
        .request(
            "send_message",
            json!({ "chatId": chat, "content": "now it works" }),
        )
        .await;
    assert_eq!(
        (&ack["event"], &ack["data"]["seq"]),
        (&json!("ack"), &json!(1)),
        "{ack}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_user_naming_someone_else_is_forbidden() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3060)).await;
    let budi = app.login(&phone(3061)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut ws = app.connect_ws(None).await;

    let (answer, _) = request_seeing(
        &mut ws,
        RAW_ID,
        "join_user",
        json!({ "token": ana.access, "userId": budi.id }),
    )
    .await;
    assert_error(&answer, RAW_ID, "forbidden");
    let (answer, _) = request_seeing(
        &mut ws,
        RAW_ID + 1,
        "send_message",
        json!({ "chatId": chat, "content": "x" }),
    )
    .await;
    assert_error(&answer, RAW_ID + 1, "unauthorized");

    let ack = ws
        .request(
            "join_user",
            json!({ "token": ana.access, "userId": ana.id }),
        )
        .await;
    assert_eq!(
        (&ack["event"], &ack["data"]["user"]["id"]),
        (&json!("ack"), &json!(ana.id)),
        "{ack}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_on_the_upgrade_url_refuses_the_upgrade_with_401() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3065)).await;
    for token in ["garbage", ana.refresh.as_str()] {
        let request = ws_url(&app, &format!("?token={token}"))
            .into_client_request()
            .unwrap();
        let (status, body) = refused_upgrade(request).await;
        assert_eq!(status, 401, "?token={token}");
        assert_eq!(body["code"], "unauthorized", "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_on_the_upgrade_url_authenticates_at_once() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3070)).await;
    let budi = app.login(&phone(3071)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut budi_ws = app.joined_ws(&budi).await;

    let mut ws = app.connect_ws(Some(&ana.access)).await;
    let (ack, _) = request_seeing(
        &mut ws,
        RAW_ID,
        "send_message",
        json!({ "chatId": chat, "content": "no join_user needed" }),
    )
    .await;
    assert_eq!(
        (&ack["event"], &ack["data"]["seq"]),
        (&json!("ack"), &json!(1)),
        "{ack}"
    );
    // Budi hears that Ana came online (with the upgrade), then her message.
    let status = budi_ws.wait_for("user_status").await;
    assert_eq!(
        (&status["userId"], &status["status"]),
        (&json!(ana.id), &json!("online")),
        "{status}"
    );
    assert_eq!(
        next_message(&mut budi_ws, &chat).await["content"],
        "no join_user needed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_authenticates_is_closed_with_4001_after_ten_seconds() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3075)).await;
    let opened = Instant::now();
    let mut idle = app.connect_ws(None).await;
    let mut authenticated = app.joined_ws(&ana).await;

    assert_eq!(idle.close_code().await, Some(4001));
    let after = opened.elapsed();
    assert!(
        after >= Duration::from_millis(9500) && after <= Duration::from_secs(13),
        "closed after {after:?}, not ~10 s"
    );
    // The deadline is for sockets that never authenticate.
    assert_answers(&mut authenticated).await;
}

// 7. Session end -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_closes_that_sessions_sockets_only() {
    let app = TestApp::spawn().await;
    let ana_phone = app.login(&phone(3080)).await;
    let ana_laptop = app.login(&phone(3080)).await;
    assert_eq!(ana_phone.id, ana_laptop.id);
    let budi = app.login(&phone(3081)).await;
    let chat = app.private_chat(&ana_phone, &budi).await;
    let mut ended = app.joined_ws(&ana_phone).await;
    let mut kept = app.joined_ws(&ana_laptop).await;

    let (status, body) = app
        .call(
            Method::POST,
            "/api/auth/logout",
            Some(&ana_phone.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(ended.close_code().await, Some(4001));

    assert_answers(&mut kept).await;
    app.send_message(&budi, &chat, "still there?").await;
    assert_eq!(
        next_message(&mut kept, &chat).await["content"],
        "still there?"
    );

    // The ended session's token opens no socket any more.
    let mut again = app.connect_ws(None).await;
    let (answer, _) = request_seeing(
        &mut again,
        RAW_ID,
        "join_user",
        json!({ "token": ana_phone.access }),
    )
    .await;
    assert_error(&answer, RAW_ID, "unauthorized");
    let (status, _) = refused_upgrade(
        ws_url(&app, &format!("?token={}", ana_phone.access))
            .into_client_request()
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
}

// 8. Bad frames ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_that_are_not_json_objects_are_bad_requests_and_the_socket_stays_open() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3090)).await;
    let mut ws = app.joined_ws(&ana).await;

    for text in [
        "this is not json",
        "{\"event\": ",
        "[1, 2, 3]",
        "[{\"event\":\"ping\",\"id\":1}]",
        "42",
        "\"ping\"",
        "null",
    ] {
        ws.send_raw(Message::text(text)).await;
        let error = ws
            .next_frame()
            .await
            .unwrap_or_else(|| panic!("socket closed after {text:?}"));
        assert_eq!(error["event"], "error", "{text:?}: {error}");
        assert_eq!(error["data"]["code"], "bad_request", "{text:?}: {error}");
        assert!(
            error.get("id").is_none_or(Value::is_null),
            "{text:?}: {error}"
        );
        assert_answers(&mut ws).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_event_is_unknown_event_with_or_without_an_id() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3095)).await;
    let mut ws = app.joined_ws(&ana).await;

    let (answer, _) = request_seeing(&mut ws, 77, "frobnicate", json!({})).await;
    assert_error(&answer, 77, "unknown_event");
    ws.emit("frobnicate", json!({})).await;
    let error = ws.next_frame().await.expect("an error event");
    assert_eq!(
        (&error["event"], &error["data"]["code"]),
        (&json!("error"), &json!("unknown_event")),
        "{error}"
    );
    assert_answers(&mut ws).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_event_data_is_validation_failed_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3100)).await;
    let budi = app.login(&phone(3101)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut ws = app.joined_ws(&ana).await;
    let mut budi_ws = app.joined_ws(&budi).await;

    let cases = [
        ("send_message", json!({ "content": "no chat" })),
        ("send_message", json!({ "chatId": chat, "content": 42 })),
        ("send_message", json!({ "chatId": chat, "content": ["a"] })),
        (
            "send_message",
            json!({ "chatId": 42, "content": "chat id of the wrong type" }),
        ),
        ("send_message", json!({ "chatId": chat })),
        ("send_message", json!({ "chatId": chat, "content": "   " })),
        (
            "send_message",
            json!({ "chatId": chat, "content": "x".repeat(4097) }),
        ),
        ("send_message", json!("just a string")),
        ("join_chat", json!({})),
        ("typing_start", json!({ "chatId": null })),
        ("mark_read", json!({ "chatId": chat, "seq": "one" })),
        ("mark_read", json!({ "chatId": chat })),
        ("join_user", json!({})),
    ];
    for (n, (event, data)) in cases.into_iter().enumerate() {
        let id = RAW_ID + i64::try_from(n).unwrap();
        let (answer, _) = request_seeing(&mut ws, id, event, data.clone()).await;
        assert_eq!(
            answer["data"]["code"], "validation_failed",
            "{event} {data}: {answer}"
        );
        assert_error(&answer, id, "validation_failed");
    }
    assert_answers(&mut ws).await;
    assert!(
        messages_of(&app, &ana, &chat).await.is_empty(),
        "nothing was stored"
    );
    assert!(!budi_ws.receives_within("new_message", QUIET).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_the_caller_is_not_in_is_not_found() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3105)).await;
    let budi = app.login(&phone(3106)).await;
    let citra = app.login(&phone(3107)).await;
    let own = app.private_chat(&ana, &budi).await;
    let foreign = app.private_chat(&budi, &citra).await;
    let mut ws = app.joined_ws(&ana).await;
    let mut citra_ws = app.joined_ws(&citra).await;

    let ack = ws.request("join_chat", json!({ "chatId": own })).await;
    assert_eq!(
        (&ack["event"], &ack["data"]),
        (&json!("ack"), &json!({ "chatId": own })),
        "{ack}"
    );
    let ack = ws.request("leave_chat", json!({ "chatId": own })).await;
    assert_eq!(
        (&ack["event"], &ack["data"]),
        (&json!("ack"), &json!({ "chatId": own })),
        "{ack}"
    );

    let mut id = RAW_ID;
    for chat in [foreign.as_str(), "0123456789abcdef01234567"] {
        for (event, data) in [
            ("join_chat", json!({ "chatId": chat })),
            ("leave_chat", json!({ "chatId": chat })),
            (
                "send_message",
                json!({ "chatId": chat, "content": "let me in" }),
            ),
            ("typing_start", json!({ "chatId": chat })),
            ("mark_read", json!({ "chatId": chat, "seq": 1 })),
        ] {
            let (answer, _) = request_seeing(&mut ws, id, event, data).await;
            assert_error(&answer, id, "not_found");
            id += 1;
        }
    }
    assert!(
        messages_of(&app, &budi, &foreign).await.is_empty(),
        "nothing was stored in the foreign chat"
    );
    assert!(!citra_ws.receives_within("new_message", QUIET).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_without_an_id_gets_a_pong_and_with_one_an_ack() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3110)).await;
    let mut ws = app.joined_ws(&ana).await;

    ws.emit("ping", json!({})).await;
    let pong = ws.next_frame().await.expect("a pong");
    assert_eq!(pong["event"], "pong", "{pong}");
    assert!(pong.get("id").is_none_or(Value::is_null), "{pong}");
    let (ack, before) = request_seeing(&mut ws, 5, "ping", json!({})).await;
    assert!(
        before.is_empty(),
        "a ping with an id gets no pong besides its ack: {before:?}"
    );
    assert_eq!(ack, json!({ "event": "ack", "id": 5, "data": {} }));
}

// 9. Frame limits ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_frame_closes_the_socket_with_1003() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3120)).await;
    let mut ws = app.joined_ws(&ana).await;
    let payload = json!({ "event": "ping", "data": {}, "id": 1 }).to_string();
    ws.send_raw(Message::binary(payload.into_bytes())).await;
    assert_eq!(ws.close_code().await, Some(1003));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_over_64_kib_closes_the_socket_with_1009() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3125)).await;
    let mut ws = app.joined_ws(&ana).await;

    // Exactly 64 KiB is allowed.
    let frame = |size: usize| {
        let bare = json!({ "event": "ping", "data": { "pad": "" }, "id": RAW_ID }).to_string();
        let text = json!({ "event": "ping", "data": { "pad": "x".repeat(size - bare.len()) }, "id": RAW_ID }).to_string();
        assert_eq!(text.len(), size);
        text
    };
    ws.send_raw(Message::text(frame(64 * 1024))).await;
    let ack = ws.next_frame().await.expect("a 64 KiB frame is answered");
    assert_eq!(
        (&ack["event"], &ack["id"]),
        (&json!("ack"), &json!(RAW_ID)),
        "{ack}"
    );

    ws.send_raw(Message::text(frame(64 * 1024 + 1))).await;
    assert_eq!(ws.close_code().await, Some(1009));
}

/// Sends `frames`, then reads to the end of the connection: the code of the
/// server's close frame, or what went wrong instead (a reset while sending
/// or after the close frame, an end without one).
async fn close_after(ws: &mut Ws, frames: Vec<Frame>) -> Result<u16, String> {
    use futures_util::SinkExt;
    for frame in frames {
        ws.stream
            .feed(Message::Frame(frame))
            .await
            .map_err(|error| format!("sending: {error}"))?;
    }
    ws.stream
        .flush()
        .await
        .map_err(|error| format!("sending: {error}"))?;
    let code = loop {
        match tokio::time::timeout(FRAME_WAIT, ws.stream.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|frame| u16::from(frame.code)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(error))) => return Err(format!("before a close frame: {error}")),
            Ok(None) => return Err("ended without a close frame".into()),
            Err(_) => return Err("no close frame in time".into()),
        }
    };
    // The client answers the close frame; the server then ends the connection.
    match tokio::time::timeout(FRAME_WAIT, ws.stream.next()).await {
        Ok(None) => code.ok_or_else(|| "a close frame without a code".into()),
        Ok(Some(Err(error))) => Err(format!("after close {code:?}: {error}")),
        other => Err(format!("after close {code:?}: {other:?}")),
    }
}

/// One text (or continuation) frame of `bytes` bytes.
fn data_frame(bytes: usize, data: Data, is_final: bool) -> Frame {
    Frame::message(vec![b'x'; bytes], OpCode::Data(data), is_final)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_70_kib_frame_is_answered_with_close_1009_not_a_reset() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3127)).await;
    for _ in 0..5 {
        let mut ws = app.joined_ws(&ana).await;
        let frame = data_frame(70 * 1024, Data::Text, true);
        assert_eq!(close_after(&mut ws, vec![frame]).await, Ok(1009));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_fragmented_past_64_kib_is_answered_with_close_1009_not_a_reset() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3128)).await;
    for _ in 0..5 {
        let mut ws = app.joined_ws(&ana).await;
        // Eight 16 KiB fragments: each small, past 64 KiB from the fifth on,
        // and more still on their way when the server has seen enough.
        let mut frames = vec![data_frame(16 * 1024, Data::Text, false)];
        frames.extend((0..6).map(|_| data_frame(16 * 1024, Data::Continue, false)));
        frames.push(data_frame(16 * 1024, Data::Continue, true));
        assert_eq!(close_after(&mut ws, frames).await, Ok(1009));
    }
}

// 10. Slow consumers -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_with_1013_and_the_others_miss_nothing() {
    const CAP: usize = 12_000;
    const BATCH: usize = 48;
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let sender = app.login(&phone(3130)).await;
    let slow = app.login(&phone(3131)).await;
    let reader = app.login(&phone(3132)).await;
    let chat = app.group(&sender, &[&slow, &reader], "firehose").await;
    let mut slow_ws = app.joined_ws(&slow).await;
    let mut reader_ws = app.joined_ws(&reader).await;

    // R reads everything as it comes, and notices when S's socket is gone
    // (S goes offline: its only socket was closed by the server).
    let slow_gone = Arc::new(AtomicBool::new(false));
    let (done, mut done_rx) = tokio::sync::watch::channel(None::<u64>);
    let reading = tokio::spawn({
        let (chat, slow_id, slow_gone) = (chat.clone(), slow.id.clone(), slow_gone.clone());
        async move {
            let mut seqs = Vec::new();
            loop {
                if let Some(last) = *done_rx.borrow()
                    && seqs.last().copied().unwrap_or(0) >= last
                {
                    return seqs;
                }
                tokio::select! {
                    frame = reader_ws.next_frame() => {
                        let frame = frame.expect("the fast reader's socket stays open");
                        if frame["event"] == "new_message" && frame["data"]["chatId"] == chat {
                            seqs.push(frame["data"]["seq"].as_u64().unwrap());
                        } else if frame["event"] == "user_status" && frame["data"]["userId"] == slow_id && frame["data"]["status"] == "offline" {
                            slow_gone.store(true, Ordering::SeqCst);
                        }
                    }
                    changed = done_rx.changed() => changed.expect("the sender reports its total"),
                }
            }
        }
    });

    let content = "slow consumers must not hold up the others; ".repeat(100);
    let content = &content[..4000];
    let path = format!("/api/chats/{chat}/messages");
    let mut sent = 0;
    while sent < CAP && !slow_gone.load(Ordering::SeqCst) {
        let batch =
            (0..BATCH).map(|_| app.post(&path, &sender.access, json!({ "content": content })));
        for (status, body) in join_all(batch).await {
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        sent += BATCH;
    }
    let total = u64::try_from(sent).unwrap();
    assert!(
        slow_gone.load(Ordering::SeqCst),
        "the socket that never reads was still open after {sent} messages"
    );
    done.send(Some(total)).unwrap();
    let seqs = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the fast reader catches up")
        .unwrap();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "the fast reader got every message, in order"
    );

    // Only now does S read: what was queued before the overflow, in order,
    // then a close with 1013.
    let mut received = Vec::new();
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(30), slow_ws.stream.next())
            .await
            .expect("S's socket ends in time")
        {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["event"] == "new_message" {
                    received.push(frame["data"]["seq"].as_u64().unwrap());
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => {}
            Some(Err(error)) => panic!(
                "S's socket failed instead of closing with 1013 after {} messages: {error}",
                received.len()
            ),
            None => panic!(
                "S's socket ended without a close frame after {} messages",
                received.len()
            ),
        }
    };
    assert_eq!(
        code,
        Some(1013),
        "after {} of {total} messages",
        received.len()
    );
    let got = u64::try_from(received.len()).unwrap();
    assert!(got < total, "S cannot have received everything");
    assert_eq!(
        received,
        (1..=got).collect::<Vec<_>>(),
        "what S got is a gapless prefix"
    );
    // It catches up with after=.
    let (status, page) = app
        .get(
            &format!("/api/chats/{chat}/messages?after={got}&limit=5"),
            &slow.access,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["messages"][0]["seq"], got + 1, "{page}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

// 11. Origin ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_from_a_foreign_origin_is_refused_and_from_our_own_accepted() {
    let app = TestApp::spawn().await;
    let (status, body) = refused_upgrade(upgrade_with_origin(&app, "http://evil.example")).await;
    assert_eq!(status, 403);
    assert_eq!(body["code"], "forbidden", "{body}");
    // A look-alike of our own origin on another port is foreign too.
    let (status, _) = refused_upgrade(upgrade_with_origin(
        &app,
        &format!("http://127.0.0.1:{}", app.address.port().wrapping_add(1)),
    ))
    .await;
    assert_eq!(status, 403);

    let own = format!("http://{}", app.address);
    let (stream, response) = tokio_tungstenite::connect_async(upgrade_with_origin(&app, &own))
        .await
        .expect("our own origin may upgrade");
    assert_eq!(response.status().as_u16(), 101);
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_from_a_frontend_url_origin_is_accepted() {
    let app = TestApp::spawn_with(&[("--frontend-url", "http://app.example:5173")]).await;
    let (_stream, response) =
        tokio_tungstenite::connect_async(upgrade_with_origin(&app, "http://app.example:5173"))
            .await
            .expect("a FRONTEND_URL origin may upgrade");
    assert_eq!(response.status().as_u16(), 101);
    let (status, _) = refused_upgrade(upgrade_with_origin(&app, "http://app.example:5174")).await;
    assert_eq!(status, 403);
}

// 12. Read marks -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mark_read_is_acked_and_the_other_participant_is_told() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3140)).await;
    let budi = app.login(&phone(3141)).await;
    let chat = app.private_chat(&ana, &budi).await;
    app.send_message(&ana, &chat, "one").await;
    app.send_message(&ana, &chat, "two").await;
    let mut ana_ws = app.joined_ws(&ana).await;
    let mut budi_ws = app.joined_ws(&budi).await;

    let ack = budi_ws
        .request("mark_read", json!({ "chatId": chat, "seq": 2 }))
        .await;
    assert_eq!(ack["event"], "ack", "{ack}");
    let mark = ack["data"].clone();
    assert_eq!(
        (&mark["chatId"], &mark["userId"], &mark["seq"]),
        (&json!(chat), &json!(budi.id), &json!(2)),
        "{mark}"
    );
    assert!(
        mark["readAt"].as_str().is_some_and(|at| at.ends_with('Z')),
        "{mark}"
    );
    let told = ana_ws.wait_for("message_read").await;
    assert_eq!(told, mark, "the sender hears exactly what was acked");

    let messages = messages_of(&app, &ana, &chat).await;
    assert_eq!(messages[1]["isRead"], true, "{}", messages[1]);
    assert_eq!(messages[1]["readBy"][0]["userId"], budi.id);
}

// 13. Token expiry ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_whose_token_expires_is_closed_with_4001() {
    let app = TestApp::spawn_with(&[("--jwt-expire", "2s")]).await;
    let ana = app.login(&phone(3150)).await;
    let expires = expiry_of(&ana.access);
    let mut ws = app.joined_ws(&ana).await;

    assert_eq!(ws.close_code().await, Some(4001));
    let late = seconds_since(expires);
    assert!(
        (-0.3..=1.5).contains(&late),
        "closed {late:.2} s after the token's expiry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_join_user_keeps_a_socket_open_past_its_first_tokens_expiry() {
    let app = TestApp::spawn_with(&[("--jwt-expire", "2s")]).await;
    let ana = app.login(&phone(3155)).await;
    let first_expiry = expiry_of(&ana.access);
    let mut ws = app.joined_ws(&ana).await;

    sleep_until_wall(first_expiry - Duration::from_millis(700)).await;
    let (status, tokens) = app
        .call(
            Method::POST,
            "/api/auth/refresh-token",
            Some(&ana.refresh),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let fresh = tokens["accessToken"].as_str().unwrap();
    let second_expiry = expiry_of(fresh);
    assert!(
        second_expiry > first_expiry,
        "the fresh token outlives the first"
    );
    let ack = ws.request("join_user", json!({ "token": fresh })).await;
    assert_eq!(ack["event"], "ack", "{ack}");
    assert!(
        SystemTime::now() < first_expiry,
        "the test was too slow to extend in time"
    );

    sleep_until_wall(first_expiry + Duration::from_millis(300)).await;
    assert_answers(&mut ws).await;

    // The fresh token's expiry still applies.
    assert_eq!(ws.close_code().await, Some(4001));
    let late = seconds_since(second_expiry);
    assert!(
        (-0.3..=1.5).contains(&late),
        "closed {late:.2} s after the fresh token's expiry"
    );
}
