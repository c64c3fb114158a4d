//! ntfy's subscribe protocol (<https://docs.ntfy.sh/subscribe/api/>), so the
//! ntfy app on a phone shows notifications from a server with no internet:
//! `GET <topic>/json` (one JSON event per line), `/sse` (Server-Sent
//! Events), `/raw` (message text, one per line), `/ws` (one JSON event per
//! WebSocket text frame), with `since=` and `poll=1`, plus `/auth`, the
//! access check the app makes before subscribing. It keeps each topic's
//! recent messages in memory for subscribers that were away, and never
//! decides which topics exist or what is published to them: the caller
//! passes that in. Publishing by HTTP, message filters, several topics in
//! one subscription, attachments and actions are not offered.
//!
//! Wiring: make one [`Topics`] with [`Settings::new`] (the shutdown token)
//! and the caller's test of which topics exist; nest [`router`] under
//! `/notify` in a router whose state yields `Topics` through `FromRef`;
//! call [`Topics::publish`] for each notification and [`Topics::forget`]
//! when a topic is replaced.

mod event;
mod live;
mod since;
mod subscribe;
mod topics;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;

pub use event::NtfyMessage;
pub use topics::{Settings, Topics};

/// The subscribe endpoints, to be nested where topic URLs point (`/notify`).
/// GET only. Live responses end when the topic is forgotten, when the
/// subscriber falls too far behind, or when `Settings::shutdown` is
/// cancelled.
pub fn router<S>() -> Router<S>
where
    Topics: FromRef<S>,
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/{topic}/json", get(subscribe::json))
        .route("/{topic}/sse", get(subscribe::sse))
        .route("/{topic}/raw", get(subscribe::raw))
        .route("/{topic}/ws", get(subscribe::ws))
        .route("/{topic}/auth", get(subscribe::auth))
}
