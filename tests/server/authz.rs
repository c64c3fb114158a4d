//! The authorization sweep: every REST route and socket event, called by
//! everyone who must not get through — nobody, an outsider, a member who is
//! not an admin, a removed member, and holders of bad tokens — and by those
//! who may, as a control.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Login, TestApp, phone};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Nobody,
    Outsider,
    Member,
    Removed,
    Expired,
    OtherKey,
    Unsigned,
    Disabled,
    /// A group's admin (not the server's).
    Admin,
    /// The server's admin: the first account.
    Owner,
}

const BAD_TOKENS: [Caller; 4] = [
    Caller::Expired,
    Caller::OtherKey,
    Caller::Unsigned,
    Caller::Disabled,
];

/// What a caller should get: allowed (2xx), or a status and code.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Allowed,
    Refused(u16, &'static str),
}

struct Route {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    /// Whether it is about one chat (outsiders and removed members get 404).
    chat_scoped: bool,
    /// Admins only (members get 403).
    admin_only: bool,
}

fn route(
    method: Method,
    path: &'static str,
    body: Option<Value>,
    chat_scoped: bool,
    admin_only: bool,
) -> Route {
    Route {
        method,
        path,
        body,
        chat_scoped,
        admin_only,
    }
}

fn expectation(route: &Route, caller: Caller) -> Expect {
    match caller {
        Caller::Nobody => Expect::Refused(401, "unauthorized"),
        Caller::Expired => Expect::Refused(401, "token_expired"),
        Caller::OtherKey | Caller::Unsigned | Caller::Disabled => {
            Expect::Refused(401, "unauthorized")
        }
        Caller::Outsider | Caller::Removed if route.chat_scoped => {
            Expect::Refused(404, "not_found")
        }
        Caller::Member if route.admin_only => Expect::Refused(403, "forbidden"),
        _ => Expect::Allowed,
    }
}

fn sign(claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

struct Cast {
    owner: Login,
    admin: Login,
    member: Login,
    outsider: Login,
    removed: Login,
    disabled: Login,
    tokens: std::collections::HashMap<&'static str, String>,
}

impl Cast {
    fn token(&self, caller: Caller) -> Option<&str> {
        match caller {
            Caller::Nobody => None,
            Caller::Outsider => Some(&self.outsider.access),
            Caller::Member => Some(&self.member.access),
            Caller::Removed => Some(&self.removed.access),
            Caller::Disabled => Some(&self.disabled.access),
            Caller::Admin => Some(&self.admin.access),
            Caller::Owner => Some(&self.owner.access),
            Caller::Expired => Some(&self.tokens["expired"]),
            Caller::OtherKey => Some(&self.tokens["other_key"]),
            Caller::Unsigned => Some(&self.tokens["unsigned"]),
        }
    }
}

async fn cast(app: &TestApp) -> (Cast, String) {
    // Signs up first, so the server's admin is known.
    let owner = app.login(&phone(1099)).await;
    let people: Vec<Login> =
        futures_util::future::join_all((0..5).map(|n| app.login_owned(phone(1100 + n)))).await;
    let [admin, member, outsider, removed, disabled]: [Login; 5] = people.try_into().unwrap();
    let group = app
        .group(&admin, &[&member, &removed, &disabled], "Sweep")
        .await;
    app.send_message(&admin, &group, "hello").await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/chats/{group}/participants/{}", removed.id),
            Some(&admin.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let disable = clavox::admin::Request::Disable {
        phone: disabled.phone.clone(),
    };
    let answer = clavox::admin::ask(&app.data_dir(), &disable)
        .await
        .unwrap()
        .expect("the admin socket answers");
    assert!(answer.ok, "{:?}", answer.lines);

    let key = std::fs::read_to_string(app.data_dir().join("jwt-secret")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims =
        |exp: u64| json!({ "sub": member.id, "sid": member.id, "iat": now - 3600, "exp": exp });
    let payload = member.access.split('.').nth(1).unwrap().to_owned();
    let tokens = [
        ("expired", sign(&claims(now - 60), key.trim().as_bytes())),
        ("other_key", sign(&claims(now + 600), &[7; 32])),
        (
            "unsigned",
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."),
        ),
    ]
    .into_iter()
    .collect();
    (
        Cast {
            owner,
            admin,
            member,
            outsider,
            removed,
            disabled,
            tokens,
        },
        group,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_everyone_who_may_not_use_it() {
    let app = TestApp::spawn().await;
    let (cast, group) = cast(&app).await;
    let chat_path = |template: &str| {
        template
            .replace("{chat}", &group)
            .replace("{member}", &cast.member.id)
            .replace("{owner}", &cast.owner.id)
    };
    let routes = vec![
        route(Method::GET, "/api/users/profile", None, false, false),
        route(
            Method::PUT,
            "/api/users/profile",
            Some(json!({ "name": "Sweeper" })),
            false,
            false,
        ),
        route(
            Method::GET,
            "/api/users/lookup?phoneNumber=%2B628120001100",
            None,
            false,
            false,
        ),
        route(Method::GET, "/api/users/{member}", None, false, false),
        route(Method::GET, "/api/auth/sessions", None, false, false),
        route(Method::GET, "/api/users/blocked", None, false, false),
        route(Method::PUT, "/api/users/{owner}/block", None, false, false),
        route(
            Method::DELETE,
            "/api/users/{owner}/block",
            None,
            false,
            false,
        ),
        route(Method::GET, "/api/users/profile/export", None, false, false),
        route(
            Method::POST,
            "/api/chats/{chat}/messages/1/report",
            Some(json!({ "reason": "sweep" })),
            true,
            false,
        ),
        route(Method::POST, "/api/chats/{chat}/invites", None, true, true),
        route(Method::GET, "/api/chats/{chat}/invites", None, true, true),
        route(Method::GET, "/api/chats", None, false, false),
        route(Method::GET, "/api/chats/{chat}", None, true, false),
        route(
            Method::PATCH,
            "/api/chats/{chat}",
            Some(json!({ "name": "Renamed" })),
            true,
            true,
        ),
        route(
            Method::POST,
            "/api/chats/{chat}/participants",
            Some(json!({ "userIds": ["{member}"] })),
            true,
            true,
        ),
        route(Method::GET, "/api/chats/{chat}/messages", None, true, false),
        route(
            Method::GET,
            "/api/chats/{chat}/messages?before=2",
            None,
            true,
            false,
        ),
        route(
            Method::POST,
            "/api/chats/{chat}/messages",
            Some(json!({ "content": "sweep" })),
            true,
            false,
        ),
        route(
            Method::POST,
            "/api/chats/{chat}/read",
            Some(json!({ "seq": 1 })),
            true,
            false,
        ),
        route(
            Method::POST,
            "/api/chats/{chat}/received",
            Some(json!({ "seq": 1 })),
            true,
            false,
        ),
        route(
            Method::GET,
            "/api/chats/{chat}/changes?since=0",
            None,
            true,
            false,
        ),
        route(
            Method::GET,
            "/api/chats/{chat}/messages/1/edits",
            None,
            true,
            false,
        ),
        // Message 1 is the admin's: only its sender edits it.
        route(
            Method::PATCH,
            "/api/chats/{chat}/messages/1",
            Some(json!({ "content": "edited" })),
            true,
            true,
        ),
        route(
            Method::PUT,
            "/api/chats/{chat}/messages/1/reactions/%F0%9F%91%8D",
            None,
            true,
            false,
        ),
        route(
            Method::DELETE,
            "/api/chats/{chat}/messages/1/reactions/%F0%9F%91%8D",
            None,
            true,
            false,
        ),
        route(Method::GET, "/api/chats/{chat}/pins", None, true, false),
        route(Method::PUT, "/api/chats/{chat}/pins/1", None, true, true),
        route(Method::DELETE, "/api/chats/{chat}/pins/1", None, true, true),
        route(
            Method::POST,
            "/api/chats/{chat}/messages/1/forward",
            Some(json!({ "chatIds": ["{chat}"] })),
            true,
            false,
        ),
        route(
            Method::POST,
            "/api/chats/{chat}/messages/1/hide",
            None,
            true,
            false,
        ),
        // Last: after it, message 1 is a tombstone. In a group its admin may
        // delete any message; a member only their own.
        route(
            Method::DELETE,
            "/api/chats/{chat}/messages/1",
            None,
            true,
            true,
        ),
    ];
    let callers = [
        Caller::Nobody,
        Caller::Outsider,
        Caller::Member,
        Caller::Removed,
        Caller::Expired,
        Caller::OtherKey,
        Caller::Unsigned,
        Caller::Disabled,
        Caller::Admin,
    ];
    for route in &routes {
        for caller in callers {
            let path = chat_path(route.path);
            let body = route
                .body
                .as_ref()
                .map(|body| serde_json::from_str(&chat_path(&body.to_string())).unwrap());
            let (status, answer) = app
                .call(route.method.clone(), &path, cast.token(caller), body)
                .await;
            match expectation(route, caller) {
                Expect::Allowed => assert!(
                    status.is_success(),
                    "{caller:?} {} {path}: {status} {answer}",
                    route.method
                ),
                Expect::Refused(code, name) => {
                    assert_eq!(
                        (status.as_u16(), answer["code"].as_str()),
                        (code, Some(name)),
                        "{caller:?} {} {path}: {answer}",
                        route.method
                    );
                }
            }
        }
    }
    // Removing someone: members may not; outsiders and the removed see no chat.
    let remove_member = chat_path("/api/chats/{chat}/participants/{member}");
    for (caller, expected) in [
        (Caller::Outsider, 404),
        (Caller::Removed, 404),
        (Caller::Nobody, 401),
        (Caller::Disabled, 401),
    ] {
        assert_eq!(
            app.call(Method::DELETE, &remove_member, cast.token(caller), None)
                .await
                .0
                .as_u16(),
            expected,
            "{caller:?}"
        );
    }
    let remove_admin = format!("/api/chats/{group}/participants/{}", cast.admin.id);
    assert_eq!(
        app.call(
            Method::DELETE,
            &remove_admin,
            cast.token(Caller::Member),
            None
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // Nothing an outsider, a removed or a disabled member tried was stored;
    // the only rename is the admin's own.
    let (_, page) = app
        .get(
            &format!("/api/chats/{group}/messages?limit=100"),
            &cast.admin.access,
        )
        .await;
    let senders: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["senderId"].as_str().unwrap())
        .collect();
    assert!(
        !senders.contains(&cast.outsider.id.as_str())
            && !senders.contains(&cast.removed.id.as_str())
            && !senders.contains(&cast.disabled.id.as_str())
    );
    assert_eq!(
        app.get(&format!("/api/chats/{group}"), &cast.admin.access)
            .await
            .1["name"],
        "Renamed"
    );
}

/// Every client event about one chat, with data a member may send.
fn chat_events(group: &str) -> [(&'static str, Value); 8] {
    [
        ("join_chat", json!({ "chatId": group })),
        ("leave_chat", json!({ "chatId": group })),
        (
            "send_message",
            json!({ "chatId": group, "content": "sweep" }),
        ),
        ("typing_start", json!({ "chatId": group })),
        ("typing_stop", json!({ "chatId": group })),
        ("mark_read", json!({ "chatId": group, "seq": 1 })),
        ("mark_received", json!({ "chatId": group, "seq": 1 })),
        (
            "react",
            json!({ "chatId": group, "seq": 1, "emoji": "👍", "on": true }),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_socket_event_refuses_everyone_who_may_not_use_it() {
    let app = TestApp::spawn().await;
    let (cast, group) = cast(&app).await;
    let events = chat_events(&group);
    // Not authenticated at all, and every bad token, refused at join_user.
    let mut anonymous = app.connect_ws(None).await;
    for (event, data) in &events {
        let answer = anonymous.request(event, data.clone()).await;
        assert_eq!(answer["data"]["code"], "unauthorized", "{event}");
    }
    for caller in BAD_TOKENS {
        let answer = anonymous
            .request("join_user", json!({ "token": cast.token(caller) }))
            .await;
        assert_eq!(
            (answer["event"].as_str(), answer["data"]["code"].as_str()),
            (Some("error"), Some("unauthorized")),
            "{caller:?}"
        );
    }
    // Outsiders and removed members: the chat does not exist for them.
    for login in [&cast.outsider, &cast.removed] {
        let mut socket = app.joined_ws(login).await;
        for (event, data) in &events {
            let answer = socket.request(event, data.clone()).await;
            assert_eq!(
                answer["data"]["code"], "not_found",
                "{event} by {}",
                login.phone
            );
        }
    }
    // The member is let through, as a control.
    let mut member = app.joined_ws(&cast.member).await;
    for (event, data) in &events {
        let answer = member.request(event, data.clone()).await;
        assert_eq!(answer["event"], "ack", "{event}: {answer}");
    }
    let _ = &cast.admin;
}

/// A Socket.IO client speaking Engine.IO v4 frames by hand over a
/// WebSocket, so the sweep can check the second wire format too.
pub(crate) struct SocketIo {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
}

impl SocketIo {
    /// Opens the transport and joins the namespace (with `token` in the
    /// handshake's `auth` when given); the namespace's answer: `40…` when
    /// admitted, `44…` when refused.
    pub(crate) async fn open(app: &TestApp, token: Option<&str>) -> (Self, String) {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.address);
        let (stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut client = Self { stream, next_id: 1 };
        let open = client.next_text().await;
        assert!(open.starts_with('0'), "{open}");
        let join = match token {
            Some(token) => format!("40{}", json!({ "token": token })),
            None => "40".to_owned(),
        };
        client.send(join).await;
        let answer = client.next_text().await;
        (client, answer)
    }

    async fn send(&mut self, frame: String) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::text(frame))
            .await
            .unwrap();
    }

    /// The next text frame that is not a server ping (answered).
    async fn next_text(&mut self) -> String {
        use futures_util::StreamExt;
        loop {
            let frame =
                tokio::time::timeout(std::time::Duration::from_secs(10), self.stream.next())
                    .await
                    .expect("the server answers in time")
                    .expect("the socket stays open")
                    .unwrap();
            let tokio_tungstenite::tungstenite::Message::Text(text) = frame else {
                continue;
            };
            if text.as_str() == "2" {
                self.send("3".to_owned()).await;
                continue;
            }
            return text.as_str().to_owned();
        }
    }

    /// The data of the next `event` the server emits, skipping others.
    pub(crate) async fn wait_for(&mut self, event: &str) -> Value {
        loop {
            let frame = self.next_text().await;
            if let Some(packet) = frame.strip_prefix("42") {
                let args: Value = serde_json::from_str(packet).unwrap();
                if args[0] == event {
                    return args[1].clone();
                }
            }
        }
    }

    /// Emits `event` with an acknowledgement callback; the ack's data.
    pub(crate) async fn request(&mut self, event: &str, data: &Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(format!("42{id}{}", json!([event, data]))).await;
        let prefix = format!("43{id}");
        loop {
            let frame = self.next_text().await;
            if let Some(ack) = frame.strip_prefix(&prefix) {
                let args: Value = serde_json::from_str(ack).unwrap();
                return args[0].clone();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_socket_io_event_refuses_everyone_who_may_not_use_it() {
    let app = TestApp::spawn().await;
    let (cast, group) = cast(&app).await;
    let events = chat_events(&group);
    // Bad tokens in the handshake: the namespace refuses the connection.
    for caller in BAD_TOKENS {
        let (_, answer) = SocketIo::open(&app, cast.token(caller)).await;
        assert!(
            answer.starts_with("44") && answer.contains("unauthorized"),
            "{caller:?}: {answer}"
        );
    }
    // Without a token: every event, and join_user with every bad token, is unauthorized.
    let (mut anonymous, answer) = SocketIo::open(&app, None).await;
    assert!(answer.starts_with("40"), "{answer}");
    for (event, data) in &events {
        let answer = anonymous.request(event, data).await;
        assert_eq!(answer["code"], "unauthorized", "{event}: {answer}");
    }
    for caller in BAD_TOKENS {
        let answer = anonymous
            .request("join_user", &json!({ "token": cast.token(caller) }))
            .await;
        assert_eq!(answer["code"], "unauthorized", "{caller:?}: {answer}");
    }
    // Outsiders and removed members: the chat does not exist for them.
    for login in [&cast.outsider, &cast.removed] {
        let (mut socket, answer) = SocketIo::open(&app, Some(&login.access)).await;
        assert!(answer.starts_with("40"), "{answer}");
        for (event, data) in &events {
            let answer = socket.request(event, data).await;
            assert_eq!(
                answer["code"], "not_found",
                "{event} by {}: {answer}",
                login.phone
            );
        }
    }
    // The member is let through, as a control.
    let (mut member, _) = SocketIo::open(&app, Some(&cast.member.access)).await;
    for (event, data) in &events {
        let answer = member.request(event, data).await;
        assert!(answer.get("code").is_none(), "{event}: {answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_everyone_but_the_servers_admins() {
    let app = TestApp::spawn().await;
    let (cast, _group) = cast(&app).await;
    // The accounts the routes act on: not one of the callers, whose
    // rights must stay as they are through the sweep.
    let bystander = app.login(&phone(1191)).await;
    let target = bystander.id.clone();
    let (_, queued) = app
        .post(
            &format!("/api/chats/{_group}/messages/1/report"),
            &cast.member.access,
            json!({}),
        )
        .await;
    assert_eq!(queued, Value::Null);
    let (_, reports) = app.get("/api/admin/reports", &cast.owner.access).await;
    let report = reports["reports"][0]["id"].as_str().unwrap().to_owned();
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/admin/users?q=a".into(), None),
        (
            Method::POST,
            "/api/admin/users/invite".into(),
            Some(json!({ "phoneNumber": phone(1190) })),
        ),
        (
            Method::POST,
            format!("/api/admin/users/{target}/promote"),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{target}/demote"),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{target}/disable"),
            None,
        ),
        (
            Method::POST,
            format!("/api/admin/users/{target}/enable"),
            None,
        ),
        (
            Method::POST,
            "/api/admin/unlock".into(),
            Some(json!({ "phoneNumber": phone(1190) })),
        ),
        (Method::GET, "/api/admin/codes".into(), None),
        (Method::GET, "/api/admin/settings".into(), None),
        (
            Method::PATCH,
            "/api/admin/settings".into(),
            Some(json!({ "editWindow": 3600 })),
        ),
        (Method::GET, "/api/admin/reports".into(), None),
        (Method::GET, "/api/admin/server".into(), None),
        (Method::POST, "/api/admin/backup".into(), None),
        (Method::DELETE, format!("/api/admin/reports/{report}"), None),
        (
            Method::DELETE,
            format!("/api/admin/users/{target}/sessions"),
            None,
        ),
    ];
    let callers = [
        Caller::Nobody,
        Caller::Outsider,
        Caller::Member,
        Caller::Removed,
        Caller::Expired,
        Caller::OtherKey,
        Caller::Unsigned,
        Caller::Disabled,
        Caller::Admin,
        Caller::Owner,
    ];
    for (method, path, body) in &routes {
        for caller in callers {
            let (status, answer) = app
                .call(method.clone(), path, cast.token(caller), body.clone())
                .await;
            let expected = match caller {
                Caller::Owner => None,
                Caller::Nobody | Caller::OtherKey | Caller::Unsigned | Caller::Disabled => {
                    Some((401, "unauthorized"))
                }
                Caller::Expired => Some((401, "token_expired")),
                Caller::Outsider | Caller::Member | Caller::Removed | Caller::Admin => {
                    Some((403, "forbidden"))
                }
            };
            match expected {
                None => assert!(
                    status.is_success(),
                    "{caller:?} {method} {path}: {status} {answer}"
                ),
                Some((code, name)) => assert_eq!(
                    (status.as_u16(), answer["code"].as_str()),
                    (code, Some(name)),
                    "{caller:?} {method} {path}: {answer}"
                ),
            }
        }
    }
    // The server's admin's calls took effect: the bystander is a member
    // again (promoted, demoted), enabled, and signed out everywhere.
    let (_, seen) = app
        .get(&format!("/api/users/{target}"), &cast.owner.access)
        .await;
    assert_eq!(seen["role"], "member");
    assert_eq!(
        app.get("/api/users/profile", &bystander.access).await.0,
        StatusCode::UNAUTHORIZED
    );
}
