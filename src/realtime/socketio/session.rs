//! One Engine.IO session and the Socket.IO socket in it, run by one task:
//! it reads the client's packets (from its websocket, or from the `POST`s
//! of long-polling), hands their events to the shared `Connection` rules,
//! and sends the answers, heartbeats and the events the bus queues on its
//! bounded outbox, as `/ws` does. An upgrade from polling to a websocket
//! moves the same task onto the new transport.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::Instrument;

use crate::bus::{Closer, Event};
use crate::error::Error;
use crate::http::AppState;
use crate::http::admission::authenticate_socket;
use crate::listener::Claim;

use super::super::connection::{Answer, Connection, Reply};
use super::super::events::close;
use super::super::socket::{Answers, read_error_code, write_burst};
use super::super::{
    ANSWERS_WAITING, CLOSE_TIMEOUT, OUTBOX_CAPACITY, OutboxSink, WRITE_TIMEOUT, WireFormat,
    bring_forward, queue,
};
use super::packet::{self, Engine};
use super::polling::{Incoming, Poll, Sessions};
use super::{PING_INTERVAL, PING_TIMEOUT};

/// The Socket.IO wire format, for the bus's sink.
struct SocketIoFormat;

impl WireFormat for SocketIoFormat {
    fn encode(event: &Event) -> Utf8Bytes {
        packet::event_packet(event.name, &event.data)
    }
}

/// How long a server-side disconnect waits for a client to read what was
/// queued before it (the slow client's gapless prefix, then `41`).
const HANG_UP_PATIENCE: Duration = Duration::from_secs(30);
/// How long shutdown lets a session's last answers go out.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(5);

/// Where the session's packets travel.
#[allow(
    clippy::large_enum_variant,
    reason = "most sessions are websockets: inline in the task, not a second allocation"
)]
pub enum Transport {
    Websocket(WebSocket),
    Polling(Arc<Poll>),
}

/// What a session starts with besides its transport.
pub struct Opening {
    /// Long-polling sessions, which an upgrade leaves.
    pub sessions: Arc<Sessions>,
    /// The session's place under the address's socket cap.
    pub claim: Option<Claim>,
}

/// Runs a new session in a task of its own. A websocket opened without
/// polling first is told its session here; a polling one was told in the
/// handshake's answer.
pub fn spawn(state: &AppState, transport: Transport, opening: Opening, open: Option<Utf8Bytes>) {
    let (outbox, inbox) = queue::bounded(OUTBOX_CAPACITY);
    let connection = Connection::new(
        state.clone(),
        OutboxSink::<SocketIoFormat>::shared(outbox),
        Closer::default(),
        "socket.io",
    );
    let span = connection.span().clone();
    let now = Instant::now();
    let session = Session {
        connection,
        transport,
        sessions: opening.sessions,
        inbox,
        answers: Answers::new(),
        out: open.into_iter().map(Message::Text).collect(),
        joined: false,
        next_ping: now + PING_INTERVAL,
        pong_due: None,
    };
    state
        .sockets
        .spawn(run(session, opening.claim).instrument(span));
}

struct Session {
    connection: Connection,
    transport: Transport,
    sessions: Arc<Sessions>,
    inbox: queue::Receiver<Utf8Bytes>,
    answers: Answers,
    /// Packets to send, in order.
    out: Vec<Message>,
    /// Whether the client joined the namespace (`/`, the only one).
    joined: bool,
    next_ping: Instant,
    /// When the client must have answered the last ping.
    pong_due: Option<Instant>,
}

/// The session's whole life. Not an `async fn`: its future would keep the
/// arguments twice (as passed, and as its own variables) for as long as the
/// session lives.
#[allow(
    clippy::manual_async_fn,
    reason = "an `async fn` keeps its arguments twice"
)]
fn run(mut session: Session, claim: Option<Claim>) -> impl Future<Output = ()> + Send {
    async move {
        session.serve().await;
        // Boxed: the task stays small while the session idles.
        Box::pin(session.wind_down()).await;
        drop(claim);
    }
}

/// The handshake's `auth` payload.
#[derive(Deserialize)]
struct HandshakeAuth {
    token: Option<String>,
}

impl Session {
    /// Serves the session until it must close.
    async fn serve(&mut self) {
        let closer = self.connection.closer().clone();
        let shutdown = self.connection.state().hub.shutdown_signal();
        // Made once and polled again on every turn, as `/ws` does.
        let closed = closer.closed();
        let stopping = shutdown.cancelled();
        let timer = sleep_until(self.next_timer());
        tokio::pin!(closed, stopping, timer);
        loop {
            if !self.out.is_empty() {
                // A client that stops reading blocks this write; a close
                // request (a full outbox) must not wait behind it.
                let sent = tokio::select! {
                    sent = timeout(WRITE_TIMEOUT, self.send()) => sent,
                    _ = &mut closed => break,
                };
                if !matches!(sent, Ok(Ok(()))) {
                    closer.close(close::GOING_AWAY);
                    break;
                }
            }
            bring_forward(timer.as_mut(), self.connection.deadline());
            let room = match &self.transport {
                Transport::Websocket(_) => true,
                Transport::Polling(poll) => poll.has_room(OUTBOX_CAPACITY),
            };
            tokio::select! {
                biased;
                _ = &mut closed => break,
                () = &mut stopping => {
                    closer.close(close::GOING_AWAY);
                    break;
                }
                () = &mut timer => {
                    if let Some(code) = self.on_timer() {
                        closer.close(code);
                        break;
                    }
                    timer.as_mut().reset(self.next_timer());
                }
                Some(answer) = self.answers.next(), if !self.answers.is_empty() => {
                    self.out.extend(answer.map(Message::Text));
                }
                packet = self.inbox.recv(), if room => match packet {
                    Some(packet) => self.out.push(Message::Text(packet)),
                    // Not while the connection holds its sink; ends the session all the same.
                    None => break,
                },
                incoming = next(&mut self.transport), if self.answers.len() < ANSWERS_WAITING => {
                    let code = match incoming {
                        Ok(Incoming::Packet(text)) => Box::pin(self.on_packet(&text)).await,
                        Ok(Incoming::Upgraded(socket)) => {
                            self.upgrade(socket);
                            None
                        }
                        Ok(Incoming::Room) => None,
                        Err(code) => Some(code),
                    };
                    if let Some(code) = code {
                        closer.close(code);
                        break;
                    }
                }
            }
        }
    }

    /// Sends `out`, with what became ready behind it.
    async fn send(&mut self) -> Result<(), axum::Error> {
        match &mut self.transport {
            Transport::Websocket(socket) => {
                write_burst(socket, &mut self.out, &mut self.answers, &mut self.inbox).await
            }
            Transport::Polling(poll) => {
                poll.send(self.out.drain(..).filter_map(text_of));
                Ok(())
            }
        }
    }

    fn next_timer(&self) -> Instant {
        let heartbeat = self
            .pong_due
            .map_or(self.next_ping, |due| due.min(self.next_ping));
        self.connection.deadline().min(heartbeat)
    }

    /// The heartbeat and the connection's deadlines; the close code when
    /// the session must end.
    fn on_timer(&mut self) -> Option<u16> {
        let now = Instant::now();
        if self.pong_due.is_some_and(|due| now >= due) {
            return Some(close::GOING_AWAY);
        }
        // Nothing to do when it is not yet the connection's time.
        if let Some(code) = self.connection.on_deadline() {
            return Some(code);
        }
        if now >= self.next_ping {
            self.out
                .push(Message::Text(Utf8Bytes::from_static(packet::PING)));
            self.pong_due = Some(now + PING_TIMEOUT);
            self.next_ping = now + PING_INTERVAL;
        }
        None
    }

    /// One Engine.IO packet from the client; the close code when the
    /// session must end.
    async fn on_packet(&mut self, text: &str) -> Option<u16> {
        let Some(packet) = Engine::parse(text) else {
            return Some(close::UNSUPPORTED_DATA);
        };
        match packet {
            Engine::Close => Some(close::NORMAL),
            Engine::Ping(data) => {
                self.out.push(Message::Text(packet::pong(data)));
                None
            }
            Engine::Pong => {
                self.pong_due = None;
                None
            }
            Engine::Message(message) => self.on_message(message).await,
            Engine::Upgrade | Engine::Noop => None,
        }
    }

    /// One Socket.IO packet.
    async fn on_message(&mut self, text: &str) -> Option<u16> {
        let Some(message) = packet::Socket::parse(text) else {
            return Some(close::UNSUPPORTED_DATA);
        };
        if message.namespace != "/" {
            if message.kind == packet::Kind::Connect {
                let refusal = packet::connect_error(message.namespace, "Invalid namespace");
                self.out.push(Message::Text(refusal));
            }
            return None;
        }
        match message.kind {
            packet::Kind::Connect if !self.joined => {
                let answer = match self.join(message.payload) {
                    Ok(()) => {
                        self.joined = true;
                        packet::connected(&random_id())
                    }
                    Err(error) => packet::connect_error("/", error.code()),
                };
                self.out.push(Message::Text(answer));
                None
            }
            packet::Kind::Disconnect => Some(close::NORMAL),
            packet::Kind::Event if self.joined => {
                self.on_event(message.ack, message.payload).await;
                None
            }
            packet::Kind::Binary => Some(close::UNSUPPORTED_DATA),
            // Packets for a namespace not joined (yet), acks of callbacks
            // the server never asked for: nothing to do.
            _ => None,
        }
    }

    /// Joins the namespace with the handshake's `auth`: none, or no
    /// `token` in it, joins unauthenticated (`join_user` may follow); a
    /// token must be valid.
    fn join(&mut self, auth: &str) -> Result<(), Error> {
        if auth.is_empty() {
            return Ok(());
        }
        let auth: HandshakeAuth = serde_json::from_str(auth).map_err(|_| Error::Unauthorized)?;
        if let Some(token) = auth.token {
            let principal = authenticate_socket(self.connection.state(), &token)?;
            self.connection.authenticate(principal);
        }
        Ok(())
    }

    /// One client event. The answer goes out at once unless earlier
    /// answers are still waiting.
    async fn on_event(&mut self, ack: Option<i64>, payload: &str) {
        let (event, data) = match packet::event(payload) {
            Ok(event) => event,
            Err(reason) => {
                let answer = answer_packet(ack, false, Err(Error::BadRequest(reason)));
                self.answer_now(answer);
                return;
            }
        };
        let is_ping = event == "ping";
        match self.connection.start(&event, data).await {
            Ok(Reply::Later(pending)) => {
                self.answers.push_back(Box::pin(
                    pending.map(move |answer| answer_packet(ack, false, answer)),
                ));
            }
            Ok(Reply::Now(data)) => self.answer_now(answer_packet(ack, is_ping, Ok(data))),
            Err(error) => self.answer_now(answer_packet(ack, is_ping, Err(error))),
        }
    }

    fn answer_now(&mut self, answer: Option<Utf8Bytes>) {
        match answer {
            Some(packet) if self.answers.is_empty() => self.out.push(Message::Text(packet)),
            Some(packet) => self
                .answers
                .push_back(Box::pin(std::future::ready(Some(packet)))),
            None => {}
        }
    }

    /// The client moved the session from polling to `socket`: what no
    /// `GET` took yet goes out on it first.
    fn upgrade(&mut self, socket: Box<WebSocket>) {
        if let Transport::Polling(poll) = &self.transport {
            self.sessions.remove(&poll.sid);
            let left = poll.hand_over();
            self.out.splice(0..0, left.into_iter().map(Message::Text));
        }
        self.transport = Transport::Websocket(*socket);
    }

    /// Sends already queued are stored whatever happens; their callers get
    /// their answers if the client is still there to take them. Then typing
    /// and presence end while the client is told why the server ends the
    /// session (a token that expired, a client too slow to read), after
    /// what was queued for it, and the transport closes.
    async fn wind_down(mut self) {
        while let Some(answer) = self.answers.next().await {
            self.out.extend(answer.map(Message::Text));
        }
        let Self {
            connection,
            transport,
            sessions,
            mut out,
            joined,
            ..
        } = self;
        let code = connection.closer().code();
        let patience = match code {
            close::NORMAL => Duration::ZERO,
            close::GOING_AWAY => SHUTDOWN_PATIENCE,
            _ => HANG_UP_PATIENCE,
        };
        if joined && !matches!(code, close::NORMAL | close::GOING_AWAY) {
            if code == close::UNAUTHORIZED {
                out.push(Message::Text(packet::emit(
                    "error",
                    &Error::Unauthorized.body(),
                )));
            }
            out.push(Message::Text(Utf8Bytes::from_static(packet::DISCONNECT)));
        }
        let goodbye = async {
            match transport {
                Transport::Websocket(socket) => say_goodbye(socket, out, code, patience).await,
                Transport::Polling(poll) => {
                    let last = out.into_iter().filter_map(text_of).collect();
                    poll.finish(last, patience).await;
                    sessions.remove(&poll.sid);
                }
            }
        };
        tokio::join!(Box::pin(connection.finish()), Box::pin(goodbye));
    }
}

/// The transport's next packet, or the close code when it ended.
async fn next(transport: &mut Transport) -> Result<Incoming, u16> {
    match transport {
        Transport::Polling(poll) => Ok(poll.next().await),
        Transport::Websocket(socket) => loop {
            return match socket.next().await {
                Some(Ok(Message::Text(text))) => Ok(Incoming::Packet(text)),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(Message::Binary(_))) => Err(close::UNSUPPORTED_DATA),
                Some(Ok(Message::Close(_))) | None => Err(close::NORMAL),
                Some(Err(error)) => Err(read_error_code(&error)),
            };
        },
    }
}

/// Writes what is left within `patience`, then closes the websocket (1001
/// when the server shuts down or the client stopped answering).
async fn say_goodbye(mut socket: WebSocket, out: Vec<Message>, code: u16, patience: Duration) {
    let written = timeout(patience, async {
        for message in out {
            socket.feed(message).await?;
        }
        socket.flush().await
    })
    .await;
    if matches!(written, Ok(Ok(()))) {
        let frame = CloseFrame {
            code: if code == close::GOING_AWAY {
                close::GOING_AWAY
            } else {
                close::NORMAL
            },
            reason: Utf8Bytes::default(),
        };
        let _ = timeout(CLOSE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
    }
}

/// The packet answering an event: the callback's answer, a `pong`, or an
/// `error` event; nothing for a successful event sent without a callback.
fn answer_packet(
    ack: Option<i64>,
    is_ping: bool,
    answer: Result<Answer, Error>,
) -> Option<Utf8Bytes> {
    match answer {
        Ok(data) => match ack {
            Some(id) => Some(packet::ack(id, data.get())),
            None if is_ping => Some(packet::emit("pong", &json!({}))),
            None => None,
        },
        Err(error) => {
            error.log_if_internal();
            let body = error.body();
            match ack {
                Some(id) => Some(packet::ack(
                    id,
                    &serde_json::to_string(&body).expect("an error body encodes as JSON"),
                )),
                None => Some(packet::emit("error", &body)),
            }
        }
    }
}

fn text_of(message: Message) -> Option<Utf8Bytes> {
    match message {
        Message::Text(text) => Some(text),
        _ => None,
    }
}

/// A session or socket id: 96 random bits, as hex.
pub fn random_id() -> String {
    use std::fmt::Write;
    let bytes: [u8; 12] = rand::random();
    bytes
        .iter()
        .fold(String::with_capacity(24), |mut id, byte| {
            let _ = write!(id, "{byte:02x}");
            id
        })
}
