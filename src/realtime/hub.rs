//! Who is connected, and fan-out. The hub maps each user to their
//! authenticated sockets, `/ws` and Socket.IO alike; publishing encodes an
//! event once per wire format and offers it to each socket's bounded queue
//! without ever waiting. A socket whose queue is full is told to close (1013)
//! instead of slowing everyone else down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::extract::ws::Utf8Bytes;
use serde_json::value::RawValue;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::events::{Event, Notifier};
use crate::id::{SessionId, UserId};

use super::events::{self, close};

/// Frames a socket may have waiting before it counts as too slow.
pub const OUTBOX_CAPACITY: usize = 1024;

/// What a socket's writer is told to do.
pub type Outbox = mpsc::Sender<Utf8Bytes>;

/// Where the hub delivers a socket's events.
#[derive(Clone)]
pub enum Sink {
    /// A `/ws` socket: pre-encoded frames for its writer task.
    Ws(Outbox),
    /// A Socket.IO socket: emitting queues on its bounded engine.io buffer
    /// without waiting.
    SocketIo(SocketRef),
}

/// Closes one socket from anywhere, with a reason code.
#[derive(Debug, Clone, Default)]
pub struct Closer {
    token: CancellationToken,
    code: Arc<AtomicU16>,
}

impl Closer {
    /// Asks the socket to close with `code`; the first reason given wins.
    pub fn close(&self, code: u16) {
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.token.cancel();
    }

    pub async fn closed(&self) -> u16 {
        self.token.cancelled().await;
        self.code()
    }

    pub fn code(&self) -> u16 {
        self.code.load(Ordering::Acquire)
    }
}

struct Entry {
    id: u64,
    session: SessionId,
    sink: Sink,
    closer: Closer,
}

/// Whether registering or leaving changed the user's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    CameOnline,
    WentOffline,
    Unchanged,
}

#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    // Publishing reads this map on every message; sockets come and go far
    // less often, so a read-write lock fits.
    users: RwLock<HashMap<UserId, Vec<Entry>>>,
    next_id: AtomicU64,
    shutdown: CancellationToken,
}

/// A socket's place in the hub. Dropping it removes the socket.
pub struct Registration {
    hub: Hub,
    user: UserId,
    id: u64,
    removed: bool,
}

impl Registration {
    pub fn user(&self) -> UserId {
        self.user
    }

    /// Moves the socket to another session of the same user (a fresh
    /// `join_user` with a token of another login).
    pub fn set_session(&self, session: SessionId) {
        let mut users = self
            .hub
            .inner
            .users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = users
            .get_mut(&self.user)
            .and_then(|entries| entries.iter_mut().find(|entry| entry.id == self.id))
        {
            entry.session = session;
        }
    }

    /// Removes the socket and tells whether the user went offline.
    pub fn leave(mut self) -> Presence {
        self.removed = true;
        self.hub.remove(self.user, self.id)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.removed {
            self.hub.remove(self.user, self.id);
        }
    }
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an authenticated socket for `user`.
    pub fn register(
        &self,
        user: UserId,
        session: SessionId,
        sink: Sink,
        closer: Closer,
    ) -> (Registration, Presence) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut users = self
            .inner
            .users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entries = users.entry(user).or_default();
        let presence = if entries.is_empty() {
            Presence::CameOnline
        } else {
            Presence::Unchanged
        };
        entries.push(Entry {
            id,
            session,
            sink,
            closer,
        });
        (
            Registration {
                hub: self.clone(),
                user,
                id,
                removed: false,
            },
            presence,
        )
    }

    fn remove(&self, user: UserId, id: u64) -> Presence {
        let mut users = self
            .inner
            .users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(entries) = users.get_mut(&user) else {
            return Presence::Unchanged;
        };
        let before = entries.len();
        entries.retain(|entry| entry.id != id);
        if entries.is_empty() {
            users.remove(&user);
            if before > 0 {
                return Presence::WentOffline;
            }
        }
        Presence::Unchanged
    }

    pub fn is_user_online(&self, user: UserId) -> bool {
        self.inner
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(&user)
    }

    /// Authenticated sockets and distinct online users.
    pub fn counts(&self) -> (usize, usize) {
        let users = self
            .inner
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (users.values().map(Vec::len).sum(), users.len())
    }

    /// Fires when the server begins shutting down.
    pub fn shutdown_signal(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Closes every socket with 1001 (going away).
    pub fn shut_down(&self) {
        self.inner.shutdown.cancel();
        self.close_where(|_, _| true, close::GOING_AWAY);
    }

    fn close_where(&self, matches: impl Fn(UserId, &Entry) -> bool, code: u16) {
        let users = self
            .inner
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (&user, entries) in users.iter() {
            for entry in entries.iter().filter(|entry| matches(user, entry)) {
                entry.closer.close(code);
            }
        }
    }

    fn offer(entry: &Entry, encoded: &mut Encoded<'_>) {
        let full = match &entry.sink {
            Sink::Ws(outbox) => matches!(
                outbox.try_send(encoded.ws_frame().clone()),
                Err(mpsc::error::TrySendError::Full(_))
            ),
            Sink::SocketIo(socket) => {
                let Some(data) = encoded.raw_data() else {
                    return;
                };
                matches!(
                    socket.emit(encoded.event.name, data),
                    Err(SendError::Socket(SocketError::InternalChannelFull))
                )
            }
        };
        if full {
            entry.closer.close(close::TOO_SLOW);
        }
    }
}

/// One event, encoded for each wire format the first time a recipient
/// needs it.
struct Encoded<'a> {
    event: &'a Event,
    ws_frame: Option<Utf8Bytes>,
    raw_data: Option<Option<&'a RawValue>>,
}

impl<'a> Encoded<'a> {
    fn new(event: &'a Event) -> Self {
        Self {
            event,
            ws_frame: None,
            raw_data: None,
        }
    }

    fn ws_frame(&mut self) -> &Utf8Bytes {
        self.ws_frame
            .get_or_insert_with(|| events::frame(self.event))
    }

    /// The event's data, embedded as it is in each Socket.IO packet (the
    /// data is JSON already: this only finds its end).
    fn raw_data(&mut self) -> Option<&'a RawValue> {
        let event = self.event;
        *self
            .raw_data
            .get_or_insert_with(|| serde_json::from_str(&event.data).ok())
    }
}

impl Notifier for Hub {
    fn publish(&self, users: &[UserId], event: &Event) {
        let mut encoded = Encoded::new(event);
        let online = self
            .inner
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for user in users {
            for entry in online.get(user).into_iter().flatten() {
                Self::offer(entry, &mut encoded);
            }
        }
    }

    fn is_online(&self, user: UserId) -> bool {
        self.is_user_online(user)
    }

    fn end_session(&self, session: SessionId) {
        self.close_where(|_, entry| entry.session == session, close::UNAUTHORIZED);
    }

    fn end_user(&self, user: UserId) {
        self.close_where(|owner, _| owner == user, close::UNAUTHORIZED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket() -> (Outbox, mpsc::Receiver<Utf8Bytes>, Closer) {
        let (outbox, inbox) = mpsc::channel(2);
        (outbox, inbox, Closer::default())
    }

    #[test]
    fn presence_follows_the_first_and_last_socket() {
        let hub = Hub::new();
        let user = UserId::generate();
        let (outbox, _inbox, closer) = socket();
        let (first, presence) = hub.register(
            user,
            SessionId::generate(),
            Sink::Ws(outbox.clone()),
            closer.clone(),
        );
        assert_eq!(presence, Presence::CameOnline);
        let (second, presence) =
            hub.register(user, SessionId::generate(), Sink::Ws(outbox), closer);
        assert_eq!(presence, Presence::Unchanged);
        assert!(hub.is_user_online(user));
        assert_eq!(first.leave(), Presence::Unchanged);
        assert_eq!(second.leave(), Presence::WentOffline);
        assert!(!hub.is_user_online(user));
    }

    #[test]
    fn a_full_outbox_closes_its_socket_and_spares_the_others() {
        let hub = Hub::new();
        let (slow, fast) = (UserId::generate(), UserId::generate());
        let (slow_outbox, _slow_inbox, slow_closer) = socket();
        let (fast_outbox, mut fast_inbox, fast_closer) = socket();
        let _a = hub.register(
            slow,
            SessionId::generate(),
            Sink::Ws(slow_outbox),
            slow_closer.clone(),
        );
        let _b = hub.register(
            fast,
            SessionId::generate(),
            Sink::Ws(fast_outbox),
            fast_closer.clone(),
        );
        let event = Event::new("ping", &serde_json::json!({}));
        for _ in 0..3 {
            hub.publish(&[slow, fast], &event);
            let _ = fast_inbox.try_recv();
        }
        assert_eq!(slow_closer.code(), close::TOO_SLOW);
        assert_eq!(fast_closer.code(), 0);
    }

    #[test]
    fn an_event_is_encoded_once_per_wire_format_from_its_json() {
        let event = Event::new("user_typing", &serde_json::json!({ "isTyping": true }));
        let mut encoded = Encoded::new(&event);
        assert_eq!(
            encoded.raw_data().map(RawValue::get),
            Some(r#"{"isTyping":true}"#)
        );
        assert_eq!(
            encoded.ws_frame().as_str(),
            r#"{"event":"user_typing","data":{"isTyping":true}}"#
        );
    }

    #[test]
    fn ending_a_session_closes_only_its_sockets() {
        let hub = Hub::new();
        let user = UserId::generate();
        let (ended, kept) = (SessionId::generate(), SessionId::generate());
        let (outbox, _inbox, ended_closer) = socket();
        let kept_closer = Closer::default();
        let _a = hub.register(user, ended, Sink::Ws(outbox.clone()), ended_closer.clone());
        let _b = hub.register(user, kept, Sink::Ws(outbox), kept_closer.clone());
        hub.end_session(ended);
        assert_eq!(ended_closer.code(), close::UNAUTHORIZED);
        assert_eq!(kept_closer.code(), 0);
    }
}
