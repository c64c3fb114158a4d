//! Slow consumers.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_with_1013_and_the_others_miss_nothing() {
    const CAP: usize = 12_000;
    const BATCH: usize = 48;
    let started = Instant::now();
    // One sender outruns a slow reader: far past any per-user message budget.
    let app = TestApp::spawn_with(&[("--message-rate", "0")]).await;
    let sender = app.login(&phone(3130)).await;
    let slow = app.login(&phone(3131)).await;
    let reader = app.login(&phone(3132)).await;
    let chat = app.group(&sender, &[&slow, &reader], "firehose").await;
    let mut slow_ws = app.joined_ws(&slow).await;
    let mut reader_ws = app.joined_ws(&reader).await;

    // R reads everything as it comes, and notices when S's socket is gone
    // (S goes offline: its only socket was closed by the server).
    let slow_gone = Arc::new(AtomicBool::new(false));
    let (done, mut done_rx) = tokio::sync::watch::channel(None::<u64>);
    let reading = tokio::spawn({
        let (chat, slow_id, slow_gone) = (chat.clone(), slow.id.clone(), slow_gone.clone());
        async move {
            let mut seqs = Vec::new();
            loop {
                if let Some(last) = *done_rx.borrow()
                    && seqs.last().copied().unwrap_or(0) >= last
                {
                    return seqs;
                }
                tokio::select! {
                    frame = reader_ws.next_frame() => {
                        let frame = frame.expect("the fast reader's socket stays open");
                        if frame["event"] == "new_message" && frame["data"]["chatId"] == chat {
                            seqs.push(frame["data"]["seq"].as_u64().unwrap());
                        } else if frame["event"] == "user_status" && frame["data"]["userId"] == slow_id && frame["data"]["status"] == "offline" {
                            slow_gone.store(true, Ordering::SeqCst);
                        }
                    }
                    changed = done_rx.changed() => changed.expect("the sender reports its total"),
                }
            }
        }
    });

    let content = "slow consumers must not hold up the others; ".repeat(100);
    let content = &content[..4000];
    let path = format!("/api/chats/{chat}/messages");
    let mut sent = 0;
    while sent < CAP && !slow_gone.load(Ordering::SeqCst) {
        let batch =
            (0..BATCH).map(|_| app.post(&path, &sender.access, json!({ "content": content })));
        for (status, body) in join_all(batch).await {
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        sent += BATCH;
    }
    let total = u64::try_from(sent).unwrap();
    assert!(
        slow_gone.load(Ordering::SeqCst),
        "the socket that never reads was still open after {sent} messages"
    );
    done.send(Some(total)).unwrap();
    let seqs = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the fast reader catches up")
        .unwrap();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "the fast reader got every message, in order"
    );

    // Only now does S read: what was queued before the overflow, in order,
    // then a close with 1013.
    let mut received = Vec::new();
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(30), slow_ws.stream.next())
            .await
            .expect("S's socket ends in time")
        {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["event"] == "new_message" {
                    received.push(frame["data"]["seq"].as_u64().unwrap());
                }
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|frame| u16::from(frame.code)),
            Some(Ok(_)) => {}
            Some(Err(error)) => panic!(
                "S's socket failed instead of closing with 1013 after {} messages: {error}",
                received.len()
            ),
            None => panic!(
                "S's socket ended without a close frame after {} messages",
                received.len()
            ),
        }
    };
    assert_eq!(
        code,
        Some(1013),
        "after {} of {total} messages",
        received.len()
    );
    let got = u64::try_from(received.len()).unwrap();
    assert!(got < total, "S cannot have received everything");
    assert_eq!(
        received,
        (1..=got).collect::<Vec<_>>(),
        "what S got is a gapless prefix"
    );
    // It catches up with after=.
    let (status, page) = app
        .get(
            &format!("/api/chats/{chat}/messages?after={got}&limit=5"),
            &slow.access,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["messages"][0]["seq"], got + 1, "{page}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

/// A Socket.IO client that never reads (a raw Engine.IO websocket that joins
/// and then stops reading) is disconnected by the server, and everyone else
/// still gets every message. Once it reads again it finds a gapless prefix
/// and the server's disconnect (`41`): a namespace disconnect, which the
/// official client does not retry by itself, so it learns it must catch up
/// (README, "Socket.IO").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_io_client_that_never_reads_is_disconnected_and_the_others_miss_nothing() {
    const CAP: usize = 12_000;
    const BATCH: usize = 48;
    let app = TestApp::spawn_with(&[("--message-rate", "0")]).await;
    let sender = app.login(&phone(3140)).await;
    let slow = app.login(&phone(3141)).await;
    let reader = app.login(&phone(3142)).await;
    let chat = app.group(&sender, &[&slow, &reader], "firehose").await;
    let mut reader_ws = app.joined_ws(&reader).await;
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.address);
    let (mut slow_io, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let open = slow_io.next().await.unwrap().unwrap();
    assert!(open.to_text().unwrap().starts_with('0'), "{open:?}");
    futures_util::SinkExt::send(
        &mut slow_io,
        Message::text(format!(r#"40{{"token":"{}"}}"#, slow.access)),
    )
    .await
    .unwrap();
    // The namespace's answer, past any Engine.IO ping (answered, as a
    // client must while it still reads).
    loop {
        let frame = slow_io.next().await.unwrap().unwrap();
        match frame.to_text().unwrap() {
            "2" => futures_util::SinkExt::send(&mut slow_io, Message::text("3"))
                .await
                .unwrap(),
            text if text.starts_with("40") => break,
            other => panic!("expected the namespace's connect answer, got {other}"),
        }
    }
    // The reader sees the slow user come online; from here on it never reads.
    let online = reader_ws.wait_for("user_status").await;
    assert_eq!(
        (&online["userId"], &online["status"]),
        (&json!(slow.id), &json!("online"))
    );

    let content = "slow consumers must not hold up the others; ".repeat(100);
    let content = &content[..4000];
    let path = format!("/api/chats/{chat}/messages");
    let (mut sent, mut seqs, mut slow_gone) = (0, Vec::new(), false);
    while sent < CAP && !slow_gone {
        let batch =
            (0..BATCH).map(|_| app.post(&path, &sender.access, json!({ "content": content })));
        for (status, body) in join_all(batch).await {
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        sent += BATCH;
        while let Ok(Some(frame)) =
            tokio::time::timeout(Duration::from_millis(1), reader_ws.next_frame()).await
        {
            if frame["event"] == "new_message" {
                seqs.push(frame["data"]["seq"].as_u64().unwrap());
            }
            slow_gone |= frame["event"] == "user_status" && frame["data"]["status"] == "offline";
        }
    }
    assert!(
        slow_gone,
        "the Socket.IO client that never reads was still connected after {sent} messages"
    );
    let total = u64::try_from(sent).unwrap();
    while seqs.last().copied().unwrap_or(0) < total {
        let frame = reader_ws
            .next_frame()
            .await
            .expect("the reader's socket stays open");
        if frame["event"] == "new_message" {
            seqs.push(frame["data"]["seq"].as_u64().unwrap());
        }
    }
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "the reader got every message, in order"
    );

    // Now the slow client reads: a gapless prefix, then the disconnect.
    let mut received = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), slow_io.next())
            .await
            .expect("the slow client's connection ends in time");
        let Some(Ok(message)) = message else { break };
        let Message::Text(text) = message else {
            continue;
        };
        if text.as_str() == "41" {
            break;
        }
        if let Some(packet) = text.as_str().strip_prefix("42") {
            let packet: Value = serde_json::from_str(packet).unwrap();
            if packet[0] == "new_message" {
                received.push(packet[1]["seq"].as_u64().unwrap());
            }
        }
    }
    let got = u64::try_from(received.len()).unwrap();
    assert!(
        got < total,
        "the slow client cannot have received everything"
    );
    assert_eq!(
        received,
        (1..=got).collect::<Vec<_>>(),
        "what it got is a gapless prefix"
    );
}
