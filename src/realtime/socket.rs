//! One `/ws` connection: the upgrade checks, reading frames and handing their
//! events to the shared `Connection` rules, heartbeats, and the writer task
//! that drains the socket's bounded outbox.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::{FuturesOrdered, SplitSink, SplitStream};
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
    let (sink, stream) = socket.split();
    let (outbox, inbox) = mpsc::channel(OUTBOX_CAPACITY);
    let closer = Closer::default();
    let writer = tokio::spawn(write_loop(sink, inbox, closer.clone()));
    let mut connection = Connection::new(state, Arc::new(WsSink(outbox.clone())), closer, "ws");
    let span = connection.span().clone();
    async move {
        if let Some(principal) = principal {
            connection.authenticate(principal);
        }
        // Boxed, as `finish` below: the task stays small while the socket idles.
        Box::pin(read_loop(&mut connection, &outbox, stream)).await;
        Box::pin(connection.finish()).await;
        let _ = writer.await;
    }
    .instrument(span)
    .await;
}

/// Answers in the order their frames arrived: a send waiting for its fsync
/// holds back the answers behind it (usually in the same batch), so clients
/// see acks in the order they sent.
type Answers = FuturesOrdered<Pin<Box<dyn Future<Output = Option<Utf8Bytes>> + Send>>>;

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
            result = timeout(WRITE_TIMEOUT, write_burst(&mut sink, message, &mut inbox)) => result,
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

/// Frames written with one flush at most.
const BURST_FRAMES: usize = 64;

/// Writes `first` and what is queued behind it with one flush: a burst of
/// events costs one system call, not one per frame.
async fn write_burst(
    sink: &mut SplitSink<WebSocket, Message>,
    first: Message,
    inbox: &mut mpsc::Receiver<Utf8Bytes>,
) -> Result<(), axum::Error> {
    sink.feed(first).await?;
    for _ in 1..BURST_FRAMES {
        match inbox.try_recv() {
            Ok(frame) => sink.feed(Message::Text(frame)).await?,
            Err(_) => break,
        }
    }
    sink.flush().await
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

/// Reads frames until the socket must close, dispatching each one.
async fn read_loop(
    connection: &mut Connection,
    outbox: &Outbox,
    mut stream: SplitStream<WebSocket>,
) {
    let closer = connection.closer().clone();
    let shutdown = connection.state().hub.shutdown_signal();
    let mut last_heard = Instant::now();
    let mut answers = Answers::new();
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
            Some(answer) = answers.next(), if !answers.is_empty() => {
                if let Some(frame) = answer {
                    send(outbox, &closer, frame);
                }
            }
            incoming = stream.next(), if answers.len() < ANSWERS_WAITING => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        Box::pin(handle(connection, outbox, &mut answers, &text)).await;
                    }
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

/// One text frame: its envelope here, its event by the shared rules. The
/// answer goes out at once unless earlier answers are still waiting.
async fn handle(connection: &mut Connection, outbox: &Outbox, answers: &mut Answers, text: &str) {
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
        Some(frame) if answers.is_empty() => send(outbox, connection.closer(), frame),
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
