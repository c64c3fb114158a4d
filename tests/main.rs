//! Black-box tests: each starts the real server (router on a real listener,
//! real store in a temporary directory) or the real binary.

mod auth;
mod authz;
mod bench;
mod binary;
mod browser;
mod chats;
mod crash;
mod delivery;
mod full_disk;
mod helpers;
mod hostile;
mod http;
mod isolation;
mod messages;
mod packaging;
mod process;
mod realtime;
mod security;
mod soak;
mod socketio;
mod uploads;
mod users;
