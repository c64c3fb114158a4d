//! Sending, paging and reading messages; order, idempotency and durability.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, phone};

fn seqs(page: &Value) -> Vec<u64> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_sent_message_has_every_field_and_the_next_seq() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (app.login(&phone(600)).await, app.login(&phone(601)).await);
    let chat = app.private_chat(&ana, &budi).await;
    let first = app.send_message(&ana, &chat, "Halo 👋").await;
    assert_eq!(first["seq"], 1);
    assert_eq!(first["chatId"], chat);
    assert_eq!(first["senderId"], ana.id);
    assert_eq!(first["content"], "Halo 👋");
    assert_eq!(first["type"], "text");
    assert_eq!(
        (&first["metadata"], &first["clientId"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        (&first["isRead"], &first["readBy"]),
        (&json!(false), &json!([]))
    );
    let created = first["createdAt"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
    assert_eq!(app.send_message(&budi, &chat, "Hai").await["seq"], 2);
}

#[tokio::test]
async fn invalid_messages_are_refused_and_store_nothing() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (app.login(&phone(610)).await, app.login(&phone(611)).await);
    let chat = app.private_chat(&ana, &budi).await;
    let path = format!("/api/chats/{chat}/messages");
    for (body, field) in [
        (json!({ "content": "" }), "content"),
        (json!({ "content": " \n\t " }), "content"),
        (json!({}), "content"),
        (json!({ "content": 5 }), "content"),
        (json!({ "content": "é".repeat(4097) }), "content"),
        (json!({ "content": "hi", "type": "video" }), "type"),
        (json!({ "content": "hi", "metadata": [1] }), "metadata"),
        (
            json!({ "content": "hi", "metadata": { "blob": "x".repeat(4100) } }),
            "metadata",
        ),
        (json!({ "type": "image" }), "metadata.url"),
        (
            json!({ "type": "image", "metadata": { "url": "/api/uploads/0123456789abcdef0123456789abcdef" } }),
            "metadata.url",
        ),
        (
            json!({ "type": "file", "metadata": { "url": "file:///etc/passwd" } }),
            "metadata.url",
        ),
        (json!({ "content": "hi", "clientId": "" }), "clientId"),
        (
            json!({ "content": "hi", "clientId": "x".repeat(65) }),
            "clientId",
        ),
    ] {
        let (status, answer) = app.post(&path, &ana.access, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["code"], "validation_failed");
        assert_eq!(answer["errors"][0]["field"], field, "{answer}");
    }
    let (_, page) = app.get(&path, &ana.access).await;
    assert_eq!(page["messages"], json!([]));
    let ok = app
        .post(&path, &ana.access, json!({ "content": "é".repeat(4096) }))
        .await;
    assert_eq!(ok.0, StatusCode::CREATED);
    assert_eq!(ok.1["seq"], 1, "refusals used up no seq");
    let (status, image) = app.post(&path, &ana.access, json!({ "type": "image", "metadata": { "url": "https://example.com/cat.png", "width": 10 } })).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        image["metadata"],
        json!({ "url": "https://example.com/cat.png", "width": 10 })
    );
}

#[tokio::test]
async fn a_repeated_client_id_returns_the_first_message_even_when_sent_at_once() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (app.login(&phone(620)).await, app.login(&phone(621)).await);
    let chat = app.private_chat(&ana, &budi).await;
    let path = format!("/api/chats/{chat}/messages");
    let body = json!({ "content": "once", "clientId": "c-1" });
    let sends = (0..8).map(|_| app.post(&path, &ana.access, body.clone()));
    let answers = futures_util::future::join_all(sends).await;
    let created = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1);
    assert!(answers.iter().all(|(status, _)| status.is_success()));
    let ids: HashSet<&str> = answers
        .iter()
        .map(|(_, message)| message["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    // Another sender may use the same client id in the same chat.
    let (status, other) = app.post(&path, &budi.access, body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(other["seq"], 2);
    let (_, page) = app.get(&path, &ana.access).await;
    assert_eq!(seqs(&page), vec![1, 2]);
}

#[tokio::test]
async fn eight_clients_posting_at_once_get_seqs_without_gaps() {
    let app = TestApp::spawn().await;
    let mut people = Vec::new();
    for n in 0..8 {
        people.push(app.login(&phone(630 + n)).await);
    }
    let others: Vec<&crate::support::Login> = people[1..].iter().collect();
    let chat = app.group(&people[0], &others, "Busy").await;
    let path = format!("/api/chats/{chat}/messages");
    let app = &app;
    let sends = people.iter().flat_map(|person| {
        let path = path.clone();
        (0..25).map(move |n| {
            let path = path.clone();
            async move {
                app.post(
                    &path,
                    &person.access,
                    json!({ "content": format!("{} #{n}", person.phone) }),
                )
                .await
            }
        })
    });
    let answers = futures_util::future::join_all(sends).await;
    let mut assigned: Vec<u64> = answers
        .iter()
        .map(|(status, message)| {
            assert_eq!(*status, StatusCode::CREATED);
            message["seq"].as_u64().unwrap()
        })
        .collect();
    assigned.sort_unstable();
    assert_eq!(assigned, (1..=200).collect::<Vec<u64>>());
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let (_, page) = app
            .get(
                &format!("{path}?after={after}&limit=100"),
                &people[3].access,
            )
            .await;
        stored.extend(seqs(&page));
        after = *stored.last().unwrap();
        if page["hasMore"] == false {
            break;
        }
    }
    assert_eq!(stored, (1..=200).collect::<Vec<u64>>());
}

#[tokio::test]
async fn pages_count_back_from_the_newest_and_cursors_read_around_a_seq() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (app.login(&phone(650)).await, app.login(&phone(651)).await);
    let chat = app.private_chat(&ana, &budi).await;
    for n in 1..=45 {
        app.send_message(
            if n % 2 == 0 { &ana } else { &budi },
            &chat,
            &format!("m{n}"),
        )
        .await;
    }
    let page = |query: &str| {
        let path = format!("/api/chats/{chat}/messages{query}");
        let token = ana.access.clone();
        let app = &app;
        async move { app.get(&path, &token).await }
    };
    let (_, first) = page("").await;
    assert_eq!(seqs(&first), (26..=45).collect::<Vec<_>>());
    assert_eq!(
        (&first["page"], &first["limit"], &first["hasMore"]),
        (&json!(1), &json!(20), &json!(true))
    );
    assert_eq!(
        seqs(&page("?page=2&limit=20").await.1),
        (6..=25).collect::<Vec<_>>()
    );
    let (_, last) = page("?page=3&limit=20").await;
    assert_eq!(
        (seqs(&last), &last["hasMore"]),
        ((1..=5).collect::<Vec<_>>(), &json!(false))
    );
    assert_eq!(seqs(&page("?page=4").await.1), Vec::<u64>::new());
    let (_, before) = page("?before=10&limit=3").await;
    assert_eq!(
        (seqs(&before), &before["hasMore"]),
        (vec![7, 8, 9], &json!(true))
    );
    assert_eq!(before["page"], Value::Null);
    assert_eq!(page("?before=3&limit=5").await.1["hasMore"], false);
    let (_, after) = page("?after=40&limit=3").await;
    assert_eq!(
        (seqs(&after), &after["hasMore"]),
        (vec![41, 42, 43], &json!(true))
    );
    let (_, tail) = page("?after=43&limit=10").await;
    assert_eq!(
        (seqs(&tail), &tail["hasMore"]),
        (vec![44, 45], &json!(false))
    );
    assert_eq!(seqs(&page("?limit=100").await.1).len(), 45);
    for bad in [
        "?page=0",
        "?page=-1",
        "?page=x",
        "?limit=0",
        "?limit=101",
        "?limit=abc",
        "?page=1&before=5",
        "?before=5&after=1",
        "?after=-3",
    ] {
        let (status, body) = page(bad).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("validation_failed")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn read_marks_set_is_read_read_by_and_unread_counts() {
    let app = TestApp::spawn().await;
    let (ana, budi, citra) = (
        app.login(&phone(660)).await,
        app.login(&phone(661)).await,
        app.login(&phone(662)).await,
    );
    let group = app.group(&ana, &[&budi, &citra], "Readers").await;
    for n in 1..=3 {
        app.send_message(&ana, &group, &format!("m{n}")).await;
    }
    let unread = |who: &crate::support::Login| {
        let token = who.access.clone();
        let path = format!("/api/chats/{group}");
        let app = &app;
        async move {
            app.get(&path, &token).await.1["unreadCount"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!((unread(&ana).await, unread(&budi).await), (0, 3));
    let read = format!("/api/chats/{group}/read");
    let (status, mark) = app.post(&read, &budi.access, json!({ "seq": 2 })).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&mark["chatId"], &mark["userId"], &mark["seq"]),
        (&json!(group), &json!(budi.id), &json!(2))
    );
    assert!(mark["readAt"].is_string());
    assert_eq!(unread(&budi).await, 1);
    let (_, page) = app
        .get(&format!("/api/chats/{group}/messages"), &ana.access)
        .await;
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages[1]["readBy"][0]["userId"], budi.id);
    assert_eq!(messages[1]["isRead"], false, "Citra has not read it");
    assert_eq!(messages[2]["readBy"], json!([]));
    // Lower marks change nothing; marks past the end are clamped.
    let (_, same) = app.post(&read, &budi.access, json!({ "seq": 1 })).await;
    assert_eq!(
        (&same["seq"], &same["readAt"]),
        (&json!(2), &mark["readAt"])
    );
    let (_, clamped) = app.post(&read, &citra.access, json!({ "seq": 99 })).await;
    assert_eq!(clamped["seq"], 3);
    app.post(&read, &budi.access, json!({ "seq": 3 })).await;
    let (_, page) = app
        .get(&format!("/api/chats/{group}/messages"), &citra.access)
        .await;
    for message in page["messages"].as_array().unwrap() {
        assert_eq!(message["isRead"], true);
        let readers: HashSet<&str> = message["readBy"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["userId"].as_str().unwrap())
            .collect();
        assert_eq!(
            readers,
            HashSet::from([budi.id.as_str(), citra.id.as_str()]),
            "never the sender"
        );
    }
    for bad in [json!({ "seq": -1 }), json!({ "seq": "3" }), json!({})] {
        assert_eq!(
            app.post(&read, &budi.access, bad).await.0,
            StatusCode::BAD_REQUEST
        );
    }
}

#[tokio::test]
async fn own_messages_sent_after_a_read_mark_never_count_as_unread() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (app.login(&phone(670)).await, app.login(&phone(671)).await);
    let chat = app.private_chat(&ana, &budi).await;
    app.send_message(&budi, &chat, "1").await;
    app.send_message(&ana, &chat, "2").await;
    app.send_message(&budi, &chat, "3").await;
    app.send_message(&ana, &chat, "4").await;
    let path = format!("/api/chats/{chat}");
    assert_eq!(app.get(&path, &ana.access).await.1["unreadCount"], 2);
    app.post(&format!("{path}/read"), &ana.access, json!({ "seq": 1 }))
        .await;
    assert_eq!(app.get(&path, &ana.access).await.1["unreadCount"], 1);
}

#[tokio::test]
async fn everything_survives_a_restart_on_the_same_data_directory() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (app.login(&phone(680)).await, app.login(&phone(681)).await);
    let chat = app.private_chat(&ana, &budi).await;
    for n in 1..=5 {
        app.send_message(&ana, &chat, &format!("before restart {n}"))
            .await;
    }
    app.post(
        &format!("/api/chats/{chat}/read"),
        &budi.access,
        json!({ "seq": 4 }),
    )
    .await;
    let dir = app.stop().await;

    let app = TestApp::spawn_in(dir, &[]).await;
    let (status, page) = app
        .get(&format!("/api/chats/{chat}/messages"), &ana.access)
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "access tokens stay valid: the key is kept in the data dir"
    );
    assert_eq!(seqs(&page), vec![1, 2, 3, 4, 5]);
    assert_eq!(page["messages"][4]["content"], "before restart 5");
    assert_eq!(
        app.get(&format!("/api/chats/{chat}"), &budi.access).await.1["unreadCount"],
        1
    );
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/api/auth/refresh-token",
            Some(&budi.refresh),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.send_message(&budi, &chat, "after").await["seq"], 6);
    let (_, list) = app.get("/api/chats", &ana.access).await;
    assert_eq!(list["chats"][0]["lastMessage"]["content"], "after");
}
