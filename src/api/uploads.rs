//! `/api/uploads`: storing attachments and serving them back, with `Range`
//! support for seeking in voice and video.

use std::io::SeekFrom;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;
use utoipa::{IntoParams, ToSchema};

use crate::error::ErrorBody;
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::store::UploadRecord;
use crate::uploads::{Incoming, sniff};

use crate::http::extract::{AuthUser, QueryParams, is_body_timeout};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", post(upload))
        .route("/{upload_id}", get(download))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UploadQuery {
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UploadView {
    id: String,
    url: String,
    name: String,
    content_type: String,
    size: u64,
    sha256: String,
}

impl From<&UploadRecord> for UploadView {
    fn from(record: &UploadRecord) -> Self {
        let id = record.id_hex();
        Self {
            url: format!("/api/uploads/{id}"),
            id,
            name: record.name.clone(),
            content_type: record.content_type.clone(),
            size: record.size,
            sha256: hex::encode(record.sha256),
        }
    }
}

#[utoipa::path(post, path = "/api/uploads", tag = "uploads", security(("bearer" = [])), params(UploadQuery), request_body(content = Vec<u8>, content_type = "*/*", description = "The raw file, with its Content-Type"), responses((status = 201, body = UploadView), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 403, description = "The uploader's quota is used up (quota_exceeded)", body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, description = "Over 100 uploads in an hour (rate_limited, with Retry-After)", body = ErrorBody), (status = 507, description = "The disk keeps its last space for messages (storage_full)", body = ErrorBody)))]
pub(super) async fn upload(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    QueryParams(query): QueryParams<UploadQuery>,
    request: Request,
) -> Result<(StatusCode, Json<UploadView>)> {
    let (parts, body) = request.into_parts();
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    };
    let content_type = header(CONTENT_TYPE);
    let declared_size = header(CONTENT_LENGTH).and_then(|value| value.parse().ok());
    let incoming = Incoming {
        owner: principal.user,
        name: query.name.as_deref(),
        content_type,
        declared_size,
    };
    // The store sees a stalled body only as an interrupted one; it is told
    // apart here so the client learns to retry (408).
    let stalled = Arc::new(AtomicBool::new(false));
    let body = Body::new(body.map_err({
        let stalled = Arc::clone(&stalled);
        move |error| {
            if is_body_timeout(&error) {
                stalled.store(true, Ordering::Relaxed);
            }
            error
        }
    }));
    let record = match state.uploads.receive(incoming, body).await {
        Err(_) if stalled.load(Ordering::Relaxed) => return Err(Error::RequestTimeout),
        received => received?,
    };
    Ok((StatusCode::CREATED, Json(UploadView::from(&record))))
}

/// How a stored file is served: raster images, audio and video inline with
/// their type; everything else as an opaque download, so an uploaded HTML,
/// SVG or script can never render or run in this origin, whatever type its
/// uploader declared.
fn served_as(content_type: &str) -> (&'static str, &str) {
    let media = sniff::is_image_type(content_type)
        || content_type.starts_with("audio/")
        || content_type.starts_with("video/");
    if media {
        ("inline", content_type)
    } else {
        ("attachment", "application/octet-stream")
    }
}

#[utoipa::path(get, path = "/api/uploads/{upload_id}", tag = "uploads", params(("upload_id" = String, Path), ("Range" = Option<String>, Header)), responses((status = 200, description = "The file", content_type = "*/*"), (status = 206, description = "The requested byte range"), (status = 404, body = ErrorBody)))]
pub(super) async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let (record, mut file) = state.uploads.open_file(&id).await?;
    let size = record.size;
    let range = match headers.get(RANGE).and_then(|value| value.to_str().ok()) {
        Some(text) => match parse_range(text, size) {
            RangeRequest::Satisfiable(start, end) => Some((start, end)),
            RangeRequest::Whole => None,
            RangeRequest::Unsatisfiable => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                response
                    .headers_mut()
                    .insert(CONTENT_RANGE, header_value(&format!("bytes */{size}")));
                return Ok(response);
            }
        },
        None => None,
    };
    let (status, start, length) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, size),
    };
    if start > 0 {
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(|error| Error::Internal(Box::new(error)))?;
    }
    let mut response = Response::new(Body::from_stream(ReaderStream::new(file.take(length))));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let (disposition, content_type) = served_as(&record.content_type);
    headers.insert(CONTENT_TYPE, header_value(content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    headers.insert(
        ETAG,
        header_value(&format!("\"{}\"", hex::encode(record.sha256))),
    );
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        CONTENT_DISPOSITION,
        header_value(&content_disposition(disposition, &record.name)),
    );
    if let Some((start, end)) = range {
        headers.insert(
            CONTENT_RANGE,
            header_value(&format!("bytes {start}-{end}/{size}")),
        );
    }
    Ok(response)
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded`.
fn content_disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[derive(Debug, PartialEq, Eq)]
enum RangeRequest {
    /// Inclusive byte positions.
    Satisfiable(u64, u64),
    /// A form this server does not split (several ranges): send it all.
    Whole,
    Unsatisfiable,
}

/// Reads one `bytes=` range: `a-b`, `a-` or `-suffix`.
fn parse_range(text: &str, size: u64) -> RangeRequest {
    let Some(spec) = text.trim().strip_prefix("bytes=") else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Unsatisfiable;
    };
    let parsed = match (first.trim(), last.trim()) {
        ("", suffix) => suffix
            .parse::<u64>()
            .ok()
            .filter(|&n| n > 0)
            .map(|n| (size.saturating_sub(n), size.saturating_sub(1))),
        (start, "") => start
            .parse::<u64>()
            .ok()
            .map(|start| (start, size.saturating_sub(1))),
        (start, end) => match (start.parse::<u64>(), end.parse::<u64>()) {
            (Ok(start), Ok(end)) if start <= end => Some((start, end.min(size.saturating_sub(1)))),
            _ => None,
        },
    };
    match parsed {
        Some((start, end)) if start < size && start <= end => RangeRequest::Satisfiable(start, end),
        _ => RangeRequest::Unsatisfiable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_in_their_three_forms() {
        assert_eq!(
            parse_range("bytes=0-9", 100),
            RangeRequest::Satisfiable(0, 9)
        );
        assert_eq!(
            parse_range("bytes=90-", 100),
            RangeRequest::Satisfiable(90, 99)
        );
        assert_eq!(
            parse_range("bytes=-10", 100),
            RangeRequest::Satisfiable(90, 99)
        );
        assert_eq!(
            parse_range("bytes=50-500", 100),
            RangeRequest::Satisfiable(50, 99)
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=9-3", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=x-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeRequest::Whole);
        assert_eq!(parse_range("items=0-1", 100), RangeRequest::Whole);
    }

    #[test]
    fn only_media_are_served_inline_with_their_type() {
        for media in ["image/png", "image/webp", "audio/ogg", "video/mp4"] {
            assert_eq!(served_as(media), ("inline", media));
        }
        for other in [
            "image/svg+xml",
            "text/html",
            "application/javascript",
            "text/javascript",
            "application/xhtml+xml",
            "application/pdf",
        ] {
            assert_eq!(
                served_as(other),
                ("attachment", "application/octet-stream"),
                "{other}"
            );
        }
    }

    #[test]
    fn dispositions_quote_names_safely() {
        assert_eq!(
            content_disposition("attachment", "a b.txt"),
            "attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt"
        );
        assert_eq!(
            content_disposition("inline", "\"x\".png"),
            "inline; filename=\"_x_.png\"; filename*=UTF-8''%22x%22.png"
        );
    }
}
