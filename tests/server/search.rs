//! `GET /api/search`: what finds what, who sees which results, paging, and
//! upgrading a data directory written before the index existed.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Login, TestApp, phone};

fn encode(text: &str) -> String {
    text.bytes().map(|byte| format!("%{byte:02X}")).collect()
}

async fn search(app: &TestApp, who: &Login, query: &str) -> (StatusCode, Value) {
    app.get(&format!("/api/search?{query}"), &who.access).await
}

/// The contents found for `q`, newest first (asserting a `200`).
async fn found(app: &TestApp, who: &Login, q: &str) -> Vec<String> {
    let (status, page) = search(app, who, &format!("q={}", encode(q))).await;
    assert_eq!(status, StatusCode::OK, "{q}: {page}");
    contents(&page)
}

fn contents(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["message"]["content"].as_str().unwrap().to_owned())
        .collect()
}

async fn two_people(app: &TestApp) -> (Login, Login, String) {
    let ana = app.login(&phone(1)).await;
    let budi = app.login(&phone(2)).await;
    let chat = app.private_chat(&ana, &budi).await;
    (ana, budi, chat)
}

#[tokio::test]
async fn the_contract_examples_are_found_case_width_and_accent_insensitively() {
    let app = TestApp::spawn().await;
    let (ana, budi, chat) = two_people(&app).await;
    for text in [
        "Ada KOPI?",
        "Ketemu di café",
        "我住在东京塔附近",
        "ayo makan",
        "ｔｅｈ manis",
    ] {
        app.send_message(&ana, &chat, text).await;
    }
    assert_eq!(found(&app, &budi, "kopi").await, ["Ada KOPI?"]);
    assert_eq!(found(&app, &budi, "KoPi").await, ["Ada KOPI?"]);
    assert_eq!(found(&app, &budi, "cafe").await, ["Ketemu di café"]);
    assert_eq!(found(&app, &budi, "CAFÉ").await, ["Ketemu di café"]);
    assert_eq!(found(&app, &budi, "ｋｏｐｉ").await, ["Ada KOPI?"]);
    assert_eq!(found(&app, &budi, "teh").await, ["ｔｅｈ manis"]);
    assert_eq!(found(&app, &budi, "东京").await, ["我住在东京塔附近"]);
    assert_eq!(found(&app, &budi, "maka").await, ["ayo makan"]);
    assert_eq!(found(&app, &budi, "makan").await, ["ayo makan"]);
    // The sender finds their own messages too.
    assert_eq!(found(&app, &ana, "kopi").await, ["Ada KOPI?"]);
}

#[tokio::test]
async fn a_result_carries_the_message_and_its_chat() {
    let app = TestApp::spawn().await;
    let (ana, budi, _) = two_people(&app).await;
    let group = app.group(&ana, &[&budi], "Kantor").await;
    let sent = app.send_message(&ana, &group, "rapat jam 9").await;
    let (status, page) = search(&app, &budi, "q=rapat").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["next"], Value::Null);
    let result = &page["results"][0];
    assert_eq!(result["message"]["id"], sent["id"]);
    assert_eq!(result["message"]["seq"], 1);
    assert_eq!(result["message"]["senderId"], ana.id.as_str());
    assert_eq!(
        result["chat"],
        json!({ "id": group, "type": "group", "name": "Kantor" })
    );
}

#[tokio::test]
async fn every_term_must_match_and_one_letter_is_no_prefix() {
    let app = TestApp::spawn().await;
    let (ana, budi, chat) = two_people(&app).await;
    for text in [
        "kopi susu",
        "kopi hitam",
        "susu coklat",
        "jam 5 sore",
        "jam 55",
    ] {
        app.send_message(&ana, &chat, text).await;
    }
    assert_eq!(found(&app, &budi, "kopi susu").await, ["kopi susu"]);
    assert_eq!(found(&app, &budi, "susu kopi").await, ["kopi susu"]);
    assert_eq!(found(&app, &budi, "su ko").await, ["kopi susu"]);
    assert!(found(&app, &budi, "kopi teh").await.is_empty());
    // A single character is not a prefix: it finds only itself as a word.
    assert!(found(&app, &budi, "k").await.is_empty());
    assert!(found(&app, &budi, "s").await.is_empty());
    assert_eq!(found(&app, &budi, "5").await, ["jam 5 sore"]);
    // A prefix starts a word; the middle of one is no match.
    assert!(found(&app, &budi, "opi").await.is_empty());
    // Punctuation alone has no terms.
    assert!(found(&app, &budi, "?!").await.is_empty());
}

#[tokio::test]
async fn cjk_runs_are_found_anywhere_and_only_where_the_whole_run_is() {
    let app = TestApp::spawn().await;
    let (ana, budi, chat) = two_people(&app).await;
    for text in [
        "我住在东京塔附近",
        "东京和京塔",
        "東京タワーに行きました",
        "한국어를 공부해요",
    ] {
        app.send_message(&ana, &chat, text).await;
    }
    // 东京塔's bigrams are all in the second message, but not the run.
    assert_eq!(found(&app, &budi, "东京塔").await, ["我住在东京塔附近"]);
    assert_eq!(found(&app, &budi, "塔附近").await, ["我住在东京塔附近"]);
    assert_eq!(
        found(&app, &budi, "东京").await,
        ["东京和京塔", "我住在东京塔附近"]
    );
    assert_eq!(
        found(&app, &budi, "タワー").await,
        ["東京タワーに行きました"]
    );
    assert_eq!(found(&app, &budi, "국어").await, ["한국어를 공부해요"]);
    assert!(found(&app, &budi, "京都").await.is_empty());
    // With other words: both must match.
    assert_eq!(found(&app, &budi, "东京 附近").await, ["我住在东京塔附近"]);
}

#[tokio::test]
async fn thai_is_found_by_its_words() {
    let app = TestApp::spawn().await;
    let (ana, budi, chat) = two_people(&app).await;
    app.send_message(&ana, &chat, "ร้านกาแฟอยู่ใกล้บ้านฉัน").await;
    app.send_message(&ana, &chat, "ฉันกินข้าวที่ร้านอาหาร").await;
    assert_eq!(found(&app, &budi, "กาแฟ").await, ["ร้านกาแฟอยู่ใกล้บ้านฉัน"]);
    assert_eq!(
        found(&app, &budi, "ร้าน").await,
        ["ฉันกินข้าวที่ร้านอาหาร", "ร้านกาแฟอยู่ใกล้บ้านฉัน"]
    );
    assert_eq!(found(&app, &budi, "กิน ข้าว").await, ["ฉันกินข้าวที่ร้านอาหาร"]);
    assert!(found(&app, &budi, "ชาเย็น").await.is_empty());
}

#[tokio::test]
async fn deleted_and_hidden_messages_are_never_found() {
    let app = TestApp::spawn().await;
    let (ana, budi, chat) = two_people(&app).await;
    app.send_message(&ana, &chat, "rahasia pertama").await;
    app.send_message(&ana, &chat, "rahasia kedua").await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/chats/{chat}/messages/1"),
            Some(&ana.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            &format!("/api/chats/{chat}/messages/2/hide"),
            &budi.access,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Deleted for everyone: no one finds it. Hidden by Budi: Budi doesn't.
    assert!(found(&app, &budi, "rahasia").await.is_empty());
    assert!(found(&app, &budi, "pertama").await.is_empty());
    assert_eq!(found(&app, &ana, "rahasia").await, ["rahasia kedua"]);
}

#[tokio::test]
async fn an_edited_message_is_found_by_its_new_text_only() {
    let app = TestApp::spawn().await;
    let (ana, budi, chat) = two_people(&app).await;
    app.send_message(&ana, &chat, "ketemu di stasiun").await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/chats/{chat}/messages/1"),
            Some(&ana.access),
            Some(json!({ "content": "ketemu di bandara" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(found(&app, &budi, "stasiun").await.is_empty());
    assert_eq!(found(&app, &budi, "bandara").await, ["ketemu di bandara"]);
    assert_eq!(found(&app, &budi, "ketemu").await, ["ketemu di bandara"]);
    // A reaction changes nothing of what it is found by.
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/chats/{chat}/messages/1/reactions/{}", encode("👍")),
            Some(&budi.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found(&app, &budi, "bandara").await, ["ketemu di bandara"]);
}

#[tokio::test]
async fn attachments_are_found_by_caption_and_file_name() {
    let app = TestApp::spawn().await;
    let (ana, budi, chat) = two_people(&app).await;
    let response = app
        .client
        .post(app.url("/api/uploads?name=Laporan_Kuartal.pdf"))
        .bearer_auth(&ana.access)
        .header("content-type", "application/pdf")
        .body(b"%PDF-1.4 laporan".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let upload: Value = response.json().await.unwrap();
    let (status, message) = app
        .post(
            &format!("/api/chats/{chat}/messages"),
            &ana.access,
            json!({
                "type": "file",
                "content": "angka terbaru",
                "metadata": { "url": upload["url"], "name": "Laporan_Kuartal.pdf" },
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    for query in ["angka", "laporan", "kuartal", "pdf", "laporan angka"] {
        assert_eq!(
            found(&app, &budi, query).await,
            ["angka terbaru"],
            "{query}"
        );
    }
    // A text message's metadata is not searched.
    let (status, _) = app
        .post(
            &format!("/api/chats/{chat}/messages"),
            &ana.access,
            json!({ "content": "halo", "metadata": { "name": "tersembunyi" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(found(&app, &budi, "tersembunyi").await.is_empty());
}

#[tokio::test]
async fn chat_id_narrows_the_search_to_a_chat_of_the_caller() {
    let app = TestApp::spawn().await;
    let (ana, budi, private) = two_people(&app).await;
    let citra = app.login(&phone(3)).await;
    let group = app.group(&ana, &[&budi], "Keluarga").await;
    let other = app.private_chat(&ana, &citra).await;
    // Apart in time, so newest first is one order.
    let pause = std::time::Duration::from_millis(5);
    app.send_message(&ana, &private, "nasi goreng").await;
    tokio::time::sleep(pause).await;
    app.send_message(&budi, &group, "nasi uduk").await;
    tokio::time::sleep(pause).await;
    app.send_message(&citra, &other, "nasi kuning").await;
    assert_eq!(
        found(&app, &budi, "nasi").await,
        ["nasi uduk", "nasi goreng"]
    );
    let (status, page) = search(&app, &budi, &format!("q=nasi&chatId={group}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contents(&page), ["nasi uduk"]);
    // A chat Budi is not in, and one that does not exist, are alike.
    for chat in [other.as_str(), "0123456789abcdef01234567", "nonsense"] {
        let (status, body) = search(&app, &budi, &format!("q=nasi&chatId={chat}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{chat}: {body}");
        assert_eq!(body["code"], "not_found");
    }
}

#[tokio::test]
async fn a_chat_the_caller_left_is_no_longer_searched() {
    let app = TestApp::spawn().await;
    let (ana, budi, _) = two_people(&app).await;
    let group = app.group(&ana, &[&budi], "Arisan").await;
    app.send_message(&ana, &group, "arisan bulan depan").await;
    assert_eq!(found(&app, &budi, "arisan").await, ["arisan bulan depan"]);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/chats/{group}/participants/{}", budi.id),
            Some(&budi.access),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(found(&app, &budi, "arisan").await.is_empty());
    let (status, _) = search(&app, &budi, &format!("q=arisan&chatId={group}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(found(&app, &ana, "arisan").await, ["arisan bulan depan"]);
}

#[tokio::test]
async fn pages_follow_the_cursor_newest_first_without_repeats_or_gaps() {
    let app = TestApp::spawn().await;
    let (ana, budi, private) = two_people(&app).await;
    let citra = app.login(&phone(3)).await;
    let first = app.group(&ana, &[&budi, &citra], "Satu").await;
    let second = app.group(&budi, &[&citra], "Dua").await;
    let chats = [&private, &first, &second];
    let mut sent = Vec::new();
    for n in 0..31 {
        let chat = chats[n % 3];
        let text = format!("kopi nomor {n}");
        // Some noise that matches only one of the terms.
        if n % 4 == 0 {
            app.send_message(&budi, chat, &format!("teh nomor {n}"))
                .await;
        }
        let message = app.send_message(&budi, chat, &text).await;
        sent.push((message["createdAt"].as_str().unwrap().to_owned(), text));
    }
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = "q=kopi%20nomor&limit=7".to_owned();
        if let Some(cursor) = &before {
            query.push_str(&format!("&before={cursor}"));
        }
        let (status, page) = search(&app, &budi, &query).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let results = page["results"].as_array().unwrap();
        assert!(results.len() <= 7);
        for result in results {
            seen.push((
                result["message"]["createdAt"].as_str().unwrap().to_owned(),
                result["message"]["content"].as_str().unwrap().to_owned(),
            ));
        }
        pages += 1;
        match page["next"].as_str() {
            Some(next) => before = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 20, "paging ends");
    }
    assert!(pages >= 5, "31 results in pages of 7");
    let unique: HashSet<&String> = seen.iter().map(|(_, text)| text).collect();
    assert_eq!(unique.len(), seen.len(), "no result twice");
    assert_eq!(seen.len(), 31, "every match once");
    assert!(
        seen.windows(2).all(|pair| pair[0].0 >= pair[1].0),
        "newest first"
    );
    let mut expected = sent;
    expected.sort();
    let mut got = seen;
    got.sort();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn bad_queries_limits_and_cursors_are_refused() {
    let app = TestApp::spawn().await;
    let (ana, _, chat) = two_people(&app).await;
    app.send_message(&ana, &chat, "halo").await;
    let long = "a".repeat(201);
    let longest = "ab ".repeat(66) + "ab";
    for (query, field) in [
        ("", "q"),
        ("q=", "q"),
        ("q=%20%20%20", "q"),
        (&*format!("q={long}"), "q"),
        ("q=halo&limit=0", "limit"),
        ("q=halo&limit=51", "limit"),
        ("q=halo&limit=ten", "limit"),
        ("q=halo&before=xyz", "before"),
    ] {
        let (status, body) = search(&app, &ana, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["errors"][0]["field"], field, "{query}");
    }
    assert_eq!(longest.chars().count(), 200);
    let (status, _) = search(&app, &ana, &format!("q={}", encode(&longest))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, page) = search(&app, &ana, "q=%20halo%20&limit=50").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contents(&page), ["halo"]);
    let (status, _) = app
        .call(Method::GET, "/api/search?q=halo", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_data_directory_from_before_search_is_indexed_when_it_is_opened() {
    let app = TestApp::spawn().await;
    let (ana, budi, chat) = two_people(&app).await;
    app.send_message(&ana, &chat, "catatan lama tentang kopi")
        .await;
    app.send_message(&ana, &chat, "东京塔").await;
    app.send_message(&ana, &chat, "dihapus nanti").await;
    app.call(
        Method::DELETE,
        &format!("/api/chats/{chat}/messages/3"),
        Some(&ana.access),
        None,
    )
    .await;
    // Indexed now: the search waits for the indexer.
    assert_eq!(
        found(&app, &budi, "kopi").await,
        ["catatan lama tentang kopi"]
    );
    let dir = app.stop().await;
    forget_search_index(dir.path());
    let app = TestApp::spawn_in(dir, &[]).await;
    assert_eq!(
        found(&app, &budi, "kopi").await,
        ["catatan lama tentang kopi"]
    );
    assert_eq!(found(&app, &budi, "东京").await, ["东京塔"]);
    assert!(found(&app, &budi, "dihapus").await.is_empty());
    let dir = app.stop().await;
    let tables = tables_in(dir.path());
    assert!(tables.iter().any(|name| name == "search_postings"));
    assert!(
        !tables.iter().any(|name| name == "search_terms"),
        "{tables:?}"
    );
}

/// Makes `dir` look as schema 3 left it: the messages, and that
/// schema's index (one key per posting) instead of today's.
fn forget_search_index(dir: &std::path::Path) {
    use redb::{ReadableTableMetadata, TableDefinition};
    type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;
    let db = redb::Database::create(clavox::data_dir::DataDir::new(dir).database()).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let postings: Table = TableDefinition::new("search_postings");
        let mut table = txn.open_table(postings).unwrap();
        assert!(table.len().unwrap() > 0, "the index was there");
        table.retain(|_, _| false).unwrap();
        for name in ["search_chats", "search_pending"] {
            let table: Table = TableDefinition::new(name);
            txn.open_table(table).unwrap().retain(|_, _| false).unwrap();
        }
        let retired: Table = TableDefinition::new("search_terms");
        txn.open_table(retired)
            .unwrap()
            .insert(b"kopi\0an old posting".as_slice(), b"".as_slice())
            .unwrap();
        let meta: Table = TableDefinition::new("meta");
        txn.open_table(meta)
            .unwrap()
            .insert(b"schema_version".as_slice(), 3u32.to_be_bytes().as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

/// The names of the tables in `dir`'s database.
fn tables_in(dir: &std::path::Path) -> Vec<String> {
    use redb::{ReadableDatabase, TableHandle};
    let db = redb::Database::create(clavox::data_dir::DataDir::new(dir).database()).unwrap();
    let txn = db.begin_read().unwrap();
    txn.list_tables()
        .unwrap()
        .map(|table| table.name().to_owned())
        .collect()
}

#[tokio::test]
async fn a_message_is_found_the_moment_it_is_sent_and_after_a_restart_that_came_first() {
    let app = TestApp::spawn().await;
    let (ana, budi, chat) = two_people(&app).await;
    // Indexed off the send path, yet found by the very next search.
    for n in 0..20 {
        app.send_message(&ana, &chat, &format!("pesanan nomor {n}"))
            .await;
        let (status, page) = search(&app, &budi, &format!("q=nomor%20{n}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["partial"], false, "{page}");
        assert_eq!(contents(&page), [format!("pesanan nomor {n}")]);
    }
    // Stopped right after a send, before the indexer could run: the message
    // waits in the store and is indexed after the restart.
    app.send_message(&ana, &chat, "terakhir sebelum berhenti")
        .await;
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &[]).await;
    let budi = app.login(&budi.phone).await;
    assert_eq!(
        found(&app, &budi, "berhenti").await,
        ["terakhir sebelum berhenti"]
    );
}
