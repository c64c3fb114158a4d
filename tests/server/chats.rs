//! Private chats, groups, admins and members — and who may see what.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Login, TestApp, phone};

#[tokio::test]
async fn a_private_chat_is_created_once_per_pair() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (app.login(&phone(400)).await, app.login(&phone(401)).await);
    let (status, chat) = app
        .post(
            "/api/chats",
            &ana.access,
            json!({ "type": "private", "participants": [budi.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(chat["type"], "private");
    assert_eq!(chat["participants"], json!([ana.id, budi.id]));
    assert_eq!(chat["createdBy"], ana.id);
    assert_eq!(
        (&chat["lastMessage"], &chat["unreadCount"]),
        (&Value::Null, &json!(0))
    );
    for field in ["id", "admins", "name", "avatar", "createdAt", "updatedAt"] {
        assert!(chat.get(field).is_some(), "{field}");
    }
    let (status, again) = app
        .post(
            "/api/chats",
            &budi.access,
            json!({ "type": "private", "participants": [ana.id, budi.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], chat["id"]);
}

#[tokio::test]
async fn a_private_chat_needs_exactly_one_other_known_user() {
    let app = TestApp::spawn().await;
    let (ana, budi, citra) = (
        app.login(&phone(410)).await,
        app.login(&phone(411)).await,
        app.login(&phone(412)).await,
    );
    for participants in [json!([]), json!([ana.id]), json!([budi.id, citra.id])] {
        let (status, body) = app
            .post(
                "/api/chats",
                &ana.access,
                json!({ "type": "private", "participants": participants }),
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("validation_failed")),
            "{participants}"
        );
    }
    let (status, body) = app
        .post(
            "/api/chats",
            &ana.access,
            json!({ "type": "private", "participants": ["0123456789abcdef01234567"] }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_user"))
    );
    let (status, body) = app
        .post(
            "/api/chats",
            &ana.access,
            json!({ "type": "private", "participants": ["nope"] }),
        )
        .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("participants[0]"))
    );
    let (status, _) = app
        .post(
            "/api/chats",
            &ana.access,
            json!({ "type": "channel", "participants": [budi.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, chats) = app.get("/api/chats", &ana.access).await;
    assert_eq!(
        chats["chats"],
        json!([]),
        "refused creations leave nothing behind"
    );
}

#[tokio::test]
async fn a_group_needs_a_name_and_makes_its_creator_admin() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (app.login(&phone(420)).await, app.login(&phone(421)).await);
    let (status, body) = app
        .post(
            "/api/chats",
            &ana.access,
            json!({ "type": "group", "participants": [budi.id] }),
        )
        .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("name"))
    );
    let (status, body) = app
        .post(
            "/api/chats",
            &ana.access,
            json!({ "type": "group", "name": "Solo", "participants": [] }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, group) = app
        .post(
            "/api/chats",
            &ana.access,
            json!({ "type": "group", "name": " Keluarga ", "participants": [budi.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(group["name"], "Keluarga");
    assert_eq!(group["admins"], json!([ana.id]));
    assert_eq!(group["participants"], json!([ana.id, budi.id]));
}

async fn users(app: &TestApp, count: u32, first: u32) -> Vec<Login> {
    let mut users = Vec::new();
    for n in 0..count {
        users.push(app.login(&phone(first + n)).await);
    }
    users
}

#[tokio::test]
async fn groups_hold_at_most_256_members() {
    let app = TestApp::spawn().await;
    let people = users(&app, 258, 5000).await;
    let admin = &people[0];
    let too_many: Vec<&str> = people[1..257].iter().map(|user| user.id.as_str()).collect();
    let (status, body) = app
        .post(
            "/api/chats",
            &admin.access,
            json!({ "type": "group", "name": "Big", "participants": too_many }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("group_full"))
    );
    let full: Vec<&str> = people[1..256].iter().map(|user| user.id.as_str()).collect();
    let (status, group) = app
        .post(
            "/api/chats",
            &admin.access,
            json!({ "type": "group", "name": "Big", "participants": full }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(group["participants"].as_array().unwrap().len(), 256);
    let path = format!("/api/chats/{}/participants", group["id"].as_str().unwrap());
    let (status, body) = app
        .post(&path, &admin.access, json!({ "userIds": [people[256].id] }))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("group_full"))
    );
}

#[tokio::test]
async fn admins_rename_groups_and_members_may_not() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (app.login(&phone(430)).await, app.login(&phone(431)).await);
    let group = app.group(&ana, &[&budi], "Old").await;
    let path = format!("/api/chats/{group}");
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            Some(&budi.access),
            Some(json!({ "name": "Mine" })),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            Some(&ana.access),
            Some(json!({ "name": "New", "avatar": "https://example.com/g.png" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["name"].as_str(), body["avatar"].as_str()),
        (Some("New"), Some("https://example.com/g.png"))
    );
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            Some(&ana.access),
            Some(json!({ "name": "" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get(&path, &budi.access).await.1["name"], "New");
}

#[tokio::test]
async fn group_operations_on_a_private_chat_are_not_a_group() {
    let app = TestApp::spawn().await;
    let (ana, budi, citra) = (
        app.login(&phone(440)).await,
        app.login(&phone(441)).await,
        app.login(&phone(442)).await,
    );
    let chat = app.private_chat(&ana, &budi).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/chats/{chat}"),
            Some(&ana.access),
            Some(json!({ "name": "x" })),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("not_a_group"))
    );
    let (_, body) = app
        .post(
            &format!("/api/chats/{chat}/participants"),
            &ana.access,
            json!({ "userIds": [citra.id] }),
        )
        .await;
    assert_eq!(body["code"], "not_a_group");
    let (_, body) = app
        .call(
            Method::DELETE,
            &format!("/api/chats/{chat}/participants/{}", budi.id),
            Some(&ana.access),
            None,
        )
        .await;
    assert_eq!(body["code"], "not_a_group");
}

#[tokio::test]
async fn admins_add_members_and_unknown_users_are_refused() {
    let app = TestApp::spawn().await;
    let (ana, budi, citra) = (
        app.login(&phone(450)).await,
        app.login(&phone(451)).await,
        app.login(&phone(452)).await,
    );
    let group = app.group(&ana, &[&budi], "G").await;
    let path = format!("/api/chats/{group}/participants");
    let (status, body) = app
        .post(&path, &budi.access, json!({ "userIds": [citra.id] }))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, body) = app
        .post(
            &path,
            &ana.access,
            json!({ "userIds": [citra.id, "0123456789abcdef01234567"] }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_user"))
    );
    assert_eq!(
        app.get(&format!("/api/chats/{group}"), &citra.access)
            .await
            .0,
        StatusCode::NOT_FOUND,
        "nothing changed"
    );
    let (status, body) = app
        .post(
            &path,
            &ana.access,
            json!({ "userIds": [citra.id, citra.id, budi.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["participants"], json!([ana.id, budi.id, citra.id]));
    assert_eq!(
        app.get(&format!("/api/chats/{group}"), &citra.access)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn members_leave_admins_remove_and_the_oldest_member_inherits_admin() {
    let app = TestApp::spawn().await;
    let people = users(&app, 4, 460).await;
    let (ana, budi, citra, dewi) = (&people[0], &people[1], &people[2], &people[3]);
    let group = app.group(ana, &[budi, citra, dewi], "G").await;
    let member = |user: &Login| format!("/api/chats/{group}/participants/{}", user.id);
    let (status, body) = app
        .call(Method::DELETE, &member(citra), Some(&budi.access), None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert_eq!(
        app.call(Method::DELETE, &member(dewi), Some(&ana.access), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&format!("/api/chats/{group}"), &dewi.access)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(Method::DELETE, &member(dewi), Some(&ana.access), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // The only admin leaves: Budi, the longest-standing member left, takes over.
    assert_eq!(
        app.call(Method::DELETE, &member(ana), Some(&ana.access), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (_, chat) = app.get(&format!("/api/chats/{group}"), &citra.access).await;
    assert_eq!(chat["participants"], json!([budi.id, citra.id]));
    assert_eq!(chat["admins"], json!([budi.id]));
    assert_eq!(
        app.call(Method::DELETE, &member(citra), Some(&citra.access), None)
            .await
            .0,
        StatusCode::NO_CONTENT,
        "anyone may leave"
    );
}

#[tokio::test]
async fn outsiders_get_not_found_on_every_chat_route() {
    let app = TestApp::spawn().await;
    let (ana, budi, eve) = (
        app.login(&phone(470)).await,
        app.login(&phone(471)).await,
        app.login(&phone(472)).await,
    );
    let group = app.group(&ana, &[&budi], "Private matters").await;
    app.send_message(&ana, &group, "secret").await;
    let missing = "0123456789abcdef01234567";
    for chat in [group.as_str(), missing, "zz"] {
        let calls: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, format!("/api/chats/{chat}"), None),
            (
                Method::PATCH,
                format!("/api/chats/{chat}"),
                Some(json!({ "name": "mine" })),
            ),
            (
                Method::POST,
                format!("/api/chats/{chat}/participants"),
                Some(json!({ "userIds": [eve.id] })),
            ),
            (
                Method::DELETE,
                format!("/api/chats/{chat}/participants/{}", budi.id),
                None,
            ),
            (
                Method::DELETE,
                format!("/api/chats/{chat}/participants/{}", eve.id),
                None,
            ),
            (Method::GET, format!("/api/chats/{chat}/messages"), None),
            (
                Method::GET,
                format!("/api/chats/{chat}/messages?after=0"),
                None,
            ),
            (
                Method::POST,
                format!("/api/chats/{chat}/messages"),
                Some(json!({ "content": "hi" })),
            ),
            (
                Method::POST,
                format!("/api/chats/{chat}/read"),
                Some(json!({ "seq": 1 })),
            ),
        ];
        for (method, path, body) in calls {
            let (status, answer) = app
                .call(method.clone(), &path, Some(&eve.access), body)
                .await;
            assert_eq!(
                (status, answer["code"].as_str()),
                (StatusCode::NOT_FOUND, Some("not_found")),
                "{method} {path}"
            );
        }
    }
    let (_, page) = app
        .get(&format!("/api/chats/{group}/messages"), &ana.access)
        .await;
    assert_eq!(
        page["messages"].as_array().unwrap().len(),
        1,
        "nothing an outsider tried was stored"
    );
    let (_, chat) = app.get(&format!("/api/chats/{group}"), &ana.access).await;
    assert_eq!(chat["name"], "Private matters");
}

#[tokio::test]
async fn chats_are_listed_by_latest_activity_with_unread_counts() {
    let app = TestApp::spawn().await;
    let (ana, budi, citra) = (
        app.login(&phone(480)).await,
        app.login(&phone(481)).await,
        app.login(&phone(482)).await,
    );
    let with_budi = app.private_chat(&ana, &budi).await;
    let with_citra = app.private_chat(&ana, &citra).await;
    app.send_message(&budi, &with_budi, "one").await;
    app.send_message(&budi, &with_budi, "two").await;
    app.send_message(&citra, &with_citra, "hello").await;
    let (_, list) = app.get("/api/chats", &ana.access).await;
    let chats = list["chats"].as_array().unwrap();
    assert_eq!(chats[0]["id"], with_citra);
    assert_eq!(chats[1]["id"], with_budi);
    assert_eq!(chats[1]["unreadCount"], 2);
    assert_eq!(chats[1]["lastMessage"]["content"], "two");
    app.send_message(&ana, &with_budi, "reply").await;
    let (_, list) = app.get("/api/chats", &ana.access).await;
    assert_eq!(list["chats"][0]["id"], with_budi);
    assert_eq!(
        list["chats"][0]["unreadCount"], 2,
        "own messages never count as unread"
    );
    let (_, list) = app.get("/api/chats", &budi.access).await;
    assert_eq!(list["chats"][0]["unreadCount"], 1);
}

#[tokio::test]
async fn group_creation_and_member_adds_are_limited_per_user_and_hour() {
    let app = TestApp::spawn().await;
    let (ana, budi, cici) = (
        app.login(&phone(900)).await,
        app.login(&phone(901)).await,
        app.login(&phone(902)).await,
    );
    for n in 0..20 {
        app.group(&ana, &[&budi], &format!("Group {n}")).await;
    }
    let (status, body) = app
        .post(
            "/api/chats",
            &ana.access,
            json!({ "type": "group", "name": "One too many", "participants": [budi.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "rate_limited");
    let (_, chats) = app.get("/api/chats", &budi.access).await;
    assert_eq!(
        chats["chats"].as_array().unwrap().len(),
        20,
        "nothing made past the limit"
    );
    // Private chats are not groups; another user has their own allowance.
    assert_eq!(app.private_chat(&ana, &cici).await.len(), 24);
    let group = app.group(&budi, &[&ana], "Budi's").await;

    // 200 members added in an hour, counted as asked.
    let path = format!("/api/chats/{group}/participants");
    let many = vec![json!(cici.id); 200];
    let (status, body) = app
        .post(&path, &budi.access, json!({ "userIds": many }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(&path, &budi.access, json!({ "userIds": [ana.id] }))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}
