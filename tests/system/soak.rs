//! A long run against the real binary: 250 users with two `/ws` sockets each
//! (500 sockets) chat in private chats and groups for `CLAVOX_SOAK_SECS`
//! (default 60) at a modest 200 messages a second in all. Every
//! acknowledged message must reach every socket of every participant
//! exactly once, in `seq` order without gaps; no socket may see an error;
//! and the server's memory must level off rather than climb.
//!
//! The memory rule: the mean resident size of the last third of the run
//! (at most 20 s) may exceed that of the first third by at most 20 % plus
//! 8 MiB. The first seconds already hold every socket, its buffers and the
//! store's caches at their working size, so a server that keeps nothing per
//! message stays flat; allocator noise and redb's page cache growing with
//! the file account for the slack. A leak of even 100 bytes per delivered
//! frame (about 2,400 a second) grows by ~14 MiB a minute and fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::phone;
use crate::support::process::Server;

const USERS: usize = 250;
const SOCKETS_PER_USER: usize = 2;
const GROUP_SIZE: usize = 10;
const MESSAGES_PER_SECOND: u64 = 200;

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Writer = Arc<tokio::sync::Mutex<SplitSink<Stream, Message>>>;

/// What one socket saw: `new_message` events per chat (seq, message id),
/// and anything that went wrong.
#[derive(Default)]
struct Seen {
    messages: HashMap<String, Vec<(u64, String)>>,
    errors: Vec<String>,
}

/// Acknowledged messages per chat: (seq, message id).
type Acked = Arc<Mutex<HashMap<String, Vec<(u64, String)>>>>;

fn soak_duration() -> Duration {
    let secs = std::env::var("CLAVOX_SOAK_SECS")
        .ok()
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|kib| kib.parse().ok())
        .unwrap();
    kib * 1024
}

/// Reads one socket until it closes, answering acks into `acked`.
async fn read_socket(mut stream: SplitStream<Stream>, seen: Arc<Mutex<Seen>>, acked: Acked) {
    while let Some(message) = stream.next().await {
        let Ok(Message::Text(text)) = message else {
            continue;
        };
        let frame: Value = serde_json::from_str(&text).unwrap();
        let data = &frame["data"];
        match frame["event"].as_str() {
            Some("new_message") => {
                let chat = data["chatId"].as_str().unwrap().to_owned();
                let entry = (
                    data["seq"].as_u64().unwrap(),
                    data["id"].as_str().unwrap().to_owned(),
                );
                seen.lock()
                    .unwrap()
                    .messages
                    .entry(chat)
                    .or_default()
                    .push(entry);
            }
            Some("ack") if data["seq"].is_u64() => {
                let chat = data["chatId"].as_str().unwrap().to_owned();
                let entry = (
                    data["seq"].as_u64().unwrap(),
                    data["id"].as_str().unwrap().to_owned(),
                );
                acked.lock().unwrap().entry(chat).or_default().push(entry);
            }
            Some("error") => seen.lock().unwrap().errors.push(text.to_string()),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_sockets_chat_for_a_minute_without_loss_or_growth() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(
        dir.path(),
        &[
            ("AUTH_RATE_LIMIT_MAX", "1000000"),
            ("RATE_LIMIT_MAX_REQUESTS", "100000000"),
            ("JWT_EXPIRE", "2h"),
        ],
    );
    let pid = server.child.id();
    let client = reqwest::Client::new();
    let mut users = Vec::new();
    for n in 0..USERS {
        let number = phone(880_000 + u32::try_from(n).unwrap());
        users.push(server.login(&client, &number).await);
    }

    // Pairs talk privately; groups of ten share a group chat.
    let mut chats: Vec<(String, Vec<usize>)> = Vec::new();
    for pair in (0..USERS).collect::<Vec<_>>().chunks(2) {
        let (a, b) = (pair[0], pair[1]);
        let body = json!({ "type": "private", "participants": [users[b].1] });
        let chat = server.create_chat(&client, &users[a].0, body).await;
        chats.push((chat, vec![a, b]));
    }
    for (index, group) in (0..USERS)
        .collect::<Vec<_>>()
        .chunks(GROUP_SIZE)
        .enumerate()
    {
        let members: Vec<&str> = group[1..].iter().map(|&m| users[m].1.as_str()).collect();
        let body =
            json!({ "type": "group", "name": format!("soak {index}"), "participants": members });
        let chat = server.create_chat(&client, &users[group[0]].0, body).await;
        chats.push((chat, group.to_vec()));
    }

    let acked: Acked = Arc::default();
    let mut writers: Vec<Vec<Writer>> = Vec::new();
    let mut seen: Vec<(usize, Arc<Mutex<Seen>>)> = Vec::new();
    let mut readers = Vec::new();
    let ws_base = server.base.replace("http://", "ws://");
    for (user, (token, _)) in users.iter().enumerate() {
        let mut own = Vec::new();
        for _ in 0..SOCKETS_PER_USER {
            let (stream, _) =
                tokio_tungstenite::connect_async(format!("{ws_base}/ws?token={token}"))
                    .await
                    .expect("socket connects");
            let (sink, stream) = stream.split();
            let log = Arc::new(Mutex::new(Seen::default()));
            readers.push(tokio::spawn(read_socket(
                stream,
                log.clone(),
                acked.clone(),
            )));
            seen.push((user, log));
            own.push(Arc::new(tokio::sync::Mutex::new(sink)));
        }
        writers.push(own);
    }

    // Chat at a steady pace, sampling the server's memory every second.
    let duration = soak_duration();
    let started = Instant::now();
    let mut samples: Vec<u64> = Vec::new();
    let mut next_sample = started;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / MESSAGES_PER_SECOND));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent: u64 = 0;
    while started.elapsed() < duration {
        tick.tick().await;
        if Instant::now() >= next_sample {
            samples.push(resident_bytes(pid));
            next_sample += Duration::from_secs(1);
        }
        let index = usize::try_from(sent).unwrap();
        // Alternate private chats and groups so both kinds stay busy.
        let (chat, members) = if sent.is_multiple_of(2) {
            &chats[(index / 2) % (USERS / 2)]
        } else {
            &chats[USERS / 2 + (index / 2) % (chats.len() - USERS / 2)]
        };
        let sender = members[index % members.len()];
        let socket = &writers[sender][index % SOCKETS_PER_USER];
        let frame = json!({
            "event": "send_message",
            "id": sent,
            "data": { "chatId": chat, "content": format!("soak {sent}"), "clientId": format!("c{sent}") },
        });
        socket
            .lock()
            .await
            .send(Message::text(frame.to_string()))
            .await
            .expect("the server reads");
        sent += 1;
    }

    // Let the last deliveries land: wait until every socket holds what
    // its user's chats acknowledged.
    let expected = |user: usize, acked: &HashMap<String, Vec<(u64, String)>>| -> usize {
        chats
            .iter()
            .filter(|(_, members)| members.contains(&user))
            .map(|(chat, _)| acked.get(chat).map_or(0, Vec::len))
            .sum()
    };
    let settle = Instant::now() + Duration::from_secs(60);
    loop {
        let acked = acked.lock().unwrap().clone();
        let acked_total: usize = acked.values().map(Vec::len).sum();
        let done = acked_total == usize::try_from(sent).unwrap()
            && seen.iter().all(|(user, log)| {
                let received: usize = log.lock().unwrap().messages.values().map(Vec::len).sum();
                received >= expected(*user, &acked)
            });
        if done || Instant::now() > settle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let acked = acked.lock().unwrap().clone();
    let acked_total: usize = acked.values().map(Vec::len).sum();
    assert_eq!(
        acked_total,
        usize::try_from(sent).unwrap(),
        "every message sent was acknowledged"
    );
    for (chat, messages) in &acked {
        let mut seqs: Vec<u64> = messages.iter().map(|(seq, _)| *seq).collect();
        seqs.sort_unstable();
        let want: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, want, "chat {chat}: acknowledged seqs have no gaps");
    }
    for (socket, (user, log)) in seen.iter().enumerate() {
        let log = log.lock().unwrap();
        assert!(
            log.errors.is_empty(),
            "socket {socket} saw errors: {:?}",
            log.errors
        );
        for (chat, members) in &chats {
            let received = log.messages.get(chat).cloned().unwrap_or_default();
            if !members.contains(user) {
                assert!(
                    received.is_empty(),
                    "socket {socket} got another chat's messages"
                );
                continue;
            }
            let mut want = acked.get(chat).cloned().unwrap_or_default();
            want.sort_unstable();
            // In seq order, each exactly once: the sequence equals the sorted acks.
            assert_eq!(received, want, "socket {socket}, chat {chat}");
        }
    }

    let window = (samples.len() / 3).clamp(1, 20);
    let mean = |part: &[u64]| part.iter().sum::<u64>() / part.len() as u64;
    let first = mean(&samples[..window]);
    let last = mean(&samples[samples.len() - window..]);
    let allowed = first + first / 5 + 8 * 1024 * 1024;
    eprintln!(
        "soak: {sent} messages to {} sockets in {:?}; RSS first {} MiB, last {} MiB",
        seen.len(),
        duration,
        first >> 20,
        last >> 20
    );
    assert!(
        last <= allowed,
        "server memory grew: first {window} s averaged {first} bytes, last {last} bytes (allowed {allowed})"
    );

    drop(writers);
    for reader in readers {
        reader.abort();
    }
}
