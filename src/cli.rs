//! The command line: `clavox serve` and friends.

use std::net::SocketAddr;
use std::process::ExitCode;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::admin::{self, Request};
use crate::app;
use crate::auth::delivery::{self, OtpSender};
use crate::auth::keys::Keys;
use crate::backup;
use crate::bus::Hub;
use crate::bus::nats::NatsBus;
use crate::config::{BusKind, Config, LogFormat, StoreKind};
use crate::env_file::{self, EnvFileError};
use crate::http::AppState;
use crate::listener::Port;
use crate::notify::webpush::VapidKey;
use crate::store::{Query, Store, StoreError, create_private_dir};
use crate::tls::Https;
use crate::{join, lan, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "clavox",
    version,
    about = "A self-hosted chat server in one binary",
    long_about = "A self-hosted chat server in one binary: phone-number login, private and group chats, \
realtime delivery over WebSocket, and a web app built in.\n\nStart it with `clavox serve`, open the printed \
URL, and log in with a phone number: the one-time code appears in this server's log unless SMS delivery is set up.",
    after_help = "Examples:\n  clavox serve\n  clavox serve --port 8080 --data-dir /var/lib/clavox\n  PORT=8080 JWT_EXPIRE=1h clavox serve\n  clavox users disable +6281234567890\n  clavox users promote +6281234567890\n  clavox backup --out clavox-backup.tar\n  clavox healthcheck --port 8080\n  clavox bench"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the chat server (settings come from flags, environment variables, or ./.env).
    Serve(Box<Config>),
    /// Manage accounts: list, invite, disable, enable, unlock (works while the server runs).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Write a consistent backup of the data directory to a file, even while the server runs.
    #[command(
        after_help = "Restore with `clavox restore --from FILE --data-dir NEW_DIR` while no server uses NEW_DIR."
    )]
    Backup {
        /// The backup file to write (a tar archive).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        data: DataDir,
    },
    /// Unpack a backup into a new, empty data directory and check that it opens.
    Restore {
        /// The backup file written by `clavox backup`.
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        data: DataDir,
    },
    /// Add demo people, chats and messages to try Clavox out.
    Seed {
        #[command(flatten)]
        data: DataDir,
    },
    /// Bring the data directory to this version's layout (the server also does this at start),
    /// or, with --to postgres, copy it into an empty PostgreSQL database for several nodes.
    Migrate {
        #[command(flatten)]
        data: DataDir,
        /// Copy the data directory's store into another engine (`postgres`: the database at
        /// DATABASE_URL, which must be empty). Stop the server first; copy the uploads
        /// directory to the nodes' shared UPLOADS_DIR yourself.
        #[arg(long, value_enum, ignore_case = true)]
        to: Option<StoreKind>,
        /// PostgreSQL connection URL for --to postgres.
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<crate::config::Secret>,
    },
    /// Measure a server under load: message fan-out, the highest sustained rate, idle sockets,
    /// history reads, start-up, and the disk's ceiling (starts a scratch server unless --url).
    Bench(Box<crate::bench::BenchArgs>),
    /// Exit 0 if a server on this machine answers /healthz (for container health checks).
    Healthcheck {
        /// The server's port.
        #[arg(long, env = "PORT", default_value_t = 5000)]
        port: u16,
        /// The address to ask; the server must listen there.
        #[arg(long = "address", default_value = "127.0.0.1")]
        address: std::net::IpAddr,
    },
}

/// The data directory an admin command acts on.
#[derive(Debug, Args)]
struct DataDir {
    /// The server's data directory.
    #[arg(
        long = "data-dir",
        env = "CLAVOX_DATA_DIR",
        default_value = "./clavox-data"
    )]
    data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// List every account.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Let a number sign up while REGISTRATION=invite.
    Invite {
        /// The phone number, e.g. +6281234567890.
        phone: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Sign a user out everywhere and stop them logging in.
    Disable {
        phone: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Let a disabled user log in again.
    Enable {
        phone: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Let a number locked out by too many wrong codes log in again before its 24 hours pass.
    Unlock {
        phone: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Make a user an admin of this server (the admin console in the web app).
    Promote {
        phone: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Make an admin a member again (the last admin stays one).
    Demote {
        phone: String,
        #[command(flatten)]
        data: DataDir,
    },
}

/// Reads `./.env`, parses the command line and runs the command.
pub fn run() -> ExitCode {
    // `.env` fills in variables that are not already set, before any thread
    // starts and before parsing, so flags > environment > .env > defaults
    // holds by itself.
    let env_file = env_file::load();
    let cli = Cli::parse();
    if let Err(problem) = env_file {
        return refuse(&cli.command, &problem);
    }
    match cli.command {
        Command::Serve(config) => serve(*config),
        Command::Bench(args) => crate::bench::run(*args),
        Command::Healthcheck { port, address } => healthcheck(SocketAddr::new(address, port)),
        Command::Users(command) => {
            let (data, request) = match command {
                UsersCommand::List { data } => (data, Request::ListUsers),
                UsersCommand::Invite { phone, data } => (data, Request::Invite { phone }),
                UsersCommand::Disable { phone, data } => (data, Request::Disable { phone }),
                UsersCommand::Enable { phone, data } => (data, Request::Enable { phone }),
                UsersCommand::Unlock { phone, data } => (data, Request::Unlock { phone }),
                UsersCommand::Promote { phone, data } => (data, Request::Promote { phone }),
                UsersCommand::Demote { phone, data } => (data, Request::Demote { phone }),
            };
            administer(&data.data_dir, request)
        }
        Command::Backup { out, data } => match std::path::absolute(&out) {
            Ok(out) => administer(&data.data_dir, Request::Backup { out }),
            Err(error) => fail(&format!("cannot use {}: {error}", out.display())),
        },
        Command::Restore { from, data } => match backup::restore(&from, &data.data_dir) {
            Ok(restored) => {
                println!(
                    "restored {} users and {} uploads into {}; start the server with --data-dir {}",
                    restored.users,
                    restored.uploads,
                    data.data_dir.display(),
                    data.data_dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(error) => fail(&format!("restore failed: {error}")),
        },
        Command::Seed { data } => administer(&data.data_dir, Request::Seed),
        Command::Migrate {
            data,
            to: Some(StoreKind::Postgres),
            database_url,
        } => copy_to_postgres(&data.data_dir, database_url.as_ref()),
        Command::Migrate { data, .. } => administer(&data.data_dir, Request::Migrate),
    }
}

/// Stops before running `command` because of `.env`, saying so the way
/// that command reports problems.
fn refuse(command: &Command, problem: &EnvFileError) -> ExitCode {
    if let Command::Serve(config) = command {
        // Through the logger, so that under LOG_FORMAT=json it is JSON too.
        telemetry::init(config.log_format, std::io::stdout);
        tracing::error!("{problem}");
        return ExitCode::from(2);
    }
    fail(&problem.to_string())
}

fn fail(problem: &str) -> ExitCode {
    eprintln!("clavox: {problem}");
    ExitCode::FAILURE
}

/// Runs an admin command on the server using `data_dir`, or, with no server
/// running, directly on the data directory.
fn administer(data_dir: &Path, request: Request) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let response = runtime.block_on(async {
        if let Some(response) = admin::ask(data_dir, &request).await? {
            return Ok(response);
        }
        if !crate::data_dir::DataDir::new(data_dir).database().exists() && !matches!(request, Request::Seed | Request::Status) {
            return Err(format!("{} holds no Clavox data; pass --data-dir or set CLAVOX_DATA_DIR", data_dir.display()));
        }
        let store = Store::open(data_dir).map_err(|error| match error {
            StoreError::AlreadyOpen => format!("a server is using {} but its admin socket does not answer; is it an older version?", data_dir.display()),
            other => format!("cannot open {}: {other}", data_dir.display()),
        })?;
        let context = admin::Context { store: store.clone(), bus: Arc::new(Hub::new()), data_dir: data_dir.to_owned(), live: false };
        let response = admin::execute(&context, request).await;
        store.close().await;
        Ok(response)
    });
    match response {
        Ok(response) => {
            let output = response.lines.join("\n");
            if response.ok {
                println!("{output}");
                ExitCode::SUCCESS
            } else {
                fail(&output)
            }
        }
        Err(problem) => fail(&problem),
    }
}

/// `clavox migrate --to postgres`: the embedded store, brought to this
/// version's layout, copied into an empty PostgreSQL database in one
/// transaction, with a line of progress per table and every 100,000 entries.
fn copy_to_postgres(data_dir: &Path, url: Option<&crate::config::Secret>) -> ExitCode {
    let Some(url) = url.map(|url| url.expose().to_owned()) else {
        return fail(
            "--to postgres needs DATABASE_URL (or --database-url) naming an empty database",
        );
    };
    let layout = crate::data_dir::DataDir::new(data_dir);
    if !layout.database().exists() {
        return fail(&format!(
            "{} holds no Clavox data; pass --data-dir or set CLAVOX_DATA_DIR",
            data_dir.display()
        ));
    }
    let uploads = layout.uploads();
    // The keys the embedded server made for itself become the nodes'
    // shared ones, so nobody is signed out and push subscriptions still work.
    let secrets: Vec<(&str, String)> = [
        ("jwt", layout.jwt_secret()),
        ("vapid", data_dir.join(crate::data_dir::VAPID_KEY)),
    ]
    .into_iter()
    .filter_map(|(name, path)| {
        let kept = std::fs::read_to_string(path).ok()?;
        let kept = if name == "jwt" {
            kept.trim().to_owned()
        } else {
            kept
        };
        Some((name, kept))
    })
    .collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let data_dir = data_dir.to_owned();
    let copied = runtime.block_on(async move {
        let store = Store::open(&data_dir).map_err(|error| match error {
            StoreError::AlreadyOpen => format!(
                "a server is using {}; stop it first, so the copy is complete",
                data_dir.display()
            ),
            other => format!("cannot open {}: {other}", data_dir.display()),
        })?;
        let copying = store.clone();
        let copied = tokio::task::spawn_blocking(move || {
            let mut shown = 0;
            copying.copy_to_postgres(&url, &secrets, |table, done, total| {
                if done == total || done >= shown + 100_000 {
                    shown = if done == total { 0 } else { done };
                    println!("{table}: {done} of {total}");
                }
            })
        })
        .await
        .map_err(|error| format!("the copy stopped: {error}"))?;
        store.close().await;
        copied.map_err(|error| format!("cannot copy into PostgreSQL: {error}"))
    });
    match copied {
        Ok(copied) => {
            println!(
                "copied {copied} entries; start the nodes with STORE=postgres, this DATABASE_URL and UPLOADS_DIR holding a copy of {}",
                uploads.display()
            );
            ExitCode::SUCCESS
        }
        Err(problem) => fail(&problem),
    }
}

/// Asks `GET /healthz` over plain HTTP/1.0: no client library, no DNS, so it
/// works in an image that holds nothing but this binary.
fn healthcheck(address: SocketAddr) -> ExitCode {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_secs(3);
    let answer = (|| -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect_timeout(&address, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        write!(stream, "GET /healthz HTTP/1.0\r\nHost: {address}\r\n\r\n")?;
        let mut response = String::new();
        stream.take(4096).read_to_string(&mut response)?;
        Ok(response)
    })();
    match answer {
        Ok(response)
            if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") =>
        {
            println!("healthy: {address} answered /healthz");
            ExitCode::SUCCESS
        }
        Ok(response) => {
            let status = response.lines().next().unwrap_or("no answer");
            eprintln!("unhealthy: {address} answered {status}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("unhealthy: cannot reach {address}: {error}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> ExitCode {
    telemetry::init(config.log_format, std::io::stdout);
    if let Err(problem) = config.validate() {
        // Through the logger, so that under LOG_FORMAT=json it is JSON too.
        tracing::error!("invalid setting: {problem}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(start(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            tracing::error!("{problem}");
            ExitCode::FAILURE
        }
    }
}

async fn start(config: Config) -> Result<(), String> {
    let (store, keys) = match (config.store, &config.database_url) {
        (StoreKind::Redb, _) => {
            let store = Store::open(&config.data_dir).map_err(|error| {
                format!(
                    "cannot open the data directory {}: {error}",
                    config.data_dir.display()
                )
            })?;
            (store, Keys::load(&config)?)
        }
        (StoreKind::Postgres, Some(url)) => {
            // The data directory still holds this node's own files
            // (certificates, the admin socket).
            create_private_dir(&config.data_dir).map_err(|error| error.to_string())?;
            let store = Store::open_postgres(url.expose())
                .await
                .map_err(|error| format!("cannot open the PostgreSQL store: {error}"))?;
            let keys = Keys::load_shared(&config, &store).await?;
            share_push_key(&config.data_dir, &store).await?;
            (store, keys)
        }
        (StoreKind::Postgres, None) => {
            return Err(
                "STORE=postgres needs DATABASE_URL (postgres://user:password@host/database)".into(),
            );
        }
    };
    let sender = delivery::from_config(&config)?;
    let address = SocketAddr::new(config.host, config.port);
    let listener = bind(address, "PORT").await?;
    let local = listener.local_addr().map_err(|error| error.to_string())?;
    let mut ports = vec![Port::plain(listener)];
    // Reading or making certificates is blocking file and key work.
    let tls_config = config.clone();
    let https = tokio::task::spawn_blocking(move || Https::prepare(&tls_config))
        .await
        .map_err(|error| format!("cannot prepare HTTPS: {error}"))??;
    let mut secure = None;
    if let Some(https) = &https {
        let listener = bind(SocketAddr::new(config.host, config.tls_port), "TLS_PORT").await?;
        let port = listener
            .local_addr()
            .map_err(|error| error.to_string())?
            .port();
        secure = Some(https.public(port));
        ports.push(Port {
            listener,
            tls: Some(https.acceptor.clone()),
        });
    }
    // Everything is prepared before the banner: "ready" means ready.
    let hub = Hub::new();
    let cluster = match (config.bus, &config.nats_url) {
        (BusKind::Nats, Some(urls)) => Some(NatsBus::connect(urls, hub.clone()).await?),
        _ => None,
    };
    let mut state = AppState::on_bus(
        config,
        store,
        &keys,
        Arc::clone(&sender),
        hub,
        cluster.clone(),
    )?;
    if let Some(secure) = secure {
        state = state.with_https(secure);
    }
    let mdns = state
        .config
        .mdns
        .then(|| lan::announce(local))
        .and_then(|announced| {
            announced
                .inspect_err(|problem| {
                    tracing::info!("not announced on the local network: {problem}");
                })
                .ok()
        });
    announce(&state, local, sender.as_ref(), mdns.is_some());
    let upkeep_stop = tokio_util::sync::CancellationToken::new();
    let upkeep = https
        .as_ref()
        .map(|https| https.upkeep(upkeep_stop.clone()));
    let served = app::serve(ports, state, shutdown_signal()).await;
    upkeep_stop.cancel();
    if let Some(upkeep) = upkeep {
        let _ = upkeep.await;
    }
    if let Some(cluster) = cluster {
        cluster.leave().await;
    }
    served.map_err(|error| format!("server error: {error}"))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Nodes sharing a store sign pushes with one key, so a browser subscribed
/// through one node gets pushes sent by any: the first node's, kept in the
/// store, is written to each node's data directory.
async fn share_push_key(data_dir: &Path, store: &Store) -> Result<(), String> {
    let pem = store
        .apply(crate::store::ops::SharedSecret {
            name: "vapid",
            candidate: VapidKey::new_pem()?,
        })
        .await
        .map_err(|error| format!("cannot read the shared Web Push key: {error}"))?;
    VapidKey::keep(data_dir, &pem)
}

/// Binds `address`; a port in use stops the start with one line naming
/// the setting that picks it.
async fn bind(address: SocketAddr, setting: &str) -> Result<TcpListener, String> {
    TcpListener::bind(address).await.map_err(|error| {
        format!(
            "cannot listen on {address}: {error} (is another server using port {}? set {setting} to change it)",
            address.port()
        )
    })
}

/// The start-up banner: what runs, where its data is, how to reach it,
/// and (with HTTPS) the secure address, the authority's fingerprint and a
/// QR code of the address for phones.
fn announce(state: &AppState, local: SocketAddr, sender: &dyn OtpSender, on_mdns: bool) {
    let config = &state.config;
    let version = env!("CARGO_PKG_VERSION");
    let data_dir = config.data_dir.display().to_string();
    let delivery = sender.describe();
    let mut urls = lan::urls(local);
    if on_mdns {
        urls.push(format!("http://{}:{}", lan::MDNS_HOST, local.port()));
    }
    let secure = state.https.as_deref();
    // Phones reach the first LAN address; loopback serves this machine.
    let secure_urls: Vec<String> = secure
        .map(|https| match &https.domain {
            // Under ACME the certificate names the public name only.
            Some(domain) => vec![join::https_url(domain, https.port)],
            None => {
                let mut urls = lan::urls_with(local, "https", https.port);
                if on_mdns {
                    urls.push(format!("https://{}:{}", lan::MDNS_HOST, https.port));
                }
                urls
            }
        })
        .unwrap_or_default();
    let phone_url = secure_urls
        .iter()
        .find(|url| !url.contains("127.0.0.1") && !url.contains("[::1]"))
        .or(secure_urls.first());
    let authority = secure.and_then(|https| https.authority.as_ref());
    let fingerprint = authority.map(|authority| authority.fingerprint.as_str());
    let join_url = urls
        .iter()
        .find(|url| !url.contains("127.0.0.1"))
        .or(urls.first())
        .map(|url| format!("{url}/join"));
    // Until someone signs up, whoever does first runs the server.
    let awaiting_admin = state
        .store
        .read()
        .and_then(|reader| reader.admins())
        .is_ok_and(|admins| admins.is_empty());
    match config.log_format {
        LogFormat::Json => {
            tracing::info!(
                version,
                awaiting_admin,
                data_dir,
                otp_delivery = %delivery,
                urls = ?urls,
                https_urls = ?secure_urls,
                ca_fingerprint = fingerprint,
                ca_new = authority.map(|authority| authority.new),
                join_url,
                "clavox is ready"
            );
        }
        LogFormat::Pretty => {
            tracing::info!("Clavox {version} is ready");
            for url in &urls {
                tracing::info!("  open:          {url}");
            }
            for url in &secure_urls {
                tracing::info!("  https:         {url}");
            }
            tracing::info!("  data:          {data_dir}");
            tracing::info!("  login codes:   {delivery}");
            if awaiting_admin {
                tracing::info!(
                    "  admin:         the first person to sign in becomes the admin (the admin console is in the app)"
                );
            }
            if let Some(authority) = authority {
                tracing::info!("  CA SHA-256:    {}", authority.fingerprint);
                if authority.new {
                    tracing::info!(
                        "  this authority is new: phones and computers trust it once, from {}",
                        join_url.as_deref().unwrap_or("/join")
                    );
                } else if let Some(join_url) = &join_url {
                    tracing::info!("  new devices:   {join_url}");
                }
            }
            if let Some(rows) = phone_url.and_then(|url| crate::qr::terminal(url)) {
                tracing::info!(
                    "  scan to open {} on a phone:",
                    phone_url.map_or("", String::as_str)
                );
                for row in rows {
                    tracing::info!("  {row}");
                }
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
