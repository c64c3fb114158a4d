//! The server under test: a child `clavox serve` on a scratch data directory
//! (the default), or a server already running at `--url`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::measure::Progress;
use super::process::{Usage, Watched};

/// CPU time per second under which a server counts as quiet: 5% of a core.
const QUIET_CPU: Duration = Duration::from_millis(50);
/// The longest the bench waits for a server to go quiet before a load.
const QUIET_WAIT: Duration = Duration::from_secs(60);

/// `--url`'s nodes, without trailing slashes.
fn node_urls(urls: &str) -> Vec<String> {
    let nodes: Vec<String> = urls
        .split(',')
        .map(|url| url.trim().trim_end_matches('/').to_owned())
        .filter(|url| !url.is_empty())
        .collect();
    if nodes.is_empty() {
        vec![urls.to_owned()]
    } else {
        nodes
    }
}

/// How long a server may take to become ready before the bench gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopping server may take to exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Target {
    base: String,
    /// Every node's URL, `base` first (one, unless a cluster).
    nodes: Vec<String>,
    http: reqwest::Client,
    watched: Vec<Watched>,
    local: Option<Local>,
}

/// A child server this bench started and will stop.
struct Local {
    launch: Launch,
    child: Child,
}

/// How to start the child server, again after a restart.
struct Launch {
    binary: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
    port: u16,
    webhook: String,
    /// The bench's stand-in push service, `host:port`.
    push_host: String,
}

impl Target {
    /// A server already running at `url`; `pid` lets the bench read its CPU
    /// time and memory when it runs on this machine.
    pub fn remote(urls: &str, pids: &[u32]) -> Self {
        let nodes = node_urls(urls);
        Self {
            base: nodes[0].clone(),
            nodes,
            http: reqwest::Client::new(),
            watched: pids.iter().copied().map(Watched::new).collect(),
            local: None,
        }
    }

    /// Starts this binary as a server on `work_dir`, delivering codes to
    /// `webhook` and admitting push subscriptions at `push_host`, and waits
    /// until it is ready.
    pub async fn start_local(
        work_dir: &Path,
        webhook: String,
        push_host: String,
    ) -> Result<Self, String> {
        let binary = std::env::current_exe()
            .map_err(|error| format!("cannot find this program: {error}"))?;
        let port = free_port()?;
        let launch = Launch {
            binary,
            data_dir: work_dir.join("data"),
            log: work_dir.join("server.log"),
            port,
            webhook,
            push_host,
        };
        let local = Local {
            child: launch.spawn()?,
            launch,
        };
        let base = format!("http://127.0.0.1:{port}");
        let mut target = Self {
            nodes: vec![base.clone()],
            base,
            http: reqwest::Client::new(),
            watched: Vec::new(),
            local: Some(local),
        };
        target.watch_child();
        target.wait_ready().await?;
        Ok(target)
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `ws://` or `wss://` of the node socket `index` connects to: the
    /// nodes in turn.
    pub fn socket_base(&self, index: usize) -> String {
        let node = &self.nodes[index % self.nodes.len()];
        if let Some(rest) = node.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            format!("ws://{}", node.trim_start_matches("http://"))
        }
    }

    /// The server as the report names it: its URL, or its nodes'.
    pub fn describe(&self) -> String {
        match self.nodes.len() {
            1 => self.base.clone(),
            n => format!("{} ({n} nodes)", self.nodes.join(", ")),
        }
    }

    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// The server's CPU time and memory; a cluster's nodes summed.
    pub fn usage(&self) -> Option<Usage> {
        let mut usages = self.watched.iter().map(Watched::usage);
        let first = usages.next()??;
        usages.try_fold(first, |sum, usage| {
            let usage = usage?;
            Some(Usage {
                cpu: sum.cpu + usage.cpu,
                rss_bytes: sum.rss_bytes + usage.rss_bytes,
                peak_rss_bytes: sum.peak_rss_bytes + usage.peak_rss_bytes,
            })
        })
    }

    /// Waits until the server has gone quiet (under `QUIET_CPU` of CPU
    /// time over a second), so what one load left it to do (filing messages
    /// for search, clearing notification intents) is not measured in the
    /// next; at most `QUIET_WAIT`. Without the server's pid there is
    /// nothing to watch and it returns at once.
    pub async fn settle(&self) {
        let Some(mut before) = self.usage() else {
            return;
        };
        let progress = Progress::new("waiting for the server to go quiet".into());
        let deadline = Instant::now() + QUIET_WAIT;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Some(now) = self.usage() else {
                return;
            };
            let busy = now.cpu.saturating_sub(before.cpu);
            if busy < QUIET_CPU {
                return;
            }
            if Instant::now() >= deadline {
                progress.finish(format_args!(
                    "still busy after {}s ({:.0}% of a core); measuring anyway",
                    QUIET_WAIT.as_secs(),
                    busy.as_secs_f64() * 100.0
                ));
                return;
            }
            progress.update(format_args!("{:.0}% of a core", busy.as_secs_f64() * 100.0));
            before = now;
        }
    }

    /// Stops the local server gracefully and starts it again on the same
    /// data; the time from start to ready.
    pub async fn restart(&mut self) -> Result<Duration, String> {
        self.stop().await?;
        let local = self
            .local
            .as_mut()
            .ok_or("only a server the bench started can be restarted")?;
        let started = Instant::now();
        local.child = local.launch.spawn()?;
        self.watch_child();
        self.wait_ready().await?;
        Ok(started.elapsed())
    }

    /// Stops the local server (SIGTERM, as systemd would), waiting for it.
    pub async fn stop(&mut self) -> Result<(), String> {
        let Some(local) = self.local.as_mut() else {
            return Ok(());
        };
        if let Some(pid) = local
            .child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        match tokio::time::timeout(STOP_TIMEOUT, local.child.wait()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(format!("waiting for the server to stop: {error}")),
            Err(_) => {
                let _ = local.child.kill().await;
                Err(format!(
                    "the server did not stop within {}s",
                    STOP_TIMEOUT.as_secs()
                ))
            }
        }
    }

    fn watch_child(&mut self) {
        self.watched = self
            .local
            .as_ref()
            .and_then(|local| local.child.id())
            .map(Watched::new)
            .into_iter()
            .collect();
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let url = format!("{}/readyz", self.base);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(response) = self.http.get(&url).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if let Some(local) = self.local.as_mut()
                && let Ok(Some(status)) = local.child.try_wait()
            {
                return Err(format!(
                    "the server exited ({status}) before it was ready; its log:\n{}",
                    local.launch.log_tail()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} was not ready within {}s",
                    self.base,
                    READY_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

impl Launch {
    fn spawn(&self) -> Result<Child, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|error| format!("cannot write {}: {error}", self.log.display()))?;
        let log_err = log.try_clone().map_err(|error| error.to_string())?;
        Command::new(&self.binary)
            .arg("serve")
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--otp-webhook-url", &self.webhook])
            // Pushes go to the bench's stand-in over plain HTTP on 127.0.0.1.
            .args(["--push-allowed-hosts", &self.push_host])
            // The load comes from one address and logs in many users at once.
            .args(["--otp-cooldown", "0", "--mdns", "false"])
            // The bench measures plain HTTP and sockets.
            .args(["--tls", "off"])
            .args([
                "--rate-limit-max-requests",
                "4000000000",
                "--auth-rate-limit-max",
                "4000000000",
            ])
            // The bench measures capacity: no per-user or per-socket budget.
            .args(["--message-rate", "0", "--socket-event-rate", "0"])
            // A line per request would measure the log, not the server.
            .env("RUST_LOG", "warn")
            .env_remove("CLAVOX_DATA_DIR")
            .env_remove("JWT_SECRET")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", self.binary.display()))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("no free port on 127.0.0.1: {error}"))
}

#[cfg(test)]
mod cluster_tests {
    use super::*;

    #[test]
    fn sockets_go_to_the_nodes_in_turn() {
        let target = Target::remote("http://10.0.0.1:5000/, https://10.0.0.2:5443", &[]);
        assert_eq!(target.base_url(), "http://10.0.0.1:5000");
        assert_eq!(target.socket_base(0), "ws://10.0.0.1:5000");
        assert_eq!(target.socket_base(1), "wss://10.0.0.2:5443");
        assert_eq!(target.socket_base(2), "ws://10.0.0.1:5000");
        assert_eq!(
            target.describe(),
            "http://10.0.0.1:5000, https://10.0.0.2:5443 (2 nodes)"
        );
        let single = Target::remote("http://127.0.0.1:5000", &[]);
        assert_eq!(single.socket_base(7), "ws://127.0.0.1:5000");
        assert_eq!(single.describe(), "http://127.0.0.1:5000");
    }
}
