//! Who may open a realtime socket, for `/ws` and Socket.IO alike: a browser
//! origin this server serves, and room under the address's socket cap.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};

use crate::auth::Principal;
use crate::config::Config;
use crate::error::Error;
use crate::listener::Claim;

use super::AppState;

/// `Retry-After` for a client at its socket cap: a place frees only when one
/// of its sockets closes, which no one can predict.
pub const CAP_RETRY_AFTER: u64 = 10;

/// A place for one more realtime socket of `ip`, or `rate_limited` when it
/// holds `MAX_SOCKETS_PER_IP` already. The claim lives as long as the socket.
pub fn claim_socket(state: &AppState, ip: Option<IpAddr>) -> Result<Option<Claim>, Error> {
    match ip {
        Some(ip) => state
            .sockets_per_ip
            .claim(ip)
            .map(Some)
            .ok_or(Error::RateLimited {
                retry_after: CAP_RETRY_AFTER,
            }),
        None => Ok(None),
    }
}

/// Whether `ip` may open no more realtime sockets.
pub fn at_socket_cap(state: &AppState, ip: Option<IpAddr>) -> bool {
    ip.is_some_and(|ip| state.sockets_per_ip.is_full(ip))
}

/// Checks a socket's token as REST checks a bearer token. To a socket every
/// failure is `unauthorized`, an expired token included: sockets have no
/// `token_expired`, they close with 4001 and the client refreshes.
pub fn authenticate_socket(state: &AppState, token: &str) -> Result<Principal, Error> {
    state
        .auth
        .authenticate(token)
        .map_err(|_| Error::Unauthorized)
}

/// Browsers always send `Origin`; it must be this server or one of
/// `FRONTEND_URL`. Clients that are not browsers send none and pass.
pub fn origin_allowed(headers: &HeaderMap, config: &Config) -> bool {
    let header = |name| {
        headers
            .get(name)
            .and_then(|value: &axum::http::HeaderValue| value.to_str().ok())
    };
    header(ORIGIN).is_none_or(|origin| config.allows_origin(origin, header(HOST)))
}
