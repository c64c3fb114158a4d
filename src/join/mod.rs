//! `/join`: how a device comes to use the HTTPS port. The page (on both
//! ports), the local authority as a `.crt` and as an iOS profile, and the
//! plain-HTTP port's habit of sending a browser that loads the app here
//! first, unless that browser chose to go on over plain HTTP.

pub mod mobileconfig;
pub mod page;

use std::net::IpAddr;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::header::{
    ACCEPT, ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE, HOST,
    LOCATION, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::error::Error;
use crate::http::AppState;
use crate::lan::MDNS_HOST;
use crate::listener::Transport;
use crate::tls::{AuthorityCard, Public};
use page::{Language, Page};

/// The cookie a browser keeps once it chose plain HTTP.
const PLAIN_COOKIE: &str = "clavox-plain-http";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/join", get(join_page))
        .route("/join/ca.crt", get(certificate))
        .route("/join/clavox.mobileconfig", get(profile))
        .route("/join/join.css", get(stylesheet))
        .route("/join/join.js", get(script))
        .route("/join/plain", get(go_on_plain))
}

#[derive(Deserialize)]
struct PageQuery {
    lang: Option<String>,
}

async fn join_page(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
    transport: Option<axum::Extension<Transport>>,
    headers: HeaderMap,
) -> Response {
    let Some(https) = state.https.as_deref() else {
        // No HTTPS here (TLS=off, behind a proxy): nothing to join.
        return redirect("/");
    };
    let address = match &https.domain {
        Some(domain) => https_url(domain, https.port),
        None => secure_address(https, headers.get(HOST)),
    };
    let qr_svg = crate::qr::svg(&address);
    let language = Language::choose(
        query.lang.as_deref(),
        headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok()),
    );
    let plain = !matches!(transport, Some(axum::Extension(Transport::Tls)));
    let html = Page {
        language,
        address: &address,
        qr_svg: qr_svg.as_deref(),
        authority: https.authority.as_ref(),
        plain,
    }
    .render();
    (
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response()
}

async fn certificate(State(state): State<AppState>) -> Response {
    let Some(authority) = local_authority(&state) else {
        return Error::NotFound.into_response();
    };
    download(
        "application/x-x509-ca-cert",
        "clavox-ca.crt",
        authority.certificate_pem.clone(),
    )
}

async fn profile(State(state): State<AppState>) -> Response {
    let Some(authority) = local_authority(&state) else {
        return Error::NotFound.into_response();
    };
    download(
        "application/x-apple-aspen-config",
        "clavox.mobileconfig",
        mobileconfig::profile(&authority.certificate_der, &authority.name),
    )
}

/// The authority to trust, when the server runs its own (`TLS=auto`).
fn local_authority(state: &AppState) -> Option<&AuthorityCard> {
    state.https.as_deref()?.authority.as_ref()
}

/// `body` as a file named `name`, always fetched fresh (the authority can
/// be replaced).
fn download(content_type: &'static str, name: &str, body: String) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    (
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (CONTENT_DISPOSITION, disposition),
            (CACHE_CONTROL, "no-cache".to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        page::STYLESHEET,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        page::SCRIPT,
    )
        .into_response()
}

/// Remembers, in this browser, that it goes on over plain HTTP.
async fn go_on_plain() -> Response {
    let mut response = redirect("/");
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static(
            "clavox-plain-http=1; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
        ),
    );
    response
}

/// On the plain-HTTP port, a browser loading the app is sent to `/join`
/// first: without HTTPS it could not install the app, record voice or get
/// notifications. API and socket clients, loopback (already a secure
/// context) and browsers that chose plain HTTP are let through.
pub async fn send_browsers_to_join(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.https.is_some() && is_plain_app_load(&request) {
        return redirect("/join");
    }
    next.run(request).await
}

fn is_plain_app_load(request: &Request) -> bool {
    let headers = request.headers();
    request.method() == Method::GET
        && is_app_path(request.uri().path())
        && headers
            .get(ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
        && !is_secure_context(request)
        && !has_plain_cookie(headers)
}

/// Whether a browser sees the page `request` loads as a secure context:
/// it came over TLS (here, or to a proxy that says so), or to a loopback
/// name. Only there do service workers, the microphone and headers such
/// as Cross-Origin-Opener-Policy work.
pub fn is_secure_context(request: &Request) -> bool {
    let headers = request.headers();
    let proxied_https = headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    request.extensions().get::<Transport>() == Some(&Transport::Tls)
        || proxied_https
        || host_is_loopback(headers.get(HOST))
}

/// Paths the web app's page answers (everything the fallback serves but
/// its assets).
fn is_app_path(path: &str) -> bool {
    const OTHERS: [&str; 9] = [
        "/api",
        "/ws",
        "/socket.io",
        "/join",
        "/assets",
        "/healthz",
        "/readyz",
        "/metrics",
        "/notify",
    ];
    !OTHERS.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }) && !path.ends_with(".js")
        && !path.ends_with(".webmanifest")
}

fn has_plain_cookie(headers: &HeaderMap) -> bool {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .any(|pair| pair.trim() == format!("{PLAIN_COOKIE}=1"))
}

fn host_is_loopback(host: Option<&HeaderValue>) -> bool {
    let Some(host) = host.and_then(|host| host.to_str().ok()).and_then(host_name) else {
        return false;
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// The host part of a `Host` header (`[::1]:5000` → `::1`), if it is a
/// plausible name or address.
fn host_name(host: &str) -> Option<&str> {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0,
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    let plausible = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
    plausible.then_some(name)
}

/// The HTTPS address for a browser that reached this server as `host`:
/// the same name or address, on the HTTPS port.
pub fn secure_address(https: &Public, host: Option<&HeaderValue>) -> String {
    let name = host
        .and_then(|host| host.to_str().ok())
        .and_then(host_name)
        .unwrap_or(MDNS_HOST);
    https_url(name, https.port)
}

/// `https://name:port/`, with IPv6 addresses in brackets and no `:443`.
pub fn https_url(name: &str, port: u16) -> String {
    let name = if name.contains(':') {
        format!("[{name}]")
    } else {
        name.to_owned()
    };
    if port == 443 {
        format!("https://{name}/")
    } else {
        format!("https://{name}:{port}/")
    }
}

fn redirect(to: &'static str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, to), (CACHE_CONTROL, "no-store")],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secure_address_keeps_the_name_the_browser_used() {
        let https = Public {
            port: 5443,
            authority: None,
            domain: None,
        };
        let address =
            |host: &str| secure_address(&https, Some(&HeaderValue::from_str(host).unwrap()));
        assert_eq!(address("192.168.1.20:5000"), "https://192.168.1.20:5443/");
        assert_eq!(address("clavox.local"), "https://clavox.local:5443/");
        assert_eq!(address("[fd00::2]:5000"), "https://[fd00::2]:5443/");
        assert_eq!(address("evil\"host:5000"), "https://clavox.local:5443/");
        assert_eq!(secure_address(&https, None), "https://clavox.local:5443/");
        assert_eq!(
            https_url("chat.example.org", 443),
            "https://chat.example.org/"
        );
    }

    #[test]
    fn only_app_pages_are_redirected() {
        for path in ["/", "/chats/abc", "/login"] {
            assert!(is_app_path(path), "{path}");
        }
        for path in [
            "/api/users",
            "/ws",
            "/socket.io/",
            "/join",
            "/join/ca.crt",
            "/assets/x/app.css",
            "/healthz",
            "/sw.js",
        ] {
            assert!(!is_app_path(path), "{path}");
        }
        assert!(is_app_path("/joinery"));
    }

    #[test]
    fn loopback_hosts_are_secure_contexts_already() {
        for host in [
            "localhost:5000",
            "127.0.0.1:5000",
            "[::1]:5000",
            "127.9.9.9",
        ] {
            assert!(
                host_is_loopback(Some(&HeaderValue::from_static(host))),
                "{host}"
            );
        }
        assert!(!host_is_loopback(Some(&HeaderValue::from_static(
            "192.168.1.2:5000"
        ))));
        assert!(!host_is_loopback(None));
    }
}
