//! The long-polling transport: a session's packets travel in HTTP requests
//! (a `GET` waits for what the server has to say, a `POST` carries what the
//! client says), until the client upgrades the session to a websocket.
//! `Poll` is what the session's task and its requests share; `Sessions`
//! finds it by the session id in the URL.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio::time::timeout;

use super::packet;
use super::{EngineError, refuse};

/// Packets from a client a session may have waiting before the client's
/// next `POST` waits for it (the answer to this one comes once there is
/// room).
const INBOX_ROOM: usize = 256;
/// How long each step of an upgrade's probe may take.
const PROBE_WAIT: Duration = Duration::from_secs(10);

/// The sessions on long-polling, by id. A session upgraded to a websocket
/// leaves: nothing addresses it by id any more.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<Box<str>, Arc<Poll>>>,
}

impl Sessions {
    pub fn insert(&self, poll: Arc<Poll>) {
        lock(&self.open).insert(poll.sid.clone(), poll);
    }

    pub fn get(&self, sid: &str) -> Option<Arc<Poll>> {
        lock(&self.open).get(sid).cloned()
    }

    pub fn remove(&self, sid: &str) {
        lock(&self.open).remove(sid);
    }
}

/// One long-polling session, shared by its task and its requests.
pub struct Poll {
    pub sid: Box<str>,
    state: Mutex<State>,
    /// Wakes the session's task: packets came, an upgrade is ready, or a
    /// `GET` took what was waiting (room again).
    wake_session: Notify,
    /// Wakes the session's requests: packets to take, room for more, the
    /// probe done, the session over.
    wake_requests: Notify,
}

#[derive(Default)]
struct State {
    /// From `POST`s, for the task.
    incoming: VecDeque<Utf8Bytes>,
    /// From the task, for the next `GET`.
    outgoing: Vec<Utf8Bytes>,
    /// A `GET` is waiting: a second one at once is refused.
    polling: bool,
    upgrade: Upgrade,
    /// The task is saying its last: no upgrade may start.
    ending: bool,
    over: bool,
}

/// Where an upgrade to a websocket stands.
#[derive(Default)]
enum Upgrade {
    #[default]
    None,
    /// The websocket is open and its probe not yet answered.
    Probing,
    /// The client was told the websocket works: it stops polling, and a
    /// waiting `GET` is let go with a noop.
    Probed,
    /// The client said `upgrade`: the socket waits for the task.
    Ready(Box<WebSocket>),
    /// The task took it.
    Done,
}

/// What the task hears next.
pub enum Incoming {
    Packet(Utf8Bytes),
    Upgraded(Box<WebSocket>),
    /// Nothing but a wake-up: a `GET` made room.
    Room,
}

impl Poll {
    pub fn new(sid: Box<str>) -> Self {
        Self {
            sid,
            state: Mutex::default(),
            wake_session: Notify::new(),
            wake_requests: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    // The task's side.

    /// The next packet the client sent, the websocket it upgraded to, or a
    /// wake-up. Cancel-safe: what it takes, it returns at once.
    pub async fn next(&self) -> Incoming {
        let woken = self.wake_session.notified();
        if let Some(incoming) = self.take_incoming() {
            return incoming;
        }
        woken.await;
        self.take_incoming().unwrap_or(Incoming::Room)
    }

    fn take_incoming(&self) -> Option<Incoming> {
        let mut state = self.state();
        if let Some(packet) = state.incoming.pop_front() {
            if state.incoming.len() == INBOX_ROOM {
                self.wake_requests.notify_waiters();
            }
            return Some(Incoming::Packet(packet));
        }
        if let Upgrade::Ready(_) = state.upgrade
            && let Upgrade::Ready(socket) = std::mem::replace(&mut state.upgrade, Upgrade::Done)
        {
            return Some(Incoming::Upgraded(socket));
        }
        None
    }

    /// Whether the client takes packets fast enough for the task to give
    /// it more: past the outbox's size the task stops, its outbox fills and
    /// the client counts as too slow.
    pub fn has_room(&self, room: usize) -> bool {
        self.state().outgoing.len() < room
    }

    /// Queues packets for the next `GET`.
    pub fn send(&self, packets: impl IntoIterator<Item = Utf8Bytes>) {
        self.state().outgoing.extend(packets);
        self.wake_requests.notify_waiters();
    }

    /// After an upgrade: what no `GET` took yet goes out on the websocket,
    /// first.
    pub fn hand_over(&self) -> Vec<Utf8Bytes> {
        let left = std::mem::take(&mut self.state().outgoing);
        self.wake_requests.notify_waiters();
        left
    }

    /// Ends the session: `last` goes out if a `GET` takes it within
    /// `patience`, then a waiting `GET` is answered with a close.
    pub async fn finish(&self, last: Vec<Utf8Bytes>, patience: Duration) {
        self.state().ending = true;
        self.send(last);
        let _ = timeout(patience, async {
            loop {
                let woken = self.wake_session.notified();
                if self.state().outgoing.is_empty() {
                    return;
                }
                woken.await;
            }
        })
        .await;
        self.state().over = true;
        self.wake_requests.notify_waiters();
    }

    // The requests' side.

    /// `GET`: what the task has queued, or, once there is something, the
    /// next of it; a noop once an upgrade's probe is answered; a close once
    /// the session is over.
    pub async fn poll(&self) -> Response {
        {
            let mut state = self.state();
            if state.polling {
                return refuse(EngineError::BadRequest);
            }
            state.polling = true;
        }
        // A client that gives up its request frees the place for the next.
        let _waiting = PollingGuard(self);
        loop {
            let woken = self.wake_requests.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            {
                let mut state = self.state();
                if !state.outgoing.is_empty() {
                    let packets = std::mem::take(&mut state.outgoing);
                    drop(state);
                    self.wake_session.notify_one();
                    return payload(&packets);
                }
                if state.over {
                    return text(packet::CLOSE);
                }
                if matches!(state.upgrade, Upgrade::Probed | Upgrade::Done) {
                    return text(packet::NOOP);
                }
            }
            woken.await;
        }
    }

    /// `POST`: the client's packets, separated by the record separator.
    /// Answered once the task has room for more.
    pub async fn post(&self, body: Bytes) -> Response {
        let Ok(body) = std::str::from_utf8(&body) else {
            return refuse(EngineError::BadRequest);
        };
        {
            let mut state = self.state();
            if state.over {
                return refuse(EngineError::UnknownSession);
            }
            state.incoming.extend(
                body.split('\x1e')
                    .map(|packet| Utf8Bytes::from(packet.to_owned())),
            );
        }
        self.wake_session.notify_one();
        loop {
            let woken = self.wake_requests.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            {
                let state = self.state();
                if state.incoming.len() <= INBOX_ROOM || state.over {
                    break;
                }
            }
            woken.await;
        }
        text("ok")
    }

    /// A websocket request for this session: whether it may go ahead (one
    /// upgrade at a time, and none once the session is over).
    pub fn begin_upgrade(&self) -> bool {
        let mut state = self.state();
        if state.ending || state.over || !matches!(state.upgrade, Upgrade::None) {
            return false;
        }
        state.upgrade = Upgrade::Probing;
        true
    }

    /// The upgrade's handshake on the new websocket: `2probe` is answered
    /// `3probe`, the client stops polling and says `5`; then the socket is
    /// the task's. A failed probe leaves the session on polling.
    pub async fn probe(&self, mut socket: WebSocket) {
        let probed = timeout(PROBE_WAIT, async {
            expect(&mut socket, "2probe").await?;
            socket
                .send(Message::Text(packet::pong("probe")))
                .await
                .ok()?;
            self.state().upgrade = Upgrade::Probed;
            self.wake_requests.notify_waiters();
            expect(&mut socket, "5").await
        })
        .await;
        let mut state = self.state();
        state.upgrade = match probed {
            Ok(Some(())) if !state.ending && !state.over => Upgrade::Ready(Box::new(socket)),
            _ => Upgrade::None,
        };
        drop(state);
        self.wake_session.notify_one();
    }
}

/// The next text frame, if it is `expected` (pings of the websocket itself
/// aside).
async fn expect(socket: &mut WebSocket, expected: &str) -> Option<()> {
    loop {
        match socket.next().await? {
            Ok(Message::Text(text)) if text.as_str() == expected => return Some(()),
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            _ => return None,
        }
    }
}

struct PollingGuard<'a>(&'a Poll);

impl Drop for PollingGuard<'_> {
    fn drop(&mut self) {
        self.0.state().polling = false;
    }
}

/// Packets as one polling payload.
fn payload(packets: &[Utf8Bytes]) -> Response {
    let mut body = String::with_capacity(packets.iter().map(|packet| packet.len() + 1).sum());
    for (n, packet) in packets.iter().enumerate() {
        if n > 0 {
            body.push('\x1e');
        }
        body.push_str(packet);
    }
    text(body)
}

pub fn text(body: impl Into<String>) -> Response {
    ([(CONTENT_TYPE, "text/plain; charset=UTF-8")], body.into()).into_response()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
