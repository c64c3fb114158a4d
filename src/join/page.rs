//! The `/join` page, in English and Indonesian: how to trust the local
//! authority on each platform, its fingerprint to compare, and the HTTPS
//! address as a link and a QR code. Plain HTML and one stylesheet: it must
//! work on any phone browser, before the app or any script loads.

use std::fmt::Write as _;

use crate::tls::AuthorityCard;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    En,
    Id,
}

impl Language {
    /// `?lang=` first, then the browser's first preference.
    pub fn choose(query: Option<&str>, accept_language: Option<&str>) -> Self {
        let wanted = query.or_else(|| {
            accept_language?
                .split(',')
                .next()
                .map(|tag| tag.split(';').next().unwrap_or(tag).trim())
        });
        match wanted {
            Some(tag) if tag.to_ascii_lowercase().starts_with("id") => Self::Id,
            _ => Self::En,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Id => "id",
        }
    }
}

/// The words of the page, one set per language.
struct Words {
    title_trust: &'static str,
    title_open: &'static str,
    intro_trust: &'static str,
    intro_open: &'static str,
    step_download: &'static str,
    download_crt: &'static str,
    download_profile: &'static str,
    fingerprint: &'static str,
    step_trust: &'static str,
    platforms: [(&'static str, &'static str); 5],
    step_open: &'static str,
    scan: &'static str,
    plain_lead: &'static str,
    plain_link: &'static str,
    plain_rest: &'static str,
    other_language: &'static str,
}

const EN: Words = Words {
    title_trust: "Use Clavox securely on this device",
    title_open: "Open Clavox securely",
    intro_trust: "This server makes its own certificates, so each device trusts it once. After that the app can be installed, record voice messages and show notifications.",
    intro_open: "Open the secure address to install the app, record voice messages and get notifications.",
    step_download: "1. Download the certificate",
    download_crt: "Certificate (.crt)",
    download_profile: "iPhone / iPad profile",
    fingerprint: "When your device shows a SHA-256 fingerprint, it must be exactly this:",
    step_trust: "2. Trust it",
    platforms: [
        (
            "Android",
            "Open the downloaded file, or go to Settings → Security → More security settings → Encryption &amp; credentials → Install a certificate → CA certificate, and pick it. Name it Clavox.",
        ),
        (
            "iPhone and iPad",
            "Download the profile in Safari and allow it. Then Settings → General → VPN &amp; Device Management → the Clavox profile → Install. Last, Settings → General → About → Certificate Trust Settings: turn on full trust for it.",
        ),
        (
            "Windows",
            "Open the .crt file → Install Certificate → Current User → “Place all certificates in the following store” → Trusted Root Certification Authorities → Finish. Restart the browser.",
        ),
        (
            "macOS",
            "Open the .crt file; Keychain Access adds it. Double-click it there, open Trust and set “When using this certificate” to Always Trust.",
        ),
        (
            "Linux",
            "<code>sudo cp clavox-ca.crt /usr/local/share/ca-certificates/ &amp;&amp; sudo update-ca-certificates</code>. Firefox and Chrome keep their own list: import it under Settings → Privacy &amp; Security → Certificates → Authorities.",
        ),
    ],
    step_open: "3. Open the secure address",
    scan: "Or scan it with the phone's camera:",
    plain_lead: "Not now?",
    plain_link: "Go on over plain HTTP",
    plain_rest: "Chatting works; voice messages, installing the app and notifications need the secure address.",
    other_language: "Bahasa Indonesia",
};

const ID: Words = Words {
    title_trust: "Gunakan Clavox dengan aman di perangkat ini",
    title_open: "Buka Clavox dengan aman",
    intro_trust: "Server ini membuat sertifikatnya sendiri, jadi setiap perangkat perlu memercayainya sekali saja. Setelah itu aplikasi bisa dipasang, merekam pesan suara, dan menampilkan notifikasi.",
    intro_open: "Buka alamat aman untuk memasang aplikasi, merekam pesan suara, dan menerima notifikasi.",
    step_download: "1. Unduh sertifikat",
    download_crt: "Sertifikat (.crt)",
    download_profile: "Profil iPhone / iPad",
    fingerprint: "Jika perangkat menampilkan sidik jari SHA-256, isinya harus persis seperti ini:",
    step_trust: "2. Percayai sertifikat",
    platforms: [
        (
            "Android",
            "Buka file yang diunduh, atau buka Setelan → Keamanan → Setelan keamanan lainnya → Enkripsi &amp; kredensial → Instal sertifikat → Sertifikat CA, lalu pilih file itu. Beri nama Clavox.",
        ),
        (
            "iPhone dan iPad",
            "Unduh profil di Safari dan izinkan. Lalu Pengaturan → Umum → VPN &amp; Manajemen Perangkat → profil Clavox → Instal. Terakhir, Pengaturan → Umum → Mengenai → Pengaturan Kepercayaan Sertifikat: aktifkan kepercayaan penuh untuknya.",
        ),
        (
            "Windows",
            "Buka file .crt → Install Certificate → Current User → “Place all certificates in the following store” → Trusted Root Certification Authorities → Finish. Mulai ulang browser.",
        ),
        (
            "macOS",
            "Buka file .crt; Akses Keychain menambahkannya. Klik dua kali di sana, buka Trust, lalu setel “When using this certificate” ke Always Trust.",
        ),
        (
            "Linux",
            "<code>sudo cp clavox-ca.crt /usr/local/share/ca-certificates/ &amp;&amp; sudo update-ca-certificates</code>. Firefox dan Chrome punya daftar sendiri: impor di Setelan → Privasi &amp; Keamanan → Sertifikat → Otoritas.",
        ),
    ],
    step_open: "3. Buka alamat aman",
    scan: "Atau pindai dengan kamera ponsel:",
    plain_lead: "Nanti saja?",
    plain_link: "Lanjutkan lewat HTTP biasa",
    plain_rest: "Obrolan tetap jalan; pesan suara, pemasangan aplikasi, dan notifikasi butuh alamat aman.",
    other_language: "English",
};

/// The platforms' sections, in the order of `Words::platforms`.
const PLATFORM_IDS: [&str; 5] = ["android", "ios", "windows", "macos", "linux"];

/// Opens the section of the platform the page is read on; without it
/// (scripts off) every section is one tap away.
pub const SCRIPT: &str = r#"const agent = navigator.userAgent;
const touchMac = /Macintosh/.test(agent) && navigator.maxTouchPoints > 1;
const platform = /Android/.test(agent) ? 'android'
  : /iPhone|iPad|iPod/.test(agent) || touchMac ? 'ios'
  : /Windows/.test(agent) ? 'windows'
  : /Macintosh/.test(agent) ? 'macos'
  : /Linux|X11/.test(agent) ? 'linux' : null;
const section = platform && document.getElementById(platform);
if (section) section.open = true;
"#;

/// What one rendering of the page shows.
pub struct Page<'a> {
    pub language: Language,
    /// The HTTPS address to open.
    pub address: &'a str,
    /// The address as a QR code (inline SVG).
    pub qr_svg: Option<&'a str>,
    /// The authority to trust, under `TLS=auto`.
    pub authority: Option<&'a AuthorityCard>,
    /// Whether the page was reached over plain HTTP (then it offers to go
    /// on without HTTPS).
    pub plain: bool,
}

impl Page<'_> {
    pub fn render(&self) -> String {
        let words = match self.language {
            Language::En => &EN,
            Language::Id => &ID,
        };
        let (title, intro) = match self.authority {
            Some(_) => (words.title_trust, words.intro_trust),
            None => (words.title_open, words.intro_open),
        };
        let other = match self.language {
            Language::En => "id",
            Language::Id => "en",
        };
        let mut html = String::with_capacity(8 * 1024);
        let _ = write!(
            html,
            r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/join/join.css">
<script src="/join/join.js" defer></script>
</head>
<body>
<main>
<p class="language"><a href="/join?lang={other}" hreflang="{other}">{other_language}</a></p>
<h1>{title}</h1>
<p class="intro">{intro}</p>
"#,
            lang = self.language.code(),
            other_language = words.other_language,
        );
        if let Some(authority) = self.authority {
            let _ = write!(
                html,
                r#"<section>
<h2>{step_download}</h2>
<p class="downloads"><a class="button" href="/join/ca.crt" download="clavox-ca.crt">{download_crt}</a>
<a class="button secondary" href="/join/clavox.mobileconfig">{download_profile}</a></p>
<p>{fingerprint_lead}</p>
<p><code class="fingerprint" id="fingerprint">{fingerprint}</code></p>
</section>
<section>
<h2>{step_trust}</h2>
"#,
                step_download = words.step_download,
                download_crt = words.download_crt,
                download_profile = words.download_profile,
                fingerprint_lead = words.fingerprint,
                // Breaks only between byte pairs on a narrow screen.
                fingerprint = authority.fingerprint.replace(':', ":<wbr>"),
                step_trust = words.step_trust,
            );
            for ((platform, steps), id) in words.platforms.iter().zip(PLATFORM_IDS) {
                let _ = writeln!(
                    html,
                    "<details id=\"{id}\"><summary>{platform}</summary><p>{steps}</p></details>"
                );
            }
            html.push_str("</section>\n");
        }
        let address = escape(self.address);
        let _ = write!(
            html,
            r#"<section>
<h2>{step_open}</h2>
<p><a class="button" id="secure-address" href="{address}">{address}</a></p>
"#,
            step_open = if self.authority.is_some() {
                words.step_open
            } else {
                words.step_open.trim_start_matches("3. ")
            },
        );
        if let Some(svg) = self.qr_svg {
            let _ = write!(
                html,
                "<p>{scan}</p>\n<div class=\"qr\">{svg}</div>\n",
                scan = words.scan
            );
        }
        html.push_str("</section>\n");
        if self.plain {
            let _ = writeln!(
                html,
                r#"<p class="plain">{lead} <a id="plain-http" href="/join/plain">{link}</a>. {rest}</p>"#,
                lead = words.plain_lead,
                link = words.plain_link,
                rest = words.plain_rest,
            );
        }
        html.push_str("</main>\n</body>\n</html>\n");
        html
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page's stylesheet (the policy allows no inline styles).
pub const STYLESHEET: &str = r#":root { color-scheme: light dark; --accent: #0f7b6c; --muted: #5f6b6a; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f4f6f5; color: #152120; }
main { max-width: 40rem; margin: 0 auto; padding: 1.25rem 1rem 3rem; }
h1 { font-size: 1.5rem; line-height: 1.25; margin: .5rem 0 .75rem; }
h2 { font-size: 1.1rem; margin: 0 0 .5rem; }
section { background: #fff; border-radius: 12px; padding: 1rem; margin: 1rem 0; box-shadow: 0 1px 2px rgb(0 0 0 / 8%); }
.intro, .plain { color: var(--muted); }
.language { text-align: right; margin: 0; }
a { color: var(--accent); }
.button { display: inline-block; background: var(--accent); color: #fff; text-decoration: none; padding: .6rem 1rem; border-radius: 8px; margin: .25rem .25rem .25rem 0; font-weight: 600; overflow-wrap: anywhere; }
.button.secondary { background: transparent; color: var(--accent); border: 1px solid var(--accent); }
.fingerprint { display: block; font-size: .8rem; background: #eef2f1; padding: .5rem; border-radius: 6px; }
details { border-top: 1px solid #e3e8e7; padding: .5rem 0; }
summary { cursor: pointer; font-weight: 600; }
.qr svg { width: 220px; height: 220px; max-width: 100%; background: #fff; }
@media (prefers-color-scheme: dark) {
  body { background: #0f1514; color: #e6eeec; }
  section { background: #18211f; box-shadow: none; }
  .fingerprint { background: #22302d; }
  details { border-color: #2a3734; }
  :root { --accent: #3fb5a1; --muted: #9aa8a5; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_follows_the_query_then_the_browser() {
        assert_eq!(
            Language::choose(None, Some("id-ID,id;q=0.9,en;q=0.8")),
            Language::Id
        );
        assert_eq!(Language::choose(None, Some("en-US,en")), Language::En);
        assert_eq!(Language::choose(Some("id"), Some("en-US")), Language::Id);
        assert_eq!(Language::choose(Some("en"), Some("id")), Language::En);
        assert_eq!(Language::choose(None, None), Language::En);
    }

    #[test]
    fn an_address_is_escaped() {
        let page = Page {
            language: Language::En,
            address: "https://\"><script>x</script>:5443/",
            qr_svg: None,
            authority: None,
            plain: false,
        };
        let html = page.render();
        assert!(!html.contains("<script>"));
        assert!(!html.contains("/join/plain"));
    }
}
