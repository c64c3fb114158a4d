//! Why a socket is closed, as WebSocket close codes. The hub picks some of
//! them (too slow, session ended, shutting down); the `/ws` adapter sends them
//! as they are and the Socket.IO adapter maps them onto its own disconnects.

pub const NORMAL: u16 = 1000;
pub const GOING_AWAY: u16 = 1001;
pub const UNSUPPORTED_DATA: u16 = 1003;
pub const TOO_BIG: u16 = 1009;
/// Kept sending over its event budget.
pub const POLICY: u16 = 1008;
/// "Try again later": the client did not read fast enough.
pub const TOO_SLOW: u16 = 1013;
/// Not authenticated in time, token expired, or session ended.
pub const UNAUTHORIZED: u16 = 4001;
