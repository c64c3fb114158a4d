//! One `/ws` connection: the upgrade checks, then one task that reads frames
//! and hands their events to the shared `Connection` rules, and writes the
//! answers, heartbeats and the events the bus queues on the socket's
//! bounded outbox.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::Instrument;

use crate::bus::{Closer, Event};
use crate::error::Error;
use crate::http::AppState;
use crate::http::admission::{authenticate_socket, claim_socket, origin_allowed};
use crate::http::extract::{ClientIp, QueryParams};
use crate::listener::Claim;

use super::connection::{Answer, Connection, Reply};
use super::events::{self, ClientFrame, MAX_FRAME_BYTES, close};
use super::queue;
use super::{
    ANSWERS_WAITING, CLOSE_TIMEOUT, OUTBOX_CAPACITY, OutboxSink, READ_BUFFER_BYTES, WRITE_TIMEOUT,
    WireFormat, bring_forward,
};

/// A `/ws` socket's queue of encoded frames, drained by its task.
type Inbox = queue::Receiver<Utf8Bytes>;

/// The `/ws` wire format, for the bus's sink.
struct WsFormat;

impl WireFormat for WsFormat {
    fn encode(event: &Event) -> Utf8Bytes {
        events::frame(event)
    }
}

/// How often the server pings.
const PING_EVERY: Duration = Duration::from_secs(25);
/// A socket silent this long is dropped.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
pub struct UpgradeQuery {
    token: Option<String>,
}

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
    Ok(upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            // A task of its own rather than the upgrade's: what an idle
            // socket keeps in memory is then only what `run` holds.
            let (outbox, inbox) = queue::bounded(OUTBOX_CAPACITY);
            let closer = Closer::default();
            let mut connection = Connection::new(
                state.clone(),
                OutboxSink::<WsFormat>::shared(outbox),
                closer,
                "ws",
            );
            if let Some(principal) = principal {
                connection.authenticate(principal);
            }
            let span = connection.span().clone();
            state
                .sockets
                .spawn(run(connection, socket, inbox, claim).instrument(span));
            std::future::ready(())
        }))
}

/// The socket's whole life: serving it, then ending typing and presence
/// while the close frame waits for the client. Not an `async fn`: its
/// future would keep the arguments twice (as passed, and as its own
/// variables) for as long as the socket lives; the block uses them in place.
#[allow(
    clippy::manual_async_fn,
    reason = "an `async fn` keeps its arguments twice"
)]
fn run(
    mut connection: Connection,
    mut socket: WebSocket,
    mut inbox: Inbox,
    claim: Option<Claim>,
) -> impl Future<Output = ()> + Send {
    async move {
        serve(&mut connection, &mut socket, &mut inbox).await;
        let closer = connection.closer().clone();
        // Boxed: the task stays small while the socket idles.
        let finishing = Box::pin(connection.finish());
        let goodbye = Box::pin(say_goodbye(socket, &closer));
        tokio::join!(finishing, goodbye);
        drop(claim);
    }
}

/// Answers in the order their frames arrived: a send waiting for its fsync
/// holds back the answers behind it (usually in the same batch), so clients
/// see acks in the order they sent.
pub(super) type Answers = FuturesOrdered<Pin<Box<dyn Future<Output = Option<Utf8Bytes>> + Send>>>;

/// Runs the socket until it must close, in one task: reads frames and
/// dispatches their events, and writes answers, the bus's events and pings.
/// What became ready together goes out in one write, so a sender's ack and
/// its own message's event usually share a system call.
async fn serve(connection: &mut Connection, socket: &mut WebSocket, inbox: &mut Inbox) {
    let closer = connection.closer().clone();
    let shutdown = connection.state().hub.shutdown_signal();
    let mut next_ping = Instant::now() + PING_EVERY;
    let mut last_heard = Instant::now();
    let mut answers = Answers::new();
    let mut out = Vec::new();
    // Made once and polled again on every turn: made afresh each turn, each
    // would register with its notifier or the timer wheel, and leave it, for
    // every frame. One timer serves the connection's deadline, the silence
    // limit and the next ping.
    let closed = closer.closed();
    let stopping = shutdown.cancelled();
    let timer = sleep_until(next_ping.min(connection.deadline()));
    tokio::pin!(closed, stopping, timer);
    loop {
        if !out.is_empty() {
            // A client that stops reading blocks this write; a close request
            // (1013 from a full outbox) must not wait behind it.
            let written = tokio::select! {
                result = timeout(WRITE_TIMEOUT, write_burst(socket, &mut out, &mut answers, inbox)) => result,
                _ = &mut closed => break,
            };
            if !matches!(written, Ok(Ok(()))) {
                closer.close(close::GOING_AWAY);
                break;
            }
        }
        bring_forward(timer.as_mut(), connection.deadline());
        tokio::select! {
            biased;
            _ = &mut closed => break,
            () = &mut stopping => {
                closer.close(close::GOING_AWAY);
                break;
            }
            () = &mut timer => {
                let now = Instant::now();
                if now >= last_heard + SILENCE_LIMIT {
                    closer.close(close::GOING_AWAY);
                    break;
                }
                // Nothing to do when it is not yet the connection's time.
                if let Some(code) = connection.on_deadline() {
                    closer.close(code);
                    break;
                }
                if now >= next_ping {
                    out.push(Message::Ping(Default::default()));
                    next_ping = now + PING_EVERY;
                }
                let due = connection.deadline().min(last_heard + SILENCE_LIMIT).min(next_ping);
                timer.as_mut().reset(due);
            }
            Some(answer) = answers.next(), if !answers.is_empty() => out.extend(answer.map(Message::Text)),
            frame = inbox.recv() => match frame {
                Some(frame) => out.push(Message::Text(frame)),
                // Not while the connection holds its sink; ends the socket all the same.
                None => break,
            },
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
pub(super) async fn write_burst(
    socket: &mut WebSocket,
    out: &mut Vec<Message>,
    answers: &mut Answers,
    inbox: &mut Inbox,
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
        } else if let Some(frame) = inbox.try_recv() {
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
fn answer_frame(
    id: Option<i64>,
    is_ping: bool,
    answer: Result<Answer, Error>,
) -> Option<Utf8Bytes> {
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

pub(super) fn read_error_code(error: &axum::Error) -> u16 {
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
