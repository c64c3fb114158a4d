//! Message changes: the change feed, edits, deletions, reactions, pins,
//! forwarding, replies, mentions and delivery marks, over REST and `/ws`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::authz::SocketIo;
use crate::support::{Login, TestApp, phone};

async fn change(
    app: &TestApp,
    method: Method,
    who: &Login,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(method, path, Some(&who.access), body).await
}

async fn edit(
    app: &TestApp,
    who: &Login,
    chat: &str,
    seq: u64,
    content: &str,
) -> (StatusCode, Value) {
    let path = format!("/api/chats/{chat}/messages/{seq}");
    change(
        app,
        Method::PATCH,
        who,
        &path,
        Some(json!({ "content": content })),
    )
    .await
}

async fn delete(app: &TestApp, who: &Login, chat: &str, seq: u64) -> (StatusCode, Value) {
    let path = format!("/api/chats/{chat}/messages/{seq}");
    change(app, Method::DELETE, who, &path, None).await
}

async fn react(
    app: &TestApp,
    who: &Login,
    chat: &str,
    seq: u64,
    emoji: &str,
    on: bool,
) -> (StatusCode, Value) {
    let emoji: String = emoji.bytes().map(|byte| format!("%{byte:02X}")).collect();
    let path = format!("/api/chats/{chat}/messages/{seq}/reactions/{emoji}");
    let method = if on { Method::PUT } else { Method::DELETE };
    change(app, method, who, &path, None).await
}

async fn changes(app: &TestApp, who: &Login, chat: &str, query: &str) -> Value {
    let (status, page) = app
        .get(&format!("/api/chats/{chat}/changes?{query}"), &who.access)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

/// The message `seq` of `chat` as `who` reads it in a page.
async fn message(app: &TestApp, who: &Login, chat: &str, seq: u64) -> Value {
    let (status, page) = app
        .get(
            &format!("/api/chats/{chat}/messages?after={}&limit=1", seq - 1),
            &who.access,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["messages"][0].clone()
}

fn assert_code(answer: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(
        (answer.0, answer.1["code"].as_str()),
        (status, Some(code)),
        "{}",
        answer.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_take_the_next_rev_keep_their_history_and_reach_sockets_in_rev_order() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(7001)).await;
    let budi = app.login(&phone(7002)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut budi_ws = app.joined_ws(&budi).await;
    let first = app.send_message(&ana, &chat, "helo").await;
    app.send_message(&ana, &chat, "second").await;
    assert_eq!(
        (first["rev"].as_u64(), first["editedAt"].is_null()),
        (Some(1), true)
    );

    let (status, edited) = edit(&app, &ana, &chat, 1, "hello").await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(
        (edited["content"].as_str(), edited["rev"].as_u64()),
        (Some("hello"), Some(3))
    );
    assert!(edited["editedAt"].is_string());
    assert_eq!(edited["id"], first["id"]);
    let (_, edited) = edit(&app, &ana, &chat, 1, "hello!").await;
    assert_eq!(edited["rev"], 4);
    let (status, history) = app
        .get(&format!("/api/chats/{chat}/messages/1/edits"), &budi.access)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        history["edits"],
        json!([
            { "content": "helo", "editedAt": first["createdAt"] },
            { "content": "hello", "editedAt": history["edits"][1]["editedAt"] },
        ])
    );
    assert!(history["edits"][1]["editedAt"].as_str() > first["createdAt"].as_str());

    // Budi's socket saw it all in rev order, as one stream per chat.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let frame = budi_ws.next_frame().await.expect("the socket stays open");
        if let Some(name @ ("new_message" | "message_updated")) = frame["event"].as_str() {
            seen.push((name.to_owned(), frame["data"]["rev"].as_u64().unwrap()));
        }
    }
    assert_eq!(
        seen,
        [
            ("new_message", 1),
            ("new_message", 2),
            ("message_updated", 3),
            ("message_updated", 4)
        ]
        .map(|(name, rev)| (name.to_owned(), rev))
    );

    // The change feed: each message once, under its latest change.
    let page = changes(&app, &budi, &chat, "since=0").await;
    let revs: Vec<(u64, u64)> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["seq"].as_u64().unwrap(), m["rev"].as_u64().unwrap()))
        .collect();
    assert_eq!(revs, [(2, 2), (1, 4)]);
    assert_eq!(
        (page["rev"].as_u64(), page["hasMore"].as_bool()),
        (Some(4), Some(false))
    );
    let page = changes(&app, &budi, &chat, "since=2&limit=1").await;
    assert_eq!(
        (
            page["messages"][0]["content"].as_str(),
            page["hasMore"].as_bool()
        ),
        (Some("hello!"), Some(false))
    );
    assert_eq!(
        changes(&app, &budi, &chat, "since=4").await["messages"],
        json!([])
    );
    let page = changes(&app, &budi, &chat, "since=0&limit=1").await;
    assert_eq!(
        (
            page["messages"].as_array().unwrap().len(),
            page["hasMore"].as_bool()
        ),
        (1, Some(true))
    );
    for bad in ["since=-1", "since=x", "limit=0", "limit=501", "limit=ten"] {
        let (status, body) = app
            .get(&format!("/api/chats/{chat}/changes?{bad}"), &budi.access)
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("validation_failed")),
            "{bad}"
        );
    }

    // Only the sender edits, and only with content a message may have.
    assert_code(
        &edit(&app, &budi, &chat, 1, "mine now").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_code(
        &edit(&app, &ana, &chat, 1, "   ").await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_code(
        &edit(&app, &ana, &chat, 1, &"x".repeat(4097)).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    let path = format!("/api/chats/{chat}/messages/1");
    let wrong_type = change(
        &app,
        Method::PATCH,
        &ana,
        &path,
        Some(json!({ "content": 5 })),
    )
    .await;
    assert_code(&wrong_type, StatusCode::BAD_REQUEST, "validation_failed");
    assert_code(
        &edit(&app, &ana, &chat, 99, "nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_code(
        &edit(&app, &ana, &chat, 0, "nope").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (status, _) = change(
        &app,
        Method::PATCH,
        &ana,
        &format!("/api/chats/{chat}/messages/x"),
        Some(json!({ "content": "a" })),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing refused moved the chat's rev.
    assert_eq!(changes(&app, &ana, &chat, "since=0").await["rev"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_windows_close_edits_and_deletions_for_the_sender_but_not_for_group_admins() {
    let app = TestApp::spawn_with(&[("--edit-window", "1s"), ("--delete-window", "1s")]).await;
    let ana = app.login(&phone(7011)).await;
    let budi = app.login(&phone(7012)).await;
    let cita = app.login(&phone(7013)).await;
    let group = app.group(&ana, &[&budi, &cita], "Windows").await;
    app.send_message(&budi, &group, "typo").await;
    app.send_message(&budi, &group, "another").await;
    assert_eq!(
        edit(&app, &budi, &group, 1, "fixed").await.0,
        StatusCode::OK
    );
    // A member may not delete another's message, even fresh.
    assert_code(
        &delete(&app, &cita, &group, 2).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_code(
        &edit(&app, &budi, &group, 1, "again").await,
        StatusCode::FORBIDDEN,
        "edit_window_closed",
    );
    assert_code(
        &delete(&app, &budi, &group, 1).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // The group's admin deletes any message at any time.
    let (status, tombstone) = delete(&app, &ana, &group, 2).await;
    assert_eq!(status, StatusCode::OK, "{tombstone}");
    assert!(tombstone["deletedAt"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_for_everyone_erases_the_message_and_frees_its_file() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(7021)).await;
    let budi = app.login(&phone(7022)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let png = crate::uploads::png();
    let uploaded: Value = app
        .client
        .post(app.url("/api/uploads?name=photo.png"))
        .bearer_auth(&ana.access)
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = uploaded["url"].as_str().unwrap().to_owned();
    let (status, photo) = app
        .post(
            &format!("/api/chats/{chat}/messages"),
            &ana.access,
            json!({ "type": "image", "content": "our cat", "metadata": { "url": url }, "mentions": [budi.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{photo}");
    assert_eq!(photo["mentions"], json!([budi.id]));
    assert_eq!(
        react(&app, &budi, &chat, 1, "❤️", true).await.0,
        StatusCode::OK
    );
    assert_eq!(
        edit(&app, &ana, &chat, 1, "our cat, asleep").await.0,
        StatusCode::OK
    );
    assert_eq!(
        change(
            &app,
            Method::PUT,
            &budi,
            &format!("/api/chats/{chat}/pins/1"),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let mut budi_ws = app.joined_ws(&budi).await;

    let (status, tombstone) = delete(&app, &ana, &chat, 1).await;
    assert_eq!(status, StatusCode::OK, "{tombstone}");
    assert_eq!(
        (
            &tombstone["content"],
            &tombstone["metadata"],
            &tombstone["reactions"],
            &tombstone["mentions"],
            &tombstone["pinned"],
            &tombstone["editedAt"],
        ),
        (
            &json!(""),
            &Value::Null,
            &json!([]),
            &json!([]),
            &json!(false),
            &Value::Null
        )
    );
    assert!(tombstone["deletedAt"].is_string());
    assert_eq!(
        (tombstone["seq"].as_u64(), tombstone["type"].as_str()),
        (Some(1), Some("image"))
    );
    let pushed = budi_ws.wait_for("message_updated").await;
    assert_eq!(pushed, tombstone);
    // Gone from everywhere: history, pins, the file itself.
    let (_, history) = app
        .get(&format!("/api/chats/{chat}/messages/1/edits"), &budi.access)
        .await;
    assert_eq!(history["edits"], json!([]));
    let (_, pins) = app
        .get(&format!("/api/chats/{chat}/pins"), &budi.access)
        .await;
    assert_eq!(pins["messages"], json!([]));
    let file = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::NOT_FOUND);
    // A second delete is a no-op; every other change is refused.
    let again = delete(&app, &ana, &chat, 1).await;
    assert_eq!(
        (again.0, &again.1["rev"]),
        (StatusCode::OK, &tombstone["rev"])
    );
    assert_code(
        &edit(&app, &ana, &chat, 1, "back").await,
        StatusCode::CONFLICT,
        "message_deleted",
    );
    assert_code(
        &react(&app, &budi, &chat, 1, "👍", true).await,
        StatusCode::CONFLICT,
        "message_deleted",
    );
    let pin = change(
        &app,
        Method::PUT,
        &budi,
        &format!("/api/chats/{chat}/pins/1"),
        None,
    )
    .await;
    assert_code(&pin, StatusCode::CONFLICT, "message_deleted");
    let forward = change(
        &app,
        Method::POST,
        &budi,
        &format!("/api/chats/{chat}/messages/1/forward"),
        Some(json!({ "chatIds": [chat] })),
    )
    .await;
    assert_code(&forward, StatusCode::CONFLICT, "message_deleted");
    assert_eq!(
        changes(&app, &budi, &chat, "since=0").await["rev"],
        tombstone["rev"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_for_oneself_hides_only_from_the_caller_and_moves_no_rev() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(7031)).await;
    let budi = app.login(&phone(7032)).await;
    let chat = app.private_chat(&ana, &budi).await;
    app.send_message(&budi, &chat, "embarrassing").await;
    let path = format!("/api/chats/{chat}/messages/1/hide");
    let (status, hidden) = change(&app, Method::POST, &ana, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{hidden}");
    assert_eq!(
        (
            hidden["hidden"].as_bool(),
            hidden["content"].as_str(),
            hidden["rev"].as_u64()
        ),
        (Some(true), Some(""), Some(1))
    );
    let mine = message(&app, &ana, &chat, 1).await;
    assert_eq!(
        (mine["hidden"].as_bool(), mine["content"].as_str()),
        (Some(true), Some(""))
    );
    let theirs = message(&app, &budi, &chat, 1).await;
    assert_eq!(
        (theirs["hidden"].as_bool(), theirs["content"].as_str()),
        (Some(false), Some("embarrassing"))
    );
    assert_eq!(changes(&app, &ana, &chat, "since=0").await["rev"], 1);
    let (_, chats) = app.get("/api/chats", &ana.access).await;
    assert_eq!(chats["chats"][0]["lastMessage"]["hidden"], true);
    assert_code(
        &change(
            &app,
            Method::POST,
            &ana,
            &format!("/api/chats/{chat}/messages/2/hide"),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_are_single_emoji_toggled_idempotently_and_capped_at_twenty() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(7041)).await;
    let budi = app.login(&phone(7042)).await;
    let chat = app.private_chat(&ana, &budi).await;
    app.send_message(&ana, &chat, "react to me").await;
    let (status, once) = react(&app, &ana, &chat, 1, "👍", true).await;
    assert_eq!(status, StatusCode::OK, "{once}");
    let (_, twice) = react(&app, &ana, &chat, 1, "👍", true).await;
    assert_eq!(
        (&twice["reactions"], &twice["rev"]),
        (
            &json!([{ "emoji": "👍", "userIds": [ana.id] }]),
            &once["rev"]
        )
    );
    let (_, both) = react(&app, &budi, &chat, 1, "👍", true).await;
    assert_eq!(
        both["reactions"],
        json!([{ "emoji": "👍", "userIds": [ana.id, budi.id] }])
    );
    for emoji in ["👍🏽", "👨‍👩‍👧‍👦", "🇮🇩", "1️⃣"] {
        assert_eq!(
            react(&app, &budi, &chat, 1, emoji, true).await.0,
            StatusCode::OK,
            "{emoji}"
        );
    }
    let (_, off) = react(&app, &ana, &chat, 1, "👍", false).await;
    assert_eq!(
        off["reactions"][0],
        json!({ "emoji": "👍", "userIds": [budi.id] })
    );
    let (_, off_again) = react(&app, &ana, &chat, 1, "👍", false).await;
    assert_eq!(off_again["rev"], off["rev"]);
    for bad in ["ab", "👍👍", "<b>", " ", "👍 "] {
        assert_code(
            &react(&app, &ana, &chat, 1, bad, true).await,
            StatusCode::BAD_REQUEST,
            "validation_failed",
        );
    }
    let distinct = [
        "😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰",
    ];
    for emoji in distinct {
        assert_eq!(
            react(&app, &ana, &chat, 1, emoji, true).await.0,
            StatusCode::OK
        );
    }
    // 👍, 4 from the loop above, and 15: twenty.
    let refused = react(&app, &ana, &chat, 1, "🙃", true).await;
    assert_code(&refused, StatusCode::BAD_REQUEST, "too_many_reactions");
    // An emoji already there still takes one more person.
    assert_eq!(
        react(&app, &ana, &chat, 1, "🇮🇩", true).await.0,
        StatusCode::OK
    );
    let stored = message(&app, &budi, &chat, 1).await;
    assert_eq!(stored["reactions"].as_array().unwrap().len(), 20);
    assert_eq!(
        stored["reactions"][0]["emoji"], "👍",
        "in order of first use"
    );
    let socket_react = json!({ "chatId": chat, "seq": 1, "emoji": "😀", "on": "yes" });
    let mut ws = app.joined_ws(&ana).await;
    let answer = ws.request("react", socket_react).await;
    assert_eq!(answer["data"]["code"], "validation_failed", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_in_groups_are_for_admins_newest_first_and_capped_at_fifty() {
    let app = TestApp::spawn_with(&[("--message-rate", "0")]).await;
    let ana = app.login(&phone(7051)).await;
    let budi = app.login(&phone(7052)).await;
    let group = app.group(&ana, &[&budi], "Pins").await;
    for n in 0..52 {
        app.send_message(&budi, &group, &format!("note {n}")).await;
    }
    let pin = |who: &Login, seq: u64, on: bool| {
        let path = format!("/api/chats/{group}/pins/{seq}");
        let method = if on { Method::PUT } else { Method::DELETE };
        let token = who.access.clone();
        let app = &app;
        async move { app.call(method, &path, Some(&token), None).await }
    };
    assert_code(
        &pin(&budi, 1, true).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let (status, pinned) = pin(&ana, 1, true).await;
    assert_eq!(
        (status, pinned["pinned"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    pin(&ana, 2, true).await;
    let (_, pins) = app
        .get(&format!("/api/chats/{group}/pins"), &budi.access)
        .await;
    let seqs: Vec<u64> = pins["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 1]);
    let (_, unpinned) = pin(&ana, 1, false).await;
    assert_eq!(unpinned["pinned"], false);
    for seq in 3..=51 {
        assert_eq!(pin(&ana, seq, true).await.0, StatusCode::OK, "{seq}");
    }
    assert_code(
        &pin(&ana, 52, true).await,
        StatusCode::BAD_REQUEST,
        "too_many_pins",
    );
    assert_code(
        &pin(&ana, 99, true).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // In a private chat both people may pin.
    let chat = app.private_chat(&ana, &budi).await;
    app.send_message(&ana, &chat, "address").await;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/chats/{chat}/pins/1"),
            Some(&budi.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_copies_into_the_callers_chats_only() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(7061)).await;
    let budi = app.login(&phone(7062)).await;
    let cita = app.login(&phone(7063)).await;
    let dewi = app.login(&phone(7064)).await;
    let with_budi = app.private_chat(&ana, &budi).await;
    let with_cita = app.private_chat(&ana, &cita).await;
    let family = app.group(&ana, &[&budi, &cita], "Family").await;
    let strangers = app.private_chat(&budi, &dewi).await;
    app.send_message(&budi, &with_budi, "the recipe").await;
    let mut cita_ws = app.joined_ws(&cita).await;
    let path = format!("/api/chats/{with_budi}/messages/1/forward");
    let (status, copies) = change(
        &app,
        Method::POST,
        &ana,
        &path,
        Some(json!({ "chatIds": [with_cita, family, with_cita] })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{copies}");
    let copies = copies["messages"].as_array().unwrap();
    assert_eq!(copies.len(), 2);
    for (copy, chat) in copies.iter().zip([&with_cita, &family]) {
        assert_eq!(
            (copy["chatId"].as_str(), copy["senderId"].as_str()),
            (Some(chat.as_str()), Some(ana.id.as_str()))
        );
        assert_eq!(
            (copy["content"].as_str(), copy["forwarded"].as_bool()),
            (Some("the recipe"), Some(true))
        );
    }
    let pushed = cita_ws.wait_for("new_message").await;
    assert_eq!(pushed["forwarded"], true);
    // A chat the caller is not in: 404, and nothing is copied anywhere.
    let refused = change(
        &app,
        Method::POST,
        &ana,
        &path,
        Some(json!({ "chatIds": [with_cita, strangers] })),
    )
    .await;
    assert_code(&refused, StatusCode::NOT_FOUND, "not_found");
    let (_, page) = app
        .get(&format!("/api/chats/{with_cita}/messages"), &ana.access)
        .await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    for body in [
        json!({ "chatIds": [] }),
        json!({ "chatIds": "x" }),
        json!({}),
    ] {
        let answer = change(&app, Method::POST, &ana, &path, Some(body.clone())).await;
        assert_code(&answer, StatusCode::BAD_REQUEST, "validation_failed");
    }
    let outsider = change(
        &app,
        Method::POST,
        &dewi,
        &path,
        Some(json!({ "chatIds": [strangers] })),
    )
    .await;
    assert_code(&outsider, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_preview_the_message_as_it_is_now_and_mentions_name_participants() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(7071)).await;
    let budi = app.login(&phone(7072)).await;
    let cita = app.login(&phone(7073)).await;
    let group = app.group(&ana, &[&budi], "Replies").await;
    let long = "a question that goes on ".repeat(10);
    app.send_message(&ana, &group, &long).await;
    let path = format!("/api/chats/{group}/messages");
    let send = |body: Value| app.post(&path, &budi.access, body);
    let (status, reply) =
        send(json!({ "content": "yes", "replyTo": 1, "mentions": [ana.id, budi.id, ana.id] }))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let preview: String = long.chars().take(100).collect();
    assert_eq!(
        reply["replyTo"],
        json!({ "seq": 1, "senderId": ana.id, "type": "text", "preview": preview })
    );
    assert_eq!(
        reply["mentions"],
        json!([ana.id]),
        "the sender's own mention is dropped"
    );
    edit(&app, &ana, &group, 1, "short now").await;
    assert_eq!(
        message(&app, &budi, &group, 2).await["replyTo"]["preview"],
        "short now"
    );
    delete(&app, &ana, &group, 1).await;
    assert_eq!(
        message(&app, &budi, &group, 2).await["replyTo"]["preview"],
        ""
    );
    // A deleted message may still be answered; a missing one may not.
    assert_eq!(
        send(json!({ "content": "still", "replyTo": 1 })).await.0,
        StatusCode::CREATED
    );
    for body in [
        json!({ "content": "x", "replyTo": 99 }),
        json!({ "content": "x", "replyTo": 0 }),
        json!({ "content": "x", "replyTo": "1" }),
        json!({ "content": "x", "mentions": [cita.id] }),
        json!({ "content": "x", "mentions": ["not-an-id"] }),
        json!({ "content": "x", "mentions": vec![ana.id.clone(); 51] }),
    ] {
        let answer = send(body.clone()).await;
        assert_code(&answer, StatusCode::BAD_REQUEST, "validation_failed");
    }
    assert_eq!(changes(&app, &budi, &group, "since=0").await["rev"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_marks_move_forward_reads_imply_them_and_both_sides_hear() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(7081)).await;
    let budi = app.login(&phone(7082)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let sent = app.send_message(&ana, &chat, "one").await;
    assert_eq!(
        (sent["isDelivered"].as_bool(), &sent["deliveredTo"]),
        (Some(false), &json!([]))
    );
    app.send_message(&ana, &chat, "two").await;
    let mut ana_ws = app.joined_ws(&ana).await;
    let mut budi_ws = app.joined_ws(&budi).await;
    let answer = budi_ws
        .request("mark_received", json!({ "chatId": chat, "seq": 1 }))
        .await;
    assert_eq!(answer["event"], "ack", "{answer}");
    assert_eq!(
        (
            answer["data"]["seq"].as_u64(),
            answer["data"]["userId"].as_str()
        ),
        (Some(1), Some(budi.id.as_str()))
    );
    let delivered = ana_ws.wait_for("message_delivered").await;
    assert_eq!(delivered, answer["data"]);
    let first = message(&app, &ana, &chat, 1).await;
    assert_eq!(first["isDelivered"], true);
    assert_eq!(
        first["deliveredTo"],
        json!([{ "userId": budi.id, "deliveredAt": delivered["deliveredAt"] }])
    );
    assert_eq!(message(&app, &ana, &chat, 2).await["isDelivered"], false);
    // Reading implies delivery; a lower mark changes nothing.
    app.post(
        &format!("/api/chats/{chat}/read"),
        &budi.access,
        json!({ "seq": 2 }),
    )
    .await;
    let second = message(&app, &ana, &chat, 2).await;
    assert_eq!(
        (second["isDelivered"].as_bool(), second["isRead"].as_bool()),
        (Some(true), Some(true))
    );
    let (status, mark) = app
        .post(
            &format!("/api/chats/{chat}/received"),
            &budi.access,
            json!({ "seq": 1 }),
        )
        .await;
    assert_eq!((status, mark["seq"].as_u64()), (StatusCode::OK, Some(2)));
    let (status, mark) = app
        .post(
            &format!("/api/chats/{chat}/received"),
            &budi.access,
            json!({ "seq": 99 }),
        )
        .await;
    assert_eq!(
        (status, mark["seq"].as_u64()),
        (StatusCode::OK, Some(2)),
        "clamped to the newest"
    );
    let bad = app
        .post(
            &format!("/api/chats/{chat}/received"),
            &budi.access,
            json!({ "seq": -1 }),
        )
        .await;
    assert_code(&bad, StatusCode::BAD_REQUEST, "validation_failed");
    // Marks do not move rev.
    assert_eq!(changes(&app, &ana, &chat, "since=0").await["rev"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_events_change_messages_as_rest_does() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(7091)).await;
    let budi = app.login(&phone(7092)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut ana_ws = app.joined_ws(&ana).await;
    let mut budi_ws = app.joined_ws(&budi).await;
    // Budi's second device only listens.
    let mut watcher = app.joined_ws(&budi).await;
    let sent = ana_ws
        .request(
            "send_message",
            json!({ "chatId": chat, "content": "first", "mentions": [budi.id] }),
        )
        .await;
    assert_eq!(sent["data"]["mentions"], json!([budi.id]), "{sent}");
    let reply = budi_ws
        .request(
            "send_message",
            json!({ "chatId": chat, "content": "re", "replyTo": 1 }),
        )
        .await;
    assert_eq!(reply["data"]["replyTo"]["preview"], "first", "{reply}");
    let edited = ana_ws
        .request(
            "edit_message",
            json!({ "chatId": chat, "seq": 1, "content": "first!" }),
        )
        .await;
    assert_eq!(
        (edited["event"].as_str(), edited["data"]["rev"].as_u64()),
        (Some("ack"), Some(3)),
        "{edited}"
    );
    let reacted = budi_ws
        .request(
            "react",
            json!({ "chatId": chat, "seq": 1, "emoji": "🎉", "on": true }),
        )
        .await;
    assert_eq!(reacted["data"]["reactions"][0]["emoji"], "🎉", "{reacted}");
    let refused = budi_ws
        .request(
            "edit_message",
            json!({ "chatId": chat, "seq": 1, "content": "no" }),
        )
        .await;
    assert_eq!(
        (refused["event"].as_str(), refused["data"]["code"].as_str()),
        (Some("error"), Some("forbidden"))
    );
    let deleted = ana_ws
        .request("delete_message", json!({ "chatId": chat, "seq": 1 }))
        .await;
    assert!(deleted["data"]["deletedAt"].is_string(), "{deleted}");
    let after = budi_ws
        .request(
            "react",
            json!({ "chatId": chat, "seq": 1, "emoji": "🎉", "on": false }),
        )
        .await;
    assert_eq!(after["data"]["code"], "message_deleted");
    let unknown = budi_ws
        .request("delete_message", json!({ "chatId": chat, "seq": 7 }))
        .await;
    assert_eq!(unknown["data"]["code"], "not_found");
    // Budi's other device got every change in rev order.
    let mut revs = Vec::new();
    while revs.len() < 5 {
        let frame = watcher.next_frame().await.unwrap();
        if matches!(
            frame["event"].as_str(),
            Some("new_message" | "message_updated")
        ) && frame["data"]["chatId"] == chat.as_str()
        {
            revs.push(frame["data"]["rev"].as_u64().unwrap());
        }
    }
    assert_eq!(revs, [1, 2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_io_clients_change_messages_and_hear_changes_by_the_same_names() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(7101)).await;
    let budi = app.login(&phone(7102)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let (mut ana_io, answer) = SocketIo::open(&app, Some(&ana.access)).await;
    assert!(answer.starts_with("40"), "{answer}");
    let (mut budi_io, _) = SocketIo::open(&app, Some(&budi.access)).await;
    let sent = ana_io
        .request("send_message", &json!({ "chatId": chat, "content": "hai" }))
        .await;
    assert_eq!(sent["rev"], 1, "{sent}");
    assert_eq!(budi_io.wait_for("new_message").await["rev"], 1);
    let edited = ana_io
        .request(
            "edit_message",
            &json!({ "chatId": chat, "seq": 1, "content": "halo" }),
        )
        .await;
    assert_eq!(edited["content"], "halo", "{edited}");
    let updated = budi_io.wait_for("message_updated").await;
    assert_eq!(
        (updated["content"].as_str(), updated["rev"].as_u64()),
        (Some("halo"), Some(2))
    );
    let mark = budi_io
        .request("mark_received", &json!({ "chatId": chat, "seq": 1 }))
        .await;
    assert_eq!(mark["seq"], 1, "{mark}");
    assert_eq!(
        ana_io.wait_for("message_delivered").await["userId"],
        budi.id.as_str()
    );
    let deleted = budi_io
        .request("delete_message", &json!({ "chatId": chat, "seq": 1 }))
        .await;
    assert_eq!(deleted["code"], "forbidden", "{deleted}");
}
