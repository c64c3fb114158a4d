//! Socket.IO (protocol v5 over Engine.IO v4, websocket and long-polling) at
//! `/socket.io/`: a second wire format onto the same `Connection` rules and
//! the same hub as `/ws`, for the original design's clients.
//!
//! - A session opens with a `GET` (long-polling, upgraded to a websocket
//!   when the client can) or straight away as a websocket; the same origin
//!   rule and per-address socket cap as `/ws` apply to it (`403`, `429`).
//! - Authentication: the namespace connection's `auth: {token}` (a bad one
//!   is refused with a `connect_error` whose message is `unauthorized`), or
//!   `join_user`.
//! - Acks carry what `/ws` acks carry, or `{error, code}` on failure. An
//!   event without a callback that fails is answered with an `error` event;
//!   a `ping` without one with a `pong` event.
//! - Events are handled in the order they came, by the session's one task;
//!   a send waits for the disk while the next events are handled, and the
//!   answers go out in order.
//! - Where `/ws` closes with 4001 (not authenticated in time, token expired,
//!   session ended) the socket gets an `error` event `unauthorized` and a
//!   namespace disconnect (`io server disconnect`); a client too slow to read
//!   its events gets the disconnect after what was queued for it, so it
//!   knows it must catch up. At shutdown the transports close, so clients
//!   reconnect.

pub mod packet;
mod polling;
mod session;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Extension, Router};
use serde::Deserialize;

use crate::error::Error;
use crate::http::AppState;
use crate::http::admission::{claim_socket, origin_allowed};
use crate::http::extract::ClientIp;

use super::READ_BUFFER_BYTES;
use super::events::MAX_FRAME_BYTES;
use polling::{Poll, Sessions};
use session::{Opening, Transport};

/// How often the server pings a session.
const PING_INTERVAL: Duration = Duration::from_secs(25);
/// How long the client has to answer a ping before the session ends.
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// `/socket.io/`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/socket.io/", any(endpoint))
        .layer(Extension(Arc::new(Sessions::default())))
}

/// The query every Engine.IO request carries.
#[derive(Deserialize)]
struct EngineQuery {
    #[serde(rename = "EIO")]
    protocol: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
}

/// Engine.IO's own refusals, answered `400` with its error codes.
#[derive(Debug, Clone, Copy)]
enum EngineError {
    UnknownTransport,
    UnknownSession,
    BadHandshakeMethod,
    BadRequest,
    UnsupportedProtocol,
}

fn refuse(error: EngineError) -> Response {
    let (code, message) = match error {
        EngineError::UnknownTransport => (0, "Transport unknown"),
        EngineError::UnknownSession => (1, "Session ID unknown"),
        EngineError::BadHandshakeMethod => (2, "Bad handshake method"),
        EngineError::BadRequest => (3, "Bad request"),
        EngineError::UnsupportedProtocol => (5, "Unsupported protocol version"),
    };
    let body = serde_json::json!({ "code": code, "message": message });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// Every request of every session: a new one's handshake, a long-poll, a
/// client's packets, or a websocket (new, or upgrading a polling session).
async fn endpoint(
    State(state): State<AppState>,
    Extension(sessions): Extension<Arc<Sessions>>,
    ClientIp(ip): ClientIp,
    request: Request,
) -> Response {
    let Ok(Query(query)) = Query::<EngineQuery>::try_from_uri(request.uri()) else {
        return refuse(EngineError::BadRequest);
    };
    if query.protocol.as_deref() != Some("4") {
        return refuse(EngineError::UnsupportedProtocol);
    }
    let websocket = match query.transport.as_deref() {
        Some("websocket") => true,
        Some("polling") => false,
        _ => return refuse(EngineError::UnknownTransport),
    };
    let (mut parts, body) = request.into_parts();
    let Some(sid) = query.sid else {
        return open(state, sessions, ip, parts, websocket).await;
    };
    let Some(poll) = sessions.get(&sid) else {
        return refuse(EngineError::UnknownSession);
    };
    if websocket {
        let Some(upgrade) = websocket_upgrade(&mut parts, &state).await else {
            return refuse(EngineError::BadRequest);
        };
        if !poll.begin_upgrade() {
            return refuse(EngineError::BadRequest);
        }
        return upgrade.on_upgrade(move |socket| async move { poll.probe(socket).await });
    }
    match parts.method {
        Method::GET => poll.poll().await,
        Method::POST => match axum::body::to_bytes(body, MAX_FRAME_BYTES).await {
            Ok(body) => poll.post(body).await,
            Err(_) => Error::PayloadTooLarge {
                limit: MAX_FRAME_BYTES,
            }
            .into_response(),
        },
        _ => refuse(EngineError::BadRequest),
    }
}

/// A new session: its handshake, over long-polling or a websocket.
async fn open(
    state: AppState,
    sessions: Arc<Sessions>,
    ip: Option<IpAddr>,
    mut parts: Parts,
    websocket: bool,
) -> Response {
    if parts.method != Method::GET {
        return refuse(EngineError::BadHandshakeMethod);
    }
    if !origin_allowed(&parts.headers, &state.config) {
        return Error::Forbidden.into_response();
    }
    let claim = match claim_socket(&state, ip) {
        Ok(claim) => claim,
        Err(error) => return error.into_response(),
    };
    let opening = Opening { sessions, claim };
    let sid = session::random_id();
    if websocket {
        let Some(upgrade) = websocket_upgrade(&mut parts, &state).await else {
            return refuse(EngineError::BadRequest);
        };
        return upgrade.on_upgrade(move |socket| {
            let open = open_packet(&sid, false);
            session::spawn(
                &state,
                Transport::Websocket(socket),
                opening,
                Some(open.into()),
            );
            std::future::ready(())
        });
    }
    let poll = Arc::new(Poll::new(sid.clone().into()));
    opening.sessions.insert(poll.clone());
    session::spawn(&state, Transport::Polling(poll), opening, None);
    polling::text(open_packet(&sid, true))
}

fn open_packet(sid: &str, upgrades: bool) -> String {
    packet::open(
        sid,
        upgrades,
        PING_INTERVAL.as_millis(),
        PING_TIMEOUT.as_millis(),
        MAX_FRAME_BYTES,
    )
}

/// The request as a websocket upgrade, with the limits `/ws` has.
async fn websocket_upgrade(parts: &mut Parts, state: &AppState) -> Option<WebSocketUpgrade> {
    let upgrade = WebSocketUpgrade::from_request_parts(parts, state)
        .await
        .ok()?;
    Some(
        upgrade
            .max_message_size(MAX_FRAME_BYTES)
            .max_frame_size(MAX_FRAME_BYTES)
            .read_buffer_size(READ_BUFFER_BYTES),
    )
}
