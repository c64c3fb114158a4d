//! Typing.

use super::*;

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
