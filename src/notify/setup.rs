//! Putting notifications together at start-up from the settings: the
//! VAPID key, the push sender, the ntfy topics, the unread nudges, and the
//! bus that hands new messages to the notifier. Their tasks run on
//! `tasks` until `stop`.

use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::notifier::{self, NotifyingBus};
use super::ntfy::{self, Topics};
use super::nudge::{NudgeSettings, Nudges};
use super::service::Notifications;
use super::webpush::{AllowedHosts, VapidKey, WebPush};
use crate::bus::Bus;
use crate::config::{Config, TlsMode};
use crate::store::Store;

/// Starts notifications; returns the bus the rules should publish to and
/// the API's side.
pub fn start(
    config: &Config,
    store: &Store,
    bus: Arc<dyn Bus>,
    tasks: &TaskTracker,
    stop: &CancellationToken,
) -> Result<(Arc<dyn Bus>, Notifications), String> {
    let allowed: AllowedHosts = match &config.push_allowed_hosts {
        Some(hosts) => hosts.parse()?,
        None => AllowedHosts::default(),
    };
    let app_url = app_url(config);
    let key = VapidKey::load_or_create(&config.data_dir)?;
    let public_key = key.public_key_base64url();
    let subject = if app_url.starts_with("https://") {
        app_url.clone()
    } else {
        "mailto:admin@clavox.local".to_owned()
    };
    let push = Arc::new(WebPush::new(key, allowed.clone(), subject)?);
    let topic_store = store.clone();
    let topics = Topics::new(ntfy::Settings::new(stop.clone()), move |topic| {
        Notifications::is_known_topic(&topic_store, topic)
    });
    let nudges = config.notify_webhook_url.as_ref().map(|url| {
        Nudges::new(NudgeSettings {
            url: url.clone(),
            secret: config.notify_webhook_secret.clone(),
            delay: config.notify_webhook_delay,
        })
    });
    let queued = Arc::new(Notify::new());
    let (notifier, worker) = notifier::Worker {
        store: store.clone(),
        bus: Arc::clone(&bus),
        topics: topics.clone(),
        nudges: nudges.clone(),
        queued: Arc::clone(&queued),
        settings: notifier::Settings {
            preview: config.push_preview,
            app_url: app_url.clone(),
        },
    }
    .start(stop.clone());
    tasks.spawn(async move {
        let _ = worker.await;
    });
    tasks.spawn(super::sender::run(
        store.clone(),
        push,
        queued,
        stop.clone(),
    ));
    if let Some(nudges) = nudges {
        tasks.spawn(nudges.run(store.clone(), stop.clone()));
    }
    let notifications = Notifications::new(store.clone(), topics, allowed, public_key, app_url);
    Ok((Arc::new(NotifyingBus::new(bus, notifier)), notifications))
}

/// Where people open the app, for links in notifications: `PUBLIC_URL`,
/// else the HTTPS address (the ACME name, or this machine's first LAN
/// address), else the plain one.
fn app_url(config: &Config) -> String {
    if let Some(url) = &config.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let lan = crate::lan::machine_addresses()
        .into_iter()
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        .map_or_else(|| crate::lan::MDNS_HOST.to_owned(), |ip| ip.to_string());
    let with_port = |scheme: &str, host: &str, port: u16| {
        let default = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
        if default {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}:{port}")
        }
    };
    match (config.tls, &config.tls_domain) {
        (TlsMode::Acme, Some(domain)) => with_port("https", domain, config.tls_port),
        (TlsMode::Off, _) => with_port("http", &lan, config.port),
        _ => with_port("https", &lan, config.tls_port),
    }
}
