//! Accounts and administration: the first account runs the server, roles
//! change only while an admin who can sign in remains, codes reach the
//! account's signed-in devices and the admin console, and the admin API
//! changes settings, accounts and reports, every change or refusal whole.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, phone};

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, path, Some(token), Some(body)).await
}

#[tokio::test]
async fn the_first_account_is_the_admin_and_roles_show_only_to_themselves_and_admins() {
    let app = TestApp::spawn().await;
    let owner = app.login(&phone(3000)).await;
    let member = app.login(&phone(3001)).await;
    let stranger = app.login(&phone(3002)).await;
    assert_eq!(
        app.get("/api/users/profile", &owner.access).await.1["role"],
        "admin"
    );
    assert_eq!(
        app.get("/api/users/profile", &member.access).await.1["role"],
        "member"
    );
    // An admin sees everyone's role and number; a stranger sees neither.
    let (_, seen_by_admin) = app
        .get(&format!("/api/users/{}", stranger.id), &owner.access)
        .await;
    assert_eq!(seen_by_admin["role"], "member");
    assert_eq!(seen_by_admin["phoneNumber"], stranger.phone);
    let (_, seen_by_member) = app
        .get(&format!("/api/users/{}", owner.id), &member.access)
        .await;
    assert_eq!(seen_by_member["role"], Value::Null);
    assert_eq!(seen_by_member["phoneNumber"], Value::Null);
    // Members get 403 on the admin API.
    for path in ["/api/admin/users", "/api/admin/codes", "/api/admin/server"] {
        let (status, body) = app.get(path, &member.access).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden"))
        );
    }
}

#[tokio::test]
async fn the_last_admin_can_be_neither_demoted_nor_disabled_and_a_second_admin_frees_them() {
    let app = TestApp::spawn().await;
    let owner = app.login(&phone(3010)).await;
    let member = app.login(&phone(3011)).await;
    for action in ["demote", "disable"] {
        let (status, body) = app
            .post(
                &format!("/api/admin/users/{}/{action}", owner.id),
                &owner.access,
                json!({}),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("last_admin")),
            "{action}: {body}"
        );
    }
    // Nothing changed: still the admin, still signed in.
    assert_eq!(
        app.get("/api/users/profile", &owner.access).await.1["role"],
        "admin"
    );
    let (status, promoted) = app
        .post(
            &format!("/api/admin/users/{}/promote", member.id),
            &owner.access,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{promoted}");
    assert_eq!(promoted["role"], "admin");
    assert_eq!(promoted["status"], "active");
    // Now the first admin may step down; the new one may not.
    let (status, demoted) = app
        .post(
            &format!("/api/admin/users/{}/demote", owner.id),
            &member.access,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, demoted["role"].as_str()),
        (StatusCode::OK, Some("member"))
    );
    let (status, _) = app
        .post(
            &format!("/api/admin/users/{}/demote", member.id),
            &member.access,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The demoted admin lost the console at once.
    assert_eq!(
        app.get("/api/admin/users", &owner.access).await.0,
        StatusCode::FORBIDDEN
    );
    // Unknown users and actions are 404; nothing is made up.
    let unknown = "6b0aae888119ca3816709081";
    for path in [
        format!("/api/admin/users/{unknown}/promote"),
        format!("/api/admin/users/{}/explode", owner.id),
        "/api/admin/users/not-an-id/promote".to_owned(),
    ] {
        assert_eq!(
            app.post(&path, &member.access, json!({})).await.0,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_command_line_promotes_and_demotes_and_keeps_the_last_admin() {
    let app = TestApp::spawn().await;
    let owner = app.login(&phone(3020)).await;
    let member = app.login(&phone(3021)).await;
    let lines = app
        .admin(clavox::admin::Request::Promote {
            phone: member.phone.clone(),
        })
        .await;
    assert!(lines[0].contains("is an admin"), "{lines:?}");
    assert_eq!(
        app.get("/api/users/profile", &member.access).await.1["role"],
        "admin"
    );
    app.admin(clavox::admin::Request::Demote {
        phone: owner.phone.clone(),
    })
    .await;
    let refused = clavox::admin::ask(
        &app.data_dir(),
        &clavox::admin::Request::Demote {
            phone: member.phone.clone(),
        },
    )
    .await
    .unwrap()
    .unwrap();
    assert!(!refused.ok);
    assert!(
        refused.lines[0].contains("at least one admin"),
        "{:?}",
        refused.lines
    );
    let listed = app
        .admin(clavox::admin::Request::ListUsers)
        .await
        .join("\n");
    assert!(listed.contains("ROLE"), "{listed}");
    assert_eq!(listed.matches(" admin ").count(), 1, "{listed}");
}

#[tokio::test]
async fn a_code_for_a_signed_in_user_appears_on_their_devices_and_in_the_console() {
    let app = TestApp::spawn().await;
    let owner = app.login(&phone(3030)).await;
    let user = app.login(&phone(3031)).await;
    let mut phone_socket = app.joined_ws(&user).await;
    let mut owner_socket = app.joined_ws(&owner).await;
    // A new device asks for a code for the user's number.
    let sent = app
        .client
        .post(app.url("/api/auth/send-otp"))
        .header("user-agent", "NewPhone/1.0")
        .json(&json!({ "phoneNumber": user.phone }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    let code = app.codes.last_code(&user.phone).unwrap();
    let event = phone_socket.wait_for("login_code").await;
    assert_eq!(event["code"], code.as_str());
    assert_eq!(event["phoneNumber"], user.phone.as_str());
    assert_eq!(event["userAgent"], "NewPhone/1.0");
    assert_eq!(event["ip"], "127.0.0.1");
    assert!(event["expiresAt"].as_str().unwrap().ends_with('Z'));
    // Nobody else's devices hear of it.
    assert!(
        !owner_socket
            .receives_within("login_code", Duration::from_millis(300))
            .await
    );
    // The admin console lists it, with who asked.
    let (status, codes) = app.get("/api/admin/codes", &owner.access).await;
    assert_eq!(status, StatusCode::OK);
    let listed = codes["codes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|listed| listed["phoneNumber"] == user.phone.as_str())
        .expect("the waiting code is listed");
    assert_eq!(listed["code"], code.as_str());
    assert_eq!(listed["userAgent"], "NewPhone/1.0");
    // Once used, it is gone from the list.
    assert_eq!(app.verify(&user.phone, &code).await.0, StatusCode::OK);
    let (_, codes) = app.get("/api/admin/codes", &owner.access).await;
    assert!(
        codes["codes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|listed| listed["phoneNumber"] != user.phone.as_str())
    );
}

#[tokio::test]
async fn settings_change_at_run_time_survive_a_restart_and_bad_values_change_nothing() {
    let app = TestApp::spawn().await;
    let owner = app.login(&phone(3040)).await;
    let (status, settings) = app.get("/api/admin/settings", &owner.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(settings["registration"], "open");
    assert_eq!(settings["editWindow"], 172_800);
    assert_eq!(settings["locked"], json!([]));
    // One bad value refuses the whole change.
    for bad in [
        json!({ "registration": "closed", "allowedPhonePrefixes": ["62"] }),
        json!({ "registration": "sometimes" }),
        json!({ "editWindow": -1 }),
        json!({ "deleteWindow": 999_999_999_999u64 }),
    ] {
        let (status, body) = patch(&app, "/api/admin/settings", &owner.access, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert_eq!(
        app.get("/api/admin/settings", &owner.access).await.1["registration"],
        "open"
    );
    let (status, changed) = patch(
        &app,
        "/api/admin/settings",
        &owner.access,
        json!({ "registration": "closed", "allowedPhonePrefixes": ["+62"], "editWindow": 60 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["registration"], "closed");
    assert_eq!(changed["allowedPhonePrefixes"], json!(["+62"]));
    assert_eq!(changed["editWindow"], 60);
    // In force at once: a new number gets no code.
    app.send_otp(&phone(3041)).await;
    assert_eq!(app.codes.count(&phone(3041)), 0);
    // Kept in the database.
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &[]).await;
    let owner = app.login(&phone(3040)).await;
    let (_, kept) = app.get("/api/admin/settings", &owner.access).await;
    assert_eq!(kept["registration"], "closed");
    assert_eq!(kept["editWindow"], 60);
}

#[tokio::test]
async fn a_setting_from_the_environment_wins_and_shows_as_locked() {
    let app = TestApp::spawn_with(&[("--registration", "open"), ("--edit-window", "1h")]).await;
    let owner = app.login(&phone(3050)).await;
    let (_, settings) = app.get("/api/admin/settings", &owner.access).await;
    assert_eq!(settings["locked"], json!(["registration", "editWindow"]));
    assert_eq!(settings["editWindow"], 3600);
    let (status, body) = patch(
        &app,
        "/api/admin/settings",
        &owner.access,
        json!({ "registration": "closed", "deleteWindow": 0 }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "registration");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("REGISTRATION")
    );
    // Nothing changed, not even the setting that was not locked.
    assert_eq!(
        app.get("/api/admin/settings", &owner.access).await.1["deleteWindow"],
        172_800
    );
    // What is not locked changes.
    let (status, body) = patch(
        &app,
        "/api/admin/settings",
        &owner.access,
        json!({ "deleteWindow": 0 }),
    )
    .await;
    assert_eq!((status, &body["deleteWindow"]), (StatusCode::OK, &json!(0)));
}

#[tokio::test]
async fn an_admin_invites_a_number_under_invite_registration_and_lists_and_finds_accounts() {
    let app = TestApp::spawn_with(&[("--registration", "invite")]).await;
    // Under invite-only even the first account needs an invite: the
    // operator gives it from the command line.
    app.admin(clavox::admin::Request::Invite { phone: phone(3060) })
        .await;
    let owner = app.login(&phone(3060)).await;
    app.send_otp(&phone(3061)).await;
    assert_eq!(app.codes.count(&phone(3061)), 0, "not invited yet");
    let (status, body) = app
        .post(
            "/api/admin/users/invite",
            &owner.access,
            json!({ "phoneNumber": phone(3061).replacen("+62", "+62 ", 1) }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["phoneNumber"], phone(3061));
    let invited = app.login(&phone(3061)).await;
    let (status, body) = app
        .post(
            "/api/admin/users/invite",
            &owner.access,
            json!({ "phoneNumber": "not a number" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["field"], "phoneNumber");
    // Named accounts are found by name or number, any case.
    app.call(
        Method::PUT,
        "/api/users/profile",
        Some(&invited.access),
        Some(json!({ "name": "Siti Rahma" })),
    )
    .await;
    let (_, found) = app.get("/api/admin/users?q=siti", &owner.access).await;
    let found = found["users"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], invited.id.as_str());
    assert_eq!(found[0]["sessions"], 1);
    assert_eq!(found[0]["phoneNumber"], phone(3061));
    let (_, by_number) = app.get("/api/admin/users?q=3061", &owner.access).await;
    assert_eq!(by_number["users"].as_array().unwrap().len(), 1);
    let (_, everyone) = app.get("/api/admin/users", &owner.access).await;
    assert_eq!(everyone["users"].as_array().unwrap().len(), 2);
    assert_eq!(everyone["next"], Value::Null);
}

#[tokio::test]
async fn the_admin_disables_enables_and_signs_people_out_everywhere() {
    let app = TestApp::spawn().await;
    let owner = app.login(&phone(3070)).await;
    let user = app.login(&phone(3071)).await;
    let mut socket = app.joined_ws(&user).await;
    let (status, body) = app
        .post(
            &format!("/api/admin/users/{}/disable", user.id),
            &owner.access,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("disabled"))
    );
    assert_eq!(body["sessions"], 0);
    assert_eq!(socket.close_code().await, Some(4001));
    app.send_otp(&user.phone).await;
    assert_eq!(
        app.codes.count(&user.phone),
        1,
        "a disabled user gets no code"
    );
    app.post(
        &format!("/api/admin/users/{}/enable", user.id),
        &owner.access,
        json!({}),
    )
    .await;
    let again = app.login(&user.phone).await;
    let mut socket = app.joined_ws(&again).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/admin/users/{}/sessions", user.id),
            Some(&owner.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(socket.close_code().await, Some(4001));
    assert_eq!(
        app.get("/api/users/profile", &again.access).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn server_facts_count_what_is_stored_and_who_is_online() {
    let app = TestApp::spawn().await;
    let owner = app.login(&phone(3080)).await;
    let other = app.login(&phone(3081)).await;
    let chat = app.private_chat(&owner, &other).await;
    app.send_message(&owner, &chat, "one").await;
    app.send_message(&other, &chat, "two").await;
    let _socket = app.joined_ws(&other).await;
    let (status, facts) = app.get("/api/admin/server", &owner.access).await;
    assert_eq!(status, StatusCode::OK, "{facts}");
    assert_eq!(facts["users"], 2);
    assert_eq!(facts["chats"], 1);
    assert_eq!(facts["messages"], 2);
    assert_eq!(facts["socketsOnline"], 1);
    assert_eq!(facts["version"], env!("CARGO_PKG_VERSION"));
    assert!(facts["dataDirBytes"].as_u64().unwrap() > 0);
    assert!(facts["messagesBytes"].as_u64().unwrap() > 0);
    // The search index fills once the indexer has run: a search waits for it.
    app.get("/api/search?q=one", &owner.access).await;
    let (_, facts) = app.get("/api/admin/server", &owner.access).await;
    assert!(facts["searchIndexBytes"].as_u64().unwrap() > 0, "{facts}");
    assert!(facts["freeDiskBytes"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn the_admin_downloads_a_backup_that_restores() {
    let app = TestApp::spawn().await;
    let owner = app.login(&phone(3090)).await;
    let response = app
        .client
        .post(app.url("/api/admin/backup"))
        .bearer_auth(&owner.access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-tar");
    let bytes = response.bytes().await.unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let archive = scratch.path().join("backup.tar");
    std::fs::write(&archive, &bytes).unwrap();
    let restored = clavox::backup::restore(&archive, &scratch.path().join("restored")).unwrap();
    assert_eq!(restored.users, 1);
    // The staged copy does not linger in the data directory.
    let lingering = || {
        std::fs::read_dir(app.data_dir())
            .unwrap()
            .flatten()
            .any(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".clavox-backup")
            })
    };
    for _ in 0..50 {
        if !lingering() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!lingering());
}
