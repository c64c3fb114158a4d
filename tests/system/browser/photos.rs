//! Photos and uploads in the browser: uploads on a slow link show their
//! bubble at once with progress and can be cancelled; an attachment picked
//! offline waits and goes out after reconnecting; several photos go as one
//! album with a caption, previewed first, downscaled before upload, and
//! browsed in the viewer; a pasted image opens the same preview.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, PointerAction, TouchActions};

use serde_json::{Value, json};
use tempfile::TempDir;

use super::{Browser, DESKTOP_SIZE, Driver, PHONE_SIZE, png, testid};
use crate::support::{TestApp, phone};

/// Upload speed for the slow link, in bytes per second.
const SLOW_UPLOAD: u32 = 64 * 1024;

/// Signs `who` in through the UI and opens a private chat with `peer`
/// (who exists already); returns the chat's id.
async fn open_chat_with(
    browser: &Browser,
    app: &TestApp,
    who: &str,
    name: &str,
    peer: &str,
) -> String {
    browser.sign_in(app, who, name, None).await;
    browser.click("new-chat").await;
    browser.type_into("new-chat-phone", peer).await;
    browser.click("new-chat-start").await;
    browser.open_chat_id().await
}

/// How this browser's network is emulated through DevTools.
enum Link {
    Normal,
    /// Uploads at this many bytes per second.
    Slow(u32),
    Offline,
}

async fn set_link(browser: &Browser, link: Link) {
    browser.cdp("Network.enable", json!({})).await;
    let (offline, latency, upload) = match link {
        Link::Normal => (false, 0, -1.0),
        Link::Slow(rate) => (false, 40, f64::from(rate)),
        Link::Offline => (true, 0, -1.0),
    };
    browser
        .cdp(
            "Network.emulateNetworkConditions",
            json!({
                "offline": offline,
                "latency": latency,
                "downloadThroughput": -1,
                "uploadThroughput": upload,
            }),
        )
        .await;
}

/// Light or dark, as the system would choose it.
async fn set_scheme(browser: &Browser, scheme: &str) {
    browser
        .cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        )
        .await;
}

/// Hands `paths` to the composer's photo picker at once, as choosing
/// several would.
async fn pick_photos(browser: &Browser, paths: &[&Path]) {
    let list: Vec<&str> = paths.iter().map(|path| path.to_str().unwrap()).collect();
    let input = browser
        .client
        .find(Locator::Css(&testid("photo-input")))
        .await
        .expect("the composer's photo input");
    input
        .send_keys(&list.join("\n"))
        .await
        .expect("the photos are chosen");
}

/// How many photos the preview shows, once it is open.
async fn wait_preview(browser: &Browser, count: usize) {
    browser
        .wait_js(
            &format!("the preview with {count} photos"),
            r#"const sheet = document.querySelector('[data-testid="photo-preview"][open]');
               const items = sheet ? sheet.querySelectorAll('[data-testid="photo-preview-item"] img') : [];
               return items.length === arguments[0] && [...items].every((img) => img.complete && img.naturalWidth > 0);"#,
            vec![json!(count)],
        )
        .await;
}

/// The messages of `chat` as the server has them.
async fn stored_messages(app: &TestApp, token: &str, chat: &str) -> Vec<Value> {
    let (status, body) = app
        .get(&format!("/api/chats/{chat}/messages?limit=100"), token)
        .await;
    assert!(status.is_success(), "{body}");
    body["messages"].as_array().cloned().unwrap_or_default()
}

/// Bytes that do not compress: a file whose upload takes its full size.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_shows_its_bubble_with_progress_at_once_and_cancelling_removes_it() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (ana_phone, ben_phone) = (phone(7601), phone(7602));
    let ben = app.login(&ben_phone).await;
    let ana = driver.open("ana", PHONE_SIZE).await;
    let chat = open_chat_with(&ana, &app, &ana_phone, "Ana Wijaya", &ben_phone).await;

    // About ten seconds of upload at the slow link's speed.
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("report.bin");
    std::fs::write(&file, noise(640 * 1024)).unwrap();
    set_link(&ana, Link::Slow(SLOW_UPLOAD)).await;
    ana.attach(&file).await;

    // The bubble is in the chat at once, its bar moving, and stays while
    // the upload runs (past the moment a notice would have gone).
    let started = Instant::now();
    let first = ana
        .wait_js(
            "the pending upload's bubble with its progress bar",
            r#"const bar = document.querySelector('[data-testid="message"] [data-testid="upload-progress"]');
               return bar ? Number(bar.value) + 0.0001 : null;"#,
            vec![],
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the bubble took {:?} to show",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = ana
        .wait_js(
            "the progress bar, still there",
            r#"const bar = document.querySelector('[data-testid="message"] [data-testid="upload-progress"]');
               return bar ? Number(bar.value) + 0.0001 : null;"#,
            vec![],
        )
        .await;
    let (first, later) = (first.as_f64().unwrap(), later.as_f64().unwrap());
    assert!(
        later > first && later < 1.0,
        "the bar moves and the upload is not done: {first} then {later}"
    );
    ana.screenshot("upload-progress-phone.png").await;

    // Cancel: the bubble goes, nothing is sent.
    ana.click("upload-cancel").await;
    ana.wait_js(
        "the cancelled upload's bubble to go",
        r#"return !document.querySelector('[data-testid="upload-progress"]')
               && !document.querySelector('[data-testid="message"]');"#,
        vec![],
    )
    .await;
    set_link(&ana, Link::Normal).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        stored_messages(&app, &ben.access, &chat).await.is_empty(),
        "a cancelled upload sends nothing"
    );
    ana.assert_clean_console().await;
    ana.close().await;
}

/// The album bubble in this browser, once its `count` photos have loaded:
/// the caption under it and whether it is one's own.
async fn wait_album(browser: &Browser, count: usize, caption: &str) -> Value {
    browser
        .wait_js(
            &format!("an album of {count} photos with {caption:?}"),
            r#"const album = document.querySelector('[data-testid="message"][data-seq] [data-testid="album"]');
               if (!album || Number(album.dataset.count) !== arguments[0]) return null;
               const imgs = [...album.querySelectorAll('img.album-img')];
               if (!imgs.length || !imgs.every((img) => img.complete && img.naturalWidth > 0)) return null;
               const bubble = album.closest('[data-testid="message"]');
               const text = bubble.querySelector('.msg-text');
               if (!text || text.textContent !== arguments[1]) return null;
               return { own: bubble.dataset.own, tiles: album.querySelectorAll('[data-testid="album-tile"]').length,
                        width: Math.round(album.getBoundingClientRect().width) };"#,
            vec![json!(count), json!(caption)],
        )
        .await
}

/// Where the open viewer is: "n of count", and the photo it shows.
async fn viewer_at(browser: &Browser, position: &str) -> String {
    let src = browser
        .wait_js(
            &format!("the viewer at {position}"),
            r#"const box = document.querySelector('[data-testid="lightbox"][open]');
               const at = box && box.querySelector('[data-testid="lightbox-position"]');
               const img = box && box.querySelector('.lightbox-img');
               return at && at.textContent === arguments[0] && img.complete && img.naturalWidth > 0
                   ? new URL(img.src).pathname : null;"#,
            vec![json!(position)],
        )
        .await;
    src.as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_picked_together_are_previewed_sent_as_one_album_with_a_caption_and_browsed_in_the_viewer()
 {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (ali_phone, bea_phone) = (phone(7611), phone(7612));
    let ali = driver.open("ali", PHONE_SIZE).await;
    let bea = driver.open("bea", DESKTOP_SIZE).await;
    tokio::join!(
        ali.sign_in(&app, &ali_phone, "Ali Rahman", None),
        bea.sign_in(&app, &bea_phone, "Bea Santoso", None),
    );
    let bea_login = app.login(&bea_phone).await;
    bea.dismiss_login_code().await;
    ali.click("new-chat").await;
    ali.type_into("new-chat-phone", &bea_phone).await;
    ali.click("new-chat-start").await;
    let chat = ali.open_chat_id().await;
    let item = format!("[data-testid=\"chat-item\"][data-chat-id=\"{chat}\"]");
    bea.click_css(&item).await;
    bea.open_chat_id().await;

    // The paperclip offers photos or a file.
    ali.click("attach").await;
    ali.wait_js(
        "the choice between photos and a file",
        r#"return Boolean(document.querySelector('[data-testid="attach-menu"][open] [data-testid="attach-photos"]'))
               && Boolean(document.querySelector('[data-testid="attach-menu"][open] [data-testid="attach-file"]'));"#,
        vec![],
    )
    .await;
    ali.type_into("attach-photos", "\u{E00C}").await;

    // Four picked at once open the preview; one is taken out again.
    let dir = TempDir::new().unwrap();
    let sizes = [(640, 480), (480, 640), (800, 600), (300, 300)];
    let paths: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &(w, h))| {
            let path = dir.path().join(format!("beach-{i}.png"));
            std::fs::write(&path, png(w, h)).unwrap();
            path
        })
        .collect();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    pick_photos(&ali, &refs).await;
    wait_preview(&ali, 4).await;
    ali.screenshot("photo-preview-phone.png").await;
    ali.click_css(
        "[data-testid=\"photo-preview-item\"]:nth-child(4) [data-testid=\"photo-remove\"]",
    )
    .await;
    wait_preview(&ali, 3).await;
    ali.type_into("photo-caption", "Beach day").await;
    ali.click("photo-send").await;

    // One bubble with three tiles and the caption, on both sides.
    let mine = wait_album(&ali, 3, "Beach day").await;
    let theirs = wait_album(&bea, 3, "Beach day").await;
    assert_eq!(mine["own"], "true");
    assert_eq!(theirs["own"], "false");
    assert_eq!(theirs["tiles"], 3, "three photos: one large and two");

    // Each photo is its own image message, which other clients show as it is.
    let messages = stored_messages(&app, &bea_login.access, &chat).await;
    assert_eq!(messages.len(), 3, "{messages:#?}");
    let album_id = messages[0]["metadata"]["album"]["id"].as_str().unwrap();
    assert!(
        album_id.len() == 16 && album_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{album_id}"
    );
    for (index, (message, &(w, h))) in messages.iter().zip(&sizes).enumerate() {
        let meta = &message["metadata"];
        assert_eq!(message["type"], "image");
        assert_eq!(
            meta["album"],
            json!({ "id": album_id, "index": index, "count": 3 })
        );
        assert_eq!(
            (meta["width"].as_u64(), meta["height"].as_u64()),
            (Some(u64::from(w)), Some(u64::from(h)))
        );
        assert_eq!(
            message["content"],
            if index == 0 { "Beach day" } else { "" }
        );
        assert!(serde_json::to_vec(meta).unwrap().len() <= 4096);
    }
    let urls: Vec<&str> = messages
        .iter()
        .map(|m| m["metadata"]["url"].as_str().unwrap())
        .collect();

    ali.screenshot("album-phone.png").await;
    bea.screenshot("album-desktop.png").await;
    set_scheme(&ali, "dark").await;
    set_scheme(&bea, "dark").await;
    ali.screenshot("album-phone-dark.png").await;
    bea.screenshot("album-desktop-dark.png").await;
    set_scheme(&ali, "light").await;
    set_scheme(&bea, "light").await;

    // A tap opens the viewer on that photo; the arrows and the arrow keys
    // move through the album, round from the last to the first.
    bea.click_css("[data-testid=\"album-tile\"]").await;
    assert_eq!(viewer_at(&bea, "1 of 3").await, urls[0]);
    bea.click("lightbox-next").await;
    assert_eq!(viewer_at(&bea, "2 of 3").await, urls[1]);
    bea.type_into("lightbox-close", "\u{E014}").await;
    assert_eq!(viewer_at(&bea, "3 of 3").await, urls[2]);
    bea.screenshot("album-viewer-desktop.png").await;
    bea.click("lightbox-next").await;
    assert_eq!(viewer_at(&bea, "1 of 3").await, urls[0]);
    bea.type_into("lightbox-close", "\u{E012}").await;
    assert_eq!(viewer_at(&bea, "3 of 3").await, urls[2]);

    // On the phone a swipe to the left shows the next photo.
    ali.click_css("[data-testid=\"album-tile\"]").await;
    assert_eq!(viewer_at(&ali, "1 of 3").await, urls[0]);
    let photo = ali
        .client
        .find(Locator::Css(".lightbox-img"))
        .await
        .expect("the photo in the viewer");
    let swipe = TouchActions::new("finger".to_owned())
        .then(PointerAction::MoveToElement {
            element: photo.clone(),
            duration: None,
            x: 80.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveToElement {
            element: photo,
            duration: Some(Duration::from_millis(200)),
            x: -80.0,
            y: 0.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    ali.client.perform_actions(swipe).await.expect("swipe");
    assert_eq!(viewer_at(&ali, "2 of 3").await, urls[1]);
    ali.screenshot("album-viewer-phone.png").await;
    set_scheme(&ali, "dark").await;
    ali.screenshot("album-viewer-phone-dark.png").await;

    for browser in [&ali, &bea] {
        browser.assert_clean_console().await;
    }
    ali.close().await;
    bea.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_large_image_opens_the_preview_and_arrives_at_most_2048_px_wide() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (eva_phone, fin_phone) = (phone(7621), phone(7622));
    let fin = app.login(&fin_phone).await;
    let eva = driver.open("eva", DESKTOP_SIZE).await;
    let chat = open_chat_with(&eva, &app, &eva_phone, "Eva Lim", &fin_phone).await;

    // A 4000×3000 photo on the clipboard, pasted into the composer.
    eva.eval_async(
        "paste a large image",
        r#"const canvas = document.createElement('canvas');
           canvas.width = 4000;
           canvas.height = 3000;
           const context = canvas.getContext('2d');
           const sky = context.createLinearGradient(0, 0, 4000, 3000);
           sky.addColorStop(0, '#f6a04d');
           sky.addColorStop(1, '#3a5b9c');
           context.fillStyle = sky;
           context.fillRect(0, 0, 4000, 3000);
           const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
           const data = new DataTransfer();
           data.items.add(new File([blob], 'sunset.png', { type: 'image/png' }));
           const box = document.querySelector('[data-testid="composer"]');
           box.focus();
           box.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
           return true;"#,
        vec![],
    )
    .await;
    wait_preview(&eva, 1).await;
    eva.screenshot("photo-paste-desktop.png").await;
    eva.click("photo-send").await;

    // The bubble keeps the photo's shape from the start, and the photo that
    // arrives is at most 2048 px on its longest side.
    let natural = eva
        .wait_js(
            "the pasted photo, sent and shown",
            r#"const m = document.querySelector('[data-testid="message"][data-seq]');
               const img = m && m.querySelector('.msg-image img:not(.msg-image-placeholder)');
               if (!img || !img.complete || !img.naturalWidth) return null;
               const box = img.closest('.msg-image').getBoundingClientRect();
               return [img.naturalWidth, img.naturalHeight, Math.round(box.width / box.height * 100)];"#,
            vec![],
        )
        .await;
    assert_eq!(natural, json!([2048, 1536, 133]), "a 4:3 box");
    let messages = stored_messages(&app, &fin.access, &chat).await;
    let meta = &messages[0]["metadata"];
    assert_eq!(
        (meta["width"].as_u64(), meta["height"].as_u64()),
        (Some(2048), Some(1536))
    );
    assert_eq!(meta["contentType"], "image/jpeg", "{meta}");
    assert_eq!(meta["name"], "sunset.jpg");
    assert!(
        meta["placeholder"]
            .as_str()
            .is_some_and(|p| p.starts_with("data:image/jpeg;base64,"))
    );
    let upload = reqwest::get(app.url(meta["url"].as_str().unwrap()))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(upload.starts_with(&[0xff, 0xd8]), "the upload is a JPEG");
    assert!(upload.len() < 1024 * 1024, "{} bytes", upload.len());

    // Dropped on the conversation, an image opens the same preview.
    eva.eval_async(
        "drop an image",
        r#"const canvas = document.createElement('canvas');
           canvas.width = 120;
           canvas.height = 80;
           canvas.getContext('2d').fillRect(0, 0, 120, 80);
           const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
           const data = new DataTransfer();
           data.items.add(new File([blob], 'dropped.png', { type: 'image/png' }));
           const target = document.querySelector('[data-testid="message-list"]');
           for (const type of ['dragenter', 'dragover', 'drop']) {
             target.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
           }
           return true;"#,
        vec![],
    )
    .await;
    wait_preview(&eva, 1).await;
    eva.click("photo-cancel").await;
    eva.wait_js(
        "the preview to close without sending",
        "return !document.querySelector('[data-testid=\"photo-preview\"]');",
        vec![],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stored_messages(&app, &fin.access, &chat).await.len(), 1);

    eva.assert_clean_console().await;
    eva.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_picked_offline_waits_and_goes_after_reconnecting_and_an_upload_survives_a_reload()
{
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (gus_phone, hana_phone) = (phone(7631), phone(7632));
    let hana = app.login(&hana_phone).await;
    let gus = driver.open("gus", PHONE_SIZE).await;
    let chat = open_chat_with(&gus, &app, &gus_phone, "Gus Hartono", &hana_phone).await;

    // Offline, a photo is picked and sent: its bubble waits in the chat.
    let dir = TempDir::new().unwrap();
    let photo = dir.path().join("market.png");
    std::fs::write(&photo, png(320, 240)).unwrap();
    set_link(&gus, Link::Offline).await;
    gus.wait_text_in("connection-banner", "No connection").await;
    pick_photos(&gus, &[&photo]).await;
    wait_preview(&gus, 1).await;
    gus.click("photo-send").await;
    gus.wait_js(
        "the photo's pending bubble while offline",
        r#"const m = document.querySelector('[data-testid="message"]');
           return Boolean(m) && !m.dataset.seq && Boolean(m.querySelector('.msg-image img'));"#,
        vec![],
    )
    .await;
    gus.wait_text_in("connection-banner", "1 message waiting")
        .await;
    gus.screenshot("upload-offline-phone.png").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(stored_messages(&app, &hana.access, &chat).await.is_empty());

    // Back online, it goes by itself.
    set_link(&gus, Link::Normal).await;
    gus.wait_js(
        "the photo sent after reconnecting",
        r#"const m = document.querySelector('[data-testid="message"][data-seq]');
           const img = m && m.querySelector('.msg-image img:not(.msg-image-placeholder)');
           return Boolean(img) && img.complete && img.naturalWidth === 320;"#,
        vec![],
    )
    .await;
    assert_eq!(stored_messages(&app, &hana.access, &chat).await.len(), 1);

    // An upload cut short by a reload comes back with the page and finishes.
    let file = dir.path().join("minutes.bin");
    std::fs::write(&file, noise(256 * 1024)).unwrap();
    set_link(&gus, Link::Slow(SLOW_UPLOAD)).await;
    gus.attach(&file).await;
    gus.wait_js(
        "the file's upload under way",
        r#"const bar = document.querySelector('[data-testid="upload-progress"]');
           return Boolean(bar) && bar.value > 0;"#,
        vec![],
    )
    .await;
    gus.client.refresh().await.expect("reload");
    gus.open_chat_id().await;
    gus.wait_js(
        "the upload's bubble back after the reload",
        "return Boolean(document.querySelector('[data-testid=\"upload-progress\"]'));",
        vec![],
    )
    .await;
    set_link(&gus, Link::Normal).await;
    gus.wait_js(
        "the file sent",
        r#"const m = [...document.querySelectorAll('[data-testid="message"][data-seq]')]
             .find((m) => m.querySelector('[data-testid="file"]'));
           return Boolean(m) && m.textContent.includes('minutes.bin');"#,
        vec![],
    )
    .await;
    let messages = stored_messages(&app, &hana.access, &chat).await;
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert_eq!(messages[1]["metadata"]["size"], 256 * 1024);

    gus.assert_clean_console_but(&["net::ERR_INTERNET_DISCONNECTED"])
        .await;
    gus.close().await;
}
