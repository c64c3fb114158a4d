//! Message search in the web app, at 1280 px and 360 px, light and dark:
//! words typed into the chat list's search box find messages of every chat,
//! grouped under their chat with the matched words marked, accents and case
//! aside; Chinese found by any run of its characters; choosing a result
//! opens its chat scrolled to that message, older history loaded to reach it.

use fantoccini::Locator;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Browser, DESKTOP_SIZE, Driver, PHONE_SIZE};
use crate::support::{TestApp, phone};

/// Replaces what the search box holds, as typing would.
async fn search_for(browser: &Browser, text: &str) {
    browser
        .wait_js(
            "the search box",
            r#"const input = document.querySelector('.search-input');
               if (!input || !input.getClientRects().length) return false;
               input.focus();
               input.value = arguments[0];
               input.dispatchEvent(new Event('input', { bubbles: true }));
               return true;"#,
            vec![json!(text)],
        )
        .await;
}

/// The results shown now, once there are `count`: chat name, text and marks.
async fn wait_results(browser: &Browser, count: usize) -> Value {
    browser
        .wait_js(
            &format!("{count} search results"),
            r#"const results = [...document.querySelectorAll('[data-testid="search-result"]')];
               if (results.length !== arguments[0]) return false;
               return results.map((result) => ({
                 chat: result.closest('[data-testid="search-group"]').querySelector('.search-chat').textContent,
                 chatId: result.dataset.chatId,
                 seq: Number(result.dataset.seq),
                 text: result.querySelector('.search-text').textContent,
                 marks: [...result.querySelectorAll('mark')].map((mark) => mark.textContent),
               }));"#,
            vec![json!(count)],
        )
        .await
}

/// Waits until message `seq` of the open chat is inside the visible part
/// of the message list.
async fn wait_shown(browser: &Browser, seq: u64) {
    browser
        .wait_js(
            &format!("message {seq} scrolled into view"),
            r#"const message = document.querySelector(`[data-testid="message"][data-seq="${arguments[0]}"]`);
               if (!message) return false;
               const box = message.getBoundingClientRect();
               const list = message.closest('.messages');
               const view = list.getBoundingClientRect();
               return box.bottom > view.top && box.top < view.bottom && box.height > 0;"#,
            vec![json!(seq)],
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn words_typed_into_the_search_box_find_messages_of_every_chat_and_open_them_in_place() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn_with(&[("--otp-cooldown", "0")]).await;
    let (sari_phone, tono_phone) = (phone(9101), phone(9102));
    let sari = driver.open("sari-search", DESKTOP_SIZE).await;
    sari.sign_in(&app, &sari_phone, "Sari Wulan", None).await;
    let me = app.login(&sari_phone).await;
    let tono = app.login(&tono_phone).await;
    sari.dismiss_login_code().await;
    app.call(
        Method::PUT,
        "/api/users/profile",
        Some(&tono.access),
        Some(json!({ "name": "Tono Prasetyo" })),
    )
    .await;
    let private = app.private_chat(&tono, &me).await;
    let group = app.group(&me, &[&tono], "Kantor Jakarta").await;
    // The match is the first of a long chat: opening it needs older pages.
    app.send_message(&tono, &private, "Ketemu di Café Tugu jam 5?")
        .await;
    for n in 1..=70 {
        app.send_message(&tono, &private, &format!("obrolan biasa nomor {n}"))
            .await;
    }
    app.send_message(&tono, &group, "Kopi susu di kantin, ada yang mau?")
        .await;
    app.send_message(&me, &group, "我住在东京塔附近").await;
    app.send_message(&tono, &group, "KOPI hitam saja").await;
    // Read to the end, so the chat itself would open at its newest message.
    for chat in [&private, &group] {
        app.post(
            &format!("/api/chats/{chat}/read"),
            &me.access,
            json!({ "seq": 1000 }),
        )
        .await;
    }

    // 1280 px: accents and case aside, the café is found and marked.
    sari.client.refresh().await.expect("reload");
    sari.wait_js(
        "both chats in the list",
        "return document.querySelectorAll('[data-testid=\"chat-item\"]').length === 2;",
        vec![],
    )
    .await;
    search_for(&sari, "cafe").await;
    let results = wait_results(&sari, 1).await;
    assert_eq!(results[0]["chat"], "Tono Prasetyo", "{results}");
    assert_eq!(results[0]["marks"], json!(["Café"]), "{results}");
    assert_eq!(results[0]["seq"], 1);
    sari.screenshot("search-desktop.png").await;

    // Choosing it opens the chat at that message, far above the newest.
    sari.click("search-result").await;
    sari.wait_js(
        "the private chat open",
        "return location.pathname === arguments[0];",
        vec![json!(format!("/chat/{private}"))],
    )
    .await;
    wait_shown(&sari, 1).await;
    sari.screenshot("search-open-desktop.png").await;

    // Several words, across chats, grouped by chat, newest first.
    search_for(&sari, "kopi").await;
    let results = wait_results(&sari, 2).await;
    assert_eq!(results[0]["text"], "KOPI hitam saja", "{results}");
    assert_eq!(results[1]["text"], "Kopi susu di kantin, ada yang mau?");
    assert_eq!(results[0]["chat"], "Kantor Jakarta");
    let groups = sari
        .client
        .find_all(Locator::Css("[data-testid=\"search-group\"]"))
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "both under one heading");
    search_for(&sari, "kopi susu").await;
    let results = wait_results(&sari, 1).await;
    assert_eq!(results[0]["marks"], json!(["Kopi", "susu"]), "{results}");
    search_for(&sari, "kopi teh").await;
    sari.wait_js(
        "no results, and the line saying so",
        r#"return document.querySelectorAll('[data-testid="search-result"]').length === 0
               && document.querySelector('.search-status').textContent.includes('kopi teh');"#,
        vec![],
    )
    .await;

    // 360 px, light then dark: a Chinese run found inside a sentence.
    sari.fit_viewport(PHONE_SIZE.0, PHONE_SIZE.1).await;
    sari.client.goto(&app.url("/")).await.expect("the list");
    search_for(&sari, "东京").await;
    let results = wait_results(&sari, 1).await;
    assert_eq!(results[0]["marks"], json!(["东京"]), "{results}");
    assert_eq!(results[0]["chatId"], group.as_str());
    sari.screenshot("search-phone.png").await;
    search_for(&sari, "kopi").await;
    wait_results(&sari, 2).await;
    sari.client
        .execute("document.documentElement.dataset.theme = 'dark';", vec![])
        .await
        .unwrap();
    sari.screenshot("search-phone-dark.png").await;
    let overflow = sari
        .client
        .execute("return document.documentElement.scrollWidth;", vec![])
        .await
        .unwrap();
    assert!(
        overflow.as_u64().unwrap() <= u64::from(PHONE_SIZE.0),
        "nothing runs off the side at 360 px: {overflow}"
    );
    sari.click_css("[data-testid=\"search-result\"][data-seq=\"3\"]")
        .await;
    sari.wait_js(
        "the group open",
        "return location.pathname === arguments[0];",
        vec![json!(format!("/chat/{group}"))],
    )
    .await;
    wait_shown(&sari, 3).await;
    sari.screenshot("search-open-phone-dark.png").await;
    sari.assert_clean_console().await;
    sari.close().await;
}
