//! The real `clavox` binary: its command line, its files, and what survives
//! `kill -9`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::phone;
use crate::support::process::{BINARY, Server, free_port};

#[test]
fn help_explains_the_commands_and_settings() {
    let output = Command::new(BINARY).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("serve"), "{help}");
    let output = Command::new(BINARY)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for setting in [
        "--port",
        "--data-dir",
        "--jwt-expire",
        "CLAVOX_DATA_DIR",
        "REGISTRATION",
        "RATE_LIMIT_WINDOW_MS",
    ] {
        assert!(
            help.contains(setting),
            "{setting} missing from serve --help"
        );
    }
    let version = Command::new(BINARY).arg("--version").output().unwrap();
    assert!(
        String::from_utf8(version.stdout)
            .unwrap()
            .contains(env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn an_invalid_setting_stops_the_start_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    for (variable, value, named) in [
        ("JWT_EXPIRE", "soon", "jwt-expire"),
        ("FRONTEND_URL", "example.com", "FRONTEND_URL"),
        ("JWT_SECRET", "short", "JWT_SECRET"),
        ("TRUSTED_PROXIES", "10.0.0.0/33", "TRUSTED_PROXIES"),
    ] {
        let output = Command::new(BINARY)
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.path())
            .env(variable, value)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{variable}={value} was accepted");
        let message = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(message.contains(named), "{variable}: {message}");
        let first = message.lines().next().unwrap_or("");
        assert!(
            first.contains(named),
            "the first line names the setting: {message}"
        );
    }
}

#[test]
fn under_log_format_json_even_a_refused_start_logs_json() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .env("LOG_FORMAT", "json")
        .env("FRONTEND_URL", "nope")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for line in text.lines() {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(entry["message"].as_str().unwrap().contains("FRONTEND_URL"));
    }
}

#[tokio::test]
async fn sigterm_finishes_in_flight_writes_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut server = Server::start(dir.path());
    let (ana, _) = server.login(&client, &phone(850)).await;
    let (_, budi) = server.login(&client, &phone(851)).await;
    let chat = server
        .create_chat(
            &client,
            &ana,
            json!({ "type": "private", "participants": [budi] }),
        )
        .await;
    let url = format!("{}/api/chats/{}/messages", server.base, chat);
    let ws_url = format!("{}/ws?token={ana}", server.base.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let sends: Vec<_> = (0..30)
        .map(|n| {
            let request = client
                .post(&url)
                .bearer_auth(&ana)
                .json(&json!({ "content": format!("m{n}") }));
            tokio::spawn(async move {
                let status = request
                    .send()
                    .await
                    .map(|response| response.status().as_u16())
                    .unwrap_or(0);
                (status == 201).then(|| format!("m{n}"))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let close = tokio::time::timeout(Duration::from_secs(10), async {
        use futures_util::StreamExt;
        while let Some(Ok(message)) = socket.next().await {
            if let tokio_tungstenite::tungstenite::Message::Close(frame) = message {
                return frame.map(|frame| u16::from(frame.code));
            }
        }
        None
    })
    .await
    .expect("the socket is closed in time");
    assert_eq!(
        close,
        Some(1001),
        "sockets are told the server is going away"
    );
    let mut acknowledged = Vec::new();
    for send in sends {
        acknowledged.extend(send.await.unwrap());
    }
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the server did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    server.wait_for_line("stopped cleanly");
    drop(server);
    let server = Server::start(dir.path());
    let page: Value = client
        .get(format!("{url}?limit=100").replace(&url[..url.find("/api").unwrap()], &server.base))
        .bearer_auth(&ana)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["content"].as_str().unwrap())
        .collect();
    for content in &acknowledged {
        assert!(
            stored.contains(&content.as_str()),
            "acknowledged {content} is there"
        );
    }
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    drop(server);
}

#[tokio::test]
async fn acknowledged_messages_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut server = Server::start(dir.path());
    let (ana, _) = server.login(&client, &phone(800)).await;
    let (_, budi) = server.login(&client, &phone(801)).await;
    let chat = server
        .create_chat(
            &client,
            &ana,
            json!({ "type": "private", "participants": [budi] }),
        )
        .await;
    let url = format!("{}/api/chats/{chat}/messages", server.base);
    let sends = (0..40).map(|n| {
        let request = client
            .post(&url)
            .bearer_auth(&ana)
            .json(&json!({ "content": format!("m{n}") }));
        async move {
            request
                .send()
                .await
                .map(|response| response.status().as_u16())
                .unwrap_or(0)
        }
    });
    let acknowledged = futures_util::future::join_all(sends)
        .await
        .iter()
        .filter(|&&status| status == 201)
        .count();
    assert_eq!(acknowledged, 40);
    server.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    server.child.wait().unwrap();
    drop(server);

    let server = Server::start(dir.path());
    let page: Value = client
        .get(format!(
            "{}/api/chats/{chat}/messages?limit=100",
            server.base
        ))
        .bearer_auth(&ana)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=40).collect::<Vec<u64>>());
}

#[tokio::test]
async fn healthcheck_tells_a_live_server_from_a_dead_port() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let live = Command::new(BINARY)
        .args(["healthcheck", "--port", &port])
        .output()
        .unwrap();
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    drop(server);
    let dead = Command::new(BINARY)
        .args(["healthcheck", "--port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(!dead.status.success());
    assert!(String::from_utf8_lossy(&dead.stderr).contains("unhealthy"));
}

#[tokio::test]
async fn the_banner_names_the_version_the_data_dir_and_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    assert!(
        server
            .wait_for_line("is ready")
            .contains(env!("CARGO_PKG_VERSION"))
    );
    assert!(server.wait_for_line("open:").contains("http://127.0.0.1:"));
    assert!(
        server
            .wait_for_line("data:")
            .contains(dir.path().to_str().unwrap())
    );
    assert!(server.wait_for_line("login codes:").contains("log"));
    assert!(
        server
            .wait_for_line("admin:")
            .contains("the first person to sign in becomes the admin")
    );
}

/// Runs `clavox ARGS --data-dir DIR` to completion.
fn admin(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(BINARY)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn user_commands_reach_the_running_server_and_disable_acts_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut server = Server::start(dir.path());
    // The first account is the server's admin, which stays enabled.
    server.login(&client, &phone(819)).await;
    let number = phone(820);
    let (token, _) = server.login(&client, &number).await;
    let profile = format!("{}/api/users/profile", server.base);
    assert_eq!(
        client
            .get(&profile)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let (ok, listed) = admin(dir.path(), &["users", "list"]);
    assert!(
        ok && listed.contains(&number) && listed.contains("active"),
        "{listed}"
    );
    let (ok, said) = admin(dir.path(), &["users", "disable", &number]);
    assert!(ok, "{said}");
    assert_eq!(
        client
            .get(&profile)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "sessions end at once"
    );
    let (_, listed) = admin(dir.path(), &["users", "list"]);
    assert!(listed.contains("disabled"), "{listed}");
    let (ok, said) = admin(dir.path(), &["users", "disable", &phone(829)]);
    assert!(!ok && said.contains("no user"), "{said}");
    let (ok, _) = admin(dir.path(), &["users", "enable", &number]);
    assert!(ok);
    let (ok, said) = admin(dir.path(), &["users", "unlock", &number]);
    assert!(ok && said.contains("was not locked"), "{said}");
    let (token, _) = server.login(&client, &number).await;
    assert_eq!(
        client
            .get(&profile)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn invite_only_registration_sends_codes_to_invited_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let mut server = Server::start_with(dir.path(), &[("REGISTRATION", "invite")]);
    let (stranger, guest) = (phone(830), phone(831));
    let send = |number: String| {
        client
            .post(format!("{}/api/auth/send-otp", server.base))
            .json(&json!({ "phoneNumber": number }))
            .send()
    };
    assert_eq!(send(stranger.clone()).await.unwrap().status(), 200);
    let (ok, said) = admin(dir.path(), &["users", "invite", &guest]);
    assert!(ok, "{said}");
    assert_eq!(send(guest.clone()).await.unwrap().status(), 200);
    server.wait_for_line(&format!("OTP for {guest}: "));
    assert!(
        !server
            .seen
            .iter()
            .any(|line| line.contains(&format!("OTP for {stranger}"))),
        "the stranger got no code"
    );
    assert!(
        server
            .seen
            .iter()
            .any(|line| line.contains("no code sent") && line.contains(&stranger)),
        "the log says why"
    );
}

#[tokio::test]
async fn a_backup_taken_during_writes_restores_every_message_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    // Four writers as fast as they can: no per-user message budget here.
    let mut server = Server::start_with(dir.path(), &[("MESSAGE_RATE", "0")]);
    let (ana, _) = server.login(&client, &phone(840)).await;
    let (_, budi) = server.login(&client, &phone(841)).await;
    let chat = server
        .create_chat(
            &client,
            &ana,
            json!({ "type": "private", "participants": [budi] }),
        )
        .await;
    let url = format!("{}/api/chats/{chat}/messages", server.base);
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (client, url, ana) = (client.clone(), url.clone(), ana.clone());
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    n += 1;
                    let response = client
                        .post(&url)
                        .bearer_auth(&ana)
                        .json(&json!({ "content": format!("w{writer} #{n}") }))
                        .send()
                        .await
                        .unwrap();
                    let message: Value = response.json().await.unwrap();
                    acknowledged.fetch_max(
                        message["seq"].as_u64().unwrap(),
                        std::sync::atomic::Ordering::SeqCst,
                    );
                }
            })
        })
        .collect();
    while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < 50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before_backup = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
    let archive = dir.path().join("backup.tar");
    let data = dir.path().to_owned();
    let archive_path = archive.clone();
    let (ok, said) = tokio::task::spawn_blocking(move || {
        admin(&data, &["backup", "--out", archive_path.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert!(ok, "{said}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(
        acknowledged.load(std::sync::atomic::Ordering::SeqCst) > before_backup,
        "writes went on during the backup"
    );
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );
    drop(server);

    let restored = dir.path().join("restored");
    let output = Command::new(BINARY)
        .args(["restore", "--from"])
        .arg(&archive)
        .arg("--data-dir")
        .arg(&restored)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let server = Server::start(&restored);
    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = client
            .get(format!(
                "{}/api/chats/{chat}/messages?after={after}&limit=100",
                server.base
            ))
            .bearer_auth(&ana)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seqs.extend(
            page["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|message| message["seq"].as_u64().unwrap()),
        );
        after = *seqs.last().unwrap_or(&0);
        if page["hasMore"] != true {
            break;
        }
    }
    assert!(
        seqs.len() as u64 >= before_backup,
        "restored {} of {before_backup} acknowledged before the backup",
        seqs.len()
    );
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "no gaps");
    let (ok, said) = admin(&restored, &["users", "list"]);
    assert!(ok && said.contains("2 users"), "{said}");
    // Phones keep trusting the restored server: its authority came along.
    for name in ["tls-ca.pem", "tls-ca.key"] {
        assert_eq!(
            std::fs::read(dir.path().join(name)).unwrap(),
            std::fs::read(restored.join(name)).unwrap(),
            "{name}"
        );
        assert_eq!(
            std::fs::metadata(restored.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
}

#[test]
fn seed_and_migrate_work_on_a_data_directory_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, said) = admin(dir.path(), &["users", "list"]);
    assert!(!ok && said.contains("holds no Clavox data"), "{said}");
    let (ok, said) = admin(dir.path(), &["seed"]);
    assert!(ok && said.contains("+6281100000001"), "{said}");
    let (ok, said) = admin(dir.path(), &["seed"]);
    assert!(ok && said.contains("already there"), "{said}");
    let (ok, said) = admin(dir.path(), &["migrate"]);
    assert!(
        ok && said.contains(&format!("schema version {}", clavox::store::SCHEMA_VERSION))
            && said.contains("3 users")
            // The demo messages, written with no server to index them.
            && said.contains("messages for search"),
        "{said}"
    );
}

/// `clavox backup` against a running server writes the archive from the
/// asking process: here the server runs as `nobody`, from another working
/// directory, and the archive goes where only root may write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_running_server_is_written_by_the_asking_process() {
    if !rustix::process::geteuid().is_root() {
        assert!(
            std::env::var_os("CLAVOX_REQUIRE_ROOT").is_none(),
            "CLAVOX_REQUIRE_ROOT is set but the tests do not run as root"
        );
        eprintln!("skipped: a server as another user needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (server_home, private) = (dir.path().join("server"), dir.path().join("private"));
    let data = server_home.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&private).unwrap();
    for path in [&server_home, &data] {
        std::os::unix::fs::chown(path, Some(65534), Some(65534)).unwrap();
    }
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(
        &private,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let mut server = Server::start_as_nobody(&server_home, &data);
    let client = reqwest::Client::new();
    // An account, so the restore has something to show.
    server.login(&client, &phone(4400)).await;

    let out = private.join("backup.tar");
    let output = Command::new(BINARY)
        .current_dir(&private)
        .args(["backup", "--out", "backup.tar", "--data-dir"])
        .arg(&data)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("backup written to"), "{text}");
    let metadata = std::fs::metadata(&out).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::mode(&metadata) & 0o777,
        0o600
    );
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with(".clavox-backup")
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "the server's staging is gone: {leftovers:?}"
    );
    drop(server);

    let restored = dir.path().join("restored");
    let (ok, text) = admin_restore(&out, &restored);
    assert!(ok, "{text}");
    let (ok, users) = admin(&restored, &["users", "list"]);
    assert!(
        ok && users.contains(&phone(4400)),
        "the account came back: {users}"
    );
}

fn admin_restore(archive: &Path, data_dir: &Path) -> (bool, String) {
    let output = Command::new(BINARY)
        .args(["restore", "--from"])
        .arg(archive)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}
