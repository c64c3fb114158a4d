//! The `idle` scenario: many authenticated sockets doing nothing, and what
//! each costs the server in memory.

use std::time::Duration;

use super::measure::Progress;
use super::report::IdleResult;
use super::socket::Counters;
use super::{Context, connect_all};

/// Sockets per logged-in user: people have a phone and a laptop or two.
const SOCKETS_PER_USER: usize = 5;
/// Time for the server's memory to settle after a burst of work.
const SETTLE: Duration = Duration::from_secs(2);

pub async fn run(ctx: &Context, sockets: usize, first_user: u64) -> Result<IdleResult, String> {
    let progress = Progress::new("idle".into());
    let users = sockets.div_ceil(SOCKETS_PER_USER).max(1);
    let accounts = ctx
        .api
        .login_many(&ctx.inbox, first_user, users, &progress)
        .await?;
    tokio::time::sleep(SETTLE).await;
    let before = ctx.target.usage();
    let tokens: Vec<&str> = (0..sockets)
        .map(|n| accounts[n % users].token.as_str())
        .collect();
    let counters = Counters::new(ctx.epoch);
    let open = connect_all(ctx, &tokens, &counters, &progress).await?;
    tokio::time::sleep(SETTLE).await;
    let after = ctx.target.usage();
    let bytes_per_socket = match (before, after) {
        (Some(before), Some(after)) => {
            Some(after.rss_bytes.saturating_sub(before.rss_bytes) as f64 / sockets as f64)
        }
        _ => None,
    };
    drop(open);
    let result = IdleResult {
        sockets,
        users,
        rss_before_mib: before.map(|usage| usage.rss_bytes as f64 / (1024.0 * 1024.0)),
        rss_after_mib: after.map(|usage| usage.rss_bytes as f64 / (1024.0 * 1024.0)),
        bytes_per_socket,
    };
    progress.finish(format_args!(
        "{sockets} sockets open{}",
        bytes_per_socket.map_or(String::new(), |bytes| format!(
            ", {:.1} KiB each",
            bytes / 1024.0
        ))
    ));
    Ok(result)
}
