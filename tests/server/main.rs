//! In-process tests, fast: each starts the real router on a real listener
//! of 127.0.0.1 with the real store in a temporary directory, and talks to
//! it over HTTP, `/ws` and Socket.IO frames as clients do. `cargo test
//! --test server` runs them in seconds.

#[path = "../support/mod.rs"]
mod support;

mod addresses;
mod admin;
mod auth;
mod authz;
mod changes;
mod chats;
mod delivery;
mod hostile;
mod http;
mod i18n;
mod invites;
mod messages;
mod moderation;
mod notify;
mod ntfy;
mod realtime;
mod search;
mod socketio;
mod uploads;
mod users;
mod webpush;
