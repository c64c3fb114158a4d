//! Authentication.

use super::*;

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
        ("ping", json!({})),
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
    let (answer, _) = request_seeing(&mut ws, RAW_ID + 11, "ping", json!({})).await;
    assert_error(&answer, RAW_ID + 11, "unauthorized");

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
async fn a_socket_that_never_authenticates_is_closed_with_4001_at_the_auth_timeout() {
    let app = TestApp::spawn_with(&[("--socket-auth-timeout", "1s")]).await;
    let ana = app.login(&phone(3075)).await;
    let opened = Instant::now();
    let mut idle = app.connect_ws(None).await;
    let mut authenticated = app.joined_ws(&ana).await;

    assert_eq!(idle.close_code().await, Some(4001));
    let after = opened.elapsed();
    assert!(
        after >= Duration::from_millis(900) && after <= Duration::from_secs(4),
        "closed after {after:?}, not ~1 s"
    );
    // The deadline is for sockets that never authenticate.
    assert_answers(&mut authenticated).await;
}
