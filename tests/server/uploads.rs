//! Attachments: storing, serving, ranges, limits and image checks.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Login, TestApp, phone};

/// A PNG header (signature and IHDR) for a 3×2 image, plus filler bytes.
pub fn png() -> Vec<u8> {
    let mut bytes = vec![
        0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
        0, 3, 0, 0, 0, 2, 8, 6, 0, 0, 0,
    ];
    bytes.extend((0..200u8).collect::<Vec<_>>());
    bytes
}

async fn upload(
    app: &TestApp,
    user: &Login,
    name: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/uploads?name={name}")))
        .bearer_auth(&user.access)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Files in the data directory's uploads (not counting the partial folder).
fn stored_files(app: &TestApp) -> usize {
    let dir = app.data_dir().join("uploads");
    let partial = std::fs::read_dir(dir.join("partial")).unwrap().count();
    let done = std::fs::read_dir(dir)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().is_file())
        .count();
    partial + done
}

#[tokio::test]
async fn an_upload_comes_back_byte_for_byte_with_its_headers() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(900)).await;
    let body: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
    let (status, upload) = upload(
        &app,
        &user,
        "notes%20v2.bin",
        "application/octet-stream",
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{upload}");
    let id = upload["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(upload["url"], format!("/api/uploads/{id}"));
    assert_eq!(
        (upload["name"].as_str(), upload["size"].as_u64()),
        (Some("notes v2.bin"), Some(300_000))
    );
    let digest = sha256_hex(&body);
    assert_eq!(upload["sha256"], digest);

    // No token needed: the URL is the permission.
    let response = app
        .client
        .get(app.url(upload["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(
        headers["cache-control"],
        "private, max-age=31536000, immutable"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(response.bytes().await.unwrap().to_vec(), body);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn a_range_request_gets_just_those_bytes() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(910)).await;
    let body: Vec<u8> = (0..1000u32).map(|n| (n % 256) as u8).collect();
    let (_, upload) = upload(&app, &user, "voice.ogg", "audio/ogg", body.clone()).await;
    let url = app.url(upload["url"].as_str().unwrap());
    let response = app
        .client
        .get(&url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.headers()["content-range"], "bytes 100-199/1000");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline;")
    );
    assert_eq!(
        response.bytes().await.unwrap().to_vec(),
        body[100..200].to_vec()
    );
    let tail = app
        .client
        .get(&url)
        .header("range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.bytes().await.unwrap().to_vec(), body[990..].to_vec());
    let beyond = app
        .client
        .get(&url)
        .header("range", "bytes=5000-")
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
}

#[tokio::test]
async fn one_byte_over_the_limit_is_refused_and_leaves_no_file() {
    let app = TestApp::spawn_with(&[("--upload-max-bytes", "1000")]).await;
    let user = app.login(&phone(920)).await;
    let (status, _) = upload(
        &app,
        &user,
        "ok.bin",
        "application/octet-stream",
        vec![7; 1000],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = stored_files(&app);
    let (status, body) = upload(
        &app,
        &user,
        "big.bin",
        "application/octet-stream",
        vec![7; 1001],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    // Streamed without a length, the limit still holds mid-stream.
    let chunks =
        futures_util::stream::iter((0..11).map(|_| Ok::<_, std::io::Error>(vec![1u8; 100])));
    let response = app.upload_stream(&user.access, "stream.bin", chunks).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(stored_files(&app), before);
}

#[tokio::test]
async fn html_dressed_as_an_image_is_refused() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(930)).await;
    let html = b"<!doctype html><script>alert(document.cookie)</script>".to_vec();
    let before = stored_files(&app);
    let (status, body) = upload(&app, &user, "cat.png", "image/png", html.clone()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("validation_failed"))
    );
    assert_eq!(stored_files(&app), before);
    // Declared honestly, it is stored but only ever served as a download.
    let (status, upload) = upload(&app, &user, "page.html", "text/html", html).await;
    assert_eq!(status, StatusCode::CREATED);
    let response = app
        .client
        .get(app.url(upload["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
}

#[tokio::test]
async fn image_messages_carry_dimensions_measured_by_the_server() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (app.login(&phone(940)).await, app.login(&phone(941)).await);
    let chat = app.private_chat(&ana, &budi).await;
    let (_, image) = upload(&app, &ana, "dot.png", "image/png", png()).await;
    let url = image["url"].as_str().unwrap();
    let metadata = json!({ "url": url, "width": 9999, "height": 1, "name": "dot.png" });
    let (status, message) = app
        .post(
            &format!("/api/chats/{chat}/messages"),
            &ana.access,
            json!({ "type": "image", "metadata": metadata }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["metadata"]["width"], 3);
    assert_eq!(message["metadata"]["height"], 2);
    assert_eq!(message["metadata"]["name"], "dot.png");
    let served = app.client.get(app.url(url)).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/png");
    assert!(
        served.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline;")
    );
}

#[tokio::test]
async fn uploading_needs_a_login_and_unknown_ids_are_not_found() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/uploads"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    for path in [
        "/api/uploads/0123456789abcdef0123456789abcdef",
        "/api/uploads/..%2F..%2Fclavox.redb",
        "/api/uploads/partial",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

/// `n` chunks of 100 bytes, streamed without a length.
fn hundreds(n: usize) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::iter((0..n).map(|_| Ok::<_, std::io::Error>(vec![1u8; 100])))
}

#[tokio::test]
async fn uploads_past_the_quota_are_refused_keep_nothing_and_leave_others_alone() {
    let app = TestApp::spawn_with(&[("--upload-quota-bytes", "1000")]).await;
    let (ana, budi) = (app.login(&phone(950)).await, app.login(&phone(951)).await);
    let (status, _) = upload(
        &app,
        &ana,
        "a.bin",
        "application/octet-stream",
        vec![1; 600],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = stored_files(&app);
    let (status, body) = upload(
        &app,
        &ana,
        "b.bin",
        "application/octet-stream",
        vec![1; 401],
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("quota_exceeded"))
    );
    // Streamed without a length, the quota still holds mid-stream.
    let response = app.upload_stream(&ana.access, "c.bin", hundreds(5)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(stored_files(&app), before, "a refused upload keeps nothing");
    let (status, _) = upload(
        &app,
        &ana,
        "d.bin",
        "application/octet-stream",
        vec![1; 400],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "exactly the quota fits");
    let (status, _) = upload(
        &app,
        &budi,
        "e.bin",
        "application/octet-stream",
        vec![1; 1000],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "each user has a quota of their own"
    );
}

#[tokio::test]
async fn uploads_at_once_never_take_a_user_past_the_quota() {
    let app = TestApp::spawn_with(&[("--upload-quota-bytes", "1000")]).await;
    let ana = app.login(&phone(955)).await;
    // Each fits on its own, so only the store's own check can refuse some.
    let names: Vec<String> = (0..6).map(|n| format!("{n}.bin")).collect();
    let uploads = names
        .iter()
        .map(|name| app.upload_stream(&ana.access, name, hundreds(3)));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(uploads)
        .await
        .iter()
        .map(reqwest::Response::status)
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::FORBIDDEN)
        .count();
    assert_eq!((created, refused), (3, 3), "{statuses:?}");
    assert_eq!(stored_files(&app), 3);
}

#[tokio::test]
async fn a_hundred_uploads_an_hour_pass_and_the_next_is_told_when_to_retry() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (app.login(&phone(960)).await, app.login(&phone(961)).await);
    for n in 0..100 {
        let (status, body) =
            upload(&app, &ana, &format!("{n}.txt"), "text/plain", vec![b'x']).await;
        assert_eq!(status, StatusCode::CREATED, "upload {n}: {body}");
    }
    let before = stored_files(&app);
    let response = app
        .client
        .post(app.url("/api/uploads?name=101.txt"))
        .bearer_auth(&ana.access)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // One more upload is allowed every 36 s (an hour over 100).
    assert!((1..=36).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(stored_files(&app), before);
    let (status, _) = upload(&app, &budi, "mine.txt", "text/plain", vec![b'x']).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "each user has a budget of their own"
    );
}

/// Waits (up to 20 s) until `url` answers `404`; whether it did.
async fn disappears(app: &TestApp, url: &str) -> bool {
    for _ in 0..100 {
        let response = app.client.get(app.url(url)).send().await.unwrap();
        if response.status() == StatusCode::NOT_FOUND {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test]
async fn an_upload_nothing_names_is_swept_while_sent_ones_and_avatars_stay() {
    let app = TestApp::spawn_with(&[
        ("--upload-sweep-after", "2s"),
        ("--upload-quota-bytes", "1000"),
    ])
    .await;
    let (ana, budi) = (app.login(&phone(970)).await, app.login(&phone(971)).await);
    let chat = app.private_chat(&ana, &budi).await;
    let octets = "application/octet-stream";
    let (_, sent) = upload(&app, &ana, "sent.bin", octets, vec![1; 100]).await;
    let metadata = json!({ "url": sent["url"], "name": "sent.bin" });
    let (status, message) = app
        .post(
            &format!("/api/chats/{chat}/messages"),
            &ana.access,
            json!({ "type": "file", "metadata": metadata }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let (_, avatar) = upload(&app, &ana, "me.png", "image/png", png()).await;
    let (status, profile) = app
        .call(
            reqwest::Method::PUT,
            "/api/users/profile",
            Some(&ana.access),
            Some(json!({ "avatar": avatar["url"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    let group = app.group(&ana, &[&budi], "Family").await;
    let (_, group_avatar) = upload(&app, &ana, "us.png", "image/png", png()).await;
    let (status, changed) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/chats/{group}"),
            Some(&ana.access),
            Some(json!({ "avatar": group_avatar["url"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (_, unsent) = upload(&app, &ana, "unsent.bin", octets, vec![1; 400]).await;
    let unsent_url = unsent["url"].as_str().unwrap();

    assert!(disappears(&app, unsent_url).await, "an unsent upload goes");
    for kept in [&sent, &avatar, &group_avatar] {
        let response = app
            .client
            .get(app.url(kept["url"].as_str().unwrap()))
            .send()
            .await;
        assert_eq!(response.unwrap().status(), StatusCode::OK, "{kept}");
    }
    assert_eq!(stored_files(&app), 3, "its file went with it");
    // Its bytes no longer count against the quota.
    let (status, body) = upload(&app, &ana, "again.bin", octets, vec![1; 400]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A client that goes on sending a too-large body while it reads the answer,
/// as a browser or a reverse proxy does: it gets the `413`, not a reset,
/// though the server answered from the `Content-Length` before reading the
/// body (the connection closes by lingering: what still arrives is read
/// and dropped, within bounds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_refused_by_its_length_is_answered_413_while_the_body_is_still_coming() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn_with(&[("--upload-max-bytes", "1000000")]).await;
    let user = app.login(&phone(960)).await;
    for _ in 0..5 {
        let stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST /api/uploads?name=big.bin HTTP/1.1\r\nHost: localhost\r\n\
             Authorization: Bearer {}\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: 8000000\r\n\r\n",
            user.access
        );
        writer.write_all(head.as_bytes()).await.unwrap();
        // Keep sending until the server stops taking it.
        let sending = tokio::spawn(async move {
            let chunk = vec![7u8; 64 * 1024];
            for _ in 0..120 {
                if writer.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        });
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            reader.read_to_end(&mut answer),
        )
        .await
        .expect("the server answers in time");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "read {read:?}, answer {:?}",
            answer.chars().take(200).collect::<String>()
        );
        sending.abort();
    }
}
