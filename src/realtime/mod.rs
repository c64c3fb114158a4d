//! The realtime adapters. `connection` holds the rules of one connection (authentication, the
//! client events, typing) whatever its wire format; `socket` runs a `/ws`
//! connection and `events` is its wire format; `socketio` is the Socket.IO
//! endpoint (`/socket.io/`) onto the same rules. Each adapter gives the bus
//! (`crate::bus`) a `Sink` for its sockets.

pub mod connection;
pub mod events;
mod queue;
pub mod socket;
pub mod socketio;

use std::pin::Pin;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::time::{Instant, Sleep};

use crate::http::AppState;

/// Frames a socket may have waiting before it counts as too slow.
pub const OUTBOX_CAPACITY: usize = 1024;

/// A socket's read buffer, allocated up front for every socket (128 KiB
/// in tungstenite by default, 4 KiB in Engine.IO) while client frames are a
/// few hundred bytes; bigger ones still fit, read in more steps.
pub const READ_BUFFER_BYTES: usize = 1024;

/// How much earlier a socket's deadline must come for its timer to be set
/// again: the timer's resolution.
const TIMER_SLACK: Duration = Duration::from_millis(1);

/// Events whose answers may wait for the disk at once, per socket; past that
/// the socket is not read until the oldest is answered (memory per client
/// stays bounded while its sends share fsyncs).
pub const ANSWERS_WAITING: usize = 64;

/// Sets a socket's one timer to `deadline` when that comes sooner (a typing
/// state began). Only ever earlier: a later deadline waits for the timer,
/// which fires early and is set again.
fn bring_forward(timer: Pin<&mut Sleep>, deadline: Instant) {
    if deadline + TIMER_SLACK < timer.deadline() {
        timer.reset(deadline);
    }
}

/// `/ws` and `/socket.io/`. Must be called inside the runtime.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/ws", get(socket::upgrade))
        .merge(socketio::router(state))
}
