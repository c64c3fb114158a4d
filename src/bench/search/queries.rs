//! The searches the scenario times, and how one is made: a query reads
//! `GET /api/search` pages of `LIMIT` until it holds `LIMIT` results or
//! `next` is null, as a client filling its first screen of results does
//! (a page may come back short while `next` is set: the server bounds each
//! request's work).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use futures_util::future::join_all;
use serde::Deserialize;

use super::corpus::{COMMON, RARE, RARE_FOR_SEARCHER};
use crate::bench::measure::percentile_ms;

/// Results a query asks for per page, and wants in all.
pub const LIMIT: usize = 20;
/// A query still reading after this many pages is counted as an error.
const MAX_PAGES: usize = 1_000;
/// Untimed queries of each kind before the timed ones.
const WARM_UP: usize = 20;

/// One kind of query, asked in turn with each of its variants.
pub struct Kind {
    pub name: &'static str,
    pub variants: Vec<Variant>,
}

pub struct Variant {
    pub q: String,
    /// Narrowed to this chat with `chatId`; every result must be from it.
    pub chat: Option<String>,
    /// How many results the whole search must find, when that is known.
    pub expect: Option<usize>,
}

impl Variant {
    fn words(q: &str) -> Self {
        Self {
            q: q.to_owned(),
            chat: None,
            expect: None,
        }
    }
}

/// The kinds of the report, for the searcher whose chats are `chats`.
pub fn kinds(chats: &[String]) -> Vec<Kind> {
    let words = |list: &[&str]| list.iter().map(|q| Variant::words(q)).collect();
    vec![
        Kind {
            name: "common term",
            variants: words(COMMON),
        },
        Kind {
            name: "rare term",
            variants: RARE
                .iter()
                .map(|term| Variant {
                    expect: Some(RARE_FOR_SEARCHER),
                    ..Variant::words(term)
                })
                .collect(),
        },
        Kind {
            name: "one term",
            variants: words(&["laporan", "tiket", "coffee", "dentist", "proposal"]),
        },
        Kind {
            name: "three terms",
            variants: words(&[
                "kopi susu besok",
                "train tickets tomorrow",
                "laporan bulanan minggu",
                "monthly report Friday",
            ]),
        },
        Kind {
            name: "CJK, 2 chars",
            variants: words(&["东京", "会议", "資料", "切符", "项目", "회의"]),
        },
        Kind {
            name: "Thai word",
            variants: words(&["ประชุม", "รายงาน", "โรงแรม", "กาแฟ"]),
        },
        Kind {
            name: "one chat",
            variants: chats
                .iter()
                .map(|chat| Variant {
                    chat: Some(chat.clone()),
                    ..Variant::words(COMMON[0])
                })
                .collect(),
        },
    ]
}

#[derive(Deserialize)]
struct Page {
    results: Vec<Found>,
    next: Option<String>,
    #[serde(default)]
    partial: bool,
}

#[derive(Deserialize)]
struct Found {
    chat: FoundChat,
}

#[derive(Deserialize)]
struct FoundChat {
    id: String,
}

/// What one search found.
#[derive(Debug, Default)]
pub struct Answer {
    pub results: usize,
    pub pages: usize,
    /// Some page said the index had not caught up.
    pub partial: bool,
    /// Results outside the chat the search was narrowed to.
    pub strays: usize,
}

/// Searches as `token` until `want` results or the end; an error for a
/// refused or unreadable page.
pub async fn search(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    variant: &Variant,
    want: usize,
) -> Result<Answer, String> {
    let limit = want.clamp(1, 50).to_string();
    let mut answer = Answer::default();
    let mut before: Option<String> = None;
    loop {
        let mut params = vec![("q", variant.q.as_str()), ("limit", limit.as_str())];
        if let Some(chat) = &variant.chat {
            params.push(("chatId", chat));
        }
        if let Some(cursor) = &before {
            params.push(("before", cursor));
        }
        let url = format!("{base}/api/search");
        let response = http
            .get(&url)
            .query(&params)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|error| format!("GET {url}?q={}: {error}", variant.q))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(format!(
                "GET {url}?q={} answered {status}: {body}",
                variant.q
            ));
        }
        let page: Page = response
            .json()
            .await
            .map_err(|error| format!("GET {url}?q={}: {error}", variant.q))?;
        answer.pages += 1;
        answer.results += page.results.len();
        answer.partial |= page.partial;
        if let Some(chat) = &variant.chat {
            answer.strays += page
                .results
                .iter()
                .filter(|found| &found.chat.id != chat)
                .count();
        }
        match page.next {
            Some(next) if answer.results < want && answer.pages < MAX_PAGES => before = Some(next),
            Some(_) if answer.results < want => {
                return Err(format!(
                    "q={}: still paging after {MAX_PAGES} pages",
                    variant.q
                ));
            }
            _ => return Ok(answer),
        }
    }
}

/// Timings of one kind of query.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResult {
    pub name: &'static str,
    /// The queries asked in turn.
    pub q: Vec<String>,
    /// Chats the queries were narrowed to in turn (`chatId`), if any.
    pub narrowed_to: usize,
    pub queries: usize,
    pub queries_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub pages_per_query: f64,
    pub results_per_query: f64,
    /// Refused or unreadable pages.
    pub errors: usize,
    /// Queries with a page that said the index had not caught up.
    pub partial: usize,
    /// Queries that found other than they must (a rare term's plantings,
    /// results outside the chat narrowed to).
    pub wrong: usize,
    /// What the first refused or unreadable page said.
    pub first_error: Option<String>,
}

/// Asks `kind`'s variants `count` times from `clients` concurrent
/// keep-alive clients, after an untimed warm-up.
pub async fn measure(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    kind: &Kind,
    count: usize,
    clients: usize,
) -> QueryResult {
    run(http, base, token, kind, WARM_UP.min(count), clients).await;
    let started = Instant::now();
    let tallies = run(http, base, token, kind, count, clients).await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut total = Tally::default();
    for tally in tallies {
        total.latencies.extend(tally.latencies);
        total.pages += tally.pages;
        total.results += tally.results;
        total.errors += tally.errors;
        total.partial += tally.partial;
        total.wrong += tally.wrong;
        total.first_error = total.first_error.or(tally.first_error);
    }
    total.latencies.sort_unstable();
    let answered = total.latencies.len().max(1) as f64;
    QueryResult {
        name: kind.name,
        q: distinct(kind.variants.iter().map(|variant| variant.q.clone())),
        narrowed_to: kind.variants.iter().filter(|v| v.chat.is_some()).count(),
        queries: count,
        queries_per_second: total.latencies.len() as f64 / elapsed.max(1e-9),
        p50_ms: percentile_ms(&total.latencies, 0.5),
        p99_ms: percentile_ms(&total.latencies, 0.99),
        max_ms: percentile_ms(&total.latencies, 1.0),
        pages_per_query: total.pages as f64 / answered,
        results_per_query: total.results as f64 / answered,
        errors: total.errors,
        partial: total.partial,
        wrong: total.wrong,
        first_error: total.first_error,
    }
}

fn distinct(all: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for q in all {
        if !seen.contains(&q) {
            seen.push(q);
        }
    }
    seen
}

#[derive(Default)]
struct Tally {
    /// Microseconds per answered query.
    latencies: Vec<u32>,
    pages: usize,
    results: usize,
    errors: usize,
    partial: usize,
    wrong: usize,
    first_error: Option<String>,
}

async fn run(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    kind: &Kind,
    count: usize,
    clients: usize,
) -> Vec<Tally> {
    let next = AtomicUsize::new(0);
    let client = || async {
        let mut tally = Tally::default();
        loop {
            let n = next.fetch_add(1, Ordering::Relaxed);
            if n >= count {
                return tally;
            }
            let variant = &kind.variants[n % kind.variants.len()];
            let began = Instant::now();
            match search(http, base, token, variant, LIMIT).await {
                Ok(answer) => {
                    let micros = began.elapsed().as_micros().min(u128::from(u32::MAX));
                    tally.latencies.push(micros as u32);
                    tally.pages += answer.pages;
                    tally.results += answer.results;
                    tally.partial += usize::from(answer.partial);
                    let missed = variant.expect.is_some_and(|want| want != answer.results);
                    tally.wrong += usize::from(missed || answer.strays > 0);
                }
                Err(error) => {
                    tally.errors += 1;
                    tally.first_error.get_or_insert(error);
                }
            }
        }
    };
    join_all((0..clients).map(|_| client())).await
}
