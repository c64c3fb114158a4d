//! A full disk: writes fail with a clear `507 storage_full`, reads go on,
//! the process stays up, and once space is freed writes succeed again with
//! no gap in `seq`; uploads are refused long before, leaving the last space
//! to messages. Runs on a small tmpfs the test mounts (needs root).

use std::io::Write;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, phone};

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        match mounted {
            Ok(status) if status.success() => Some(Self { dir }),
            _ if std::env::var_os("CLAVOX_REQUIRE_ROOT").is_some() => {
                panic!("mounting a tmpfs needs root")
            }
            _ => {
                eprintln!("skipped: mounting a tmpfs needs root");
                None
            }
        }
    }

    /// Writes a file until the disk is full; returns its path.
    fn fill(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while file
            .write_all(&block)
            .and_then(|()| file.sync_all())
            .is_ok()
        {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_clearly_and_recovers_when_space_returns() {
    let Some(disk) = SmallDisk::mount("24m") else {
        return;
    };
    let data = tempfile::tempdir_in(disk.dir.path()).unwrap();
    // One user fills the disk as fast as it can.
    let app = TestApp::spawn_in(data, &[("--message-rate", "0")]).await;
    let (ana, budi) = (app.login(&phone(1200)).await, app.login(&phone(1201)).await);
    let chat = app.private_chat(&ana, &budi).await;
    let path = format!("/api/chats/{chat}/messages");
    let mut last_seq = app.send_message(&ana, &chat, "before").await["seq"]
        .as_u64()
        .unwrap();

    let filler = disk.fill();
    let mut refused = None;
    for n in 0..2000 {
        let (status, body) = app
            .post(
                &path,
                &ana.access,
                json!({ "content": format!("filling {n} {}", "x".repeat(2000)) }),
            )
            .await;
        match status {
            StatusCode::CREATED => last_seq = body["seq"].as_u64().unwrap(),
            StatusCode::INSUFFICIENT_STORAGE => {
                refused = Some(body);
                break;
            }
            other => panic!("a send on a full disk answered {other}: {body}"),
        }
    }
    let refused = refused.expect("sends are refused once the disk is full");
    assert_eq!(refused["code"], "storage_full");

    // Reads, authentication and health go on.
    let (status, page) = app.get(&format!("{path}?limit=1"), &ana.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["messages"][0]["seq"], last_seq);
    assert_eq!(
        app.get("/api/users/profile", &budi.access).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.call(reqwest::Method::GET, "/healthz", None, None)
            .await
            .0,
        StatusCode::OK
    );
    let mut socket = app.joined_ws(&budi).await;
    let answer = socket
        .request(
            "send_message",
            json!({ "chatId": chat, "content": "on a full disk" }),
        )
        .await;
    assert_eq!(
        (answer["event"].as_str(), answer["data"]["code"].as_str()),
        (Some("error"), Some("storage_full"))
    );

    std::fs::remove_file(filler).unwrap();
    let after = app.send_message(&ana, &chat, "space is back").await;
    assert_eq!(
        after["seq"].as_u64().unwrap(),
        last_seq + 1,
        "no gap in seq"
    );
    let (_, page) = app.get(&format!("{path}?limit=100"), &budi.access).await;
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (seqs[0]..=last_seq + 1).collect::<Vec<_>>());
}

#[tokio::test]
async fn uploads_are_refused_while_the_disk_keeps_room_for_messages() {
    // Less free space than uploads ever leave: no upload fits, messages do.
    let Some(disk) = SmallDisk::mount("48m") else {
        return;
    };
    let data = tempfile::tempdir_in(disk.dir.path()).unwrap();
    let app = TestApp::spawn_in(data, &[]).await;
    let (ana, budi) = (app.login(&phone(1210)).await, app.login(&phone(1211)).await);
    let chat = app.private_chat(&ana, &budi).await;
    let response = app
        .client
        .post(app.url("/api/uploads?name=a.txt"))
        .bearer_auth(&ana.access)
        .header("content-type", "text/plain")
        .body("a small file")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INSUFFICIENT_STORAGE);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "storage_full");
    app.send_message(&ana, &chat, "messages still go").await;
}
