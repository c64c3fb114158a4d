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
    // Rounds whose restart put batches back from the journal: redb itself
    // syncs only at checkpoints, so most kills land between two.
    let mut replays = 0;

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
        if server
            .seen
            .iter()
            .any(|line| line.contains("applied the journal's batches"))
        {
            replays += 1;
        }
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
    assert!(
        replays > 0,
        "no restart needed the journal: it went untested"
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

/// What one writer of attachments saw acknowledged.
#[derive(Default, Clone)]
struct Attachments {
    /// seq → (upload URL, SHA-256 of its bytes) of every acknowledged send.
    sent: HashMap<u64, (String, String)>,
    /// seqs whose delete for everyone was acknowledged.
    deleted: HashSet<u64>,
}

/// Attachments sent, captioned, reacted to and deleted for everyone while
/// the server is killed at random moments: after each restart no stored
/// message names a missing or damaged file, every acknowledged deletion is
/// a tombstone whose file is gone, the chat's `rev`s have no gap, and once
/// the sweep ran no file is left that no message names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_and_their_deletions_survive_sigkill_without_losing_or_leaving_files() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let settings: &[(&str, &str)] = &[
        ("MESSAGE_RATE", "0"),
        ("RATE_LIMIT_MAX_REQUESTS", "1000000"),
        ("UPLOAD_SWEEP_AFTER", "1s"),
    ];
    let mut server = Server::start_with(dir.path(), settings);
    let (ana, _) = server.login(&client, &phone(880)).await;
    let (budi, budi_id) = server.login(&client, &phone(881)).await;
    let chat = server
        .create_chat(
            &client,
            &ana,
            json!({ "type": "private", "participants": [budi_id] }),
        )
        .await;
    let acknowledged = Arc::new(Mutex::new(Attachments::default()));
    for round in 0..rounds() {
        let writer = tokio::spawn({
            let (client, base, chat, token, acknowledged) = (
                client.clone(),
                server.base.clone(),
                chat.clone(),
                ana.clone(),
                acknowledged.clone(),
            );
            async move {
                for n in 0usize.. {
                    let bytes: Vec<u8> = (0..(500 + n * 613 % 20_000))
                        .map(|i| (i * 7 + n + round) as u8)
                        .collect();
                    let digest = hex::encode(sha2::Sha256::digest(&bytes));
                    let Some(upload) = post_ok(
                        client
                            .post(format!("{base}/api/uploads?name=a{round}-{n}.bin"))
                            .bearer_auth(&token)
                            .header("content-type", "application/octet-stream")
                            .body(bytes),
                    )
                    .await
                    else {
                        return;
                    };
                    let url = upload["url"].as_str().unwrap().to_owned();
                    let body = json!({ "type": "file", "content": "", "metadata": { "url": url } });
                    let Some(message) = post_ok(
                        client
                            .post(format!("{base}/api/chats/{chat}/messages"))
                            .bearer_auth(&token)
                            .json(&body),
                    )
                    .await
                    else {
                        return;
                    };
                    let seq = message["seq"].as_u64().unwrap();
                    acknowledged.lock().unwrap().sent.insert(seq, (url, digest));
                    let path = format!("{base}/api/chats/{chat}/messages/{seq}");
                    let changed = match n % 3 {
                        0 => client
                            .patch(&path)
                            .json(&json!({ "content": format!("caption {n}") })),
                        1 => client.put(format!("{path}/reactions/%F0%9F%91%8D")),
                        _ => client.delete(&path),
                    };
                    if post_ok(changed.bearer_auth(&token)).await.is_none() {
                        return;
                    }
                    if n % 3 == 2 {
                        acknowledged.lock().unwrap().deleted.insert(seq);
                    }
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(rand::random_range(50..400))).await;
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        writer.await.unwrap();
        drop(server);
        server = Server::start_with(dir.path(), settings);
        let snapshot = acknowledged.lock().unwrap().clone();
        check_attachments(&client, &server.base, &budi, &chat, &snapshot, round).await;
    }
    // The sweep (its first pass comes a second after start) removes what a
    // crash left: files no record names, uploads never sent.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let snapshot = acknowledged.lock().unwrap().clone();
    let named = check_attachments(&client, &server.base, &budi, &chat, &snapshot, rounds()).await;
    let on_disk: HashSet<String> = std::fs::read_dir(dir.path().join("uploads"))
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_type().unwrap().is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        on_disk, named,
        "after the sweep, every file is one a message names"
    );
    assert!(
        !snapshot.deleted.is_empty(),
        "some deletions were acknowledged before the kills"
    );
}

/// The response's JSON when it was a success, `None` when the server went
/// away (or refused) first.
async fn post_ok(request: reqwest::RequestBuilder) -> Option<Value> {
    let response = request.send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// Checks the chat against what was acknowledged; the upload ids (file
/// names) its live messages name.
async fn check_attachments(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    chat: &str,
    acknowledged: &Attachments,
    round: usize,
) -> HashSet<String> {
    let (mut messages, mut since, mut rev) = (HashMap::new(), 0, 0);
    loop {
        let page: Value = client
            .get(format!(
                "{base}/api/chats/{chat}/changes?since={since}&limit=500"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        rev = page["rev"].as_u64().unwrap_or(rev);
        for message in page["messages"].as_array().unwrap() {
            let message_rev = message["rev"].as_u64().unwrap();
            assert!(message_rev > since, "round {round}: the feed moves forward");
            since = message_rev;
            messages.insert(message["seq"].as_u64().unwrap(), message.clone());
        }
        if page["hasMore"] != true {
            break;
        }
    }
    assert_eq!(since, rev, "round {round}: the feed reaches the chat's rev");
    let mut named = HashSet::new();
    for (seq, message) in &messages {
        if message["deletedAt"].is_string() {
            assert!(
                message["metadata"].is_null(),
                "round {round}: seq {seq} is a tombstone"
            );
            continue;
        }
        let url = message["metadata"]["url"].as_str().unwrap();
        let response = client.get(format!("{base}{url}")).send().await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "round {round}: seq {seq} names {url}, which is there"
        );
        let digest = hex::encode(sha2::Sha256::digest(response.bytes().await.unwrap()));
        if let Some((_, expected)) = acknowledged.sent.get(seq) {
            assert_eq!(&digest, expected, "round {round}: {url} is whole");
        }
        named.insert(url.rsplit('/').next().unwrap().to_owned());
    }
    for seq in &acknowledged.deleted {
        assert!(
            messages[seq]["deletedAt"].is_string(),
            "round {round}: the acknowledged deletion of {seq} held"
        );
        let (url, _) = &acknowledged.sent[seq];
        let gone = client.get(format!("{base}{url}")).send().await.unwrap();
        assert_eq!(
            gone.status(),
            404,
            "round {round}: {url} went with its message"
        );
    }
    named
}
