//! How long code deliveries take lately, so a number that gets no code is
//! answered after about as long as one that does: the answer time must not
//! tell who may log in. Keeps one running average per sender and nothing
//! else; it never delivers or stores anything.

use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;

use super::delivery::DELIVERY_TIMEOUT;

/// Weight of the newest delivery in the average, as in TCP's smoothed
/// round-trip time: it follows a gateway that slows down within a few
/// deliveries, and one slow delivery does not swing it.
const NEWEST_WEIGHT: f64 = 0.125;

/// How far a pretended delivery strays from the average, as a fraction of
/// it: real deliveries vary, and a wait that never did would stand out.
const JITTER: f64 = 0.1;

/// The recent delivery time of one sender.
pub struct DeliveryPace {
    /// `None` until a delivery has been timed; the sender's guess stands in.
    // A std mutex: it guards one number for a moment and is never held
    // across an await.
    average: Mutex<Option<Duration>>,
    first_guess: Duration,
}

impl DeliveryPace {
    pub fn new(first_guess: Duration) -> Self {
        Self {
            average: Mutex::new(None),
            first_guess: first_guess.min(DELIVERY_TIMEOUT),
        }
    }

    /// Counts a delivery that took `took`.
    pub fn record(&self, took: Duration) {
        if let Ok(mut average) = self.average.lock() {
            *average = Some(blend(*average, took));
        }
    }

    /// How long a pretended delivery should take now.
    pub fn pretend(&self) -> Duration {
        let average = self
            .average
            .lock()
            .ok()
            .and_then(|average| *average)
            .unwrap_or(self.first_guess);
        jittered(average, rand::rng().random_range(-1.0..=1.0))
    }
}

/// The average after one more delivery that took `took`. A delivery that
/// hangs counts as the timeout, which is when it would have been answered.
fn blend(average: Option<Duration>, took: Duration) -> Duration {
    let took = took.min(DELIVERY_TIMEOUT);
    match average {
        None => took,
        Some(average) => average.mul_f64(1.0 - NEWEST_WEIGHT) + took.mul_f64(NEWEST_WEIGHT),
    }
}

/// `average` moved by `spread` (from -1 to 1) times `JITTER` of itself.
fn jittered(average: Duration, spread: f64) -> Duration {
    average.mul_f64(1.0 + JITTER * spread.clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn the_first_delivery_sets_the_average_and_later_ones_move_it_gently() {
        assert_eq!(blend(None, ms(200)), ms(200));
        assert_eq!(blend(Some(ms(200)), ms(1000)), ms(300));
        assert_eq!(blend(Some(ms(200)), ms(200)), ms(200));
    }

    #[test]
    fn a_hanging_delivery_counts_as_the_timeout() {
        assert_eq!(blend(None, Duration::from_secs(60)), DELIVERY_TIMEOUT);
    }

    #[test]
    fn pretended_deliveries_stay_within_the_jitter_of_the_average() {
        assert_eq!(jittered(ms(200), 1.0), ms(220));
        assert_eq!(jittered(ms(200), -1.0), ms(180));
        assert_eq!(jittered(ms(200), 7.0), ms(220));
    }

    #[test]
    fn the_senders_guess_stands_in_until_a_delivery_is_timed() {
        let pace = DeliveryPace::new(ms(500));
        let guess = pace.pretend();
        assert!(guess >= ms(450) && guess <= ms(550), "{guess:?}");
        pace.record(ms(100));
        let measured = pace.pretend();
        assert!(measured >= ms(90) && measured <= ms(110), "{measured:?}");
    }
}
