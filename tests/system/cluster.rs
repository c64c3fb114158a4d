//! Several `clavox serve` nodes on one real PostgreSQL (`STORE=postgres`),
//! which the tests start and stop themselves on a loopback port: every rule
//! the single writer keeps must hold across nodes.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::Ws;
use crate::support::nats::{Link, NatsCluster};
use crate::support::postgres::Postgres;
use crate::support::process::Server;

/// A node of the cluster, with its own data directory.
struct Node {
    server: Server,
    _dir: TempDir,
}

fn node(postgres: &Postgres) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), postgres);
    Node { server, _dir: dir }
}

fn start(dir: &Path, postgres: &Postgres) -> Server {
    start_on(dir, postgres, &[])
}

/// A node of a cluster whose events cross by NATS.
fn node_on(postgres: &Postgres, nats: &NatsCluster) -> Node {
    node_reaching(postgres, &nats.urls())
}

/// A node reaching the bus at `urls`.
fn node_reaching(postgres: &Postgres, urls: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let server = start_on(dir.path(), postgres, &[("BUS", "nats"), ("NATS_URL", urls)]);
    Node { server, _dir: dir }
}

fn start_on(dir: &Path, postgres: &Postgres, more: &[(&str, &str)]) -> Server {
    let url = postgres.url();
    let mut env = vec![
        ("STORE", "postgres"),
        ("DATABASE_URL", url.as_str()),
        // The tests send fast on purpose.
        ("MESSAGE_RATE", "0"),
        ("SOCKET_EVENT_RATE", "0"),
        ("RATE_LIMIT_MAX_REQUESTS", "100000"),
        ("TLS", "off"),
    ];
    env.extend_from_slice(more);
    Server::start_with(dir, &env)
}

/// A `/ws` socket of `token`'s user on `node`, joined.
async fn socket(node: &Server, token: &str) -> Ws {
    let url = node.base.replacen("http://", "ws://", 1);
    let mut ws = Ws::connect(&format!("{url}/ws")).await;
    let ack = ws.request("join_user", json!({ "token": token })).await;
    assert_eq!(ack["event"], "ack", "join_user: {ack}");
    ws
}

/// The seqs of the next `count` `new_message` events `ws` receives.
async fn new_message_seqs(ws: &mut Ws, count: usize) -> Vec<u64> {
    let mut seen = Vec::with_capacity(count);
    while seen.len() < count {
        let message = ws.wait_for("new_message").await;
        seen.push(message["seq"].as_u64().unwrap());
    }
    seen
}

async fn send(
    client: &reqwest::Client,
    node: &Server,
    token: &str,
    chat: &str,
    body: Value,
) -> (StatusCode, Value) {
    let response = client
        .post(format!("{}/api/chats/{chat}/messages", node.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Every message of `chat`, oldest first, read through `node`.
async fn history(client: &reqwest::Client, node: &Server, token: &str, chat: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = client
            .get(format!(
                "{}/api/chats/{chat}/messages?after={after}&limit=100",
                node.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let messages = page["messages"].as_array().unwrap().clone();
        let Some(last) = messages.last() else {
            return all;
        };
        after = last["seq"].as_u64().unwrap();
        all.extend(messages);
        if page["hasMore"] != json!(true) {
            return all;
        }
    }
}

/// A private chat of `token`'s user with `other`, made through `node`.
async fn private_chat(client: &reqwest::Client, node: &Server, token: &str, other: &str) -> String {
    node.create_chat(
        client,
        token,
        json!({ "type": "private", "participants": [other] }),
    )
    .await
}

/// What `node`'s `/readyz` answers now.
async fn readiness(client: &reqwest::Client, node: &Server) -> StatusCode {
    let url = format!("{}/readyz", node.base);
    client.get(url).send().await.unwrap().status()
}

/// Waits until `node`'s `/readyz` answers `status`, failing with `what`
/// after `within`.
async fn wait_for_readiness(
    client: &reqwest::Client,
    node: &Server,
    status: StatusCode,
    within: Duration,
    what: &str,
) {
    let deadline = Instant::now() + within;
    while readiness(client, node).await != status {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn seqs(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .map(|message| message["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_share_accounts_chats_and_messages() {
    let postgres = Postgres::start();
    let mut a = node(&postgres);
    let mut b = node(&postgres);
    let client = reqwest::Client::new();
    let (ana, ana_id) = a.server.login(&client, "+6281200000001").await;
    let (budi, budi_id) = b.server.login(&client, "+6281200000002").await;

    // A token from one node is good on the other: they sign with one key.
    let me: Value = client
        .get(format!("{}/api/users/profile", b.server.base))
        .bearer_auth(&ana)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let profile = me.get("user").unwrap_or(&me);
    assert_eq!(profile["id"], json!(ana_id), "{me}");

    let chat = private_chat(&client, &a.server, &ana, &budi_id).await;
    let (status, sent) = send(
        &client,
        &b.server,
        &budi,
        &chat,
        json!({ "content": "halo dari B" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let seen = history(&client, &a.server, &ana, &chat).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["content"], "halo dari B");

    // Reading it on node A moves the mark node B then reports.
    let read = client
        .post(format!("{}/api/chats/{chat}/read", a.server.base))
        .bearer_auth(&ana)
        .json(&json!({ "seq": 1 }))
        .send()
        .await
        .unwrap();
    assert!(read.status().is_success(), "{}", read.text().await.unwrap());
    let chats: Value = client
        .get(format!("{}/api/chats", b.server.base))
        .bearer_auth(&ana)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = chats["chats"]
        .as_array()
        .or(chats.as_array())
        .expect("a list of chats")
        .iter()
        .find(|listed| listed["id"] == json!(chat))
        .cloned()
        .expect("the chat is listed on the other node");
    assert_eq!(listed["unreadCount"], json!(0), "{listed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_senders_on_two_nodes_get_gapless_seqs() {
    let postgres = Postgres::start();
    let mut a = node(&postgres);
    let mut b = node(&postgres);
    let client = reqwest::Client::new();
    let (ana, _) = a.server.login(&client, "+6281200000011").await;
    let (budi, budi_id) = b.server.login(&client, "+6281200000012").await;
    let chat = private_chat(&client, &a.server, &ana, &budi_id).await;

    const EACH: usize = 80;
    // Eight in flight at a time from each node.
    let (from_a, from_b) = tokio::join!(
        send_many(&client, &a.server.base, &ana, &chat, "a", EACH, 8),
        send_many(&client, &b.server.base, &budi, &chat, "b", EACH, 8)
    );
    assert_eq!((from_a, from_b), (EACH, EACH), "every send acknowledged");

    let seen = history(&client, &b.server, &ana, &chat).await;
    let expected: Vec<u64> = (1..=(2 * EACH) as u64).collect();
    assert_eq!(seqs(&seen), expected, "every seq once, none skipped");
    let mut contents: Vec<&str> = seen
        .iter()
        .map(|message| message["content"].as_str().unwrap())
        .collect();
    contents.sort_unstable();
    contents.dedup();
    assert_eq!(contents.len(), 2 * EACH, "no message stored twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_client_id_through_two_nodes_is_one_message() {
    let postgres = Postgres::start();
    let mut a = node(&postgres);
    let b = node(&postgres);
    let client = reqwest::Client::new();
    let (ana, _) = a.server.login(&client, "+6281200000021").await;
    let (_, budi_id) = a.server.login(&client, "+6281200000022").await;
    let chat = private_chat(&client, &a.server, &ana, &budi_id).await;

    for n in 0..20 {
        let body = json!({ "content": format!("sekali {n}"), "clientId": format!("c-{n}") });
        let (first, second) = tokio::join!(
            send(&client, &a.server, &ana, &chat, body.clone()),
            send(&client, &b.server, &ana, &chat, body.clone())
        );
        assert!(first.0.is_success() && second.0.is_success());
        assert_eq!(
            first.1["seq"], second.1["seq"],
            "both answers name one message"
        );
        assert_eq!(first.1["id"], second.1["id"]);
    }
    let seen = history(&client, &a.server, &ana, &chat).await;
    assert_eq!(seqs(&seen), (1..=20).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_mid_stream_loses_nothing_acknowledged() {
    let postgres = Postgres::start();
    let mut a = node(&postgres);
    let b = node(&postgres);
    let client = reqwest::Client::new();
    let (ana, _) = a.server.login(&client, "+6281200000031").await;
    let (_, budi_id) = a.server.login(&client, "+6281200000032").await;
    let chat = private_chat(&client, &a.server, &ana, &budi_id).await;

    let sender = {
        let (client, base, ana, chat) = (
            client.clone(),
            a.server.base.clone(),
            ana.clone(),
            chat.clone(),
        );
        tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0..2000 {
                let sent = client
                    .post(format!("{base}/api/chats/{chat}/messages"))
                    .bearer_auth(&ana)
                    .json(&json!({ "content": format!("m{n}") }))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == StatusCode::CREATED => {
                        acknowledged.push(format!("m{n}"));
                    }
                    _ => break,
                }
            }
            acknowledged
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SIGKILL: nothing gets to flush or say goodbye.
    a.server.child.kill().unwrap();
    a.server.child.wait().unwrap();
    let acknowledged = sender.await.unwrap();
    assert!(
        acknowledged.len() > 10,
        "the node took sends before it died"
    );

    let messages = history(&client, &b.server, &ana, &chat).await;
    let stored: Vec<&str> = messages
        .iter()
        .map(|message| message["content"].as_str().unwrap())
        .collect();
    for message in &acknowledged {
        assert!(stored.contains(&message.as_str()), "{message} was lost");
    }
    let gapless: Vec<u64> = (1..=messages.len() as u64).collect();
    assert_eq!(seqs(&messages), gapless);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_away_means_503_fast_and_the_node_recovers_by_itself() {
    let postgres = Postgres::start();
    let mut a = node(&postgres);
    let client = reqwest::Client::new();
    let (ana, _) = a.server.login(&client, "+6281200000041").await;
    let (_, budi_id) = a.server.login(&client, "+6281200000042").await;
    let chat = private_chat(&client, &a.server, &ana, &budi_id).await;
    assert_eq!(readiness(&client, &a.server).await, StatusCode::OK);

    postgres.stop();
    let asked = Instant::now();
    let (status, body) = send(&client, &a.server, &ana, &chat, json!({ "content": "x" })).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "a write fails fast, it does not hang: {:?}",
        asked.elapsed()
    );
    assert_eq!(
        readiness(&client, &a.server).await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    postgres.start_again();
    wait_for_readiness(
        &client,
        &a.server,
        StatusCode::OK,
        Duration::from_secs(30),
        "the node never became ready again",
    )
    .await;
    let (status, body) = send(
        &client,
        &a.server,
        &ana,
        &chat,
        json!({ "content": "back" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let seen = history(&client, &a.server, &ana, &chat).await;
    assert_eq!(seen.last().unwrap()["content"], "back");
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_copies_an_embedded_data_directory_into_an_empty_database() {
    use std::process::Command;

    use crate::support::process::BINARY;

    let postgres = Postgres::start();
    let embedded = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let (ana, chat, budi_phone) = {
        let mut server = Server::start_with(embedded.path(), &[("TLS", "off")]);
        let (ana, _) = server.login(&client, "+6281200000051").await;
        let (_, budi_id) = server.login(&client, "+6281200000052").await;
        let chat = private_chat(&client, &server, &ana, &budi_id).await;
        for n in 1..=30 {
            let (status, _) = send(
                &client,
                &server,
                &ana,
                &chat,
                json!({ "content": format!("pesan {n}") }),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED);
        }
        (ana, chat, "+6281200000052")
    };

    let copy = || {
        Command::new(BINARY)
            .args(["migrate", "--to", "postgres", "--data-dir"])
            .arg(embedded.path())
            .env("DATABASE_URL", postgres.url())
            .output()
            .unwrap()
    };
    let copied = copy();
    let out = String::from_utf8_lossy(&copied.stdout);
    assert!(
        copied.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    assert!(
        out.contains("messages: 30 of 30"),
        "progress per table: {out}"
    );
    assert!(out.contains("copied "), "{out}");

    // A second copy would mix two histories: refused, nothing changed.
    let again = copy();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // The node on PostgreSQL has the history, and the embedded server's
    // signing key came along: nobody has to sign in again.
    let mut node = node(&postgres);
    let seen_by_budi = {
        let (budi, _) = node.server.login(&client, budi_phone).await;
        history(&client, &node.server, &budi, &chat).await
    };
    assert_eq!(seqs(&seen_by_budi), (1..=30).collect::<Vec<u64>>());
    assert_eq!(seen_by_budi[29]["content"], "pesan 30");
    let (status, sent) = send(
        &client,
        &node.server,
        &ana,
        &chat,
        json!({ "content": "still signed in" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["seq"], json!(31));
}

/// Sends `count` messages as `token`'s user through `base`, `in_flight` at
/// a time, each awaited; returns how many were acknowledged.
async fn send_many(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    chat: &str,
    label: &str,
    count: usize,
    in_flight: usize,
) -> usize {
    let mut acknowledged = 0;
    for round in 0..count.div_ceil(in_flight) {
        let sends = (0..in_flight)
            .map(|i| round * in_flight + i)
            .filter(|n| *n < count)
            .map(|n| {
                client
                    .post(format!("{base}/api/chats/{chat}/messages"))
                    .bearer_auth(token)
                    .json(&json!({ "content": format!("{label} {n}") }))
                    .send()
            });
        for response in join_all(sends).await {
            if response.is_ok_and(|response| response.status() == StatusCode::CREATED) {
                acknowledged += 1;
            }
        }
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread")]
async fn live_events_typing_and_presence_cross_nodes() {
    let postgres = Postgres::start();
    let nats = NatsCluster::start(3);
    let mut a = node_on(&postgres, &nats);
    let b = node_on(&postgres, &nats);
    let client = reqwest::Client::new();
    let (ana, ana_id) = a.server.login(&client, "+6281200000061").await;
    let (budi, budi_id) = a.server.login(&client, "+6281200000062").await;
    let chat = private_chat(&client, &a.server, &ana, &budi_id).await;

    // Budi is on node B only; node A sees him online.
    let mut budi_on_b = socket(&b.server, &budi).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let budi_seen: Value = client
            .get(format!("{}/api/users/{budi_id}", a.server.base))
            .bearer_auth(&ana)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let user = budi_seen.get("user").unwrap_or(&budi_seen);
        if user["isOnline"] == json!(true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node A never saw Budi online: {budi_seen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Ana sends through node A; Budi's socket on node B gets each message,
    // once, in order.
    let sent = send_many(&client, &a.server.base, &ana, &chat, "halo", 40, 4).await;
    assert_eq!(sent, 40);
    let seqs = new_message_seqs(&mut budi_on_b, 40).await;
    assert_eq!(seqs, (1..=40).collect::<Vec<u64>>());

    // An edit crosses too.
    let edited = client
        .patch(format!("{}/api/chats/{chat}/messages/3", a.server.base))
        .bearer_auth(&ana)
        .json(&json!({ "content": "halo, diedit" }))
        .send()
        .await
        .unwrap();
    assert!(
        edited.status().is_success(),
        "{}",
        edited.text().await.unwrap()
    );
    let updated = budi_on_b.wait_for("message_updated").await;
    assert_eq!(updated["content"], "halo, diedit");

    // Typing on node A reaches node B.
    let mut ana_on_a = socket(&a.server, &ana).await;
    ana_on_a
        .emit("typing_start", json!({ "chatId": chat }))
        .await;
    let typing = budi_on_b.wait_for("user_typing").await;
    assert_eq!(
        (&typing["userId"], &typing["isTyping"]),
        (&json!(ana_id), &json!(true))
    );
    assert!(
        !budi_on_b
            .receives_within("new_message", Duration::from_millis(500))
            .await,
        "nothing is told twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn senders_on_both_nodes_every_socket_sees_each_message_once_in_order() {
    let postgres = Postgres::start();
    let nats = NatsCluster::start(3);
    let mut a = node_on(&postgres, &nats);
    let mut b = node_on(&postgres, &nats);
    let client = reqwest::Client::new();
    let (ana, _) = a.server.login(&client, "+6281200000071").await;
    let (budi, budi_id) = b.server.login(&client, "+6281200000072").await;
    let chat = private_chat(&client, &a.server, &ana, &budi_id).await;
    let mut sockets = vec![
        socket(&a.server, &ana).await,
        socket(&b.server, &ana).await,
        socket(&a.server, &budi).await,
        socket(&b.server, &budi).await,
    ];

    const EACH: usize = 60;
    let (from_a, from_b) = tokio::join!(
        send_many(&client, &a.server.base, &ana, &chat, "a", EACH, 6),
        send_many(&client, &b.server.base, &budi, &chat, "b", EACH, 6)
    );
    assert_eq!((from_a, from_b), (EACH, EACH));
    let expected: Vec<u64> = (1..=(2 * EACH) as u64).collect();
    for ws in &mut sockets {
        assert_eq!(new_message_seqs(ws, 2 * EACH).await, expected);
        assert!(
            !ws.receives_within("new_message", Duration::from_millis(300))
                .await
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_a_nats_server_loses_no_message() {
    let postgres = Postgres::start();
    let nats = NatsCluster::start(3);
    let mut a = node_on(&postgres, &nats);
    let b = node_on(&postgres, &nats);
    let client = reqwest::Client::new();
    let (ana, _) = a.server.login(&client, "+6281200000081").await;
    let (budi, budi_id) = a.server.login(&client, "+6281200000082").await;
    let chat = private_chat(&client, &a.server, &ana, &budi_id).await;
    let mut budi_on_b = socket(&b.server, &budi).await;

    let sender = {
        let (client, base, ana, chat) = (
            client.clone(),
            a.server.base.clone(),
            ana.clone(),
            chat.clone(),
        );
        tokio::spawn(async move {
            let mut sent = 0;
            for n in 0..150 {
                sent += send_many(&client, &base, &ana, &chat, &format!("m{n}"), 1, 1).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            sent
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    nats.kill(0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    nats.kill(1);
    let sent = sender.await.unwrap();
    assert_eq!(sent, 150, "sends do not depend on the bus");
    let seqs = new_message_seqs(&mut budi_on_b, 150).await;
    assert_eq!(seqs, (1..=150).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_cut_off_from_nats_heals_by_itself() {
    let postgres = Postgres::start();
    let nats = NatsCluster::start(3);
    let mut a = node_on(&postgres, &nats);
    let mut links = Vec::new();
    for index in 0..3 {
        links.push(Link::to(&nats.url(index)).await);
    }
    let urls: Vec<String> = links.iter().map(Link::url).collect();
    let b = node_reaching(&postgres, &urls.join(","));
    let client = reqwest::Client::new();
    let (ana, _) = a.server.login(&client, "+6281200000091").await;
    let (budi, budi_id) = a.server.login(&client, "+6281200000092").await;
    let chat = private_chat(&client, &a.server, &ana, &budi_id).await;
    let mut budi_on_b = socket(&b.server, &budi).await;
    assert_eq!(
        send_many(&client, &a.server.base, &ana, &chat, "before", 5, 1).await,
        5
    );
    assert_eq!(
        new_message_seqs(&mut budi_on_b, 5).await,
        vec![1, 2, 3, 4, 5]
    );

    for link in &links {
        link.cut();
    }
    wait_for_readiness(
        &client,
        &b.server,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(20),
        "node B never noticed it lost the bus",
    )
    .await;
    // Node B hears none of these while cut off.
    assert_eq!(
        send_many(&client, &a.server.base, &ana, &chat, "during", 20, 2).await,
        20
    );
    assert!(
        !budi_on_b
            .receives_within("new_message", Duration::from_millis(500))
            .await
    );

    for link in &links {
        link.heal();
    }
    assert_eq!(
        new_message_seqs(&mut budi_on_b, 20).await,
        (6..=25).collect::<Vec<u64>>(),
        "caught up from the store, in order"
    );
    wait_for_readiness(
        &client,
        &b.server,
        StatusCode::OK,
        Duration::from_secs(20),
        "node B never became ready again",
    )
    .await;
    assert_eq!(
        send_many(&client, &a.server.base, &ana, &chat, "after", 1, 1).await,
        1
    );
    assert_eq!(new_message_seqs(&mut budi_on_b, 1).await, vec![26]);
}

/// The `message` of each ntfy notification `stream` (a `/json` response)
/// brings, until `count` came.
async fn ntfy_messages(stream: reqwest::Response, count: usize) -> Vec<String> {
    use futures_util::StreamExt;
    let mut bytes = stream.bytes_stream();
    let (mut text, mut found) = (String::new(), Vec::new());
    while found.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(15), bytes.next())
            .await
            .expect("the notification comes")
            .expect("the stream stays open")
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find('\n') {
            let line: String = text.drain(..=end).collect();
            let event: Value = serde_json::from_str(line.trim()).unwrap();
            if event["event"] == "message" {
                found.push(event["message"].as_str().unwrap().to_owned());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ntfy_subscriber_on_any_node_hears_each_message_once() {
    let postgres = Postgres::start();
    let nats = NatsCluster::start(3);
    let mut a = node_on(&postgres, &nats);
    let b = node_on(&postgres, &nats);
    let client = reqwest::Client::new();
    let (ana, _) = a.server.login(&client, "+6281200000101").await;
    let (budi, budi_id) = a.server.login(&client, "+6281200000102").await;
    let chat = private_chat(&client, &a.server, &ana, &budi_id).await;
    let link: Value = client
        .get(format!("{}/api/notify/topic", a.server.base))
        .bearer_auth(&budi)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = link["path"].as_str().expect("a topic path");
    // Budi's phone listens through either node.
    let mut streams = Vec::new();
    for node in [&a.server, &b.server] {
        let stream = client
            .get(format!("{}{path}/json", node.base))
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        streams.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Budi has no socket open: each message is notified, by whichever
    // node's notifier takes it.
    const COUNT: usize = 6;
    assert_eq!(
        send_many(&client, &a.server.base, &ana, &chat, "kabar", COUNT, 2).await,
        COUNT
    );
    for stream in streams {
        let mut heard = ntfy_messages(stream, COUNT).await;
        heard.sort();
        let mut expected: Vec<String> = (0..COUNT).map(|n| format!("kabar {n}")).collect();
        expected.sort();
        assert_eq!(heard, expected, "each message once, on every node");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_send_otp_limit_per_address_holds_across_nodes() {
    let postgres = Postgres::start();
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let limit = [("AUTH_RATE_LIMIT_MAX", "3")];
    let a = start_on(dirs.0.path(), &postgres, &limit);
    let b = start_on(dirs.1.path(), &postgres, &limit);
    let client = reqwest::Client::new();
    let send_otp = |node: &Server, n: u32| {
        client
            .post(format!("{}/api/auth/send-otp", node.base))
            .json(&json!({ "phoneNumber": format!("+62812000002{n:02}") }))
            .send()
    };
    for (node, n) in [(&a, 1), (&b, 2), (&a, 3)] {
        assert_eq!(send_otp(node, n).await.unwrap().status(), StatusCode::OK);
    }
    // The fourth from this address, on either node, is over the limit.
    for (node, n) in [(&b, 4), (&a, 5)] {
        let refused = send_otp(node, n).await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key("retry-after"));
    }
}
