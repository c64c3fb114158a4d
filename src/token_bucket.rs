//! Budgets for what clients send: a bucket of `burst` tokens refilled at
//! `rate` per second (or `count` tokens refilled over a `period`, for budgets
//! slower than one a second). Events spend a token each; an empty bucket
//! refuses. Used per socket (events) and per user (messages, over every
//! socket and REST together; uploads).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket. A `rate` of 0 means no budget at all: every take passes.
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self::full(f64::from(rate), f64::from(burst), now)
    }

    /// A full bucket of `count` tokens that refills `count` over each
    /// `period`, a fraction of a token per second. A `count` or `period` of
    /// 0 means no budget at all: every take passes.
    pub fn per_period(count: u32, period: Duration, now: Instant) -> Self {
        Self::full(rate_over(count, period), f64::from(count), now)
    }

    fn full(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            refilled_at: now,
        }
    }

    /// Spends a token; `Err` with how long until one is there again.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.take_many(1, now)
    }

    /// Spends `count` tokens at once, or none; `Err` with how long until
    /// they are there (never, for more than the bucket holds: a full period).
    pub fn take_many(&mut self, count: u32, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let count = f64::from(count);
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled_at = now;
        if self.tokens >= count {
            self.tokens -= count;
            return Ok(());
        }
        let missing = count.min(self.burst) - self.tokens;
        Err(Duration::from_secs_f64(missing.max(0.0) / self.rate))
    }

    /// Whether the bucket is full again, so forgetting it changes nothing.
    fn is_full(&self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }
}

/// Tokens per second that refill `count` over `period`; 0 for no budget.
fn rate_over(count: u32, period: Duration) -> f64 {
    if period.is_zero() {
        return 0.0;
    }
    f64::from(count) / period.as_secs_f64()
}

/// One bucket per key (a user), created full on first use and forgotten
/// once full again, so the map holds only keys that spent recently.
pub struct Buckets<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, TokenBucket>>,
}

/// How many keys the map may hold before full buckets are swept out.
const SWEEP_AT: usize = 4096;

impl<K: Eq + Hash + Copy> Buckets<K> {
    /// Buckets of `burst` tokens refilled at `rate` per second (0: no budget).
    pub fn new(rate: u32, burst: u32) -> Self {
        Self::with(f64::from(rate), f64::from(burst))
    }

    /// Buckets of `count` tokens refilled over each `period`, as
    /// `TokenBucket::per_period`.
    pub fn per_period(count: u32, period: Duration) -> Self {
        Self::with(rate_over(count, period), f64::from(count))
    }

    fn with(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            buckets: Mutex::default(),
        }
    }

    /// Spends one of `key`'s tokens; `Err` with how long until one is there.
    pub fn take(&self, key: K, now: Instant) -> Result<(), Duration> {
        self.take_many(key, 1, now)
    }

    /// Spends `count` of `key`'s tokens at once, or none.
    pub fn take_many(&self, key: K, count: u32, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, bucket| !bucket.is_full(now));
        }
        buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::full(self.rate, self.burst, now))
            .take_many(count, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_at_once_fit_whole_or_not_at_all() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(1, 5, now);
        assert_eq!(bucket.take_many(3, now), Ok(()));
        assert!(bucket.take_many(3, now).is_err(), "only two are left");
        assert_eq!(bucket.take_many(2, now), Ok(()));
        assert!(bucket.take(now).is_err());
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(20, 40, start);
        for _ in 0..40 {
            bucket.take(start).unwrap();
        }
        let wait = bucket.take(start).unwrap_err();
        assert!(wait <= Duration::from_millis(50), "{wait:?}");
        let later = start + Duration::from_millis(500);
        let passed = (0..100).filter(|_| bucket.take(later).is_ok()).count();
        assert_eq!(passed, 10, "half a second at 20/s");
    }

    #[test]
    fn a_zero_rate_is_no_budget() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(0, 0, now);
        assert!((0..1000).all(|_| bucket.take(now).is_ok()));
    }

    #[test]
    fn a_count_per_period_refills_a_fraction_of_a_token_each_second() {
        let start = Instant::now();
        let hour = Duration::from_secs(3600);
        let mut bucket = TokenBucket::per_period(100, hour, start);
        for _ in 0..100 {
            bucket.take(start).unwrap();
        }
        let wait = bucket.take(start).unwrap_err();
        assert_eq!(wait.as_millis(), 36_000, "an hour over 100 tokens");
        assert!(bucket.take(start + Duration::from_secs(35)).is_err());
        bucket.take(start + Duration::from_secs(37)).unwrap();

        let buckets = Buckets::per_period(2, Duration::from_secs(60));
        buckets.take(1, start).unwrap();
        buckets.take(1, start).unwrap();
        let wait = buckets.take(1, start).unwrap_err();
        assert_eq!(wait.as_secs(), 30);
        buckets.take(2, start).unwrap();
        assert!(TokenBucket::per_period(0, hour, start).take(start).is_ok());
        assert!(
            Buckets::per_period(5, Duration::ZERO)
                .take(1, start)
                .is_ok()
        );
    }

    #[test]
    fn keys_have_their_own_buckets_and_full_ones_are_forgotten() {
        let start = Instant::now();
        let buckets = Buckets::new(1, 1);
        buckets.take(1, start).unwrap();
        assert!(buckets.take(1, start).is_err());
        buckets.take(2, start).unwrap();
        for key in 3..=SWEEP_AT as u32 {
            buckets.take(key, start).unwrap();
        }
        // Once they are full again, the next new key sweeps them out.
        buckets.take(0, start + Duration::from_secs(5)).unwrap();
        assert_eq!(buckets.buckets.lock().unwrap().len(), 1);
    }
}
