//! The `fanout` and `max` scenarios: users in chats of one size, each with a
//! socket, sending at a fixed aggregate rate at random moments; every
//! delivery's latency is measured from the moment its send was due (so a
//! server that falls behind cannot hide it by slowing the sender down).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::measure::{Progress, percentile_ms};
use super::report::{LoadResult, MaxResult};
use super::socket::{Counters, Socket};
use super::{Context, connect_all};

/// How long a step may take to deliver what it sent once sending stops.
const DRAIN: Duration = Duration::from_secs(5);
/// The latency a sustained rate must keep at p99.
pub const P99_LIMIT_MS: f64 = 50.0;
/// A send due this soon goes out now rather than after a sleep (a sleep
/// this short overshoots by about as much).
const PACE_SLACK: Duration = Duration::from_micros(100);

/// The moments of a step's sends, from its start: independent arrivals at
/// `rate` a second (exponential gaps), the same for every run of a step.
struct Arrivals {
    rate: f64,
    rng: rand::rngs::StdRng,
    next: f64,
}

impl Arrivals {
    fn new(rate: f64, total: u64) -> Self {
        use rand::SeedableRng;
        let mut arrivals = Self {
            rate,
            rng: rand::rngs::StdRng::seed_from_u64(total),
            next: 0.0,
        };
        arrivals.advance();
        arrivals
    }

    fn next_at(&self) -> Duration {
        Duration::from_secs_f64(self.next)
    }

    fn advance(&mut self) {
        use rand::Rng;
        // 1 - u is in (0, 1]: its logarithm is finite.
        let uniform: f64 = self.rng.random();
        self.next += -(1.0 - uniform).ln() / self.rate;
    }
}

/// Users with a socket each, grouped into chats of `chat_size`.
pub struct Load {
    chat_size: usize,
    users: usize,
    sockets: Vec<Socket>,
    /// Each chat with the sockets of its members.
    chats: Vec<(String, Vec<usize>)>,
    counters: Arc<Counters>,
}

impl Load {
    /// Logs in `users` users (rounded down to whole chats), creates their
    /// chats and connects a socket for each.
    pub async fn prepare(
        ctx: &Context,
        chat_size: usize,
        users: usize,
        first_user: u64,
    ) -> Result<Self, String> {
        let chat_size = chat_size.max(2);
        let chat_count = (users / chat_size).max(1);
        let users = chat_count * chat_size;
        let progress = Progress::new(format!("fanout · chats of {chat_size}"));
        let accounts = ctx
            .api
            .login_many(&ctx.inbox, first_user, users, &progress)
            .await?;
        let mut chats = Vec::with_capacity(chat_count);
        for (number, members) in accounts.chunks(chat_size).enumerate() {
            let chat = ctx
                .api
                .create_chat(members, &format!("bench {number}"))
                .await?;
            let first = number * chat_size;
            chats.push((chat, (first..first + chat_size).collect()));
            progress.update(format_args!("creating chats {}/{chat_count}", chats.len()));
        }
        let counters = Counters::new(ctx.epoch);
        let tokens: Vec<&str> = accounts.iter().map(|user| user.token.as_str()).collect();
        let sockets = connect_all(ctx, &tokens, &counters, &progress).await?;
        progress.finish(format_args!(
            "{users} users in {chat_count} chats, connected"
        ));
        Ok(Self {
            chat_size,
            users,
            sockets,
            chats,
            counters,
        })
    }

    /// Sends at `rate` messages/s for `duration`, then waits for the
    /// deliveries; what the server did meanwhile.
    pub async fn step(
        &self,
        ctx: &Context,
        rate: f64,
        duration: Duration,
        label: &str,
    ) -> LoadResult {
        let counters = &self.counters;
        counters.deliveries.store(0, Ordering::Relaxed);
        counters.acks.store(0, Ordering::Relaxed);
        counters.errors.store(0, Ordering::Relaxed);
        counters.take_latencies();
        counters.set_recording(true);
        let senders: Vec<(usize, &str)> = self
            .chats
            .iter()
            .flat_map(|(chat, members)| members.iter().map(move |&socket| (socket, chat.as_str())))
            .collect();
        let progress = Progress::new(format!(
            "{label} · chats of {} · {rate:.0} msg/s",
            self.chat_size
        ));
        let before = ctx.target.usage();
        let started = Instant::now();
        let start_micros = counters.now_micros();
        let total = (rate * duration.as_secs_f64()) as u64;
        // Sends come at random moments, as independent users' do (a Poisson
        // process at `rate`), each when due: this thread sleeps until the
        // next one. tokio's timer ticks in whole milliseconds, and sends
        // made at ticks came in bursts (which flattered group commit) and
        // up to a tick late (which counted as the server's latency). The
        // socket tasks run on the runtime's other workers meanwhile.
        let (sent, refused) = tokio::task::block_in_place(|| {
            let mut arrivals = Arrivals::new(rate, total);
            let mut sent = 0u64;
            let mut refused = 0u64;
            while sent < total {
                let due = arrivals.next_at();
                let wait = due.saturating_sub(started.elapsed());
                if wait > PACE_SLACK {
                    std::thread::sleep(wait);
                }
                let (socket, chat) = senders[(sent % senders.len() as u64) as usize];
                // Measured from when it was due, or from when it left if it
                // left early (within the slack).
                let scheduled = (start_micros + due.as_micros() as u64).min(counters.now_micros());
                if !self.sockets[socket].send_message(chat, scheduled) {
                    refused += 1;
                }
                sent += 1;
                arrivals.advance();
                progress.update(format_args!(
                    "{:.1}/{:.0}s · delivered {}",
                    started.elapsed().as_secs_f64(),
                    duration.as_secs_f64(),
                    counters.deliveries.load(Ordering::Relaxed)
                ));
            }
            (sent, refused)
        });
        let sending = started.elapsed();
        let expected = sent * self.chat_size as u64;
        let drain_deadline = Instant::now() + DRAIN;
        while Instant::now() < drain_deadline
            && (counters.deliveries.load(Ordering::Relaxed) < expected
                || counters.acks.load(Ordering::Relaxed) + counters.errors.load(Ordering::Relaxed)
                    < sent)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let finished = started.elapsed();
        counters.set_recording(false);
        let after = ctx.target.usage();
        let mut latencies = counters.take_latencies();
        latencies.sort_unstable();
        let delivered = counters.deliveries.load(Ordering::Relaxed);
        let acked = counters.acks.load(Ordering::Relaxed);
        let result = LoadResult {
            chat_size: self.chat_size,
            users: self.users,
            rate,
            seconds: sending.as_secs_f64(),
            sent,
            acked,
            delivered,
            delivered_per_second: delivered as f64 / finished.as_secs_f64(),
            lost: expected.saturating_sub(delivered),
            errors: counters.errors.load(Ordering::Relaxed) + refused,
            p50_ms: percentile_ms(&latencies, 0.50),
            p99_ms: percentile_ms(&latencies, 0.99),
            max_ms: percentile_ms(&latencies, 1.0),
            cpu_ms_per_1000: match (before, after) {
                (Some(before), Some(after)) if delivered > 0 => Some(
                    (after.cpu - before.cpu).as_secs_f64() * 1000.0 / (delivered as f64 / 1000.0),
                ),
                _ => None,
            },
            peak_rss_mib: after.map(|usage| usage.peak_rss_bytes as f64 / (1024.0 * 1024.0)),
        };
        progress.finish(format_args!(
            "delivered {:.0}/s, p99 {:.1} ms{}",
            result.delivered_per_second,
            result.p99_ms,
            if result.sustained() {
                ""
            } else {
                " (not sustained)"
            }
        ));
        result
    }

    /// Raises the rate from `start` by half each step until p99 passes the
    /// limit or deliveries fall behind, then tries once between the last
    /// rate that held and the first that did not.
    pub async fn find_max(
        &self,
        ctx: &Context,
        start: f64,
        step: Duration,
        max_steps: usize,
    ) -> MaxResult {
        let mut steps = Vec::new();
        let mut rate = start;
        let mut best: Option<LoadResult> = None;
        let mut failed_at = None;
        while steps.len() < max_steps {
            let result = self.step(ctx, rate, step, "max").await;
            steps.push(result.clone());
            if result.sustained() {
                best = Some(result);
                rate *= 1.5;
            } else {
                failed_at = Some(rate);
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if let (Some(low), Some(high)) = (best.as_ref().map(|best| best.rate), failed_at) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let result = self.step(ctx, (low + high) / 2.0, step, "max").await;
            steps.push(result.clone());
            if result.sustained() {
                best = Some(result);
            }
        }
        MaxResult {
            chat_size: self.chat_size,
            best,
            steps,
        }
    }
}

impl LoadResult {
    /// Acknowledged sends per second of sending.
    pub fn sends_per_second(&self) -> f64 {
        self.acked as f64 / self.seconds.max(1e-9)
    }

    /// Whether the server kept up: everything acknowledged and delivered, p99 within the limit.
    pub fn sustained(&self) -> bool {
        self.errors == 0 && self.lost == 0 && self.acked == self.sent && self.p99_ms <= P99_LIMIT_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(rate: f64, total: u64) -> Vec<f64> {
        let mut arrivals = Arrivals::new(rate, total);
        (0..total)
            .map(|_| {
                let at = arrivals.next_at().as_secs_f64();
                arrivals.advance();
                at
            })
            .collect()
    }

    #[test]
    fn arrivals_come_at_the_rate_at_random_gaps_the_same_each_run() {
        let (rate, total) = (2_000.0, 100_000);
        let at = moments(rate, total);
        assert!(at.windows(2).all(|pair| pair[0] <= pair[1]));
        // 100,000 sends at 2,000/s take about 50 s (the sum of 100,000
        // exponential gaps of 0.5 ms has a standard deviation of 0.16 s).
        let span = at[at.len() - 1];
        assert!((span - 50.0).abs() < 0.5, "{span} s");
        // Exponential gaps, not even ones: 1 - 1/e of them are shorter
        // than the mean gap (give or take 0.0015 here).
        let gaps: Vec<f64> = at.windows(2).map(|pair| pair[1] - pair[0]).collect();
        let short = gaps.iter().filter(|&&gap| gap < 1.0 / rate).count() as f64;
        let share = short / gaps.len() as f64;
        assert!((share - 0.632).abs() < 0.01, "{share}");
        assert_eq!(moments(rate, total), at);
    }
}
