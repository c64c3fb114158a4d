//! Part of the `history` scenario: on the long chat it filled, many message
//! changes (edits and reactions, over the socket, as clients make them),
//! then concurrent readers of the change feed from the start, the middle
//! and the end of the chat's `rev`s. A change should cost about what a send
//! costs, and a feed read the same wherever it starts.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::api::User;
use super::measure::Progress;
use super::readers::hammer;
use super::report::{ChangesResult, FeedRead};
use super::socket::{Counters, Socket};
use super::{Context, connect_all};

/// Sockets making changes, and how many unanswered changes each may have.
const CHANGERS: usize = 2;
const WINDOW: usize = 512;
/// How long the bench waits for any answer before it gives up.
const STALL: Duration = Duration::from_secs(30);
/// Messages per feed read.
const FEED_LIMIT: u64 = 100;
/// The newest messages, where most changes happen.
const RECENT: u64 = 1000;
const EMOJI: [&str; 8] = ["👍", "❤️", "😂", "😮", "😢", "🙏", "🎉", "🔥"];

/// How many changes to make, and how to read the feed after.
pub struct Plan {
    pub count: u64,
    /// Concurrent keep-alive readers of each feed position.
    pub readers: usize,
    /// How long each position is read.
    pub duration: Duration,
}

/// Makes `count` changes to the `messages` of `chat`, as `sender` (who sent
/// them all), then reads the feed.
pub async fn run(
    ctx: &Context,
    sender: &User,
    chat: &str,
    messages: u64,
    plan: &Plan,
    progress: &Progress,
) -> Result<ChangesResult, String> {
    let count = plan.count;
    // First where people mostly react and fix typos: the newest messages;
    // then anywhere in the chat, the hardest case for the disk.
    let recent = messages.min(RECENT);
    let recent_per_second = change(
        ctx,
        sender,
        chat,
        (messages - recent, recent),
        0..count / 2,
        progress,
    )
    .await?;
    let spread_per_second =
        change(ctx, sender, chat, (0, messages), count / 2..count, progress).await?;
    let rev = feed_rev(ctx, sender, chat).await?;
    let mut feed = Vec::new();
    for since in [0, rev / 2, rev.saturating_sub(FEED_LIMIT)] {
        progress.update(format_args!("reading changes since rev {since} of {rev}"));
        let url = ctx.api.url(&format!(
            "/api/chats/{chat}/changes?since={since}&limit={FEED_LIMIT}"
        ));
        let read = hammer(ctx, &sender.token, &url, plan.readers, plan.duration).await;
        feed.push(FeedRead { since, read });
    }
    Ok(ChangesResult {
        feed_limit: FEED_LIMIT,
        changes: count,
        recent_per_second,
        spread_per_second,
        feed,
    })
}

/// Edits and reactions numbered `numbers` to the `span` messages after seq
/// `first`, as fast as the server acknowledges them; the rate achieved.
/// Each number makes a different change, so the phases never repeat one
/// another's (a repeated edit or reaction changes nothing).
async fn change(
    ctx: &Context,
    sender: &User,
    chat: &str,
    (first, span): (u64, u64),
    numbers: std::ops::Range<u64>,
    progress: &Progress,
) -> Result<f64, String> {
    let count = numbers.end - numbers.start;
    let window = Arc::new(Semaphore::new(CHANGERS * WINDOW));
    let counters = Counters::with_window(ctx.epoch, Arc::clone(&window));
    counters.set_recording(false);
    let tokens = vec![sender.token.as_str(); CHANGERS];
    let sockets: Vec<Socket> = connect_all(ctx, &tokens, &counters, progress).await?;
    let started = Instant::now();
    for n in numbers {
        // A server that never answers (one that knows no changes) must not
        // hang the bench, here with the window full or below.
        let permit = tokio::time::timeout(STALL, window.acquire())
            .await
            .map_err(|_| stalled(counters.acks.load(Ordering::Relaxed), count))?
            .map_err(|_| "the change window closed".to_owned())?;
        permit.forget();
        // A stride that visits the whole span, evenly.
        let seq = first + n.wrapping_mul(7919) % span + 1;
        let socket = &sockets[n as usize % CHANGERS];
        if n % 2 == 0 {
            socket.request(
                "edit_message",
                &format!(r#"{{"chatId":"{chat}","seq":{seq},"content":"edited {n}"}}"#),
            );
        } else {
            let emoji = EMOJI[(n / 2) as usize % EMOJI.len()];
            socket.request(
                "react",
                &format!(r#"{{"chatId":"{chat}","seq":{seq},"emoji":"{emoji}","on":true}}"#),
            );
        }
        if n % 1024 == 0 {
            let done = counters.acks.load(Ordering::Relaxed);
            progress.update(format_args!(
                "changing messages {done}/{count} ({:.0}/s)",
                done as f64 / started.elapsed().as_secs_f64().max(1e-3)
            ));
        }
    }
    let (mut answered, mut last_progress) = (0, Instant::now());
    while answered < count {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = counters.acks.load(Ordering::Relaxed) + counters.errors.load(Ordering::Relaxed);
        if now > answered {
            (answered, last_progress) = (now, Instant::now());
        } else if last_progress.elapsed() > STALL {
            return Err(stalled(answered, count));
        }
    }
    let errors = counters.errors.load(Ordering::Relaxed);
    if errors > 0 {
        return Err(format!("{errors} of {count} changes were refused"));
    }
    Ok(count as f64 / started.elapsed().as_secs_f64().max(1e-3))
}

fn stalled(answered: u64, count: u64) -> String {
    format!(
        "the server answered {answered} of {count} changes and then nothing for {}s (does it support message changes? --history-changes 0 leaves them out)",
        STALL.as_secs()
    )
}

/// The chat's `rev` now, from the feed itself.
async fn feed_rev(ctx: &Context, reader: &User, chat: &str) -> Result<u64, String> {
    let url = ctx
        .api
        .url(&format!("/api/chats/{chat}/changes?since=0&limit=1"));
    let body: serde_json::Value = ctx
        .api
        .http()
        .get(&url)
        .bearer_auth(&reader.token)
        .send()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?
        .json()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    body["rev"]
        .as_u64()
        .ok_or_else(|| format!("GET {url}: no rev in {body}"))
}
