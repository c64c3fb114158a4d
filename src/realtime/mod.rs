//! Realtime delivery over WebSocket (`/ws`): `hub` knows who is connected and
//! fans events out, `socket` runs one connection, `events` is the wire format.

pub mod events;
pub mod hub;
pub mod socket;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;

pub use hub::Hub;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(socket::upgrade))
}
