//! One `/ws` connection: the upgrade checks, reading frames and handing their
//! events to the shared `Connection` rules, heartbeats, and the writer task
//! that drains the socket's bounded outbox.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};

use crate::api::extract::QueryParams;
use crate::app::AppState;
use crate::auth::Principal;
use crate::config::Config;
use crate::error::Error;
use crate::events::Event;

use super::connection::Connection;
use super::events::{self, ClientFrame, MAX_FRAME_BYTES, close};
use super::hub::{Closer, OUTBOX_CAPACITY, Outbox, Sink};

/// How often the server pings.
const PING_EVERY: Duration = Duration::from_secs(25);
/// A socket silent this long is dropped.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// How long one write to a client may take before the client counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the close frame may wait for a client to read.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
pub struct UpgradeQuery {
    token: Option<String>,
}

/// `GET /ws`.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<UpgradeQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Error> {
    if !origin_allowed(&headers, &state.config) {
        return Err(Error::Forbidden);
    }
    let principal = match query.token {
        Some(token) => Some(
            state
                .auth
                .authenticate(&token)
                .map_err(|_| Error::Unauthorized)?,
        ),
        None => None,
    };
    let tracker = state.sockets.clone();
    Ok(upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| tracker.track_future(run(state, socket, principal))))
}

/// Browsers always send `Origin`; it must be this server or one of
/// `FRONTEND_URL`. Clients that are not browsers send none and pass.
pub(super) fn origin_allowed(headers: &HeaderMap, config: &Config) -> bool {
    let header = |name| {
        headers
            .get(name)
            .and_then(|value: &axum::http::HeaderValue| value.to_str().ok())
    };
    header(ORIGIN).is_none_or(|origin| config.allows_origin(origin, header(HOST)))
}

async fn run(state: AppState, socket: WebSocket, principal: Option<Principal>) {
    let (sink, stream) = socket.split();
    let (outbox, inbox) = mpsc::channel(OUTBOX_CAPACITY);
    let closer = Closer::default();
    let writer = tokio::spawn(write_loop(sink, inbox, closer.clone()));
    let mut connection = Connection::new(state, Sink::Ws(outbox.clone()), closer);
    if let Some(principal) = principal {
        connection.authenticate(principal);
    }
    read_loop(&mut connection, &outbox, stream).await;
    connection.finish().await;
    let _ = writer.await;
}

/// Writes queued frames and pings until told to close, then sends the close
/// frame with its reason code.
async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut inbox: mpsc::Receiver<Utf8Bytes>,
    closer: Closer,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        let message = tokio::select! {
            biased;
            _ = closer.closed() => break,
            frame = inbox.recv() => match frame {
                Some(frame) => Message::Text(frame),
                None => break,
            },
            _ = ping.tick() => Message::Ping(Default::default()),
        };
        // A client that stops reading blocks this write; a close request
        // (1013 from a full outbox) must not wait behind it.
        let written = tokio::select! {
            result = timeout(WRITE_TIMEOUT, sink.send(message)) => result,
            _ = closer.closed() => break,
        };
        if !matches!(written, Ok(Ok(()))) {
            closer.close(close::GOING_AWAY);
            break;
        }
    }
    let code = match closer.code() {
        0 => close::NORMAL,
        code => code,
    };
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(close_reason(code)),
    };
    // The close frame queues behind anything already buffered, so a client
    // that resumes reading still learns why it was dropped.
    let _ = timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
    let _ = timeout(Duration::from_secs(5), sink.close()).await;
}

fn close_reason(code: u16) -> &'static str {
    match code {
        close::GOING_AWAY => "server going away",
        close::UNSUPPORTED_DATA => "binary frames are not supported",
        close::TOO_BIG => "frame too large",
        close::TOO_SLOW => "too slow: reconnect and catch up with after=<seq>",
        close::UNAUTHORIZED => "unauthorized",
        _ => "",
    }
}

/// Reads frames until the socket must close, dispatching each one.
async fn read_loop(
    connection: &mut Connection,
    outbox: &Outbox,
    mut stream: SplitStream<WebSocket>,
) {
    let closer = connection.closer().clone();
    let shutdown = connection.state().hub.shutdown_signal();
    let mut last_heard = Instant::now();
    loop {
        let deadline = connection.deadline();
        tokio::select! {
            _ = closer.closed() => return,
            () = shutdown.cancelled() => return closer.close(close::GOING_AWAY),
            () = sleep_until(deadline) => {
                if let Some(code) = connection.on_deadline() {
                    return closer.close(code);
                }
            }
            () = sleep_until(last_heard + SILENCE_LIMIT) => return closer.close(close::GOING_AWAY),
            incoming = stream.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => handle(connection, outbox, &text).await,
                    Some(Ok(Message::Binary(_))) => return closer.close(close::UNSUPPORTED_DATA),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None => return closer.close(close::NORMAL),
                    Some(Err(error)) => return closer.close(read_error_code(&error)),
                }
            }
        }
    }
}

/// Queues a frame; a full outbox means the client is not reading.
fn send(outbox: &Outbox, closer: &Closer, frame: Utf8Bytes) {
    if outbox.try_send(frame).is_err() {
        closer.close(close::TOO_SLOW);
    }
}

/// One text frame: its envelope here, its event by the shared rules.
async fn handle(connection: &mut Connection, outbox: &Outbox, text: &str) {
    let closer = connection.closer().clone();
    let frame = match ClientFrame::parse(text) {
        Ok(frame) => frame,
        Err(bad) => {
            return send(
                outbox,
                &closer,
                events::error(bad.id, &Error::BadRequest(bad.reason)),
            );
        }
    };
    let id = frame.id;
    let is_ping = frame.event == "ping";
    let answer = match connection.dispatch(&frame.event, frame.data).await {
        Ok(data) => match id {
            Some(id) => events::ack(id, &data),
            None if is_ping => events::frame(&Event::new("pong", &json!({}))),
            None => return,
        },
        Err(error) => {
            error.log_if_internal();
            events::error(id, &error)
        }
    };
    send(outbox, &closer, answer);
}

fn read_error_code(error: &axum::Error) -> u16 {
    let text = error.to_string();
    if text.contains("Space limit exceeded")
        || text.contains("too long")
        || text.contains("too big")
    {
        close::TOO_BIG
    } else {
        close::GOING_AWAY
    }
}
