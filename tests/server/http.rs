//! What every HTTP answer shares: error bodies, limits, headers, CORS, health.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, phone, raw_get};

#[tokio::test]
async fn bodies_that_are_not_json_get_spec_errors_and_change_nothing() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(700)).await;
    let url = app.url("/api/users/profile");
    let send = |content_type: Option<&'static str>, body: Vec<u8>| {
        let mut request = app.client.put(&url).bearer_auth(&user.access).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = send(Some("application/json"), b"{\"name\": ".to_vec()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );
    let (status, body) = send(Some("text/plain"), br#"{"name":"x"}"#.to_vec()).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type")
        )
    );
    let (status, body) = send(None, br#"{"name":"x"}"#.to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(70 * 1024)).into_bytes();
    let (status, body) = send(Some("application/json"), huge).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    let (status, body) = send(
        Some("application/json; charset=utf-8"),
        br#"{"name":"Ok","unknown":1}"#.to_vec(),
    )
    .await;
    assert_eq!(
        (status, body["name"].as_str()),
        (StatusCode::OK, Some("Ok")),
        "unknown fields are ignored"
    );
    let (_, profile) = app.get("/api/users/profile", &user.access).await;
    assert_eq!(profile["name"], "Ok");
}

#[tokio::test]
async fn unknown_api_paths_are_json_not_found_with_or_without_a_token() {
    let app = TestApp::spawn().await;
    let user = app.login(&phone(710)).await;
    for token in [None, Some(user.access.as_str()), Some("garbage")] {
        for path in ["/api/nothing/here", "/api", "/api/", "/api//x"] {
            for method in [Method::GET, Method::POST] {
                let (status, body) = app.call(method.clone(), path, token, None).await;
                assert_eq!(
                    (status, body["code"].as_str()),
                    (StatusCode::NOT_FOUND, Some("not_found")),
                    "{method} {path}: {body}"
                );
            }
        }
    }
    // Sent as written: an HTTP client would fold the escaped dots away.
    let (status, body) = raw_get(&app, "/api/%2e%2e/").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("\"not_found\""), "{body}");
    let (status, body) = app
        .call(
            Method::DELETE,
            "/api/users/profile",
            Some(&user.access),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
}

#[tokio::test]
async fn responses_carry_hardening_headers() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/api/chats", "/"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
    }
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let app = TestApp::spawn_with(&[("--frontend-url", "http://localhost:5173")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/chats"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("http://localhost:5173").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let refused = preflight("http://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn health_and_readiness_answer_ok() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let (status, body) = app.call(Method::GET, path, None, None).await;
        assert_eq!((status, body), (StatusCode::OK, json!({ "status": "ok" })));
    }
}

#[tokio::test]
async fn the_general_rate_limit_answers_429_with_retry_after() {
    let app = TestApp::spawn_with(&[("--rate-limit-max-requests", "5")]).await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(app.call(Method::GET, "/api/chats", None, None).await.0);
    }
    assert_eq!(statuses[..5], [StatusCode::UNAUTHORIZED; 5]);
    let response = app.client.get(app.url("/api/chats")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
}

/// The value of the series `name{labels}` (labels as rendered), or 0.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_what_happened() {
    let app = TestApp::spawn().await;
    let before = scrape(&app).await;
    let (ana, budi) = (app.login(&phone(720)).await, app.login(&phone(721)).await);
    let chat = app.private_chat(&ana, &budi).await;
    for n in 0..3 {
        app.send_message(&ana, &chat, &format!("m{n}")).await;
    }
    let _socket = app.joined_ws(&budi).await;
    let after = scrape(&app).await;
    for line in after
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
    {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line}"));
        assert!(series.starts_with("clavox_"), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    let stored = "clavox_messages_stored_total";
    assert!(
        sample(&after, stored) - sample(&before, stored) >= 3.0,
        "{after}"
    );
    let sent = "clavox_otp_sends_total{outcome=\"sent\"}";
    assert!(sample(&after, sent) - sample(&before, sent) >= 2.0);
    assert!(
        after.contains("route=\"/api/chats/{chat_id}/messages\""),
        "requests are labelled by route template"
    );
    assert!(!after.contains(&chat), "never by raw path");
    assert!(sample(&after, "clavox_open_sockets") >= 1.0);
    assert!(after.contains("clavox_writer_commit_seconds_bucket"));
    assert!(after.contains("clavox_writer_batch_size_bucket"));
}

#[tokio::test]
async fn metrics_are_hidden_from_other_machines_without_the_token() {
    let app =
        TestApp::spawn_with(&[("--trust-proxy", "true"), ("--metrics-token", "let-me-see")]).await;
    let remote = |token: Option<&'static str>| {
        let mut request = app
            .client
            .get(app.url("/metrics"))
            .header("x-forwarded-for", "203.0.113.7");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let refused = remote(None).await.unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        remote(Some("wrong")).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        remote(Some("let-me-see")).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_rest_route() {
    let app = TestApp::spawn().await;
    let (status, document) = app.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented: Vec<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    documented.sort();
    let mut expected = vec![
        "POST /api/auth/send-otp",
        "POST /api/auth/verify-otp",
        "POST /api/auth/refresh-token",
        "POST /api/auth/logout",
        "GET /api/auth/sessions",
        "DELETE /api/auth/sessions/{session_id}",
        "GET /api/users/profile",
        "PUT /api/users/profile",
        "GET /api/users/lookup",
        "GET /api/users/{user_id}",
        "GET /api/chats",
        "POST /api/chats",
        "GET /api/chats/{chat_id}",
        "PATCH /api/chats/{chat_id}",
        "POST /api/chats/{chat_id}/participants",
        "DELETE /api/chats/{chat_id}/participants/{user_id}",
        "GET /api/chats/{chat_id}/messages",
        "POST /api/chats/{chat_id}/messages",
        "POST /api/chats/{chat_id}/read",
        "POST /api/chats/{chat_id}/received",
        "GET /api/chats/{chat_id}/changes",
        "PATCH /api/chats/{chat_id}/messages/{seq}",
        "DELETE /api/chats/{chat_id}/messages/{seq}",
        "GET /api/chats/{chat_id}/messages/{seq}/edits",
        "POST /api/chats/{chat_id}/messages/{seq}/hide",
        "POST /api/chats/{chat_id}/messages/{seq}/forward",
        "PUT /api/chats/{chat_id}/messages/{seq}/reactions/{emoji}",
        "DELETE /api/chats/{chat_id}/messages/{seq}/reactions/{emoji}",
        "GET /api/chats/{chat_id}/pins",
        "PUT /api/chats/{chat_id}/pins/{seq}",
        "DELETE /api/chats/{chat_id}/pins/{seq}",
        "POST /api/uploads",
        "GET /api/uploads/{upload_id}",
        "PUT /api/chats/{chat_id}/mute",
        "DELETE /api/chats/{chat_id}/mute",
        "GET /api/push/key",
        "POST /api/push/subscriptions",
        "DELETE /api/push/subscriptions",
        "GET /api/notify/topic",
        "DELETE /api/notify/topic",
        "GET /api/users/blocked",
        "PUT /api/users/{user_id}/block",
        "DELETE /api/users/{user_id}/block",
        "GET /api/users/profile/export",
        "POST /api/chats/{chat_id}/messages/{seq}/report",
        "POST /api/chats/{chat_id}/invites",
        "GET /api/chats/{chat_id}/invites",
        "DELETE /api/chats/{chat_id}/invites/{code}",
        "GET /api/invites/{code}",
        "POST /api/invites/{code}/accept",
        "GET /api/admin/users",
        "POST /api/admin/users/invite",
        "POST /api/admin/users/{user_id}/{action}",
        "DELETE /api/admin/users/{user_id}/sessions",
        "POST /api/admin/unlock",
        "GET /api/admin/codes",
        "GET /api/admin/settings",
        "PATCH /api/admin/settings",
        "GET /api/admin/reports",
        "DELETE /api/admin/reports/{report_id}",
        "GET /api/admin/server",
        "POST /api/admin/backup",
        "GET /api/search",
    ];
    expected.sort_unstable();
    assert_eq!(documented, expected);
    // Every documented route really is served (an unknown one would be 404 not_found).
    for route in &expected {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path
            .replace("{session_id}", "x")
            .replace("{user_id}", "x")
            .replace("{chat_id}", "x")
            .replace("{seq}", "1")
            .replace("{emoji}", "%F0%9F%91%8D")
            .replace("{upload_id}", "x")
            .replace("{code}", "x")
            .replace("{report_id}", "x")
            .replace("{action}", "promote");
        let (status, body) = app.call(method.parse().unwrap(), &path, None, None).await;
        assert!(
            status == StatusCode::UNAUTHORIZED
                || (status == StatusCode::NOT_FOUND && path.starts_with("/api/uploads/"))
                // An invite link is seen without signing in: an unknown one is 404.
                || (status == StatusCode::NOT_FOUND && path == "/api/invites/x")
                || status == StatusCode::BAD_REQUEST
                // The VAPID key is public: browsers subscribe with it.
                || (status == StatusCode::OK && path == "/api/push/key"),
            "{route}: {status} {body}"
        );
    }
    for schema in ["User", "Chat", "Message", "ReplyPreview", "ErrorBody"] {
        assert!(
            document["components"]["schemas"].get(schema).is_some(),
            "{schema}"
        );
    }
}

#[tokio::test]
async fn metrics_relayed_by_an_untrusted_local_proxy_are_hidden() {
    let app = TestApp::spawn().await;
    let relayed = app
        .client
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "198.51.100.4")
        .send()
        .await
        .unwrap();
    assert_eq!(relayed.status(), StatusCode::NOT_FOUND);
    let direct = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(direct.status(), StatusCode::OK);
}

/// The request series in a scrape, one line each.
fn request_series(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|line| line.starts_with("clavox_http_requests_total{"))
        .collect()
}

/// `count` requests with methods and paths no one else uses, starting at `from`.
async fn invent_methods_and_paths(app: &TestApp, from: usize, count: usize) {
    use futures_util::StreamExt;
    futures_util::stream::iter(from..from + count)
        .for_each_concurrent(16, |n| async move {
            let method = Method::from_bytes(format!("INVENTED{n}").as_bytes()).unwrap();
            let response = app
                .client
                .request(method, app.url("/healthz"))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
            for path in [format!("/nowhere-{n}"), format!("/api/nowhere-{n}")] {
                app.client.get(app.url(&path)).send().await.unwrap();
            }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_series_do_not_grow_with_the_methods_and_paths_clients_invent() {
    let app = TestApp::spawn().await;
    invent_methods_and_paths(&app, 0, 1000).await;
    let first = scrape(&app).await;
    invent_methods_and_paths(&app, 1000, 1000).await;
    let second = scrape(&app).await;
    // Other tests in this process add a few series of their own meanwhile;
    // a series per invented method or path would add a thousand.
    let grown = request_series(&second).len() - request_series(&first).len();
    assert!(grown < 50, "{grown} new series");
    assert!(
        !second.contains("INVENTED"),
        "methods come from a closed set"
    );
    assert!(
        !second.contains("nowhere"),
        "routes are templates, not paths"
    );
    assert!(
        second.contains(r#"method="other""#),
        "unknown methods are counted as other"
    );
}

/// `GET /metrics` with `forwarded` as its `X-Forwarded-For`.
fn metrics_forwarded_for(app: &TestApp, forwarded: &'static str) -> reqwest::RequestBuilder {
    app.client
        .get(app.url("/metrics"))
        .header("x-forwarded-for", forwarded)
}

#[tokio::test]
async fn metrics_stay_closed_to_a_loopback_forwarded_for_from_an_untrusted_peer() {
    // Loopback is not a trusted proxy here, so its header is not believed.
    let app = TestApp::spawn_with(&[
        ("--trust-proxy", "true"),
        ("--trusted-proxies", "10.0.0.0/8"),
        ("--metrics-token", "let-me-see"),
    ])
    .await;
    let refused = metrics_forwarded_for(&app, "127.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let with_token = metrics_forwarded_for(&app, "127.0.0.1")
        .bearer_auth("let-me-see")
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_stay_closed_to_a_loopback_address_a_client_writes_ahead_of_its_proxys() {
    let app = TestApp::spawn_with(&[("--trust-proxy", "true")]).await;
    // A proxy that appends: the client's forged address sits left of the
    // address the proxy saw.
    let refused = metrics_forwarded_for(&app, "127.0.0.1, 203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let local = metrics_forwarded_for(&app, "127.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), StatusCode::OK, "a client on this machine");
}
