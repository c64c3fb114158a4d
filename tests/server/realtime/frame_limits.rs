//! Frame limits.

use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use super::*;
use crate::support::FRAME_WAIT;

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
