//! The HTTP side of subscribing: reading a request, refusing unknown topics
//! with ntfy's error shape, and writing a subscription as a streamed or
//! polled body or over a WebSocket.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::event::{Event, Format};
use super::live::{End, Live};
use super::since::{self, Since};
use super::topics::Topics;
use crate::timestamp::Timestamp;

/// What a subscriber asked for.
struct Request {
    since: Since,
    /// `poll=1`: the cached messages, then the end; no `open`, no keepalives.
    poll: bool,
}

/// Why a subscription was refused, written as ntfy writes errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    UnknownTopic,
    InvalidSince,
    InvalidQuery,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (code, status, error) = match self {
            Self::UnknownTopic => (40401, StatusCode::NOT_FOUND, "page not found"),
            Self::InvalidSince => (40008, StatusCode::BAD_REQUEST, "invalid since parameter"),
            Self::InvalidQuery => (40000, StatusCode::BAD_REQUEST, "invalid query string"),
        };
        let body = json!({ "code": code, "http": status.as_u16(), "error": error });
        (status, Json(body)).into_response()
    }
}

pub async fn json(
    State(topics): State<Topics>,
    Path(topic): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    respond(&topics, &topic, query.as_deref(), Format::Json)
}

pub async fn sse(
    State(topics): State<Topics>,
    Path(topic): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    respond(&topics, &topic, query.as_deref(), Format::Sse)
}

pub async fn raw(
    State(topics): State<Topics>,
    Path(topic): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    respond(&topics, &topic, query.as_deref(), Format::Raw)
}

/// ntfy's access check, which the ntfy app asks before subscribing.
pub async fn auth(State(topics): State<Topics>, Path(topic): Path<String>) -> Response {
    if !topics.is_known(&topic) {
        return Refusal::UnknownTopic.into_response();
    }
    Json(json!({ "success": true })).into_response()
}

pub async fn ws(
    State(topics): State<Topics>,
    Path(topic): Path<String>,
    RawQuery(query): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let request = match read(&topics, &topic, query.as_deref()) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    if request.poll {
        let backlog = topics.cached(&topic, &request.since);
        return upgrade.on_upgrade(move |socket| send_and_close(socket, backlog));
    }
    // Subscribed before the handshake completes, so nothing published
    // meanwhile is missed.
    let live = Live::start(
        &topic,
        topics.subscribe(&topic, &request.since),
        topics.settings(),
    );
    upgrade.on_upgrade(move |socket| stream_to_socket(socket, live))
}

fn respond(topics: &Topics, topic: &str, query: Option<&str>, format: Format) -> Response {
    let request = match read(topics, topic, query) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let body = if request.poll {
        let cached = topics.cached(topic, &request.since);
        Body::from(
            cached
                .iter()
                .map(|event| format.encode(event))
                .collect::<String>(),
        )
    } else {
        let live = Live::start(
            topic,
            topics.subscribe(topic, &request.since),
            topics.settings(),
        );
        Body::from_stream(futures_util::stream::unfold(
            live,
            move |mut live| async move {
                let event = live.next().await.ok()?;
                Some((Ok::<_, Infallible>(format.encode(&event)), live))
            },
        ))
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx buffers responses by default, which would hold events back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn read(topics: &Topics, topic: &str, query: Option<&str>) -> Result<Request, Refusal> {
    if !topics.is_known(topic) {
        return Err(Refusal::UnknownTopic);
    }
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or("")).map_err(|_| Refusal::InvalidQuery)?;
    // ntfy's short forms too: `po`, `si`.
    let poll =
        param(&params, &["poll", "po"]).is_some_and(|value| matches!(value, "1" | "yes" | "true"));
    let since = since::parse(
        param(&params, &["since", "si"]),
        poll,
        Timestamp::now().seconds(),
    )
    .map_err(|_| Refusal::InvalidSince)?;
    Ok(Request { since, poll })
}

fn param<'a>(params: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    params
        .iter()
        .find(|(name, _)| names.contains(&name.as_str()))
        .map(|(_, value)| value.as_str())
}

async fn stream_to_socket(mut socket: WebSocket, mut live: Live) {
    loop {
        tokio::select! {
            next = live.next() => match next {
                Ok(event) => {
                    if socket.send(Message::Text(event.to_json().into())).await.is_err() {
                        return;
                    }
                }
                Err(end) => return close(socket, close_code_for(end)).await,
            },
            // Reading lets the library answer pings and notice a close;
            // what a subscriber sends means nothing here.
            incoming = socket.recv() => match incoming {
                None | Some(Err(_) | Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn send_and_close(mut socket: WebSocket, events: Vec<Arc<Event>>) {
    for event in events {
        if socket
            .send(Message::Text(event.to_json().into()))
            .await
            .is_err()
        {
            return;
        }
    }
    close(socket, close_code::NORMAL).await;
}

async fn close(mut socket: WebSocket, code: u16) {
    // The subscriber may be gone already; there is no one left to tell.
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: "".into(),
        })))
        .await;
}

fn close_code_for(end: End) -> u16 {
    match end {
        End::Shutdown => close_code::AWAY,
        End::Forgotten => close_code::NORMAL,
        // "Try again later": reconnecting with `since=` catches up.
        End::FellBehind => close_code::AGAIN,
    }
}
