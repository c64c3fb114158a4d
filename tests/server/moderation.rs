//! Blocking, reporting messages to the admins, and exporting one's own data.

use std::io::Read;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Login, TestApp, phone};

async fn block(app: &TestApp, who: &Login, whom: &Login) -> StatusCode {
    app.call(
        Method::PUT,
        &format!("/api/users/{}/block", whom.id),
        Some(&who.access),
        None,
    )
    .await
    .0
}

#[tokio::test]
async fn while_either_blocks_the_other_neither_starts_or_writes_a_private_chat() {
    let app = TestApp::spawn().await;
    let (ani, budi, citra) = (
        app.login(&phone(3100)).await,
        app.login(&phone(3101)).await,
        app.login(&phone(3102)).await,
    );
    let chat = app.private_chat(&ani, &budi).await;
    let group = app.group(&ani, &[&budi], "Keluarga").await;
    assert_eq!(block(&app, &budi, &ani).await, StatusCode::NO_CONTENT);
    // Both directions are refused, with the same error.
    for (sender, receiver) in [(&ani, &budi), (&budi, &ani)] {
        let (status, body) = app
            .post(
                &format!("/api/chats/{chat}/messages"),
                &sender.access,
                json!({ "content": "halo" }),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("blocked"))
        );
        let (status, body) = app
            .post(
                "/api/chats",
                &sender.access,
                json!({ "participants": [receiver.id], "type": "private" }),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("blocked"))
        );
    }
    // Forwarding into the private chat is refused too.
    let sent = app.send_message(&ani, &group, "dari grup").await;
    let (status, body) = app
        .post(
            &format!("/api/chats/{group}/messages/{}/forward", sent["seq"]),
            &ani.access,
            json!({ "chatIds": [chat] }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("blocked"))
    );
    // The blocked one cannot add the blocker to a group, new or old.
    let (status, body) = app
        .post(
            "/api/chats",
            &ani.access,
            json!({ "participants": [budi.id, citra.id], "type": "group", "name": "Baru" }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("blocked"))
    );
    let other_group = app.group(&ani, &[&citra], "Kantor").await;
    let (status, _) = app
        .post(
            &format!("/api/chats/{other_group}/participants"),
            &ani.access,
            json!({ "userIds": [budi.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The group they share goes on; the blocker may still add the blocked.
    app.send_message(&ani, &group, "masih bisa").await;
    app.send_message(&budi, &group, "ya").await;
    let (status, _) = app
        .post(
            &format!("/api/chats/{other_group}/participants"),
            &ani.access,
            json!({ "userIds": [citra.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Only the blocker sees the block.
    let (_, listed) = app.get("/api/users/blocked", &budi.access).await;
    assert_eq!(listed["users"][0]["id"], ani.id.as_str());
    assert_eq!(
        app.get("/api/users/blocked", &ani.access).await.1["users"],
        json!([])
    );
    // Unblocked, they talk again.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/users/{}/block", ani.id),
            Some(&budi.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.send_message(&ani, &chat, "maaf").await;
}

#[tokio::test]
async fn blocking_yourself_or_nobody_is_refused() {
    let app = TestApp::spawn().await;
    let ani = app.login(&phone(3110)).await;
    assert_eq!(block(&app, &ani, &ani).await, StatusCode::BAD_REQUEST);
    let nobody = Login {
        id: "6b0aae888119ca3816709081".into(),
        ..ani.clone()
    };
    assert_eq!(block(&app, &ani, &nobody).await, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/users/not-an-id/block",
            Some(&ani.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_report_keeps_the_message_as_it_was_for_the_admins_until_dismissed() {
    let app = TestApp::spawn().await;
    let owner = app.login(&phone(3120)).await;
    let (ani, budi) = (app.login(&phone(3121)).await, app.login(&phone(3122)).await);
    let chat = app.private_chat(&ani, &budi).await;
    let sent = app.send_message(&budi, &chat, "kata kasar").await;
    let seq = sent["seq"].as_u64().unwrap();
    let report = format!("/api/chats/{chat}/messages/{seq}/report");
    // Bad input and chats the caller is not in change nothing.
    let (status, _) = app
        .post(&report, &ani.access, json!({ "reason": "x".repeat(501) }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.post(&report, &owner.access, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/api/chats/{chat}/messages/99/report"),
            &ani.access,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(&report, &ani.access, json!({ "reason": "  menghina  " }))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The sender edits it afterwards; the admins still see what was said.
    app.call(
        Method::PATCH,
        &format!("/api/chats/{chat}/messages/{seq}"),
        Some(&budi.access),
        Some(json!({ "content": "kata manis" })),
    )
    .await;
    assert_eq!(
        app.get("/api/admin/reports", &ani.access).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, queue) = app.get("/api/admin/reports", &owner.access).await;
    assert_eq!(status, StatusCode::OK);
    let reports = queue["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0]["reason"], "menghina");
    assert_eq!(reports[0]["message"]["content"], "kata kasar");
    assert_eq!(reports[0]["message"]["senderId"], budi.id.as_str());
    assert_eq!(reports[0]["reporter"]["id"], ani.id.as_str());
    assert_eq!(reports[0]["chat"]["type"], "private");
    let id = reports[0]["id"].as_str().unwrap();
    let dismiss = format!("/api/admin/reports/{id}");
    let (status, _) = app
        .call(Method::DELETE, &dismiss, Some(&owner.access), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::DELETE, &dismiss, Some(&owner.access), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/admin/reports", &owner.access).await.1["reports"],
        json!([])
    );
}

/// The archive's entries by name.
fn entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn the_export_holds_the_profile_every_visible_message_and_only_ones_own_uploads() {
    let app = TestApp::spawn_with(&[("--message-rate", "0")]).await;
    let (ani, budi, citra) = (
        app.login(&phone(3130)).await,
        app.login(&phone(3131)).await,
        app.login(&phone(3132)).await,
    );
    let chat = app.private_chat(&ani, &budi).await;
    // More than one page of messages.
    for n in 0..520 {
        app.send_message(
            if n % 2 == 0 { &ani } else { &budi },
            &chat,
            &format!("pesan {n}"),
        )
        .await;
    }
    let hidden = app.send_message(&budi, &chat, "sembunyikan").await;
    app.post(
        &format!("/api/chats/{chat}/messages/{}/hide", hidden["seq"]),
        &ani.access,
        json!({}),
    )
    .await;
    let others = app.private_chat(&budi, &citra).await;
    app.send_message(&budi, &others, "rahasia").await;
    let upload = |login: &Login, name: &str, bytes: &'static [u8]| {
        app.client
            .post(app.url(&format!("/api/uploads?name={name}")))
            .bearer_auth(&login.access)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
    };
    assert_eq!(
        upload(&ani, "catatan.txt", b"milik ani")
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        upload(&budi, "lain.txt", b"milik budi")
            .await
            .unwrap()
            .status(),
        201
    );

    let response = app
        .client
        .get(app.url("/api/users/profile/export"))
        .bearer_auth(&ani.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-tar");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("clavox-export-")
    );
    let entries = entries(&response.bytes().await.unwrap());
    let names: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let profile: Value = serde_json::from_slice(&entries[0].1).unwrap();
    assert_eq!(names[0], "profile.json");
    assert_eq!(profile["user"]["phoneNumber"], ani.phone.as_str());
    assert_eq!(names[1], format!("chats/{chat}.json"));
    let exported: Value = serde_json::from_slice(&entries[1].1).unwrap();
    assert_eq!(exported["chat"]["id"], chat.as_str());
    let messages = exported["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 520, "the hidden one is left out");
    assert_eq!(messages[0]["content"], "pesan 0");
    assert_eq!(messages[519]["content"], "pesan 519");
    assert!(names[2].starts_with("uploads/") && names[2].ends_with("-catatan.txt"));
    assert_eq!(entries[2].1, b"milik ani");
    // Without a token there is no archive.
    let (status, _) = app
        .call(Method::GET, "/api/users/profile/export", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
