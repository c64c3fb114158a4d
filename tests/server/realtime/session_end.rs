//! Session end.

use super::*;

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
