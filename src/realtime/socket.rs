//! One WebSocket connection: the upgrade checks, authentication state,
//! reading and dispatching frames to `auth` and `chat`, typing timers,
//! heartbeats, and the writer task that drains the socket's bounded outbox.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};

use crate::api::extract::QueryParams;
use crate::app::AppState;
use crate::auth::Principal;
use crate::chat::NewMessage;
use crate::config::Config;
use crate::error::Error;
use crate::events::Event;
use crate::id::ChatId;
use crate::timestamp::Timestamp;

use super::events::{self, ClientFrame, MAX_FRAME_BYTES, close};
use super::hub::{Closer, OUTBOX_CAPACITY, Outbox, Presence, Registration};

/// A socket must authenticate within this time.
const AUTH_DEADLINE: Duration = Duration::from_secs(10);
/// How often the server pings.
const PING_EVERY: Duration = Duration::from_secs(25);
/// A socket silent this long is dropped.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// A typing state ends by itself after this long.
const TYPING_LIFETIME: Duration = Duration::from_secs(6);
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
fn origin_allowed(headers: &HeaderMap, config: &Config) -> bool {
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
    let mut connection = Connection {
        state,
        outbox,
        closer,
        session: None,
        typing: HashMap::new(),
    };
    if let Some(principal) = principal {
        connection.authenticate(principal);
    }
    connection.read_loop(stream).await;
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

/// The authenticated part of a connection.
struct Session {
    principal: Principal,
    registration: Registration,
}

struct Connection {
    state: AppState,
    outbox: Outbox,
    closer: Closer,
    session: Option<Session>,
    /// Chats this socket is typing in, with when that ends by itself.
    typing: HashMap<ChatId, Instant>,
}

impl Connection {
    async fn read_loop(&mut self, mut stream: SplitStream<WebSocket>) {
        let auth_deadline = Instant::now() + AUTH_DEADLINE;
        let shutdown = self.state.hub.shutdown_signal();
        let mut last_heard = Instant::now();
        loop {
            let token_deadline = self
                .session
                .as_ref()
                .map(|session| instant_of(session.principal.expires_at));
            let typing_deadline = self.typing.values().min().copied();
            tokio::select! {
                _ = self.closer.closed() => return,
                () = shutdown.cancelled() => return self.closer.close(close::GOING_AWAY),
                () = sleep_until(auth_deadline), if self.session.is_none() => return self.closer.close(close::UNAUTHORIZED),
                () = sleep_until(token_deadline.unwrap_or(auth_deadline)), if token_deadline.is_some() => return self.closer.close(close::UNAUTHORIZED),
                () = sleep_until(last_heard + SILENCE_LIMIT) => return self.closer.close(close::GOING_AWAY),
                () = sleep_until(typing_deadline.unwrap_or(last_heard)), if typing_deadline.is_some() => self.expire_typing(),
                incoming = stream.next() => {
                    last_heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Text(text))) => self.handle(&text).await,
                        Some(Ok(Message::Binary(_))) => return self.closer.close(close::UNSUPPORTED_DATA),
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_))) | None => return self.closer.close(close::NORMAL),
                        Some(Err(error)) => return self.closer.close(read_error_code(&error)),
                    }
                }
            }
        }
    }

    /// Queues a frame; a full outbox means the client is not reading.
    fn send(&self, frame: Utf8Bytes) {
        if self.outbox.try_send(frame).is_err() {
            self.closer.close(close::TOO_SLOW);
        }
    }

    async fn handle(&mut self, text: &str) {
        let frame = match ClientFrame::parse(text) {
            Ok(frame) => frame,
            Err(bad) => return self.send(events::error(bad.id, &Error::BadRequest(bad.reason))),
        };
        let id = frame.id;
        let is_ping = frame.event == "ping";
        match self.dispatch(frame).await {
            Ok(data) => match id {
                Some(id) => self.send(events::ack(id, &data)),
                None if is_ping => self.send(events::frame(&Event::new("pong", &json!({})))),
                None => {}
            },
            Err(error) => {
                error.log_if_internal();
                self.send(events::error(id, &error));
            }
        }
    }

    async fn dispatch(&mut self, frame: ClientFrame) -> Result<Value, Error> {
        if frame.event == "join_user" {
            return self.join_user(&parse(frame.data)?);
        }
        if frame.event == "ping" {
            return Ok(json!({}));
        }
        let user = self
            .session
            .as_ref()
            .ok_or(Error::Unauthorized)?
            .principal
            .user;
        let chat = self.state.chat.clone();
        match frame.event.as_str() {
            "join_chat" | "leave_chat" => {
                let ChatRef { chat_id } = parse(frame.data)?;
                chat.check_member(user, chat_id)?;
                Ok(json!({ "chatId": chat_id }))
            }
            "send_message" => {
                let SendMessage { chat_id, message } = parse(frame.data)?;
                let (stored, _) = chat.send_message(user, chat_id, message).await?;
                self.stop_typing(chat_id);
                to_value(&stored)
            }
            "typing_start" => {
                let ChatRef { chat_id } = parse(frame.data)?;
                if !self.typing.contains_key(&chat_id) {
                    chat.typing(user, chat_id, true)?;
                }
                self.typing
                    .insert(chat_id, Instant::now() + TYPING_LIFETIME);
                Ok(json!({}))
            }
            "typing_stop" => {
                let ChatRef { chat_id } = parse(frame.data)?;
                if !self.stop_typing(chat_id) {
                    chat.check_member(user, chat_id)?;
                }
                Ok(json!({}))
            }
            "mark_read" => {
                let MarkRead { chat_id, seq } = parse(frame.data)?;
                to_value(&chat.mark_read(user, chat_id, seq).await?)
            }
            other => Err(Error::UnknownEvent(other.chars().take(64).collect())),
        }
    }

    /// `join_user`: authenticates the socket, or extends it with a fresh token.
    fn join_user(&mut self, join: &JoinUser) -> Result<Value, Error> {
        let principal = self
            .state
            .auth
            .authenticate(&join.token)
            .map_err(|_| Error::Unauthorized)?;
        let claimed = join.user_id.as_deref().map(str::parse::<crate::id::UserId>);
        if matches!(claimed, Some(Ok(id)) if id != principal.user)
            || matches!(claimed, Some(Err(_)))
        {
            return Err(Error::Forbidden);
        }
        match &mut self.session {
            Some(session) if session.principal.user != principal.user => {
                return Err(Error::Forbidden);
            }
            Some(session) => {
                if session.principal.session != principal.session {
                    session.registration.set_session(principal.session);
                }
                session.principal = principal;
            }
            None => self.authenticate(principal),
        }
        to_value(&json!({ "user": self.state.chat.user(principal.user)? }))
    }

    fn authenticate(&mut self, principal: Principal) {
        let hub = &self.state.hub;
        let (registration, presence) = hub.register(
            principal.user,
            principal.session,
            self.outbox.clone(),
            self.closer.clone(),
        );
        self.session = Some(Session {
            principal,
            registration,
        });
        if presence == Presence::CameOnline
            && let Err(error) = self.state.chat.announce_online(principal.user)
        {
            error.log_if_internal();
        }
    }

    /// Ends this socket's typing in `chat`; whether it was typing there.
    fn stop_typing(&mut self, chat: ChatId) -> bool {
        if self.typing.remove(&chat).is_none() {
            return false;
        }
        if let Some(session) = &self.session {
            // The chat may have been left meanwhile; then nobody is told.
            let _ = self.state.chat.typing(session.principal.user, chat, false);
        }
        true
    }

    fn expire_typing(&mut self) {
        let now = Instant::now();
        let expired: Vec<ChatId> = self
            .typing
            .iter()
            .filter(|(_, ends)| **ends <= now)
            .map(|(chat, _)| *chat)
            .collect();
        for chat in expired {
            self.stop_typing(chat);
        }
    }

    /// After the socket closed: typing ends, presence may change.
    async fn finish(mut self) {
        let typing: Vec<ChatId> = self.typing.keys().copied().collect();
        for chat in typing {
            self.stop_typing(chat);
        }
        let Some(session) = self.session.take() else {
            return;
        };
        if session.registration.leave() == Presence::WentOffline
            && let Err(error) = self
                .state
                .chat
                .announce_offline(session.principal.user)
                .await
        {
            error.log_if_internal();
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

fn instant_of(moment: Timestamp) -> Instant {
    Instant::now() + Timestamp::now().until(moment)
}

fn parse<T: DeserializeOwned>(data: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(data).map_err(Error::from_json)
}

fn to_value(data: &impl serde::Serialize) -> Result<Value, Error> {
    serde_json::to_value(data).map_err(|error| Error::Internal(Box::new(error)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JoinUser {
    token: String,
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatRef {
    chat_id: ChatId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendMessage {
    chat_id: ChatId,
    #[serde(flatten)]
    message: NewMessage,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MarkRead {
    chat_id: ChatId,
    seq: u64,
}
