//! Socket.IO (protocol v5 over Engine.IO v4, websocket and long-polling) at
//! `/socket.io/`: a second wire format onto the same `Connection` rules and
//! the same hub as `/ws`. socketioxide speaks the protocol; this adapter
//! turns each client event into one `Connection::dispatch` call and its
//! answer into the client's acknowledgement (or an `error` event).
//!
//! - Authentication: the handshake's `auth: {token}` (a bad one refuses the
//!   namespace connection with a `connect_error` whose message is
//!   `unauthorized`; a foreign `Origin` gets `forbidden`), or `join_user`.
//! - Acks carry what `/ws` acks carry, or `{error, code}` on failure. An event
//!   without a callback that fails is answered with an `error` event; a
//!   `ping` without one with a `pong` event.
//! - socketioxide runs each event handler in its own task, which would let
//!   events overtake each other. The handler here only queues the event (its
//!   synchronous part runs in arrival order); one task per socket owns the
//!   connection state and handles the queue in order, as `/ws` does.
//! - Where `/ws` closes with 4001 (not authenticated in time, token expired,
//!   session ended) the socket gets an `error` event `unauthorized` and is
//!   disconnected by the server; a client too slow to read its events is
//!   disconnected; at shutdown the transports close, so clients reconnect.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{OriginalUri, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::stream::FuturesOrdered;
use futures_util::{FutureExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts};
use socketioxide::socket::Socket;
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::auth::Principal;
use crate::bus::{self, Closer, Encodings, QueueFull, Sink};
use crate::error::Error;
use crate::http::AppState;
use crate::http::admission::{
    CAP_RETRY_AFTER, at_socket_cap, authenticate_socket, claim_socket, origin_allowed,
};
use crate::http::extract::{ClientIp, client_ip};
use crate::listener::Claim;

use super::connection::{self, Connection, Reply};
use super::events::{MAX_FRAME_BYTES, close};
use super::queue;
use super::{ANSWERS_WAITING, OUTBOX_CAPACITY, READ_BUFFER_BYTES, bring_forward};

/// How the bus reaches a Socket.IO socket: emitting queues the packet on the
/// socket's bounded Engine.IO buffer without waiting.
struct SocketIoSink(SocketRef);

/// An event's data as Socket.IO embeds it: the JSON as it is (`None` if it
/// somehow is not JSON, and then nothing is sent).
struct SocketIoData(Option<Box<RawValue>>);

impl Sink for SocketIoSink {
    fn offer(&self, event: &bus::Event, encodings: &mut Encodings) -> Result<(), QueueFull> {
        let SocketIoData(data) = encodings
            .get_or_make(|| SocketIoData(RawValue::from_string(event.data.to_string()).ok()));
        let Some(data) = data else { return Ok(()) };
        match self.0.emit(event.name, data) {
            Err(SendError::Socket(SocketError::InternalChannelFull)) => Err(QueueFull),
            _ => Ok(()),
        }
    }
}

/// Events a socket may have waiting to be handled; beyond that the client
/// is told `rate_limited`.
const INBOX_CAPACITY: usize = 256;
/// How long a server-side disconnect keeps trying while the client's
/// buffer is full (the Engine.IO heartbeat drops a client that stopped
/// reading altogether).
const HANG_UP_PATIENCE: Duration = Duration::from_secs(30);

/// How long shutdown lets Socket.IO sockets answer what they took in before
/// their transports are closed.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// `/socket.io/`, and a task that closes every Socket.IO transport when the
/// server shuts down, once each socket has answered the events it took in
/// (the sends it stored above all). Must be called inside the runtime.
pub fn router(state: &AppState) -> Router<AppState> {
    let (service, io) = SocketIo::builder()
        .max_buffer_size(OUTBOX_CAPACITY)
        .max_payload(MAX_FRAME_BYTES as u64)
        .ws_read_buffer_size(READ_BUFFER_BYTES)
        // Joining the namespace takes one round trip; a client that never
        // does is dropped as soon as an unauthenticated one would be.
        .connect_timeout(Duration::from_secs(10))
        .build_svc();
    // Each socket's own task, so shutdown can wait for their last answers.
    let runs = TaskTracker::new();
    let admit = {
        let (state, runs) = (state.clone(), runs.clone());
        move |socket: SocketRef, TryData(auth): TryData<HandshakeAuth>| {
            ready(admit(&state, &runs, &socket, auth.ok()))
        }
    };
    // Everything happens in `admit`: socketioxide sends the client its
    // connect answer before it runs this handler, so an event the client
    // sent at once would find no handler yet and be lost.
    let on_connect = |_: SocketRef| ready(());
    io.ns("/", on_connect.with(admit));
    let shutdown = state.hub.shutdown_signal();
    state.sockets.spawn(async move {
        shutdown.cancelled().await;
        runs.close();
        let _ = tokio::time::timeout(SHUTDOWN_DRAIN, runs.wait()).await;
        io.close().await;
    });
    Router::new()
        .route_service("/socket.io/", service)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refuse_over_cap,
        ))
}

/// A client at `MAX_SOCKETS_PER_IP` may not open another Engine.IO session
/// (a request without `sid`): `429` as for `/ws`. Requests of sessions it
/// holds go on.
async fn refuse_over_cap(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: Request,
    next: Next,
) -> Response {
    let opens_session = !request
        .uri()
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair.starts_with("sid=")));
    if !opens_session {
        return next.run(request).await;
    }
    if at_socket_cap(&state, ip) {
        return Error::RateLimited {
            retry_after: CAP_RETRY_AFTER,
        }
        .into_response();
    }
    next.run(detach_head(request)).await
}

/// Engine.IO keeps a session's opening request for the session's life. Its
/// URI and header values point into the connection's read buffer (8 KiB at
/// least) and would keep all of it alive: they get copies of their own.
fn detach_head(request: Request) -> Request {
    let (mut parts, body) = request.into_parts();
    for value in parts.headers.values_mut() {
        if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
            copy.set_sensitive(value.is_sensitive());
            *value = copy;
        }
    }
    if let Ok(uri) = parts.uri.to_string().parse() {
        parts.uri = uri;
    }
    if let Some(OriginalUri(original)) = parts.extensions.get_mut()
        && let Ok(uri) = original.to_string().parse()
    {
        *original = uri;
    }
    Request::from_parts(parts, body)
}

/// The handshake's `auth` payload.
#[derive(Deserialize)]
struct HandshakeAuth {
    token: Option<String>,
}

/// Why a namespace connection was refused; the client's `connect_error`
/// carries the error code as its message.
struct Refusal(Error);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code())
    }
}

/// Connect middleware: the same origin rule as `/ws`, a handshake token,
/// when given, must be valid, and the address must have a socket to spare.
/// An admitted socket is wired up here, before the client learns it is
/// connected.
fn admit(
    state: &AppState,
    runs: &TaskTracker,
    socket: &SocketRef,
    auth: Option<HandshakeAuth>,
) -> Result<(), Refusal> {
    if !origin_allowed(&socket.req_parts().headers, &state.config) {
        return Err(Refusal(Error::Forbidden));
    }
    let principal = match auth {
        None => return Err(Refusal(Error::Unauthorized)),
        Some(HandshakeAuth { token: None }) => None,
        Some(HandshakeAuth { token: Some(token) }) => {
            Some(authenticate_socket(state, &token).map_err(Refusal)?)
        }
    };
    let ip = client_ip(socket.req_parts(), &state.config);
    // Two handshakes may have raced past `refuse_over_cap`.
    let claim = claim_socket(state, ip).map_err(Refusal)?;
    connect(state, runs, socket.clone(), principal, claim);
    Ok(())
}

/// A socket's client events, waiting for its task.
type Inbox = queue::Receiver<Inbound>;

/// One client event, queued for the socket's task.
struct Inbound {
    event: String,
    data: Value,
    /// Whether the client passed a callback.
    wants_ack: bool,
    ack: AckSender,
}

/// Whether the client passed a callback (socketioxide's `AckSender` keeps
/// that to itself).
struct WantsAck(bool);

impl<A: Adapter> FromMessageParts<A> for WantsAck {
    type Error = std::convert::Infallible;

    fn from_message_parts(
        _: &Arc<Socket<A>>,
        _: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        Ok(Self(ack_id.is_some()))
    }
}

/// A socket joined the namespace: wire its events to a task of its own,
/// which holds the socket's place under the per-address cap.
fn connect(
    state: &AppState,
    runs: &TaskTracker,
    socket: SocketRef,
    principal: Option<Principal>,
    claim: Option<Claim>,
) {
    let closer = Closer::default();
    let (intake, inbox) = queue::bounded(INBOX_CAPACITY);
    socket.on_fallback(
        move |socket: SocketRef,
              Event(event): Event,
              WantsAck(wants_ack): WantsAck,
              ack: AckSender,
              TryData(data): TryData<Value>|
              -> Ready<()> {
            // An event without arguments has no data: as `/ws`, `{}`.
            let data = data.unwrap_or_else(|_| Value::Object(Map::new()));
            let inbound = Inbound {
                event,
                data,
                wants_ack,
                ack,
            };
            if let Err(queue::TrySendError::Full(inbound)) = intake.try_send(inbound) {
                let _ = answer_error(
                    &socket,
                    inbound.wants_ack,
                    inbound.ack,
                    &Error::RateLimited { retry_after: 1 },
                );
            }
            ready(())
        },
    );
    socket.on_disconnect({
        let closer = closer.clone();
        move || {
            closer.close(close::NORMAL);
            ready(())
        }
    });
    let mut connection = Connection::new(
        state.clone(),
        Arc::new(SocketIoSink(socket.clone())),
        closer,
        "socket.io",
    );
    if let Some(principal) = principal {
        connection.authenticate(principal);
    }
    let span = connection.span().clone();
    let run = runs.track_future(run(socket, connection, inbox, claim).instrument(span));
    state.sockets.spawn(run);
}

/// Handles the socket's events in order until it must close. A send is
/// queued for the disk and the next events are handled meanwhile, so a
/// client's sends share fsyncs; answers still go out in the order the events
/// came.
///
/// Not an `async fn`: its future would keep the arguments twice (as passed,
/// and as its own variables) for as long as the socket lives.
#[allow(
    clippy::manual_async_fn,
    reason = "an `async fn` keeps its arguments twice"
)]
fn run(
    socket: SocketRef,
    mut connection: Connection,
    mut inbox: Inbox,
    claim: Option<Claim>,
) -> impl Future<Output = ()> + Send {
    async move {
        let answers = serve(&socket, &mut connection, &mut inbox).await;
        // Boxed: the task stays small while the socket idles.
        Box::pin(wind_down(socket, connection, answers)).await;
        drop(claim);
    }
}

/// Handles events until the connection must close; returns the answers
/// still waiting for the disk.
async fn serve(socket: &SocketRef, connection: &mut Connection, inbox: &mut Inbox) -> Answers {
    let closer = connection.closer().clone();
    let shutdown = connection.state().hub.shutdown_signal();
    let mut answers = Answers::new();
    // Made once and polled again on every turn, as `/ws` does: made afresh,
    // each would register with its notifier or the timer wheel per event.
    let closed = closer.closed();
    let stopping = shutdown.cancelled();
    let timer = sleep_until(connection.deadline());
    tokio::pin!(closed, stopping, timer);
    loop {
        bring_forward(timer.as_mut(), connection.deadline());
        tokio::select! {
            _ = &mut closed => break,
            () = &mut stopping => {
                closer.close(close::GOING_AWAY);
                break;
            }
            () = &mut timer => {
                if let Some(code) = connection.on_deadline() {
                    closer.close(code);
                    break;
                }
                timer.as_mut().reset(connection.deadline());
            }
            Some(answer) = answers.next(), if !answers.is_empty() => {
                deliver(socket, &closer, answer);
            }
            inbound = inbox.recv(), if answers.len() < ANSWERS_WAITING => match inbound {
                Some(inbound) => Box::pin(handle(socket, connection, &mut answers, inbound)).await,
                None => break,
            },
        }
    }
    answers
}

/// Sends already queued are stored whatever happens; their callers get
/// their answers if the socket is still there to take them. Then typing
/// and presence end and the socket is hung up.
async fn wind_down(socket: SocketRef, connection: Connection, mut answers: Answers) {
    let closer = connection.closer().clone();
    while let Some(answer) = answers.next().await {
        deliver(&socket, &closer, answer);
    }
    connection.finish().await;
    hang_up(socket, &closer).await;
}

/// An event's outcome and where its answer goes.
struct Answer {
    event: String,
    result: Result<connection::Answer, Error>,
    wants_ack: bool,
    ack: AckSender,
}

/// Answers in the order their events arrived.
type Answers = FuturesOrdered<Pin<Box<dyn Future<Output = Answer> + Send>>>;

async fn handle(
    socket: &SocketRef,
    connection: &mut Connection,
    answers: &mut Answers,
    inbound: Inbound,
) {
    let Inbound {
        event,
        data,
        wants_ack,
        ack,
    } = inbound;
    let reply = connection.start(&event, data).await;
    let answer = move |result| Answer {
        event,
        result,
        wants_ack,
        ack,
    };
    match reply {
        Ok(Reply::Later(pending)) => {
            answers.push_back(Box::pin(pending.map(answer)));
        }
        Ok(Reply::Now(data)) if answers.is_empty() => {
            deliver(socket, connection.closer(), answer(Ok(data)));
        }
        Err(error) if answers.is_empty() => {
            deliver(socket, connection.closer(), answer(Err(error)));
        }
        Ok(Reply::Now(data)) => answers.push_back(Box::pin(ready(answer(Ok(data))))),
        Err(error) => answers.push_back(Box::pin(ready(answer(Err(error))))),
    }
}

/// Sends an event's answer: its ack, a `pong`, or its error.
fn deliver(socket: &SocketRef, closer: &Closer, answer: Answer) {
    let Answer {
        event,
        result,
        wants_ack,
        ack,
    } = answer;
    let sent = match result {
        Ok(data) if wants_ack => ack.send(&data),
        Ok(_) if event == "ping" => socket.emit("pong", &json!({})),
        Ok(_) => Ok(()),
        Err(error) => {
            error.log_if_internal();
            answer_error(socket, wants_ack, ack, &error)
        }
    };
    if is_full(&sent) {
        closer.close(close::TOO_SLOW);
    }
}

/// `{error, code}` in the ack when the client asked for one, else in an
/// `error` event.
fn answer_error(
    socket: &SocketRef,
    wants_ack: bool,
    ack: AckSender,
    error: &Error,
) -> Result<(), SendError> {
    if wants_ack {
        ack.send(&error.body())
    } else {
        socket.emit("error", &error.body())
    }
}

fn is_full(sent: &Result<(), SendError>) -> bool {
    matches!(
        sent,
        Err(SendError::Socket(SocketError::InternalChannelFull))
    )
}

/// Ends the Socket.IO side once the connection is over: nothing to do when
/// the client left or the server shuts down (the transports close then),
/// else says why when it can and disconnects the socket.
async fn hang_up(socket: SocketRef, closer: &Closer) {
    let code = closer.code();
    if matches!(code, close::NORMAL | close::GOING_AWAY) || !socket.connected() {
        return;
    }
    if code == close::UNAUTHORIZED {
        let _ = socket.emit("error", &Error::Unauthorized.body());
    }
    // A full buffer refuses the disconnect packet too; retry while the
    // client may still drain it.
    let give_up = Instant::now() + HANG_UP_PATIENCE;
    while let Err(SocketError::InternalChannelFull) = socket.clone().disconnect() {
        if Instant::now() >= give_up {
            break;
        }
        sleep(Duration::from_millis(100)).await;
    }
}
