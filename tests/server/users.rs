//! Profiles and finding people.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Login, TestApp, phone};

#[tokio::test]
async fn a_profile_can_be_named_and_given_an_avatar() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(300)).await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/users/profile",
            Some(&user.access),
            Some(json!({ "name": "  Ana  ", "avatar": "https://example.com/ana.png" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Ana");
    assert_eq!(body["avatar"], "https://example.com/ana.png");
    let (_, body) = app
        .call(
            Method::PUT,
            "/api/users/profile",
            Some(&user.access),
            Some(json!({ "avatar": null })),
        )
        .await;
    assert_eq!(body["avatar"], serde_json::Value::Null);
    assert_eq!(body["name"], "Ana", "absent fields stay as they were");
    let (_, profile) = app.get("/api/users/profile", &user.access).await;
    assert_eq!(
        (profile["name"].as_str(), &profile["avatar"]),
        (Some("Ana"), &serde_json::Value::Null)
    );
}

#[tokio::test]
async fn bad_profile_fields_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(310)).await;
    app.call(
        Method::PUT,
        "/api/users/profile",
        Some(&user.access),
        Some(json!({ "name": "Budi" })),
    )
    .await;
    for (body, field) in [
        (json!({ "name": "   " }), "name"),
        (json!({ "name": "x".repeat(65) }), "name"),
        (json!({ "name": 42 }), "name"),
        (json!({ "name": null }), "name"),
        (json!({ "avatar": "javascript:alert(1)" }), "avatar"),
        (
            json!({ "avatar": format!("https://example.com/{}", "a".repeat(2048)) }),
            "avatar",
        ),
        (json!({ "name": "Fine", "avatar": "ftp://x" }), "avatar"),
    ] {
        let (status, answer) = app
            .call(
                Method::PUT,
                "/api/users/profile",
                Some(&user.access),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["code"], "validation_failed");
        assert_eq!(answer["errors"][0]["field"], field, "{answer}");
    }
    let (_, profile) = app.get("/api/users/profile", &user.access).await;
    assert_eq!(profile["name"], "Budi");
}

#[tokio::test]
async fn lookup_finds_users_by_any_spelling_of_their_number() {
    let app = TestApp::spawn().await;
    let target = app.login(&phone(320)).await;
    let me = app.login(&phone(321)).await;
    let digits = &target.phone[1..];
    for query in [
        format!("%2B{digits}"),
        format!("+{digits}"),
        format!("%2B62%20812-{}", &digits[5..]),
    ] {
        let (status, body) = app
            .get(
                &format!("/api/users/lookup?phoneNumber={query}"),
                &me.access,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(body["id"], target.id);
        for field in [
            "id",
            "phoneNumber",
            "name",
            "avatar",
            "isVerified",
            "isOnline",
            "lastSeen",
            "createdAt",
            "updatedAt",
        ] {
            assert!(body.get(field).is_some(), "{field}");
        }
    }
    let (status, body) = app
        .get(
            &format!("/api/users/lookup?phoneNumber=%2B{}", &phone(329)[1..]),
            &me.access,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert_eq!(
        app.get("/api/users/lookup?phoneNumber=123", &me.access)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/api/users/lookup", &me.access).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.call(
            Method::GET,
            &format!("/api/users/lookup?phoneNumber=%2B{digits}"),
            None,
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn users_are_fetched_by_id() {
    let app = TestApp::spawn().await;
    let target = app.login(&phone(330)).await;
    let me = app.login(&phone(331)).await;
    app.private_chat(&me, &target).await;
    let (status, body) = app
        .get(&format!("/api/users/{}", target.id), &me.access)
        .await;
    assert_eq!(
        (status, body["phoneNumber"].as_str()),
        (StatusCode::OK, Some(target.phone.as_str()))
    );
    assert_eq!(
        app.get("/api/users/0123456789abcdef01234567", &me.access)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/users/not-an-id", &me.access).await.0,
        StatusCode::NOT_FOUND
    );
}

/// `target` as `viewer` sees them through `GET /api/users/:id`.
async fn seen_by(app: &TestApp, viewer: &Login, target: &Login) -> Value {
    let (status, body) = app
        .get(&format!("/api/users/{}", target.id), &viewer.access)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Whether `user` shows the number and presence, or `null` for all three.
fn shows_number_and_presence(user: &Value, number: &str) -> bool {
    let hidden = ["phoneNumber", "isOnline", "lastSeen"]
        .iter()
        .all(|field| user.get(field) == Some(&Value::Null));
    let shown = user["phoneNumber"] == number && user["isOnline"].is_boolean();
    assert!(hidden != shown, "either all shown or all null: {user}");
    shown
}

#[tokio::test]
async fn strangers_see_no_number_or_presence_until_they_share_a_chat() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(340)).await;
    let budi = app.login(&phone(341)).await;
    let _online = app.joined_ws(&ana).await;
    let stranger = seen_by(&app, &budi, &ana).await;
    assert!(!shows_number_and_presence(&stranger, &ana.phone));
    assert_eq!(stranger["id"], ana.id, "the rest of the profile stays");
    assert!(shows_number_and_presence(
        &seen_by(&app, &ana, &ana).await,
        &ana.phone
    ));
    let (_, own) = app.get("/api/users/profile", &ana.access).await;
    assert!(shows_number_and_presence(&own, &ana.phone));

    app.group(&ana, &[&budi], "Kopi").await;
    let contact = seen_by(&app, &budi, &ana).await;
    assert!(shows_number_and_presence(&contact, &ana.phone));
    assert_eq!(contact["isOnline"], true);
}

#[tokio::test]
async fn finding_someone_by_their_number_shows_it_from_then_on() {
    let app = TestApp::spawn().await;
    let ana = app.login(&phone(350)).await;
    let budi = app.login(&phone(351)).await;
    let citra = app.login(&phone(352)).await;
    assert!(!shows_number_and_presence(
        &seen_by(&app, &budi, &ana).await,
        &ana.phone
    ));
    let (status, found) = app
        .get(
            &format!("/api/users/lookup?phoneNumber=%2B{}", &ana.phone[1..]),
            &budi.access,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert!(shows_number_and_presence(&found, &ana.phone));
    assert!(shows_number_and_presence(
        &seen_by(&app, &budi, &ana).await,
        &ana.phone
    ));
    assert!(
        !shows_number_and_presence(&seen_by(&app, &citra, &ana).await, &ana.phone),
        "only the one who looked the number up"
    );
}
