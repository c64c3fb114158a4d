//! Clavox: a self-hosted chat server in one binary.
//!
//! Layout (calls only go down the list):
//! - `cli`, `config`, `env_file`, `telemetry`: the command line, settings, `./.env`, logging
//! - `app`: assembles the router and its layers, `serve`
//! - `bench`: `clavox bench`, a load generator that drives a server as clients do
//! - `api`: REST handlers, one file per resource; `realtime`: the socket adapters
//!   (`/ws`, Socket.IO); `web`: the bundled web app; `ops`: health and metrics;
//!   `join`: the `/join` page and the plain port's redirect of browsers to it
//! - `http`: the floor under those: state, extractors, rate limits, socket admission;
//!   `listener`: the accept loop (header timeout, per-address connection cap, TLS);
//!   `tls`: where the HTTPS certificate comes from (local authority, ACME, files)
//! - `chat`: the product's rules (users, chats, messages, presence); `auth`: login and sessions
//! - `notify`: telling people who are not looking (Web Push, ntfy topics, unread nudges)
//! - `bus`: what the rules publish to after commit; the hub is its in-process form
//! - `store`: the database (redb), its single writer and its records; `blobs`: attachment bytes
//! - `uploads`: attachment files; `lan`: the URLs this machine is reachable at
//! - `domain`: chat and message kinds, the read-mark rule
//! - `search`: message text as search terms (normalised words, word prefixes, CJK bigrams)
//!   and whether a message matches a query; the index itself is the store's
//! - `error`, `id`, `timestamp`, `token_bucket`, `qr`: shared vocabulary; `data_dir`: the data directory's file names;
//!   `address`: trusted proxies, the client a request comes from, per-address keys

pub mod address;
pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod bench;
pub mod blobs;
pub mod bus;
pub mod chat;
pub mod cli;
pub mod config;
pub mod data_dir;
pub mod domain;
pub mod env_file;
pub mod error;
pub mod http;
pub mod id;
pub mod join;
pub mod lan;
pub mod listener;
pub mod notify;
pub mod ops;
pub mod qr;
pub mod realtime;
pub mod search;
pub mod seed;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod timestamp;
pub mod tls;
pub mod token_bucket;
pub mod uploads;
pub mod web;
