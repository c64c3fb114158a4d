//! The bus across nodes (`BUS=nats`): each node's `Hub` still holds its own
//! sockets; what one node publishes reaches the others over NATS.
//!
//! - Events go out on `clavox.events` after their commit. Each node
//!   delivers a chat's message events (those with an `Order`) strictly in
//!   `rev` order, each once: an event ahead of a gap waits a moment for the
//!   missing ones, then the gap is read from the store (`Backfill`). NATS
//!   may drop or reorder (a reconnect, a slow consumer, a server lost);
//!   the store decides what happened. After a reconnect, and every
//!   `SWEEP_EVERY`, each followed chat is checked against the store.
//! - Presence: every node tells `clavox.presence` which users it holds
//!   sockets of, at once when that changes and every `PRESENCE_EVERY`. A
//!   user is online while any node that was heard from lately holds them,
//!   so a node that dies takes its users offline within `NODE_GONE_AFTER`.
//! - Sessions ended or users disabled on one node are closed everywhere
//!   (`clavox.control`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_nats::{ConnectOptions, ServerAddr};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Backfill, Bus, Event, Hub, Order, Seen};
use crate::id::{ChatId, SessionId, UserId};
use crate::timestamp::Timestamp;

const EVENTS: &str = "clavox.events";
const PRESENCE: &str = "clavox.presence";
const CONTROL: &str = "clavox.control";
/// How often a node repeats who is online on it, changed or not.
const PRESENCE_EVERY: Duration = Duration::from_secs(2);
/// A node not heard from for this long is taken to be gone, and its users
/// with it.
const NODE_GONE_AFTER: Duration = Duration::from_secs(6);
/// How long an event ahead of a gap waits for the bus to bring the missing
/// ones before they are read from the store.
const GAP_WAIT: Duration = Duration::from_millis(250);
/// How often every followed chat is checked against the store, for events
/// dropped with nothing after them to show the gap.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// How many of a chat's latest changes a user who just connected may have
/// missed while their node started following it.
const REWIND: u64 = 64;
/// Events waiting to go out on the bus; past this (NATS away for long)
/// new ones are dropped.
const OUTBOX: usize = 65_536;
/// Distinct event names kept from other nodes (they are few and fixed).
const MOST_EVENT_NAMES: usize = 256;

/// An event as it crosses the bus.
#[derive(Serialize, Deserialize)]
struct Envelope {
    node: u64,
    users: Vec<UserId>,
    name: String,
    data: String,
    order: Option<Order>,
}

/// Who is online on one node, and whether their app is in view.
#[derive(Serialize, Deserialize)]
struct PresenceReport {
    node: u64,
    users: Vec<(UserId, bool)>,
}

#[derive(Serialize, Deserialize)]
enum Control {
    EndSession(SessionId),
    EndUser(UserId),
}

#[derive(Serialize, Deserialize)]
struct ControlMessage {
    node: u64,
    control: Control,
}

/// Something beside events, relayed to the other nodes.
#[derive(Serialize, Deserialize)]
struct Relayed {
    node: u64,
    payload: Vec<u8>,
}

fn relay_subject(channel: &str) -> String {
    format!("clavox.relay.{channel}")
}

/// Another node's users, as it last said.
struct RemoteNode {
    users: HashMap<UserId, bool>,
    heard: Instant,
}

/// Work for the task that keeps each chat's events in order.
enum Input {
    Ordered(Vec<UserId>, Event),
    /// Users newly online here, connected since that time: follow their
    /// chats from then on.
    Follow(Vec<UserId>, Timestamp),
    /// A gap's wait is over.
    Fill(ChatId),
    /// Check every followed chat against the store.
    Sweep,
}

pub struct NatsBus {
    hub: Hub,
    node: u64,
    client: async_nats::Client,
    outbox: mpsc::Sender<Envelope>,
    ordered: mpsc::UnboundedSender<Input>,
    remote: RwLock<HashMap<u64, RemoteNode>>,
    connected: AtomicBool,
    backfill: Arc<OnceLock<Arc<dyn Backfill>>>,
    stop: CancellationToken,
}

impl NatsBus {
    /// Connects to the NATS servers in `urls` (comma-separated) and starts
    /// the node's bus tasks. The node goes on trying while no server
    /// answers; `is_connected` says whether one does.
    pub async fn connect(urls: &str, hub: Hub) -> Result<Arc<Self>, String> {
        let servers: Vec<ServerAddr> = urls
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| {
                url.parse()
                    .map_err(|error| format!("NATS_URL: {url:?}: {error}"))
            })
            .collect::<Result<_, _>>()?;
        if servers.is_empty() {
            return Err("BUS=nats needs NATS_URL (nats://host:4222, comma-separated)".into());
        }
        let (events_tx, events) = mpsc::unbounded_channel();
        let options = ConnectOptions::new()
            .name("clavox")
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(3))
            .ping_interval(Duration::from_secs(5))
            .subscription_capacity(1 << 16)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * u64::try_from(attempts.min(20)).unwrap_or(20))
            })
            .event_callback(move |event| {
                let events_tx = events_tx.clone();
                async move {
                    let _ = events_tx.send(event);
                }
            });
        let client = options
            .connect(servers)
            .await
            .map_err(|error| format!("cannot reach NATS: {error}"))?;
        let (outbox, outgoing) = mpsc::channel(OUTBOX);
        let (ordered, inputs) = mpsc::unbounded_channel();
        let bus = Arc::new(Self {
            hub,
            node: rand::random(),
            client,
            outbox,
            ordered,
            remote: RwLock::new(HashMap::new()),
            connected: AtomicBool::new(false),
            backfill: Arc::new(OnceLock::new()),
            stop: CancellationToken::new(),
        });
        let events_sub = bus.subscribe(EVENTS).await?;
        let presence_sub = bus.subscribe(PRESENCE).await?;
        let control_sub = bus.subscribe(CONTROL).await?;
        tokio::spawn(Arc::clone(&bus).send_events(outgoing));
        tokio::spawn(Arc::clone(&bus).hear_events(events_sub));
        tokio::spawn(Arc::clone(&bus).hear_presence(presence_sub));
        tokio::spawn(Arc::clone(&bus).hear_control(control_sub));
        tokio::spawn(Arc::clone(&bus).tell_presence());
        tokio::spawn(Arc::clone(&bus).watch_connection(events));
        let sequencer = Sequencer::new(
            bus.hub.clone(),
            Arc::clone(&bus.backfill),
            bus.ordered.clone(),
        );
        tokio::spawn(sequencer.run(inputs, bus.stop.clone()));
        Ok(bus)
    }

    /// Where missed message events are read from; set once the rules exist.
    pub fn set_backfill(&self, backfill: Arc<dyn Backfill>) {
        let _ = self.backfill.set(backfill);
    }

    /// Whether a NATS server is connected now (for `/readyz`).
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Tells the other nodes this one is gone, and stops its tasks.
    pub async fn leave(&self) {
        self.stop.cancel();
        let gone = PresenceReport {
            node: self.node,
            users: Vec::new(),
        };
        self.send(PRESENCE, &gone).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.flush()).await;
    }

    /// Sends `payload` to the other nodes' `on_relay(channel, ...)`: for
    /// what crosses nodes beside events (ntfy messages).
    pub fn relay(&self, channel: &str, payload: Vec<u8>) {
        let message = Relayed {
            node: self.node,
            payload,
        };
        let Ok(bytes) = postcard::to_allocvec(&message) else {
            return;
        };
        let (client, subject) = (self.client.clone(), relay_subject(channel));
        tokio::spawn(async move {
            let _ = client.publish(subject, bytes.into()).await;
        });
    }

    /// Calls `hear` with each payload another node relays on `channel`.
    pub fn on_relay(
        self: &Arc<Self>,
        channel: &str,
        hear: impl Fn(Vec<u8>) + Send + Sync + 'static,
    ) {
        let (bus, subject) = (Arc::clone(self), relay_subject(channel));
        tokio::spawn(async move {
            let Ok(mut subscription) = bus.client.subscribe(subject.clone()).await else {
                tracing::error!(subject, "cannot subscribe on the bus");
                return;
            };
            while let Some(message) = subscription.next().await {
                if let Ok(relayed) = postcard::from_bytes::<Relayed>(&message.payload)
                    && relayed.node != bus.node
                {
                    hear(relayed.payload);
                }
            }
        });
    }

    async fn subscribe(&self, subject: &'static str) -> Result<async_nats::Subscriber, String> {
        self.client
            .subscribe(subject)
            .await
            .map_err(|error| format!("cannot subscribe to {subject}: {error}"))
    }

    async fn send(&self, subject: &'static str, message: &impl Serialize) {
        let Ok(bytes) = postcard::to_allocvec(message) else {
            return;
        };
        // Lost while disconnected: other nodes fill events in from the
        // store, and presence is repeated.
        if let Err(error) = self.client.publish(subject, bytes.into()).await {
            tracing::debug!(%error, subject, "not sent on the bus");
        }
    }

    /// Sends this node's events, in publish order.
    async fn send_events(self: Arc<Self>, mut outgoing: mpsc::Receiver<Envelope>) {
        while let Some(envelope) = outgoing.recv().await {
            self.send(EVENTS, &envelope).await;
        }
    }

    async fn hear_events(self: Arc<Self>, mut subscription: async_nats::Subscriber) {
        let mut names = EventNames::default();
        while let Some(message) = subscription.next().await {
            let Ok(envelope) = postcard::from_bytes::<Envelope>(&message.payload) else {
                tracing::warn!("an event on the bus that is not Clavox's; ignored");
                continue;
            };
            if envelope.node == self.node {
                continue;
            }
            let Some(name) = names.intern(&envelope.name) else {
                continue;
            };
            let event = Event {
                name,
                data: envelope.data.into(),
                order: envelope.order,
            };
            if event.order.is_some() {
                let _ = self.ordered.send(Input::Ordered(envelope.users, event));
            } else {
                self.hub.publish(&envelope.users, &event);
            }
        }
    }

    async fn hear_presence(self: Arc<Self>, mut subscription: async_nats::Subscriber) {
        while let Some(message) = subscription.next().await {
            let Ok(report) = postcard::from_bytes::<PresenceReport>(&message.payload) else {
                continue;
            };
            if report.node == self.node {
                continue;
            }
            let mut remote = self.remote.write().unwrap_or_else(PoisonError::into_inner);
            if report.users.is_empty() {
                remote.remove(&report.node);
            } else {
                remote.insert(
                    report.node,
                    RemoteNode {
                        users: report.users.into_iter().collect(),
                        heard: Instant::now(),
                    },
                );
            }
            remote.retain(|_, node| node.heard.elapsed() < NODE_GONE_AFTER);
        }
    }

    async fn hear_control(self: Arc<Self>, mut subscription: async_nats::Subscriber) {
        while let Some(message) = subscription.next().await {
            let Ok(message) = postcard::from_bytes::<ControlMessage>(&message.payload) else {
                continue;
            };
            if message.node == self.node {
                continue;
            }
            match message.control {
                Control::EndSession(session) => self.hub.end_session(session),
                Control::EndUser(user) => self.hub.end_user(user),
            }
        }
    }

    /// Tells the other nodes who is online here: soon after each change,
    /// and every `PRESENCE_EVERY` so that silence means gone.
    async fn tell_presence(self: Arc<Self>) {
        let mut known: HashSet<UserId> = HashSet::new();
        let mut reported = Timestamp::now();
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = self.hub.changed() => {
                    // Let a burst of connections settle into one report.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                () = tokio::time::sleep(PRESENCE_EVERY) => {}
            }
            // Whoever is new connected after the last look.
            let since = reported.max(Timestamp::now().minus(PRESENCE_EVERY));
            reported = Timestamp::now();
            let users = self.hub.online_users();
            let newly: Vec<UserId> = users
                .iter()
                .map(|(user, _)| *user)
                .filter(|user| !known.contains(user))
                .collect();
            if !newly.is_empty() {
                let _ = self.ordered.send(Input::Follow(newly, since));
            }
            known = users.iter().map(|(user, _)| *user).collect();
            let report = PresenceReport {
                node: self.node,
                users,
            };
            self.send(PRESENCE, &report).await;
        }
    }

    async fn watch_connection(
        self: Arc<Self>,
        mut events: mpsc::UnboundedReceiver<async_nats::Event>,
    ) {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        loop {
            let event = tokio::select! {
                () = self.stop.cancelled() => return,
                _ = sweep.tick() => {
                    let _ = self.ordered.send(Input::Sweep);
                    continue;
                }
                event = events.recv() => event,
            };
            let Some(event) = event else { return };
            match event {
                async_nats::Event::Connected => {
                    if !self.connected.swap(true, Ordering::AcqRel) {
                        tracing::info!("connected to NATS");
                    }
                    // Whatever was published while this node was away is
                    // in the store.
                    let _ = self.ordered.send(Input::Sweep);
                }
                async_nats::Event::Disconnected | async_nats::Event::Closed => {
                    if self.connected.swap(false, Ordering::AcqRel) {
                        tracing::warn!("lost NATS; trying again");
                    }
                }
                async_nats::Event::SlowConsumer(_) => {
                    tracing::warn!("this node fell behind the bus; catching up from the store");
                    let _ = self.ordered.send(Input::Sweep);
                }
                other => tracing::debug!(event = %other, "NATS"),
            }
        }
    }

    fn remote_has(&self, user: UserId, watching_only: bool) -> bool {
        self.remote
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|node| node.heard.elapsed() < NODE_GONE_AFTER)
            .any(|node| {
                node.users
                    .get(&user)
                    .is_some_and(|watching| *watching || !watching_only)
            })
    }

    fn control(&self, control: Control) {
        let bus = self.client.clone();
        let message = ControlMessage {
            node: self.node,
            control,
        };
        let Ok(bytes) = postcard::to_allocvec(&message) else {
            return;
        };
        tokio::spawn(async move {
            let _ = bus.publish(CONTROL, bytes.into()).await;
        });
    }
}

impl Bus for NatsBus {
    fn publish(&self, users: &[UserId], event: &Event) {
        if event.order.is_some() {
            let _ = self
                .ordered
                .send(Input::Ordered(users.to_vec(), event.clone()));
        } else {
            self.hub.publish(users, event);
        }
        // Full while NATS is away: the event is dropped rather than kept
        // without bound; other nodes read message events from the store.
        let _ = self.outbox.try_send(Envelope {
            node: self.node,
            users: users.to_vec(),
            name: event.name.to_owned(),
            data: event.data.to_string(),
            order: event.order,
        });
    }

    fn is_online(&self, user: UserId) -> bool {
        self.hub.is_user_online(user) || self.remote_has(user, false)
    }

    fn is_watching(&self, user: UserId) -> bool {
        self.hub.is_user_watching(user) || self.remote_has(user, true)
    }

    fn end_session(&self, session: SessionId) {
        self.hub.end_session(session);
        self.control(Control::EndSession(session));
    }

    fn end_user(&self, user: UserId) {
        self.hub.end_user(user);
        self.control(Control::EndUser(user));
    }
}

/// Event names heard from other nodes, kept as the `'static` names events
/// carry. Bounded, so a stranger on the bus cannot grow it without end.
#[derive(Default)]
struct EventNames(HashSet<&'static str>);

impl EventNames {
    fn intern(&mut self, name: &str) -> Option<&'static str> {
        if let Some(known) = self.0.get(name) {
            return Some(known);
        }
        if self.0.len() >= MOST_EVENT_NAMES {
            return None;
        }
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        self.0.insert(name);
        Some(name)
    }
}

/// One chat's place in its history, as this node's sockets were told it.
struct ChatOrder {
    /// The `rev` to deliver next.
    next: u64,
    /// The highest `seq` told.
    seen_seq: u64,
    /// Events that came ahead of a gap, by `rev`.
    held: BTreeMap<u64, (Vec<UserId>, Event)>,
    /// Whether a `Fill` is on its way.
    filling: bool,
}

impl ChatOrder {
    fn starting_at(next: u64) -> Self {
        Self {
            next,
            seen_seq: 0,
            held: BTreeMap::new(),
            filling: false,
        }
    }
}

/// Delivers each chat's message events to this node's sockets in `rev`
/// order, each once, filling gaps from the store. One task owns it all, so
/// it needs no locks.
struct Sequencer {
    hub: Hub,
    backfill: Arc<OnceLock<Arc<dyn Backfill>>>,
    /// Its own input, for the fills it arms.
    again: mpsc::UnboundedSender<Input>,
    chats: HashMap<ChatId, ChatOrder>,
}

impl Sequencer {
    fn new(
        hub: Hub,
        backfill: Arc<OnceLock<Arc<dyn Backfill>>>,
        again: mpsc::UnboundedSender<Input>,
    ) -> Self {
        Self {
            hub,
            backfill,
            again,
            chats: HashMap::new(),
        }
    }

    async fn run(mut self, mut inputs: mpsc::UnboundedReceiver<Input>, stop: CancellationToken) {
        loop {
            let input = tokio::select! {
                () = stop.cancelled() => return,
                input = inputs.recv() => input,
            };
            let Some(input) = input else { return };
            match input {
                Input::Ordered(users, event) => self.take(users, event),
                Input::Follow(users, since) => self.follow(&users, since),
                Input::Fill(chat) => self.fill(chat),
                Input::Sweep => self.sweep(),
            }
        }
    }

    fn backfill(&self) -> Option<Arc<dyn Backfill>> {
        self.backfill.get().cloned()
    }

    fn take(&mut self, users: Vec<UserId>, event: Event) {
        let Some(order) = event.order else {
            self.hub.publish(&users, &event);
            return;
        };
        // A chat first heard of now starts here: its earlier events were
        // before any socket here followed it.
        let chat = self.chats.entry(order.chat).or_insert_with(|| ChatOrder {
            seen_seq: order.seq.saturating_sub(1),
            ..ChatOrder::starting_at(order.rev)
        });
        if order.rev < chat.next {
            return;
        }
        chat.held.insert(order.rev, (users, event));
        self.drain(order.chat);
    }

    /// Delivers the held events that are next in line; arms a fill when a
    /// gap stays.
    fn drain(&mut self, id: ChatId) {
        let Some(chat) = self.chats.get_mut(&id) else {
            return;
        };
        while let Some(entry) = chat.held.first_entry() {
            let rev = *entry.key();
            if rev < chat.next {
                entry.remove();
                continue;
            }
            if rev > chat.next {
                break;
            }
            let (users, event) = entry.remove();
            chat.next = rev + 1;
            if let Some(order) = event.order {
                chat.seen_seq = chat.seen_seq.max(order.seq);
            }
            self.hub.publish(&users, &event);
        }
        if !chat.held.is_empty() && !chat.filling {
            chat.filling = true;
            let again = self.again.clone();
            tokio::spawn(async move {
                tokio::time::sleep(GAP_WAIT).await;
                let _ = again.send(Input::Fill(id));
            });
        }
    }

    /// The gap before the first held event, read from the store.
    fn fill(&mut self, id: ChatId) {
        let backfill = self.backfill();
        let Some(chat) = self.chats.get_mut(&id) else {
            return;
        };
        chat.filling = false;
        let Some(&first) = chat.held.keys().next() else {
            return;
        };
        if first > chat.next {
            let missed = backfill.and_then(|backfill| {
                backfill.missed(
                    id,
                    chat.next.saturating_sub(1),
                    first - 1,
                    Seen::UpToSeq(chat.seen_seq),
                )
            });
            // With the store away, the gap waits for the next try.
            if let Some(missed) = missed {
                for (users, event) in missed {
                    if let Some(order) = event.order {
                        chat.seen_seq = chat.seen_seq.max(order.seq);
                    }
                    self.hub.publish(&users, &event);
                }
                chat.next = first;
            }
        }
        self.drain(id);
    }

    /// Starts following the chats of users who came online here `since`.
    /// A chat no one here followed starts after the store's latest change,
    /// and what changed in it since they connected (its events may still
    /// be on their way, or lost) is told now: later copies are repeats.
    fn follow(&mut self, users: &[UserId], since: Timestamp) {
        let Some(backfill) = self.backfill() else {
            return;
        };
        for &user in users {
            for place in backfill.chats_of(user).unwrap_or_default() {
                if self.chats.contains_key(&place.chat) {
                    continue;
                }
                let after = place.rev.saturating_sub(REWIND);
                let recent = backfill
                    .missed(place.chat, after, place.rev, Seen::Since(since))
                    .unwrap_or_default();
                for (users, event) in recent {
                    self.hub.publish(&users, &event);
                }
                self.chats.insert(
                    place.chat,
                    ChatOrder {
                        seen_seq: place.seq,
                        ..ChatOrder::starting_at(place.rev + 1)
                    },
                );
            }
        }
    }

    /// Brings every followed chat up to the store's latest change.
    fn sweep(&mut self) {
        let Some(backfill) = self.backfill() else {
            return;
        };
        let ids: Vec<ChatId> = self.chats.keys().copied().collect();
        for id in ids {
            let Some(latest) = backfill.latest_rev(id) else {
                continue;
            };
            let Some(chat) = self.chats.get_mut(&id) else {
                continue;
            };
            if latest < chat.next {
                continue;
            }
            // Up to the first held event, or to the latest change.
            let upto = chat.held.keys().next().map_or(latest, |first| first - 1);
            if upto >= chat.next {
                let Some(missed) = backfill.missed(
                    id,
                    chat.next.saturating_sub(1),
                    upto,
                    Seen::UpToSeq(chat.seen_seq),
                ) else {
                    continue;
                };
                for (users, event) in missed {
                    if let Some(order) = event.order {
                        chat.seen_seq = chat.seen_seq.max(order.seq);
                    }
                    self.hub.publish(&users, &event);
                }
                chat.next = upto + 1;
            }
            self.drain(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::bus::{ChatPlace, Closer, Encodings, QueueFull, Sink};

    /// Records the `rev` and name of each event a socket is offered.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(u64, &'static str)>>);

    impl Sink for Recorder {
        fn offer(&self, event: &Event, _: &mut Encodings) -> Result<(), QueueFull> {
            let rev = event.order.map_or(0, |order| order.rev);
            self.0.lock().unwrap().push((rev, event.name));
            Ok(())
        }
    }

    /// A chat's history as the store has it: the message each `rev`
    /// changed, its latest change only.
    struct History {
        chat: ChatId,
        user: UserId,
        /// `(rev, seq)` in `rev` order.
        changes: Mutex<Vec<(u64, u64)>>,
    }

    impl History {
        fn changes(&self) -> Vec<(u64, u64)> {
            self.changes.lock().unwrap().clone()
        }
    }

    impl Backfill for History {
        fn chats_of(&self, _: UserId) -> Option<Vec<ChatPlace>> {
            let (rev, seq) = self.changes().last().copied().unwrap_or_default();
            Some(vec![ChatPlace {
                chat: self.chat,
                rev,
                seq,
            }])
        }

        fn latest_rev(&self, _: ChatId) -> Option<u64> {
            Some(self.changes().last().map_or(0, |(rev, _)| *rev))
        }

        fn missed(
            &self,
            chat: ChatId,
            after: u64,
            upto: u64,
            seen: Seen,
        ) -> Option<Vec<(Vec<UserId>, Event)>> {
            let Seen::UpToSeq(seen_seq) = seen else {
                return Some(Vec::new());
            };
            Some(
                self.changes()
                    .into_iter()
                    .filter(|(rev, _)| *rev > after && *rev <= upto)
                    .map(|(rev, seq)| {
                        let name = if seq > seen_seq {
                            "new_message"
                        } else {
                            "message_updated"
                        };
                        (vec![self.user], event(name, chat, rev, seq))
                    })
                    .collect(),
            )
        }
    }

    fn event(name: &'static str, chat: ChatId, rev: u64, seq: u64) -> Event {
        Event::new(name, &serde_json::json!({ "seq": seq })).ordered(chat, rev, seq)
    }

    struct Setup {
        inputs: mpsc::UnboundedSender<Input>,
        recorder: Arc<Recorder>,
        history: Arc<History>,
        chat: ChatId,
        user: UserId,
        _registration: crate::bus::Registration,
        stop: CancellationToken,
    }

    impl Setup {
        /// A sequencer over a hub with one socket of one user, whose chat
        /// the store says went through `changes` (`(rev, seq)`).
        fn new(changes: Vec<(u64, u64)>) -> Self {
            let hub = Hub::new();
            let (user, chat) = (UserId::generate(), ChatId::generate());
            let recorder = Arc::new(Recorder::default());
            let (registration, _) = hub.register(
                user,
                crate::id::SessionId::generate(),
                Arc::clone(&recorder) as Arc<dyn Sink>,
                Closer::default(),
            );
            let backfill = Arc::new(OnceLock::new());
            let history = Arc::new(History {
                chat,
                user,
                changes: Mutex::new(changes),
            });
            let _ = backfill.set(Arc::clone(&history) as Arc<dyn Backfill>);
            let (inputs, receiver) = mpsc::unbounded_channel();
            let stop = CancellationToken::new();
            let sequencer = Sequencer::new(hub, backfill, inputs.clone());
            tokio::spawn(sequencer.run(receiver, stop.clone()));
            Self {
                inputs,
                recorder,
                history,
                chat,
                user,
                _registration: registration,
                stop,
            }
        }

        fn hear(&self, name: &'static str, rev: u64, seq: u64) {
            let event = event(name, self.chat, rev, seq);
            self.inputs
                .send(Input::Ordered(vec![self.user], event))
                .unwrap();
        }

        /// What the socket was told once things settled.
        async fn told(&self, wait: Duration) -> Vec<(u64, &'static str)> {
            tokio::time::sleep(wait).await;
            self.stop.cancel();
            self.recorder.0.lock().unwrap().clone()
        }
    }

    const SETTLE: Duration = Duration::from_millis(100);

    #[tokio::test]
    async fn events_out_of_order_are_told_in_order_and_repeats_not_at_all() {
        let setup = Setup::new(Vec::new());
        setup.hear("new_message", 1, 1);
        setup.hear("new_message", 3, 3);
        setup.hear("new_message", 2, 2);
        setup.hear("new_message", 2, 2);
        setup.hear("new_message", 1, 1);
        setup.hear("message_updated", 4, 1);
        assert_eq!(
            setup.told(SETTLE).await,
            vec![
                (1, "new_message"),
                (2, "new_message"),
                (3, "new_message"),
                (4, "message_updated")
            ]
        );
    }

    #[tokio::test]
    async fn a_gap_the_bus_never_fills_is_read_from_the_store() {
        // Rev 3 edited message 1: the store keeps only that latest change.
        let setup = Setup::new(vec![(1, 1), (2, 2), (3, 1), (4, 3)]);
        setup.hear("new_message", 1, 1);
        setup.hear("new_message", 4, 3);
        let told = setup.told(GAP_WAIT + SETTLE * 3).await;
        assert_eq!(
            told,
            vec![
                (1, "new_message"),
                (2, "new_message"),
                (3, "message_updated"),
                (4, "new_message")
            ]
        );
    }

    #[tokio::test]
    async fn a_sweep_brings_a_followed_chat_up_to_the_store() {
        let setup = Setup::new(vec![(1, 1), (2, 2)]);
        setup
            .inputs
            .send(Input::Follow(vec![setup.user], Timestamp::now()))
            .unwrap();
        // Three changes the bus dropped, with nothing after them to show
        // the gap: two messages, and an edit of message 2.
        tokio::time::sleep(SETTLE).await;
        setup
            .history
            .changes
            .lock()
            .unwrap()
            .extend([(3, 3), (4, 4), (5, 2)]);
        setup.inputs.send(Input::Sweep).unwrap();
        // Late, from the bus: already told.
        setup.hear("new_message", 4, 4);
        assert_eq!(
            setup.told(SETTLE).await,
            vec![
                (3, "new_message"),
                (4, "new_message"),
                (5, "message_updated")
            ]
        );
    }
}
