//! Logging in by phone and code, tokens, refresh rotation and sessions.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, phone};

#[tokio::test]
async fn send_otp_normalises_the_number_and_answers_as_spec_says() {
    let app = TestApp::spawn().await;
    let (status, body) = app.send_otp("+62 812-0000-0101").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "message": "OTP sent", "expiresIn": 300, "retryAfter": 0 })
    );
    let code = app
        .codes
        .last_code("+6281200000101")
        .expect("code recorded under the E.164 number");
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
}

#[tokio::test]
async fn implausible_numbers_are_validation_failures() {
    let app = TestApp::spawn().await;
    for bad in [
        json!("12345"),
        json!("+62"),
        json!("hello"),
        json!(""),
        json!(6281234567890u64),
        json!(null),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/auth/send-otp",
                None,
                Some(json!({ "phoneNumber": bad })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["errors"][0]["field"], "phoneNumber");
    }
    let (status, body) = app
        .call(Method::POST, "/api/auth/send-otp", None, Some(json!({})))
        .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("phoneNumber"))
    );
}

#[tokio::test]
async fn a_second_send_inside_the_cooldown_is_rate_limited() {
    let app = TestApp::spawn_with(&[("--otp-cooldown", "30s")]).await;
    let number = phone(102);
    assert_eq!(app.send_otp(&number).await.0, StatusCode::OK);
    let response = app
        .client
        .post(app.url("/api/auth/send-otp"))
        .json(&json!({ "phoneNumber": number }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((29..=30).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(body["retryAfter"], retry_after);
    assert_eq!(app.codes.count(&number), 1);
}

#[tokio::test]
async fn sends_per_address_are_limited() {
    let app = TestApp::spawn_with(&[("--auth-rate-limit-max", "3")]).await;
    for n in 0..3 {
        assert_eq!(app.send_otp(&phone(110 + n)).await.0, StatusCode::OK);
    }
    let (status, body) = app.send_otp(&phone(113)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(app.codes.count(&phone(113)), 0);
}

#[tokio::test]
async fn refused_input_does_not_use_up_the_addresss_sends() {
    let app = TestApp::spawn_with(&[("--auth-rate-limit-max", "2")]).await;
    // Typos and broken bodies send nothing, so they cost nothing.
    for _ in 0..5 {
        assert_eq!(app.send_otp("12").await.0, StatusCode::BAD_REQUEST);
        let (status, _) = app
            .call(
                reqwest::Method::POST,
                "/api/auth/send-otp",
                None,
                Some(json!({ "phone": 1 })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    for n in 0..2 {
        assert_eq!(app.send_otp(&phone(115 + n)).await.0, StatusCode::OK);
    }
    assert_eq!(
        app.send_otp(&phone(117)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// `verify-otp` from the client at `address` (behind this machine's proxy).
async fn verify_from(app: &TestApp, address: &str, phone: &str, code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/verify-otp"))
        .header("x-forwarded-for", address)
        .json(&json!({ "phoneNumber": phone, "otp": code }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn verifies_per_address_are_limited_to_five_times_the_sends() {
    let app =
        TestApp::spawn_with(&[("--trust-proxy", "true"), ("--auth-rate-limit-max", "2")]).await;
    let guesser = "198.51.100.70";
    for n in 0..10 {
        let response = verify_from(&app, guesser, &phone(140 + n), "000000").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "guess {n}");
    }
    let refused = verify_from(&app, guesser, &phone(150), "000000").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert!(
        body["retryAfter"]
            .as_u64()
            .is_some_and(|seconds| seconds > 0)
    );

    // Another address is not affected.
    let (status, _) = app.send_otp(&phone(151)).await;
    assert_eq!(status, StatusCode::OK);
    let code = app.codes.last_code(&phone(151)).unwrap();
    let response = verify_from(&app, "198.51.100.71", &phone(151), &code).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn login_limits_default_to_what_spec_says() {
    use clap::Parser;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        config: clavox::config::Config,
    }
    let config = Serve::try_parse_from(["clavox"]).unwrap().config;
    assert_eq!(config.auth_rate_limit_max, 20);
    assert_eq!(
        config.auth_rate_limit_window_ms,
        std::time::Duration::from_secs(900)
    );
}

#[tokio::test]
async fn the_first_verify_creates_the_user_and_later_ones_log_in() {
    let app = TestApp::spawn().await;
    let number = phone(120);
    app.send_otp(&number).await;
    let (status, body) = app
        .verify(&number, &app.codes.last_code(&number).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["isNewUser"], true);
    assert_eq!(body["user"]["phoneNumber"], number);
    assert_eq!(body["user"]["isVerified"], true);
    assert_eq!(body["expiresIn"], 900);
    let id = body["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    let again = app.login(&number).await;
    assert_eq!(again.id, id);
    let (status, profile) = app.get("/api/users/profile", &again.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(profile["id"], id);
}

#[tokio::test]
async fn five_wrong_codes_lock_the_code_until_a_new_one_is_sent() {
    let app = TestApp::spawn().await;
    let number = phone(130);
    app.send_otp(&number).await;
    let code = app.codes.last_code(&number).unwrap();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (0..5).rev() {
        let (status, body) = app.verify(&number, wrong).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "invalid_otp");
        assert_eq!(body["attemptsLeft"], left);
    }
    let (status, body) = app.verify(&number, &code).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("otp_locked"))
    );
    let (_, body) = app.verify(&number, wrong).await;
    assert_eq!(body["code"], "otp_locked");
    app.send_otp(&number).await;
    let fresh = app.codes.last_code(&number).unwrap();
    assert_eq!(app.verify(&number, &fresh).await.0, StatusCode::OK);
}

#[tokio::test]
async fn codes_expire_and_are_single_use() {
    let app = TestApp::spawn_with(&[("--otp-expire", "1s")]).await;
    let number = phone(140);
    app.send_otp(&number).await;
    let code = app.codes.last_code(&number).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = app.verify(&number, &code).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("otp_expired"))
    );

    app.send_otp(&number).await;
    let code = app.codes.last_code(&number).unwrap();
    assert_eq!(app.verify(&number, &code).await.0, StatusCode::OK);
    let (status, body) = app.verify(&number, &code).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_otp"))
    );
    let (_, body) = app.verify(&phone(141), "123456").await;
    assert_eq!(
        body["code"], "invalid_otp",
        "a number that was never sent a code"
    );
}

#[tokio::test]
async fn a_new_send_replaces_the_old_code() {
    let app = TestApp::spawn().await;
    let number = phone(145);
    app.send_otp(&number).await;
    let old = app.codes.last_code(&number).unwrap();
    app.send_otp(&number).await;
    let new = app.codes.last_code(&number).unwrap();
    if old != new {
        assert_eq!(app.verify(&number, &old).await.1["code"], "invalid_otp");
    }
    assert_eq!(app.verify(&number, &new).await.0, StatusCode::OK);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_ends_the_session() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(150)).await;
    let (status, first) = app
        .call(
            Method::POST,
            "/api/auth/refresh-token",
            Some(&user.refresh),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let rotated = first["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(rotated, user.refresh);
    let access = first["accessToken"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get("/api/users/profile", &access).await.0,
        StatusCode::OK
    );

    // The body form works too.
    let (status, second) = app
        .call(
            Method::POST,
            "/api/auth/refresh-token",
            None,
            Some(json!({ "refreshToken": rotated })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let newest = second["refreshToken"].as_str().unwrap().to_owned();

    // Presenting the already-rotated token again ends the whole session.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/auth/refresh-token",
            Some(&rotated),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    assert_eq!(
        app.call(Method::POST, "/api/auth/refresh-token", Some(&newest), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let newest_access = second["accessToken"].as_str().unwrap();
    assert_eq!(
        app.get("/api/users/profile", newest_access).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/users/profile", &user.access).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refresh_without_a_token_or_with_a_made_up_one_is_unauthorized() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.call(Method::POST, "/api/auth/refresh-token", None, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/api/auth/refresh-token",
            Some(&"ab".repeat(32)),
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(160)).await;
    let other_device = app.login(&phone(160)).await;
    let (status, body) = app
        .call(Method::POST, "/api/auth/logout", Some(&user.access), None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::NO_CONTENT, serde_json::Value::Null)
    );
    assert_eq!(
        app.get("/api/users/profile", &user.access).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/api/auth/refresh-token",
            Some(&user.refresh),
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/users/profile", &other_device.access).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sessions_are_listed_and_can_be_ended_one_by_one() {
    let app = TestApp::spawn().await;
    let laptop = app.login(&phone(170)).await;
    let phone_device = app.login(&phone(170)).await;
    let stranger = app.login(&phone(171)).await;
    let (status, body) = app.get("/api/auth/sessions", &laptop.access).await;
    assert_eq!(status, StatusCode::OK);
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(
        sessions
            .iter()
            .filter(|session| session["current"] == true)
            .count(),
        1
    );
    for session in sessions {
        for field in [
            "id",
            "createdAt",
            "lastUsedAt",
            "userAgent",
            "ip",
            "current",
        ] {
            assert!(session.get(field).is_some(), "{field} in {session}");
        }
    }
    let other = sessions
        .iter()
        .find(|session| session["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!("/api/auth/sessions/{other}");
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&stranger.access), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/users/profile", &phone_device.access).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&laptop.access), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/api/users/profile", &phone_device.access).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&laptop.access), None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/users/profile", &laptop.access).await.0,
        StatusCode::OK
    );
}

/// A JWT with the given header and claims, signed with `key` (HS256).
fn forge(header: &serde_json::Value, claims: &serde_json::Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &serde_json::from_value::<jsonwebtoken::Header>(header.clone()).unwrap(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

#[tokio::test]
async fn hostile_tokens_are_unauthorized() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(180)).await;
    let payload = user.access.split('.').nth(1).unwrap().to_owned();
    let header_none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({ "sub": user.id, "sid": user.id, "iat": now, "exp": now + 600 });
    let other_key = forge(&json!({ "alg": "HS256", "typ": "JWT" }), &claims, &[9; 32]);
    let hs512 = forge(&json!({ "alg": "HS512", "typ": "JWT" }), &claims, &[9; 32]);
    let tampered = {
        let mut parts: Vec<String> = user.access.split('.').map(str::to_owned).collect();
        parts[2] = parts[2].chars().rev().collect();
        parts.join(".")
    };
    for token in [
        format!("{header_none}.{payload}."),
        format!("{header_none}.{payload}"),
        other_key,
        hs512,
        tampered,
        "garbage".to_owned(),
        String::new(),
    ] {
        let response = app
            .client
            .get(app.url("/api/users/profile"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
    }
    let (status, body) = app
        .call(Method::GET, "/api/users/profile", None, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
}

#[tokio::test]
async fn expired_access_tokens_say_so() {
    let app = TestApp::spawn_with(&[("--jwt-expire", "1s")]).await;
    let user = app.login(&phone(190)).await;
    assert_eq!(
        app.get("/api/users/profile", &user.access).await.0,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = app.get("/api/users/profile", &user.access).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("token_expired"))
    );
    let (status, refreshed) = app
        .call(
            Method::POST,
            "/api/auth/refresh-token",
            Some(&user.refresh),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get(
            "/api/users/profile",
            refreshed["accessToken"].as_str().unwrap()
        )
        .await
        .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn closed_registration_sends_codes_to_existing_users_only() {
    let app = TestApp::spawn_with(&[("--registration", "closed")]).await;
    let (status, body) = app.send_otp(&phone(200)).await;
    assert_eq!(
        (status, &body["message"]),
        (StatusCode::OK, &json!("OTP sent")),
        "same answer, no enumeration"
    );
    assert_eq!(app.codes.count(&phone(200)), 0);
}

/// Five wrong codes for `number`: `attemptsLeft` 4 to 0, then `otp_locked`.
async fn five_wrong_codes_then_locked(app: &TestApp, number: &str, wrong: &str) {
    for left in (0..5).rev() {
        let (status, body) = app.verify(number, wrong).await;
        assert_eq!(
            (status, body["code"].as_str(), &body["attemptsLeft"]),
            (StatusCode::BAD_REQUEST, Some("invalid_otp"), &json!(left)),
            "{number}"
        );
    }
    let (status, body) = app.verify(number, wrong).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("otp_locked")),
        "{number}"
    );
}

#[tokio::test]
async fn a_refused_number_answers_wrong_codes_exactly_as_an_allowed_one() {
    let app = TestApp::spawn_with(&[("--registration", "invite")]).await;
    let (guest, stranger) = (phone(230), phone(231));
    app.admin(clavox::admin::Request::Invite {
        phone: guest.clone(),
    })
    .await;
    assert_eq!(app.send_otp(&guest).await.0, StatusCode::OK);
    assert_eq!(app.send_otp(&stranger).await.0, StatusCode::OK);
    assert_eq!(app.codes.count(&stranger), 0, "the stranger gets no code");
    let wrong = other_than(&app.codes.last_code(&guest).unwrap());
    five_wrong_codes_then_locked(&app, &guest, wrong).await;
    five_wrong_codes_then_locked(&app, &stranger, wrong).await;
}

/// A code that is not `code`.
fn other_than(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

/// Spends the 15 wrong codes `number` may take in a day over three codes,
/// then sends a fresh code and checks that it is locked too; returns it.
async fn lock_out(app: &TestApp, number: &str) -> String {
    for _ in 0..3 {
        assert_eq!(app.send_otp(number).await.0, StatusCode::OK);
        let code = app.codes.last_code(number).unwrap();
        five_wrong_codes_then_locked(app, number, other_than(&code)).await;
    }
    assert_eq!(app.send_otp(number).await.0, StatusCode::OK);
    let code = app.codes.last_code(number).unwrap();
    for attempt in [code.as_str(), other_than(&code), code.as_str()] {
        let (status, body) = app.verify(number, attempt).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("otp_locked")),
            "a fresh code of a number past 15 wrong codes"
        );
    }
    code
}

#[tokio::test]
async fn fifteen_wrong_codes_a_day_lock_the_number_until_an_admin_unlocks_it() {
    let app = TestApp::spawn().await;
    let number = phone(240);
    let code = lock_out(&app, &number).await;
    let dir = app.stop().await;
    let unlock = std::process::Command::new(crate::support::process::BINARY)
        .args(["users", "unlock", &number, "--data-dir"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(unlock.status.success(), "{unlock:?}");
    let app = TestApp::spawn_in(dir, &[]).await;
    let (status, body) = app.verify(&number, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn unlocking_through_the_running_server_lets_the_right_code_in_at_once() {
    let app = TestApp::spawn().await;
    let number = phone(241);
    let code = lock_out(&app, &number).await;
    let said = app
        .admin(clavox::admin::Request::Unlock {
            phone: number.clone(),
        })
        .await;
    assert!(said[0].contains("unlocked"), "{said:?}");
    let (status, body) = app.verify(&number, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn allowed_prefixes_narrow_who_gets_a_code() {
    let app = TestApp::spawn_with(&[("--allowed-phone-prefixes", "+65,+6281299")]).await;
    assert_eq!(app.send_otp(&phone(210)).await.0, StatusCode::OK);
    assert_eq!(app.codes.count(&phone(210)), 0);
    assert_eq!(app.send_otp("+6281299000001").await.0, StatusCode::OK);
    assert_eq!(app.codes.count("+6281299000001"), 1);
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_sockets_at_once() {
    let app = TestApp::spawn().await;
    // The first account is the server's admin, which stays enabled.
    app.login(&phone(219)).await;
    let user = app.login(&phone(220)).await;
    let mut socket = app.joined_ws(&user).await;
    let disable = clavox::admin::Request::Disable {
        phone: user.phone.clone(),
    };
    let answer = clavox::admin::ask(&app.data_dir(), &disable)
        .await
        .unwrap()
        .expect("the admin socket answers");
    assert!(answer.ok, "{:?}", answer.lines);
    assert_eq!(socket.close_code().await, Some(4001));
    assert_eq!(
        app.get("/api/users/profile", &user.access).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/api/auth/refresh-token",
            Some(&user.refresh),
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.send_otp(&user.phone).await.0, StatusCode::OK);
    assert_eq!(
        app.codes.count(&user.phone),
        1,
        "a disabled user gets no new code"
    );
}
