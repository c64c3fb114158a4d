//! A real, throwaway PostgreSQL server: `Postgres::start()` creates a fresh
//! cluster in a temporary directory and serves it on a free port of
//! 127.0.0.1; dropping it kills the server and removes the directory.
//! Synchronous, so sync tests and `#[tokio::test]`s can both use it.
//!
//! It uses the newest Debian server binaries (`/usr/lib/postgresql/*/bin`),
//! by absolute path so a `pg_ctl` or `psql` of another version on `PATH`
//! never gets in. PostgreSQL refuses to run as root, so as root `initdb`
//! and the server run as the `postgres` user.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use tempfile::TempDir;

use super::process::free_port;

/// How long the server may take to accept connections, or to stop.
const WAIT: Duration = Duration::from_secs(30);

/// How many free ports `start` tries: another test may bind the port
/// between `free_port` dropping it and the server binding it.
const PORT_ATTEMPTS: u32 = 5;

/// The database every server starts with.
const DATABASE: &str = "clavox";

/// How many lines of the server log a panic message shows.
const LOG_TAIL: usize = 40;

pub struct Postgres {
    /// `None` between `stop` and `start_again`. Behind a mutex so a shared
    /// `&Postgres` can stop and restart it.
    server: Mutex<Option<Child>>,
    port: u16,
    bin: PathBuf,
    /// Whether the server must be run as the `postgres` user.
    as_postgres: bool,
    dir: TempDir,
}

impl Postgres {
    /// Starts a fresh cluster on 127.0.0.1 (trust authentication, fsync on,
    /// 200 connections) with an empty database `clavox`; returns once it
    /// accepts connections, or panics with the tail of its log.
    pub fn start() -> Self {
        let as_postgres = rustix::process::geteuid().is_root();
        let mut postgres = Self {
            server: Mutex::new(None),
            port: 0,
            bin: bin_dir(),
            as_postgres,
            dir: cluster_dir(as_postgres),
        };
        postgres.initdb();
        let mut attempt = 1;
        let server = loop {
            postgres.port = free_port();
            match postgres.launch() {
                Ok(server) => break server,
                Err(failure) if failure.port_taken && attempt < PORT_ATTEMPTS => attempt += 1,
                Err(failure) => panic!("{}", failure.message),
            }
        };
        *postgres.server.get_mut().unwrap() = Some(server);
        postgres.psql("postgres", &format!("CREATE DATABASE {DATABASE}"));
        postgres
    }

    /// `postgres://postgres@127.0.0.1:<port>/clavox`
    pub fn url(&self) -> String {
        self.database_url(DATABASE)
    }

    /// Creates another, empty database `name` (letters, digits, `_` and
    /// `-`, so the URL needs no escaping); returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "database name {name:?}: use letters, digits, `_` and `-`"
        );
        let mut createdb = self.client("createdb");
        createdb.arg(name);
        self.run_client(&mut createdb, &format!("createdb {name}"));
        self.database_url(name)
    }

    /// Stops the server with a fast shutdown (sessions are ended, the data
    /// is kept) and waits until it has exited: an outage, to be ended with
    /// `start_again`.
    pub fn stop(&self) {
        let mut server = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        let mut child = server
            .take()
            .expect("stop: the PostgreSQL server is not running");
        match shut_down(&mut child, Signal::INT) {
            Ok(status) if status.success() => {}
            Ok(status) => panic!(
                "PostgreSQL exited with {status} on a fast shutdown\n{}",
                self.log_tail()
            ),
            Err(error) => panic!("{error}\n{}", self.log_tail()),
        }
    }

    /// Starts the stopped server again on the same port and data; returns
    /// once it accepts connections.
    pub fn start_again(&self) {
        let mut server = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            server.is_none(),
            "start_again: the PostgreSQL server is already running"
        );
        match self.launch() {
            Ok(child) => *server = Some(child),
            Err(failure) => panic!("{}", failure.message),
        }
    }

    /// Runs one SQL statement with `psql -At` in database `clavox`; returns
    /// what it printed without the last newline (`select 1` gives `"1"`).
    pub fn sql(&self, statement: &str) -> String {
        self.psql(DATABASE, statement)
    }

    fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn initdb(&self) {
        let mut initdb = self.server_command("initdb");
        initdb
            .arg("--pgdata")
            .arg(self.data_dir())
            // The C locale: the same collation whatever the host's settings,
            // and a log in English.
            .args([
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ])
            // Its files are not flushed to disk (seconds on a busy disk, and
            // only lost if the machine itself crashes); the server still
            // runs with fsync on.
            .arg("--no-sync");
        let output = initdb
            .output()
            .unwrap_or_else(|error| panic!("initdb does not start: {error}"));
        assert!(
            output.status.success(),
            "initdb failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the server and waits until it accepts connections. On failure
    /// the server is gone again.
    fn launch(&self) -> Result<Child, Failure> {
        let log_path = self.log_path();
        // Only this start's lines tell whether its port was taken.
        let log_start = fs::metadata(&log_path).map_or(0, |metadata| metadata.len());
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("the server log opens");
        let mut command = self.server_command("postgres");
        command
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            // The socket in the temporary directory: never in
            // /var/run/postgresql, never shared with another server.
            .arg("-k")
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the server log opens"))
            .stderr(log);
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("PostgreSQL does not start: {error}"));
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().expect("the server can be waited for") {
                let log = fs::read(&log_path).unwrap_or_default();
                let started = usize::try_from(log_start).unwrap_or(usize::MAX);
                let lines = String::from_utf8_lossy(log.get(started..).unwrap_or_default());
                return Err(Failure {
                    port_taken: lines.contains("could not create any TCP/IP sockets"),
                    message: format!(
                        "PostgreSQL exited with {status} while starting on port {}\n{}",
                        self.port,
                        self.log_tail()
                    ),
                });
            }
            if self.accepts_connections() {
                return Ok(child);
            }
            if Instant::now() > deadline {
                let _ = shut_down(&mut child, Signal::QUIT);
                return Err(Failure {
                    port_taken: false,
                    message: format!(
                        "PostgreSQL did not accept connections within {WAIT:?}\n{}",
                        self.log_tail()
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asks through the socket in the temporary directory, which only this
    /// server can have created: on 127.0.0.1 another test's server could
    /// answer on a port this one failed to bind.
    fn accepts_connections(&self) -> bool {
        let mut command = self.command("pg_isready");
        command
            .args(["-q", "-t", "1", "-U", "postgres", "-d", "postgres", "-h"])
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command.status().is_ok_and(|status| status.success())
    }

    fn psql(&self, database: &str, statement: &str) -> String {
        let mut psql = self.client("psql");
        // -X: no ~/.psqlrc changing the output.
        psql.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", database])
            .args(["-c", statement]);
        let mut stdout = self.run_client(&mut psql, statement);
        if stdout.ends_with('\n') {
            stdout.pop();
        }
        stdout
    }

    /// A client program connecting over TCP, as the code under test does.
    /// Clients may run as root, so no user switch.
    fn client(&self, program: &str) -> Command {
        let mut command = self.command(program);
        command
            .args(["-h", "127.0.0.1", "-U", "postgres"])
            .args(["-p", &self.port.to_string()]);
        command
    }

    fn run_client(&self, command: &mut Command, what: &str) -> String {
        let output = command
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("{what}: the client does not start: {error}"));
        assert!(
            output.status.success(),
            "{what}: {}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            self.log_tail()
        );
        String::from_utf8(output.stdout).expect("the output is UTF-8")
    }

    /// `program` from the server's own bin directory, as the `postgres`
    /// user when running as root. `setpriv` execs it, so the child is the
    /// server itself and gets the shutdown signals; `runuser` would stay in
    /// between and turn them into SIGTERM (a "smart" shutdown that waits
    /// for every client), then SIGKILL.
    fn server_command(&self, program: &str) -> Command {
        let mut command = if self.as_postgres {
            let mut command = Command::new("setpriv");
            command
                .args([
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                    "--",
                ])
                .arg(self.bin.join(program));
            command
        } else {
            Command::new(self.bin.join(program))
        };
        // A working directory the `postgres` user can enter: the tools
        // return to it after looking up their own path.
        command.current_dir(self.dir.path());
        without_pg_environment(&mut command);
        command
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        without_pg_environment(&mut command);
        command
    }

    fn log_tail(&self) -> String {
        let log = fs::read(self.log_path()).unwrap_or_default();
        let log = String::from_utf8_lossy(&log);
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n");
        format!("--- the end of {} ---\n{tail}", self.log_path().display())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let server = self
            .server
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(mut child) = server.take() {
            // Immediate shutdown: nothing of the throwaway data needs saving,
            // and the directory is removed only once the server is gone.
            let _ = shut_down(&mut child, Signal::QUIT);
        }
    }
}

struct Failure {
    /// Another process bound the port first: worth another free port.
    port_taken: bool,
    message: String,
}

/// Sends `signal` to the server (SIGINT: fast shutdown, SIGQUIT:
/// immediate) and waits for it to exit; kills it if it takes too long.
fn shut_down(child: &mut Child, signal: Signal) -> Result<ExitStatus, String> {
    if let Some(status) = child.try_wait().map_err(|error| error.to_string())? {
        return Ok(status);
    }
    kill_process(Pid::from_child(child), signal)
        .map_err(|error| format!("PostgreSQL cannot be signalled: {error}"))?;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().map_err(|error| error.to_string())? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("PostgreSQL did not stop within {WAIT:?}, killed"))
}

/// The newest `/usr/lib/postgresql/<version>/bin` with a server in it.
fn bin_dir() -> PathBuf {
    let versions = Path::new("/usr/lib/postgresql");
    fs::read_dir(versions)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            // Compared as numbers: 9.6 < 15 < 16.
            let version = name
                .split('.')
                .map(str::parse)
                .collect::<Result<Vec<u32>, _>>()
                .ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| {
            panic!(
                "PostgreSQL is not installed: no {}/<version>/bin/postgres \
                 (the Debian package `postgresql` provides it)",
                versions.display()
            )
        })
}

/// A new temporary directory for the cluster, its socket and its log; as
/// root, one the `postgres` user owns and can reach.
fn cluster_dir(as_postgres: bool) -> TempDir {
    let mut base = std::env::temp_dir();
    if as_postgres && !reachable_by_anyone(&base) {
        base = PathBuf::from("/tmp");
    }
    let dir = tempfile::Builder::new()
        .prefix("clavox-postgres-")
        .tempdir_in(&base)
        .unwrap_or_else(|error| panic!("no temporary directory in {}: {error}", base.display()));
    if as_postgres {
        let status = Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.path())
            .status()
            .expect("chown starts");
        assert!(
            status.success(),
            "chown postgres:postgres {}: {status}",
            dir.path().display()
        );
    }
    dir
}

/// Whether every directory from `/` down to `dir` lets others through.
fn reachable_by_anyone(dir: &Path) -> bool {
    dir.ancestors().all(|dir| {
        fs::metadata(dir).is_ok_and(|metadata| metadata.permissions().mode() & 0o001 != 0)
    })
}

/// Drops the `PG*` variables of the environment (`PGOPTIONS`, `PGSSLMODE`,
/// `PGSERVICE`, ...), which would change how the tools connect.
fn without_pg_environment(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PG") {
            command.env_remove(name);
        }
    }
}
