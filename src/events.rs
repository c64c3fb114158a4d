//! What the product rules tell the realtime layer. `chat` and `auth` describe
//! an event once, already encoded as JSON; the realtime adapters (`/ws`, and
//! any other wire format) wrap it in their own envelope. The `Notifier` trait
//! keeps the arrows pointing down: the hub implements it, the rules only call
//! it.

use std::sync::Arc;

use serde::Serialize;

use crate::id::{SessionId, UserId};

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

pub trait Notifier: Send + Sync + 'static {
    /// Queues `event` to every live socket of each of `users`. Never waits.
    fn publish(&self, users: &[UserId], event: &Event);

    /// Whether `user` has at least one authenticated socket.
    fn is_online(&self, user: UserId) -> bool;

    /// Closes every socket that authenticated with a token of `session`.
    fn end_session(&self, session: SessionId);

    /// Closes every socket of `user` (disabled by the admin).
    fn end_user(&self, user: UserId);
}
