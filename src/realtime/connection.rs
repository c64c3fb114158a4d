//! One realtime connection, whatever its wire format: its authentication
//! state, its typing timers and the dispatch of a client event (name + JSON
//! data) to `auth` and `chat`. The `/ws` and Socket.IO adapters only turn
//! frames into `start` calls and its answers back into frames, so both
//! follow one set of rules.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::auth::Principal;
use crate::chat::{ChangeRequest, NewMessage};
use crate::error::Error;
use crate::http::AppState;
use crate::http::admission::authenticate_socket;
use crate::id::{ChatId, UserId};
use crate::timestamp::Timestamp;
use crate::token_bucket::TokenBucket;

use std::sync::Arc;

use crate::bus::{Closer, Presence, Registration, Sink, close};

/// A typing state ends by itself after this long.
const TYPING_LIFETIME: Duration = Duration::from_secs(6);

/// An event's answer: at once, or once its write is on disk.
pub enum Reply {
    Now(Answer),
    Later(Pending),
}

/// The data of an ack, encoded: a stored message goes from its view to
/// JSON text without a `Value` tree in between.
pub type Answer = Box<RawValue>;

pub type Pending = Pin<Box<dyn Future<Output = Result<Answer, Error>> + Send>>;

/// The authenticated part of a connection.
struct Session {
    principal: Principal,
    registration: Registration,
}

pub struct Connection {
    state: AppState,
    /// Where the hub delivers this socket's events once it is authenticated.
    sink: Arc<dyn Sink>,
    closer: Closer,
    session: Option<Session>,
    /// Chats this socket is typing in, with when that ends by itself.
    typing: HashMap<ChatId, Instant>,
    auth_deadline: Instant,
    /// `SOCKET_EVENT_RATE`: what this socket may send besides messages.
    events: TokenBucket,
    /// Since when the socket has kept going over its budget, and when it
    /// last did.
    over_budget: Option<(Instant, Instant)>,
    /// Carries the socket's id and, once known, its user on every log line.
    span: tracing::Span,
}

/// A socket that keeps sending over its budget this long is closed (1008).
const OVER_BUDGET_GRACE: Duration = Duration::from_secs(10);
/// A pause this long in refused events ends a stretch of flooding.
const OVER_BUDGET_PAUSE: Duration = Duration::from_secs(1);

/// Tells sockets apart in the logs.
static NEXT_SOCKET_ID: AtomicU64 = AtomicU64::new(1);

impl Connection {
    /// A connection that must authenticate within `SOCKET_AUTH_TIMEOUT`
    /// from now. `transport` names the adapter in the logs.
    pub fn new(state: AppState, sink: Arc<dyn Sink>, closer: Closer, transport: &str) -> Self {
        let config = &state.config;
        let rate = config.socket_event_rate;
        let span = tracing::info_span!(
            "socket",
            id = NEXT_SOCKET_ID.fetch_add(1, Ordering::Relaxed),
            transport,
            user = tracing::field::Empty,
        );
        Self {
            auth_deadline: Instant::now() + config.socket_auth_timeout,
            events: TokenBucket::new(rate, rate.saturating_mul(2), std::time::Instant::now()),
            state,
            sink,
            closer,
            session: None,
            typing: HashMap::new(),
            over_budget: None,
            span,
        }
    }

    /// The socket's span: adapters run the connection inside it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn closer(&self) -> &Closer {
        &self.closer
    }

    /// When `on_deadline` must run next: the authentication deadline, the
    /// token's expiry or the end of a typing state.
    pub fn deadline(&self) -> Instant {
        let auth = match &self.session {
            None => self.auth_deadline,
            Some(session) => instant_of(session.principal.expires_at),
        };
        self.typing.values().copied().fold(auth, Instant::min)
    }

    /// Ends typing states whose time is up; tells the close code when the
    /// connection must end (not authenticated in time, token expired).
    pub fn on_deadline(&mut self) -> Option<u16> {
        let expired = match &self.session {
            None => Instant::now() >= self.auth_deadline,
            Some(session) => Timestamp::now()
                .until(session.principal.expires_at)
                .is_zero(),
        };
        if expired {
            return Some(close::UNAUTHORIZED);
        }
        self.expire_typing();
        None
    }

    /// Handles one client event as far as it can without waiting for the
    /// disk: a `send_message`, `edit_message`, `delete_message` or `react`
    /// is checked and queued, and its answer comes once it is stored, while
    /// the socket's next events are handled (they still apply, and take
    /// `seq` and `rev`, in the order they were sent). The caller bounds how
    /// many answers it lets wait.
    pub async fn start(&mut self, event: &str, data: Value) -> Result<Reply, Error> {
        // Messages have their own budget, per user (`MESSAGE_RATE`).
        if event != "send_message" {
            self.spend_event_budget()?;
        }
        match event {
            "send_message" => {
                let user = self.user().ok_or(Error::Unauthorized)?;
                let SendMessage { chat_id, message } = parse(data)?;
                let stored = self
                    .state
                    .chat
                    .submit_message(user, chat_id, message)
                    .await?;
                self.stop_typing(chat_id);
                Ok(Reply::Later(Box::pin(async move {
                    let (stored, _) = stored.await?;
                    encode(&stored)
                })))
            }
            "edit_message" | "delete_message" | "react" => {
                let user = self.user().ok_or(Error::Unauthorized)?;
                let (chat_id, seq, request) = change_request(event, data)?;
                let changed = self
                    .state
                    .chat
                    .submit_change(user, chat_id, seq, request)
                    .await?;
                Ok(Reply::Later(Box::pin(
                    async move { encode(&changed.await?) },
                )))
            }
            _ => {
                let answer = self.answer(event, data).await?;
                encode(&answer).map(Reply::Now)
            }
        }
    }

    async fn answer(&mut self, event: &str, data: Value) -> Result<Value, Error> {
        if event == "join_user" {
            return self.join_user(&parse(data)?);
        }
        let user = self.user().ok_or(Error::Unauthorized)?;
        if event == "ping" {
            return Ok(json!({}));
        }
        if event == "visibility" {
            let Visibility { visible } = parse(data)?;
            if let Some(session) = &self.session {
                session.registration.set_visible(visible);
            }
            return Ok(json!({ "visible": visible }));
        }
        let chat = self.state.chat.clone();
        match event {
            "join_chat" | "leave_chat" => {
                let ChatRef { chat_id } = parse(data)?;
                chat.check_member(user, chat_id)?;
                Ok(json!({ "chatId": chat_id }))
            }
            "typing_start" => {
                let ChatRef { chat_id } = parse(data)?;
                if !self.typing.contains_key(&chat_id) {
                    chat.typing(user, chat_id, true)?;
                }
                self.typing
                    .insert(chat_id, Instant::now() + TYPING_LIFETIME);
                Ok(json!({}))
            }
            "typing_stop" => {
                let ChatRef { chat_id } = parse(data)?;
                if !self.stop_typing(chat_id) {
                    chat.check_member(user, chat_id)?;
                }
                Ok(json!({}))
            }
            "mark_read" => {
                let MessageRef { chat_id, seq } = parse(data)?;
                to_value(&chat.mark_read(user, chat_id, seq).await?)
            }
            "mark_received" => {
                let MessageRef { chat_id, seq } = parse(data)?;
                to_value(&chat.mark_received(user, chat_id, seq).await?)
            }
            other => Err(Error::UnknownEvent(other.chars().take(64).collect())),
        }
    }

    /// Spends one of the socket's event tokens. Over budget the event is
    /// refused (`rate_limited`), and a socket that keeps going over it (no
    /// pause of `OVER_BUDGET_PAUSE`) for `OVER_BUDGET_GRACE` is told to
    /// close with 1008.
    fn spend_event_budget(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        match self.events.take(now.into_std()) {
            Ok(()) => Ok(()),
            Err(wait) => {
                let since = match self.over_budget {
                    Some((since, last)) if now.duration_since(last) < OVER_BUDGET_PAUSE => since,
                    _ => now,
                };
                self.over_budget = Some((since, now));
                if now.duration_since(since) >= OVER_BUDGET_GRACE {
                    tracing::info!(parent: &self.span, "closing a socket that kept sending over its event budget");
                    self.closer.close(close::POLICY);
                }
                Err(Error::RateLimited {
                    retry_after: wait.as_secs().max(1),
                })
            }
        }
    }

    fn user(&self) -> Option<UserId> {
        self.session.as_ref().map(|session| session.principal.user)
    }

    /// `join_user`: authenticates the socket, or extends it with a fresh token.
    fn join_user(&mut self, join: &JoinUser) -> Result<Value, Error> {
        let principal = authenticate_socket(&self.state, &join.token)?;
        let claimed = join.user_id.as_deref().map(str::parse::<UserId>);
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
        to_value(&json!({ "user": self.state.chat.profile(principal.user)? }))
    }

    /// Registers the socket with the hub as `principal`; the user comes
    /// online with their first socket.
    pub fn authenticate(&mut self, principal: Principal) {
        self.span
            .record("user", tracing::field::display(principal.user));
        let hub = &self.state.hub;
        let (registration, presence) = hub.register(
            principal.user,
            principal.session,
            self.sink.clone(),
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
        if let Some(user) = self.user() {
            // The chat may have been left meanwhile; then nobody is told.
            let _ = self.state.chat.typing(user, chat, false);
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
    pub async fn finish(mut self) {
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

fn instant_of(moment: Timestamp) -> Instant {
    Instant::now() + Timestamp::now().until(moment)
}

/// The message and change an `edit_message`, `delete_message` or `react`
/// asks for.
fn change_request(event: &str, data: Value) -> Result<(ChatId, u64, ChangeRequest), Error> {
    Ok(match event {
        "edit_message" => {
            let EditMessage {
                chat_id,
                seq,
                content,
            } = parse(data)?;
            (chat_id, seq, ChangeRequest::Edit { content })
        }
        "delete_message" => {
            let MessageRef { chat_id, seq } = parse(data)?;
            (chat_id, seq, ChangeRequest::Delete)
        }
        _ => {
            let React {
                chat_id,
                seq,
                emoji,
                on,
            } = parse(data)?;
            (chat_id, seq, ChangeRequest::React { emoji, on })
        }
    })
}

fn parse<T: DeserializeOwned>(data: Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(data).map_err(Error::from_json)
}

fn to_value(data: &impl serde::Serialize) -> Result<Value, Error> {
    serde_json::to_value(data).map_err(|error| Error::Internal(Box::new(error)))
}

fn encode(data: &impl serde::Serialize) -> Result<Answer, Error> {
    serde_json::value::to_raw_value(data).map_err(|error| Error::Internal(Box::new(error)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JoinUser {
    token: String,
    user_id: Option<String>,
}

/// `visibility`: whether the app's page is in view (`document.hidden`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Visibility {
    visible: bool,
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
struct MessageRef {
    chat_id: ChatId,
    seq: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EditMessage {
    chat_id: ChatId,
    seq: u64,
    content: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct React {
    chat_id: ChatId,
    seq: u64,
    emoji: String,
    on: bool,
}
