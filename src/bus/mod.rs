//! What the rules publish to after a commit, and what carries live signals
//! (typing, presence, sessions ending). `chat` and `auth` describe an event
//! once, already encoded as JSON, and hand it to a `Bus`; the in-process
//! implementation is the `Hub`, which offers it to each recipient socket's
//! `Sink`. Sinks belong to the realtime adapters (`/ws`, Socket.IO), so the
//! bus never learns a wire format.

pub mod close;
mod hub;
pub mod nats;

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::id::{ChatId, SessionId, UserId};

pub use hub::{Hub, Presence, Registration};

/// A server-to-client event, its data encoded once for every recipient.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: &'static str,
    /// The event's `data` as compact JSON.
    pub data: Arc<str>,
    /// For a message's send or change: its place in the chat's history.
    pub order: Option<Order>,
}

/// Where a message event stands in its chat's history: the `rev` of the
/// change it tells of, and the message's `seq`. A bus across nodes uses it
/// to deliver each chat's events in order, once, and to fill from the
/// store what it dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Order {
    pub chat: ChatId,
    pub rev: u64,
    pub seq: u64,
}

impl Event {
    pub fn new(name: &'static str, data: &impl Serialize) -> Self {
        // The payloads are plain structs of strings and numbers: encoding them
        // into a String cannot fail.
        let data = serde_json::to_string(data).expect("event data encodes as JSON");
        Self {
            name,
            data: data.into(),
            order: None,
        }
    }

    /// The event of change `rev` to message `seq` of `chat`.
    #[must_use]
    pub fn ordered(mut self, chat: ChatId, rev: u64, seq: u64) -> Self {
        self.order = Some(Order { chat, rev, seq });
        self
    }
}

/// Where the rules send what happened. Implementations never wait on a
/// recipient: a slow socket is closed rather than slowing the sender.
pub trait Bus: Send + Sync + 'static {
    /// Queues `event` to every live socket of each of `users`.
    fn publish(&self, users: &[UserId], event: &Event);

    /// Whether `user` has at least one authenticated socket.
    fn is_online(&self, user: UserId) -> bool;

    /// Whether `user` has a socket whose app is in view (not one that said
    /// its page is hidden): such a user needs no push.
    fn is_watching(&self, user: UserId) -> bool;

    /// Closes every socket that authenticated with a token of `session`.
    fn end_session(&self, session: SessionId);

    /// Closes every socket of `user` (disabled by the admin).
    fn end_user(&self, user: UserId);
}

/// What a bus across nodes reads from the store to fill in message events
/// it never heard. Implemented by the rules (`chat`), which know what those
/// events hold and who receives them. `None` when the store could not be
/// read (the bus tries again later).
pub trait Backfill: Send + Sync + 'static {
    /// The chats `user` takes part in, each where its history stands now.
    fn chats_of(&self, user: UserId) -> Option<Vec<ChatPlace>>;

    /// The `rev` of `chat`'s latest change.
    fn latest_rev(&self, chat: ChatId) -> Option<u64>;

    /// The events of `chat`'s messages whose latest change has a `rev`
    /// after `after`, up to `upto`, in `rev` order, each with its
    /// recipients, told as `seen` says.
    fn missed(
        &self,
        chat: ChatId,
        after: u64,
        upto: u64,
        seen: Seen,
    ) -> Option<Vec<(Vec<UserId>, Event)>>;
}

/// What the receivers of missed events were told already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Every message up to this `seq`: a later one is new to them, an
    /// earlier one changed.
    UpToSeq(u64),
    /// Nothing since this time (they just connected): only changes made
    /// since are told, a message sent since as new.
    Since(crate::timestamp::Timestamp),
}

/// Where a chat's history stands: its latest change and newest message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatPlace {
    pub chat: ChatId,
    pub rev: u64,
    pub seq: u64,
}

/// A socket's queue was full: the socket is too slow to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// One socket's way out, implemented by each realtime adapter.
pub trait Sink: Send + Sync + 'static {
    /// Queues `event` without waiting. `encodings` holds what other sockets
    /// of the same fan-out already encoded, so each wire format encodes an
    /// event once however many sockets receive it.
    fn offer(&self, event: &Event, encodings: &mut Encodings) -> Result<(), QueueFull>;
}

/// One event's encodings, one per wire format, made the first time a
/// recipient of that format needs it.
#[derive(Default)]
pub struct Encodings {
    made: Vec<Box<dyn Any>>,
}

impl Encodings {
    /// The encoding of type `T`, made by `make` if no sink made it yet.
    pub fn get_or_make<T: Any>(&mut self, make: impl FnOnce() -> T) -> &T {
        let index = match self.made.iter().position(|made| made.is::<T>()) {
            Some(index) => index,
            None => {
                self.made.push(Box::new(make()));
                self.made.len() - 1
            }
        };
        self.made[index]
            .downcast_ref()
            .expect("the slot was found or made for this type")
    }
}

/// Closes one socket from anywhere, with a reason code (`close`).
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

#[cfg(test)]
mod tests {
    use super::Encodings;

    #[test]
    fn each_encoding_is_made_once() {
        let mut encodings = Encodings::default();
        let mut made = 0;
        for _ in 0..3 {
            let text: &String = encodings.get_or_make(|| {
                made += 1;
                String::from("frame")
            });
            assert_eq!(text, "frame");
        }
        assert_eq!(*encodings.get_or_make(|| 7u32), 7);
        assert_eq!(made, 1);
    }
}
