//! The `push` scenario: pairs of users in private chats, each recipient
//! subscribed to Web Push at the stand-in push service (`push_service`)
//! and keeping no socket, so that every message becomes a push. Senders
//! send over REST as fast as the server answers, a window at a time:
//! first before anyone subscribes (send latency with no push to make), then
//! with the push service answering (pushes per second, from the first send
//! to the last arrival, and send latency meanwhile), then with it hanging
//! (send latency again: pushes are sent off the message path, so a push
//! service that hangs must not slow sending). The subscriptions are
//! removed at the end, so a server at `--url` drops the pushes still queued
//! for the bench instead of retrying them for a day.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{StreamExt, stream};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use serde_json::{Value, json};

use super::Context;
use super::api::User;
use super::measure::{Progress, percentile_ms};
use super::report::{PushResult, SendResult};

/// How long the bench waits for the next push before it stops counting:
/// longer than a server's timeout for one push (10 s), so one retry fits.
const STALL: Duration = Duration::from_secs(30);
/// How long the bench waits for the first push to reach the hanging service.
const HOLD_WAIT: Duration = Duration::from_secs(10);
/// How long the server is given to finish with the messages sent before
/// anyone subscribed (its notifier gathers them for 50 ms): one it reached
/// only after the subscriptions would be pushed, and counted, too.
const SETTLE: Duration = Duration::from_secs(1);
/// Subscriptions made, and removed, several at once.
const SETUP_CONCURRENCY: usize = 32;

/// The scenario's size.
pub struct Options {
    pub pairs: usize,
    pub messages: u64,
    pub subscriptions: usize,
    pub window: usize,
}

/// A sender and a recipient in their private chat; the recipient's push endpoints.
struct Pair {
    sender: User,
    recipient: User,
    chat: String,
    endpoints: Vec<String>,
}

pub async fn run(ctx: &Context, options: &Options, first_user: u64) -> Result<PushResult, String> {
    let progress = Progress::new("push".into());
    let pairs = prepare(ctx, options, first_user, &progress).await?;
    let without_pushes = send_all(ctx, &pairs, options, "no pushes", &progress).await;
    tokio::time::sleep(SETTLE).await;
    subscribe_all(ctx, &pairs, &progress).await?;
    let (answering, arrivals) = send_answered(ctx, &pairs, options, &progress).await;
    let (hanging, held) = send_hung(ctx, &pairs, options, &progress).await;
    let removed = unsubscribe_all(ctx, &pairs).await;
    ctx.inbox.push_service().answer();
    removed?;
    let result = PushResult {
        pairs: pairs.len(),
        subscriptions: options.subscriptions,
        window: options.window,
        pushes_expected: arrivals.expected as u64,
        pushes_arrived: arrivals.count as u64,
        push_seconds: arrivals.seconds,
        pushes_per_second: arrivals.count as f64 / arrivals.seconds.max(1e-9),
        without_pushes,
        answering,
        hanging,
        pushes_held: held as u64,
    };
    progress.finish(format_args!(
        "{:.0} pushes/s; send p99 {:.1} ms without pushes, {:.1} ms answering, {:.1} ms hanging",
        result.pushes_per_second,
        result.without_pushes.p99_ms,
        result.answering.p99_ms,
        result.hanging.p99_ms
    ));
    Ok(result)
}

/// The pushes that reached the answering service.
struct Arrivals {
    expected: usize,
    count: usize,
    /// From the first send to the last arrival.
    seconds: f64,
}

/// Sends with the push service answering, then waits for every push.
async fn send_answered(
    ctx: &Context,
    pairs: &[Pair],
    options: &Options,
    progress: &Progress,
) -> (SendResult, Arrivals) {
    let service = ctx.inbox.push_service();
    service.answer();
    let expected = options.messages as usize * options.subscriptions;
    let before = service.arrived();
    let started = Instant::now();
    let sends = send_all(ctx, pairs, options, "answering", progress).await;
    progress.update(format_args!("waiting for {expected} pushes"));
    let count = service.wait_for(before + expected, STALL).await - before;
    let seconds = (before + count)
        .checked_sub(1)
        .and_then(|last| service.arrival(last))
        .map_or(0.0, |last| last.duration_since(started).as_secs_f64());
    let arrivals = Arrivals {
        expected,
        count,
        seconds,
    };
    (sends, arrivals)
}

/// Sends with the push service hanging; how many pushes it holds.
async fn send_hung(
    ctx: &Context,
    pairs: &[Pair],
    options: &Options,
    progress: &Progress,
) -> (SendResult, usize) {
    let service = ctx.inbox.push_service();
    service.hang();
    let before = service.arrived();
    let sends = send_all(ctx, pairs, options, "hanging", progress).await;
    let held = service.wait_for(before + 1, HOLD_WAIT).await - before;
    (sends, held)
}

/// Logs in the pairs and creates their chats.
async fn prepare(
    ctx: &Context,
    options: &Options,
    first_user: u64,
    progress: &Progress,
) -> Result<Vec<Pair>, String> {
    let users = ctx
        .api
        .login_many(&ctx.inbox, first_user, options.pairs * 2, progress)
        .await?;
    let mut pairs = Vec::with_capacity(options.pairs);
    for (number, two) in users.chunks_exact(2).enumerate() {
        let chat = ctx.api.create_chat(two, &format!("push {number}")).await?;
        let endpoints = (0..options.subscriptions)
            .map(|browser| ctx.inbox.push_endpoint(&format!("{number}-{browser}")))
            .collect();
        pairs.push(Pair {
            sender: two[0].clone(),
            recipient: two[1].clone(),
            chat,
            endpoints,
        });
        progress.update(format_args!(
            "creating chats {}/{}",
            pairs.len(),
            options.pairs
        ));
    }
    Ok(pairs)
}

async fn subscribe_all(ctx: &Context, pairs: &[Pair], progress: &Progress) -> Result<(), String> {
    let subscriptions = subscriptions_of(pairs);
    let mut subscribing = stream::iter(&subscriptions)
        .map(|&(recipient, endpoint)| subscribe(ctx, recipient, endpoint))
        .buffer_unordered(SETUP_CONCURRENCY);
    let mut done = 0;
    while let Some(subscribed) = subscribing.next().await {
        subscribed?;
        done += 1;
        progress.update(format_args!("subscribing {done}/{}", subscriptions.len()));
    }
    Ok(())
}

fn subscriptions_of(pairs: &[Pair]) -> Vec<(&User, &str)> {
    pairs
        .iter()
        .flat_map(|pair| {
            pair.endpoints
                .iter()
                .map(|endpoint| (&pair.recipient, endpoint.as_str()))
        })
        .collect()
}

async fn subscribe(ctx: &Context, recipient: &User, endpoint: &str) -> Result<(), String> {
    ctx.api
        .subscribe_push(&recipient.token, endpoint, &browser_keys())
        .await
        .map_err(|error| {
            format!(
                "{error} (the server's PUSH_ALLOWED_HOSTS must list {})",
                ctx.inbox.host()
            )
        })
}

/// Removes every subscription; the pushes still queued for them are dropped.
async fn unsubscribe_all(ctx: &Context, pairs: &[Pair]) -> Result<(), String> {
    let subscriptions = subscriptions_of(pairs);
    let answers: Vec<Result<(), String>> = stream::iter(&subscriptions)
        .map(|&(recipient, endpoint)| ctx.api.unsubscribe_push(&recipient.token, endpoint))
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    answers.into_iter().collect()
}

/// A browser's subscription keys: an uncompressed P-256 public point and a
/// 16-byte auth secret, both base64url.
fn browser_keys() -> Value {
    let secret = loop {
        // Nearly every 32 random bytes is a valid scalar.
        if let Ok(secret) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
            break secret;
        }
    };
    let point = secret.public_key().to_encoded_point(false);
    json!({
        "p256dh": URL_SAFE_NO_PAD.encode(point.as_bytes()),
        "auth": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()),
    })
}

/// Sends `options.messages` messages, each pair's sender in turn, with at
/// most `options.window` unanswered.
async fn send_all(
    ctx: &Context,
    pairs: &[Pair],
    options: &Options,
    label: &str,
    progress: &Progress,
) -> SendResult {
    let started = Instant::now();
    let mut sends = stream::iter(0..options.messages)
        .map(|n| {
            let pair = &pairs[(n % pairs.len() as u64) as usize];
            async move {
                let began = Instant::now();
                let text = format!("push {n}");
                let answer = ctx
                    .api
                    .send_message(&pair.sender.token, &pair.chat, &text)
                    .await;
                answer.map(|()| began.elapsed())
            }
        })
        .buffer_unordered(options.window);
    let mut latencies = Vec::with_capacity(options.messages as usize);
    let mut errors = 0u64;
    while let Some(answer) = sends.next().await {
        match answer {
            Ok(took) => latencies.push(took.as_micros().min(u128::from(u32::MAX)) as u32),
            Err(_) => errors += 1,
        }
        progress.update(format_args!(
            "{label}: sent {}/{}",
            latencies.len() as u64 + errors,
            options.messages
        ));
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    SendResult {
        sent: options.messages,
        acked: latencies.len() as u64,
        errors,
        seconds,
        sends_per_second: latencies.len() as f64 / seconds.max(1e-9),
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        max_ms: percentile_ms(&latencies, 1.0),
    }
}
