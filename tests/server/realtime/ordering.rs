//! Ordering under concurrency.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_produce_gapless_increasing_seqs_on_every_socket() {
    const SENDERS: usize = 4;
    const EACH: usize = 50;
    const TOTAL: usize = SENDERS * EACH;
    let app = TestApp::spawn().await;
    let mut users = Vec::new();
    for n in 0..SENDERS {
        users.push(app.login(&phone(3010 + u32::try_from(n).unwrap())).await);
    }
    let members: Vec<&Login> = users[1..].iter().collect();
    let chat = app.group(&users[0], &members, "race").await;
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(app.joined_ws(user).await);
    }
    let mut observer = app.joined_ws(&users[1]).await;

    let barrier = Arc::new(tokio::sync::Barrier::new(SENDERS));
    let mut tasks = Vec::new();
    for (sender, mut ws) in sockets.into_iter().enumerate() {
        let (barrier, chat) = (barrier.clone(), chat.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            // Pipelined: every frame goes out before any answer is read.
            for n in 0..EACH {
                let id = RAW_ID + i64::try_from(n).unwrap();
                let data =
                    json!({ "chatId": chat, "content": format!("sender {sender} message {n}") });
                ws.send_raw(Message::text(
                    json!({ "event": "send_message", "data": data, "id": id }).to_string(),
                ))
                .await;
            }
            let (mut acks, mut received) = (Vec::new(), Vec::new());
            while acks.len() < EACH || received.len() < TOTAL {
                let frame = ws
                    .next_frame()
                    .await
                    .expect("the sender's socket stays open");
                match frame["event"].as_str() {
                    Some("ack") => acks.push(frame),
                    Some("error") => panic!("send failed: {frame}"),
                    Some("new_message") if frame["data"]["chatId"] == chat => {
                        received.push(frame["data"].clone());
                    }
                    _ => {}
                }
            }
            (acks, received)
        }));
    }
    let mut observed = Vec::new();
    while observed.len() < TOTAL {
        observed.push(next_message(&mut observer, &chat).await);
    }

    // What each sender was told it stored: seq -> content.
    let mut stored = BTreeMap::new();
    let mut streams = vec![observed];
    for (sender, task) in tasks.into_iter().enumerate() {
        let (acks, received) = task.await.unwrap();
        let mut previous = 0;
        for (n, ack) in acks.iter().enumerate() {
            assert_eq!(
                ack["id"],
                RAW_ID + i64::try_from(n).unwrap(),
                "acks answer frames in order: {ack}"
            );
            let seq = ack["data"]["seq"].as_u64().unwrap();
            assert!(
                seq > previous,
                "one socket's messages are stored in the order sent"
            );
            previous = seq;
            assert_eq!(
                ack["data"]["content"],
                format!("sender {sender} message {n}")
            );
            assert!(
                stored.insert(seq, ack["data"]["content"].clone()).is_none(),
                "seq {seq} was given twice"
            );
        }
        streams.push(received);
    }
    let all: Vec<u64> = (1..=u64::try_from(TOTAL).unwrap()).collect();
    assert_eq!(
        stored.keys().copied().collect::<Vec<_>>(),
        all,
        "the acks hold seqs 1..={TOTAL}"
    );
    for (socket, stream) in streams.iter().enumerate() {
        let seqs: Vec<u64> = stream
            .iter()
            .map(|message| message["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(
            seqs, all,
            "socket {socket} received seqs out of order or with gaps"
        );
        for message in stream {
            assert_eq!(
                message["content"],
                stored[&message["seq"].as_u64().unwrap()],
                "seq and content travel together"
            );
        }
    }
}
