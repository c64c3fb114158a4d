//! A real NATS cluster of Debian's `nats-server`, on free ports of
//! 127.0.0.1 with its logs in a temporary directory: `NatsCluster::start(3)`
//! returns once every server is routed to every other; dropping it kills
//! them. Servers can be killed and started again to test failover.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::free_port;

/// How long the cluster may take to form.
const WAIT: Duration = Duration::from_secs(30);

struct Member {
    client_port: u16,
    cluster_port: u16,
    monitor_port: u16,
}

pub struct NatsCluster {
    members: Vec<Member>,
    servers: Mutex<Vec<Option<Child>>>,
    dir: TempDir,
}

impl NatsCluster {
    /// Starts `size` servers routed to each other.
    pub fn start(size: usize) -> Self {
        let members = (0..size)
            .map(|_| Member {
                client_port: free_port(),
                cluster_port: free_port(),
                monitor_port: free_port(),
            })
            .collect();
        let cluster = Self {
            members,
            servers: Mutex::new((0..size).map(|_| None).collect()),
            dir: tempfile::tempdir().unwrap(),
        };
        for index in 0..size {
            cluster.launch(index);
        }
        for index in 0..size {
            cluster.wait_until_routed(index, size - 1);
        }
        cluster
    }

    /// Every server, as `NATS_URL` takes them.
    pub fn urls(&self) -> String {
        (0..self.members.len())
            .map(|index| self.url(index))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn url(&self, index: usize) -> String {
        format!("nats://127.0.0.1:{}", self.members[index].client_port)
    }

    /// Kills server `index` at once (SIGKILL).
    pub fn kill(&self, index: usize) {
        let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mut child) = servers[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed server again, on its ports, and waits until it is
    /// routed to the others.
    pub fn restart(&self, index: usize) {
        self.launch(index);
        self.wait_until_routed(index, self.members.len() - 1);
    }

    fn log(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("nats-{index}.log"))
    }

    fn launch(&self, index: usize) {
        let member = &self.members[index];
        let routes: Vec<String> = self
            .members
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .map(|(_, other)| format!("nats://127.0.0.1:{}", other.cluster_port))
            .collect();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1"])
            .args(["-p", &member.client_port.to_string()])
            .args(["-m", &member.monitor_port.to_string()])
            .args(["-n", &format!("clavox-test-{index}")])
            .args(["--cluster_name", "clavox-test"])
            .args([
                "--cluster",
                &format!("nats://127.0.0.1:{}", member.cluster_port),
            ])
            .args(["--routes", &routes.join(",")])
            // Clients know only the servers they are given: a node behind a
            // `Link` cannot go around it.
            .arg("--no_advertise=true")
            .arg("-l")
            .arg(self.log(index))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts (install Debian's nats-server)");
        self.servers.lock().unwrap_or_else(PoisonError::into_inner)[index] = Some(child);
    }

    /// Waits until server `index` reports `routes` routes.
    fn wait_until_routed(&self, index: usize, routes: usize) {
        let deadline = Instant::now() + WAIT;
        let port = self.members[index].monitor_port;
        loop {
            if let Some(body) = get(port, "/routez")
                && body.contains(&format!("\"num_routes\": {routes}"))
            {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.log(index)).unwrap_or_default();
                panic!("NATS server {index} did not join its cluster:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for index in 0..self.members.len() {
            self.kill(index);
        }
    }
}

/// A plain HTTP/1.0 GET of the monitoring port; `None` while it does not
/// answer.
fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// A TCP path from a node to one NATS server that a test can cut and heal:
/// a network partition between that node and the bus, nothing else.
pub struct Link {
    port: u16,
    cut: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Forwards a new port of 127.0.0.1 to `target` (a `nats://` URL's
    /// address).
    pub async fn to(target: &str) -> Self {
        let target = target.trim_start_matches("nats://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let accepting = {
            let (cut, live) = (Arc::clone(&cut), Arc::clone(&live));
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::Acquire) {
                        continue;
                    }
                    let target = target.clone();
                    let forward = tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    live.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(forward.abort_handle());
                }
            })
        };
        Self {
            port,
            cut,
            live,
            accepting,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Drops every connection through the link and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        for forward in self
            .live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            forward.abort();
        }
    }

    pub fn heal(&self) {
        self.cut.store(false, Ordering::Release);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}
