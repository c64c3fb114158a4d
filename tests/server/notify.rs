//! Notifications through the real router: a browser subscribes, and a
//! message to someone who is not looking reaches a stand-in push service
//! encrypted for that browser; who gets what (the app in view, hidden,
//! muted, mentioned), previews off, refused endpoints, a gone subscription
//! and a signed-out session; the ntfy topic; the unread nudge.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Login, TestApp, phone};
use crate::webpush::{StandIn, Subscription, verify_vapid};

/// A server whose push services include the stand-in.
async fn app_with(stand_in: &StandIn, more: &[(&str, &str)]) -> TestApp {
    let allowed = format!("127.0.0.1:{}", stand_in.port);
    let mut settings = vec![
        ("--push-allowed-hosts", allowed.as_str()),
        ("--public-url", "https://chat.example.org"),
    ];
    settings.extend_from_slice(more);
    TestApp::spawn_with(&settings).await
}

/// Subscribes `who`'s browser at the stand-in's `path`.
async fn subscribe(app: &TestApp, who: &Login, stand_in: &StandIn, path: &str) -> Subscription {
    let browser = Subscription::new();
    let (status, body) = app
        .post(
            "/api/push/subscriptions",
            &who.access,
            json!({
                "endpoint": format!("{}/push/{path}", stand_in.origin()),
                "keys": {
                    "p256dh": URL_SAFE_NO_PAD.encode(browser.public_bytes()),
                    "auth": URL_SAFE_NO_PAD.encode(browser.auth),
                },
                "expirationTime": null
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    browser
}

/// Waits until the stand-in saw `count` pushes at `path`.
async fn pushes_at(stand_in: &StandIn, path: &str, count: usize) -> Vec<crate::webpush::Hit> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hits: Vec<_> = stand_in
            .hits()
            .into_iter()
            .filter(|hit| hit.path == format!("/push/{path}"))
            .collect();
        if hits.len() >= count {
            return hits;
        }
        assert!(
            Instant::now() < deadline,
            "{count} pushes at {path} never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// No push came at `path` within a moment.
async fn no_push_at(stand_in: &StandIn, path: &str) {
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        stand_in.hits_at(&format!("/push/{path}")),
        0,
        "a push at {path}"
    );
}

async fn public_key(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.url("/api/push/key"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["publicKey"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_message_to_someone_not_looking_arrives_encrypted_and_signed() {
    let stand_in = StandIn::spawn().await;
    let app = app_with(&stand_in, &[]).await;
    let (ana, budi) = (app.login(&phone(9001)).await, app.login(&phone(9002)).await);
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            "/api/users/profile",
            Some(&budi.access),
            Some(json!({ "name": "Budi" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let browser = subscribe(&app, &ana, &stand_in, "ana").await;
    let chat = app.private_chat(&ana, &budi).await;
    app.send_message(&budi, &chat, "Halo!").await;
    let hit = pushes_at(&stand_in, "ana", 1).await.remove(0);
    let payload: Value = serde_json::from_slice(&browser.decrypt(&hit.body)).unwrap();
    assert_eq!(payload["title"], "Budi");
    assert_eq!(payload["body"], "Halo!");
    assert_eq!(payload["chatId"], chat);
    assert_eq!(payload["url"], format!("/chats/{chat}"));
    assert_eq!(hit.headers["urgency"], "high", "a private chat is urgent");
    // A day, less the moment it waited in the queue.
    let ttl: u64 = hit.headers["ttl"].to_str().unwrap().parse().unwrap();
    assert!((86_300..=86_400).contains(&ttl), "{ttl}");
    assert!(hit.headers.contains_key("topic"));
    verify_vapid(
        hit.headers["authorization"].to_str().unwrap(),
        &stand_in.origin(),
        &public_key(&app).await,
        "https://chat.example.org",
    );
    // The sender's own browsers are not told about their own message.
    let _budi_browser = subscribe(&app, &budi, &stand_in, "budi").await;
    app.send_message(&budi, &chat, "Again").await;
    pushes_at(&stand_in, "ana", 2).await;
    no_push_at(&stand_in, "budi").await;
}

#[tokio::test]
async fn the_app_in_view_gets_no_push_and_a_hidden_one_does() {
    let stand_in = StandIn::spawn().await;
    let app = app_with(&stand_in, &[]).await;
    let (ana, budi) = (app.login(&phone(9011)).await, app.login(&phone(9012)).await);
    let _browser = subscribe(&app, &ana, &stand_in, "ana").await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut socket = app.joined_ws(&ana).await;
    app.send_message(&budi, &chat, "seen live").await;
    no_push_at(&stand_in, "ana").await;
    let ack = socket
        .request("visibility", json!({ "visible": false }))
        .await;
    assert_eq!(ack["data"]["visible"], false, "{ack}");
    app.send_message(&budi, &chat, "while hidden").await;
    pushes_at(&stand_in, "ana", 1).await;
    // Only that one: the message seen live never made a push, late or not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stand_in.hits_at("/push/ana"), 1);
    let bad = socket
        .request("visibility", json!({ "visible": "no" }))
        .await;
    assert!(bad.to_string().contains("validation_failed"), "{bad}");
}

#[tokio::test]
async fn a_muted_group_is_quiet_but_a_mention_breaks_through_and_previews_can_be_off() {
    let stand_in = StandIn::spawn().await;
    let app = app_with(&stand_in, &[("--push-preview", "false")]).await;
    let (ana, budi) = (app.login(&phone(9021)).await, app.login(&phone(9022)).await);
    let browser = subscribe(&app, &ana, &stand_in, "ana").await;
    let group = app.group(&budi, &[&ana], "Family").await;
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/chats/{group}/mute"),
            Some(&ana.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, chats) = app.get("/api/chats", &ana.access).await;
    assert_eq!(chats["chats"][0]["muted"], true, "{chats}");
    app.send_message(&budi, &group, "dinner at 7").await;
    no_push_at(&stand_in, "ana").await;
    let (status, sent) = app
        .post(
            &format!("/api/chats/{group}/messages"),
            &budi.access,
            json!({ "content": format!("@ana look"), "mentions": [ana.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let hit = pushes_at(&stand_in, "ana", 1).await.remove(0);
    let payload: Value = serde_json::from_slice(&browser.decrypt(&hit.body)).unwrap();
    assert_eq!(payload["title"], "Family");
    assert!(
        payload["body"].as_str().unwrap().ends_with("New message"),
        "{payload}"
    );
    assert_eq!(hit.headers["urgency"], "high", "a mention is urgent");
    // Unmuted, an ordinary group message is a normal push.
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/chats/{group}/mute"),
            Some(&ana.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.send_message(&budi, &group, "plain").await;
    let hits = pushes_at(&stand_in, "ana", 2).await;
    // The mention and the unmuted message, never the muted one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stand_in.hits_at("/push/ana"), 2);
    assert_eq!(hits[1].headers["urgency"], "normal");
    // Someone else's chat cannot be muted.
    let outsider = app.login(&phone(9023)).await;
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/chats/{group}/mute"),
            Some(&outsider.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn endpoints_that_are_not_push_services_are_refused() {
    let stand_in = StandIn::spawn().await;
    let app = app_with(&stand_in, &[]).await;
    let ana = app.login(&phone(9031)).await;
    let keys = json!({
        "p256dh": URL_SAFE_NO_PAD.encode(Subscription::new().public_bytes()),
        "auth": URL_SAFE_NO_PAD.encode([7u8; 16]),
    });
    for endpoint in [
        "http://fcm.googleapis.com/fcm/send/x",
        "https://example.com/push",
        "http://127.0.0.1:9/push",
        "https://10.0.0.1/push",
        "https://user@fcm.googleapis.com/fcm/send/x",
        "not a url",
    ] {
        let (status, body) = app
            .post(
                "/api/push/subscriptions",
                &ana.access,
                json!({ "endpoint": endpoint, "keys": keys }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{endpoint}: {body}");
        assert_eq!(body["code"], "validation_failed", "{endpoint}: {body}");
    }
    let (status, body) = app
        .post(
            "/api/push/subscriptions",
            &ana.access,
            json!({ "endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": { "p256dh": "short", "auth": "x" } }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app
        .post(
            "/api/push/subscriptions",
            "not-a-token",
            json!({ "endpoint": "https://fcm.googleapis.com/x", "keys": keys }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_gone_subscription_and_a_signed_out_session_get_no_more_pushes() {
    let stand_in = StandIn::spawn().await;
    let app = app_with(&stand_in, &[]).await;
    let (ana, budi) = (app.login(&phone(9041)).await, app.login(&phone(9042)).await);
    let _gone = subscribe(&app, &ana, &stand_in, "gone-410").await;
    let chat = app.private_chat(&ana, &budi).await;
    app.send_message(&budi, &chat, "one").await;
    pushes_at(&stand_in, "gone-410", 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.send_message(&budi, &chat, "two").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        stand_in.hits_at("/push/gone-410"),
        1,
        "the gone subscription was dropped"
    );

    let _kept = subscribe(&app, &ana, &stand_in, "kept").await;
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            "/api/push/subscriptions",
            Some(&ana.access),
            Some(json!({ "endpoint": format!("{}/push/kept", stand_in.origin()) })),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let _later = subscribe(&app, &ana, &stand_in, "session").await;
    let (status, _) = app
        .post(
            "/api/auth/logout",
            &ana.access,
            json!({ "refreshToken": ana.refresh }),
        )
        .await;
    assert!(status.is_success(), "{status}");
    app.send_message(&budi, &chat, "three").await;
    no_push_at(&stand_in, "kept").await;
    no_push_at(&stand_in, "session").await;
}

#[tokio::test]
async fn the_ntfy_topic_carries_the_message_with_a_link_and_can_be_replaced() {
    let stand_in = StandIn::spawn().await;
    let app = app_with(&stand_in, &[]).await;
    let (ana, budi) = (app.login(&phone(9051)).await, app.login(&phone(9052)).await);
    app.call(
        reqwest::Method::PUT,
        "/api/users/profile",
        Some(&budi.access),
        Some(json!({ "name": "Budi" })),
    )
    .await;
    let (status, topic) = app.get("/api/notify/topic", &ana.access).await;
    assert_eq!(status, StatusCode::OK, "{topic}");
    let path = topic["path"].as_str().unwrap().to_owned();
    assert_eq!(topic["url"], format!("https://chat.example.org{path}"));
    assert_eq!(
        topic["topic"].as_str().unwrap().len(),
        32,
        "128 bits of hex"
    );
    assert!(topic["qrSvg"].as_str().unwrap().starts_with("<svg"));
    // Two first asks at once end with one topic.
    let budi_asks = (
        app.get("/api/notify/topic", &budi.access),
        app.get("/api/notify/topic", &budi.access),
    );
    let ((_, first), (_, second)) = tokio::join!(budi_asks.0, budi_asks.1);
    assert_eq!(first["path"], second["path"]);
    let (_, again) = app.get("/api/notify/topic", &ana.access).await;
    assert_eq!(again["path"], path, "the same topic until replaced");
    let chat = app.private_chat(&ana, &budi).await;
    app.send_message(&budi, &chat, "Halo!").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        let text = app
            .client
            .get(app.url(&format!("{path}/json?poll=1&since=all")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if let Some(line) = text.lines().find(|line| line.contains("\"message\"")) {
            break serde_json::from_str::<Value>(line).unwrap();
        }
        assert!(Instant::now() < deadline, "no message on the topic: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(message["event"], "message");
    assert_eq!(message["title"], "Budi");
    assert_eq!(message["message"], "Halo!");
    assert_eq!(
        message["click"],
        format!("https://chat.example.org/chats/{chat}")
    );
    let (status, replaced) = app
        .call(
            reqwest::Method::DELETE,
            "/api/notify/topic",
            Some(&ana.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(replaced["path"], path);
    let old = app
        .client
        .get(app.url(&format!("{path}/json?poll=1")))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::NOT_FOUND, "the old topic is gone");
}

#[tokio::test]
async fn an_unread_private_message_is_nudged_once_by_the_signed_webhook() {
    let hook = StandIn::spawn().await;
    let url = format!("{}/push/nudge", hook.origin());
    let app = TestApp::spawn_with(&[
        ("--notify-webhook-url", url.as_str()),
        ("--notify-webhook-secret", "nudge-secret"),
        ("--notify-webhook-delay", "1s"),
    ])
    .await;
    let (ana, budi) = (app.login(&phone(9061)).await, app.login(&phone(9062)).await);
    let chat = app.private_chat(&ana, &budi).await;
    app.send_message(&budi, &chat, "are you there?").await;
    app.send_message(&budi, &chat, "hello?").await;
    let hits = pushes_at(&hook, "nudge", 1).await;
    let body: Value = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(body["userId"], ana.id);
    assert_eq!(body["phoneNumber"], ana.phone);
    assert_eq!(body["chatId"], chat);
    assert_eq!(body["unread"], 2);
    let signature = hits[0].headers["x-clavox-signature"].to_str().unwrap();
    assert_eq!(
        signature,
        clavox::auth::delivery::signature("nudge-secret", &hits[0].body)
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        hook.hits_at("/push/nudge"),
        1,
        "once per chat and quiet period"
    );
    // Read before the delay: no nudge.
    let (_, sent) = app
        .post(
            &format!("/api/chats/{chat}/messages"),
            &ana.access,
            json!({ "content": "yes" }),
        )
        .await;
    let seq = sent["seq"].as_u64().unwrap();
    let (status, _) = app
        .post(
            &format!("/api/chats/{chat}/read"),
            &budi.access,
            json!({ "seq": seq }),
        )
        .await;
    assert!(status.is_success());
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(hook.hits_at("/push/nudge"), 1, "budi read it in time");
}
