//! Budgets for what clients send: a bucket of `burst` tokens refilled at
//! `rate` per second. Events spend a token each; an empty bucket refuses.
//! Used per socket (events) and per user (messages, over every socket and
//! REST together).

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
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            refilled_at: now,
        }
    }

    /// Spends a token; `Err` with how long until one is there again.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        if self.rate == 0.0 {
            return Ok(());
        }
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
    }

    /// Whether the bucket is full again, so forgetting it changes nothing.
    fn is_full(&self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }
}

/// One bucket per key (a user), created full on first use and forgotten
/// once full again, so the map holds only keys that spent recently.
pub struct Buckets<K> {
    rate: u32,
    burst: u32,
    buckets: Mutex<HashMap<K, TokenBucket>>,
}

/// How many keys the map may hold before full buckets are swept out.
const SWEEP_AT: usize = 4096;

impl<K: Eq + Hash + Copy> Buckets<K> {
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate,
            burst,
            buckets: Mutex::default(),
        }
    }

    /// Spends one of `key`'s tokens; `Err` with how long until one is there.
    pub fn take(&self, key: K, now: Instant) -> Result<(), Duration> {
        if self.rate == 0 {
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
            .or_insert_with(|| TokenBucket::new(self.rate, self.burst, now))
            .take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
