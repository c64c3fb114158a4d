//! Crash safety: SIGKILL the server at random moments while clients write,
//! restart it on the same data directory, and check that everything it
//! acknowledged is there exactly once, in order, with no gaps.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::Digest;

use crate::support::phone;
use crate::support::process::Server;

/// Writers send as fast as they can: durability is under test here, not
/// the per-user message budget.
const UNLIMITED: &[(&str, &str)] = &[("MESSAGE_RATE", "0")];

/// Kill-and-restart rounds; `CLAVOX_CRASH_ROUNDS` raises it for longer runs.
fn rounds() -> usize {
    std::env::var("CLAVOX_CRASH_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(20)
}

#[derive(Default, Clone)]
struct Acknowledged {
    /// content → seq, for every 201 the clients saw.
    messages: HashMap<String, u64>,
    /// upload URL → SHA-256 of the bytes sent, for every 201.
    uploads: HashMap<String, String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut server = Server::start_with(dir.path(), UNLIMITED);
    let mut people = Vec::new();
    for n in 0..3 {
        people.push(server.login(&client, &phone(870 + n)).await);
    }
    let group =
        json!({ "type": "group", "name": "Crash", "participants": [people[1].1, people[2].1] });
    let chat = server.create_chat(&client, &people[0].0, group).await;
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));

    for round in 0..rounds() {
        let base = server.base.clone();
        let writers: Vec<_> = people
            .iter()
            .enumerate()
            .map(|(writer, (token, _))| {
                let (client, token, base, chat, acknowledged) = (
                    client.clone(),
                    token.clone(),
                    base.clone(),
                    chat.clone(),
                    acknowledged.clone(),
                );
                tokio::spawn(async move {
                    for n in 0.. {
                        let content = format!("r{round} w{writer} #{n}");
                        let sent = client
                            .post(format!("{base}/api/chats/{chat}/messages"))
                            .bearer_auth(&token)
                            .json(&json!({ "content": content }))
                            .send()
                            .await;
                        let Ok(response) = sent else { return };
                        if response.status() != 201 {
                            return;
                        }
                        let Ok(message) = response.json::<Value>().await else {
                            return;
                        };
                        acknowledged
                            .lock()
                            .unwrap()
                            .messages
                            .insert(content, message["seq"].as_u64().unwrap());
                        if writer == 0 && n % 5 == 0 {
                            let bytes: Vec<u8> = (0..(1000 + n * 977 % 60_000))
                                .map(|i: usize| (i * 31 + n) as u8)
                                .collect();
                            let digest = hex::encode(sha2::Sha256::digest(&bytes));
                            let uploaded = client
                                .post(format!("{base}/api/uploads?name=f{round}-{n}.bin"))
                                .bearer_auth(&token)
                                .header("content-type", "application/octet-stream")
                                .body(bytes)
                                .send()
                                .await;
                            let Ok(response) = uploaded else { return };
                            if response.status() != 201 {
                                return;
                            }
                            let Ok(upload) = response.json::<Value>().await else {
                                return;
                            };
                            acknowledged
                                .lock()
                                .unwrap()
                                .uploads
                                .insert(upload["url"].as_str().unwrap().to_owned(), digest);
                        }
                    }
                })
            })
            .collect();
        let kill_after = Duration::from_millis(rand::random_range(50..400));
        tokio::time::sleep(kill_after).await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        for writer in writers {
            writer.await.unwrap();
        }
        drop(server);
        server = Server::start_with(dir.path(), UNLIMITED);
        assert_eq!(
            std::fs::read_dir(dir.path().join("uploads/partial"))
                .unwrap()
                .count(),
            0,
            "round {round}: partial uploads were cleared"
        );
        let snapshot = acknowledged.lock().unwrap().clone();
        check(&client, &server.base, &people[1].0, &chat, &snapshot, round).await;
    }
    let total = acknowledged.lock().unwrap().messages.len();
    assert!(
        total > rounds(),
        "the clients got writes in before the kills: {total}"
    );
}

async fn check(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    chat: &str,
    acknowledged: &Acknowledged,
    round: usize,
) {
    let mut stored: Vec<(u64, String)> = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = client
            .get(format!(
                "{base}/api/chats/{chat}/messages?after={after}&limit=100"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stored.extend(page["messages"].as_array().unwrap().iter().map(|message| {
            (
                message["seq"].as_u64().unwrap(),
                message["content"].as_str().unwrap().to_owned(),
            )
        }));
        after = stored.last().map_or(0, |(seq, _)| *seq);
        if page["hasMore"] != true {
            break;
        }
    }
    let seqs: Vec<u64> = stored.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "round {round}: seqs have no gaps"
    );
    let contents: HashSet<&str> = stored.iter().map(|(_, content)| content.as_str()).collect();
    assert_eq!(
        contents.len(),
        stored.len(),
        "round {round}: nothing stored twice"
    );
    let by_content: HashMap<&str, u64> = stored
        .iter()
        .map(|(seq, content)| (content.as_str(), *seq))
        .collect();
    for (content, seq) in &acknowledged.messages {
        assert_eq!(
            by_content.get(content.as_str()),
            Some(seq),
            "round {round}: acknowledged {content:?} (seq {seq}) is there"
        );
    }
    for (url, digest) in &acknowledged.uploads {
        let bytes = client
            .get(format!("{base}{url}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(
            &hex::encode(sha2::Sha256::digest(&bytes)),
            digest,
            "round {round}: upload {url} is whole"
        );
    }
}
