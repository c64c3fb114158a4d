//! The command line: `clavox serve` and friends.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::app::{self, AppState};
use crate::auth::delivery::{self, OtpSender};
use crate::auth::keys::Keys;
use crate::config::{Config, LogFormat};
use crate::store::Store;
use crate::{lan, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "clavox",
    version,
    about = "A self-hosted chat server in one binary",
    long_about = "A self-hosted chat server in one binary: phone-number login, private and group chats, \
realtime delivery over WebSocket, and a web app built in.\n\nStart it with `clavox serve`, open the printed \
URL, and log in with a phone number: the one-time code appears in this server's log unless SMS delivery is set up.",
    after_help = "Examples:\n  clavox serve\n  clavox serve --port 8080 --data-dir /var/lib/clavox\n  PORT=8080 JWT_EXPIRE=1h clavox serve\n  clavox healthcheck --port 8080"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the chat server (settings come from flags, environment variables, or a .env file).
    Serve(Box<Config>),
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

/// Parses the command line and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => serve(*config),
        Command::Healthcheck { port, address } => healthcheck(SocketAddr::new(address, port)),
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
    if let Err(problem) = config.validate() {
        eprintln!("clavox: invalid setting: {problem}");
        return ExitCode::from(2);
    }
    telemetry::init(config.log_format, std::io::stdout);
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
    let store = Store::open(&config.data_dir).map_err(|error| {
        format!(
            "cannot open the data directory {}: {error}",
            config.data_dir.display()
        )
    })?;
    let keys = Keys::load(&config)?;
    let sender = delivery::from_config(&config)?;
    let address = SocketAddr::new(config.host, config.port);
    let listener = TcpListener::bind(address)
        .await
        .map_err(|error| format!("cannot listen on {address}: {error} (is another server using port {}? set PORT to change it)", config.port))?;
    let local = listener.local_addr().map_err(|error| error.to_string())?;
    announce(&config, local, sender.as_ref());
    let state = AppState::new(config, store, &keys, sender)
        .map_err(|error| format!("cannot prepare the uploads directory: {error}"))?;
    app::serve(listener, state, shutdown_signal())
        .await
        .map_err(|error| format!("server error: {error}"))?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The start-up banner: what runs, where its data is, how to reach it.
fn announce(config: &Config, local: SocketAddr, sender: &dyn OtpSender) {
    let version = env!("CARGO_PKG_VERSION");
    let data_dir = config.data_dir.display().to_string();
    let delivery = sender.describe();
    let urls = lan::urls(local);
    match config.log_format {
        LogFormat::Json => {
            tracing::info!(version, data_dir, otp_delivery = %delivery, urls = ?urls, "clavox is ready");
        }
        LogFormat::Pretty => {
            tracing::info!("Clavox {version} is ready");
            for url in &urls {
                tracing::info!("  open:          {url}");
            }
            tracing::info!("  data:          {data_dir}");
            tracing::info!("  login codes:   {delivery}");
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
