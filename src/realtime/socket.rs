//! One `/ws` connection: the upgrade checks, then one task that reads frames
//! and hands their events to the shared `Connection` rules, and writes the
//! answers, heartbeats and the events the bus queues on the socket's
//! bounded outbox.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::Instrument;

use crate::auth::Principal;
use crate::bus::{Closer, Encodings, Event, QueueFull, Sink};
use crate::error::Error;
use crate::http::AppState;
use crate::http::admission::{authenticate_socket, claim_socket, origin_allowed};
use crate::http::extract::{ClientIp, QueryParams};

use super::connection::{Connection, Reply};
use super::events::{self, ClientFrame, MAX_FRAME_BYTES, close};
use super::{ANSWERS_WAITING, OUTBOX_CAPACITY};

/// A `/ws` socket's queue of encoded frames, drained by its writer task.
type Outbox = mpsc::Sender<Utf8Bytes>;

/// How the bus reaches a `/ws` socket: the event as a frame, encoded once
/// per fan-out, queued on the socket's outbox.
struct WsSink(Outbox);

/// An event encoded as a `/ws` frame.
struct WsFrame(Utf8Bytes);

impl Sink for WsSink {
    fn offer(&self, event: &Event, encodings: &mut Encodings) -> Result<(), QueueFull> {
        let WsFrame(frame) = encodings.get_or_make(|| WsFrame(events::frame(event)));
        match self.0.try_send(frame.clone()) {
            Err(mpsc::error::TrySendError::Full(_)) => Err(QueueFull),
            // A closed outbox is a socket on its way out: nothing to do.
            _ => Ok(()),
        }
    }
}

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

/// The socket's initial read buffer.
const READ_BUFFER_BYTES: usize = 1024;

/// `GET /ws`.
pub async fn upgrade(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    QueryParams(query): QueryParams<UpgradeQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, Error> {
    if !origin_allowed(&headers, &state.config) {
        return Err(Error::Forbidden);
    }
    let claim = claim_socket(&state, ip)?;
    let principal = match query.token {
        Some(token) => Some(authenticate_socket(&state, &token)?),
        None => None,
    };
    let tracker = state.sockets.clone();
    Ok(upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        // Allocated for every socket up front (128 KiB by default) while
        // client frames are a few hundred bytes; bigger ones still fit, read
        // in more steps.
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                run(state, socket, principal).await;
                drop(claim);
            })
        }))
}

async fn run(state: AppState, socket: WebSocket, principal: Option<Principal>) {
    let (outbox, inbox) = mpsc::channel(OUTBOX_CAPACITY);
    let closer = Closer::default();
    let mut connection = Connection::new(state, Arc::new(WsSink(outbox)), closer.clone(), "ws");
    let span = connection.span().clone();
    async move {
        if let Some(principal) = principal {
            connection.authenticate(principal);
        }
        // Boxed, as `finish` below: the task stays small while the socket idles.
        let socket = Box::pin(serve(&mut connection, socket, inbox)).await;
        // Typing and presence end while the close frame waits for the client.
        tokio::join!(
            Box::pin(connection.finish()),
            Box::pin(say_goodbye(socket, &closer))
        );
    }
    .instrument(span)
    .await;
}

/// Answers in the order their frames arrived: a send waiting for its fsync
/// holds back the answers behind it (usually in the same batch), so clients
/// see acks in the order they sent.
type Answers = FuturesOrdered<Pin<Box<dyn Future<Output = Option<Utf8Bytes>> + Send>>>;

/// Runs the socket until it must close, in one task: reads frames and
/// dispatches their events, and writes answers, the bus's events and pings.
/// What became ready together goes out in one write, so a sender's ack and
/// its own message's event usually share a system call. Returns the socket
/// for its close frame.
async fn serve(
    connection: &mut Connection,
    mut socket: WebSocket,
    mut inbox: mpsc::Receiver<Utf8Bytes>,
) -> WebSocket {
    let closer = connection.closer().clone();
    let shutdown = connection.state().hub.shutdown_signal();
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut last_heard = Instant::now();
    let mut answers = Answers::new();
    let mut out = Vec::new();
    loop {
        if !out.is_empty() {
            // A client that stops reading blocks this write; a close request
            // (1013 from a full outbox) must not wait behind it.
            let written = tokio::select! {
                result = timeout(WRITE_TIMEOUT, write_burst(&mut socket, &mut out, &mut answers, &mut inbox)) => result,
                _ = closer.closed() => break,
            };
            if !matches!(written, Ok(Ok(()))) {
                closer.close(close::GOING_AWAY);
                break;
            }
        }
        let deadline = connection.deadline();
        tokio::select! {
            biased;
            _ = closer.closed() => break,
            () = shutdown.cancelled() => {
                closer.close(close::GOING_AWAY);
                break;
            }
            () = sleep_until(deadline) => {
                if let Some(code) = connection.on_deadline() {
                    closer.close(code);
                    break;
                }
            }
            () = sleep_until(last_heard + SILENCE_LIMIT) => {
                closer.close(close::GOING_AWAY);
                break;
            }
            Some(answer) = answers.next(), if !answers.is_empty() => out.extend(answer.map(Message::Text)),
            frame = inbox.recv() => match frame {
                Some(frame) => out.push(Message::Text(frame)),
                // Not while the connection holds its sink; ends the socket all the same.
                None => break,
            },
            _ = ping.tick() => out.push(Message::Ping(Default::default())),
            incoming = socket.next(), if answers.len() < ANSWERS_WAITING => {
                last_heard = Instant::now();
                let code = match incoming {
                    Some(Ok(Message::Text(text))) => {
                        Box::pin(handle(connection, &mut out, &mut answers, &text)).await;
                        continue;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Binary(_))) => close::UNSUPPORTED_DATA,
                    Some(Ok(Message::Close(_))) | None => close::NORMAL,
                    Some(Err(error)) => read_error_code(&error),
                };
                closer.close(code);
                break;
            }
        }
    }
    socket
}

/// Sends the close frame with the connection's reason code, after what is
/// already buffered, so a client that resumes reading still learns why it
/// was dropped.
async fn say_goodbye(mut socket: WebSocket, closer: &Closer) {
    let code = match closer.code() {
        0 => close::NORMAL,
        code => code,
    };
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(close_reason(code)),
    };
    let _ = timeout(CLOSE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
    let _ = timeout(Duration::from_secs(5), socket.close()).await;
}

/// Frames written with one flush at most.
const BURST_FRAMES: usize = 64;

/// Writes `out`, the answers ready behind it and the events queued for the
/// socket with one flush: a burst costs one system call, not one per frame.
async fn write_burst(
    socket: &mut WebSocket,
    out: &mut Vec<Message>,
    answers: &mut Answers,
    inbox: &mut mpsc::Receiver<Utf8Bytes>,
) -> Result<(), axum::Error> {
    let mut written = 0;
    loop {
        for message in out.drain(..) {
            socket.feed(message).await?;
            written += 1;
        }
        if written >= BURST_FRAMES {
            break;
        }
        // Polled without waiting: the loop in `serve` polls both again with
        // the task's waker before it sleeps.
        if let Some(Some(answer)) = answers.next().now_or_never() {
            out.extend(answer.map(Message::Text));
        } else if let Ok(frame) = inbox.try_recv() {
            out.push(Message::Text(frame));
        } else {
            break;
        }
    }
    socket.flush().await
}

fn close_reason(code: u16) -> &'static str {
    match code {
        close::GOING_AWAY => "server going away",
        close::UNSUPPORTED_DATA => "binary frames are not supported",
        close::TOO_BIG => "frame too large",
        close::POLICY => "over the event budget: slow down",
        close::TOO_SLOW => "too slow: reconnect and catch up with after=<seq>",
        close::UNAUTHORIZED => "unauthorized",
        _ => "",
    }
}

/// One text frame: its envelope here, its event by the shared rules. The
/// answer goes out at once unless earlier answers are still waiting.
async fn handle(
    connection: &mut Connection,
    out: &mut Vec<Message>,
    answers: &mut Answers,
    text: &str,
) {
    let answer = match ClientFrame::parse(text) {
        Err(bad) => Some(events::error(bad.id, &Error::BadRequest(bad.reason))),
        Ok(frame) => {
            let id = frame.id;
            let is_ping = frame.event == "ping";
            match connection.start(&frame.event, frame.data).await {
                Ok(Reply::Later(pending)) => {
                    answers.push_back(Box::pin(
                        pending.map(move |answer| answer_frame(id, false, answer)),
                    ));
                    return;
                }
                Ok(Reply::Now(data)) => answer_frame(id, is_ping, Ok(data)),
                Err(error) => answer_frame(id, is_ping, Err(error)),
            }
        }
    };
    match answer {
        Some(frame) if answers.is_empty() => out.push(Message::Text(frame)),
        Some(frame) => answers.push_back(Box::pin(std::future::ready(Some(frame)))),
        None => {}
    }
}

/// The frame answering an event: its ack, a `pong`, or its error; nothing
/// for a successful event sent without an `id`.
fn answer_frame(id: Option<i64>, is_ping: bool, answer: Result<Value, Error>) -> Option<Utf8Bytes> {
    match answer {
        Ok(data) => match id {
            Some(id) => Some(events::ack(id, &data)),
            None if is_ping => Some(events::frame(&Event::new("pong", &json!({})))),
            None => None,
        },
        Err(error) => {
            error.log_if_internal();
            Some(events::error(id, &error))
        }
    }
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
