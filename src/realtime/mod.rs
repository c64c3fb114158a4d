//! Realtime delivery: `hub` knows who is connected and fans events out;
//! `connection` holds the rules of one connection (authentication, the
//! client events, typing) whatever its wire format; `socket` runs a `/ws`
//! connection and `events` is its wire format; `socketio` is the Socket.IO
//! endpoint (`/socket.io/`) onto the same rules and hub.

pub mod connection;
pub mod events;
pub mod hub;
pub mod socket;
pub mod socketio;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;

pub use hub::Hub;

/// `/ws` and `/socket.io/`. Must be called inside the runtime.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/ws", get(socket::upgrade))
        .merge(socketio::router(state))
}
