//! The web app used for a day, at 360 px and 1280 px, light and dark: the
//! things testers ran into, each walked through as a person would meet it.
//! Signing in from a busy network; a long chat opening at its first unread
//! message, "jump to latest" while an older page loads, the count of new
//! messages on that button, Back closing a photo, the compact voice player,
//! Enter on touch keyboards, the emoji picker and large emoji, right-to-left
//! text; panels closing with Escape, errors going once fixed, the theme
//! switch; a server that stops answering noticed within 10 s; and axe-core
//! run on every main screen, which must find nothing serious or critical.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Browser, DESKTOP_SIZE, Driver, PHONE_SIZE, png};
use crate::support::process::Server;
use crate::support::{Login, TestApp, phone};

/// axe-core, from the npm package (see vendor/README.md); injected into the
/// page by the test, never served by the app.
const AXE: &str = include_str!("vendor/axe.min.js");

// ---------------------------------------------------------------------------
// Signing in
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_from_a_busy_network_says_so_and_offers_a_code_only_where_one_went_out() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    // One code per address per window: the second send is refused.
    let app = TestApp::spawn_with(&[("--auth-rate-limit-max", "1")]).await;
    let (ana_phone, ben_phone) = (phone(8001), phone(8002));
    let ana = driver.open("ana-signin", PHONE_SIZE).await;
    ana.client.goto(&app.url("/")).await.expect("the app loads");

    // A number too short: the error names it, and goes once the number is usable.
    ana.type_into("phone-input", "812").await;
    ana.click("send-code").await;
    ana.wait_text_in("login-error", "Enter your phone number")
        .await;
    ana.type_into("phone-input", "3456789").await;
    ana.wait_js(
        "the error to go once the number is usable",
        "return document.querySelector('[data-testid=\"login-error\"]').textContent === '';",
        vec![],
    )
    .await;

    // At 280 px the number keeps a usable width; the country code gives way.
    ana.fit_viewport(280, 653).await;
    let widths = ana
        .wait_js(
            "the phone field laid out at 280 px",
            r#"const input = document.querySelector('[data-testid="phone-input"]');
               const cc = document.querySelector('.cc');
               return { input: input.getBoundingClientRect().width, cc: cc.getBoundingClientRect().width,
                        page: document.documentElement.scrollWidth };"#,
            vec![],
        )
        .await;
    ana.screenshot("day-signin-280.png").await;
    assert!(
        widths["input"].as_f64().unwrap() >= 150.0,
        "the number field keeps a usable width at 280 px: {widths}"
    );
    assert!(
        widths["page"].as_f64().unwrap() <= 280.0,
        "nothing runs off the side: {widths}"
    );
    ana.fit_viewport(PHONE_SIZE.0, PHONE_SIZE.1).await;

    // The one send this address has: Ana's code goes out.
    clear_and_type(&ana, "phone-input", &ana_phone).await;
    ana.click("send-code").await;
    ana.wait_js(
        "the code step",
        "return Boolean(document.querySelector('[data-testid=\"otp-input\"]'));",
        vec![],
    )
    .await;
    assert!(app.codes.last_code(&ana_phone).is_some());

    // Ben borrows the phone: his number is refused because of the address,
    // and the app says so, without offering a code that never went out.
    ana.click_css(".auth .muted .link-btn").await;
    clear_and_type(&ana, "phone-input", &ben_phone).await;
    ana.click("send-code").await;
    let said = ana
        .wait_js(
            "the network's limit to be explained",
            r#"const error = document.querySelector('[data-testid="login-error"]');
               return error && error.textContent ? { text: error.textContent,
                 haveCode: !document.querySelector('[data-testid="have-code"]').hidden } : null;"#,
            vec![],
        )
        .await;
    let text = said["text"].as_str().unwrap();
    assert!(
        text.contains("Too many sign-ins from this network") && text.contains("minutes"),
        "{said}"
    );
    assert_eq!(
        said["haveCode"], false,
        "no code went to Ben's number: {said}"
    );
    assert!(app.codes.last_code(&ben_phone).is_none());
    ana.screenshot("day-signin-network-limited.png").await;

    // Back to Ana's number, whose code is out: it may be entered, while
    // sending stays blocked for every number.
    clear_and_type(&ana, "phone-input", &ana_phone).await;
    ana.wait_js(
        "the offer to enter the code that went out",
        r#"const have = document.querySelector('[data-testid="have-code"]');
           return Boolean(have) && !have.hidden;"#,
        vec![],
    )
    .await;
    ana.click("have-code").await;
    let code = app.codes.last_code(&ana_phone).unwrap();
    ana.type_into("otp-input", &code).await;
    ana.click("verify-code").await;
    ana.type_into("name-input", "Ana").await;
    ana.click("name-save").await;
    ana.wait_js(
        "the chat list",
        "return Boolean(document.querySelector('[data-testid=\"chat-list\"]'));",
        vec![],
    )
    .await;
    ana.assert_clean_console_but(&["429"]).await;
    ana.close().await;
}

// ---------------------------------------------------------------------------
// A long chat, a photo, a voice message, typing
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_chat_opens_at_the_first_unread_and_jump_photo_voice_and_typing_work_on_a_phone() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (dia_phone, eko_phone) = (phone(8101), phone(8102));
    let dia = driver.open("dia-day", PHONE_SIZE).await;
    let eko = driver.open("eko-day", DESKTOP_SIZE).await;
    tokio::join!(
        dia.sign_in(&app, &dia_phone, "Dia", None),
        eko.sign_in(&app, &eko_phone, "Eko", None),
    );
    // The same people over the API, for the history.
    let dia_api = app.login(&dia_phone).await;
    let eko_api = app.login(&eko_phone).await;
    dia.dismiss_login_code().await;
    eko.dismiss_login_code().await;
    let chat = app.private_chat(&dia_api, &eko_api).await;
    for n in 1..=40 {
        app.send_message(&dia_api, &chat, &format!("Dia says {n}"))
            .await;
    }
    for n in 1..=25 {
        app.send_message(&eko_api, &chat, &format!("Eko answers {n}"))
            .await;
    }

    // Dia opens the chat at the first of Eko's 25 unread messages, under a
    // divider saying how many there are, not at the bottom.
    let item = format!("[data-testid=\"chat-item\"][data-chat-id=\"{chat}\"]");
    dia.wait_text_in("unread", "25").await;
    dia.click_css(&item).await;
    let opened = dia
        .wait_js(
            "the chat open at its unread divider",
            r#"const list = document.querySelector('[data-testid="message-list"]');
               const divider = list && list.querySelector('[data-testid="unread-divider"]');
               if (!divider) return null;
               const next = divider.nextElementSibling;
               const top = divider.getBoundingClientRect().top - list.getBoundingClientRect().top;
               return { text: divider.textContent, next: next.textContent, top,
                        fromBottom: list.scrollHeight - list.scrollTop - list.clientHeight };"#,
            vec![],
        )
        .await;
    assert_eq!(opened["text"], "25 unread messages", "{opened}");
    assert!(
        opened["next"].as_str().unwrap().contains("Eko answers 1"),
        "{opened}"
    );
    let top = opened["top"].as_f64().unwrap();
    assert!(
        (0.0..120.0).contains(&top),
        "the divider is at the top of the view: {opened}"
    );
    assert!(opened["fromBottom"].as_f64().unwrap() > 300.0, "{opened}");
    dia.screenshot("day-unread-divider-phone.png").await;

    // Messages arriving below the view are counted on the jump button.
    app.send_message(&eko_api, &chat, "Are you there?").await;
    app.send_message(&eko_api, &chat, "Hello?").await;
    dia.wait_js(
        "the jump button to count 2 new messages",
        r#"const badge = document.querySelector('[data-testid="jump-unread"]');
           const jump = document.querySelector('[data-testid="jump"]');
           return !jump.hidden && !badge.hidden && badge.textContent === '2'
               && jump.getAttribute('aria-label').includes('2 new');"#,
        vec![],
    )
    .await;
    dia.screenshot("day-jump-badge-phone.png").await;

    // "Jump to latest" pressed while an older page is on its way, which
    // lands mid-scroll: the list still ends at the newest message.
    dia.execute(
        r#"const list = document.querySelector('[data-testid="message-list"]');
           const realFetch = window.fetch;
           window.heldPages = [];
           window.fetch = (...args) => String(args[0]).includes('before=')
             ? new Promise((resolve) => window.heldPages.push(() => resolve(realFetch(...args))))
             : realFetch(...args);
           list.scrollTop = 0;"#,
    )
    .await;
    dia.wait_js(
        "an older page to be asked for",
        "return window.heldPages.length > 0;",
        vec![],
    )
    .await;
    dia.execute(
        r#"document.querySelector('[data-testid="jump"]').click();
           setTimeout(() => window.heldPages.forEach((release) => release()), 60);"#,
    )
    .await;
    dia.wait_js(
        "the older page to be shown",
        r#"return [...document.querySelectorAll('[data-testid="message"] .msg-text')]
             .some((text) => text.textContent === 'Dia says 10');"#,
        vec![],
    )
    .await;
    let settled = dia
        .wait_js(
            "the list to end at the newest message",
            r#"const list = document.querySelector('[data-testid="message-list"]');
               const fromBottom = list.scrollHeight - list.scrollTop - list.clientHeight;
               return fromBottom < 80 ? { fromBottom } : null;"#,
            vec![],
        )
        .await;
    eprintln!("after jump: {settled}");
    dia.wait_js(
        "the badge to go at the bottom",
        "return document.querySelector('[data-testid=\"jump-unread\"]').hidden;",
        vec![],
    )
    .await;

    // A photo: Back closes the viewer and stays in the chat.
    let (photo_url, _) = upload(&app, &eko_api, "beach.png", "image/png", png(96, 64)).await;
    post_message(
        &app,
        &eko_api,
        &chat,
        json!({ "content": "", "type": "image",
                "metadata": { "url": photo_url, "name": "beach.png", "width": 96, "height": 64, "contentType": "image/png" } }),
    )
    .await;
    dia.click_css("[data-testid=\"message\"] .msg-image").await;
    dia.wait_js(
        "the photo viewer",
        "return Boolean(document.querySelector('dialog.lightbox[open]'));",
        vec![],
    )
    .await;
    dia.client.back().await.expect("back");
    dia.wait_js(
        "Back to close the viewer and keep the chat",
        r#"return !document.querySelector('dialog.lightbox')
               && location.pathname.startsWith('/chat/')
               && Boolean(document.querySelector('[data-testid="composer"]'));"#,
        vec![],
    )
    .await;
    // Closed with its button, it leaves no entry behind: Back then leaves the chat.
    dia.click_css("[data-testid=\"message\"] .msg-image").await;
    dia.click("lightbox-close").await;
    dia.wait_js(
        "the viewer closed",
        "return !document.querySelector('dialog.lightbox');",
        vec![],
    )
    .await;
    assert_eq!(dia.path().await, format!("/chat/{chat}"));

    // A voice message: one length, from what was recorded, in the app's own
    // compact player, whose seek bar fits at 360 px.
    let (voice_url, _) = upload(&app, &eko_api, "hello.wav", "audio/wav", wav(3_600)).await;
    post_message(
        &app,
        &eko_api,
        &chat,
        json!({ "content": "", "type": "voice",
                "metadata": { "url": voice_url, "name": "hello.wav", "contentType": "audio/wav", "durationMs": 3600 } }),
    )
    .await;
    let player = dia
        .wait_js(
            "the voice player",
            r#"const voice = [...document.querySelectorAll('[data-testid="voice"]')].at(-1);
               const audio = voice && voice.querySelector('audio');
               if (!audio || audio.readyState < 1) return null;
               const seek = voice.querySelector('[data-testid="voice-seek"]');
               const lengths = [...voice.querySelectorAll('*')].filter((el) => !el.children.length)
                 .map((el) => el.textContent).filter((text) => /^\d+:\d\d$/.test(text));
               return { controls: audio.controls, audioShown: audio.getClientRects().length > 0,
                        seek: seek.getBoundingClientRect().width, lengths,
                        duration: voice.querySelector('[data-testid="voice-duration"]').textContent,
                        speed: voice.querySelector('[data-testid="voice-speed"]').textContent };"#,
            vec![],
        )
        .await;
    assert_eq!(player["controls"], false, "{player}");
    assert_eq!(player["audioShown"], false, "{player}");
    assert_eq!(player["lengths"], json!(["0:03"]), "one length: {player}");
    assert!(player["seek"].as_f64().unwrap() >= 60.0, "{player}");
    assert_eq!(player["speed"], "1×");
    dia.click_css("[data-testid=\"voice\"]:last-of-type [data-testid=\"voice-speed\"]")
        .await;
    dia.wait_js(
        "the speed to go to 1.5×",
        r#"const voice = [...document.querySelectorAll('[data-testid="voice"]')].at(-1);
           return voice.querySelector('[data-testid="voice-speed"]').textContent === '1.5×'
               && voice.querySelector('audio').playbackRate === 1.5;"#,
        vec![],
    )
    .await;
    dia.execute(
        r#"[...document.querySelectorAll('[data-testid="voice"]')].at(-1)
             .querySelector('[data-testid="voice-play"]').click();"#,
    )
    .await;
    dia.wait_js(
        "the voice message to play",
        r#"const audio = [...document.querySelectorAll('[data-testid="voice"]')].at(-1).querySelector('audio');
           return audio.currentTime > 0.3;"#,
        vec![],
    )
    .await;
    dia.screenshot("day-voice-player-phone.png").await;

    // On a touch keyboard Enter starts a new line and the button sends.
    eprintln!("touch emulation");
    dia.cdp(
        "Emulation.setTouchEmulationEnabled",
        json!({ "enabled": true, "maxTouchPoints": 5 }),
    )
    .await;
    dia.wait_js(
        "a touch screen without hover",
        "return matchMedia('(pointer: coarse) and (hover: none)').matches;",
        vec![],
    )
    .await;
    dia.type_into("composer", "first line\u{E007}second line")
        .await;
    let typed = dia
        .execute("return document.querySelector('[data-testid=\"composer\"]').value;")
        .await;
    assert_eq!(typed, "first line\nsecond line", "Enter made a new line");
    dia.click("send").await;
    eko.click_css(&item).await;
    eko.wait_message("first line\nsecond line", false).await;

    // On the desktop Enter sends; Shift+Enter is a new line.
    eprintln!("desktop keys");
    eko.type_into("composer", "one\u{E008}\u{E007}\u{E008}two\u{E007}")
        .await;
    dia.wait_message("one\ntwo", false).await;

    // The emoji picker: keyboard to a face, Enter puts it at the cursor,
    // Escape goes back to the text box.
    eko.type_into("composer", "Nice ").await;
    eko.click("emoji-button").await;
    eko.wait_js(
        "the emoji panel with focus on its first emoji",
        r#"const panel = document.querySelector('[data-testid="emoji-panel"]');
           return !panel.hidden && document.activeElement?.dataset.testid === 'emoji';"#,
        vec![],
    )
    .await;
    eko.screenshot("day-emoji-picker-desktop.png").await;
    let keys = "\u{E014}\u{E007}\u{E00C}"; // Right, Enter, Escape
    eko.client
        .active_element()
        .await
        .expect("focused emoji")
        .send_keys(keys)
        .await
        .expect("keys to the picker");
    let after = eko
        .wait_js(
            "the emoji inserted and the panel closed",
            r#"const panel = document.querySelector('[data-testid="emoji-panel"]');
               const box = document.querySelector('[data-testid="composer"]');
               return panel.hidden && document.activeElement === box ? box.value : null;"#,
            vec![],
        )
        .await;
    assert_eq!(after, "Nice 😃");
    eko.client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    dia.wait_message("Nice 😃", false).await;

    // Emoji in colour, and a message of only emoji shown larger.
    eko.type_into("composer", "👍🎉\u{E007}").await;
    let sizes = dia
        .wait_js(
            "the emoji-only message, larger",
            r#"const texts = [...document.querySelectorAll('[data-testid="message"] .msg-text')];
               const big = texts.find((t) => t.textContent === '👍🎉');
               const plain = texts.find((t) => t.textContent.startsWith('Nice'));
               return big && plain ? { big: parseFloat(getComputedStyle(big).fontSize),
                 plain: parseFloat(getComputedStyle(plain).fontSize), font: getComputedStyle(document.body).fontFamily } : null;"#,
            vec![],
        )
        .await;
    assert!(
        sizes["big"].as_f64().unwrap() >= 2.0 * sizes["plain"].as_f64().unwrap(),
        "{sizes}"
    );
    let font = sizes["font"].as_str().unwrap();
    for emoji_font in ["Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji"] {
        assert!(font.contains(emoji_font), "{font}");
    }

    // Right to left: an Arabic message lines its text and its time up from
    // the right, and the name fields take their direction from their text.
    let arabic = "مرحبا، كيف حالك؟";
    eko.type_into("composer", &format!("{arabic}\u{E007}"))
        .await;
    let rtl = dia
        .wait_js(
            "the Arabic bubble laid out right to left",
            r#"const m = [...document.querySelectorAll('[data-testid="message"]')].find((m) => m.textContent.includes(arguments[0]));
               if (!m) return null;
               const text = m.querySelector('.msg-text');
               const meta = m.querySelector('.msg-meta');
               return { direction: getComputedStyle(text).direction, bubble: getComputedStyle(m).direction,
                        timeLeft: meta.getBoundingClientRect().left - m.getBoundingClientRect().left,
                        float: getComputedStyle(meta).float };"#,
            vec![json!(arabic)],
        )
        .await;
    assert_eq!(rtl["direction"], "rtl", "{rtl}");
    assert_eq!(rtl["float"], "inline-end", "{rtl}");
    assert_eq!(rtl["bubble"], "rtl", "{rtl}");
    assert!(
        rtl["timeLeft"].as_f64().unwrap() < 20.0,
        "the time at the left end: {rtl}"
    );
    dia.screenshot("day-rtl-phone.png").await;
    eko.screenshot("day-conversation-desktop.png").await;

    for browser in [&dia, &eko] {
        browser.assert_clean_console().await;
    }
    dia.close().await;
    eko.close().await;
}

// ---------------------------------------------------------------------------
// Panels, errors, names read out, the theme
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panels_close_with_escape_errors_go_once_fixed_names_are_read_out_and_the_theme_is_kept() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let (fay_phone, gus_phone, hal_phone) = (phone(8201), phone(8202), phone(8203));
    let fay = driver.open("fay-day", DESKTOP_SIZE).await;
    fay.sign_in(&app, &fay_phone, "Fay", None).await;
    let fay_api = app.login(&fay_phone).await;
    fay.dismiss_login_code().await;
    let gus = app.login(&gus_phone).await;
    let hal = app.login(&hal_phone).await;
    for (who, name) in [(&gus, "Gus"), (&hal, "Hal")] {
        name_user(&app, who, name).await;
    }
    // Chats with both, so both are offered as quick adds.
    app.private_chat(&fay_api, &gus).await;
    app.private_chat(&fay_api, &hal).await;

    // A new group: "add at least one member" goes once one is added.
    fay.click("new-group").await;
    fay.type_into("group-name", "Picnic").await;
    fay.click("group-create").await;
    fay.wait_text_in("group-error", "Add at least one member")
        .await;
    // The quick-add buttons are named by what they show.
    let names = fay
        .wait_js(
            "the quick-add buttons",
            r#"const buttons = [...document.querySelectorAll('.person-button')];
               return buttons.length === 2 ? buttons.map((b) => ({ label: b.getAttribute('aria-label'), text: b.textContent })) : null;"#,
            vec![],
        )
        .await;
    for button in names.as_array().unwrap() {
        assert!(button["label"].is_null(), "{names}");
        assert!(
            button["text"].as_str().unwrap().starts_with("Add"),
            "{names}"
        );
    }
    fay.click_css(".person-button").await;
    fay.wait_js(
        "the error to go with a member added",
        "return document.querySelector('[data-testid=\"group-error\"]').textContent === '';",
        vec![],
    )
    .await;
    // The phone field's error goes once the number is usable.
    fay.type_into("group-member-phone", "81").await;
    fay.click("group-member-add").await;
    fay.wait_text_in("member-error", "phone").await;
    fay.type_into("group-member-phone", "23456789").await;
    fay.wait_js(
        "the number's error to go",
        "return document.querySelector('[data-testid=\"member-error\"]').textContent === '';",
        vec![],
    )
    .await;
    fay.click_css(".person-button").await;
    fay.wait_js(
        "two members",
        "return document.querySelectorAll('ul.people-list .person:not(.person-button)').length >= 2;",
        vec![],
    )
    .await;
    // Escape closes the panel.
    press_escape(&fay).await;
    fay.wait_js(
        "Escape to close the new group",
        "return location.pathname === '/';",
        vec![],
    )
    .await;
    let group = app.group(&gus, &[&fay_api, &hal], "Hikers").await;
    for text in ["Morning all", "Who is coming?", "I will bring tea"] {
        app.send_message(&gus, &group, text).await;
    }

    // In a run of bubbles from one person, each names them to screen readers.
    fay.click_css(&format!(
        "[data-testid=\"chat-item\"][data-chat-id=\"{group}\"]"
    ))
    .await;
    let spoken = fay
        .wait_js(
            "three bubbles from Gus",
            r#"const ms = [...document.querySelectorAll('[data-testid="message"][data-own="false"]')];
               return ms.length === 3 ? ms.map((m) => m.textContent) : null;"#,
            vec![],
        )
        .await;
    for text in spoken.as_array().unwrap() {
        assert!(text.as_str().unwrap().contains("Gus"), "{spoken}");
    }

    // Escape closes the chat's info and then nothing else.
    fay.click("group-info").await;
    fay.wait_js(
        "the info",
        "return location.pathname.endsWith('/info');",
        vec![],
    )
    .await;
    press_escape(&fay).await;
    fay.wait_js(
        "Escape to close the info",
        "return location.pathname === arguments[0];",
        vec![json!(format!("/chat/{group}"))],
    )
    .await;
    fay.click("new-chat").await;
    fay.wait_js("new chat", "return location.pathname === '/new';", vec![])
        .await;
    press_escape(&fay).await;
    fay.wait_js(
        "Escape to close new chat",
        "return location.pathname !== '/new';",
        vec![],
    )
    .await;

    // The theme: dark, kept across a reload and applied before the app's
    // scripts run, then back to the system's.
    fay.click("profile").await;
    fay.wait_js(
        "the profile and settings",
        "return Boolean(document.querySelector('[data-testid=\"theme-select\"]'));",
        vec![],
    )
    .await;
    press_escape(&fay).await;
    fay.wait_js(
        "Escape to close the profile",
        "return location.pathname !== '/profile';",
        vec![],
    )
    .await;
    fay.click("profile").await;
    choose_theme(&fay, "dark").await;
    fay.wait_js(
        "the dark theme",
        r#"return document.documentElement.dataset.theme === 'dark'
               && getComputedStyle(document.body).backgroundColor === 'rgb(11, 16, 20)';"#,
        vec![],
    )
    .await;
    fay.screenshot("day-profile-dark-desktop.png").await;
    let page = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let head = &page[..page.find("</head>").unwrap()];
    let boot = head.find("js/theme-boot.js\"></script>").expect(
        "the theme is set by a classic script in <head>, which runs before the first paint",
    );
    assert!(
        !head[..boot].ends_with("type=\"module\" src=\"") && head.find("js/main.js").unwrap() > 0,
        "{head}"
    );
    fay.client.refresh().await.unwrap();
    fay.wait_js(
        "the dark theme after a reload",
        "return document.documentElement.dataset.theme === 'dark' && Boolean(document.querySelector('[data-testid=\"theme-select\"]'));",
        vec![],
    )
    .await;
    choose_theme(&fay, "system").await;
    fay.wait_js(
        "the system's (light) theme",
        "return document.documentElement.dataset.theme === 'light' && localStorage.getItem('clavox.theme') === null;",
        vec![],
    )
    .await;
    fay.assert_clean_console().await;
    fay.close().await;
}

// ---------------------------------------------------------------------------
// A server that stops answering
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_without_closing_is_noticed_within_ten_seconds() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path());
    let ivy_phone = phone(8301);
    let ivy = driver.open("ivy-day", PHONE_SIZE).await;
    ivy.client
        .goto(&format!("{}/", server.base))
        .await
        .expect("the app loads");
    ivy.type_into("phone-input", &ivy_phone).await;
    ivy.click("send-code").await;
    let line = server.wait_for_line(&format!("OTP for {ivy_phone}"));
    let code: String = line
        .rsplit(|c: char| !c.is_ascii_digit())
        .find(|part| part.len() == 6)
        .expect("a code in the log")
        .to_owned();
    ivy.type_into("otp-input", &code).await;
    ivy.click("verify-code").await;
    ivy.type_into("name-input", "Ivy").await;
    ivy.click("name-save").await;
    ivy.wait_js(
        "the chat list, connected",
        r#"return Boolean(document.querySelector('[data-testid="chat-list"]'))
               && document.querySelector('[data-testid="connection-banner"]').hidden;"#,
        vec![],
    )
    .await;
    // A few pings answered first.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let pid = server.child.id().to_string();
    let _resume = Resume(pid.clone());
    signal(&pid, "-STOP");
    let stopped = Instant::now();
    ivy.wait_js(
        "the app to show it is offline",
        "return !document.querySelector('[data-testid=\"connection-banner\"]').hidden;",
        vec![],
    )
    .await;
    let noticed = stopped.elapsed();
    eprintln!("a silent server noticed after {noticed:?}");
    assert!(noticed < Duration::from_secs(10), "{noticed:?}");
    ivy.screenshot("day-offline-phone.png").await;

    signal(&pid, "-CONT");
    ivy.wait_js(
        "the app back online",
        "return document.querySelector('[data-testid=\"connection-banner\"]').hidden;",
        vec![],
    )
    .await;
    ivy.close().await;
}

/// Sends the stopped server `SIGCONT` however the test ends, so it can be killed.
struct Resume(String);

impl Drop for Resume {
    fn drop(&mut self) {
        signal(&self.0, "-CONT");
    }
}

fn signal(pid: &str, which: &str) {
    let status = Command::new("kill")
        .args([which, pid])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {which} {pid}");
}

// ---------------------------------------------------------------------------
// axe-core on every main screen
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_nothing_serious_on_any_main_screen_at_both_sizes_light_and_dark() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let phone_browser = driver.open("jo-axe", PHONE_SIZE).await;
    let desktop_browser = driver.open("kim-axe", DESKTOP_SIZE).await;
    let (jo, kim) = tokio::join!(
        audit_every_screen(&app, &phone_browser, phone(8401), "phone"),
        audit_every_screen(&app, &desktop_browser, phone(8402), "desktop"),
    );
    let serious: Vec<_> = jo.into_iter().chain(kim).collect();
    assert!(
        serious.is_empty(),
        "serious or critical accessibility problems:\n{}",
        serious.join("\n")
    );
    phone_browser.close().await;
    desktop_browser.close().await;
}

/// Signs in as a new person with a group to look at, runs axe on every main
/// screen in light and dark, and returns the serious and critical findings.
async fn audit_every_screen(
    app: &TestApp,
    browser: &Browser,
    number: String,
    size: &str,
) -> Vec<String> {
    let mut serious = Vec::new();
    browser.client.goto(&app.url("/")).await.unwrap();
    browser
        .wait_js(
            "the sign-in screen",
            "return Boolean(document.querySelector('[data-testid=\"phone-input\"]'));",
            vec![],
        )
        .await;
    for theme in ["light", "dark"] {
        set_system_theme(browser, theme).await;
        serious.extend(axe(browser, &format!("sign-in, {size}, {theme}")).await);
    }
    set_system_theme(browser, "light").await;
    browser.sign_in(app, &number, "Jo Kim", None).await;
    let me = app.login(&number).await;
    browser.dismiss_login_code().await;
    let friend = app.login(&format!("{number}9")).await;
    name_user(app, &friend, "Lee").await;
    app.private_chat(&me, &friend).await;
    let group = app.group(&me, &[&friend], "Book club").await;
    app.send_message(&friend, &group, "Chapter 3 for Friday?")
        .await;
    app.send_message(&friend, &group, "And bring the snacks")
        .await;
    app.send_message(&me, &group, "Yes, and I will bring biscuits")
        .await;
    let screens = [
        ("chat list", "/".to_owned(), "[data-testid=\"chat-item\"]"),
        (
            "conversation",
            format!("/chat/{group}"),
            "[data-testid=\"message\"][data-own=\"true\"]",
        ),
        ("chat info", format!("/chat/{group}/info"), ".info .person"),
        (
            "new chat",
            "/new".to_owned(),
            "[data-testid=\"new-chat-phone\"]",
        ),
        ("new group", "/new-group".to_owned(), ".person-button"),
        (
            "profile and settings",
            "/profile".to_owned(),
            "[data-testid=\"theme-select\"]",
        ),
    ];
    for theme in ["light", "dark"] {
        set_system_theme(browser, theme).await;
        for (name, path, ready) in &screens {
            go(browser, path, ready).await;
            serious.extend(axe(browser, &format!("{name}, {size}, {theme}")).await);
            if theme == "dark" && matches!(*name, "conversation" | "profile and settings") {
                let file = format!("day-axe-{}-{size}-dark.png", name.replace(' ', "-"));
                browser.screenshot(&file).await;
            }
        }
    }
    serious
}

/// Runs axe-core on the page; prints every finding and returns the serious
/// and critical ones, one line each.
async fn axe(browser: &Browser, screen: &str) -> Vec<String> {
    let loaded = browser
        .client
        .execute("return typeof window.axe === 'object';", vec![])
        .await
        .unwrap();
    if loaded != json!(true) {
        browser
            .client
            .execute(&format!("{AXE}\nreturn true;"), vec![])
            .await
            .expect("axe-core loads");
    }
    let violations = browser
        .eval_async(
            "axe-core",
            r"const result = await axe.run(document, { resultTypes: ['violations'] });
              return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(' ') + ' ' + (n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 200)) }));",
            vec![],
        )
        .await;
    let mut serious = Vec::new();
    for violation in violations.as_array().unwrap() {
        let impact = violation["impact"].as_str().unwrap_or("none");
        let line = format!(
            "{screen}: [{impact}] {} ({}): {}",
            violation["id"].as_str().unwrap_or_default(),
            violation["help"].as_str().unwrap_or_default(),
            violation["nodes"]
        );
        eprintln!("axe {line}");
        if matches!(impact, "serious" | "critical") {
            serious.push(line);
        }
    }
    eprintln!(
        "axe {screen}: {} findings",
        violations.as_array().unwrap().len()
    );
    serious
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

impl Browser {
    async fn execute(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|err| panic!("{}: script failed: {err}", self.name))
    }
}

/// Goes to `path` inside the app (as its own links do) and waits for `ready`.
async fn go(browser: &Browser, path: &str, ready: &str) {
    browser
        .execute(&format!(
            "history.pushState({{ depth: 1 }}, '', {path:?}); dispatchEvent(new PopStateEvent('popstate', {{ state: {{ depth: 1 }} }}));"
        ))
        .await;
    browser
        .wait_js(
            &format!("{path} to show {ready}"),
            "const el = document.querySelector(arguments[0]); return Boolean(el) && el.getClientRects().length > 0;",
            vec![json!(ready)],
        )
        .await;
}

/// The device's colour scheme, as Chromium's media emulation sets it.
async fn set_system_theme(browser: &Browser, theme: &str) {
    browser
        .cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": theme }] }),
        )
        .await;
    browser
        .wait_js(
            &format!("the {theme} theme"),
            "return document.documentElement.dataset.theme === arguments[0];",
            vec![json!(theme)],
        )
        .await;
}

async fn choose_theme(browser: &Browser, theme: &str) {
    browser
        .execute(&format!(
            "const select = document.querySelector('[data-testid=\"theme-select\"]'); select.value = {theme:?}; select.dispatchEvent(new Event('change'));"
        ))
        .await;
}

async fn press_escape(browser: &Browser) {
    browser
        .client
        .active_element()
        .await
        .expect("a focused element")
        .send_keys("\u{E00C}")
        .await
        .expect("Escape");
}

async fn clear_and_type(browser: &Browser, id: &str, text: &str) {
    browser
        .execute(&format!(
            "const el = document.querySelector('[data-testid=\"{id}\"]'); el.value = ''; el.dispatchEvent(new Event('input', {{ bubbles: true }}));"
        ))
        .await;
    browser.type_into(id, text).await;
}

async fn name_user(app: &TestApp, who: &Login, name: &str) {
    let response = app
        .client
        .put(app.url("/api/users/profile"))
        .bearer_auth(&who.access)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "naming {name}");
}

/// Uploads `bytes` and returns the upload's URL and answer.
async fn upload(
    app: &TestApp,
    who: &Login,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (String, Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/uploads?name={name}")))
        .bearer_auth(&who.access)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "upload of {name}");
    let answer: Value = response.json().await.unwrap();
    (answer["url"].as_str().unwrap().to_owned(), answer)
}

async fn post_message(app: &TestApp, who: &Login, chat: &str, body: Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/chats/{chat}/messages")))
        .bearer_auth(&who.access)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert!(
        status.is_success(),
        "message refused: {status} {}",
        response.text().await.unwrap_or_default()
    );
}

/// A WAV file of `ms` milliseconds: an 8 kHz, 8-bit mono tone.
fn wav(ms: u32) -> Vec<u8> {
    const RATE: u32 = 8_000;
    let samples = RATE * ms / 1000;
    let mut out = Vec::with_capacity(44 + samples as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + samples).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&RATE.to_le_bytes()); // bytes per second
    out.extend_from_slice(&1u16.to_le_bytes()); // block align
    out.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&samples.to_le_bytes());
    for n in 0..samples {
        let phase = f64::from(n) * 440.0 * std::f64::consts::TAU / f64::from(RATE);
        // 8-bit PCM is unsigned around 128; the value is within 0..=255.
        out.push((128.0 + 60.0 * phase.sin()).round() as u8);
    }
    out
}
