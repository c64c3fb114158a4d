//! The bundled web app. Every file of `web/` is compiled into the binary and
//! served under `/assets/<version>/`, where `<version>` is a digest of all of
//! them: such URLs never change content, so browsers may cache them for a
//! year. `index.html` (for `/` and every app route) names the current
//! version and is revalidated on each visit.

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

/// `index.html` with the asset base filled in.
static INDEX: LazyLock<Option<String>> = LazyLock::new(|| {
    let file = Assets::get("index.html")?;
    let text = String::from_utf8_lossy(&file.data)
        .replace("%ASSET_BASE%", &format!("/assets/{}", *VERSION));
    Some(text)
});

pub fn version() -> &'static str {
    &VERSION
}

/// Serves an asset, or the app's `index.html` for any other path but the
/// API's: a path under `/api` that no route took is a JSON `404`, whatever
/// its method or spelling (`/api`, `/api/`, `/api//x`, `/api/%2e%2e/`).
pub async fn serve(request: Request) -> Response {
    if is_api_path(request.uri().path()) {
        return Error::NotFound.into_response();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Error::MethodNotAllowed.into_response();
    }
    let path = request.uri().path();
    match path.strip_prefix(ASSET_PREFIX) {
        Some(rest) => asset(rest, request.headers()),
        None => index(request.headers()),
    }
}

fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn asset(rest: &str, headers: &HeaderMap) -> Response {
    let Some((version, name)) = rest.split_once('/') else {
        return not_found();
    };
    if !is_plain_name(name) {
        return not_found();
    }
    let Some(file) = Assets::get(name) else {
        return not_found();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    // An old page may still ask for an older version: answer with today's
    // file, but do not let it be cached under the old name.
    let cache = if version == *VERSION {
        IMMUTABLE
    } else {
        REVALIDATE
    };
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

fn index(headers: &HeaderMap) -> Response {
    let Some(index) = INDEX.as_ref() else {
        return not_found();
    };
    let etag = format!("\"index-{}\"", *VERSION);
    respond(
        headers,
        &etag,
        REVALIDATE,
        "text/html; charset=utf-8",
        index.clone().into_bytes(),
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
