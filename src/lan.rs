//! Being found on the local network: one URL per address of this machine's
//! interfaces (leaving out loopback, link-local and container bridges nobody
//! outside this machine can reach), and an mDNS announcement so phones can
//! open `http://clavox.local:PORT`.

use std::net::{IpAddr, SocketAddr};

/// Interfaces that only exist for containers and VMs on this host.
const VIRTUAL_PREFIXES: [&str; 5] = ["docker", "veth", "br-", "virbr", "cni"];

/// URLs the server can be reached at when listening on `local`.
pub fn urls(local: SocketAddr) -> Vec<String> {
    urls_with(local, "http", local.port())
}

/// `scheme://address:port` for every address a listener on `local` is
/// reachable at (the HTTPS port listens on the same addresses).
pub fn urls_with(local: SocketAddr, scheme: &str, port: u16) -> Vec<String> {
    if !local.ip().is_unspecified() {
        return vec![url(scheme, local.ip(), port)];
    }
    let mut urls = vec![url(scheme, IpAddr::from([127, 0, 0, 1]), port)];
    urls.extend(
        lan_addresses(local)
            .into_iter()
            .map(|ip| url(scheme, ip, port)),
    );
    urls.dedup();
    urls
}

/// The addresses of this machine that others on the network can reach a
/// listener on `local` at.
fn lan_addresses(local: SocketAddr) -> Vec<IpAddr> {
    if !local.ip().is_unspecified() {
        return if local.ip().is_loopback() {
            Vec::new()
        } else {
            vec![local.ip()]
        };
    }
    let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
    interfaces
        .into_iter()
        .filter(|interface| !is_virtual(&interface.name))
        .map(|interface| interface.ip())
        // An IPv4 listener (0.0.0.0) is reachable on IPv4 addresses only.
        .filter(|ip| !ip.is_loopback() && !is_link_local(*ip) && (local.is_ipv6() || ip.is_ipv4()))
        .collect()
}

/// Every address of this machine a client may use to reach it, on any
/// interface but container bridges: loopback and LAN alike (what a
/// certificate for this machine must name).
pub fn machine_addresses() -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|interface| !is_virtual(&interface.name))
        .map(|interface| interface.ip())
        .filter(|ip| !is_link_local(*ip))
        .collect();
    addresses.extend([
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ]);
    addresses.sort();
    addresses.dedup();
    addresses
}

fn is_virtual(interface: &str) -> bool {
    VIRTUAL_PREFIXES
        .iter()
        .any(|prefix| interface.starts_with(prefix))
}

/// Whether `name` can stand in a certificate as a DNS name: labels of
/// letters, digits and inner hyphens (`localhost` and `(none)` are not host
/// names worth naming).
pub fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name != "localhost"
        && !name
            .split('.')
            .all(|label| label.bytes().all(|b| b.is_ascii_digit()))
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The name the server is announced under.
pub const MDNS_HOST: &str = "clavox.local";

/// Announces the server by mDNS while it lives; dropping it withdraws the
/// announcement.
pub struct Announcement {
    daemon: mdns_sd::ServiceDaemon,
}

impl Drop for Announcement {
    fn drop(&mut self) {
        let _ = self.daemon.shutdown();
    }
}

/// Announces an `_http._tcp` service "Clavox" at `clavox.local` for the
/// machine's LAN addresses.
pub fn announce(local: SocketAddr) -> Result<Announcement, String> {
    let addresses = lan_addresses(local);
    if addresses.is_empty() {
        return Err("no network address besides loopback".into());
    }
    let daemon = mdns_sd::ServiceDaemon::new().map_err(|error| error.to_string())?;
    let properties = [("path", "/"), ("version", env!("CARGO_PKG_VERSION"))];
    let service = mdns_sd::ServiceInfo::new(
        "_http._tcp.local.",
        "Clavox",
        &format!("{MDNS_HOST}."),
        addresses.as_slice(),
        local.port(),
        &properties[..],
    )
    .map_err(|error| error.to_string())?;
    daemon
        .register(service)
        .map_err(|error| error.to_string())?;
    Ok(Announcement { daemon })
}

fn url(scheme: &str, ip: IpAddr, port: u16) -> String {
    format!("{scheme}://{}", SocketAddr::new(ip, port))
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}
