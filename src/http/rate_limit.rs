//! Fixed-window request limits, as the original design's express-rate-limit
//! counted them: at most `max` requests per key per window, the window
//! starting at a key's first request. REST only: socket events never count.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use crate::address::AddressKey;
use crate::config::Config;
use crate::error::Error;
use crate::http::AppState;
use crate::store::{Store, ops};
use crate::timestamp::Timestamp;

use super::extract::{bearer_token, client_ip};

pub struct RateLimiter {
    window: Duration,
    max: u32,
    // A std mutex: the critical section is a hash lookup, never held across
    // an await.
    windows: Mutex<Windows>,
}

struct Windows {
    by_key: HashMap<String, (Instant, u32)>,
    last_sweep: Instant,
}

impl RateLimiter {
    pub fn new(window: Duration, max: u32) -> Self {
        Self {
            window,
            max,
            windows: Mutex::new(Windows {
                by_key: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// Counts one request for `key`; `Err(seconds)` when over the limit.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), u64> {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.duration_since(windows.last_sweep) >= self.window {
            // Forget finished windows once per window, so memory follows the
            // number of recent clients, not of all clients ever seen.
            let window = self.window;
            windows
                .by_key
                .retain(|_, (started, _)| now.duration_since(*started) < window);
            windows.last_sweep = now;
        }
        let entry = windows.by_key.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.max {
            let reset = entry.0 + self.window;
            let wait = reset.saturating_duration_since(now);
            return Err(wait.as_millis().div_ceil(1000).max(1) as u64);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Gives back one request counted for `key` in its current window: one
    /// that turned out to be refused input, which must not use up the limit
    /// of everyone behind the same address.
    pub fn refund(&self, key: &str, now: Instant) {
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = windows.by_key.get_mut(key)
            && now.duration_since(entry.0) < self.window
        {
            entry.1 = entry.1.saturating_sub(1);
        }
    }
}

/// A limit whose windows must hold across nodes sharing a store (the
/// login limits): counted in the store then, in memory on a node alone.
pub struct SharedLimit {
    name: &'static str,
    window: Duration,
    max: u32,
    local: RateLimiter,
    /// When ended windows were last cleared from the store.
    swept: Mutex<Instant>,
}

impl SharedLimit {
    pub fn new(name: &'static str, window: Duration, max: u32) -> Self {
        Self {
            name,
            window,
            max,
            local: RateLimiter::new(window, max),
            swept: Mutex::new(Instant::now()),
        }
    }

    /// Counts one request for `key`; `RateLimited` when over the limit.
    pub async fn check(&self, store: &Store, key: &str) -> Result<(), Error> {
        let over = |retry_after| Error::RateLimited { retry_after };
        if store.is_embedded() {
            return self.local.check(key, Instant::now()).map_err(over);
        }
        self.sweep(store);
        let count = ops::CountRequest {
            limit: self.name,
            key: key.to_owned(),
            window: self.window,
            max: self.max,
            now: Timestamp::now(),
        };
        store.apply(count).await?.map_err(over)
    }

    /// Takes back one request of `key` that turned out not to count.
    pub async fn refund(&self, store: &Store, key: &str) {
        if store.is_embedded() {
            self.local.refund(key, Instant::now());
            return;
        }
        let refund = ops::RefundRequest {
            limit: self.name,
            key: key.to_owned(),
        };
        if let Err(error) = store.apply(refund).await {
            tracing::debug!(%error, "a request was not taken back");
        }
    }

    /// Clears the store of windows that ended, once per window length.
    fn sweep(&self, store: &Store) {
        let mut swept = self
            .swept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if swept.elapsed() < self.window {
            return;
        }
        *swept = Instant::now();
        let forget = ops::ForgetRateWindows {
            limit: self.name,
            before: Timestamp::now().minus(self.window),
        };
        let store = store.clone();
        tokio::spawn(async move {
            let _ = store.apply(forget).await;
        });
    }
}

/// The general REST limit: per user when the request carries a valid token,
/// per address before login.
pub async fn general(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, Error> {
    let (parts, body) = request.into_parts();
    let key = match bearer_token(&parts).and_then(|token| state.auth.token_user(token)) {
        Some(user) => format!("user:{user}"),
        None => format!("ip:{}", address_key(&parts, &state.config)),
    };
    state
        .limits
        .general
        .check(&key, Instant::now())
        .map_err(|retry_after| Error::RateLimited { retry_after })?;
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// The `send-otp` limit, per address.
pub async fn otp_sends(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, Error> {
    let (parts, body) = request.into_parts();
    let key = address_key(&parts, &state.config);
    let limit = &state.limits.otp_sends;
    limit.check(&state.store, &key).await?;
    let response = next.run(Request::from_parts(parts, body)).await;
    // A number that is not a phone number, or a body that is not JSON,
    // sent nothing: it does not count against the address.
    if response.status().is_client_error() && response.status() != StatusCode::TOO_MANY_REQUESTS {
        limit.refund(&state.store, &key).await;
    }
    Ok(response)
}

/// The `verify-otp` limit, per address, so that one address cannot guess
/// codes across many numbers faster than their own attempt limits allow.
pub async fn otp_verifies(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, Error> {
    let (parts, body) = request.into_parts();
    let key = address_key(&parts, &state.config);
    state.limits.otp_verifies.check(&state.store, &key).await?;
    Ok(next.run(Request::from_parts(parts, body)).await)
}

/// The key a request's address counts under (`AddressKey`); empty for a
/// request that did not come through the listener.
fn address_key(parts: &Parts, config: &Config) -> String {
    client_ip(parts, config).map_or_else(String::new, |ip| AddressKey::of(ip).to_string())
}

/// Verifies an address may make per send it may make: a code mistyped once
/// or twice, and a household signing in together, stay well inside.
const VERIFIES_PER_SEND: u32 = 5;

/// The limiters of one server.
pub struct Limits {
    pub general: RateLimiter,
    pub otp_sends: SharedLimit,
    pub otp_verifies: SharedLimit,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        let auth_window = config.auth_rate_limit_window_ms;
        Self {
            general: RateLimiter::new(config.rate_limit_window_ms, config.rate_limit_max_requests),
            otp_sends: SharedLimit::new("otp_sends", auth_window, config.auth_rate_limit_max),
            otp_verifies: SharedLimit::new(
                "otp_verifies",
                auth_window,
                config.auth_rate_limit_max.saturating_mul(VERIFIES_PER_SEND),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_over_the_limit_wait_for_the_window_to_end() {
        let limiter = RateLimiter::new(Duration::from_secs(60), 2);
        let start = Instant::now();
        assert_eq!(limiter.check("a", start), Ok(()));
        assert_eq!(limiter.check("a", start), Ok(()));
        assert_eq!(limiter.check("a", start + Duration::from_secs(15)), Err(45));
        assert_eq!(limiter.check("b", start), Ok(()), "keys are counted apart");
        assert_eq!(limiter.check("a", start + Duration::from_secs(60)), Ok(()));
    }

    #[test]
    fn finished_windows_are_forgotten() {
        let limiter = RateLimiter::new(Duration::from_secs(1), 5);
        let start = Instant::now();
        for key in 0..100 {
            limiter.check(&key.to_string(), start).unwrap();
        }
        limiter
            .check("late", start + Duration::from_secs(2))
            .unwrap();
        assert_eq!(limiter.windows.lock().unwrap().by_key.len(), 1);
    }
}
