//! What the rules publish to after a commit, and what carries live signals
//! (typing, presence, sessions ending). `chat` and `auth` describe an event
//! once, already encoded as JSON, and hand it to a `Bus`; the in-process
//! implementation is the `Hub`, which offers it to each recipient socket's
//! `Sink`. Sinks belong to the realtime adapters (`/ws`, Socket.IO), so the
//! bus never learns a wire format.

pub mod close;
mod hub;

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::id::{SessionId, UserId};

pub use hub::{Hub, Presence, Registration};

/// A server-to-client event, its data encoded once for every recipient.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: &'static str,
    /// The event's `data` as compact JSON.
    pub data: Arc<str>,
}

impl Event {
    pub fn new(name: &'static str, data: &impl Serialize) -> Self {
        // The payloads are plain structs of strings and numbers: encoding them
        // into a String cannot fail.
        let data = serde_json::to_string(data).expect("event data encodes as JSON");
        Self {
            name,
            data: data.into(),
        }
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
