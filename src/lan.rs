//! The addresses people on the same network can open: one URL per address
//! of this machine's interfaces, leaving out loopback, link-local and
//! container bridges nobody outside this machine can reach.

use std::net::{IpAddr, SocketAddr};

/// Interfaces that only exist for containers and VMs on this host.
const VIRTUAL_PREFIXES: [&str; 5] = ["docker", "veth", "br-", "virbr", "cni"];

/// URLs the server can be reached at when listening on `local`.
pub fn urls(local: SocketAddr) -> Vec<String> {
    let port = local.port();
    if !local.ip().is_unspecified() {
        return vec![url(local.ip(), port)];
    }
    let mut urls = vec![url(IpAddr::from([127, 0, 0, 1]), port)];
    let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
    for interface in interfaces {
        let ip = interface.ip();
        let reachable = !ip.is_loopback()
            && !is_link_local(ip)
            && !VIRTUAL_PREFIXES
                .iter()
                .any(|prefix| interface.name.starts_with(prefix));
        // An IPv4 listener (0.0.0.0) is reachable on IPv4 addresses only.
        let same_family = local.is_ipv6() || ip.is_ipv4();
        if reachable && same_family {
            urls.push(url(ip, port));
        }
    }
    urls.dedup();
    urls
}

fn url(ip: IpAddr, port: u16) -> String {
    format!("http://{}", SocketAddr::new(ip, port))
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}
