//! The rules of the product, shared by REST and WebSocket: users' profiles,
//! creating chats and changing their members, sending and reading messages,
//! typing and presence. Each rule lives here once; handlers only parse, call
//! one of these functions, and shape the answer.

mod backfill;
mod blocks;
mod changes;
mod chats;
mod export;
mod indexer;
pub mod invites;
mod messages;
mod presence;
pub mod reports;
mod search;
mod users;
pub mod validate;
pub mod views;

use std::sync::Arc;

use crate::blobs::Blobs;
use crate::bus::{Bus, Event};
use crate::error::{Error, Result};
use crate::id::{ChatId, UserId};
use crate::settings::LiveSettings;
use crate::store::{ChatRecord, Query, Store};
use crate::token_bucket::Buckets;
use indexer::Indexer;

pub use changes::{CHANGES_LIMIT_DEFAULT, CHANGES_LIMIT_MAX, Request as ChangeRequest};
pub use chats::{Creation, NewChat, ProfilePatch};
pub use messages::{MessageQuery, NewMessage, Sent};
pub use search::{
    ChatSummary, Cursor as SearchCursor, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, SearchPage,
    SearchRequest, SearchResult,
};

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
    /// Attachment bytes: a message deleted for everyone takes its file
    /// along when nothing else names it.
    blobs: Blobs,
    /// The edit and delete windows: changed at run time.
    settings: LiveSettings,
    /// Files messages in the search index in the background.
    indexer: Indexer,
    /// Each user's message budget, over every socket and REST together.
    sends: Buckets<UserId>,
    /// Groups each user creates (with their first members), and members
    /// each user adds to existing groups, per hour: so no one can bury
    /// another user's chat list under groups they must leave by hand.
    groups_created: Buckets<UserId>,
    members_added: Buckets<UserId>,
    /// Reports each user may file, per hour.
    reports_filed: Buckets<UserId>,
    typing: presence::TypingThrottle,
}

/// A user may send this many messages at once before `MESSAGE_RATE` applies.
const MESSAGE_BURST: u32 = 200;
/// Per user and hour: groups created, and members added to existing groups.
const GROUPS_PER_HOUR: u32 = 20;
const MEMBERS_ADDED_PER_HOUR: u32 = 200;
const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// The settings the rules take from the configuration.
#[derive(Clone)]
pub struct Settings {
    /// Messages per second one user may send on average (0: no budget).
    pub message_rate: u32,
    pub live: LiveSettings,
}

impl Settings {
    pub fn new(config: &crate::config::Config, live: LiveSettings) -> Self {
        Self {
            message_rate: config.message_rate,
            live,
        }
    }
}

impl ChatService {
    pub fn new(store: Store, bus: Arc<dyn Bus>, blobs: Blobs, settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                bus,
                blobs,
                settings: settings.live,
                indexer: Indexer::default(),
                sends: Buckets::new(settings.message_rate, MESSAGE_BURST),
                groups_created: Buckets::per_period(GROUPS_PER_HOUR, HOUR),
                members_added: Buckets::per_period(MEMBERS_ADDED_PER_HOUR, HOUR),
                reports_filed: Buckets::per_period(reports::REPORTS_PER_HOUR, HOUR),
                typing: presence::TypingThrottle::default(),
            }),
        }
    }

    /// Runs the search indexer until `stop` (the server starts it once).
    pub async fn index_for_search(&self, stop: tokio_util::sync::CancellationToken) {
        self.inner
            .indexer
            .clone()
            .run(self.inner.store.clone(), stop)
            .await;
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

/// The upload an avatar names once changed from `read` to `changed`, when
/// it is a new one: the store then keeps that upload for good.
fn newly_named_upload(read: Option<&str>, changed: Option<&str>) -> Option<[u8; 16]> {
    if read == changed {
        return None;
    }
    validate::upload_key(changed?)
}

/// Spends `count` of `user`'s tokens in `budget`: `rate_limited` past it,
/// and then nothing is done.
fn spend(budget: &Buckets<UserId>, user: UserId, count: u32) -> Result<()> {
    budget
        .take_many(user, count, std::time::Instant::now())
        .map_err(|wait| Error::RateLimited {
            retry_after: wait.as_secs().max(1),
        })
}

/// The chat, if `user` takes part in it. A chat the caller is not in is
/// `not_found`, exactly like one that does not exist.
fn chat_of(reader: &impl Query, chat: ChatId, user: UserId) -> Result<ChatRecord> {
    match reader.chat(chat)? {
        Some(record) if record.has_participant(user) => Ok(record),
        _ => Err(Error::NotFound),
    }
}
