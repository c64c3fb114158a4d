//! End to end in a real browser: the bundled web app in headless Chromium,
//! driven over WebDriver (chromedriver), against the real server. People sign
//! in with the codes the server "sent", see a new chat appear before its
//! first message, chat live, see each other typing and their read ticks,
//! reload, share a photo and talk in a group; one records a voice message on
//! Chromium's fake microphone and sends a photo and a file beside it; two
//! reply, react, edit, pin and delete through the message menu, watch the
//! ticks go from stored to delivered to read, and one of them catches up on
//! changes made while their browser was offline. The app installs: its
//! service worker keeps the release's shell, which opens without the server,
//! and a new release is offered with a prompt; on plain http the microphone
//! says voice messages need the HTTPS address. Over HTTPS, with the
//! server's own authority trusted as a person trusts it (from `/join`, into
//! the browser's certificate store), the app installs and records voice.
//! Notifications: offered once a chat was opened, subscribed and pushed to
//! a stand-in push service while the page is hidden, shown by the service
//! worker and opening the chat; unread counts in the title and badge,
//! muting, the tone and the ntfy link in the settings.
//!
//! Needs the Debian packages `chromium` and `chromium-driver`. Without them
//! the tests print a skip notice and pass, unless `CLAVOX_REQUIRE_BROWSER` is
//! set (as in CI), where they fail. Screenshots land in `target/screenshots/`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::actions::{
    InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction, TouchActions,
};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::support::{TestApp, phone};

// Each feature's browser tests live in a file of their own and reach the
// harness below through `super::`.
mod admin;
mod day;
mod photos;
mod search;

/// The longest any one UI condition may take to come true.
const WAIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(100);
const PHONE_SIZE: (u32, u32) = (360, 740);
const DESKTOP_SIZE: (u32, u32) = (1280, 800);
const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL_HINT: &str = "install the Debian packages `chromium chromium-driver`";

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_sign_in_chat_live_see_typing_and_read_ticks_keep_history_on_reload_and_share_a_photo()
 {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (ali_phone, bea_phone) = (phone(7001), phone(7002));
    let ali = driver.open("ali", PHONE_SIZE).await;
    let bea = driver.open("bea", DESKTOP_SIZE).await;

    // Both sign in through the UI and pick their names on first login.
    tokio::join!(
        ali.sign_in(&app, &ali_phone, "Ali Rahman", Some("sign-in-phone.png")),
        bea.sign_in(&app, &bea_phone, "Bea Santoso", Some("sign-in-desktop.png")),
    );

    // Ali starts a private chat with Bea by her number.
    ali.click("new-chat").await;
    ali.type_into("new-chat-phone", &bea_phone).await;
    ali.click("new-chat-start").await;
    let chat_id = ali.open_chat_id().await;
    ali.wait_text("chat-title", "Bea Santoso").await;

    // The new chat shows in Bea's list at once, under Ali's name, before
    // anything has been said in it.
    let item = format!("[data-testid=\"chat-item\"][data-chat-id=\"{chat_id}\"]");
    bea.wait_js(
        "the new chat, still without messages, in the list",
        r#"const item = document.querySelector(arguments[0]);
           return Boolean(item) && item.textContent.includes('Ali Rahman')
               && item.textContent.includes('No messages yet')
               && !item.querySelector('[data-testid="unread"]');"#,
        vec![json!(item)],
    )
    .await;

    // Ali writes first; the message is stored (one tick) or already on
    // Bea's device (two grey ticks), but not yet read.
    ali.type_into("composer", "Hello Bea, lunch today?").await;
    ali.click("send").await;
    let first = ali.wait_message("Hello Bea, lunch today?", true).await;
    assert_eq!(first["seq"], "1", "the first message of the chat is seq 1");
    assert!(
        matches!(first["status"].as_str(), Some("sent" | "delivered")),
        "{first}"
    );

    // It reaches Bea's chat list live, as one unread message from Ali.
    bea.wait_js(
        "the new chat with one unread message in the list",
        r#"const item = document.querySelector(arguments[0]);
           const badge = item && item.querySelector('[data-testid="unread"]');
           return Boolean(badge) && badge.textContent.trim() === '1'
               && item.textContent.includes('Ali Rahman');"#,
        vec![json!(item)],
    )
    .await;
    // Bea's browser has it (two grey ticks), but nobody has opened the chat yet.
    ali.wait_status("Hello Bea, lunch today?", "delivered")
        .await;

    // Bea opens it: she sees the message, and Ali's tick turns to "read".
    bea.click_css(&item).await;
    bea.wait_text("chat-title", "Ali Rahman").await;
    bea.wait_message("Hello Bea, lunch today?", false).await;
    ali.wait_status("Hello Bea, lunch today?", "read").await;
    bea.wait_js(
        "the unread badge to go",
        r#"const item = document.querySelector(arguments[0]);
           return Boolean(item) && !item.querySelector('[data-testid="unread"]');"#,
        vec![json!(item)],
    )
    .await;

    // Bea types: Ali sees "typing"; she sends: Ali sees it live and the
    // typing line goes.
    bea.type_into("composer", "Sure! 12:30 at the usual place")
        .await;
    ali.wait_typing(true).await;
    bea.click("send").await;
    ali.wait_message("Sure! 12:30 at the usual place", false)
        .await;
    ali.wait_typing(false).await;
    bea.wait_status("Sure! 12:30 at the usual place", "read")
        .await;

    // And the other way round, sending with Enter this time.
    ali.type_into("composer", "Great, see you there").await;
    bea.wait_typing(true).await;
    ali.type_into("composer", "\u{E007}").await;
    bea.wait_message("Great, see you there", false).await;
    bea.wait_typing(false).await;
    ali.wait_status("Great, see you there", "read").await;

    // Right-to-left text is laid out right to left in the composer as it is
    // typed and in the bubble, and the chat list's preview follows its text.
    let arabic = "سأكون هناك";
    bea.type_into("composer", arabic).await;
    bea.wait_js(
        "the composer to lay Arabic out right to left",
        r#"const box = document.querySelector('[data-testid="composer"]');
           return box.getAttribute('dir') === 'auto' && box.matches(':dir(rtl)');"#,
        vec![],
    )
    .await;
    bea.click("send").await;
    ali.wait_message(arabic, false).await;
    for browser in [&ali, &bea] {
        browser
            .wait_js(
                "the Arabic bubble to run right to left",
                r#"const text = [...document.querySelectorAll('[data-testid="message"] .msg-text')]
                     .find((el) => el.textContent.includes(arguments[0]));
                   return Boolean(text) && getComputedStyle(text).direction === 'rtl';"#,
                vec![json!(arabic)],
            )
            .await;
    }
    // On the desktop the chat list stands beside the conversation: its
    // preview ("You: …") takes its direction from its own first letters.
    bea.wait_js(
        "the preview to take its direction from its text",
        r#"const preview = document.querySelector('[data-testid="chat-item"] .chat-item-preview');
           return Boolean(preview) && preview.textContent.includes(arguments[0])
               && preview.getAttribute('dir') === 'auto';"#,
        vec![json!(arabic)],
    )
    .await;

    // A reload keeps the session and the history: no sign-in screen, the
    // same conversation with every message and its read state.
    ali.client.refresh().await.expect("reload");
    ali.wait_text("chat-title", "Bea Santoso").await;
    for text in ["Hello Bea, lunch today?", "Great, see you there"] {
        ali.wait_message(text, true).await;
        ali.wait_status(text, "read").await;
    }
    ali.wait_message("Sure! 12:30 at the usual place", false)
        .await;
    assert!(
        ali.query("phone-input").await.is_none(),
        "a reload must not ask to sign in again"
    );
    assert_eq!(ali.path().await, format!("/chat/{chat_id}"));

    // Ali sends a photo through the attach control; Bea sees it rendered.
    let photo = TempDir::new().unwrap();
    let photo_path = photo.path().join("sunset.png");
    std::fs::write(&photo_path, png(96, 64)).unwrap();
    assert!(
        ali.query("attach").await.is_some(),
        "the composer offers to attach a file"
    );
    ali.attach(&photo_path).await;
    let width = bea
        .wait_js(
            "the photo from Ali to be shown",
            r#"const img = [...document.querySelectorAll('[data-testid="message"][data-own="false"] img')]
                 .find((i) => i.complete && i.naturalWidth > 0);
               return img ? img.naturalWidth : null;"#,
            vec![],
        )
        .await;
    assert_eq!(width, json!(96), "the photo arrives whole");
    ali.wait_js(
        "Ali's own photo to be shown and read",
        r#"const m = [...document.querySelectorAll('[data-testid="message"][data-own="true"]')]
             .find((m) => m.querySelector('img'));
           const img = m && m.querySelector('img');
           return Boolean(img) && img.complete && img.naturalWidth > 0 && m.dataset.status === 'read';"#,
        vec![],
    )
    .await;

    // Screenshots: a conversation and the chat list, phone and desktop.
    ali.screenshot("conversation-phone.png").await;
    bea.screenshot("conversation-desktop.png").await;
    ali.click("back").await;
    ali.wait_js(
        "the chat list on the phone",
        r#"const list = document.querySelector('[data-testid="chat-list"]');
           return Boolean(list) && list.getClientRects().length > 0
               && !document.querySelector('[data-testid="composer"]');"#,
        vec![],
    )
    .await;
    // The photo's kind is the app's own icon, not an emoji the system's
    // fonts may lack.
    ali.wait_js(
        "the chat list to show the photo icon",
        r#"const list = document.querySelector('[data-testid="chat-list"]');
           return Boolean(list) && Boolean(list.querySelector('svg.preview-kind'))
               && !/[\u{1F300}-\u{1FAFF}]/u.test(list.textContent);"#,
        vec![],
    )
    .await;
    ali.screenshot("chat-list-phone.png").await;
    bea.click("back").await;
    bea.wait_js(
        "the chat list with nothing opened",
        "return location.pathname === '/' && !document.querySelector('[data-testid=\"composer\"]');",
        vec![],
    )
    .await;
    bea.screenshot("chat-list-desktop.png").await;

    for browser in [&ali, &bea] {
        browser.assert_clean_console().await;
    }
    ali.close().await;
    bea.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_made_in_the_browser_carries_messages_to_every_members_browser() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (ana_phone, ben_phone, cal_phone) = (phone(7101), phone(7102), phone(7103));
    let ana = driver.open("ana", DESKTOP_SIZE).await;
    let ben = driver.open("ben", DESKTOP_SIZE).await;
    let cal = driver.open("cal", PHONE_SIZE).await;
    tokio::join!(
        ana.sign_in(&app, &ana_phone, "Ana", None),
        ben.sign_in(&app, &ben_phone, "Ben", None),
        cal.sign_in(&app, &cal_phone, "Cal", None),
    );

    // Ana creates the group with Ben and Cal, adding them by number.
    ana.click("new-group").await;
    ana.type_into("group-name", "Weekend trip").await;
    for (number, name) in [(&ben_phone, "Ben"), (&cal_phone, "Cal")] {
        ana.type_into("group-member-phone", number).await;
        ana.click("group-member-add").await;
        ana.wait_js(
            "the member to be listed",
            r#"return [...document.querySelectorAll('.person-name')].some((n) => n.textContent === arguments[0])
                   && document.querySelector('[data-testid="group-member-phone"]').value === '';"#,
            vec![json!(name)],
        )
        .await;
    }
    ana.click("group-create").await;
    let group_id = ana.open_chat_id().await;
    ana.wait_text("chat-title", "Weekend trip").await;

    ana.type_into("composer", "Who brings the tent?").await;
    ana.click("send").await;
    ana.wait_status("Who brings the tent?", "sent").await;

    // The message reaches both other browsers, live, in the new group.
    let item = format!("[data-testid=\"chat-item\"][data-chat-id=\"{group_id}\"]");
    for member in [&ben, &cal] {
        member
            .wait_js(
                "the group with the message in the chat list",
                r#"const item = document.querySelector(arguments[0]);
                   return Boolean(item) && item.textContent.includes('Weekend trip')
                       && item.textContent.includes('Who brings the tent?');"#,
                vec![json!(item)],
            )
            .await;
        member.click_css(&item).await;
        member.wait_text("chat-title", "Weekend trip").await;
        let message = member.wait_message("Who brings the tent?", false).await;
        assert_eq!(message["seq"], "1");
    }
    // A group message is read once everyone else has read it.
    ana.wait_status("Who brings the tent?", "read").await;

    // Ben answers; Ana and Cal see it live, with Ben's name on it.
    ben.type_into("composer", "I will!").await;
    for other in [&ana, &cal] {
        other.wait_typing(true).await;
    }
    ben.type_into("composer", "\u{E007}").await;
    for other in [&ana, &cal] {
        other.wait_message("I will!", false).await;
        other
            .wait_js(
                "the sender's name on a group message",
                r#"return [...document.querySelectorAll('[data-testid="message"][data-own="false"]')]
                     .some((m) => m.textContent.includes('I will!') && m.textContent.includes('Ben'));"#,
                vec![],
            )
            .await;
    }
    ben.wait_status("I will!", "read").await;
    cal.screenshot("group-conversation-phone.png").await;

    // The group's info: its name and its three members, Ana as admin.
    ana.click("group-info").await;
    ana.wait_js(
        "the group info with three members",
        r#"const names = [...document.querySelectorAll('.info .person-name')].map((n) => n.textContent);
           return names.length === 3 && ['Ben', 'Cal'].every((n) => names.includes(n))
               && names.some((n) => n.startsWith('Ana'));"#,
        vec![],
    )
    .await;
    ana.screenshot("group-info-desktop.png").await;

    for browser in [&ana, &ben, &cal] {
        browser.assert_clean_console().await;
    }
    ana.close().await;
    ben.close().await;
    cal.close().await;
}

/// Chromium switches for a microphone that works unattended: a fake device
/// (a beeping tone) and permission granted without asking.
const FAKE_MICROPHONE: [&str; 2] = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_message_recorded_in_the_browser_plays_for_the_other_person_beside_a_photo_and_a_file()
 {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (dia_phone, eko_phone) = (phone(7201), phone(7202));
    let dia = driver.open_with("dia", PHONE_SIZE, &FAKE_MICROPHONE).await;
    // Eko has a microphone but has refused this site the use of it.
    let eko = driver
        .open_with("eko", DESKTOP_SIZE, &["--use-fake-device-for-media-stream"])
        .await;
    tokio::join!(
        dia.sign_in(&app, &dia_phone, "Dia Lestari", None),
        eko.sign_in(&app, &eko_phone, "Eko Prasetyo", None),
    );
    eko.deny_microphone().await;

    dia.click("new-chat").await;
    dia.type_into("new-chat-phone", &eko_phone).await;
    dia.click("new-chat-start").await;
    let chat_id = dia.open_chat_id().await;
    dia.wait_text("chat-title", "Eko Prasetyo").await;
    let item = format!("[data-testid=\"chat-item\"][data-chat-id=\"{chat_id}\"]");
    eko.click_css(&item).await;
    eko.wait_text("chat-title", "Dia Lestari").await;

    // A refused microphone is explained, with how to allow it.
    eko.click("record").await;
    eko.wait_js(
        "advice on allowing the microphone",
        r#"return [...document.querySelectorAll('.toast')].some((t) =>
               t.textContent.includes('microphone') && t.textContent.includes('Allow'))
           && document.querySelector('[data-testid="recording"]').hidden;"#,
        vec![],
    )
    .await;

    // With nothing typed the microphone stands where Send would be; typing
    // brings Send back.
    let mic_shown = r#"const visible = (id) => {
           const el = document.querySelector(`[data-testid="${id}"]`);
           return Boolean(el) && el.getClientRects().length > 0;
         };
         return visible('record') === arguments[0] && visible('send') === !arguments[0];"#;
    dia.wait_js("the microphone button", mic_shown, vec![json!(true)])
        .await;
    dia.type_into("composer", "x").await;
    dia.wait_js("the send button", mic_shown, vec![json!(false)])
        .await;
    dia.type_into("composer", "\u{E003}").await;
    dia.wait_js("the microphone again", mic_shown, vec![json!(true)])
        .await;

    // A recording can be thrown away: nothing is sent.
    dia.click("record").await;
    dia.wait_recording(1).await;
    dia.click("record-cancel").await;
    dia.wait_js("the composer back", mic_shown, vec![json!(true)])
        .await;

    // Dia records for 1.5 s and sends it.
    dia.click("record").await;
    dia.wait_recording(1500).await;
    dia.screenshot("recording-phone.png").await;
    dia.click("record-send").await;
    dia.wait_js(
        "Dia's voice message to be stored",
        r#"const m = document.querySelector('[data-testid="message"][data-own="true"]');
           return Boolean(m) && Boolean(m.dataset.seq) && Boolean(m.querySelector('[data-testid="voice"] audio'));"#,
        vec![],
    )
    .await;

    // Eko gets a player for it, with its length.
    let voice = eko
        .wait_js(
            "a loaded voice message from Dia",
            r#"const m = [...document.querySelectorAll('[data-testid="message"][data-own="false"]')]
                 .find((m) => m.querySelector('[data-testid="voice"]'));
               const audio = m && m.querySelector('[data-testid="voice"] audio');
               if (!audio || audio.readyState < 1) return null;
               const label = m.querySelector('[data-testid="voice-duration"]');
               return { seq: m.dataset.seq, src: audio.getAttribute('src'),
                        controls: Boolean(m.querySelector('[data-testid="voice-play"]')),
                        duration: Number.isFinite(audio.duration) ? audio.duration : null,
                        label: label ? label.textContent : null };"#,
            vec![],
        )
        .await;
    assert_eq!(
        voice["seq"], "1",
        "the cancelled recording was not sent: {voice}"
    );
    assert_eq!(voice["controls"], true, "{voice}");
    let src = voice["src"].as_str().unwrap();
    let upload_id = src.strip_prefix("/api/uploads/").unwrap_or_default();
    assert!(
        upload_id.len() == 32 && upload_id.bytes().all(|b| b.is_ascii_hexdigit()),
        "the player plays an upload of this server: {voice}"
    );
    let label = voice["label"].as_str().unwrap_or_default();
    let seconds = label
        .split_once(':')
        .and_then(|(m, s)| Some(m.parse::<u32>().ok()? * 60 + s.parse::<u32>().ok()?));
    assert!(
        matches!(seconds, Some(1..=5)),
        "the recorded length is shown as m:ss: {voice}"
    );
    if let Some(duration) = voice["duration"].as_f64() {
        assert!(
            duration > 0.5 && duration < 10.0,
            "the browser reads the recording's length: {voice}"
        );
    }
    let served = eko
        .client
        .execute(
            "return fetch(arguments[0]).then((r) => r.headers.get('content-type') + ' ' + r.status);",
            vec![json!(src)],
        )
        .await
        .expect("the recording can be fetched");
    assert!(
        served.as_str().unwrap_or_default().starts_with("audio/")
            && served.as_str().unwrap().ends_with(" 200"),
        "the recording is served as audio: {served}"
    );

    // A photo and a file to go with it.
    let files = TempDir::new().unwrap();
    let photo_path = files.path().join("harbour.png");
    std::fs::write(&photo_path, png(640, 420)).unwrap();
    let pdf_path = files.path().join("trip-plan.pdf");
    let mut pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    pdf.resize(2_500_000, b' ');
    std::fs::write(&pdf_path, pdf).unwrap();
    dia.attach(&photo_path).await;
    dia.wait_js(
        "Dia's photo to be stored",
        r#"const m = [...document.querySelectorAll('[data-testid="message"][data-own="true"]')].find((m) => m.querySelector('img'));
           return Boolean(m) && Boolean(m.dataset.seq);"#,
        vec![],
    )
    .await;
    dia.attach(&pdf_path).await;
    dia.wait_js(
        "Dia's file to be stored",
        r#"const m = [...document.querySelectorAll('[data-testid="message"][data-own="true"]')].find((m) => m.querySelector('[data-testid="file"]'));
           return Boolean(m) && Boolean(m.dataset.seq);"#,
        vec![],
    )
    .await;

    // Eko sees the photo in a box of its proportions, and the file as a
    // download with its name and size.
    let photo = eko
        .wait_js(
            "the photo from Dia",
            r#"const img = document.querySelector('[data-testid="message"][data-own="false"] .msg-image img');
               if (!img || !img.complete || !img.naturalWidth) return null;
               const box = img.parentElement.getBoundingClientRect();
               return { natural: [img.naturalWidth, img.naturalHeight], box: [box.width, box.height] };"#,
            vec![],
        )
        .await;
    assert_eq!(photo["natural"], json!([640, 420]), "{photo}");
    let (w, h) = (
        photo["box"][0].as_f64().unwrap(),
        photo["box"][1].as_f64().unwrap(),
    );
    assert!(
        w <= 280.5 && (w / h - 640.0 / 420.0).abs() < 0.02,
        "a thumbnail of the photo's shape: {photo}"
    );
    let file = eko
        .wait_js(
            "the file from Dia",
            r#"const a = document.querySelector('[data-testid="message"][data-own="false"] [data-testid="file"]');
               return a && { href: a.getAttribute('href'), download: a.getAttribute('download'), text: a.textContent };"#,
            vec![],
        )
        .await;
    assert!(
        file["href"].as_str().unwrap().starts_with("/api/uploads/"),
        "{file}"
    );
    assert_eq!(file["download"], "trip-plan.pdf", "{file}");
    let text = file["text"].as_str().unwrap();
    assert!(
        text.contains("trip-plan.pdf") && text.contains("2.4 MB"),
        "{file}"
    );
    eko.wait_text_in("chat-list", "trip-plan.pdf").await;

    dia.screenshot("attachments-phone.png").await;
    eko.screenshot("attachments-desktop.png").await;

    // The photo opens full size in the viewer, which Escape closes.
    dia.click_css("[data-testid=\"message\"] .msg-image").await;
    dia.wait_js(
        "the photo viewer",
        r#"const dialog = document.querySelector('[data-testid="lightbox"]');
           const img = dialog && dialog.querySelector('img');
           return Boolean(dialog) && dialog.open && img.complete && img.naturalWidth === 640
               && dialog.classList.contains('loaded');"#,
        vec![],
    )
    .await;
    dia.screenshot("image-viewer-phone.png").await;
    dia.client
        .active_element()
        .await
        .expect("the focused element")
        .send_keys("\u{E00C}")
        .await
        .expect("Escape");
    dia.wait_js(
        "the viewer to close",
        "return !document.querySelector('[data-testid=\"lightbox\"]');",
        vec![],
    )
    .await;

    for browser in [&dia, &eko] {
        browser.assert_clean_console().await;
    }
    dia.close().await;
    eko.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_reply_react_edit_pin_and_delete_see_delivery_ticks_and_catch_up_on_changes_made_while_offline()
 {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (ida_phone, joe_phone) = (phone(7401), phone(7402));
    let ida = driver.open("ida", PHONE_SIZE).await;
    let joe = driver.open("joe", DESKTOP_SIZE).await;
    tokio::join!(
        ida.sign_in(&app, &ida_phone, "Ida Lestari", None),
        joe.sign_in(&app, &joe_phone, "Joe Prasetyo", None),
    );

    // Joe leaves the app for another page: nothing can reach his device.
    joe.client.goto("about:blank").await.expect("leave the app");

    // Ida writes to Joe: stored on the server, one grey tick, and it stays
    // that way while Joe is away.
    ida.click("new-chat").await;
    ida.type_into("new-chat-phone", &joe_phone).await;
    ida.click("new-chat-start").await;
    let chat_id = ida.open_chat_id().await;
    let question = "Dinner at seven tonight?";
    ida.type_into("composer", question).await;
    ida.click("send").await;
    ida.wait_status(question, "sent").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        ida.status_of(question).await,
        "sent",
        "Joe's browser is not on the app: nothing has been delivered"
    );

    // Joe comes back to his chat list: the message reaches his device, so
    // Ida sees two grey ticks before he opens the chat; then two blue ones.
    joe.client
        .goto(&app.url("/"))
        .await
        .expect("back to the app");
    let item = format!("[data-testid=\"chat-item\"][data-chat-id=\"{chat_id}\"]");
    joe.wait_js(
        "the chat with one unread message",
        r#"const item = document.querySelector(arguments[0]);
           const badge = item && item.querySelector('[data-testid="unread"]');
           return Boolean(badge) && badge.textContent.trim() === '1';"#,
        vec![json!(item)],
    )
    .await;
    ida.wait_status(question, "delivered").await;
    let tick_colour = r#"const m = [...document.querySelectorAll('[data-testid="message"][data-own="true"]')]
                           .find((m) => m.textContent.includes(arguments[0]));
                         const tick = m && m.querySelector('.tick');
                         return tick ? [m.dataset.status, getComputedStyle(tick).color] : null;"#;
    let delivered = ida
        .wait_js("the delivered tick", tick_colour, vec![json!(question)])
        .await;
    joe.click_css(&item).await;
    joe.wait_message(question, false).await;
    ida.wait_status(question, "read").await;
    let read = ida
        .wait_js("the read tick", tick_colour, vec![json!(question)])
        .await;
    assert_ne!(
        delivered[1], read[1],
        "read ticks are coloured, delivered ones are not: {delivered} {read}"
    );

    // Joe (desktop) replies through the menu on the bubble's own button: the
    // quote shows above his composer, then in the bubble for both of them.
    joe.open_menu(question).await;
    joe.screenshot("message-menu-desktop.png").await;
    joe.click("menu-reply").await;
    joe.wait_text_in("reply-preview", question).await;
    joe.wait_text_in("reply-preview", "Ida Lestari").await;
    let answer = "Yes! I will bring dessert";
    joe.type_into("composer", answer).await;
    joe.type_into("composer", "\u{E007}").await;
    let reply = joe.wait_message(answer, true).await;
    for browser in [&ida, &joe] {
        browser
            .wait_js(
                "the reply to quote Ida's question",
                r#"const m = [...document.querySelectorAll('[data-testid="message"]')]
                     .find((m) => m.dataset.seq && m.textContent.includes(arguments[0]));
                   const quote = m && m.querySelector('[data-testid="quote"]');
                   return Boolean(quote) && quote.textContent.includes(arguments[1])
                       && quote.textContent.includes('Ida Lestari');"#,
                vec![json!(answer), json!(question)],
            )
            .await;
    }
    joe.wait_js(
        "the reply preview above the composer to go",
        "return !document.querySelector('[data-testid=\"reply-preview\"]');",
        vec![],
    )
    .await;
    ida.screenshot("reply-phone.png").await;
    joe.screenshot("reply-desktop.png").await;

    // Tapping the quote brings the original into view, highlighted.
    ida.click_css(&format!(
        "[data-testid=\"message\"][data-seq=\"{}\"] [data-testid=\"quote\"]",
        reply["seq"].as_str().unwrap()
    ))
    .await;
    ida.wait_js(
        "the original message to be highlighted",
        r#"return [...document.querySelectorAll('[data-testid="message"].flash')]
             .some((m) => m.textContent.includes(arguments[0]));"#,
        vec![json!(question)],
    )
    .await;

    // On the phone, the quote above the composer fits, and its cross takes
    // it away again.
    ida.open_menu(answer).await;
    ida.click("menu-reply").await;
    ida.wait_text_in("reply-preview", answer).await;
    ida.screenshot("reply-composer-phone.png").await;
    ida.click("reply-cancel").await;
    ida.wait_js(
        "the quote above the composer to go",
        "return !document.querySelector('[data-testid=\"reply-preview\"]');",
        vec![],
    )
    .await;

    // Ida (phone) long-presses the reply and reacts with a heart; Joe adds
    // his own by pressing the chip, and a coffee from the emoji field.
    ida.open_menu(answer).await;
    ida.screenshot("message-menu-phone.png").await;
    ida.click_css("[data-testid=\"quick-react\"][data-emoji=\"❤️\"]")
        .await;
    joe.wait_reaction(answer, "❤️", 1, false).await;
    joe.click_css("[data-testid=\"reaction\"][data-emoji=\"❤️\"]")
        .await;
    for browser in [&ida, &joe] {
        browser.wait_reaction(answer, "❤️", 2, true).await;
    }
    joe.open_menu(answer).await;
    joe.click("react-more").await;
    joe.type_into("react-input", "☕").await;
    joe.click("react-send").await;
    for browser in [&ida, &joe] {
        browser
            .wait_reaction(answer, "☕", 1, browser.name == "joe")
            .await;
    }
    ida.screenshot("reactions-phone.png").await;
    joe.screenshot("reactions-desktop.png").await;

    // Ida edits her question: its text moves into the composer, Enter saves
    // it, and both see the new text marked "edited".
    ida.open_menu(question).await;
    ida.click("menu-edit").await;
    ida.wait_js(
        "the question in the composer for editing",
        r#"const box = document.querySelector('[data-testid="composer"]');
           return box.value === arguments[0] && Boolean(document.querySelector('[data-testid="edit-preview"]'));"#,
        vec![json!(question)],
    )
    .await;
    let edited = "Dinner at eight tonight?";
    ida.type_into("composer", &format!("\u{E009}a\u{E000}{edited}\u{E007}"))
        .await;
    for browser in [&ida, &joe] {
        browser.wait_edited(edited).await;
    }

    // Ida pins it: a bar over both conversations shows it.
    ida.open_menu(edited).await;
    ida.click("menu-pin").await;
    for browser in [&ida, &joe] {
        browser.wait_text_in("pinned-bar", edited).await;
    }

    // Joe takes his reply back: deleted for everyone, a short italic line
    // in its place for both, its reactions gone with it.
    joe.open_menu(answer).await;
    joe.click("menu-delete").await;
    joe.click("confirm-delete").await;
    for browser in [&ida, &joe] {
        browser.wait_deleted(reply["seq"].as_str().unwrap()).await;
    }
    ida.screenshot("deleted-phone.png").await;
    joe.screenshot("deleted-desktop.png").await;

    // Joe's browser goes offline (the page stays; no reload). Meanwhile Ida
    // writes, edits and deletes.
    let later = "Bring the blue umbrella";
    let gone = "Ignore the last message";
    ida.type_into("composer", &format!("{later}\u{E007}")).await;
    ida.type_into("composer", &format!("{gone}\u{E007}")).await;
    joe.wait_message(later, false).await;
    let gone_seq = joe.wait_message(gone, false).await["seq"]
        .as_str()
        .unwrap()
        .to_owned();
    joe.client
        .execute("window.stillTheSamePage = true;", vec![])
        .await
        .expect("mark the page");
    joe.set_offline(true).await;
    joe.wait_text_in("connection-banner", "No connection").await;
    let umbrella = "Bring the green umbrella";
    ida.open_menu(later).await;
    ida.click("menu-edit").await;
    ida.type_into("composer", &format!("\u{E009}a\u{E000}{umbrella}\u{E007}"))
        .await;
    ida.wait_edited(umbrella).await;
    ida.open_menu(gone).await;
    ida.click("menu-delete").await;
    ida.click("confirm-delete").await;
    ida.wait_deleted(&gone_seq).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        joe.query_text(umbrella).await.is_none(),
        "an offline browser cannot have seen the edit"
    );

    // Back online: Joe's app reconnects and shows both changes, in the same
    // page.
    joe.set_offline(false).await;
    joe.wait_edited(umbrella).await;
    joe.wait_deleted(&gone_seq).await;
    assert_eq!(
        joe.client
            .execute("return window.stillTheSamePage === true;", vec![])
            .await
            .expect("the page marker"),
        json!(true),
        "the changes arrived without a reload"
    );

    for browser in [&ida, &joe] {
        browser.assert_clean_console().await;
    }
    ida.close().await;
    joe.close().await;
}

/// What Safari on an iPhone calls itself.
const IPHONE_SAFARI: &str = "--user-agent=Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) \
     AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// Chromium switch that makes `lan.test` this machine: a page there is not a
/// secure context, like a phone's on `http://192.168.1.10:5000`.
const LAN_NAME: &str = "--host-resolver-rules=MAP lan.test 127.0.0.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_installs_opens_without_the_server_offers_a_new_release_and_says_voice_needs_https()
{
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (kim_phone, lan_phone, ina_phone) = (phone(7301), phone(7302), phone(7303));
    let kim = driver.open("kim", PHONE_SIZE).await;
    kim.sign_in(&app, &kim_phone, "Kim Hartono", None).await;

    // On 127.0.0.1, a secure context, the page registers the service worker,
    // which controls it from the first visit on.
    kim.wait_js(
        "the service worker to control the page",
        r#"const worker = navigator.serviceWorker.controller;
           return Boolean(worker) && worker.state === 'activated'
               && new URL(worker.scriptURL).pathname === '/sw.js';"#,
        vec![],
    )
    .await;
    let version = kim
        .wait_js(
            "the asset version in the manifest's address",
            r#"const m = document.querySelector('link[rel="manifest"]').getAttribute('href')
                 .match(/^\/assets\/([0-9a-f]+)\/manifest\.webmanifest$/);
               return m && m[1];"#,
            vec![],
        )
        .await
        .as_str()
        .unwrap()
        .to_owned();

    // The worker's script names this release, and its cache, named after
    // the release too, holds the page and the files it loads.
    let kept = kim
        .eval_async(
            "the worker's script and cache",
            r#"const script = await (await fetch('/sw.js')).text();
               const names = await caches.keys();
               const cache = await caches.open(`clavox-${arguments[0]}`);
               const page = await cache.match('/');
               const files = (await cache.keys()).map((request) => new URL(request.url).pathname);
               return { script, names, page: page && await page.text(), files };"#,
            vec![json!(version)],
        )
        .await;
    let script = kept["script"].as_str().unwrap();
    assert!(
        script.contains(&format!("const VERSION = '{version}';")),
        "{script}"
    );
    assert_eq!(kept["names"], json!([format!("clavox-{version}")]));
    let page = kept["page"].as_str().expect("the page is kept");
    assert!(
        page.contains(&format!("/assets/{version}/js/main.js")),
        "{page}"
    );
    let files: Vec<&str> = kept["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for file in ["js/main.js", "js/i18n/id.js", "app.css", "offline.html"] {
        let path = format!("/assets/{version}/{file}");
        assert!(
            files.contains(&path.as_str()),
            "{path} is not kept: {files:?}"
        );
    }

    // The manifest's icons, and the one iOS takes from the page, load at the
    // sizes they claim.
    let icons = kim
        .eval_async(
            "the manifest and its icons",
            r#"const load = async (href) => {
                 const answer = await fetch(href);
                 const image = new Image();
                 image.src = href;
                 await image.decode();
                 return { status: answer.status, type: answer.headers.get('content-type'),
                          size: `${image.naturalWidth}x${image.naturalHeight}` };
               };
               const link = document.querySelector('link[rel="manifest"]');
               const answer = await fetch(link.href);
               const manifest = await answer.json();
               const icons = [];
               for (const icon of manifest.icons.filter((icon) => icon.type === 'image/png')) {
                 icons.push({ ...icon, ...await load(new URL(icon.src, link.href).href) });
               }
               const touch = await load(document.querySelector('link[rel="apple-touch-icon"]').href);
               return { type: answer.headers.get('content-type'), manifest, icons, touch };"#,
            vec![],
        )
        .await;
    assert_eq!(icons["type"], "application/manifest+json");
    assert_eq!(icons["manifest"]["display"], "standalone");
    assert_eq!(icons["manifest"]["start_url"], "/");
    let mut purposes = Vec::new();
    for icon in icons["icons"].as_array().unwrap() {
        assert_eq!(icon["status"], 200, "{icon}");
        assert_eq!(icon["type"], "image/png", "{icon}");
        assert_eq!(icon["size"], icon["sizes"], "{icon}");
        purposes.push(format!(
            "{} {}",
            icon["sizes"].as_str().unwrap(),
            icon["purpose"].as_str().unwrap()
        ));
    }
    for wanted in ["192x192 any", "512x512 any", "512x512 maskable"] {
        assert!(
            purposes.iter().any(|p| p == wanted),
            "no {wanted} icon: {purposes:?}"
        );
    }
    assert_eq!(icons["touch"]["status"], 200);
    assert_eq!(icons["touch"]["size"], "180x180");

    // Chromium itself finds nothing missing for installing the app.
    let installability = kim.cdp("Page.getInstallabilityErrors", json!({})).await;
    assert_eq!(
        installability["installabilityErrors"],
        json!([]),
        "{installability}"
    );

    // Chromium offers to install the app (`beforeinstallprompt`), and the
    // bar shows "Install app".
    let install_shown = r#"const button = document.querySelector(arguments[0]);
                           return Boolean(button) && !button.hidden === arguments[1];"#;
    kim.wait_js(
        "the install button",
        install_shown,
        vec![json!(testid("install-app")), json!(true)],
    )
    .await;
    kim.screenshot("install-app-phone.png").await;
    // Pressing it opens the browser's install dialog, which a test cannot
    // answer; so the test stands in for the browser's offer with one whose
    // dialog it can count.
    let offer = r#"const event = new Event('beforeinstallprompt');
                   event.prompt = async () => { window.installDialogs = (window.installDialogs || 0) + 1; };
                   event.userChoice = Promise.resolve({ outcome: 'accepted', platform: 'web' });
                   window.dispatchEvent(event);"#;
    kim.client
        .execute(offer, vec![])
        .await
        .expect("offer to install");
    kim.click("install-app").await;
    kim.wait_js(
        "the browser's install dialog, and the button gone",
        &format!("return window.installDialogs === 1 && (() => {{ {install_shown} }})();"),
        vec![json!(testid("install-app")), json!(false)],
    )
    .await;
    // The profile offers it too, with a word on what installing does.
    kim.client
        .execute(offer, vec![])
        .await
        .expect("offer to install");
    kim.click("profile").await;
    kim.wait_js(
        "the install section of the profile",
        install_shown,
        vec![json!(testid("install-app-profile")), json!(true)],
    )
    .await;
    kim.client.back().await.expect("back to the list");

    // A new release is a new worker script. The server has only one, so the
    // test registers the same script under another address, which browsers
    // take for a new worker: it waits, and the app offers to switch.
    kim.eval_async(
        "a new worker to register",
        "await navigator.serviceWorker.register('/sw.js?release=next'); return true;",
        vec![],
    )
    .await;
    kim.wait_js(
        "the new-version prompt",
        r#"const prompt = document.querySelector('[data-testid="update-ready"]');
           return Boolean(prompt) && prompt.textContent.includes('A new version of Clavox is ready');"#,
        vec![],
    )
    .await;
    kim.screenshot("update-ready-phone.png").await;
    kim.client
        .execute("window.beforeTheUpdate = true;", vec![])
        .await
        .expect("mark the page");
    kim.click("update-ready-action").await;
    kim.wait_js(
        "a reload under the new worker",
        r#"const worker = navigator.serviceWorker.controller;
           return window.beforeTheUpdate === undefined && Boolean(worker)
               && worker.scriptURL.endsWith('/sw.js?release=next')
               && Boolean(document.querySelector('[data-testid="chat-list"]'));"#,
        vec![],
    )
    .await;
    // The reloaded app registers its worker at its own address again, which
    // the browser takes for one more new worker. Left waiting, it is offered
    // on the next visit, as soon as the page opens.
    kim.wait_js(
        "the worker at its own address to wait",
        r#"return navigator.serviceWorker.getRegistration().then((registration) =>
             Boolean(registration?.waiting) && registration.waiting.scriptURL.endsWith('/sw.js'));"#,
        vec![],
    )
    .await;
    kim.client.refresh().await.expect("the next visit");
    kim.click("update-ready-action").await;
    kim.wait_js(
        "the worker at its own address in control, and no prompt",
        r#"const worker = navigator.serviceWorker.controller;
           return Boolean(worker) && worker.scriptURL.endsWith('/sw.js')
               && Boolean(document.querySelector('[data-testid="chat-list"]'))
               && !document.querySelector('[data-testid="update-ready"]');"#,
        vec![],
    )
    .await;

    // Safari on an iPhone has no install event: the app says where "Add to
    // Home Screen" is, in a hint that stays away once dismissed, and in the
    // profile.
    let ina = driver.open_with("ina", PHONE_SIZE, &[IPHONE_SAFARI]).await;
    ina.sign_in(&app, &ina_phone, "Ina Wijaya", None).await;
    ina.wait_js(
        "the home screen hint",
        r#"const hint = document.querySelector('[data-testid="home-screen-hint"]');
           return Boolean(hint) && hint.textContent.includes('“Add to Home Screen” from the Share menu');"#,
        vec![],
    )
    .await;
    ina.screenshot("home-screen-hint-phone.png").await;
    ina.click("home-screen-hint-close").await;
    ina.client.refresh().await.expect("the next visit");
    ina.click("profile").await;
    ina.wait_js(
        "the profile's word on installing, and no hint",
        r#"const profile = document.querySelector('.panel');
           return Boolean(profile) && profile.textContent.includes('Add to Home Screen')
               && !document.querySelector('[data-testid="home-screen-hint"]')
               && !document.querySelector('[data-testid="install-app-profile"]');"#,
        vec![],
    )
    .await;
    ina.assert_clean_console().await;
    ina.close().await;

    // On a LAN name over plain http there is no service worker and no
    // microphone: the app works all the same, and the microphone button
    // explains that voice messages need the HTTPS address.
    let lan = driver.open_with("lan", PHONE_SIZE, &[LAN_NAME]).await;
    let lan_url = format!("http://lan.test:{}/", app.address.port());
    lan.sign_in_at(&lan_url, &app, &lan_phone, "Lani Putri", None)
        .await;
    lan.wait_js(
        "a page that is not a secure context",
        r#"return window.isSecureContext === false && !('serviceWorker' in navigator)
               && !navigator.mediaDevices;"#,
        vec![],
    )
    .await;
    lan.click("new-chat").await;
    lan.type_into("new-chat-phone", &kim_phone).await;
    lan.click("new-chat-start").await;
    lan.open_chat_id().await;
    lan.click("record").await;
    lan.wait_js(
        "the advice to use the secure address",
        r#"const sheet = document.querySelector('[data-testid="voice-needs-https"]');
           const link = sheet && sheet.querySelector('[data-testid="voice-join"]');
           return Boolean(link) && sheet.open && link.getAttribute('href') === '/join'
               && sheet.textContent.includes('https://');"#,
        vec![],
    )
    .await;
    lan.screenshot("voice-needs-https-phone.png").await;

    kim.assert_clean_console().await;
    // The server's Cross-Origin-Opener-Policy means nothing on plain http,
    // and Chromium says so.
    lan.assert_clean_console_but(&["Cross-Origin-Opener-Policy header has been ignored"])
        .await;
    lan.close().await;

    // With the server gone the app still opens, from the worker's cache,
    // signed in and saying the server cannot be reached; a page only the
    // server has is the offline page.
    let join = app.url("/join");
    app.stop().await;
    kim.client
        .refresh()
        .await
        .expect("reload without the server");
    kim.wait_js(
        "the kept app, saying the server is unreachable",
        r#"const list = document.querySelector('[data-testid="chat-list"]');
           const banner = document.querySelector('[data-testid="connection-banner"]');
           return Boolean(list) && list.getClientRects().length > 0 && Boolean(banner) && !banner.hidden;"#,
        vec![],
    )
    .await;
    kim.screenshot("offline-app-phone.png").await;
    kim.client
        .goto(&join)
        .await
        .expect("the join page without the server");
    kim.wait_js(
        "the offline page",
        r#"const page = document.querySelector('[data-testid="offline"]');
           return Boolean(page) && page.textContent.includes('You are offline')
               && getComputedStyle(page).display === 'flex';"#,
        vec![],
    )
    .await;
    kim.screenshot("offline-page-phone.png").await;
    kim.close().await;
}

/// A person on the LAN opens the plain address, lands on `/join`, trusts
/// the server's authority the way that page says (here: Chromium's NSS
/// store, what "import it under Certificates → Authorities" fills), and
/// follows the secure address: a secure context, where the service worker
/// installs and the microphone records a voice message.
#[tokio::test]
async fn over_https_with_the_authority_trusted_the_app_installs_and_records_voice() {
    let Some(certutil) = find_program("certutil") else {
        assert!(
            std::env::var_os("CLAVOX_REQUIRE_BROWSER").is_none(),
            "CLAVOX_REQUIRE_BROWSER is set but certutil is missing (apt-get install libnss3-tools)"
        );
        eprintln!("skipped: install libnss3-tools to run the HTTPS browser test");
        return;
    };
    let app = TestApp::spawn_with_https().await;
    let https_port = app.https.expect("an HTTPS port").port();
    let home = TempDir::new().unwrap();
    let store = home.path().join(".pki/nssdb");
    std::fs::create_dir_all(&store).unwrap();
    let database = format!("sql:{}", store.display());
    let authority = app.data_dir().join("tls-ca.pem");
    for args in [
        vec!["-N", "-d", &database, "--empty-password"],
        vec![
            "-A",
            "-d",
            &database,
            "-n",
            "Clavox",
            "-t",
            "C,,",
            "-i",
            authority.to_str().unwrap(),
        ],
    ] {
        let status = Command::new(&certutil).args(&args).status().unwrap();
        assert!(status.success(), "certutil {args:?}");
    }
    let Some(driver) = Driver::start_at_home(Some(home.path())).await else {
        return;
    };
    // clavox.local as mDNS would resolve it: not a loopback name, so plain
    // HTTP there is no secure context.
    let mut switches = vec!["--host-resolver-rules=MAP clavox.local 127.0.0.1"];
    switches.extend(FAKE_MICROPHONE);
    let lia = driver.open_with("lia", PHONE_SIZE, &switches).await;
    lia.client
        .goto(&format!("http://clavox.local:{}/", app.address.port()))
        .await
        .unwrap();
    lia.wait_js(
        "the join page in place of the app",
        r#"return location.pathname === '/join' && Boolean(document.getElementById('secure-address'));"#,
        vec![],
    )
    .await;
    lia.screenshot("join-phone.png").await;
    lia.client
        .goto(&format!(
            "http://clavox.local:{}/join?lang=id",
            app.address.port()
        ))
        .await
        .unwrap();
    lia.wait_js(
        "the join page in Indonesian",
        "return document.documentElement.lang === 'id';",
        vec![],
    )
    .await;
    lia.screenshot("join-id-phone.png").await;
    let address = lia
        .wait_js(
            "the secure address",
            "return document.getElementById('secure-address').getAttribute('href');",
            vec![],
        )
        .await;
    let secure = format!("https://clavox.local:{https_port}/");
    assert_eq!(address, json!(secure));

    let lia_phone = phone(7401);
    let friend = app.login(&phone(7402)).await;
    lia.sign_in_at(&secure, &app, &lia_phone, "Lia Kusuma", None)
        .await;
    lia.wait_js(
        "a secure context with the service worker in control",
        r#"const worker = navigator.serviceWorker && navigator.serviceWorker.controller;
           return window.isSecureContext && location.protocol === 'https:'
               && Boolean(worker) && worker.state === 'activated';"#,
        vec![],
    )
    .await;
    lia.click("new-chat").await;
    lia.type_into("new-chat-phone", &friend.phone).await;
    lia.click("new-chat-start").await;
    lia.open_chat_id().await;
    lia.click("record").await;
    lia.wait_recording(1200).await;
    lia.click("record-send").await;
    lia.wait_js(
        "the voice message stored",
        r#"const m = document.querySelector('[data-testid="message"][data-own="true"]');
           return Boolean(m) && Boolean(m.dataset.seq) && Boolean(m.querySelector('[data-testid="voice"] audio'));"#,
        vec![],
    )
    .await;
    lia.screenshot("https-voice-phone.png").await;
    lia.assert_clean_console().await;
    lia.close().await;
}

/// The start-up banner as a terminal shows it: the addresses, the HTTPS
/// address, the authority's fingerprint and the QR code a phone scans.
#[tokio::test]
async fn the_banner_shows_the_secure_address_and_a_scannable_qr_code() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let mut server = crate::support::process::Server::start(dir.path());
    // The QR code's last row is its bottom margin: half blocks only.
    server.wait_for_line("▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀");
    let escape = |line: &str| line.replace('&', "&amp;").replace('<', "&lt;");
    let lines: Vec<String> = server.seen.iter().map(|line| escape(line)).collect();
    let page = dir.path().join("banner.html");
    std::fs::write(
        &page,
        format!(
            "<!doctype html><meta charset=utf-8><body style=\"margin:0;background:#1e1e1e\">\
             <pre style=\"color:#e6e6e6;font:13px/1.0 'DejaVu Sans Mono',monospace;padding:12px;margin:0\">{}</pre>",
            lines.join("\n")
        ),
    )
    .unwrap();
    let terminal = driver.open("terminal", (1320, 560)).await;
    terminal
        .client
        .goto(&format!("file://{}", page.display()))
        .await
        .unwrap();
    let text = terminal
        .wait_js(
            "the banner",
            "return document.querySelector('pre').textContent;",
            vec![],
        )
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("https:") && text.contains("CA SHA-256:") && text.contains("scan to open")
    );
    terminal.screenshot("banner.png").await;
    terminal.close().await;
}

/// Notifications from the web app's side. Not on the first visit, but once
/// a chat has been opened, the list offers them; turned on, the browser's
/// subscription reaches the server, which pushes to it once the page says
/// it is hidden and not while it is in view. The service worker shows a
/// push as the chat's notification unless that chat is on screen, and the
/// app opens the chat it names. The unread count is in the title and on
/// the app's badge; a muted chat shows so in the list and on the server;
/// the tone plays for chats not on screen; the settings show the ntfy link
/// with its QR code and make a new one; signing out takes the subscription
/// back. On plain http the offer explains that it needs the secure address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_offered_once_a_chat_is_opened_pushed_while_away_shown_by_the_worker_and_open_the_chat()
 {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let push_service = PushService::spawn().await;
    let allowed = format!("127.0.0.1:{}", push_service.port);
    let app = TestApp::spawn_with(&[("--push-allowed-hosts", allowed.as_str())]).await;
    let origin = app.url("");
    let budi = app.login(&phone(7501)).await;
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            "/api/users/profile",
            Some(&budi.access),
            Some(json!({ "name": "Budi Santoso" })),
        )
        .await;
    assert!(status.is_success());

    let ana = driver.open("ana", PHONE_SIZE).await;
    let endpoint = format!("http://127.0.0.1:{}/push/ana", push_service.port);
    ana.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": PAGE_STAND_INS.replace("%ENDPOINT%", &endpoint) }),
    )
    .await;
    ana.sign_in(&app, &phone(7502), "Ana Wijaya", None).await;
    // The first visit asks nothing; the socket said the page is in view.
    ana.wait_js(
        "the socket to say the page is in view",
        "return window.testVisibility.length > 0 && window.testVisibility.at(-1) === true;",
        vec![],
    )
    .await;
    let offer_shown = r#"const offer = document.querySelector('[data-testid="push-offer"]');
                         return Boolean(offer) && !offer.hidden === arguments[0];"#;
    ana.wait_js(
        "no offer on the first visit",
        offer_shown,
        vec![json!(false)],
    )
    .await;
    let (ana_token, ana_id) = ana.session().await;

    // A message from Budi: one unread, in the title and on the badge.
    let (status, chat) = app
        .post(
            "/api/chats",
            &budi.access,
            json!({ "type": "private", "participants": [ana_id] }),
        )
        .await;
    assert!(status.is_success(), "{chat}");
    let chat = chat["id"].as_str().unwrap().to_owned();
    app.send_message(&budi, &chat, "Halo Ana!").await;
    let counted =
        r#"return document.title === arguments[0] && window.testBadges.at(-1) === arguments[1];"#;
    ana.wait_js(
        "one unread in the title and on the badge",
        counted,
        vec![json!("(1) Clavox"), json!(1)],
    )
    .await;
    app.send_message(&budi, &chat, "Ada kabar?").await;
    ana.wait_js("two unread", counted, vec![json!("(2) Clavox"), json!(2)])
        .await;
    let row = format!("[data-chat-id=\"{chat}\"]");
    ana.click_css(&row).await;
    ana.open_chat_id().await;
    ana.wait_js(
        "no unread once the chat is read",
        counted,
        vec![json!("Clavox"), json!(0)],
    )
    .await;

    // Back on the list after opening a chat, the offer shows.
    ana.click("back").await;
    ana.wait_js("the offer", offer_shown, vec![json!(true)])
        .await;
    assert_eq!(
        ana.client
            .execute("return Notification.permission;", vec![])
            .await
            .unwrap(),
        json!("default")
    );
    ana.screenshot("notifications-offer-phone.png").await;

    // Allowed (the browser's question answered "Allow"), the subscription
    // is made with the server's key and handed to the server.
    ana.cdp(
        "Browser.grantPermissions",
        json!({ "origin": origin, "permissions": ["notifications"] }),
    )
    .await;
    ana.click("push-offer-enable").await;
    ana.wait_js(
        "the subscription made and sent, the offer gone",
        r#"const offer = document.querySelector('[data-testid="push-offer"]');
           return window.testSubscribes === 1 && window.testPushPosts === 1 && Boolean(offer) && offer.hidden
               && Boolean(localStorage.getItem('test.subscription'));"#,
        vec![],
    )
    .await;

    // In view, no push; hidden, Budi's next message is pushed to the
    // stand-in push service, which proves the server keeps the subscription.
    app.send_message(&budi, &chat, "Kamu lihat ini?").await;
    ana.wait_js(
        "the message in the list",
        "return document.querySelector(arguments[0]).textContent.includes('Kamu lihat ini?');",
        vec![json!(row)],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ana.client
        .execute(SET_HIDDEN, vec![json!(true)])
        .await
        .expect("the page hides");
    ana.wait_js(
        "the socket to say the page is hidden",
        "return window.testVisibility.at(-1) === false;",
        vec![],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.send_message(&budi, &chat, "Ke mana?").await;
    push_service.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(push_service.hits(), vec!["/push/ana".to_owned()]);
    ana.client
        .execute(SET_HIDDEN, vec![json!(false)])
        .await
        .expect("the page shows");
    ana.wait_js(
        "the socket to say the page is in view again",
        "return window.testVisibility.at(-1) === true;",
        vec![],
    )
    .await;

    // Each start sends the browser's subscription again, without making a
    // new one.
    ana.client.refresh().await.expect("reload");
    ana.wait_js(
        "the kept subscription sent again",
        "return window.testPushPosts === 1 && window.testSubscribes === 0;",
        vec![],
    )
    .await;

    // A push reaches the service worker (delivered through DevTools, as a
    // push service would): not shown while its chat is on screen...
    let mut devtools = DevTools::attach(&ana, &origin).await;
    devtools.call("ServiceWorker.enable", json!({})).await;
    let scope = app.url("/");
    let registration = devtools
        .event("the service worker's registration", |event| {
            event["method"] == "ServiceWorker.workerRegistrationUpdated"
                && event["params"]["registrations"]
                    .as_array()
                    .is_some_and(|list| {
                        list.iter()
                            .any(|r| r["scopeURL"] == scope.as_str() && r["isDeleted"] == false)
                    })
        })
        .await;
    let registration_id = registration["params"]["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scopeURL"] == scope.as_str())
        .unwrap()["registrationId"]
        .as_str()
        .unwrap()
        .to_owned();
    // A push delivered before the worker is active may be dropped, so wait
    // for it (a loaded machine can still be starting it after the reload).
    devtools
        .event("the service worker's active version", |event| {
            event["method"] == "ServiceWorker.workerVersionUpdated"
                && event["params"]["versions"].as_array().is_some_and(|list| {
                    list.iter().any(|v| {
                        v["registrationId"] == registration_id.as_str()
                            && v["status"] == "activated"
                    })
                })
        })
        .await;
    let push = |chat_id: &str, body: &str| {
        json!({
            "origin": origin,
            "registrationId": registration_id,
            "data": json!({ "chatId": chat_id, "seq": 9, "title": "Budi Santoso", "body": body,
                            "url": format!("/chats/{chat_id}") }).to_string(),
        })
    };
    ana.click_css(&row).await;
    ana.open_chat_id().await;
    ana.wait_chat_on_screen(Some(&chat)).await;
    devtools
        .call(
            "ServiceWorker.deliverPushMessage",
            push(&chat, "Sudah dibaca"),
        )
        .await;
    let elsewhere = "6b0aae898119ca3816709099";
    devtools
        .call(
            "ServiceWorker.deliverPushMessage",
            push(elsewhere, "Dari grup lain"),
        )
        .await;
    ana.wait_notifications(elsewhere).await;
    let none = ana
        .eval_async(
            "the notifications shown",
            SHOWN_NOTIFICATIONS,
            vec![json!(chat)],
        )
        .await;
    assert_eq!(none, json!([]), "a push for the chat on screen was shown");

    // ...shown with the chat's tag, text, icon and address once it is not
    // (the worker asks the page which chat it shows: push once it shows none).
    ana.click("back").await;
    ana.wait_chat_on_screen(None).await;
    devtools
        .call(
            "ServiceWorker.deliverPushMessage",
            push(&chat, "Halo dari Budi"),
        )
        .await;
    let shown = ana.wait_notifications(&chat).await;
    let shown = &shown[0];
    assert_eq!(shown["title"], "Budi Santoso", "{shown}");
    assert_eq!(shown["body"], "Halo dari Budi", "{shown}");
    assert_eq!(shown["renotify"], true, "{shown}");
    assert_eq!(shown["url"], format!("/chats/{chat}"), "{shown}");
    assert!(
        shown["icon"]
            .as_str()
            .is_some_and(|icon| icon.ends_with("/icons/icon-192.png")),
        "{shown}"
    );

    // Pressing it: the worker tells the open app which chat to show, and
    // the app opens it (and takes the chat's notification away).
    ana.client
        .execute(
            r"navigator.serviceWorker.dispatchEvent(new MessageEvent('message', {
                data: { type: 'open-chat', chatId: arguments[0], url: `/chats/${arguments[0]}` } }));",
            vec![json!(chat)],
        )
        .await
        .expect("the worker's message");
    assert_eq!(ana.open_chat_id().await, chat);
    let cleared = r"return (async () => {
        const registration = await navigator.serviceWorker.ready;
        return (await registration.getNotifications({ tag: arguments[0] })).length === 0;
      })();";
    ana.wait_js(
        "the chat's notification taken away",
        cleared,
        vec![json!(chat)],
    )
    .await;
    // With no window open, the worker opens the push's address.
    ana.client
        .goto(&app.url(&format!("/chats/{chat}")))
        .await
        .expect("the notification's address");
    assert_eq!(ana.open_chat_id().await, chat);
    assert_eq!(ana.path().await, format!("/chat/{chat}"));

    // Muted from the chat's info: the list marks it, the server knows.
    ana.click("group-info").await;
    ana.wait_text("mute-toggle", "Mute notifications").await;
    ana.click("mute-toggle").await;
    ana.wait_text("mute-toggle", "Unmute notifications").await;
    ana.screenshot("chat-info-muted-phone.png").await;
    let muted_on_server = |token: String, chat: String| {
        let app = &app;
        async move {
            let (status, body) = app.get("/api/chats", &token).await;
            assert!(status.is_success(), "{body}");
            body["chats"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == chat.as_str())
                .unwrap()["muted"]
                .clone()
        }
    };
    assert_eq!(
        muted_on_server(ana_token.clone(), chat.clone()).await,
        json!(true)
    );
    ana.client.goto(&app.url("/")).await.expect("the list");
    app.send_message(&budi, &chat, "Sepi sekali").await;
    let muted_row = r#"const row = document.querySelector(arguments[0]);
                       return Boolean(row) && Boolean(row.querySelector('[data-testid="muted"]')) === arguments[1]
                           && (!arguments[1] || Boolean(row.querySelector('[data-testid="unread"].quiet')));"#;
    ana.wait_js(
        "the muted mark and a quiet count",
        muted_row,
        vec![json!(row), json!(true)],
    )
    .await;
    ana.screenshot("muted-chat-phone.png").await;
    ana.client
        .goto(&app.url(&format!("/chat/{chat}/info")))
        .await
        .expect("the chat's info");
    ana.click("mute-toggle").await;
    ana.wait_text("mute-toggle", "Mute notifications").await;
    assert_eq!(
        muted_on_server(ana_token.clone(), chat.clone()).await,
        json!(false)
    );
    ana.client.goto(&app.url("/")).await.expect("the list");
    ana.wait_js("no muted mark", muted_row, vec![json!(row), json!(false)])
        .await;

    // The settings: push on, the tone switched on (and played for a chat
    // not on screen), the ntfy link with its QR code.
    ana.click("profile").await;
    ana.wait_js(
        "notifications on",
        r#"const status = document.querySelector('[data-testid="push-status"]');
           return Boolean(status) && status.dataset.status === 'on' && status.textContent === 'On';"#,
        vec![],
    )
    .await;
    ana.click("sound-switch").await;
    ana.wait_js(
        "the tone switched on",
        "return localStorage.getItem('clavox.sound') === 'on';",
        vec![],
    )
    .await;
    let tones = ana
        .client
        .execute("return window.testTones;", vec![])
        .await
        .unwrap();
    app.send_message(&budi, &chat, "Bunyi?").await;
    ana.wait_js(
        "a tone for the new message",
        "return window.testTones > arguments[0];",
        vec![tones],
    )
    .await;
    ana.click("ntfy-open").await;
    // The page's question made the topic; the server now gives the same.
    ana.wait_js(
        "a link for the ntfy app",
        r#"return document.querySelector('[data-testid="ntfy-url"]').value !== '';"#,
        vec![],
    )
    .await;
    let (_, topic) = app.get("/api/notify/topic", &ana_token).await;
    let ntfy_shown = r#"const qr = document.querySelector('[data-testid="ntfy-qr"]');
                        const url = document.querySelector('[data-testid="ntfy-url"]');
                        const svg = qr && qr.querySelector('svg');
                        return Boolean(svg) && Boolean(svg.querySelector('path, rect')) && !svg.querySelector('script')
                            && svg.getBoundingClientRect().width >= 150
                            && url.value === arguments[0] && qr.dataset.url === arguments[0];"#;
    ana.wait_js(
        "the ntfy link and its QR code",
        ntfy_shown,
        vec![topic["url"].clone()],
    )
    .await;
    ana.client
        .execute(
            "document.querySelector('[data-testid=\"ntfy\"]').scrollIntoView({ block: 'start' });",
            vec![],
        )
        .await
        .unwrap();
    ana.screenshot("notifications-settings-phone.png").await;
    let old_qr = ana
        .client
        .execute(
            "return document.querySelector('[data-testid=\"ntfy-qr\"] svg').outerHTML;",
            vec![],
        )
        .await
        .unwrap();
    ana.click("ntfy-replace").await;
    ana.client
        .accept_alert()
        .await
        .expect("the question whether to make a new link");
    ana.wait_js(
        "a new link",
        r#"const url = document.querySelector('[data-testid="ntfy-url"]');
           const svg = document.querySelector('[data-testid="ntfy-qr"] svg');
           return url.value !== arguments[0] && Boolean(svg) && svg.outerHTML !== arguments[1];"#,
        vec![topic["url"].clone(), old_qr],
    )
    .await;
    let (_, replaced) = app.get("/api/notify/topic", &ana_token).await;
    assert_ne!(replaced["url"], topic["url"]);
    ana.wait_js(
        "the new link shown",
        ntfy_shown,
        vec![replaced["url"].clone()],
    )
    .await;

    // Turned off here, the subscription goes; on again, it comes back;
    // signing out takes it back.
    ana.click("push-toggle").await;
    ana.wait_js(
        "notifications off",
        r#"return document.querySelector('[data-testid="push-status"]').dataset.status === 'off'
               && !localStorage.getItem('test.subscription');"#,
        vec![],
    )
    .await;
    ana.click("push-toggle").await;
    ana.wait_js(
        "notifications on again",
        r#"return document.querySelector('[data-testid="push-status"]').dataset.status === 'on'
               && Boolean(localStorage.getItem('test.subscription'));"#,
        vec![],
    )
    .await;
    ana.click("logout").await;
    ana.wait_js(
        "signed out, the subscription taken back",
        r#"return Boolean(document.querySelector('[data-testid="phone-input"]'))
               && !localStorage.getItem('test.subscription') && document.title === 'Clavox';"#,
        vec![],
    )
    .await;
    ana.assert_clean_console().await;
    ana.close().await;

    // On plain http the offer explains that notifications need the secure
    // address.
    let lani = driver.open_with("lani", PHONE_SIZE, &[LAN_NAME]).await;
    let lan_url = format!("http://lan.test:{}/", app.address.port());
    lani.sign_in_at(&lan_url, &app, &phone(7503), "Lani Putri", None)
        .await;
    let (_, lani_id) = lani.session().await;
    let (status, lan_chat) = app
        .post(
            "/api/chats",
            &budi.access,
            json!({ "type": "private", "participants": [lani_id] }),
        )
        .await;
    assert!(status.is_success(), "{lan_chat}");
    let lan_row = format!("[data-chat-id=\"{}\"]", lan_chat["id"].as_str().unwrap());
    lani.click_css(&lan_row).await;
    lani.open_chat_id().await;
    lani.click("back").await;
    lani.wait_js("the offer", offer_shown, vec![json!(true)])
        .await;
    lani.click("push-offer-enable").await;
    lani.wait_js(
        "the advice to use the secure address",
        r#"const sheet = document.querySelector('[data-testid="push-needs-https"]');
           const link = sheet && sheet.querySelector('[data-testid="push-join"]');
           return Boolean(link) && sheet.open && link.getAttribute('href') === '/join'
               && sheet.textContent.includes('https://');"#,
        vec![],
    )
    .await;
    lani.screenshot("notifications-need-https-phone.png").await;
    lani.assert_clean_console_but(&["Cross-Origin-Opener-Policy header has been ignored"])
        .await;
    lani.close().await;
}

// ---------------------------------------------------------------------------
// chromedriver and browser sessions
// ---------------------------------------------------------------------------

/// A chromedriver child process on a free port of 127.0.0.1. Dropping it ends
/// the browser sessions still open (a failed test leaves no Chromium behind),
/// kills chromedriver and deletes the browser profiles.
struct Driver {
    process: Child,
    port: u16,
    sessions: Mutex<Vec<String>>,
    profiles: Mutex<Vec<TempDir>>,
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

impl Driver {
    /// Starts chromedriver, or returns `None` (after saying so) when the
    /// browser is not installed and the environment does not require it.
    async fn start() -> Option<Self> {
        Self::start_at_home(None).await
    }

    /// [`Driver::start`], with `home` as the browsers' home directory (where
    /// Chromium on Linux keeps its certificate store, `.pki/nssdb`).
    async fn start_at_home(home: Option<&Path>) -> Option<Self> {
        let chromedriver = find_program("chromedriver");
        let chromium = Path::new(CHROMIUM).is_file();
        let Some(chromedriver) = chromedriver.filter(|_| chromium) else {
            assert!(
                std::env::var_os("CLAVOX_REQUIRE_BROWSER").is_none(),
                "CLAVOX_REQUIRE_BROWSER is set but chromedriver or {CHROMIUM} is missing: \
                 {INSTALL_HINT} (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: install chromium chromium-driver to run the browser test");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut command = Command::new(&chromedriver);
        if let Some(home) = home {
            command.env("HOME", home);
        }
        let process = command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("{} does not start: {err}", chromedriver.display()));
        let mut driver = Self {
            process,
            port,
            sessions: Mutex::new(Vec::new()),
            profiles: Mutex::new(Vec::new()),
        };
        driver.wait_ready().await;
        Some(driver)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.process.try_wait().expect("chromedriver status") {
                panic!("chromedriver exited at start: {status}");
            }
            let ready = client
                .get(format!("{}/status", self.url()))
                .send()
                .await
                .ok()
                .filter(|response| response.status().is_success());
            if let Some(response) = ready
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver was not ready within {WAIT:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// A fresh browser (own profile) whose viewport is `width`×`height`.
    async fn open(&self, name: &'static str, size: (u32, u32)) -> Browser {
        self.open_with(name, size, &[]).await
    }

    /// [`Driver::open`], with extra Chromium switches for this browser.
    async fn open_with(
        &self,
        name: &'static str,
        (width, height): (u32, u32),
        extra: &[&str],
    ) -> Browser {
        let profile = TempDir::new().expect("a profile directory");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={width},{height}"),
        ];
        args.extend(extra.iter().map(|&arg| arg.to_owned()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url())
            .await
            .unwrap_or_else(|err| panic!("{name}: no browser session: {err}"));
        let session = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session id");
        self.sessions.lock().unwrap().push(session.clone());
        self.profiles.lock().unwrap().push(profile);
        let browser = Browser {
            client,
            name,
            session,
            driver: self.url(),
        };
        browser.fit_viewport(width, height).await;
        browser
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Blocking and runtime-free on purpose: this may run while unwinding.
        for session in self.sessions.lock().unwrap().drain(..) {
            let _ = delete_session(self.port, &session);
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// `DELETE /session/<id>` over a plain socket: closes that browser.
fn delete_session(port: u16, session: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map(drop)
}

/// One person's browser.
struct Browser {
    client: Client,
    name: &'static str,
    session: String,
    driver: String,
}

fn testid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

/// What a polled script returned that counts as "not yet".
fn falsy(value: &Value) -> bool {
    matches!(value, Value::Null | Value::Bool(false))
        || value.as_str() == Some("")
        || value.as_f64() == Some(0.0)
}

impl Browser {
    /// Makes the page area (not the window) exactly `width`×`height`.
    async fn fit_viewport(&self, width: u32, height: u32) {
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .expect("viewport size");
        let (inner_w, inner_h) = (inner[0].as_u64().unwrap(), inner[1].as_u64().unwrap());
        if (inner_w, inner_h) == (u64::from(width), u64::from(height)) {
            return;
        }
        let (outer_w, outer_h) = self.client.get_window_size().await.expect("window size");
        let new_w = u64::from(width) + outer_w.saturating_sub(inner_w);
        let new_h = u64::from(height) + outer_h.saturating_sub(inner_h);
        self.client
            .set_window_size(u32::try_from(new_w).unwrap(), u32::try_from(new_h).unwrap())
            .await
            .expect("resize");
        self.wait_js(
            &format!("a {width}x{height} viewport"),
            "return window.innerWidth === arguments[0] && window.innerHeight === arguments[1];",
            vec![json!(width), json!(height)],
        )
        .await;
    }

    /// Polls `script` (a function body; `arguments` are `args`) until it
    /// returns something truthy, and returns that. Fails after [`WAIT`].
    async fn wait_js(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        self.poll_until(
            async || match self.client.execute(script, args.clone()).await {
                Ok(value) if !falsy(&value) => Ok(value),
                Ok(value) => Err(format!("returned {value}")),
                // A page in the middle of loading may refuse scripts.
                Err(err) => Err(format!("failed: {err}")),
            },
            async |last| format!("waited {WAIT:?} for {what}; the check last {last}"),
        )
        .await
    }

    /// Asks `check` every [`POLL`] until it answers `Ok`, and returns that.
    /// After [`WAIT`] the test fails with what `failure` makes of the last
    /// answer, and a screenshot.
    async fn poll_until<T>(
        &self,
        mut check: impl AsyncFnMut() -> Result<T, String>,
        failure: impl AsyncFnOnce(String) -> String,
    ) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = match check().await {
                Ok(value) => return value,
                Err(last) => last,
            };
            if Instant::now() >= deadline {
                let shot = self.save_failure_screenshot().await;
                let failure = failure(last).await;
                panic!("{}: {failure} (screenshot: {shot})", self.name);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn save_failure_screenshot(&self) -> String {
        let file = format!("failed-{}.png", self.name);
        match self.client.screenshot().await {
            Ok(png) => {
                let path = screenshot_dir().join(file);
                let _ = std::fs::write(&path, png);
                path.display().to_string()
            }
            Err(err) => format!("none: {err}"),
        }
    }

    /// The element with this `data-testid`, if there is one now.
    async fn query(&self, id: &str) -> Option<Element> {
        self.client.find(Locator::Css(&testid(id))).await.ok()
    }

    /// Clicks the element matching `css` once it is there and clickable
    /// (retrying while it is re-rendered or covered for a moment).
    async fn click_css(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let error = match self.client.find(Locator::Css(css)).await {
                Ok(element) => match element.click().await {
                    Ok(()) => return,
                    Err(err) => err.to_string(),
                },
                Err(err) => err.to_string(),
            };
            if Instant::now() >= deadline {
                let shot = self.save_failure_screenshot().await;
                panic!(
                    "{}: could not click {css} within {WAIT:?}: {error} (screenshot: {shot})",
                    self.name
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn click(&self, id: &str) {
        self.click_css(&testid(id)).await;
    }

    /// Dismisses the "signing in on another device?" sheet that a sign-in
    /// of this browser's user elsewhere (a test's API login) brings up, as
    /// its owner would. The sheet comes only if the browser's socket was
    /// connected when the code went out, so a few seconds without one mean
    /// there is none to dismiss.
    async fn dismiss_login_code(&self) {
        let shown = "return Boolean(document.querySelector('[data-testid=\"login-code\"]'));";
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(value) = self.client.execute(shown, vec![]).await
                && !falsy(&value)
            {
                self.click("login-code-dismiss").await;
                self.wait_js(
                    "the sign-in code sheet gone",
                    &shown.replace("return Boolean(", "return !("),
                    vec![],
                )
                .await;
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Types `text` as key presses into the element with this `data-testid`.
    async fn type_into(&self, id: &str, text: &str) {
        let css = testid(id);
        let deadline = Instant::now() + WAIT;
        loop {
            let error = match self.client.find(Locator::Css(&css)).await {
                Ok(element) => match element.send_keys(text).await {
                    Ok(()) => return,
                    Err(err) => err.to_string(),
                },
                Err(err) => err.to_string(),
            };
            if Instant::now() >= deadline {
                let shot = self.save_failure_screenshot().await;
                panic!(
                    "{}: could not type into {id} within {WAIT:?}: {error} (screenshot: {shot})",
                    self.name
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Hands a file to the composer's file picker, as choosing it would.
    async fn attach(&self, path: &Path) {
        let input = self
            .client
            .find(Locator::Css(&testid("attach-input")))
            .await
            .expect("the composer's file input");
        input
            .send_keys(path.to_str().unwrap())
            .await
            .expect("the file is chosen");
    }

    async fn wait_text(&self, id: &str, text: &str) {
        self.wait_js(
            &format!("{id} to read {text:?}"),
            "const el = document.querySelector(arguments[0]); return Boolean(el) && el.textContent.trim() === arguments[1];",
            vec![json!(testid(id)), json!(text)],
        )
        .await;
    }

    async fn wait_text_in(&self, id: &str, text: &str) {
        self.wait_js(
            &format!("{id} to contain {text:?}"),
            "const el = document.querySelector(arguments[0]); return Boolean(el) && el.textContent.includes(arguments[1]);",
            vec![json!(testid(id)), json!(text)],
        )
        .await;
    }

    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        url.path().to_owned()
    }

    /// Waits for the conversation route and returns its chat id.
    async fn open_chat_id(&self) -> String {
        let id = self
            .wait_js(
                "a conversation to open",
                r#"const m = location.pathname.match(/^\/chat\/([0-9a-f]{24})$/);
                   return m && document.querySelector('[data-testid="composer"]') ? m[1] : null;"#,
                vec![],
            )
            .await;
        id.as_str().unwrap().to_owned()
    }

    /// Waits for a message containing `text` (own or someone else's) and
    /// returns its `seq` and `status` as the page shows them.
    async fn wait_message(&self, text: &str, own: bool) -> Value {
        let who = if own { "own" } else { "incoming" };
        self.wait_js(
            &format!("the {who} message {text:?}"),
            r#"const m = [...document.querySelectorAll('[data-testid="message"]')]
                 .find((m) => m.dataset.own === arguments[1] && m.dataset.seq && m.textContent.includes(arguments[0]));
               return m ? { seq: m.dataset.seq, status: m.dataset.status ?? null } : null;"#,
            vec![json!(text), json!(own.to_string())],
        )
        .await
    }

    async fn status_of(&self, text: &str) -> String {
        let message = self.wait_message(text, true).await;
        message["status"].as_str().unwrap_or_default().to_owned()
    }

    async fn wait_status(&self, text: &str, status: &str) {
        self.wait_js(
            &format!("the own message {text:?} to be {status}"),
            r#"return [...document.querySelectorAll('[data-testid="message"][data-own="true"]')]
                 .some((m) => m.textContent.includes(arguments[0]) && m.dataset.status === arguments[1]);"#,
            vec![json!(text), json!(status)],
        )
        .await;
    }

    /// Waits until the "… is typing" line of the open conversation is shown
    /// (or hidden).
    async fn wait_typing(&self, shown: bool) {
        let what = if shown {
            "the other person to be shown typing"
        } else {
            "the typing line to go away"
        };
        self.wait_js(
            what,
            r#"const el = document.querySelector('[data-testid="typing"]');
               if (!el) return false;
               const visible = !el.hidden && el.getClientRects().length > 0 && el.textContent.trim() !== '';
               return visible === arguments[0];"#,
            vec![json!(shown)],
        )
        .await;
    }

    /// Waits until the voice recorder has been recording for `ms`.
    async fn wait_recording(&self, ms: u32) {
        self.wait_js(
            &format!("{ms} ms of recording"),
            r#"const bar = document.querySelector('[data-testid="recording"]');
               const time = document.querySelector('[data-testid="record-time"]');
               return Boolean(bar) && !bar.hidden && Number(time.dataset.ms) >= arguments[0];"#,
            vec![json!(ms)],
        )
        .await;
    }

    /// Answers this site's microphone permission with "denied", as a person
    /// who refused it would have (WebDriver's permissions extension).
    async fn deny_microphone(&self) {
        let url = format!("{}/session/{}/permissions", self.driver, self.session);
        let response = reqwest::Client::new()
            .post(url)
            .json(&json!({ "descriptor": { "name": "microphone" }, "state": "denied" }))
            .send()
            .await
            .expect("set permission");
        assert!(
            response.status().is_success(),
            "{}: the microphone permission was not set: {}",
            self.name,
            response.text().await.unwrap_or_default()
        );
    }

    /// The bubble of the message containing `text`, once it is there.
    async fn message_element(&self, text: &str) -> Element {
        self.wait_message_any(text).await;
        self.client
            .find(Locator::XPath(&format!(
                "//*[@data-testid='message' and @data-seq and contains(., '{text}')]"
            )))
            .await
            .expect("the message's bubble")
    }

    async fn wait_message_any(&self, text: &str) {
        self.wait_js(
            &format!("the message {text:?}"),
            r#"return [...document.querySelectorAll('[data-testid="message"]')]
                 .some((m) => m.dataset.seq && m.textContent.includes(arguments[0]));"#,
            vec![json!(text)],
        )
        .await;
    }

    /// Whether a message containing `text` is shown now.
    async fn query_text(&self, text: &str) -> Option<()> {
        let found = self
            .client
            .execute(
                r#"return [...document.querySelectorAll('[data-testid="message"]')]
                     .some((m) => m.textContent.includes(arguments[0]));"#,
                vec![json!(text)],
            )
            .await
            .expect("look for a message");
        (found == json!(true)).then_some(())
    }

    /// Opens the menu of the message containing `text` as a person would: a
    /// long press on a phone-sized screen; on a desktop, the button that
    /// shows on the bubble while the pointer is over it.
    async fn open_menu(&self, text: &str) {
        let bubble = self.message_element(text).await;
        let phone = self
            .client
            .execute("return window.innerWidth < 768;", vec![])
            .await
            .expect("the viewport width")
            == json!(true);
        if phone {
            let press = TouchActions::new("finger".to_owned())
                .then(PointerAction::MoveToElement {
                    element: bubble,
                    duration: None,
                    x: 0.0,
                    y: 0.0,
                })
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                })
                .pause(Duration::from_millis(800))
                .then(PointerAction::Up {
                    button: MOUSE_BUTTON_LEFT,
                });
            self.client
                .perform_actions(press)
                .await
                .expect("long press");
        } else {
            let hover = MouseActions::new("mouse".to_owned()).then(PointerAction::MoveToElement {
                element: bubble.clone(),
                duration: None,
                x: 0.0,
                y: 0.0,
            });
            self.client.perform_actions(hover).await.expect("hover");
            self.wait_js(
                "the menu button to show on the bubble",
                r#"const m = [...document.querySelectorAll('[data-testid="message"]')]
                     .find((m) => m.dataset.seq && m.textContent.includes(arguments[0]));
                   const button = m && m.querySelector('[data-testid="message-menu-button"]');
                   return Boolean(button) && getComputedStyle(button).opacity === '1';"#,
                vec![json!(text)],
            )
            .await;
            bubble
                .find(Locator::Css(&testid("message-menu-button")))
                .await
                .expect("the menu button")
                .click()
                .await
                .expect("the menu button is pressed");
        }
        let _ = self.client.release_actions().await;
        self.wait_js(
            "the message menu",
            r#"const menu = document.querySelector('[data-testid="message-menu"]');
               return Boolean(menu) && menu.open && Boolean(menu.querySelector('[data-testid="menu-reply"], [data-testid="menu-hide"]'));"#,
            vec![],
        )
        .await;
    }

    /// Waits for the message containing `text` to carry `emoji` with `count`
    /// reactions, pressed when one of them is this person's.
    async fn wait_reaction(&self, text: &str, emoji: &str, count: u32, mine: bool) {
        self.wait_js(
            &format!("{emoji} ×{count} under {text:?}"),
            r#"const m = [...document.querySelectorAll('[data-testid="message"]')]
                 .find((m) => m.dataset.seq && m.textContent.includes(arguments[0]));
               const chip = m && [...m.querySelectorAll('[data-testid="reaction"]')]
                 .find((c) => c.dataset.emoji === arguments[1]);
               return Boolean(chip) && chip.dataset.count === String(arguments[2])
                   && chip.getAttribute('aria-pressed') === String(arguments[3]);"#,
            vec![json!(text), json!(emoji), json!(count), json!(mine)],
        )
        .await;
    }

    /// Waits for a message reading `text` marked "edited".
    async fn wait_edited(&self, text: &str) {
        self.wait_js(
            &format!("the edited message {text:?}"),
            r#"return [...document.querySelectorAll('[data-testid="message"]')]
                 .some((m) => m.querySelector('.msg-text')?.textContent === arguments[0]
                     && Boolean(m.querySelector('[data-testid="edited"]')));"#,
            vec![json!(text)],
        )
        .await;
    }

    /// Waits for the message `seq` to show as deleted for everyone: no text,
    /// no reactions, no menu but "Delete for me".
    async fn wait_deleted(&self, seq: &str) {
        self.wait_js(
            &format!("message {seq} to show as deleted"),
            r#"const m = document.querySelector(`[data-testid="message"][data-seq="${arguments[0]}"]`);
               return Boolean(m) && m.dataset.deleted === 'true'
                   && Boolean(m.querySelector('[data-testid="deleted"]'))
                   && !m.querySelector('[data-testid="reactions"], [data-testid="quote"], img');"#,
            vec![json!(seq)],
        )
        .await;
    }

    /// Runs `body`, the body of an async function whose `arguments` are
    /// `args`, and returns what it resolves to; fails on a rejection.
    async fn eval_async(&self, what: &str, body: &str, args: Vec<Value>) -> Value {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             (async function () {{ {body} }}).apply(null, [...arguments].slice(0, -1))
               .then((value) => done({{ value }}), (error) => done({{ error: String(error) }}));"
        );
        let answer = self
            .client
            .execute_async(&script, args)
            .await
            .unwrap_or_else(|err| panic!("{}: {what}: {err}", self.name));
        assert!(
            answer["error"].is_null(),
            "{}: {what}: {}",
            self.name,
            answer["error"]
        );
        answer["value"].clone()
    }

    /// Runs a DevTools protocol command in this browser (chromedriver's
    /// `goog/cdp/execute`) and returns its result.
    async fn cdp(&self, command: &str, params: Value) -> Value {
        let url = format!("{}/session/{}/goog/cdp/execute", self.driver, self.session);
        let response = reqwest::Client::new()
            .post(url)
            .json(&json!({ "cmd": command, "params": params }))
            .send()
            .await
            .expect("a DevTools command");
        let status = response.status();
        let body: Value = response.json().await.expect("a DevTools answer in JSON");
        assert!(status.is_success(), "{}: {command}: {body}", self.name);
        body["value"].clone()
    }

    /// Takes this browser off the network, or puts it back (Chromium's
    /// network emulation): the page sees `offline` and `online` events.
    async fn set_offline(&self, offline: bool) {
        let url = format!(
            "{}/session/{}/chromium/network_conditions",
            self.driver, self.session
        );
        let response = reqwest::Client::new()
            .post(url)
            .json(&json!({ "network_conditions": {
                "offline": offline,
                "latency": 0,
                "download_throughput": -1,
                "upload_throughput": -1,
            }}))
            .send()
            .await
            .expect("set network conditions");
        assert!(
            response.status().is_success(),
            "{}: the network was not switched: {}",
            self.name,
            response.text().await.unwrap_or_default()
        );
    }

    /// Signs in through the UI as a new user called `name`; `screenshot`
    /// names a picture of the code step to save on the way.
    async fn sign_in(&self, app: &TestApp, phone: &str, name: &str, screenshot: Option<&str>) {
        self.sign_in_at(&app.url("/"), app, phone, name, screenshot)
            .await;
    }

    /// [`Browser::sign_in`] on the app at `url`, another name for `app`.
    async fn sign_in_at(
        &self,
        url: &str,
        app: &TestApp,
        phone: &str,
        name: &str,
        screenshot: Option<&str>,
    ) {
        self.client.goto(url).await.expect("the app loads");
        self.type_into("phone-input", phone).await;
        self.click("send-code").await;
        self.wait_js(
            "the code step",
            "return Boolean(document.querySelector('[data-testid=\"otp-input\"]'));",
            vec![],
        )
        .await;
        let deadline = Instant::now() + WAIT;
        let code = loop {
            if let Some(code) = app.codes.last_code(phone) {
                break code;
            }
            assert!(Instant::now() < deadline, "{}: no code was sent", self.name);
            tokio::time::sleep(POLL).await;
        };
        if let Some(file) = screenshot {
            self.screenshot(file).await;
        }
        self.type_into("otp-input", &code).await;
        self.click("verify-code").await;
        self.type_into("name-input", name).await;
        self.click("name-save").await;
        self.wait_js(
            "the chat list after signing in",
            r#"const list = document.querySelector('[data-testid="chat-list"]');
               return Boolean(list) && list.getClientRects().length > 0;"#,
            vec![],
        )
        .await;
    }

    async fn screenshot(&self, file: &str) {
        // Let fonts and images settle; the screenshot is for people to look at.
        self.wait_js(
            "the page to settle for a screenshot",
            r#"return document.fonts.status === 'loaded'
                   && [...document.images].every((img) => img.complete)
                   && document.getAnimations().every((a) => a.playState !== 'running'
                       || a.effect.getComputedTiming().iterations === Infinity);"#,
            vec![],
        )
        .await;
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_dir().join(file);
        std::fs::write(&path, png).expect("screenshot is saved");
        eprintln!("screenshot: {}", path.display());
    }

    /// Fails on any JavaScript error, failed request or CSP violation that
    /// the browser logged during the test.
    async fn assert_clean_console(&self) {
        self.assert_clean_console_but(&[]).await;
    }

    /// [`Browser::assert_clean_console`], letting pass the messages that
    /// contain one of `expected`.
    async fn assert_clean_console_but(&self, expected: &[&str]) {
        let url = format!("{}/session/{}/se/log", self.driver, self.session);
        let response = reqwest::Client::new()
            .post(url)
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .expect("browser log");
        let body: Value = response.json().await.expect("browser log is JSON");
        let entries = body["value"].as_array().cloned().unwrap_or_default();
        for entry in &entries {
            eprintln!(
                "{} console: {} {}",
                self.name, entry["level"], entry["message"]
            );
        }
        let problems: Vec<&Value> = entries
            .iter()
            .filter(|entry| {
                let message = entry["message"].as_str().unwrap_or_default();
                let problem = entry["level"] == "SEVERE"
                    || message.contains("Content Security Policy")
                    || message.contains("Refused to");
                problem && !expected.iter().any(|known| message.contains(known))
            })
            .collect();
        assert!(
            problems.is_empty(),
            "{}: the browser logged errors: {problems:#?}",
            self.name
        );
    }

    async fn close(self) {
        let _ = self.client.close().await;
    }
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

// ---------------------------------------------------------------------------
// Notifications: a stand-in push service, the page's push stand-ins, and a
// DevTools connection of the test's own
// ---------------------------------------------------------------------------

/// A push service on 127.0.0.1 that records the paths it was sent pushes on
/// and accepts them all.
struct PushService {
    port: u16,
    hits: std::sync::Arc<Mutex<Vec<String>>>,
}

impl PushService {
    async fn spawn() -> Self {
        let hits = std::sync::Arc::new(Mutex::new(Vec::new()));
        let recorded = std::sync::Arc::clone(&hits);
        let app = axum::Router::new().route(
            "/push/{who}",
            axum::routing::post(move |uri: axum::http::Uri| {
                let recorded = std::sync::Arc::clone(&recorded);
                async move {
                    recorded.lock().unwrap().push(uri.path().to_owned());
                    axum::http::StatusCode::CREATED
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, hits }
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) {
        let deadline = Instant::now() + WAIT;
        while self.hits().len() < count {
            assert!(
                Instant::now() < deadline,
                "{count} pushes never reached the push service: {:?}",
                self.hits()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Runs in the page before the app, in place of what headless Chromium
/// cannot do or show: a push subscription (its push service is out of
/// reach), here one at the stand-in's `%ENDPOINT%` with a real P-256 key,
/// kept in localStorage as a browser keeps its own; the app icon's badge,
/// the `visibility` frames sent and the tones started are recorded.
const PAGE_STAND_INS: &str = r#"(() => {
  const KEPT = 'test.subscription';
  const encode = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const subscription = (kept) => ({
    endpoint: kept.endpoint,
    expirationTime: null,
    options: { userVisibleOnly: true, applicationServerKey: Uint8Array.from(atob(kept.serverKey), (c) => c.charCodeAt(0)).buffer },
    toJSON: () => ({ endpoint: kept.endpoint, expirationTime: null, keys: kept.keys }),
    unsubscribe: async () => { localStorage.removeItem(KEPT); return true; },
  });
  window.testSubscribes = 0;
  PushManager.prototype.getSubscription = async function () {
    const kept = JSON.parse(localStorage.getItem(KEPT));
    return kept ? subscription(kept) : null;
  };
  PushManager.prototype.subscribe = async function (options) {
    if (Notification.permission !== 'granted') throw new DOMException('not allowed', 'NotAllowedError');
    const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
    const kept = {
      endpoint: '%ENDPOINT%',
      keys: { p256dh: encode(await crypto.subtle.exportKey('raw', pair.publicKey)), auth: encode(crypto.getRandomValues(new Uint8Array(16))) },
      serverKey: btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey))),
    };
    localStorage.setItem(KEPT, JSON.stringify(kept));
    window.testSubscribes += 1;
    return subscription(kept);
  };
  window.testBadges = [];
  Navigator.prototype.setAppBadge = function (n) { window.testBadges.push(n); return Promise.resolve(); };
  Navigator.prototype.clearAppBadge = function () { window.testBadges.push(0); return Promise.resolve(); };
  window.testVisibility = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    try {
      const frame = JSON.parse(data);
      if (frame.event === 'visibility') window.testVisibility.push(frame.data.visible);
    } catch {}
    return send.call(this, data);
  };
  window.testPushPosts = 0;
  const fetchFrom = window.fetch;
  window.fetch = function (resource, init) {
    if (String(resource) === '/api/push/subscriptions' && init && init.method === 'POST') window.testPushPosts += 1;
    return fetchFrom.call(this, resource, init);
  };
  window.testTones = 0;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) { window.testTones += 1; return start.apply(this, args); };
})();"#;

/// Makes the page say it is hidden (`true`) as when another app or tab is
/// in front, or shown again, and fires `visibilitychange`.
const SET_HIDDEN: &str = r"if (arguments[0]) {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    Object.defineProperty(document, 'hidden', { value: true, configurable: true });
  } else {
    delete document.visibilityState;
    delete document.hidden;
  }
  document.dispatchEvent(new Event('visibilitychange'));";

/// The notifications the service worker shows for `tag`, as plain values.
const SHOWN_NOTIFICATIONS: &str = r"const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications({ tag: arguments[0] });
  return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, icon: n.icon,
                             renotify: n.renotify, url: n.data && n.data.url }));";

/// Asks the page which chat it has on screen, as the service worker does
/// before showing a push (`chat-on-screen` with a port for the answer).
const CHAT_ON_SCREEN: &str = r"const channel = new MessageChannel();
  const answer = new Promise((resolve) => { channel.port1.onmessage = (event) => resolve(event.data); });
  navigator.serviceWorker.dispatchEvent(new MessageEvent('message', { data: { type: 'chat-on-screen' }, ports: [channel.port2] }));
  const reply = await Promise.race([answer, new Promise((resolve) => setTimeout(resolve, 2000, 'no answer'))]);
  channel.port1.close();
  return reply === 'no answer' ? reply : (reply?.chatId ?? null);";

/// A DevTools connection of the test's own to one page, for what
/// chromedriver's `goog/cdp/execute` does not pass on: events, such as the
/// service worker's registration and its id.
struct DevTools {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next_id: u64,
    events: Vec<Value>,
}

impl DevTools {
    /// Connects to the page of `browser` whose address starts with `origin`.
    async fn attach(browser: &Browser, origin: &str) -> Self {
        let address = browser
            .client
            .capabilities()
            .and_then(|capabilities| capabilities.get("goog:chromeOptions"))
            .and_then(|options| options["debuggerAddress"].as_str())
            .expect("chromedriver names the browser's DevTools address")
            .to_owned();
        let targets: Value = reqwest::get(format!("http://{address}/json/list"))
            .await
            .expect("the DevTools target list")
            .json()
            .await
            .expect("the target list is JSON");
        let page = targets
            .as_array()
            .into_iter()
            .flatten()
            .find(|target| {
                target["type"] == "page"
                    && target["url"]
                        .as_str()
                        .is_some_and(|url| url.starts_with(origin))
            })
            .unwrap_or_else(|| panic!("no page of {origin} among {targets}"));
        let url = page["webSocketDebuggerUrl"].as_str().unwrap();
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("a DevTools connection to the page");
        Self {
            socket,
            next_id: 0,
            events: Vec::new(),
        }
    }

    async fn next_frame(&mut self, until: Instant) -> Option<Value> {
        use futures_util::StreamExt;
        let left = until.saturating_duration_since(Instant::now());
        loop {
            let message = tokio::time::timeout(left, self.socket.next())
                .await
                .ok()?
                .expect("the DevTools connection stays open")
                .expect("a DevTools frame");
            if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
                return Some(serde_json::from_str(&text).expect("DevTools frames are JSON"));
            }
        }
    }

    /// Runs `method` and returns its result; events that arrive meanwhile
    /// are kept for [`DevTools::event`].
    async fn call(&mut self, method: &str, params: Value) -> Value {
        use futures_util::SinkExt;
        self.next_id += 1;
        let id = self.next_id;
        let frame = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::text(
                frame.to_string(),
            ))
            .await
            .expect("a DevTools command is sent");
        let until = Instant::now() + WAIT;
        loop {
            let frame = self
                .next_frame(until)
                .await
                .unwrap_or_else(|| panic!("{method} was not answered within {WAIT:?}"));
            if frame["id"] == id {
                assert!(frame["error"].is_null(), "{method}: {frame}");
                return frame["result"].clone();
            }
            self.events.push(frame);
        }
    }

    /// The first event (kept or still to come) that `wanted` accepts.
    async fn event(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(at) = self.events.iter().position(&wanted) {
            return self.events.remove(at);
        }
        let until = Instant::now() + WAIT;
        loop {
            let frame = self
                .next_frame(until)
                .await
                .unwrap_or_else(|| panic!("no {what} within {WAIT:?}"));
            if wanted(&frame) {
                return frame;
            }
            self.events.push(frame);
        }
    }
}

impl Browser {
    /// Waits until the service worker shows notifications for `tag` and
    /// returns them.
    async fn wait_notifications(&self, tag: &str) -> Value {
        self.poll_until(
            async || {
                let shown = self
                    .eval_async(
                        "the notifications shown",
                        SHOWN_NOTIFICATIONS,
                        vec![json!(tag)],
                    )
                    .await;
                match shown.as_array() {
                    Some(list) if !list.is_empty() => Ok(shown),
                    _ => Err(shown.to_string()),
                }
            },
            async |_| {
                let on_screen = self.chat_on_screen().await;
                format!(
                    "no notification for {tag} within {WAIT:?}; the page says {on_screen} is on screen"
                )
            },
        )
        .await
    }

    /// What the page tells its service worker when a push comes: the chat
    /// it has on screen (asked the same way, over a message port).
    async fn chat_on_screen(&self) -> Value {
        self.eval_async("the chat on screen", CHAT_ON_SCREEN, vec![])
            .await
    }

    /// Waits until the page would tell its service worker that `chat` is
    /// on screen (`None`: no chat).
    async fn wait_chat_on_screen(&self, chat: Option<&str>) {
        self.poll_until(
            async || {
                let answer = self.chat_on_screen().await;
                if answer == json!(chat) {
                    Ok(())
                } else {
                    Err(answer.to_string())
                }
            },
            async |answer| format!("the page still says {answer} is on screen after {WAIT:?}"),
        )
        .await;
    }

    /// The signed-in session the page keeps: its access token and user id.
    async fn session(&self) -> (String, String) {
        let session = self
            .client
            .execute(
                "return JSON.parse(localStorage.getItem('clavox.session'));",
                vec![],
            )
            .await
            .expect("the page's session");
        (
            session["accessToken"].as_str().expect("a token").to_owned(),
            session["user"]["id"]
                .as_str()
                .expect("a user id")
                .to_owned(),
        )
    }
}

// ---------------------------------------------------------------------------
// A small PNG, made here so the test needs no image files or crates
// ---------------------------------------------------------------------------

/// An RGB PNG of `width`×`height`: a sunset-like gradient, stored uncompressed.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut pixels = Vec::new();
    for y in 0..height {
        pixels.push(0); // filter: none
        for x in 0..width {
            let r = 255 - (y * 80 / height) as u8;
            let g = (90 + x * 100 / width) as u8;
            let b = (60 + y * 150 / height) as u8;
            pixels.extend([r, g, b]);
        }
    }
    // zlib stream of "stored" deflate blocks.
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = pixels.chunks(0xffff).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).unwrap();
        zlib.extend(len.to_le_bytes());
        zlib.extend((!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &pixels {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    zlib.extend(((b << 16) | a).to_be_bytes());

    let mut header = Vec::new();
    header.extend(width.to_be_bytes());
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]); // 8-bit RGB, no interlace

    let mut out = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    for (kind, data) in [(b"IHDR", header), (b"IDAT", zlib), (b"IEND", Vec::new())] {
        out.extend(u32::try_from(data.len()).unwrap().to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(&data);
        let crc = crc32(&out[start..]);
        out.extend(crc.to_be_bytes());
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
