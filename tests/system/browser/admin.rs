//! Running a server from the web app, and what members do about others:
//! under invitation-only sign-up the first admin (invited from the command
//! line) opens the admin console, invites a number and reads that number's
//! code in the console's Codes; the new person signs in with it, and when
//! they sign in on a third browser their open browser shows the code. An
//! admin makes a group invite link in group info (with its QR code) and a
//! new number follows it into the group; a revoked link says so. A reported
//! message shows in the console's Reports; a blocked person cannot be
//! messaged. The QR encoder matches a reference encoder. At 360 and 1280 px,
//! light and dark.

use std::time::{Duration, Instant};

use qrcode::bits::Bits;
use qrcode::canvas::{Canvas, MaskPattern};
use qrcode::types::{Color, EcLevel, Version};
use serde_json::{Value, json};

use super::{Browser, DESKTOP_SIZE, Driver, PHONE_SIZE, WAIT};
use crate::support::{TestApp, phone};

/// Lets `window.confirm` answer yes, as a person pressing OK would.
async fn accept_confirms(browser: &Browser) {
    browser
        .client
        .execute("window.confirm = () => true;", vec![])
        .await
        .expect("confirm is answered");
}

async fn set_dark(browser: &Browser, dark: bool) {
    browser
        .client
        .execute(
            "document.documentElement.dataset.theme = arguments[0];",
            vec![json!(if dark { "dark" } else { "light" })],
        )
        .await
        .expect("the theme is set");
}

/// Opens the app at `url` and asks for a code for `number`.
async fn ask_code(browser: &Browser, url: &str, number: &str) {
    browser.client.goto(url).await.expect("the app loads");
    browser.type_into("phone-input", number).await;
    browser.click("send-code").await;
    browser
        .wait_js(
            "the code step",
            "return Boolean(document.querySelector('[data-testid=\"otp-input\"]'));",
            vec![],
        )
        .await;
}

/// Enters `code`, and `name` when the app asks for one (a new account).
async fn enter_code(browser: &Browser, code: &str, name: Option<&str>) {
    browser.type_into("otp-input", code).await;
    browser.click("verify-code").await;
    if let Some(name) = name {
        browser.type_into("name-input", name).await;
        browser.click("name-save").await;
    }
}

async fn wait_chat_list(browser: &Browser) {
    browser
        .wait_js(
            "the chat list",
            r#"const list = document.querySelector('[data-testid="chat-list"]');
               return Boolean(list) && list.getClientRects().length > 0;"#,
            vec![],
        )
        .await;
}

/// The code the console's Codes section shows for `number`.
async fn code_in_console(admin: &Browser, number: &str) -> String {
    let code = admin
        .wait_js(
            &format!("a code for {number} in the console"),
            r#"const item = document.querySelector(`[data-testid="admin-code"][data-phone="${arguments[0]}"]`);
               const digits = item && item.querySelector('[data-testid="admin-code-digits"]');
               return digits && /^\d{3} \d{3}$/.test(digits.textContent) ? digits.dataset.code : null;"#,
            vec![json!(number)],
        )
        .await;
    code.as_str().unwrap().to_owned()
}

/// The last code the server sent to `number` (what the SMS would carry).
async fn sent_code(app: &TestApp, number: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(code) = app.codes.last_code(number) {
            return code;
        }
        assert!(Instant::now() < deadline, "no code was sent to {number}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fails if anything is wider than the window (content running off a phone).
async fn assert_fits(browser: &Browser) {
    let width = browser
        .client
        .execute(
            "return Math.max(document.documentElement.scrollWidth, ...[...document.querySelectorAll('.panel-scroll')].map((el) => el.scrollWidth - el.clientWidth + window.innerWidth));",
            vec![],
        )
        .await
        .unwrap();
    let inner = browser
        .client
        .execute("return window.innerWidth;", vec![])
        .await
        .unwrap();
    assert!(
        width.as_u64() <= inner.as_u64(),
        "{}: something runs off the side: {width} > {inner}",
        browser.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_invites_a_number_reads_its_code_in_the_console_and_a_signed_in_device_shows_the_next_code()
 {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn_with(&[("--registration", "invite"), ("--otp-cooldown", "0")]).await;
    let (owner_phone, dewi_phone) = (phone(8101), phone(8102));
    app.admin(clavox::admin::Request::Invite {
        phone: owner_phone.clone(),
    })
    .await;
    let owner = driver.open("owner", DESKTOP_SIZE).await;
    owner.sign_in(&app, &owner_phone, "Wayan Admin", None).await;

    // The settings screen offers the console to the admin.
    owner.click("profile").await;
    owner.click("open-admin").await;
    owner
        .wait_js(
            "the owner listed as an admin",
            r#"const rows = [...document.querySelectorAll('[data-testid="admin-user"]')];
               return rows.length === 1 && rows[0].dataset.phone === arguments[0]
                   && rows[0].querySelector('[data-testid="admin-user-role"]').textContent === 'Admin';"#,
            vec![json!(owner_phone)],
        )
        .await;
    // The last admin cannot step down, and the console says why.
    owner.click("admin-demote").await;
    owner
        .wait_text_in("admin-users", "last admin who can sign in")
        .await;

    // Invited from the console, a new number may sign up.
    owner.type_into("admin-invite-phone", &dewi_phone).await;
    owner.click("admin-invite-submit").await;
    owner.wait_text_in("admin-invite-status", &dewi_phone).await;
    owner.screenshot("admin-users-desktop.png").await;

    let dewi = driver.open("dewi", PHONE_SIZE).await;
    ask_code(&dewi, &app.url("/"), &dewi_phone).await;
    // Her code, read in the console rather than from an SMS.
    owner.click("admin-tab-codes").await;
    let code = code_in_console(&owner, &dewi_phone).await;
    assert_eq!(code, sent_code(&app, &dewi_phone).await);
    owner
        .wait_js(
            "a countdown beside the code",
            r#"const item = document.querySelector(`[data-testid="admin-code"][data-phone="${arguments[0]}"]`);
               return /\d:\d\d/.test(item.querySelector('[data-testid="admin-code-expiry"]').textContent);"#,
            vec![json!(dewi_phone)],
        )
        .await;
    owner.screenshot("admin-codes-desktop.png").await;
    enter_code(&dewi, &code, Some("Dewi Lestari")).await;
    wait_chat_list(&dewi).await;
    // Once used it leaves the list (refreshed every few seconds).
    owner
        .wait_js(
            "the used code gone from the console",
            r#"return !document.querySelector(`[data-testid="admin-code"][data-phone="${arguments[0]}"]`);"#,
            vec![json!(dewi_phone)],
        )
        .await;

    // A member sees no way into the console.
    dewi.click("profile").await;
    dewi.wait_js(
        "the settings without the console's entry",
        r#"const entry = document.querySelector('[data-testid="open-admin"]');
           return Boolean(document.querySelector('[data-testid="export-data"]'))
               && Boolean(entry) && entry.getClientRects().length === 0;"#,
        vec![],
    )
    .await;
    dewi.client.goto(&app.url("/")).await.expect("the list");
    wait_chat_list(&dewi).await;

    // Dewi signs in on a second device: her open browser shows the code,
    // with the device that asked, and the new device signs in with it.
    let laptop = driver.open("dewi-laptop", DESKTOP_SIZE).await;
    ask_code(&laptop, &app.url("/"), &dewi_phone).await;
    let shown = dewi
        .wait_js(
            "the code on the signed-in phone",
            r#"const digits = document.querySelector('[data-testid="login-code-digits"]');
               const sheet = document.querySelector('[data-testid="login-code"]');
               return digits && sheet.textContent.includes('Chrome') && sheet.textContent.includes('127.0.0.1')
                   && /Expires in \d:\d\d/.test(sheet.textContent) ? digits.dataset.code : null;"#,
            vec![],
        )
        .await;
    let shown = shown.as_str().unwrap().to_owned();
    assert_eq!(shown, sent_code(&app, &dewi_phone).await);
    dewi.screenshot("login-code-phone.png").await;
    set_dark(&dewi, true).await;
    dewi.screenshot("login-code-phone-dark.png").await;
    set_dark(&dewi, false).await;
    enter_code(&laptop, &shown, None).await;
    wait_chat_list(&laptop).await;
    dewi.click("login-code-dismiss").await;
    dewi.wait_js(
        "the code sheet gone",
        "return !document.querySelector('[data-testid=\"login-code\"]');",
        vec![],
    )
    .await;

    // The console at 360 px: users, then settings in the dark.
    owner.fit_viewport(PHONE_SIZE.0, PHONE_SIZE.1).await;
    owner.click("admin-tab-users").await;
    owner
        .wait_js(
            "both accounts listed",
            "return document.querySelectorAll('[data-testid=\"admin-user\"]').length === 2;",
            vec![],
        )
        .await;
    assert_fits(&owner).await;
    owner.screenshot("admin-users-phone.png").await;
    owner.click("admin-tab-settings").await;
    owner
        .wait_js(
            "the settings as the server has them",
            r#"const form = document.querySelector('[data-testid="admin-settings"]');
               return form && !form.hidden
                   && document.querySelector('[data-testid="admin-setting-registration"]').disabled
                   && !document.querySelector('[data-testid="admin-settings-locked-registration"]').hidden
                   && document.querySelector('[data-testid="admin-setting-editWindow"]').value === '2'
                   && document.querySelector('[data-testid="admin-setting-editWindow-unit"]').value === 'days';"#,
            vec![],
        )
        .await;
    // A wrong prefix is named beside its field, and nothing is saved.
    owner
        .type_into("admin-setting-allowedPhonePrefixes", "62x")
        .await;
    owner.click("admin-settings-save").await;
    owner
        .wait_text_in("admin-settings-error-allowedPhonePrefixes", "62x")
        .await;
    set_dark(&owner, true).await;
    owner.screenshot("admin-settings-phone-dark.png").await;
    owner
        .client
        .execute(
            r#"const prefixes = document.querySelector('[data-testid="admin-setting-allowedPhonePrefixes"]');
               prefixes.value = '+62';
               const amount = document.querySelector('[data-testid="admin-setting-editWindow"]');
               amount.value = '90';
               document.querySelector('[data-testid="admin-setting-editWindow-unit"]').value = 'minutes';"#,
            vec![],
        )
        .await
        .unwrap();
    owner.click("admin-settings-save").await;
    owner
        .wait_text("admin-settings-status", "Settings saved.")
        .await;
    let (_, settings) = app
        .call(
            reqwest::Method::GET,
            "/api/admin/settings",
            Some(&app.login(&owner_phone).await.access),
            None,
        )
        .await;
    assert_eq!(settings["editWindow"], 5400, "{settings}");
    assert_eq!(
        settings["allowedPhonePrefixes"],
        json!(["+62"]),
        "{settings}"
    );
    owner
        .wait_js(
            "the window shown in words",
            r#"return document.querySelector('[data-setting="editWindow"]').textContent.includes('1 hour 30 minutes');"#,
            vec![],
        )
        .await;
    // Signing in over the API sent a code to the owner's number: the open
    // console shows it on top, as any signed-in device would.
    owner.wait_text_in("login-code", "127.0.0.1").await;
    owner.click("login-code-dismiss").await;
    owner.click("admin-tab-server").await;
    owner
        .wait_js(
            "the server's numbers",
            r#"const fact = (key) => document.querySelector(`[data-fact="${key}"] dd`)?.textContent;
               return fact('users') === '2' && fact('sockets') !== undefined && /\d/.test(fact('freeDisk') || '');"#,
            vec![],
        )
        .await;
    owner.screenshot("admin-server-phone-dark.png").await;
    set_dark(&owner, false).await;
    // The refused demotion is the one failed request.
    owner.assert_clean_console_but(&["409 (Conflict)"]).await;
    dewi.assert_clean_console().await;
    laptop.assert_clean_console().await;
    for browser in [owner, dewi, laptop] {
        browser.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_invite_link_made_in_group_info_brings_a_new_number_into_the_group() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn_with(&[("--registration", "invite"), ("--otp-cooldown", "0")]).await;
    let (owner_phone, made_phone, rina_phone) = (phone(8201), phone(8202), phone(8203));
    for number in [&owner_phone, &made_phone] {
        app.admin(clavox::admin::Request::Invite {
            phone: number.clone(),
        })
        .await;
    }
    let owner = driver.open("link-owner", DESKTOP_SIZE).await;
    owner.sign_in(&app, &owner_phone, "Putu Admin", None).await;
    let (me, made) = (app.login(&owner_phone).await, app.login(&made_phone).await);
    owner.dismiss_login_code().await;
    let group = app.group(&me, &[&made], "Kebun Raya").await;

    // Group info: a link that works for a day, for at most 5 people.
    owner
        .client
        .goto(&app.url(&format!("/chat/{group}/info")))
        .await
        .unwrap();
    owner
        .wait_js(
            "the invite section",
            r#"const section = document.querySelector('[data-testid="group-invites"]');
               return section && !section.hidden;"#,
            vec![],
        )
        .await;
    owner
        .client
        .execute(
            "document.querySelector('[data-testid=\"invite-expiry\"]').value = 'day';",
            vec![],
        )
        .await
        .unwrap();
    owner.type_into("invite-max-uses", "5").await;
    owner.click("invite-create").await;
    let link = owner
        .wait_js(
            "the new link with its QR code",
            r#"const invite = document.querySelector('[data-testid="invite"]');
               const svg = invite && invite.querySelector('[data-testid="invite-qr"] svg path');
               return svg && svg.getAttribute('d').length > 100
                   && invite.querySelector('[data-testid="invite-uses"]').textContent === 'Used 0 of 5 times'
                   ? invite.querySelector('[data-testid="invite-link"]').href : null;"#,
            vec![],
        )
        .await;
    let link = link.as_str().unwrap().to_owned();
    assert!(link.starts_with(&app.url("/invite/")), "{link}");
    owner
        .client
        .execute(
            "document.querySelector('[data-testid=\"group-invites\"]').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    owner.screenshot("group-invite-desktop.png").await;
    owner.fit_viewport(PHONE_SIZE.0, PHONE_SIZE.1).await;
    set_dark(&owner, true).await;
    owner
        .client
        .execute(
            "document.querySelector('[data-testid=\"invite\"]').scrollIntoView();",
            vec![],
        )
        .await
        .unwrap();
    assert_fits(&owner).await;
    owner.screenshot("group-invite-phone-dark.png").await;

    // Rina, a number nobody invited, follows the link: the group's name and
    // size, then sign-in, then the group.
    let rina = driver.open("rina", PHONE_SIZE).await;
    rina.client
        .goto(&link)
        .await
        .expect("the link opens the app");
    rina.wait_text("invite-group-name", "Kebun Raya").await;
    rina.wait_text("invite-member-count", "2 members").await;
    rina.screenshot("invite-page-phone.png").await;
    rina.type_into("phone-input", &rina_phone).await;
    rina.click("send-code").await;
    let code = sent_code(&app, &rina_phone).await;
    enter_code(&rina, &code, Some("Rina Kusuma")).await;
    rina.wait_js(
        "the group open",
        "return location.pathname === arguments[0];",
        vec![json!(format!("/chat/{group}"))],
    )
    .await;
    rina.wait_text("chat-title", "Kebun Raya").await;
    rina.screenshot("invite-joined-phone.png").await;

    // The admin sees the use; revoked, the link says so.
    owner.client.refresh().await.unwrap();
    owner.wait_text("invite-uses", "Used 1 of 5 times").await;
    accept_confirms(&owner).await;
    owner.click("invite-revoke").await;
    owner
        .wait_js(
            "the link gone from the list",
            "return !document.querySelector('[data-testid=\"invite\"]');",
            vec![],
        )
        .await;
    set_dark(&owner, false).await;
    rina.client.goto(&link).await.unwrap();
    rina.wait_text("invite-gone", "This link has expired or was revoked.")
        .await;
    rina.screenshot("invite-gone-phone.png").await;
    let (status, _) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/chats/{group}"),
            Some(&app.login(&rina_phone).await.access),
            None,
        )
        .await;
    rina.dismiss_login_code().await;
    assert!(status.is_success(), "Rina is in the group");
    for browser in [&owner, &rina] {
        browser.assert_clean_console_but(&["404"]).await;
    }
    owner.close().await;
    rina.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_message_reaches_the_console_and_a_blocked_person_cannot_be_messaged() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn_with(&[("--otp-cooldown", "0")]).await;
    let (owner_phone, budi_phone) = (phone(8301), phone(8302));
    // The first account is the admin.
    let owner = driver.open("report-owner", DESKTOP_SIZE).await;
    owner.sign_in(&app, &owner_phone, "Made Admin", None).await;
    let budi = driver.open("budi", PHONE_SIZE).await;
    budi.sign_in(&app, &budi_phone, "Budi Santoso", None).await;
    let (me, budi_login) = (app.login(&owner_phone).await, app.login(&budi_phone).await);
    owner.dismiss_login_code().await;
    budi.dismiss_login_code().await;
    let chat = app.private_chat(&budi_login, &me).await;
    app.send_message(&budi_login, &chat, "Pulsa murah, transfer dulu ya")
        .await;

    // The admin reports it from the message menu, with a reason.
    owner
        .client
        .goto(&app.url(&format!("/chat/{chat}")))
        .await
        .unwrap();
    owner
        .wait_message("Pulsa murah, transfer dulu ya", false)
        .await;
    owner.open_menu("Pulsa murah, transfer dulu ya").await;
    owner.click("menu-report").await;
    owner.type_into("report-reason", "Looks like a scam").await;
    owner.screenshot("report-form-desktop.png").await;
    owner.click("report-send").await;
    owner
        .wait_js(
            "the menu closed",
            "return !document.querySelector('[data-testid=\"message-menu\"]');",
            vec![],
        )
        .await;

    // It waits in the console's Reports with the message's copy.
    owner.client.goto(&app.url("/admin")).await.unwrap();
    owner.click("admin-tab-reports").await;
    owner
        .wait_js(
            "the report in the console",
            r#"const report = document.querySelector('[data-testid="admin-report"]');
               return report && report.textContent.includes('Made Admin')
                   && report.querySelector('[data-testid="admin-report-reason"]').textContent === 'Looks like a scam'
                   && report.querySelector('[data-testid="admin-report-message"]').textContent.includes('Pulsa murah, transfer dulu ya')
                   && report.querySelector('[data-testid="admin-report-message"]').textContent.includes('Budi Santoso');"#,
            vec![],
        )
        .await;
    owner.screenshot("admin-reports-desktop.png").await;
    owner.click("admin-report-dismiss").await;
    owner
        .wait_js(
            "the report dismissed",
            "return !document.querySelector('[data-testid=\"admin-report\"]');",
            vec![],
        )
        .await;

    // Budi blocks the admin from their chat's info; then his message is refused.
    budi.client
        .goto(&app.url(&format!("/chat/{chat}/info")))
        .await
        .unwrap();
    accept_confirms(&budi).await;
    budi.wait_text_in("block-toggle", "Block").await;
    budi.click("block-toggle").await;
    budi.wait_text_in("block-toggle", "Unblock").await;
    budi.client
        .goto(&app.url(&format!("/chat/{chat}")))
        .await
        .unwrap();
    budi.type_into("composer", "Halo?").await;
    budi.click("send").await;
    budi.wait_js(
        "the refusal on the bubble",
        r#"const failed = [...document.querySelectorAll('[data-testid="not-sent"]')];
           return failed.some((el) => el.textContent === 'You can’t message this person.');"#,
        vec![],
    )
    .await;
    budi.screenshot("blocked-send-phone.png").await;
    set_dark(&budi, true).await;
    budi.screenshot("blocked-send-phone-dark.png").await;
    set_dark(&budi, false).await;

    // The settings list him as blocked; unblocking lets messages through.
    budi.client.goto(&app.url("/profile")).await.unwrap();
    budi.wait_js(
        "the blocked list",
        r#"const people = [...document.querySelectorAll('[data-testid="blocked-person"]')];
           return people.length === 1 && people[0].textContent.includes('Made Admin');"#,
        vec![],
    )
    .await;
    budi.click("unblock").await;
    budi.wait_js(
        "the download button beside the list",
        "return Boolean(document.querySelector('[data-testid=\"export-data\"]'));",
        vec![],
    )
    .await;
    // The archive the button downloads, fetched by the browser itself: it
    // arrives whole, a tar whose first entry is profile.json.
    let archive = budi
        .wait_js(
            "the export fetched by the browser",
            r#"return (async () => {
                 const answer = await fetch('/api/users/profile/export',
                   { headers: { Authorization: 'Bearer ' + arguments[0] } });
                 const bytes = new Uint8Array(await answer.arrayBuffer());
                 return { status: answer.status, size: bytes.length,
                          first: new TextDecoder().decode(bytes.slice(0, 12)) };
               })();"#,
            vec![json!(budi_login.access)],
        )
        .await;
    assert_eq!(archive["status"], 200, "{archive}");
    assert_eq!(archive["first"], "profile.json", "{archive}");
    assert_eq!(archive["size"].as_u64().unwrap() % 512, 0, "{archive}");
    budi.wait_js(
        "nobody blocked",
        "return !document.querySelector('[data-testid=\"blocked-person\"]');",
        vec![],
    )
    .await;
    let sent = app
        .send_message(&budi_login, &chat, "Maaf, salah kirim")
        .await;
    assert!(sent["seq"].is_number() || sent["seq"].is_string(), "{sent}");

    for browser in [&owner, &budi] {
        browser.assert_clean_console_but(&["403"]).await;
    }
    owner.close().await;
    budi.close().await;
}

/// The reference: `text` as byte data at `version`, level M, with `mask`,
/// drawn by the `qrcode` crate; rows of '#' (dark) and '.' (light).
fn reference(text: &str, version: i16, mask: u8) -> Vec<String> {
    let version = Version::Normal(version);
    let mut bits = Bits::new(version);
    bits.push_byte_data(text.as_bytes()).unwrap();
    bits.push_terminator(EcLevel::M).unwrap();
    let (data, ec) =
        qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).unwrap();
    let mut canvas = Canvas::new(version, EcLevel::M);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec);
    let pattern = [
        MaskPattern::Checkerboard,
        MaskPattern::HorizontalLines,
        MaskPattern::VerticalLines,
        MaskPattern::DiagonalLines,
        MaskPattern::LargeCheckerboard,
        MaskPattern::Fields,
        MaskPattern::Diamonds,
        MaskPattern::Meadow,
    ][usize::from(mask)];
    canvas.apply_mask(pattern);
    let colors = canvas.into_colors();
    let width = usize::try_from(version.width()).unwrap();
    colors
        .chunks(width)
        .map(|row| {
            row.iter()
                .map(|color| if *color == Color::Dark { '#' } else { '.' })
                .collect()
        })
        .collect()
}

/// The smallest version that holds `text` as byte data at level M.
fn smallest_version(text: &str) -> i16 {
    (1..=40)
        .find(|&version| {
            let mut bits = Bits::new(Version::Normal(version));
            bits.push_byte_data(text.as_bytes()).is_ok() && bits.push_terminator(EcLevel::M).is_ok()
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_apps_qr_codes_match_a_reference_encoder_for_versions_1_to_10_and_every_mask() {
    let Some(driver) = Driver::start().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let browser = driver.open("qr", DESKTOP_SIZE).await;
    browser.client.goto(&app.url("/")).await.unwrap();
    // One text per version: the lengths fill versions 1 to 10 in turn; one
    // is not ASCII (its UTF-8 bytes are encoded).
    let base = "http://192.168.1.20:8080/invite/";
    let mut texts: Vec<String> = [10, 20, 35, 50, 70, 100, 120, 140, 170, 213]
        .iter()
        .map(|&length| {
            let mut text = base.to_owned();
            let mut n = 0u32;
            while text.len() < length {
                text.push(char::from(b'A' + u8::try_from(n % 26).unwrap()));
                n += 7;
            }
            text.truncate(length);
            text
        })
        .collect();
    texts.push("Kebun Raya · kopi ☕ 東京".to_owned());
    let drawn = browser
        .eval_async(
            "the app's encoder on every text and mask",
            r#"const main = document.querySelector('script[type="module"]').src;
               const { encode, MAX_VERSION } = await import(new URL('qr.js', main).href);
               const rows = (code) => code.dark.map((row) => row.map((on) => (on ? '#' : '.')).join(''));
               const tooLong = (() => { try { encode('x'.repeat(214)); return false; } catch { return true; } })();
               return {
                 maxVersion: MAX_VERSION,
                 tooLong,
                 codes: arguments[0].map((text) => {
                   const best = encode(text);
                   return {
                     version: best.version,
                     chosen: best.mask,
                     best: rows(best),
                     masks: [0, 1, 2, 3, 4, 5, 6, 7].map((mask) => rows(encode(text, { mask }))),
                   };
                 }),
               };"#,
            vec![json!(texts)],
        )
        .await;
    assert_eq!(drawn["maxVersion"], 10);
    assert_eq!(drawn["tooLong"], true, "214 bytes do not fit version 10-M");
    let mut versions = Vec::new();
    for (text, code) in texts.iter().zip(drawn["codes"].as_array().unwrap()) {
        let version = smallest_version(text);
        versions.push(version);
        assert_eq!(code["version"], json!(version), "{text:?}");
        for mask in 0..8u8 {
            let expected = reference(text, version, mask);
            let got: Vec<String> =
                serde_json::from_value(code["masks"][usize::from(mask)].clone()).unwrap();
            assert_eq!(got, expected, "{text:?}, version {version}, mask {mask}");
        }
        let chosen = u8::try_from(code["chosen"].as_u64().unwrap()).unwrap();
        assert_eq!(
            code["best"],
            Value::from(reference(text, version, chosen)),
            "the chosen mask's code"
        );
    }
    assert_eq!(versions[..10], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    browser.assert_clean_console().await;
    browser.close().await;
}
