//! Notifications for people who are not connected: the pieces that reach a
//! phone or browser from outside the app. Each submodule owns one way out
//! (Web Push so far) as pure building blocks: it knows its protocol and its
//! safety checks, and never reads the store, the configuration or the chat
//! rules, which decide who is notified and when.

pub mod notifier;
pub mod ntfy;
pub mod nudge;
pub mod sender;
pub mod service;
pub mod setup;
pub mod webpush;
