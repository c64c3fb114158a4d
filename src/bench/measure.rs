//! How the bench shows and counts its work as it goes: a progress line on
//! stderr, and percentiles of the latencies it measured.

use std::fmt::Display;
use std::io::{IsTerminal, Write as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A status line for the step in progress: rewritten in place on a
/// terminal, printed every few seconds otherwise (CI logs).
pub struct Progress {
    label: String,
    terminal: bool,
    last: Mutex<Option<Instant>>,
}

impl Progress {
    pub fn new(label: String) -> Self {
        Self {
            label,
            terminal: std::io::stderr().is_terminal(),
            last: Mutex::new(None),
        }
    }

    pub fn update(&self, status: impl Display) {
        let every = if self.terminal {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < every) {
            return;
        }
        *last = Some(Instant::now());
        let mut stderr = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(stderr, "\r\x1b[2K  {}: {status}", self.label);
        } else {
            let _ = writeln!(stderr, "  {}: {status}", self.label);
        }
        let _ = stderr.flush();
    }

    pub fn finish(&self, status: impl Display) {
        let mut stderr = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(stderr, "\r\x1b[2K");
        }
        let _ = writeln!(stderr, "  {}: {status}", self.label);
    }
}

/// The `q`-quantile of sorted microsecond values, in milliseconds.
pub fn percentile_ms(sorted_micros: &[u32], q: f64) -> f64 {
    if sorted_micros.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_micros.len() as f64 * q).ceil() as usize).clamp(1, sorted_micros.len());
    f64::from(sorted_micros[rank - 1]) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<u32> = (1..=100).map(|n| n * 1000).collect();
        assert_eq!(percentile_ms(&values, 0.5), 50.0);
        assert_eq!(percentile_ms(&values, 0.99), 99.0);
        assert_eq!(percentile_ms(&values, 1.0), 100.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }
}
