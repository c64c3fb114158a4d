//! Clavox: a self-hosted chat server in one binary.
//!
//! Layout (calls only go down the list):
//! - `cli`, `config`, `env_file`, `telemetry`: the command line, settings, `./.env`, logging
//! - `app`: shared state, the router and its layers, `serve`; `listener`: the
//!   accept loop (header timeout, per-address connection cap)
//! - `bench`: `clavox bench`, a load generator that drives a server as clients do
//! - `api`: REST handlers, one file per resource; `realtime`: the WebSocket gateway;
//!   `web`: the bundled web app; `ops`: health routes
//! - `chat`: the product's rules (users, chats, messages, presence); `auth`: login and sessions
//! - `events`: what the rules tell the realtime layer
//! - `store`: the database (redb), its single writer and its records
//! - `uploads`: attachment files; `lan`: the URLs this machine is reachable at
//! - `error`, `id`, `timestamp`: shared vocabulary

pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod bench;
pub mod chat;
pub mod cli;
pub mod config;
pub mod env_file;
pub mod error;
pub mod events;
pub mod id;
pub mod lan;
pub mod listener;
pub mod ops;
pub mod realtime;
pub mod seed;
pub mod store;
pub mod telemetry;
pub mod timestamp;
pub mod uploads;
pub mod web;
