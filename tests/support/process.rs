//! The real `clavox` binary as a child process, for tests that need a
//! process to signal, kill or restart.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

pub const BINARY: &str = env!("CARGO_BIN_EXE_clavox");

/// A `clavox serve` child process whose log lines are collected.
pub struct Server {
    pub child: Child,
    pub base: String,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Server {
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_from(Path::new("."), data_dir, env)
    }

    /// Starts the server with `working_dir` as its working directory (where
    /// it looks for `.env`).
    pub fn start_from(working_dir: &Path, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::spawn(Command::new(BINARY), working_dir, data_dir, env)
    }

    /// Starts the server inside the network namespace `namespace`, on all
    /// its addresses, announcing itself by mDNS or not (the test must run
    /// as root). Its `base` URL is for use from inside that namespace only.
    pub fn start_in_namespace(namespace: &str, data_dir: &Path, mdns: bool) -> Self {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", namespace]).arg(BINARY);
        let mdns = if mdns { "true" } else { "false" };
        Self::spawn_serving(
            command,
            Path::new("."),
            data_dir,
            &[],
            &["--host", "0.0.0.0", "--mdns", mdns],
        )
    }

    /// Starts the server as the unprivileged user `nobody` (the test must
    /// run as root), in `working_dir`.
    pub fn start_as_nobody(working_dir: &Path, data_dir: &Path) -> Self {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(BINARY);
        Self::spawn(command, working_dir, data_dir, &[])
    }

    fn spawn(command: Command, working_dir: &Path, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::spawn_serving(
            command,
            working_dir,
            data_dir,
            env,
            &["--host", "127.0.0.1"],
        )
    }

    /// `command` (the binary, or something that runs it) with `serve` and
    /// `settings` (a `--host` among them).
    fn spawn_serving(
        mut command: Command,
        working_dir: &Path,
        data_dir: &Path,
        env: &[(&str, &str)],
        settings: &[&str],
    ) -> Self {
        let port = free_port();
        let mut child = command
            .current_dir(working_dir)
            // A `.env` under test decides the log format, not the shell.
            .env_remove("LOG_FORMAT")
            // HTTPS on a free port, so servers of parallel tests never meet.
            .env("TLS_PORT", "0")
            .envs(env.iter().copied())
            .args(["serve", "--port", &port.to_string()])
            .args(settings)
            .arg("--data-dir")
            .arg(data_dir)
            .env("OTP_COOLDOWN", "0")
            // Tests send nothing beyond 127.0.0.1.
            .env("MDNS", "false")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            lines,
            seen: Vec::new(),
        };
        server.wait_for_line("is ready");
        server
    }

    pub fn wait_for_line(&mut self, needle: &str) -> String {
        if let Some(line) = self.seen.iter().find(|line| line.contains(needle)) {
            return line.clone();
        }
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no log line with {needle:?}"));
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// The HTTPS port the banner names.
    pub fn https_port(&mut self) -> u16 {
        let line = self.wait_for_line("https://127.0.0.1:");
        let port = line
            .split("https://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("the banner names the HTTPS address");
        port.parse().expect("a port number")
    }

    /// Logs in by reading the code from the server's log, as a person would.
    pub async fn login(&mut self, client: &reqwest::Client, number: &str) -> (String, String) {
        let sent = client
            .post(format!("{}/api/auth/send-otp", self.base))
            .json(&json!({ "phoneNumber": number }))
            .send()
            .await
            .unwrap();
        assert!(sent.status().is_success());
        let line = self.wait_for_line(&format!("OTP for {number}: "));
        let code: String = line
            .split(&format!("OTP for {number}: "))
            .nth(1)
            .unwrap()
            .chars()
            .take(6)
            .collect();
        self.seen
            .retain(|seen| !seen.contains(&format!("OTP for {number}: ")));
        let body: Value = client
            .post(format!("{}/api/auth/verify-otp", self.base))
            .json(&json!({ "phoneNumber": number, "otp": code }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            body["accessToken"].as_str().unwrap().to_owned(),
            body["user"]["id"].as_str().unwrap().to_owned(),
        )
    }
}

impl Server {
    /// Creates a chat as `token`'s user with `body` (`POST /api/chats`);
    /// returns its id.
    pub async fn create_chat(&self, client: &reqwest::Client, token: &str, body: Value) -> String {
        let chat: Value = client
            .post(format!("{}/api/chats", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        chat["id"]
            .as_str()
            .expect("the chat was created")
            .to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether Node.js is installed and `dir` has `package` installed (by
/// `npm ci`). When not, the test fails under `CLAVOX_REQUIRE_NODE` and is
/// skipped otherwise.
pub fn node_package(test: &str, dir: &std::path::Path, package: &str) -> bool {
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if node && dir.join("node_modules").join(package).is_dir() {
        return true;
    }
    let missing = if node {
        format!("{}/node_modules", dir.display())
    } else {
        "node".to_owned()
    };
    assert!(
        std::env::var_os("CLAVOX_REQUIRE_NODE").is_none(),
        "{missing} is missing: install Node.js and run `npm ci` in {}",
        dir.display()
    );
    eprintln!(
        "skipping {test}: {missing} is missing (run `npm ci` in {})",
        dir.display()
    );
    false
}
