//! mDNS: the server announces itself as `clavox.local` on the LAN. Checked
//! between two network namespaces this test makes (a veth pair on
//! 198.18.0.0/24, the range set aside for benchmarking networks), so no
//! packet leaves the machine: the server runs in one, and this test binary,
//! run again inside the other, resolves the name and the service from there.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::process::Server;

const SERVER_ADDRESS: &str = "198.18.0.1";
const RESOLVER_ADDRESS: &str = "198.18.0.2";
/// Set in the resolving run: the address `clavox.local` must resolve to.
const EXPECT: &str = "CLAVOX_MDNS_EXPECT";
/// How long the resolver listens.
const LISTEN: Duration = Duration::from_secs(8);

/// Two namespaces joined by a veth pair; removed when dropped.
struct Namespaces {
    server: String,
    resolver: String,
}

impl Namespaces {
    fn make(tag: &str) -> Self {
        let id = std::process::id() % 100_000;
        let namespaces = Self {
            server: format!("clavox-{tag}-s{id}"),
            resolver: format!("clavox-{tag}-r{id}"),
        };
        let (server, resolver) = (&namespaces.server, &namespaces.resolver);
        // Interface names: at most 15 bytes, and not `veth…` (the server
        // leaves out interfaces that look like a container's).
        let (left, right) = (format!("cxs{id}"), format!("cxr{id}"));
        for args in [
            vec!["netns", "add", server],
            vec!["netns", "add", resolver],
            vec!["link", "add", &left, "type", "veth", "peer", "name", &right],
            vec!["link", "set", &left, "netns", server],
            vec!["link", "set", &right, "netns", resolver],
            vec![
                "-n",
                server,
                "addr",
                "add",
                &format!("{SERVER_ADDRESS}/24"),
                "dev",
                &left,
            ],
            vec![
                "-n",
                resolver,
                "addr",
                "add",
                &format!("{RESOLVER_ADDRESS}/24"),
                "dev",
                &right,
            ],
            vec!["-n", server, "link", "set", &left, "up"],
            vec!["-n", resolver, "link", "set", &right, "up"],
            vec!["-n", server, "link", "set", "lo", "up"],
            vec!["-n", resolver, "link", "set", "lo", "up"],
        ] {
            let status = Command::new("ip").args(&args).status().expect("ip runs");
            assert!(status.success(), "ip {}", args.join(" "));
        }
        namespaces
    }

    /// Runs the resolving test of this binary inside the resolver's
    /// namespace; what it found.
    fn resolve(&self, expect: &str) -> String {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.resolver])
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "mdns::resolver",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(EXPECT, expect)
            .output()
            .expect("the resolver runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "the resolver failed: {text}");
        text
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for namespace in [&self.server, &self.resolver] {
            let _ = Command::new("ip")
                .args(["netns", "del", namespace])
                .status();
        }
    }
}

/// Namespaces need root and `ip`; under CLAVOX_REQUIRE_ROOT their absence
/// fails the test instead of skipping it.
fn can_make_namespaces(test: &str) -> bool {
    let root = rustix::process::geteuid().is_root();
    let ip = Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|output| output.status.success());
    if root && ip {
        return true;
    }
    assert!(
        std::env::var_os("CLAVOX_REQUIRE_ROOT").is_none(),
        "CLAVOX_REQUIRE_ROOT is set but {test} cannot make network namespaces (root: {root}, ip: {ip})"
    );
    eprintln!("skipping {test}: network namespaces need root and iproute2");
    false
}

#[test]
fn the_server_is_found_as_clavox_local_from_another_machine_and_not_with_mdns_off() {
    if !can_make_namespaces("the_server_is_found_as_clavox_local_from_another_machine") {
        return;
    }
    let namespaces = Namespaces::make("mdns");
    let dir = tempfile::tempdir().unwrap();
    let announced = Server::start_in_namespace(&namespaces.server, &dir.path().join("on"), true);
    let found = namespaces.resolve(SERVER_ADDRESS);
    assert!(
        found.contains(&format!("found clavox.local. at {SERVER_ADDRESS}")),
        "{found}"
    );
    drop(announced);

    let quiet = Server::start_in_namespace(&namespaces.server, &dir.path().join("off"), false);
    let found = namespaces.resolve(SERVER_ADDRESS);
    assert!(
        found.contains("found nothing"),
        "MDNS=false announced something: {found}"
    );
    drop(quiet);
}

/// Not a test on its own: the other side of the one above, run inside the
/// resolver's namespace. Browses `_http._tcp.local.` for `LISTEN` and says
/// whether a service on `clavox.local.` at the expected address answered.
#[test]
#[ignore = "run by the mDNS test inside a network namespace"]
fn resolver() {
    let Ok(expect) = std::env::var(EXPECT) else {
        return;
    };
    let daemon = mdns_sd::ServiceDaemon::new().expect("an mDNS daemon starts");
    let events = daemon.browse("_http._tcp.local.").expect("browsing starts");
    let deadline = Instant::now() + LISTEN;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(event) = events.recv_timeout(left) else {
            break;
        };
        if let mdns_sd::ServiceEvent::ServiceResolved(service) = event {
            let addresses: Vec<String> = service
                .get_addresses()
                .iter()
                .map(ToString::to_string)
                .collect();
            if service.get_hostname() == "clavox.local." && addresses.contains(&expect) {
                println!(
                    "found clavox.local. at {expect} port {} ({})",
                    service.get_port(),
                    service.get_fullname()
                );
                let _ = daemon.shutdown();
                return;
            }
        }
    }
    println!("found nothing within {LISTEN:?}");
    let _ = daemon.shutdown();
}
