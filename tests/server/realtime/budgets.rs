//! Budgets.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_socket_cannot_get_a_quiet_one_closed() {
    let app = TestApp::spawn().await;
    let (mallory, victim) = (app.login(&phone(3300)).await, app.login(&phone(3301)).await);
    let chat = app.private_chat(&mallory, &victim).await;
    let mut flood = app.joined_ws(&mallory).await;
    let mut quiet = app.joined_ws(&victim).await;

    // Three times the victim's 1024-frame outbox, as fast as the flooder
    // reads its own refusals.
    let mut refused = 0;
    for round in 0..30 {
        for n in 0..100 {
            let event = if n % 2 == 0 {
                "typing_start"
            } else {
                "typing_stop"
            };
            flood.emit(event, json!({ "chatId": chat })).await;
        }
        while let Ok(Some(frame)) =
            tokio::time::timeout(Duration::from_millis(50), flood.next_frame()).await
        {
            if frame["event"] == "error" && frame["data"]["code"] == "rate_limited" {
                refused += 1;
            }
        }
        assert!(
            round < 29 || refused > 2500,
            "only {refused} events were refused"
        );
    }
    // The victim heard a few starts and stops, not thousands, and is open.
    let mut typing = 0;
    while let Ok(Some(frame)) = tokio::time::timeout(QUIET, quiet.next_frame()).await {
        assert_eq!(frame["event"], "user_typing", "{frame}");
        typing += 1;
    }
    assert!(
        (1..=20).contains(&typing),
        "{typing} typing events reached the victim"
    );
    assert_answers(&mut quiet).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_keeps_flooding_for_ten_seconds_is_closed_with_1008() {
    let app = TestApp::spawn_with(&[("--socket-event-rate", "5")]).await;
    let ana = app.login(&phone(3302)).await;
    let mut ws = app.joined_ws(&ana).await;
    let started = Instant::now();
    let code = loop {
        assert!(started.elapsed() < Duration::from_secs(20), "never closed");
        ws.emit("ping", json!({})).await;
        match tokio::time::timeout(Duration::from_millis(20), ws.next_frame()).await {
            Ok(Some(_)) | Err(_) => {}
            Ok(None) => break ws.close_code().await,
        }
    };
    assert_eq!(code, Some(1008));
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_over_the_message_rate_is_refused_over_rest_and_sockets_alike() {
    let app = TestApp::spawn_with(&[("--message-rate", "1")]).await;
    let (ana, budi) = (app.login(&phone(3303)).await, app.login(&phone(3304)).await);
    let chat = app.private_chat(&ana, &budi).await;
    let path = format!("/api/chats/{chat}/messages");
    let mut ws = app.joined_ws(&ana).await;
    let started = Instant::now();

    // A burst of 200 passes, then one a second: REST and the socket share it.
    let sends =
        (0..260).map(|n| app.post(&path, &ana.access, json!({ "content": format!("m{n}") })));
    let mut accepted = 0;
    for (status, body) in join_all(sends).await {
        match status {
            StatusCode::CREATED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => assert_eq!(body["code"], "rate_limited", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    let mut refused_on_socket = 0;
    for n in 0..5 {
        let answer = ws
            .request(
                "send_message",
                json!({ "chatId": chat, "content": format!("s{n}") }),
            )
            .await;
        match (answer["event"].as_str(), answer["data"]["code"].as_str()) {
            (Some("ack"), _) => accepted += 1,
            (Some("error"), Some("rate_limited")) => refused_on_socket += 1,
            _ => panic!("{answer}"),
        }
    }
    let refills = started.elapsed().as_secs() + 1;
    assert!(
        (200..=200 + refills).contains(&accepted),
        "{accepted} accepted in {:?}",
        started.elapsed()
    );
    assert!(
        refused_on_socket >= 5 - refills,
        "{refused_on_socket} refused on the socket"
    );
    let (_, page) = app.get(&format!("{path}?limit=1"), &ana.access).await;
    assert_eq!(
        page["messages"][0]["seq"], accepted,
        "nothing refused was stored"
    );
    // Another user is not slowed down.
    let (status, _) = app
        .post(&path, &budi.access, json!({ "content": "hi" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}
