//! The release binary is self-contained: statically linked, and able to run
//! and serve a chat from an otherwise empty root filesystem (no libc, no
//! NSS, no CA files, no /etc at all).
//!
//! The binary comes from `CLAVOX_STATIC_BINARY` (CI builds it as the README's
//! "A static binary" says). Without it the test says it was skipped,
//! unless `CLAVOX_REQUIRE_STATIC` is set, when it fails.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::phone;

fn static_binary() -> Option<PathBuf> {
    match std::env::var_os("CLAVOX_STATIC_BINARY") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var_os("CLAVOX_REQUIRE_STATIC").is_some() => {
            panic!("set CLAVOX_STATIC_BINARY to a binary built with crt-static (see .ci/run)")
        }
        None => {
            eprintln!("skipped: set CLAVOX_STATIC_BINARY to test the static release binary");
            None
        }
    }
}

/// Whether an ELF file needs dynamic linking at all: a loader (PT_INTERP)
/// or a dynamic section (PT_DYNAMIC). Neither means `ldd` answers "not a
/// dynamic executable".
fn is_dynamic(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF");
    let read = |at: usize, len: usize| {
        elf[at..at + len]
            .iter()
            .rev()
            .fold(0u64, |value, &byte| (value << 8) | u64::from(byte))
    };
    let (headers_at, entry_size, count) = (
        read(0x20, 8) as usize,
        read(0x36, 2) as usize,
        read(0x38, 2) as usize,
    );
    (0..count).any(|index| matches!(read(headers_at + index * entry_size, 4), 2 | 3))
}

#[tokio::test]
async fn the_static_binary_serves_a_chat_from_an_empty_root() {
    let Some(binary) = static_binary() else {
        return;
    };
    let bytes = std::fs::read(&binary).unwrap();
    assert!(
        !is_dynamic(&bytes),
        "{} is dynamically linked",
        binary.display()
    );

    let root = tempfile::tempdir().unwrap();
    std::fs::copy(&binary, root.path().join("clavox")).unwrap();
    std::fs::create_dir(root.path().join("data")).unwrap();
    let entries: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        entries.len(),
        2,
        "the root holds only the binary and a data dir: {entries:?}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Found before the environment is cleared for the server.
    let chroot = ["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .expect("chroot is installed");
    let mut child = Command::new(chroot)
        .arg(root.path())
        .args([
            "/clavox",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--data-dir",
            "/data",
            "--mdns",
            "false",
            "--tls-port",
            "0",
        ])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("chroot runs (the test needs root)");
    let (lines, output) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let wait_for = |needle: &str| loop {
        let line = output
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no line with {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    };
    wait_for("is ready");

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for n in [860, 861] {
        let number = phone(n);
        client
            .post(format!("{base}/api/auth/send-otp"))
            .json(&json!({ "phoneNumber": number }))
            .send()
            .await
            .unwrap();
        let line = wait_for(&format!("OTP for {number}: "));
        let code: String = line
            .split(&format!("OTP for {number}: "))
            .nth(1)
            .unwrap()
            .chars()
            .take(6)
            .collect();
        let login: Value = client
            .post(format!("{base}/api/auth/verify-otp"))
            .json(&json!({ "phoneNumber": number, "otp": code }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push((
            login["accessToken"].as_str().unwrap().to_owned(),
            login["user"]["id"].as_str().unwrap().to_owned(),
        ));
    }
    let chat: Value = client
        .post(format!("{base}/api/chats"))
        .bearer_auth(&tokens[0].0)
        .json(&json!({ "type": "private", "participants": [tokens[1].1] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat = chat["id"].as_str().unwrap();
    let sent = client
        .post(format!("{base}/api/chats/{chat}/messages"))
        .bearer_auth(&tokens[0].0)
        .json(&json!({ "content": "from an empty root" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let page: Value = client
        .get(format!("{base}/api/chats/{chat}/messages"))
        .bearer_auth(&tokens[1].0)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["messages"][0]["content"], "from an empty root");
    let web = client.get(format!("{base}/")).send().await.unwrap();
    assert!(
        web.text().await.unwrap().contains("<title>Clavox</title>"),
        "the web app is inside the binary"
    );

    let _ = child.kill();
    let _ = child.wait();
}
