//! The `history` scenario: one chat filled with many messages (over the
//! socket, as clients would), then concurrent keep-alive readers of
//! 50-message pages, first the newest page, then one 90% of the way back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Semaphore;

use super::api::User;
use super::measure::Progress;
use super::readers::hammer;
use super::report::{HistoryResult, PageResult};
use super::socket::{Counters, Socket};
use super::{Context, connect_all};

pub const PAGE_SIZE: u64 = 50;
/// Sockets filling the chat, and how many unanswered sends each may have.
const FILLERS: usize = 2;
const WINDOW: usize = 512;

pub struct Options {
    pub messages: u64,
    pub readers: usize,
    pub duration: Duration,
    /// Edits and reactions made on the chat after the page reads (0: none).
    pub changes: u64,
}

/// A chat of two users holding the bench's messages.
struct Filled {
    users: Vec<User>,
    chat: String,
    messages: u64,
    fill_per_second: f64,
}

async fn filled_chat(
    ctx: &Context,
    options: &Options,
    first_user: u64,
    progress: &Progress,
) -> Result<Filled, String> {
    let users = ctx
        .api
        .login_many(&ctx.inbox, first_user, 2, progress)
        .await?;
    let chat = ctx.api.create_chat(&users, "history").await?;
    // Two pages at least, so the deep page is not the newest one.
    let messages = options.messages.max(2 * PAGE_SIZE);
    let fill_per_second = fill(ctx, &users[0], &chat, messages, progress).await?;
    Ok(Filled {
        users,
        chat,
        messages,
        fill_per_second,
    })
}

/// Only fills the chat (for `startup` run without `history`).
pub async fn fill_only(ctx: &Context, options: &Options, first_user: u64) -> Result<(), String> {
    let progress = Progress::new("history".into());
    let filled = filled_chat(ctx, options, first_user, &progress).await?;
    progress.finish(format_args!(
        "{} messages stored at {:.0}/s",
        filled.messages, filled.fill_per_second
    ));
    Ok(())
}

/// Fills a chat, then reads it; returns the result and leaves the messages
/// stored (the `startup` scenario restarts on them).
pub async fn run(
    ctx: &Context,
    options: &Options,
    first_user: u64,
) -> Result<HistoryResult, String> {
    let progress = Progress::new("history".into());
    let filled = filled_chat(ctx, options, first_user, &progress).await?;
    // Reads measured while the server still files the fill for search
    // would be counted short.
    ctx.target.settle().await;
    let (chat, messages) = (&filled.chat, filled.messages);
    let deep_page = (messages * 9 / 10) / PAGE_SIZE + 1;
    let reader = &filled.users[1];
    let newest = read(ctx, reader, chat, 1, messages, options, &progress).await?;
    let deep = read(ctx, reader, chat, deep_page, messages, options, &progress).await?;
    let changes = match options.changes {
        0 => None,
        count => Some(
            super::changes::run(
                ctx,
                &filled.users[0],
                chat,
                messages,
                &super::changes::Plan {
                    count,
                    readers: options.readers,
                    duration: options.duration,
                },
                &progress,
            )
            .await?,
        ),
    };
    progress.finish(format_args!(
        "filled at {:.0}/s; newest page {:.0}/s, page {deep_page} {:.0}/s{}",
        filled.fill_per_second,
        newest.requests_per_second,
        deep.requests_per_second,
        changes.as_ref().map_or(String::new(), |changes| format!(
            "; {} changes at {:.0}/s (newest messages), {:.0}/s (anywhere)",
            changes.changes, changes.recent_per_second, changes.spread_per_second
        ))
    ));
    Ok(HistoryResult {
        messages,
        readers: options.readers,
        page_size: PAGE_SIZE,
        fill_per_second: filled.fill_per_second,
        deep_page,
        newest,
        deep,
        changes,
    })
}

/// Sends `count` messages into `chat` as fast as the server acknowledges
/// them; the rate achieved.
async fn fill(
    ctx: &Context,
    sender: &User,
    chat: &str,
    count: u64,
    progress: &Progress,
) -> Result<f64, String> {
    let window = Arc::new(Semaphore::new(FILLERS * WINDOW));
    let counters = Counters::with_window(ctx.epoch, Arc::clone(&window));
    counters.set_recording(false);
    let tokens = vec![sender.token.as_str(); FILLERS];
    let sockets: Vec<Socket> = connect_all(ctx, &tokens, &counters, progress).await?;
    let started = Instant::now();
    for n in 0..count {
        let permit = window
            .acquire()
            .await
            .map_err(|_| "the fill window closed".to_owned())?;
        permit.forget();
        sockets[n as usize % FILLERS].send_message(chat, counters.now_micros());
        if n % 1024 == 0 {
            let done = counters.acks.load(Ordering::Relaxed);
            progress.update(format_args!(
                "filling the chat {done}/{count} ({:.0} msg/s)",
                done as f64 / started.elapsed().as_secs_f64().max(1e-3)
            ));
        }
    }
    while counters.acks.load(Ordering::Relaxed) + counters.errors.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64().max(1e-3);
    let errors = counters.errors.load(Ordering::Relaxed);
    if errors > 0 {
        return Err(format!(
            "{errors} of {count} sends were refused while filling the chat"
        ));
    }
    Ok(rate)
}

/// `readers` clients reading `page` over and over for the duration.
async fn read(
    ctx: &Context,
    reader: &User,
    chat: &str,
    page: u64,
    messages: u64,
    options: &Options,
    progress: &Progress,
) -> Result<PageResult, String> {
    let url = ctx.api.url(&format!(
        "/api/chats/{chat}/messages?page={page}&limit={PAGE_SIZE}"
    ));
    check_page(ctx, reader, &url, page, messages).await?;
    progress.update(format_args!(
        "reading page {page} with {} clients",
        options.readers
    ));
    let read = hammer(ctx, &reader.token, &url, options.readers, options.duration).await;
    Ok(PageResult { page, ..read })
}

/// The page must hold the right messages, or its speed means nothing.
async fn check_page(
    ctx: &Context,
    reader: &User,
    url: &str,
    page: u64,
    messages: u64,
) -> Result<(), String> {
    let body: Value = ctx
        .api
        .http()
        .get(url)
        .bearer_auth(&reader.token)
        .send()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?
        .json()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    let seqs: Vec<u64> = body["messages"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|message| message["seq"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    let newest = messages - (page - 1) * PAGE_SIZE;
    let expected: Vec<u64> = (newest + 1 - PAGE_SIZE..=newest).collect();
    if seqs == expected {
        Ok(())
    } else {
        Err(format!(
            "page {page} held seq {:?}..{:?} ({} messages), expected {}..{newest}",
            seqs.first(),
            seqs.last(),
            seqs.len(),
            newest + 1 - PAGE_SIZE
        ))
    }
}
