//! What the bench prints at the end: the results, as a table for people or
//! JSON for scripts.

use std::fmt::{self, Display};

use serde::Serialize;

use super::search::SearchResult;
use super::socket::Protocol;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadResult {
    pub chat_size: usize,
    pub users: usize,
    /// Messages per second the bench tried to send.
    pub rate: f64,
    pub seconds: f64,
    pub sent: u64,
    pub acked: u64,
    pub delivered: u64,
    pub delivered_per_second: f64,
    /// Deliveries that never arrived (a socket per member, sender included).
    pub lost: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub cpu_ms_per_1000: Option<f64>,
    pub peak_rss_mib: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MaxResult {
    pub chat_size: usize,
    /// The fastest step that held p99 within 50 ms and delivered everything.
    pub best: Option<LoadResult>,
    pub steps: Vec<LoadResult>,
}

impl MaxResult {
    /// Whether no step failed: the server's limit lies above the last rate tried.
    pub fn limit_above_last_step(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(LoadResult::sustained)
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdleResult {
    pub sockets: usize,
    pub users: usize,
    pub rss_before_mib: Option<f64>,
    pub rss_after_mib: Option<f64>,
    pub bytes_per_socket: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageResult {
    pub page: u64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangesResult {
    /// Messages per feed read.
    pub feed_limit: u64,
    pub changes: u64,
    /// Acknowledged changes per second, the first half to the newest 1,000
    /// messages, the second half anywhere in the chat.
    pub recent_per_second: f64,
    pub spread_per_second: f64,
    /// Reads of `changes?since=` from the chat's first, middle and last `rev`s.
    pub feed: Vec<FeedRead>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedRead {
    pub since: u64,
    #[serde(flatten)]
    pub read: PageResult,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryResult {
    pub messages: u64,
    pub readers: usize,
    /// Messages per page read.
    pub page_size: u64,
    /// How fast the chat was filled over the socket (acknowledged sends).
    pub fill_per_second: f64,
    pub deep_page: u64,
    pub newest: PageResult,
    pub deep: PageResult,
    pub changes: Option<ChangesResult>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartupResult {
    pub empty_ms: f64,
    pub messages: u64,
    pub full_ms: Option<f64>,
}

/// Sends made as fast as the server acknowledged them, a window at a time.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResult {
    pub sent: u64,
    pub acked: u64,
    pub errors: u64,
    pub seconds: f64,
    pub sends_per_second: f64,
    /// From each request to its answer.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushResult {
    /// Private chats, each of a sender and a recipient with no socket.
    pub pairs: usize,
    /// Push subscriptions per recipient.
    pub subscriptions: usize,
    /// Sends in flight at once.
    pub window: usize,
    /// With the push service answering: one push per message and subscription.
    pub pushes_expected: u64,
    pub pushes_arrived: u64,
    /// From the first send to the last push's arrival.
    pub push_seconds: f64,
    pub pushes_per_second: f64,
    /// The same sends before anyone subscribed: no push to make.
    pub without_pushes: SendResult,
    pub answering: SendResult,
    /// The same sends with the push service hanging.
    pub hanging: SendResult,
    /// Pushes that reached the hanging service and were held unanswered.
    pub pushes_held: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CeilingRow {
    pub batch: usize,
    pub records_per_second: f64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub server: String,
    pub protocol: Protocol,
    pub cores: usize,
    pub fanout: Vec<LoadResult>,
    pub max: Vec<MaxResult>,
    pub idle: Option<IdleResult>,
    pub history: Option<HistoryResult>,
    pub startup: Option<StartupResult>,
    pub push: Option<PushResult>,
    pub ceiling: Vec<CeilingRow>,
    pub search: Option<SearchResult>,
}

impl Report {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn optional(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.digits$}"))
}

impl Display for Report {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let protocol = match self.protocol {
            Protocol::Ws => "/ws",
            Protocol::Socketio => "Socket.IO",
        };
        writeln!(
            out,
            "\nclavox bench · {} · {protocol} · {} cores\n",
            self.server, self.cores
        )?;
        if !self.fanout.is_empty() || !self.max.is_empty() {
            writeln!(
                out,
                "Messages (latency: from the moment a send was due to its arrival at each socket of each member, the sender's included)"
            )?;
            writeln!(
                out,
                "  {:<8} {:>5} {:>6} {:>9} {:>12} {:>8} {:>8} {:>8} {:>7} {:>12} {:>9}",
                "scenario",
                "chat",
                "users",
                "sends/s",
                "delivered/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "errors",
                "CPU ms/1000",
                "peak MiB"
            )?;
            for result in &self.fanout {
                load_row(out, "fanout", result)?;
            }
            for max in &self.max {
                match &max.best {
                    Some(best) if max.limit_above_last_step() => {
                        load_row(out, "max", best)?;
                        writeln!(
                            out,
                            "           (every step held: the limit is higher; raise --max-steps)"
                        )?;
                    }
                    Some(best) => load_row(out, "max", best)?,
                    None => writeln!(
                        out,
                        "  max      {:>5}  no rate held p99 under 50 ms",
                        max.chat_size
                    )?,
                }
            }
            writeln!(
                out,
                "  (max: the highest rate at which p99 stayed under 50 ms and everything arrived)\n"
            )?;
        }
        if let Some(idle) = &self.idle {
            writeln!(out, "Idle sockets")?;
            writeln!(
                out,
                "  {} authenticated sockets ({} users): server RSS {} -> {} MiB, {} KiB per socket\n",
                idle.sockets,
                idle.users,
                optional(idle.rss_before_mib, 1),
                optional(idle.rss_after_mib, 1),
                optional(idle.bytes_per_socket.map(|bytes| bytes / 1024.0), 1),
            )?;
        }
        if let Some(history) = &self.history {
            writeln!(
                out,
                "History ({} messages in one chat, filled at {:.0} acknowledged sends/s; {} keep-alive readers, {}-message pages)",
                history.messages, history.fill_per_second, history.readers, history.page_size
            )?;
            writeln!(
                out,
                "  {:<14} {:>10} {:>8} {:>8} {:>7}",
                "page", "pages/s", "p50 ms", "p99 ms", "errors"
            )?;
            for (name, page) in [
                ("newest (1)", &history.newest),
                (&*format!("deep ({})", history.deep_page), &history.deep),
            ] {
                writeln!(
                    out,
                    "  {:<14} {:>10.0} {:>8.2} {:>8.2} {:>7}",
                    name, page.requests_per_second, page.p50_ms, page.p99_ms, page.errors
                )?;
            }
            if let Some(changes) = &history.changes {
                writeln!(
                    out,
                    "  {} edits and reactions over the socket, acknowledged: {:.0}/s to the newest 1,000 messages ({:.2}x the send rate), {:.0}/s anywhere in the chat ({:.2}x)",
                    changes.changes,
                    changes.recent_per_second,
                    changes.recent_per_second / history.fill_per_second.max(1e-9),
                    changes.spread_per_second,
                    changes.spread_per_second / history.fill_per_second.max(1e-9),
                )?;
                writeln!(out, "  change feed, {}-message reads:", changes.feed_limit)?;
                writeln!(
                    out,
                    "  {:<14} {:>10} {:>8} {:>8} {:>7}",
                    "since rev", "reads/s", "p50 ms", "p99 ms", "errors"
                )?;
                for feed in &changes.feed {
                    let read = &feed.read;
                    writeln!(
                        out,
                        "  {:<14} {:>10.0} {:>8.2} {:>8.2} {:>7}",
                        feed.since, read.requests_per_second, read.p50_ms, read.p99_ms, read.errors
                    )?;
                }
            }
            writeln!(out)?;
        }
        if let Some(startup) = &self.startup {
            writeln!(out, "Start-up (process start to /readyz answering)")?;
            write!(out, "  empty store {:.0} ms", startup.empty_ms)?;
            if let Some(full) = startup.full_ms {
                write!(
                    out,
                    ", {} messages {full:.0} ms ({:.2}x)",
                    startup.messages,
                    full / startup.empty_ms.max(1e-9)
                )?;
            }
            writeln!(out, "\n")?;
        }
        if let Some(push) = &self.push {
            push_rows(out, push)?;
        }
        if let Some(search) = &self.search {
            write!(out, "{search}")?;
        }
        if !self.ceiling.is_empty() {
            writeln!(
                out,
                "redb's own ceiling on this disk (each record = what a send writes, one fsync per batch)"
            )?;
            for row in &self.ceiling {
                writeln!(
                    out,
                    "  batch {:>5}: {:>8.0} records/s",
                    row.batch, row.records_per_second
                )?;
            }
            // Beside it, what the server made of the same disk.
            for max in &self.max {
                if let Some(best) = &max.best {
                    writeln!(
                        out,
                        "  the server, chats of {}: {:>8.0} durable sends/s at its highest sustained rate",
                        max.chat_size,
                        best.sends_per_second()
                    )?;
                }
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

fn load_row(out: &mut fmt::Formatter<'_>, name: &str, result: &LoadResult) -> fmt::Result {
    writeln!(
        out,
        "  {:<8} {:>5} {:>6} {:>9.0} {:>12.0} {:>8.2} {:>8.2} {:>8.1} {:>7} {:>12} {:>9}",
        name,
        result.chat_size,
        result.users,
        result.sends_per_second(),
        result.delivered_per_second,
        result.p50_ms,
        result.p99_ms,
        result.max_ms,
        result.errors + result.lost,
        optional(result.cpu_ms_per_1000, 1),
        optional(result.peak_rss_mib, 0),
    )
}

fn push_rows(out: &mut fmt::Formatter<'_>, push: &PushResult) -> fmt::Result {
    writeln!(
        out,
        "Web Push to a stand-in push service in the bench ({} messages over REST, {} in flight, to {} recipients with no socket and {} each; latency: from each send to its answer)",
        push.answering.sent,
        push.window,
        push.pairs,
        match push.subscriptions {
            1 => "one subscription".to_owned(),
            many => format!("{many} subscriptions"),
        }
    )?;
    writeln!(
        out,
        "  {:<14} {:>9} {:>8} {:>8} {:>8} {:>7}   pushes",
        "push service", "sends/s", "p50 ms", "p99 ms", "max ms", "errors"
    )?;
    send_row(out, "no pushes", &push.without_pushes)?;
    writeln!(out, "(before anyone subscribed)")?;
    send_row(out, "answering", &push.answering)?;
    writeln!(
        out,
        "{:.0}/s ({} of {} arrived, {:.1} s from the first send to the last arrival)",
        push.pushes_per_second, push.pushes_arrived, push.pushes_expected, push.push_seconds
    )?;
    send_row(out, "hanging", &push.hanging)?;
    writeln!(
        out,
        "{} reached it and were held unanswered; the rest wait in the queue",
        push.pushes_held
    )?;
    writeln!(out)
}

/// A row of sends, leaving the line open for what the pushes did.
fn send_row(out: &mut fmt::Formatter<'_>, name: &str, sends: &SendResult) -> fmt::Result {
    write!(
        out,
        "  {:<14} {:>9.0} {:>8.2} {:>8.2} {:>8.1} {:>7}   ",
        name, sends.sends_per_second, sends.p50_ms, sends.p99_ms, sends.max_ms, sends.errors,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rate: f64, p99_ms: f64) -> LoadResult {
        LoadResult {
            chat_size: 2,
            users: 200,
            rate,
            seconds: 3.0,
            sent: 30,
            acked: 30,
            delivered: 60,
            delivered_per_second: 20.0,
            lost: 0,
            errors: 0,
            p50_ms: 1.0,
            p99_ms,
            max_ms: p99_ms,
            cpu_ms_per_1000: None,
            peak_rss_mib: None,
        }
    }

    #[test]
    fn the_limit_is_above_the_last_step_only_when_no_step_failed() {
        let max = |steps: Vec<LoadResult>| MaxResult {
            chat_size: 2,
            best: steps.iter().rev().find(|step| step.sustained()).cloned(),
            steps,
        };
        assert!(max(vec![step(1000.0, 5.0), step(1500.0, 9.0)]).limit_above_last_step());
        // A failed step, then the rate between that held: the limit was found.
        let bisected = max(vec![
            step(1000.0, 5.0),
            step(1500.0, 70.0),
            step(1250.0, 30.0),
        ]);
        assert!(!bisected.limit_above_last_step());
        assert!(!max(vec![step(1000.0, 70.0)]).limit_above_last_step());
        assert!(!max(Vec::new()).limit_above_last_step());
    }
}
