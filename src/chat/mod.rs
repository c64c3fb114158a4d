//! The rules of the product, shared by REST and WebSocket: users' profiles,
//! creating chats and changing their members, sending and reading messages,
//! typing and presence. Each rule lives here once; handlers only parse, call
//! one of these functions, and shape the answer.

mod chats;
mod messages;
mod presence;
mod users;
pub mod validate;
pub mod views;

use std::sync::Arc;

use crate::bus::{Bus, Event};
use crate::error::{Error, Result};
use crate::id::{ChatId, UserId};
use crate::store::{ChatRecord, Query, Store};

pub use chats::{Creation, NewChat, ProfilePatch};
pub use messages::{MessageQuery, NewMessage, Sent};

/// Most members a group may have, its creator included.
pub const GROUP_MAX: usize = 256;

/// The product's rules; cheap to clone.
#[derive(Clone)]
pub struct ChatService {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    bus: Arc<dyn Bus>,
}

impl ChatService {
    pub fn new(store: Store, bus: Arc<dyn Bus>) -> Self {
        Self {
            inner: Arc::new(Inner { store, bus }),
        }
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn bus(&self) -> &Arc<dyn Bus> {
        &self.inner.bus
    }

    fn publish(&self, users: &[UserId], event: &Event) {
        self.inner.bus.publish(users, event);
    }
}

/// The chat, if `user` takes part in it. A chat the caller is not in is
/// `not_found`, exactly like one that does not exist.
fn chat_of(reader: &impl Query, chat: ChatId, user: UserId) -> Result<ChatRecord> {
    match reader.chat(chat)? {
        Some(record) if record.has_participant(user) => Ok(record),
        _ => Err(Error::NotFound),
    }
}
