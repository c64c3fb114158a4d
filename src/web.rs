//! The bundled web app. Every file of `web/` is compiled into the binary and
//! served under `/assets/<version>/`, where `<version>` is a digest of all of
//! them: such URLs never change content, so browsers may cache them for a
//! year. `index.html` (for `/` and every app route) names the current
//! version and is revalidated on each visit, as is the service worker at
//! `/sw.js`, whose bytes carry the version so that each release is an update
//! browsers notice.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use crate::error::Error;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Assets;

const ASSET_PREFIX: &str = "/assets/";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";
const INDEX: &str = "index.html";
/// Served from the root only: a worker controls just the paths under its
/// own, and it must control every app route.
const WORKER: &str = "sw.js";
const WORKER_PATH: &str = "/sw.js";
/// Bundled files that name the version, served with it filled in.
const TEMPLATES: [&str; 3] = [INDEX, "offline.html", WORKER];

/// A digest of every bundled file: changes whenever any file does.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut digest = Sha256::new();
    let mut names: Vec<_> = Assets::iter().collect();
    names.sort();
    for name in names {
        if let Some(file) = Assets::get(&name) {
            digest.update(name.as_bytes());
            digest.update(file.metadata.sha256_hash());
        }
    }
    hex::encode(&digest.finalize()[..6])
});

/// The templates with this version filled in, by file name.
static FILLED: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    TEMPLATES
        .into_iter()
        .filter_map(|name| {
            let file = Assets::get(name)?;
            Some((name, fill(&String::from_utf8_lossy(&file.data))))
        })
        .collect()
});

fn fill(template: &str) -> String {
    template
        .replace("%ASSET_BASE%", &format!("/assets/{}", *VERSION))
        .replace("%ASSET_VERSION%", &VERSION)
        .replace("\"%ASSET_FILES%\"", &shell_files().join(","))
}

/// What the service worker keeps for offline use, as JSON strings: every
/// bundled file the page may load. Not the worker itself, nor the page (kept
/// under `/`), nor the install icons, which browsers fetch only to install.
fn shell_files() -> Vec<String> {
    let mut names: Vec<_> = Assets::iter()
        .filter(|name| !matches!(name.as_ref(), INDEX | WORKER) && !name.starts_with("icons/"))
        .map(|name| serde_json::Value::from(name.as_ref()).to_string())
        .collect();
    names.sort();
    names
}

pub fn version() -> &'static str {
    &VERSION
}

/// Serves an asset, the service worker, or the app's `index.html` for any
/// other path but the API's: a path under `/api` that no route took is a JSON `404`, whatever
/// its method or spelling (`/api`, `/api/`, `/api//x`, `/api/%2e%2e/`).
pub async fn serve(request: Request) -> Response {
    if is_api_path(request.uri().path()) {
        return Error::NotFound.into_response();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Error::MethodNotAllowed.into_response();
    }
    let path = request.uri().path();
    if path == WORKER_PATH {
        return filled(WORKER, request.headers(), REVALIDATE);
    }
    match path.strip_prefix(ASSET_PREFIX) {
        Some(rest) => asset(rest, request.headers()),
        None => filled(INDEX, request.headers(), REVALIDATE),
    }
}

fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn asset(rest: &str, headers: &HeaderMap) -> Response {
    let Some((version, name)) = rest.split_once('/') else {
        return not_found();
    };
    if !is_plain_name(name) || name == WORKER {
        return not_found();
    }
    // An old page may still ask for an older version: answer with today's
    // file, but do not let it be cached under the old name.
    let cache = if version == *VERSION {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    if FILLED.contains_key(name) {
        return filled(name, headers, cache);
    }
    let Some(file) = Assets::get(name) else {
        return not_found();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    let content_type = file.metadata.mimetype().to_owned();
    respond(headers, &etag, cache, &content_type, file.data.into_owned())
}

/// A bundled file's name is relative, made of ordinary segments: nothing
/// that could climb out of `web/` if the lookup ever touched the disk (it
/// does in debug builds, where rust-embed reads the folder at run time).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains(['\\', '\0', '%', ':'])
        && name
            .split('/')
            .all(|segment| !matches!(segment, "" | "." | ".."))
}

/// A template with the version filled in; its tag is its name and the
/// version (`"index-<version>"`), since its bytes change with nothing else.
fn filled(name: &str, headers: &HeaderMap, cache: &'static str) -> Response {
    let Some(text) = FILLED.get(name) else {
        return not_found();
    };
    let Some((stem, extension)) = name.rsplit_once('.') else {
        return not_found();
    };
    let content_type = match extension {
        "js" => "text/javascript; charset=utf-8",
        _ => "text/html; charset=utf-8",
    };
    let etag = format!("\"{stem}-{}\"", *VERSION);
    respond(
        headers,
        &etag,
        cache,
        content_type,
        text.clone().into_bytes(),
    )
}

fn respond(
    headers: &HeaderMap,
    etag: &str,
    cache: &'static str,
    content_type: &str,
    body: Vec<u8>,
) -> Response {
    let matches = headers
        .get(IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(body))
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(ETAG, value);
    }
    if !matches && let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    response
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Not found",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(path: &str, headers: &[(&'static str, &str)]) -> (Response, String) {
        let mut request = Request::get(path);
        for &(name, value) in headers {
            request = request.header(name, value);
        }
        let response = serve(request.body(Body::empty()).unwrap()).await;
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (Response::from_parts(parts, Body::empty()), text)
    }

    fn header<'a>(response: &'a Response, name: &str) -> &'a str {
        response.headers()[name].to_str().unwrap()
    }

    #[tokio::test]
    async fn the_worker_is_served_from_the_root_with_this_release_filled_in() {
        let (response, script) = get(WORKER_PATH, &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(header(&response, "cache-control"), "no-cache");
        assert!(
            script.contains(&format!("const VERSION = '{}';", version())),
            "{script}"
        );
        assert!(!script.contains('%'), "a placeholder is left: {script}");
        // It keeps what the page loads, and not itself, the page or the icons.
        let files = script
            .lines()
            .find(|line| line.starts_with("const FILES"))
            .unwrap();
        for kept in [
            "\"app.css\"",
            "\"js/main.js\"",
            "\"js/worker.js\"",
            "\"offline.html\"",
            "\"manifest.webmanifest\"",
        ] {
            assert!(files.contains(kept), "{kept} is not kept: {files}");
        }
        for left in ["sw.js", "index.html", "icons/"] {
            assert!(!files.contains(left), "{left} is kept: {files}");
        }

        // Unchanged, it is not sent again; under /assets/ it is not served at all.
        let (again, body) = get(WORKER_PATH, &[("if-none-match", header(&response, "etag"))]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        let (asset, _) = get(&format!("/assets/{}/sw.js", version()), &[]).await;
        assert_eq!(asset.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn every_file_the_worker_keeps_is_served_and_the_pages_name_this_release() {
        let base = format!("/assets/{}/", version());
        for name in shell_files() {
            let name: String = serde_json::from_str(&name).unwrap();
            let (response, _) = get(&format!("{base}{name}"), &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            assert_eq!(header(&response, "cache-control"), IMMUTABLE, "{name}");
        }
        for path in ["/", "/chat/x", &format!("{base}offline.html")] {
            let (response, page) = get(path, &[]).await;
            assert_eq!(
                header(&response, "content-type"),
                "text/html; charset=utf-8"
            );
            assert!(page.contains(&format!("{base}app.css")), "{path}: {page}");
            assert!(!page.contains("%ASSET"), "{path}: {page}");
        }
    }

    /// Width and height from a PNG's header.
    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        (number(16), number(20))
    }

    #[test]
    fn the_manifest_names_bundled_icons_of_the_sizes_it_states() {
        let manifest: serde_json::Value =
            serde_json::from_slice(&Assets::get("manifest.webmanifest").unwrap().data).unwrap();
        let mut purposes = Vec::new();
        for icon in manifest["icons"].as_array().unwrap() {
            let (src, sizes) = (
                icon["src"].as_str().unwrap(),
                icon["sizes"].as_str().unwrap(),
            );
            let file = Assets::get(src).unwrap_or_else(|| panic!("{src} is not bundled"));
            if icon["type"] == "image/png" {
                assert_eq!(sizes, {
                    let (width, height) = png_size(&file.data);
                    format!("{width}x{height}")
                });
                purposes.push(format!("{sizes} {}", icon["purpose"].as_str().unwrap()));
            }
        }
        for wanted in ["192x192 any", "512x512 any", "512x512 maskable"] {
            assert!(
                purposes.iter().any(|p| p == wanted),
                "no {wanted} icon: {purposes:?}"
            );
        }
        let touch = Assets::get("icons/apple-touch-icon.png").unwrap();
        assert_eq!(png_size(&touch.data), (180, 180));
        assert!(FILLED[INDEX].contains("icons/apple-touch-icon.png"));
    }

    #[test]
    fn only_plain_relative_names_reach_the_bundle() {
        assert!(is_plain_name("app.js"));
        assert!(is_plain_name("icons/logo.png"));
        for name in [
            "",
            "../Cargo.toml",
            "a/../../b",
            "/etc/passwd",
            "a//b",
            "./app.js",
            "%2e%2e/x",
            "..\\x",
            "a\0b",
            "C:/x",
        ] {
            assert!(!is_plain_name(name), "{name:?}");
        }
    }
}
