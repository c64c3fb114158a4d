//! Concurrent keep-alive readers of one URL, for the scenarios that measure
//! reads: their rate and latency.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::Context;
use super::measure::percentile_ms;
use super::report::PageResult;

/// `readers` keep-alive clients getting `url` over and over for
/// `duration`; `page` is left 0 for the caller to fill in.
pub async fn hammer(
    ctx: &Context,
    token: &str,
    url: &str,
    readers: usize,
    duration: Duration,
) -> PageResult {
    let started = Instant::now();
    let deadline = started + duration;
    let clients = (0..readers).map(|_| {
        let http = ctx.api.http().clone();
        let url = url.to_owned();
        let token = token.to_owned();
        async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let began = Instant::now();
                let answer = http.get(&url).bearer_auth(&token).send().await;
                let ok = match answer {
                    Ok(response) if response.status().is_success() => {
                        response.bytes().await.is_ok()
                    }
                    _ => false,
                };
                if ok {
                    latencies.push(began.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }
    });
    let answers = join_all(clients).await;
    let elapsed = started.elapsed().as_secs_f64();
    let errors = answers.iter().map(|(_, errors)| errors).sum();
    let mut latencies: Vec<u32> = answers
        .into_iter()
        .flat_map(|(latencies, _)| latencies)
        .collect();
    latencies.sort_unstable();
    PageResult {
        page: 0,
        requests: latencies.len() as u64,
        requests_per_second: latencies.len() as f64 / elapsed,
        p50_ms: percentile_ms(&latencies, 0.5),
        p99_ms: percentile_ms(&latencies, 0.99),
        errors,
    }
}
