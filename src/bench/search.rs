//! The `search` scenario: a store of mixed-language messages (`corpus`)
//! over private chats and groups, sent over the socket as clients would;
//! once the index has caught up, one user who is in some of those chats
//! searches from several keep-alive clients (`queries`), and the server's
//! own facts give the index's size beside the text it indexes.

mod corpus;
mod fill;
mod phrases;
mod queries;

use std::fmt::{self, Display};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::Context;
use super::api::{User, phone};
use super::measure::Progress;
use corpus::{Corpus, RARE, RARE_FOR_SEARCHER};
use queries::{QueryResult, Variant};

/// The bench user who logs in first on a fresh server, so is its admin,
/// and reads the index's size from `/api/admin/server`.
const ADMIN_USER: u64 = 5_000_000;
/// Chats the searcher is in (at most half of them, so most are not).
const SEARCHER_CHATS: usize = 50;
/// How long the index may take to catch up once everything is stored.
const INDEX_WAIT: Duration = Duration::from_secs(30 * 60);
/// The p99 a user in `SEARCHER_CHATS` chats should see.
pub const P99_TARGET_MS: f64 = 50.0;
/// Index bytes per byte of message text at most.
pub const INDEX_TARGET_RATIO: f64 = 2.0;

pub struct Options {
    pub messages: u64,
    pub chats: usize,
    /// Timed queries of each kind.
    pub queries: usize,
    pub clients: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    pub messages: u64,
    pub chats: usize,
    pub searcher_chats: usize,
    pub clients: usize,
    /// UTF-8 bytes of the text sent.
    pub text_bytes: u64,
    /// Acknowledged sends per second while filling.
    pub fill_per_second: f64,
    /// From the last acknowledgement to the last message being found.
    pub indexed_after_seconds: f64,
    /// What the stored messages added to the server's `searchIndexBytes`
    /// and `messagesBytes`; `None` when it does not report them.
    pub index_bytes: Option<u64>,
    pub messages_bytes: Option<u64>,
    pub index_bytes_per_message: Option<f64>,
    /// Index bytes per byte of message text.
    pub index_to_text: Option<f64>,
    pub queries: Vec<QueryResult>,
}

/// Logs in the scenario's admin, first of all the bench's users, so that
/// on a fresh server it is the admin.
pub async fn claim_admin(ctx: &Context) -> Result<(), String> {
    ctx.api
        .login(&ctx.inbox, &phone(ADMIN_USER))
        .await
        .map(drop)
}

pub async fn run(
    ctx: &Context,
    options: &Options,
    first_user: u64,
) -> Result<SearchResult, String> {
    let progress = Progress::new("search".into());
    let searcher_chats = SEARCHER_CHATS.min(options.chats / 2).max(1);
    let corpus = Corpus::new(options.messages, options.chats, searcher_chats);
    let before = index_facts(ctx).await;
    let people = fill::People::log_in(ctx, first_user, options.chats, &progress).await?;
    let chats = fill::create_chats(ctx, &people, options.chats, searcher_chats, &progress).await?;
    let fill = fill::fill(ctx, &people, &chats, &corpus, &progress).await?;
    let searcher = ctx.api.login(&ctx.inbox, &phone(first_user)).await?;
    let indexed_after = wait_until_searchable(ctx, &searcher, fill.finished, &progress).await?;
    let sizes = index_facts(ctx)
        .await
        .zip(before)
        .map(|(after, before)| Facts {
            index_bytes: after.index_bytes.saturating_sub(before.index_bytes),
            messages_bytes: after.messages_bytes.saturating_sub(before.messages_bytes),
        });
    let mut results = Vec::new();
    let base = ctx.api.url("");
    for kind in queries::kinds(&chats[..searcher_chats]) {
        progress.update(format_args!(
            "{} queries: {} with {} clients",
            kind.name, options.queries, options.clients
        ));
        let http = ctx.api.http();
        let result = queries::measure(
            http,
            &base,
            &searcher.token,
            &kind,
            options.queries,
            options.clients,
        )
        .await;
        results.push(result);
    }
    let result = SearchResult {
        messages: options.messages,
        chats: options.chats,
        searcher_chats,
        clients: options.clients,
        text_bytes: fill.text_bytes,
        fill_per_second: fill.per_second,
        indexed_after_seconds: indexed_after.as_secs_f64(),
        index_bytes: sizes.map(|sizes| sizes.index_bytes),
        messages_bytes: sizes.map(|sizes| sizes.messages_bytes),
        index_bytes_per_message: sizes
            .map(|sizes| sizes.index_bytes as f64 / options.messages as f64),
        index_to_text: sizes.map(|sizes| sizes.index_bytes as f64 / fill.text_bytes.max(1) as f64),
        queries: results,
    };
    progress.finish(format_args!(
        "filled at {:.0}/s, searchable {:.1} s later; worst p99 {:.1} ms; index {}",
        result.fill_per_second,
        result.indexed_after_seconds,
        result
            .queries
            .iter()
            .map(|query| query.p99_ms)
            .fold(0.0, f64::max),
        result.index_to_text.map_or_else(
            || "size n/a".to_owned(),
            |ratio| format!("{ratio:.2}x the text")
        ),
    ));
    Ok(result)
}

/// Waits until the rare term of the last message sent finds all its
/// plantings in the searcher's chats with no page `partial`; how long
/// after `since` that was.
async fn wait_until_searchable(
    ctx: &Context,
    searcher: &User,
    since: Instant,
    progress: &Progress,
) -> Result<Duration, String> {
    let probe = Variant {
        q: RARE[0].to_owned(),
        chat: None,
        expect: Some(RARE_FOR_SEARCHER),
    };
    let base = ctx.api.url("");
    loop {
        let answer = queries::search(ctx.api.http(), &base, &searcher.token, &probe, 50).await?;
        if answer.results == RARE_FOR_SEARCHER && !answer.partial {
            return Ok(since.elapsed());
        }
        if answer.results > RARE_FOR_SEARCHER || since.elapsed() > INDEX_WAIT {
            return Err(format!(
                "searching `{}` found {} messages{}, expected {RARE_FOR_SEARCHER}, {:.0} s after the last send",
                probe.q,
                answer.results,
                if answer.partial { " (partial)" } else { "" },
                since.elapsed().as_secs_f64()
            ));
        }
        progress.update(format_args!(
            "waiting for the index: `{}` finds {}/{RARE_FOR_SEARCHER}{}",
            probe.q,
            answer.results,
            if answer.partial { ", partial" } else { "" }
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug, Clone, Copy)]
struct Facts {
    index_bytes: u64,
    messages_bytes: u64,
}

/// The index's and the messages' sizes from `/api/admin/server`, as the
/// admin; `None` when the server does not say (an older server, or one
/// where the bench's admin is not an admin).
async fn index_facts(ctx: &Context) -> Option<Facts> {
    let admin = ctx.api.login(&ctx.inbox, &phone(ADMIN_USER)).await.ok()?;
    let facts: Value = ctx
        .api
        .http()
        .get(ctx.api.url("/api/admin/server"))
        .bearer_auth(&admin.token)
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .json()
        .await
        .ok()?;
    Some(Facts {
        index_bytes: facts["searchIndexBytes"].as_u64()?,
        messages_bytes: facts["messagesBytes"].as_u64()?,
    })
}

impl Display for SearchResult {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            out,
            "Search ({} messages in six languages over {} chats, {:.1} MB of text, filled at {:.0} sends/s and all found {:.1} s after the last; the searcher is in {} chats; {} keep-alive clients; a query reads pages of {} until it has {} results or the end)",
            self.messages,
            self.chats,
            self.text_bytes as f64 / 1e6,
            self.fill_per_second,
            self.indexed_after_seconds,
            self.searcher_chats,
            self.clients,
            queries::LIMIT,
            queries::LIMIT,
        )?;
        writeln!(
            out,
            "  {:<13} {:>9} {:>8} {:>8} {:>8} {:>6} {:>8} {:>7}  {:<11} q",
            "query",
            "queries/s",
            "p50 ms",
            "p99 ms",
            "max ms",
            "pages",
            "results",
            "errors",
            "p99 < 50 ms"
        )?;
        for query in &self.queries {
            query_row(out, query)?;
        }
        match (self.index_bytes_per_message, self.index_to_text) {
            (Some(per_message), Some(ratio)) => writeln!(
                out,
                "  index: {per_message:.0} bytes per message, {ratio:.2}x the message text (target: at most {INDEX_TARGET_RATIO:.0}x, {}); messages {} bytes each",
                if ratio <= INDEX_TARGET_RATIO {
                    "met"
                } else {
                    "missed"
                },
                self.messages_bytes.map_or_else(
                    || "n/a".to_owned(),
                    |bytes| format!("{:.0}", bytes as f64 / self.messages as f64)
                ),
            )?,
            _ => writeln!(
                out,
                "  index: n/a (the server reports no searchIndexBytes and messagesBytes to the bench's admin)"
            )?,
        }
        writeln!(out)
    }
}

fn query_row(out: &mut fmt::Formatter<'_>, query: &QueryResult) -> fmt::Result {
    let target = if query.p99_ms < P99_TARGET_MS {
        "met"
    } else {
        "missed"
    };
    let narrowed = match query.narrowed_to {
        0 => String::new(),
        chats => format!(", with chatId each of the searcher's {chats} chats in turn"),
    };
    writeln!(
        out,
        "  {:<13} {:>9.0} {:>8.2} {:>8.2} {:>8.1} {:>6.1} {:>8.1} {:>7}  {target:<11} {}{narrowed}",
        query.name,
        query.queries_per_second,
        query.p50_ms,
        query.p99_ms,
        query.max_ms,
        query.pages_per_query,
        query.results_per_query,
        query.errors + query.partial + query.wrong,
        query.q.join(" | "),
    )?;
    if let Some(error) = &query.first_error {
        writeln!(out, "                first error: {error}")?;
    }
    Ok(())
}
