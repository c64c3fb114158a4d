//! Fan-out.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_by_socket_or_rest_reaches_every_socket_of_every_participant() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(3001)).await;
    let budi = app.login(&phone(3002)).await;
    let chat = app.private_chat(&ana, &budi).await;
    let mut ana_phone = app.joined_ws(&ana).await;
    let mut ana_laptop = app.joined_ws(&ana).await;
    let mut budi_ws = app.joined_ws(&budi).await;
    let mut anonymous = app.connect_ws(None).await;

    // Over the socket: the ack carries the stored message.
    let (ack, seen) = request_seeing(
        &mut ana_phone,
        RAW_ID,
        "send_message",
        json!({ "chatId": chat, "content": "hello over the socket" }),
    )
    .await;
    assert_eq!(ack["event"], "ack", "{ack}");
    let stored = ack["data"].clone();
    assert_eq!(stored["seq"], 1, "{stored}");
    assert_eq!(stored["chatId"], chat);
    assert_eq!(stored["senderId"], ana.id);
    assert_eq!(stored["content"], "hello over the socket");
    assert_eq!(stored["type"], "text");
    assert_eq!(stored["id"].as_str().map(str::len), Some(24), "{stored}");
    let on_disk = messages_of(&app, &budi, &chat).await;
    assert_eq!(on_disk.len(), 1);
    assert_eq!(
        on_disk[0]["id"], stored["id"],
        "the ack names the stored message"
    );

    // The sender's own socket gets the event too (before or after its ack).
    let echo = match seen.iter().find(|frame| frame["event"] == "new_message") {
        Some(frame) => frame["data"].clone(),
        None => next_message(&mut ana_phone, &chat).await,
    };
    for socket_copy in [
        echo,
        next_message(&mut ana_laptop, &chat).await,
        next_message(&mut budi_ws, &chat).await,
    ] {
        for field in ["id", "seq", "chatId", "senderId", "content", "type"] {
            assert_eq!(socket_copy[field], stored[field], "{field}: {socket_copy}");
        }
    }

    // Over REST: every socket of both participants, the sender's included.
    let sent = app.send_message(&budi, &chat, "hello over REST").await;
    assert_eq!(sent["seq"], 2, "{sent}");
    for ws in [&mut ana_phone, &mut ana_laptop, &mut budi_ws] {
        let event = next_message(ws, &chat).await;
        assert_eq!(
            (&event["id"], &event["seq"], &event["senderId"]),
            (&sent["id"], &json!(2), &json!(budi.id))
        );
        assert_eq!(event["content"], "hello over REST");
    }

    // Each socket got each message exactly once; an unauthenticated socket none.
    let (a, b, c, d) = tokio::join!(
        ana_phone.receives_within("new_message", QUIET),
        ana_laptop.receives_within("new_message", QUIET),
        budi_ws.receives_within("new_message", QUIET),
        anonymous.receives_within("new_message", QUIET),
    );
    assert_eq!(
        (a, b, c),
        (false, false, false),
        "no socket receives a message twice"
    );
    assert!(!d, "a socket that never authenticated receives nothing");
}
