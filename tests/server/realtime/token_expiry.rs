//! Token expiry.

use super::*;

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
