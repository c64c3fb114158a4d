//! Process-level tests, slower: the real `clavox` binary killed and
//! restarted, a minute-long soak, the web app in headless Chromium, the
//! official Socket.IO client under Node.js, packaging, the static binary in
//! an empty root, a full disk, the bench. `cargo test --test system`.

#[path = "../support/mod.rs"]
mod support;

mod bench;
mod binary;
mod browser;
mod cluster;
mod crash;
mod full_disk;
mod https;
mod isolation;
mod mdns;
mod packaging;
mod push;
mod security;
mod soak;
mod socketio;
