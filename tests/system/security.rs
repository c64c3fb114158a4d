//! Attacks from people without the server's trust: files planted beside a
//! backup, hostile backup archives, a `.env` someone else wrote, uploads
//! meant to run as pages or scripts, and names that hide behind invisible
//! or right-to-left characters.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use clavox::backup;
use clavox::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::process::{BINARY, Server, free_port};
use crate::support::{TestApp, phone};

const VICTIM_TEXT: &str = "bytes the backup must never touch";

/// A file of the test's own, readable by all, for planted links to aim at.
fn victim(dir: &Path) -> PathBuf {
    let victim = dir.join("victim.txt");
    fs::write(&victim, VICTIM_TEXT).unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    victim
}

fn assert_untouched(victim: &Path) {
    assert_eq!(fs::read_to_string(victim).unwrap(), VICTIM_TEXT);
    assert_eq!(
        format!("{:o}", mode(victim)),
        "644",
        "the victim's mode changed"
    );
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Both ways of spelling a partial file beside `out`: `<out>.partial` and
/// `<out without its extension>.partial`.
fn partial_names(out: &Path) -> [PathBuf; 2] {
    [
        PathBuf::from(format!("{}.partial", out.display())),
        out.with_extension("partial"),
    ]
}

fn archive_names(archive: &Path) -> Vec<String> {
    tar::Archive::new(fs::File::open(archive).unwrap())
        .entries()
        .unwrap()
        .map(|entry| entry.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[tokio::test]
async fn a_backup_neither_follows_nor_reuses_files_planted_at_its_partial_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = Store::open(&data).unwrap();
    let victim = victim(dir.path());
    let through_symlink = dir.path().join("through-symlink.tar");
    for partial in partial_names(&through_symlink) {
        symlink(&victim, partial).unwrap();
    }
    let over_planted_file = dir.path().join("over-planted-file.tar");
    for partial in partial_names(&over_planted_file) {
        fs::write(&partial, "planted").unwrap();
        fs::set_permissions(&partial, fs::Permissions::from_mode(0o666)).unwrap();
    }

    for out in [&through_symlink, &over_planted_file] {
        let summary = backup::create(&store, &data, out).expect("the backup succeeds");
        let written = fs::symlink_metadata(out).unwrap();
        assert!(written.is_file(), "{} is not a regular file", out.display());
        let mode = format!("{:o}", mode(out));
        assert_eq!(mode, "600", "{} is open to others", out.display());
        assert_eq!(written.len(), summary.bytes);
        assert!(archive_names(out).contains(&"clavox.redb".to_owned()));
    }
    assert_untouched(&victim);
    for partial in partial_names(&through_symlink) {
        assert!(fs::symlink_metadata(&partial).unwrap().is_symlink());
    }
    for partial in partial_names(&over_planted_file) {
        assert_eq!(fs::read_to_string(&partial).unwrap(), "planted");
    }
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".clavox-backup"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    store.close().await;
}

/// Restores an archive whose only entry is `name`, a symlink to a file of
/// the test's own, into an empty data directory: the restore must fail,
/// say why, and leave both the directory and the link's target as they were.
fn assert_symlink_entry_is_refused(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let victim = victim(dir.path());
    let archive = dir.path().join("hostile.tar");
    let mut builder = tar::Builder::new(fs::File::create(&archive).unwrap());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_mode(0o777);
    header.set_size(0);
    builder.append_link(&mut header, name, &victim).unwrap();
    builder.into_inner().unwrap().sync_all().unwrap();
    let data = dir.path().join("restored");
    fs::create_dir(&data).unwrap();

    let error = backup::restore(&archive, &data)
        .expect_err("a symlink entry is refused")
        .to_string();
    assert!(
        error.contains(name) && error.contains("symbolic link"),
        "{error}"
    );
    assert_eq!(
        fs::read_dir(&data).unwrap().count(),
        0,
        "the data directory was written to"
    );
    assert_untouched(&victim);
}

#[test]
fn a_restore_refuses_an_upload_that_is_a_symlink() {
    assert_symlink_entry_is_refused("uploads/0123456789abcdef0123456789abcdef");
}

#[test]
fn a_restore_refuses_a_signing_key_that_is_a_symlink() {
    assert_symlink_entry_is_refused("jwt-secret");
}

/// Whether the line is one JSON object, as under `LOG_FORMAT=json`.
fn is_json(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|value| value.is_object())
}

fn write_env_file(path: &Path, text: &str, mode: u32) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_dotenv_in_a_parent_directory_is_not_read() {
    let root = tempfile::tempdir().unwrap();
    let working_dir = root.path().join("sub");
    fs::create_dir(&working_dir).unwrap();
    let data = root.path().join("data");
    write_env_file(&root.path().join(".env"), "LOG_FORMAT=json\n", 0o600);

    let mut server = Server::start_from(&working_dir, &data, &[]);
    let ready = server.wait_for_line("is ready");
    assert!(!is_json(&ready), "the parent's .env was applied: {ready}");
    drop(server);

    // The same file in the working directory is read, so the check above
    // would have seen it applied.
    fs::rename(root.path().join(".env"), working_dir.join(".env")).unwrap();
    let mut server = Server::start_from(&working_dir, &data, &[]);
    let ready = server.wait_for_line("is ready");
    assert!(is_json(&ready), "./.env was not applied: {ready}");
}

/// Waits up to `limit` for the child to exit; kills it if it does not.
fn exit_within(child: &mut std::process::Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    None
}

#[test]
fn a_dotenv_the_group_can_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_env_file(&dir.path().join(".env"), "LOG_FORMAT=pretty\n", 0o620);
    let mut child = Command::new(BINARY)
        .current_dir(dir.path())
        .args(["serve", "--host", "127.0.0.1", "--port"])
        .arg(free_port().to_string())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("MDNS", "false")
        .env("TLS_PORT", "0")
        .env_remove("LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = exit_within(&mut child, Duration::from_secs(15));
    let output = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        status.is_some_and(|status| !status.success()),
        "the server started: {said}"
    );
    assert!(
        said.contains(".env") && said.contains("chmod go-w"),
        "{said}"
    );
}

#[tokio::test]
async fn uploads_other_than_media_are_served_as_opaque_downloads() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(7100)).await;
    for (name, content_type, body) in [
        (
            "steal.js",
            "application/javascript",
            "fetch('/api/users/profile')",
        ),
        (
            "logo.svg",
            "image/svg+xml",
            "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        ),
        (
            "page.html",
            "text/html; charset=utf-8",
            "<!doctype html><script>alert(1)</script>",
        ),
    ] {
        let served = upload_and_fetch(&app, &user.access, name, content_type, body).await;
        assert_eq!(
            served["content-type"], "application/octet-stream",
            "{content_type}"
        );
        let disposition = served["content-disposition"].to_str().unwrap();
        assert!(disposition.starts_with("attachment;"), "{content_type}");
        assert_eq!(served["x-content-type-options"], "nosniff");
    }
    let served = upload_and_fetch(&app, &user.access, "hello.ogg", "audio/ogg", "OggS").await;
    assert_eq!(served["content-type"], "audio/ogg", "media keep their type");
}

async fn upload_and_fetch(
    app: &TestApp,
    token: &str,
    name: &str,
    content_type: &str,
    body: &'static str,
) -> reqwest::header::HeaderMap {
    let created: Value = app
        .client
        .post(app.url(&format!("/api/uploads?name={name}")))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = created["url"].as_str().expect("the upload is stored");
    let response = app.client.get(app.url(url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.headers().clone()
}

#[tokio::test]
async fn profile_names_lose_bidi_overrides_and_need_a_visible_character() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(7200)).await;
    let rename = |name: &str| {
        app.call(
            Method::PUT,
            "/api/users/profile",
            Some(&user.access),
            Some(json!({ "name": name })),
        )
    };
    let (status, profile) = rename("Admin\u{202e}gnp.exe").await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    assert_eq!(profile["name"], "Admingnp.exe");

    let (status, answer) = rename("\u{200b}\u{200b}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], "validation_failed");
    assert_eq!(answer["errors"][0]["field"], "name");
    let (_, profile) = app.get("/api/users/profile", &user.access).await;
    assert_eq!(
        profile["name"], "Admingnp.exe",
        "the refused name was not kept"
    );
}
