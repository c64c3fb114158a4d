//! The topics in memory: each one's cache of recent messages and the channel
//! its live subscribers listen on.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::event::{Event, NtfyMessage};
use super::since::Since;
use crate::timestamp::Timestamp;

/// How often, at most, every topic is checked for expired messages and
/// forgotten when idle; between sweeps only the topic at hand is pruned.
const SWEEP_EVERY_SECONDS: i64 = 60;

/// How topics cache and stream.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Time between `keepalive` events on a live subscription (ntfy: 45 s).
    pub keepalive: Duration,
    /// Messages kept per topic for `since=` and `poll=1`; older ones drop out.
    pub cache_messages: usize,
    /// How long a message stays in the cache; also its `expires`.
    pub cache_duration: Duration,
    /// Messages a live subscriber may fall behind before its stream is
    /// closed. Publishing never waits for a subscriber; the ntfy app
    /// reconnects with `since=<last id>` and catches up from the cache.
    pub subscriber_backlog: usize,
    /// Cancelled at shutdown: every live subscription ends.
    pub shutdown: CancellationToken,
}

impl Settings {
    /// ntfy's defaults: keepalive 45 s, the last 100 messages for 12 hours.
    pub fn new(shutdown: CancellationToken) -> Self {
        Self {
            keepalive: Duration::from_secs(45),
            cache_messages: 100,
            cache_duration: Duration::from_secs(12 * 3600),
            subscriber_backlog: 64,
            shutdown,
        }
    }
}

/// Every topic the server has published to or is being listened on, cheap
/// to clone. A topic with no subscribers and no unexpired messages is
/// forgotten, so memory follows what is in use. Messages live in memory
/// only: a restart forgets them.
#[derive(Clone)]
pub struct Topics {
    inner: Arc<Inner>,
}

/// Where a message published here also goes: the other nodes of a cluster.
type Relay = Box<dyn Fn(&str, &NtfyMessage) + Send + Sync>;

struct Inner {
    settings: Settings,
    is_known: Box<dyn Fn(&str) -> bool + Send + Sync>,
    relay: std::sync::OnceLock<Relay>,
    // A std mutex: it is held for a map lookup and a copy of at most
    // `cache_messages` pointers, never across an await.
    state: Mutex<State>,
}

struct State {
    topics: HashMap<String, Topic>,
    last_sweep: i64,
}

struct Topic {
    /// Oldest first.
    cache: VecDeque<Arc<Event>>,
    live: broadcast::Sender<Arc<Event>>,
}

/// A new live subscriber: the cached messages it asked for with `since=`,
/// and its place on the topic's channel for everything published after.
/// Both are taken under one lock, so nothing falls between them.
pub(super) struct Subscription {
    pub(super) backlog: Vec<Arc<Event>>,
    pub(super) receiver: broadcast::Receiver<Arc<Event>>,
}

impl Topics {
    /// `is_known` decides which topics exist (the caller's secret topic
    /// names); it is asked on every subscription, so it should be quick.
    pub fn new(
        settings: Settings,
        is_known: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        let state = State {
            topics: HashMap::new(),
            last_sweep: Timestamp::now().seconds(),
        };
        Self {
            inner: Arc::new(Inner {
                settings,
                is_known: Box::new(is_known),
                relay: std::sync::OnceLock::new(),
                state: Mutex::new(state),
            }),
        }
    }

    /// Stamps the message with an id, the time and its expiry, caches it and
    /// hands it to every live subscriber of `topic` without waiting for
    /// any. Returns the message's id.
    pub fn publish(&self, topic: &str, message: NtfyMessage) -> String {
        if let Some(relay) = self.inner.relay.get() {
            relay(topic, &message);
        }
        self.publish_here(topic, message)
    }

    /// `publish` to this node's subscribers only: for a message another
    /// node published and relayed.
    pub fn publish_here(&self, topic: &str, message: NtfyMessage) -> String {
        self.publish_at(topic, message, Timestamp::now().seconds())
    }

    /// Sends each message published here to the other nodes too, whose
    /// subscribers the topic may have (set once, for a cluster).
    pub fn relay_to(&self, relay: impl Fn(&str, &NtfyMessage) + Send + Sync + 'static) {
        let _ = self.inner.relay.set(Box::new(relay));
    }

    /// Forgets a topic that was replaced: its cached messages go and its
    /// live subscriptions end.
    pub fn forget(&self, topic: &str) {
        // Dropping the topic's sender closes every receiver on it.
        self.lock().topics.remove(topic);
    }

    pub(super) fn is_known(&self, topic: &str) -> bool {
        (self.inner.is_known)(topic)
    }

    pub(super) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The cached messages `since` selects, for `poll=1`.
    pub(super) fn cached(&self, topic: &str, since: &Since) -> Vec<Arc<Event>> {
        let now = Timestamp::now().seconds();
        let mut state = self.lock();
        state.sweep_if_due(now);
        state.topics.get_mut(topic).map_or_else(Vec::new, |topic| {
            topic.drop_expired(now);
            topic.select(since)
        })
    }

    /// Starts a live subscription to `topic`.
    pub(super) fn subscribe(&self, topic: &str, since: &Since) -> Subscription {
        let now = Timestamp::now().seconds();
        let mut state = self.lock();
        state.sweep_if_due(now);
        let topic = state.topic(topic, &self.inner.settings);
        topic.drop_expired(now);
        Subscription {
            backlog: topic.select(since),
            receiver: topic.live.subscribe(),
        }
    }

    fn publish_at(&self, topic: &str, message: NtfyMessage, now: i64) -> String {
        let settings = &self.inner.settings;
        let lifetime = i64::try_from(settings.cache_duration.as_secs()).unwrap_or(i64::MAX);
        let event = Arc::new(Event::message(
            topic,
            message,
            now,
            now.saturating_add(lifetime),
        ));
        let mut state = self.lock();
        state.sweep_if_due(now);
        let topic = state.topic(topic, settings);
        topic.drop_expired(now);
        topic.cache.push_back(Arc::clone(&event));
        while topic.cache.len() > settings.cache_messages {
            topic.cache.pop_front();
        }
        // An error only means nobody is listening; the cache keeps it.
        let _ = topic.live.send(Arc::clone(&event));
        event.id.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: each edit is
        // a single insert, push or removal.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn topic(&mut self, name: &str, settings: &Settings) -> &mut Topic {
        self.topics.entry(name.to_owned()).or_insert_with(|| Topic {
            cache: VecDeque::new(),
            // A channel needs room for at least one message.
            live: broadcast::channel(settings.subscriber_backlog.max(1)).0,
        })
    }

    fn sweep_if_due(&mut self, now: i64) {
        if now.saturating_sub(self.last_sweep) < SWEEP_EVERY_SECONDS {
            return;
        }
        self.last_sweep = now;
        self.topics.retain(|_, topic| {
            topic.drop_expired(now);
            !topic.is_idle()
        });
    }
}

impl Topic {
    fn drop_expired(&mut self, now: i64) {
        while self
            .cache
            .front()
            .is_some_and(|event| event.expires.is_some_and(|expires| expires <= now))
        {
            self.cache.pop_front();
        }
    }

    fn is_idle(&self) -> bool {
        self.cache.is_empty() && self.live.receiver_count() == 0
    }

    fn select(&self, since: &Since) -> Vec<Arc<Event>> {
        let start = match since {
            Since::Nothing => self.cache.len(),
            Since::All => 0,
            Since::Latest => self.cache.len().saturating_sub(1),
            Since::Time(time) => self
                .cache
                .iter()
                .position(|event| event.time >= *time)
                .unwrap_or(self.cache.len()),
            // An id no longer cached is older than everything cached (or
            // never was here): as ntfy, send all that is left.
            Since::Id(id) => self
                .cache
                .iter()
                .position(|event| event.id == *id)
                .map_or(0, |found| found + 1),
        };
        self.cache.iter().skip(start).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn topics() -> Topics {
        let mut settings = Settings::new(CancellationToken::new());
        settings.cache_messages = 3;
        settings.cache_duration = Duration::from_secs(100);
        Topics::new(settings, |topic| topic == "known")
    }

    fn text(text: &str) -> NtfyMessage {
        NtfyMessage {
            message: text.into(),
            ..NtfyMessage::default()
        }
    }

    fn texts(events: &[Arc<Event>]) -> Vec<&str> {
        events
            .iter()
            .filter_map(|event| event.message.as_deref())
            .collect()
    }

    #[test]
    fn the_cache_keeps_the_newest_messages_up_to_its_size() {
        let topics = topics();
        for (offset, name) in ["a", "b", "c", "d"].into_iter().enumerate() {
            topics.publish_at("t", text(name), NOW + i64::try_from(offset).expect("small"));
        }
        assert_eq!(texts(&topics.cached("t", &Since::All)), ["b", "c", "d"]);
        assert_eq!(texts(&topics.cached("t", &Since::Latest)), ["d"]);
        assert_eq!(
            texts(&topics.cached("t", &Since::Time(NOW + 2))),
            ["c", "d"]
        );
        assert!(topics.cached("t", &Since::Nothing).is_empty());
    }

    #[test]
    fn since_an_id_gives_later_messages_and_an_unknown_id_gives_all() {
        let topics = topics();
        let first = topics.publish_at("t", text("a"), NOW);
        topics.publish_at("t", text("b"), NOW);
        assert_eq!(texts(&topics.cached("t", &Since::Id(first))), ["b"]);
        assert_eq!(
            texts(&topics.cached("t", &Since::Id("AAAAAAAAAAAA".into()))),
            ["a", "b"]
        );
    }

    #[test]
    fn expired_messages_leave_the_cache_and_idle_topics_are_forgotten() {
        let topics = topics();
        topics.publish_at("old", text("a"), NOW - 200);
        topics.publish_at("t", text("b"), NOW);
        {
            let mut state = topics.lock();
            state.last_sweep = NOW - SWEEP_EVERY_SECONDS;
            state.sweep_if_due(NOW);
            assert!(!state.topics.contains_key("old"));
            assert!(state.topics.contains_key("t"));
        }
        let mut state = topics.lock();
        state
            .topics
            .get_mut("t")
            .expect("t")
            .drop_expired(NOW + 100);
        assert!(state.topics["t"].cache.is_empty());
    }

    #[test]
    fn a_topic_with_a_subscriber_is_kept_without_messages() {
        let topics = topics();
        let subscription = topics.subscribe("t", &Since::Nothing);
        let mut state = topics.lock();
        state.last_sweep = 0;
        state.sweep_if_due(NOW);
        assert!(state.topics.contains_key("t"));
        drop(subscription);
        state.last_sweep = 0;
        state.sweep_if_due(NOW);
        assert!(!state.topics.contains_key("t"));
    }

    #[test]
    fn a_subscriber_gets_its_backlog_then_what_is_published() {
        let topics = topics();
        topics.publish("t", text("before"));
        let mut subscription = topics.subscribe("t", &Since::All);
        topics.publish("t", text("after"));
        assert_eq!(texts(&subscription.backlog), ["before"]);
        let live = subscription.receiver.try_recv().expect("published");
        assert_eq!(live.message.as_deref(), Some("after"));
    }

    #[test]
    fn forgetting_a_topic_closes_its_subscribers_and_empties_it() {
        let topics = topics();
        topics.publish("t", text("a"));
        let mut subscription = topics.subscribe("t", &Since::Nothing);
        topics.forget("t");
        assert_eq!(
            subscription.receiver.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        );
        assert!(topics.cached("t", &Since::All).is_empty());
    }

    #[test]
    fn is_known_asks_the_caller() {
        let topics = topics();
        assert!(topics.is_known("known"));
        assert!(!topics.is_known("other"));
    }
}
