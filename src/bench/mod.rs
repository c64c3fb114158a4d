//! `clavox bench`: a load generator shipped in the binary, as
//! `redis-benchmark` ships with Redis. It starts a server of its own (this
//! binary, as a child, on a scratch data directory, delivering codes to a
//! receiver inside the bench) or drives one at `--url`; logs users in by the
//! real path; and measures message fan-out, the highest sustained rate, idle
//! sockets, history reads, start-up, Web Push delivery to a stand-in push
//! service, redb's own ceiling on the disk, and (when asked) message search.

mod api;
mod changes;
mod history;
mod idle;
mod load;
mod measure;
mod otp;
mod process;
mod push;
mod push_service;
mod readers;
mod report;
mod search;
mod socket;
mod target;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use futures_util::{StreamExt, stream};

use crate::config::parse_duration;
use crate::store::ceiling;
use api::Api;
use load::Load;
use measure::Progress;
use otp::Inbox;
use report::{CeilingRow, Report, StartupResult};
use socket::{Counters, Protocol, Socket};
use target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Scenario {
    /// Users in chats of each size sending at --rate: delivery rate, latency, CPU, memory.
    Fanout,
    /// Raises the rate until p99 passes 50 ms or deliveries fall behind.
    Max,
    /// --idle-sockets authenticated sockets doing nothing: memory per socket.
    Idle,
    /// Concurrent readers of the newest page and of a page 90% deep in a long chat.
    History,
    /// Time to ready on an empty store and on one holding --history-messages.
    Startup,
    /// redb's own durable commit rate on this disk at batch sizes 1 to 1,000.
    Ceiling,
    /// Pushes per second to a stand-in push service, and send latency with it answering and hanging.
    Push,
    /// Search latency for a user in 50 of --search-chats chats holding --search-messages, and the
    /// index's size; only when asked (it fills a store of its own).
    Search,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  clavox bench\n  clavox bench --scenario fanout,max --chat-sizes 10 --rate 5000\n  \
clavox bench --json > results.json\n  \
OTP_WEBHOOK_URL=http://127.0.0.1:5099/otp PUSH_ALLOWED_HOSTS=127.0.0.1:5099 clavox serve &\n  \
clavox bench --url http://127.0.0.1:5000 --otp-listen 127.0.0.1:5099 --server-pid $!\n  \
clavox bench --url http://10.0.0.1:5000,http://10.0.0.2:5000 --otp-listen 10.0.0.9:5099 --scenario fanout,max\n\n\
Against a running server: its OTP_WEBHOOK_URL must point at --otp-listen, its PUSH_ALLOWED_HOSTS \
must list --otp-listen (the push scenario's stand-in push service answers there), and its rate limits \
(RATE_LIMIT_MAX_REQUESTS, AUTH_RATE_LIMIT_MAX, OTP_COOLDOWN) must let one address log in many users."
)]
pub struct BenchArgs {
    /// Scenarios to run, comma-separated (default: all of them but search).
    #[arg(long, value_enum, value_delimiter = ',')]
    scenario: Vec<Scenario>,
    /// Drive the server at this URL instead of starting one; several nodes of one cluster,
    /// comma-separated: REST goes to the first, and socket i to node i % n, so every node
    /// holds sockets and most chats span nodes. Start such a server with its limits lifted
    /// (MESSAGE_RATE=0 SOCKET_EVENT_RATE=0 and the others the README names), as the bench's
    /// own server has them, or what it refuses counts as errors and missing deliveries.
    #[arg(long)]
    url: Option<String>,
    /// The pid of the server at --url (comma-separated for several nodes), to read CPU time
    /// and memory from /proc: the report gives their sum.
    #[arg(long, requires = "url", value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Where the bench receives one-time codes (the server's OTP_WEBHOOK_URL is
    /// http://ADDR/otp) and pushes (the server's PUSH_ALLOWED_HOSTS lists ADDR).
    #[arg(long, default_value = "127.0.0.1:0")]
    otp_listen: SocketAddr,
    /// Realtime protocol: Clavox's /ws, or Socket.IO as the original design's clients speak.
    #[arg(long, value_enum, default_value_t = Protocol::Ws)]
    protocol: Protocol,
    /// Users in the fanout and max scenarios (rounded down to whole chats).
    #[arg(long, default_value_t = 200, value_parser = at_least_one)]
    users: usize,
    /// Chat sizes for fanout and max (2 = private chats).
    #[arg(long, value_delimiter = ',', default_value = "2,10", value_parser = at_least_two)]
    chat_sizes: Vec<usize>,
    /// Aggregate send rate for fanout, messages per second.
    #[arg(long, default_value_t = 2000.0, value_parser = positive_rate)]
    rate: f64,
    /// How long fanout sends.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    duration: Duration,
    /// The first rate max tries; each next step is 1.5 times faster.
    #[arg(long, default_value_t = 1000.0, value_parser = positive_rate)]
    max_start_rate: f64,
    /// How long each max step sends.
    #[arg(long, value_parser = parse_duration, default_value = "3s")]
    step_duration: Duration,
    /// At most this many max steps per chat size.
    #[arg(long, default_value_t = 10, value_parser = at_least_one)]
    max_steps: usize,
    /// Sockets in the idle scenario.
    #[arg(long, default_value_t = 5000, value_parser = at_least_one)]
    idle_sockets: usize,
    /// Messages in the history chat (also what startup restarts on).
    #[arg(long, default_value_t = 1_000_000)]
    history_messages: u64,
    /// Concurrent keep-alive readers in the history scenario.
    #[arg(long, default_value_t = 16, value_parser = at_least_one)]
    history_readers: usize,
    /// Edits and reactions made on the history chat afterwards, then its
    /// change feed read from the start, middle and end (0: skip).
    #[arg(long, default_value_t = 100_000)]
    history_changes: u64,
    /// How long each history page is read.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    history_duration: Duration,
    /// Messages the push scenario sends with the push service answering, and again hanging.
    #[arg(long, default_value_t = 5000, value_parser = at_least_one_message)]
    push_messages: u64,
    /// Private chats in the push scenario, each a sender and a recipient with no socket.
    #[arg(long, default_value_t = 50, value_parser = at_least_one)]
    push_pairs: usize,
    /// Push subscriptions (browsers) per recipient.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    push_subscriptions: usize,
    /// Sends the push scenario keeps unanswered at once.
    #[arg(long, default_value_t = 32, value_parser = at_least_one)]
    push_window: usize,
    /// Messages the search scenario stores, in six languages.
    #[arg(long, default_value_t = 1_000_000, value_parser = at_least_a_thousand_messages)]
    search_messages: u64,
    /// Chats the search scenario spreads them over (the searcher is in 50, or half if fewer).
    #[arg(long, default_value_t = 1000, value_parser = at_least_two)]
    search_chats: usize,
    /// Timed searches of each kind.
    #[arg(long, default_value_t = 500, value_parser = at_least_one)]
    search_queries: usize,
    /// Concurrent keep-alive clients searching.
    #[arg(long, default_value_t = 4, value_parser = at_least_one)]
    search_clients: usize,
    /// How long the ceiling commits batches of each size.
    #[arg(long, value_parser = parse_duration, default_value = "1500ms")]
    ceiling_duration: Duration,
    /// Directory for the scratch server's data and the ceiling files: the disk being measured.
    #[arg(long, default_value = ".")]
    work_dir: PathBuf,
    /// Print the results as JSON on stdout instead of the table (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json_file: Option<PathBuf>,
}

fn at_least(text: &str, least: usize) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(number) if number >= least => Ok(number),
        _ => Err(format!(
            "`{text}` is not a whole number of at least {least}"
        )),
    }
}

fn at_least_one(text: &str) -> Result<usize, String> {
    at_least(text, 1)
}

fn at_least_two(text: &str) -> Result<usize, String> {
    at_least(text, 2)
}

fn at_least_one_message(text: &str) -> Result<u64, String> {
    at_least(text, 1).map(|count| count as u64)
}

fn at_least_a_thousand_messages(text: &str) -> Result<u64, String> {
    at_least(text, 1000).map(|count| count as u64)
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a rate above 0 (messages per second)"
        )),
    }
}

/// What every scenario needs.
pub(crate) struct Context {
    epoch: Instant,
    target: Target,
    api: Api,
    inbox: Inbox,
    protocol: Protocol,
}

/// Connects one socket per token, several at a time.
async fn connect_all(
    ctx: &Context,
    tokens: &[&str],
    counters: &Arc<Counters>,
    progress: &Progress,
) -> Result<Vec<Socket>, String> {
    let mut sockets = Vec::with_capacity(tokens.len());
    let mut connecting = stream::iter(tokens.iter().enumerate())
        .map(|(index, token)| {
            let base = ctx.target.socket_base(index);
            async move { Socket::connect(&base, ctx.protocol, token, Arc::clone(counters)).await }
        })
        .buffered(64);
    while let Some(socket) = connecting.next().await {
        sockets.push(socket?);
        progress.update(format_args!(
            "connecting sockets {}/{}",
            sockets.len(),
            tokens.len()
        ));
    }
    Ok(sockets)
}

pub fn run(args: BenchArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    match runtime.block_on(bench(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => fail(&problem),
    }
}

fn fail(problem: &str) -> ExitCode {
    eprintln!("clavox bench: {problem}");
    ExitCode::FAILURE
}

/// A scratch directory for one run, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn create(parent: &Path) -> Result<Self, String> {
        let path = parent.join(format!(
            ".clavox-bench-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        crate::store::create_private_dir(&path).map_err(|error| error.to_string())?;
        Ok(Self(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn bench(args: BenchArgs) -> Result<(), String> {
    let scenarios = if args.scenario.is_empty() {
        // Search fills a million messages of its own: minutes more.
        Scenario::value_variants()
            .iter()
            .copied()
            .filter(|&scenario| scenario != Scenario::Search)
            .collect()
    } else {
        args.scenario.clone()
    };
    let wants = |scenario| scenarios.contains(&scenario);
    if args.url.is_some() && args.otp_listen.port() == 0 {
        return Err("with --url, pass --otp-listen 127.0.0.1:PORT and start the server with OTP_WEBHOOK_URL=http://127.0.0.1:PORT/otp (and PUSH_ALLOWED_HOSTS=127.0.0.1:PORT for the push scenario)".into());
    }
    let scratch = Scratch::create(&args.work_dir)?;
    let inbox = Inbox::start(args.otp_listen)
        .await
        .map_err(|error| format!("cannot listen on {} for codes: {error}", args.otp_listen))?;
    let target = match &args.url {
        Some(url) => Target::remote(url, &args.server_pid),
        None => {
            let target = Target::start_local(&scratch.0, inbox.url(), inbox.host()).await?;
            eprintln!(
                "clavox bench: started a server at {} on a scratch data directory",
                target.base_url()
            );
            target
        }
    };
    let mut ctx = Context {
        epoch: Instant::now(),
        api: Api::new(target.base_url()),
        target,
        inbox,
        protocol: args.protocol,
    };
    let mut report = Report {
        server: ctx.target.describe(),
        protocol: args.protocol,
        cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        ..Report::default()
    };
    let result = run_scenarios(&mut ctx, &args, &wants, &mut report, &scratch.0).await;
    let _ = ctx.target.stop().await;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    if let Some(path) = &args.json_file {
        std::fs::write(path, report.to_json() + "\n")
            .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    }
    result
}

async fn run_scenarios(
    ctx: &mut Context,
    args: &BenchArgs,
    wants: &impl Fn(Scenario) -> bool,
    report: &mut Report,
    scratch: &Path,
) -> Result<(), String> {
    if wants(Scenario::Startup) && ctx.target.is_local() {
        let empty = median_restart(ctx).await?;
        report.startup = Some(StartupResult {
            empty_ms: empty.as_secs_f64() * 1000.0,
            messages: 0,
            full_ms: None,
        });
    }
    if wants(Scenario::Search) {
        // Before anyone else logs in, so that its user is a fresh server's admin.
        search::claim_admin(ctx).await?;
    }
    for (index, &chat_size) in args.chat_sizes.iter().enumerate() {
        if !wants(Scenario::Fanout) && !wants(Scenario::Max) {
            break;
        }
        let load = Load::prepare(ctx, chat_size, args.users, 100_000 * (index as u64 + 1)).await?;
        // Each measurement starts from a quiet server: what the one before
        // left (a search backlog) would otherwise be counted against it.
        if wants(Scenario::Fanout) {
            ctx.target.settle().await;
            report
                .fanout
                .push(load.step(ctx, args.rate, args.duration, "fanout").await);
        }
        if wants(Scenario::Max) {
            ctx.target.settle().await;
            report.max.push(
                load.find_max(ctx, args.max_start_rate, args.step_duration, args.max_steps)
                    .await,
            );
        }
    }
    if wants(Scenario::Idle) {
        report.idle = Some(idle::run(ctx, args.idle_sockets, 2_000_000).await?);
    }
    let history_options = history::Options {
        messages: args.history_messages,
        readers: args.history_readers,
        duration: args.history_duration,
        changes: args.history_changes,
    };
    if wants(Scenario::History) {
        report.history = Some(history::run(ctx, &history_options, 3_000_000).await?);
    }
    if let Some(startup) = report.startup.as_mut() {
        if report.history.is_none() {
            history::fill_only(ctx, &history_options, 3_000_000).await?;
        }
        startup.messages = history_options.messages;
        startup.full_ms = Some(median_restart(ctx).await?.as_secs_f64() * 1000.0);
    }
    if wants(Scenario::Ceiling) {
        report.ceiling = measure_ceiling(scratch, args.ceiling_duration).await?;
    }
    if wants(Scenario::Search) {
        let options = search::Options {
            messages: args.search_messages,
            chats: args.search_chats,
            queries: args.search_queries,
            clients: args.search_clients,
        };
        report.search = Some(search::run(ctx, &options, 5_000_001).await?);
    }
    // Last: pushes left queued by the hanging phase are dropped afterwards,
    // work that would disturb whatever ran next.
    if wants(Scenario::Push) {
        let options = push::Options {
            pairs: args.push_pairs,
            messages: args.push_messages,
            subscriptions: args.push_subscriptions,
            window: args.push_window,
        };
        report.push = Some(push::run(ctx, &options, 4_000_000).await?);
    }
    Ok(())
}

/// Restarts the local server three times; the median time to ready.
async fn median_restart(ctx: &mut Context) -> Result<Duration, String> {
    let progress = Progress::new("startup".into());
    let mut times = Vec::new();
    for round in 1..=3 {
        progress.update(format_args!("restart {round}/3"));
        times.push(ctx.target.restart().await?);
    }
    times.sort();
    progress.finish(format_args!(
        "ready in {:.0} ms (median of 3)",
        times[1].as_secs_f64() * 1000.0
    ));
    Ok(times[1])
}

async fn measure_ceiling(dir: &Path, duration: Duration) -> Result<Vec<CeilingRow>, String> {
    let progress = Progress::new("ceiling".into());
    let mut rows = Vec::new();
    for batch in [1, 10, 100, 1000] {
        progress.update(format_args!("committing batches of {batch}"));
        let dir = dir.to_owned();
        let rate = tokio::task::spawn_blocking(move || ceiling::commit_rate(&dir, batch, duration))
            .await
            .map_err(|error| error.to_string())?
            .map_err(|error| format!("measuring redb: {error}"))?;
        rows.push(CeilingRow {
            batch,
            records_per_second: rate.records_per_second(),
        });
    }
    progress.finish(format_args!(
        "{}",
        rows.iter()
            .map(|row| format!("{}: {:.0}/s", row.batch, row.records_per_second))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(rows)
}
