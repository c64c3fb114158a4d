//! Frame limits.

use super::*;

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
