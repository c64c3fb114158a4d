//! `AppState`: the handles every handler and socket adapter may need,
//! built once at start-up.

use std::sync::Arc;

use tokio_util::task::TaskTracker;

use crate::auth::delivery::OtpSender;
use crate::auth::keys::Keys;
use crate::auth::{Auth, Policy};
use crate::bus::Hub;
use crate::chat::{self, ChatService};
use crate::config::Config;
use crate::listener::AddressCounts;
use crate::notify::{self, ntfy::Topics, service::Notifications};
use crate::settings::LiveSettings;
use crate::store::Store;
use crate::uploads::{self, Uploads};

use super::rate_limit::Limits;

/// Everything a handler may need; cheap to clone (handles only).
#[derive(Clone)]
pub struct AppState {
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
        let hub = Hub::new();
        let background = TaskTracker::new();
        let (bus, notifications) = notify::setup::start(
            &config,
            &store,
            Arc::new(hub.clone()),
            &background,
            &hub.shutdown_signal(),
        )
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
        let indexer = chat.clone();
        let stop = hub.shutdown_signal();
        background.spawn(async move { indexer.index_for_search(stop).await });
        Ok(Self {
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
        })
    }

    /// The same state, with HTTPS served as `https` says.
    #[must_use]
    pub fn with_https(mut self, https: crate::tls::Public) -> Self {
        self.https = Some(Arc::new(https));
        self
    }
}
