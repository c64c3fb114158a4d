//! The floor every HTTP-facing module stands on: the shared state, the
//! extractors (JSON bodies, the caller, the client address), the rate
//! limiters and socket admission. `api`, `realtime` and `ops` build on it;
//! `app` only assembles them.

pub mod admission;
pub mod extract;
pub mod rate_limit;
mod state;
pub mod stream;

pub use state::AppState;
