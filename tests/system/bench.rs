//! `clavox bench` end to end, briefly (a smoke run, no thresholds): every
//! scenario against its own child server, and Socket.IO against the Node.js
//! reference in tests/reference, so neither can rot. What it checks is that
//! the numbers are real: everything sent was acknowledged and delivered to
//! each member's socket, pages held the right messages, /proc was read,
//! every message made its push, a hanging push service failed no send, and
//! every search answered with its rare term's every planting found.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::process::{BINARY, free_port, node_package};

/// A run of seconds: small numbers for every knob.
const SMALL: &[&str] = &[
    "--users",
    "12",
    "--chat-sizes",
    "2,4",
    "--rate",
    "200",
    "--duration",
    "1s",
    "--max-start-rate",
    "200",
    "--step-duration",
    "500ms",
    "--max-steps",
    "2",
    "--idle-sockets",
    "60",
    "--history-messages",
    "400",
    "--history-readers",
    "4",
    "--history-duration",
    "500ms",
    "--ceiling-duration",
    "100ms",
    "--push-pairs",
    "4",
    "--push-messages",
    "300",
    "--push-subscriptions",
    "2",
];

async fn bench(args: &[&str], work_dir: &Path) -> Value {
    let output = Command::new(BINARY)
        .arg("bench")
        .args(SMALL)
        .args(args)
        .arg("--json")
        .arg("--work-dir")
        .arg(work_dir)
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), output)
        .await
        .expect("the bench finishes")
        .expect("the bench starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the bench failed:\n{stderr}");
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("--json prints JSON; stderr:\n{stderr}"))
}

/// Every message acknowledged, and delivered once to each member's socket.
fn check_load(result: &Value) {
    let sent = result["sent"].as_u64().unwrap();
    let size = result["chatSize"].as_u64().unwrap();
    assert!(sent > 0, "{result}");
    assert_eq!(result["acked"], sent, "{result}");
    assert_eq!(result["delivered"], sent * size, "{result}");
    assert_eq!(result["errors"], 0, "{result}");
    assert_eq!(result["lost"], 0, "{result}");
    assert!(result["p99Ms"].as_f64().unwrap() > 0.0, "{result}");
    assert!(
        result["cpuMsPer1000"].as_f64().is_some(),
        "server CPU read from /proc: {result}"
    );
}

fn check_history(history: &Value, messages: u64, changes: bool) {
    assert_eq!(history["messages"], messages);
    for page in [&history["newest"], &history["deep"]] {
        assert!(page["requests"].as_u64().unwrap() > 0, "{history}");
        assert_eq!(page["errors"], 0, "{history}");
    }
    assert_eq!(history["deepPage"], messages * 9 / 10 / 50 + 1);
    if !changes {
        assert!(history["changes"].is_null(), "{history}");
        return;
    }
    let changes = &history["changes"];
    assert_eq!(changes["changes"], 300, "{history}");
    assert!(
        changes["recentPerSecond"].as_f64().unwrap() > 0.0
            && changes["spreadPerSecond"].as_f64().unwrap() > 0.0,
        "{history}"
    );
    let since: Vec<u64> = changes["feed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|read| {
            assert!(read["requests"].as_u64().unwrap() > 0, "{history}");
            assert_eq!(read["errors"], 0, "{history}");
            read["since"].as_u64().unwrap()
        })
        .collect();
    // 400 sends and 300 changes took 700 revs (a repeated reaction takes none).
    assert_eq!(since[0], 0, "{history}");
    assert!(
        since[2] >= 500 && since[2] < 700 && since[1] > 200,
        "{history}"
    );
}

/// Every send answered in every phase; with the push service answering,
/// one push per message and subscription.
fn check_push(push: &Value) {
    assert_eq!(push["pairs"], 4, "{push}");
    assert_eq!(push["pushesExpected"], 600, "{push}");
    assert_eq!(push["pushesArrived"], 600, "{push}");
    assert!(push["pushesPerSecond"].as_f64().unwrap() > 0.0, "{push}");
    for phase in [&push["withoutPushes"], &push["answering"], &push["hanging"]] {
        assert_eq!(phase["sent"], 300, "{push}");
        assert_eq!(phase["acked"], 300, "{push}");
        assert_eq!(phase["errors"], 0, "{push}");
        assert!(phase["sendsPerSecond"].as_f64().unwrap() > 0.0, "{push}");
        assert!(phase["p99Ms"].as_f64().unwrap() > 0.0, "{push}");
    }
    assert!(
        push["pushesHeld"].as_u64().unwrap() > 0,
        "the server did try the hanging service: {push}"
    );
}

#[tokio::test]
async fn the_bench_runs_every_scenario_against_a_server_of_its_own() {
    let work = tempfile::tempdir().unwrap();
    let report = bench(&["--history-changes", "300"], work.path()).await;
    let fanout = report["fanout"].as_array().unwrap();
    assert_eq!(fanout.len(), 2);
    fanout.iter().for_each(check_load);
    for max in report["max"].as_array().unwrap() {
        assert!(!max["steps"].as_array().unwrap().is_empty(), "{max}");
    }
    assert_eq!(report["idle"]["sockets"], 60);
    assert!(report["idle"]["bytesPerSocket"].as_f64().is_some());
    check_history(&report["history"], 400, true);
    let startup = &report["startup"];
    assert!(startup["emptyMs"].as_f64().unwrap() > 0.0);
    assert!(startup["fullMs"].as_f64().unwrap() > 0.0);
    let ceiling = report["ceiling"].as_array().unwrap();
    assert_eq!(ceiling.len(), 4);
    assert!(
        ceiling
            .iter()
            .all(|row| row["recordsPerSecond"].as_f64().unwrap() > 0.0)
    );
    check_push(&report["push"]);
    assert!(report["search"].is_null(), "search runs only when asked");
    let leftovers: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "the scratch directory is removed: {leftovers:?}"
    );
}

#[tokio::test]
async fn the_bench_searches_a_store_of_its_own_when_asked() {
    let work = tempfile::tempdir().unwrap();
    let report = bench(
        &[
            "--scenario",
            "search",
            "--search-messages",
            "2000",
            "--search-chats",
            "20",
            "--search-queries",
            "20",
        ],
        work.path(),
    )
    .await;
    let search = &report["search"];
    assert_eq!(search["messages"], 2000, "{search}");
    assert_eq!(search["searcherChats"], 10, "{search}");
    assert!(
        search["textBytes"].as_u64().unwrap() > 2000 * 10,
        "{search}"
    );
    let queries = search["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 7, "{search}");
    for query in queries {
        assert_eq!(query["queries"], 20, "{query}");
        assert_eq!(query["errors"], 0, "{query}");
        assert_eq!(query["partial"], 0, "{query}");
        assert_eq!(query["wrong"], 0, "{query}");
        assert!(query["p99Ms"].as_f64().unwrap() > 0.0, "{query}");
    }
    let rare = queries.iter().find(|query| query["name"] == "rare term");
    assert_eq!(rare.unwrap()["resultsPerQuery"], 5.0, "{search}");
    // Only a server that reports its index's size has one to compare.
    if let Some(ratio) = search["indexToText"].as_f64() {
        assert!(ratio > 0.0, "{search}");
        assert!(search["indexBytesPerMessage"].as_f64().unwrap() > 0.0);
    }
    assert!(
        std::fs::read_dir(work.path()).unwrap().next().is_none(),
        "the scratch directory is removed"
    );
}

#[tokio::test]
async fn the_bench_drives_the_node_reference_over_socketio() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    if !node_package(
        "the_bench_drives_the_node_reference_over_socketio",
        &dir,
        "socket.io",
    ) {
        return;
    }
    let webhook_port = free_port();
    let port = free_port();
    let mut reference = Command::new("node")
        .arg("server.js")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env(
            "OTP_WEBHOOK_URL",
            format!("http://127.0.0.1:{webhook_port}/otp"),
        )
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(reference.stdout.take().unwrap()).lines();
    let listening = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the reference starts in time")
        .unwrap()
        .unwrap_or_default();
    assert!(listening.contains("listening"), "{listening}");
    let work = tempfile::tempdir().unwrap();
    let pid = reference.id().unwrap().to_string();
    let url = format!("http://127.0.0.1:{port}");
    let otp = format!("127.0.0.1:{webhook_port}");
    let report = bench(
        &[
            "--url",
            &url,
            "--server-pid",
            &pid,
            "--otp-listen",
            &otp,
            "--protocol",
            "socketio",
            "--scenario",
            "fanout,idle,history",
            // The original design cannot change a message.
            "--history-changes=0",
        ],
        work.path(),
    )
    .await;
    report["fanout"]
        .as_array()
        .unwrap()
        .iter()
        .for_each(check_load);
    assert!(report["idle"]["bytesPerSocket"].as_f64().is_some());
    check_history(&report["history"], 400, false);
    assert!(
        report["startup"].is_null(),
        "start-up is only measured on a server the bench started"
    );
}
