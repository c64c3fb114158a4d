//! Bad frames.

use super::*;

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
