//! `AppState`: the handles every handler and socket adapter may need,
//! built once at start-up.

use std::sync::Arc;

use tokio_util::task::TaskTracker;

use crate::auth::delivery::OtpSender;
use crate::auth::keys::Keys;
use crate::auth::{Auth, Policy};
use crate::bus::nats::NatsBus;
use crate::bus::{Bus, Hub};
use crate::chat::{self, ChatService};
use crate::config::Config;
use crate::listener::AddressCounts;
use crate::notify::ntfy::NtfyMessage;
use crate::notify::{self, ntfy::Topics, service::Notifications};
use crate::settings::LiveSettings;
use crate::store::Store;
use crate::uploads::{self, Uploads};

use super::rate_limit::Limits;

/// Everything a handler may need. One pointer: axum clones it for every
/// request and each socket keeps one for its whole life.
#[derive(Clone)]
pub struct AppState(Arc<Handles>);

impl std::ops::Deref for AppState {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0
    }
}

/// What `AppState` points to.
#[derive(Clone)]
pub struct Handles {
    pub config: Arc<Config>,
    pub store: Store,
    pub auth: Auth,
    pub chat: ChatService,
    pub hub: Hub,
    pub limits: Arc<Limits>,
    pub uploads: Uploads,
    /// Live WebSocket and Socket.IO connections, so shutdown can wait for them.
    pub sockets: TaskTracker,
    /// Realtime connections per client address (`MAX_SOCKETS_PER_IP`).
    pub sockets_per_ip: AddressCounts,
    /// The HTTPS port as clients see it; `None` without one (`TLS=off`).
    pub https: Option<Arc<crate::tls::Public>>,
    /// Push subscriptions, ntfy topics, the VAPID key.
    pub notifications: Notifications,
    /// Background work (the notifier, the push sender, nudges) that ends
    /// at shutdown, before the store closes.
    pub background: TaskTracker,
    /// What the admin may change at run time.
    pub settings: LiveSettings,
    /// When this server started (its uptime, for the admin).
    pub started: std::time::Instant,
    /// The bus to the other nodes, when there are (`BUS=nats`).
    pub cluster: Option<Arc<NatsBus>>,
}

impl axum::extract::FromRef<AppState> for Topics {
    fn from_ref(state: &AppState) -> Self {
        state.notifications.topics().clone()
    }
}

impl AppState {
    pub fn new(
        config: Config,
        store: Store,
        keys: &Keys,
        sender: Arc<dyn OtpSender>,
    ) -> Result<Self, String> {
        Self::on_bus(config, store, keys, sender, Hub::new(), None)
    }

    /// `new`, for a node whose events cross to other nodes through
    /// `cluster` (made over `hub`, this node's own sockets).
    pub fn on_bus(
        config: Config,
        store: Store,
        keys: &Keys,
        sender: Arc<dyn OtpSender>,
        hub: Hub,
        cluster: Option<Arc<NatsBus>>,
    ) -> Result<Self, String> {
        let background = TaskTracker::new();
        let local: Arc<dyn Bus> = match &cluster {
            Some(cluster) => Arc::clone(cluster) as Arc<dyn Bus>,
            None => Arc::new(hub.clone()),
        };
        let (bus, notifications) =
            notify::setup::start(&config, &store, local, &background, &hub.shutdown_signal())
                .map_err(|problem| format!("cannot set up notifications: {problem}"))?;
        let uploads = Uploads::open_in(
            &config.uploads_dir(),
            !store.is_embedded(),
            store.clone(),
            uploads::Settings::from_config(&config),
        )
        .map_err(|error| format!("cannot prepare the uploads directory: {error}"))?;
        let settings = LiveSettings::load(&config, &store)
            .map_err(|error| format!("cannot read the settings: {error}"))?;
        let auth = Auth::new(
            store.clone(),
            keys,
            sender,
            bus.clone(),
            Policy::new(&config, settings.clone()),
        );
        let chat = ChatService::new(
            store.clone(),
            bus,
            uploads.blobs().clone(),
            chat::Settings::new(&config, settings.clone()),
        );
        if let Some(cluster) = &cluster {
            cluster.set_backfill(Arc::new(chat.clone()));
            relay_ntfy(cluster, notifications.topics());
        }
        if !store.is_embedded() {
            background.spawn(follow_settings(
                settings.clone(),
                store.clone(),
                hub.shutdown_signal(),
            ));
        }
        let indexer = chat.clone();
        let stop = hub.shutdown_signal();
        background.spawn(async move { indexer.index_for_search(stop).await });
        Ok(Self(Arc::new(Handles {
            sockets_per_ip: AddressCounts::new(config.max_sockets_per_ip),
            limits: Arc::new(Limits::new(&config)),
            config: Arc::new(config),
            store,
            auth,
            chat,
            hub,
            uploads,
            sockets: TaskTracker::new(),
            https: None,
            notifications,
            background,
            settings,
            started: std::time::Instant::now(),
            cluster,
        })))
    }

    /// The same state, with HTTPS served as `https` says.
    #[must_use]
    pub fn with_https(self, https: crate::tls::Public) -> Self {
        let mut handles = Arc::unwrap_or_clone(self.0);
        handles.https = Some(Arc::new(https));
        Self(Arc::new(handles))
    }
}

/// How often a node sharing its store reads the admin's settings again.
const SETTINGS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Keeps `settings` as the store has them, for a node sharing its store
/// with others where the admin may change them.
async fn follow_settings(
    settings: LiveSettings,
    store: Store,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(SETTINGS_EVERY) => {}
        }
        if let Err(error) = settings.reload(&store).await {
            tracing::debug!(%error, "cannot read the settings again");
        }
    }
}

/// ntfy messages published on one node reach subscribers on every node.
fn relay_ntfy(cluster: &Arc<NatsBus>, topics: &crate::notify::ntfy::Topics) {
    const CHANNEL: &str = "ntfy";
    let relay = Arc::clone(cluster);
    topics.relay_to(move |topic, message| {
        if let Ok(payload) = postcard::to_allocvec(&(topic, message)) {
            relay.relay(CHANNEL, payload);
        }
    });
    let here = topics.clone();
    cluster.on_relay(CHANNEL, move |payload| {
        if let Ok((topic, message)) = postcard::from_bytes::<(String, NtfyMessage)>(&payload) {
            here.publish_here(&topic, message);
        }
    });
}
