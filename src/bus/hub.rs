//! The in-process `Bus`: who is connected, and fan-out. The hub maps each
//! user to their authenticated sockets' sinks, whatever their wire format;
//! publishing offers an event to each socket's bounded queue without ever
//! waiting. A socket whose queue is full is told to close (1013) instead of
//! slowing everyone else down.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::id::{SessionId, UserId};

use super::{Bus, Closer, Encodings, Event, Sink, close};

struct Entry {
    id: u64,
    /// The app said its page is hidden (`visibility`): its user is not
    /// watching through this socket, so pushes still go out.
    hidden: bool,
    session: SessionId,
    sink: Arc<dyn Sink>,
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
    /// Woken when a socket comes, goes or changes whether its app is in
    /// view: what other nodes hear of this node's presence.
    changed: Notify,
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
        self.update(|entry| entry.session = session);
    }

    /// Records whether the app behind this socket is in view.
    pub fn set_visible(&self, visible: bool) {
        self.update(|entry| entry.hidden = !visible);
    }

    /// Changes this socket's entry in the hub.
    fn update(&self, change: impl FnOnce(&mut Entry)) {
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
            change(entry);
        }
        self.hub.inner.changed.notify_one();
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
        sink: Arc<dyn Sink>,
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
            hidden: false,
            session,
            sink,
            closer,
        });
        self.inner.changed.notify_one();
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
        self.inner.changed.notify_one();
        if entries.is_empty() {
            users.remove(&user);
            if before > 0 {
                return Presence::WentOffline;
            }
        }
        Presence::Unchanged
    }

    /// Whether `user` has a socket whose app is in view.
    pub fn is_user_watching(&self, user: UserId) -> bool {
        self.inner
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&user)
            .is_some_and(|entries| entries.iter().any(|entry| !entry.hidden))
    }

    pub fn is_user_online(&self, user: UserId) -> bool {
        self.inner
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(&user)
    }

    /// Authenticated sockets and distinct online users.
    /// Every user with a socket here, and whether one of their apps is in
    /// view.
    pub fn online_users(&self) -> Vec<(UserId, bool)> {
        self.inner
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(&user, entries)| (user, entries.iter().any(|entry| !entry.hidden)))
            .collect()
    }

    /// Resolves once a socket came, went or changed its visibility since
    /// the last call returned.
    pub async fn changed(&self) {
        self.inner.changed.notified().await;
    }

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

    fn offer(entry: &Entry, event: &Event, encodings: &mut Encodings) {
        if entry.sink.offer(event, encodings).is_err() {
            entry.closer.close(close::TOO_SLOW);
        }
    }
}

impl Bus for Hub {
    fn publish(&self, users: &[UserId], event: &Event) {
        let mut encodings = Encodings::default();
        let online = self
            .inner
            .users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for user in users {
            for entry in online.get(user).into_iter().flatten() {
                Self::offer(entry, event, &mut encodings);
            }
        }
    }

    fn is_watching(&self, user: UserId) -> bool {
        self.is_user_watching(user)
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
    use std::sync::Mutex;

    use super::*;
    use crate::bus::QueueFull;

    /// A socket's queue of `room` events, as the adapters keep one.
    #[derive(Default)]
    struct TestSink {
        room: usize,
        queued: Mutex<Vec<String>>,
    }

    impl TestSink {
        fn with_room(room: usize) -> Arc<Self> {
            Arc::new(Self {
                room,
                queued: Mutex::default(),
            })
        }

        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.queued.lock().unwrap())
        }
    }

    impl Sink for TestSink {
        fn offer(&self, event: &Event, encodings: &mut Encodings) -> Result<(), QueueFull> {
            let mut queued = self.queued.lock().unwrap();
            if queued.len() == self.room {
                return Err(QueueFull);
            }
            let frame = encodings.get_or_make(|| format!("{}:{}", event.name, event.data));
            queued.push(frame.clone());
            Ok(())
        }
    }

    #[test]
    fn presence_follows_the_first_and_last_socket() {
        let hub = Hub::new();
        let user = UserId::generate();
        let sink = TestSink::with_room(2);
        let (first, presence) =
            hub.register(user, SessionId::generate(), sink.clone(), Closer::default());
        assert_eq!(presence, Presence::CameOnline);
        let (second, presence) = hub.register(user, SessionId::generate(), sink, Closer::default());
        assert_eq!(presence, Presence::Unchanged);
        assert!(hub.is_user_online(user));
        assert_eq!(first.leave(), Presence::Unchanged);
        assert_eq!(second.leave(), Presence::WentOffline);
        assert!(!hub.is_user_online(user));
    }

    #[test]
    fn a_full_queue_closes_its_socket_and_spares_the_others() {
        let hub = Hub::new();
        let (slow, fast) = (UserId::generate(), UserId::generate());
        let (slow_sink, fast_sink) = (TestSink::with_room(2), TestSink::with_room(2));
        let (slow_closer, fast_closer) = (Closer::default(), Closer::default());
        let _a = hub.register(slow, SessionId::generate(), slow_sink, slow_closer.clone());
        let _b = hub.register(
            fast,
            SessionId::generate(),
            fast_sink.clone(),
            fast_closer.clone(),
        );
        let event = Event::new("ping", &serde_json::json!({}));
        for _ in 0..3 {
            hub.publish(&[slow, fast], &event);
            assert_eq!(fast_sink.take(), ["ping:{}"]);
        }
        assert_eq!(slow_closer.code(), close::TOO_SLOW);
        assert_eq!(fast_closer.code(), 0);
    }

    #[test]
    fn every_socket_of_every_recipient_gets_the_event() {
        let hub = Hub::new();
        let (ana, budi, outsider) = (UserId::generate(), UserId::generate(), UserId::generate());
        let sinks: Vec<_> = (0..3).map(|_| TestSink::with_room(4)).collect();
        let _a = hub.register(
            ana,
            SessionId::generate(),
            sinks[0].clone(),
            Closer::default(),
        );
        let _b = hub.register(
            ana,
            SessionId::generate(),
            sinks[1].clone(),
            Closer::default(),
        );
        let _c = hub.register(
            outsider,
            SessionId::generate(),
            sinks[2].clone(),
            Closer::default(),
        );
        hub.publish(
            &[ana, budi],
            &Event::new("user_typing", &serde_json::json!({ "isTyping": true })),
        );
        assert_eq!(sinks[0].take(), [r#"user_typing:{"isTyping":true}"#]);
        assert_eq!(sinks[1].take(), [r#"user_typing:{"isTyping":true}"#]);
        assert!(sinks[2].take().is_empty());
    }

    #[test]
    fn ending_a_session_closes_only_its_sockets() {
        let hub = Hub::new();
        let user = UserId::generate();
        let (ended, kept) = (SessionId::generate(), SessionId::generate());
        let sink = TestSink::with_room(2);
        let (ended_closer, kept_closer) = (Closer::default(), Closer::default());
        let _a = hub.register(user, ended, sink.clone(), ended_closer.clone());
        let _b = hub.register(user, kept, sink, kept_closer.clone());
        hub.end_session(ended);
        assert_eq!(ended_closer.code(), close::UNAUTHORIZED);
        assert_eq!(kept_closer.code(), 0);
    }
}
