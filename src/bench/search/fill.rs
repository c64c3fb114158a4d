//! Filling the search scenario's store: its people log in, their chats
//! are made, and the writers send the corpus over their sockets.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, stream};
use serde_json::json;
use tokio::sync::Semaphore;

use super::corpus::Corpus;
use crate::bench::Context;
use crate::bench::api::User;
use crate::bench::measure::Progress;
use crate::bench::socket::{Counters, Protocol, Socket};

/// Users who write the messages, one socket each; every chat has one.
const WRITERS: usize = 32;
/// Unanswered sends, over all the writers' sockets.
const WINDOW: usize = 1024;

/// The searcher, the writers (each writes every message of its chats) and
/// everyone else.
pub struct People {
    pub searcher: User,
    writers: Vec<User>,
    others: Vec<User>,
}

impl People {
    /// Enough people that every private chat is a pair of its own.
    pub async fn log_in(
        ctx: &Context,
        first_user: u64,
        chats: usize,
        progress: &Progress,
    ) -> Result<Self, String> {
        let writers = WRITERS.min(chats);
        let others = (chats / 16).max(8).max((chats / 2).div_ceil(writers));
        let mut users = ctx
            .api
            .login_many(&ctx.inbox, first_user, 1 + writers + others, progress)
            .await?;
        let others = users.split_off(1 + writers);
        let writers = users.split_off(1);
        let searcher = users.pop().ok_or("no searcher logged in")?;
        Ok(Self {
            searcher,
            writers,
            others,
        })
    }

    /// Who writes in chat `index`.
    fn writer(&self, index: usize) -> usize {
        (index / 2) % self.writers.len()
    }

    /// Chat `index`'s members, its writer first: even chats are private,
    /// odd ones groups of 3 to 10; the first `searcher_chats` have the searcher.
    fn members(&self, index: usize, searcher_chats: usize) -> Vec<User> {
        let ordinal = index / 2;
        let mut members = vec![self.writers[self.writer(index)].clone()];
        if index < searcher_chats {
            members.push(self.searcher.clone());
        }
        if index.is_multiple_of(2) {
            if index >= searcher_chats {
                let partner = (ordinal / self.writers.len()) % self.others.len();
                members.push(self.others[partner].clone());
            }
        } else {
            let size = (2 + ordinal % 7).min(self.others.len());
            members.extend(
                (0..size).map(|n| self.others[(ordinal * 5 + n) % self.others.len()].clone()),
            );
        }
        members
    }
}

pub async fn create_chats(
    ctx: &Context,
    people: &People,
    count: usize,
    searcher_chats: usize,
    progress: &Progress,
) -> Result<Vec<String>, String> {
    let mut chats = Vec::with_capacity(count);
    let mut creating = stream::iter(0..count)
        .map(|index| {
            let members = people.members(index, searcher_chats);
            async move {
                ctx.api
                    .create_chat(&members, &Corpus::group_name(index))
                    .await
            }
        })
        .buffered(16);
    while let Some(chat) = creating.next().await {
        chats.push(chat?);
        progress.update(format_args!("creating chats {}/{count}", chats.len()));
    }
    Ok(chats)
}

pub struct Filled {
    pub text_bytes: u64,
    pub per_second: f64,
    pub finished: Instant,
}

/// Sends the corpus over the writers' sockets, a window of sends unanswered
/// at a time, as the history scenario fills its chat.
pub async fn fill(
    ctx: &Context,
    people: &People,
    chats: &[String],
    corpus: &Corpus,
    progress: &Progress,
) -> Result<Filled, String> {
    let window = Arc::new(Semaphore::new(WINDOW));
    let counters = Counters::with_window(ctx.epoch, Arc::clone(&window));
    counters.set_recording(false);
    // Always Clavox's own frames: a Socket.IO ack is recognised by the
    // bench's timestamped content, which these messages do not carry.
    let sockets: Vec<Socket> = stream::iter(people.writers.iter().enumerate())
        .map(|(index, writer)| {
            let base = ctx.target.socket_base(index);
            let counters = Arc::clone(&counters);
            async move { Socket::connect(&base, Protocol::Ws, &writer.token, counters).await }
        })
        .buffered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let count = corpus.count();
    let started = Instant::now();
    let mut text_bytes = 0u64;
    for n in 0..count {
        window
            .acquire()
            .await
            .map_err(|_| "the fill window closed".to_owned())?
            .forget();
        let message = corpus.message(n);
        text_bytes += message.text.len() as u64;
        let data = json!({ "chatId": chats[message.chat], "content": message.text }).to_string();
        sockets[people.writer(message.chat)].request("send_message", &data);
        if n % 1024 == 0 {
            let done = counters.acks.load(Ordering::Relaxed);
            progress.update(format_args!(
                "sending messages {done}/{count} ({:.0}/s)",
                done as f64 / started.elapsed().as_secs_f64().max(1e-3)
            ));
        }
    }
    while counters.acks.load(Ordering::Relaxed) + counters.errors.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let finished = Instant::now();
    let errors = counters.errors.load(Ordering::Relaxed);
    if errors > 0 {
        return Err(format!(
            "{errors} of {count} sends were refused while filling"
        ));
    }
    Ok(Filled {
        text_bytes,
        per_second: count as f64 / (finished - started).as_secs_f64().max(1e-3),
        finished,
    })
}
