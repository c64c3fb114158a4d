//! The names this machine is reached by, which its certificate must carry:
//! its addresses, `localhost`, its host name and `clavox.local`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::lan::{self, is_dns_name};

/// DNS names and addresses, in a stable order (so two sets compare equal
/// whenever the machine's names did not change).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Names {
    pub dns: BTreeSet<String>,
    pub ips: BTreeSet<IpAddr>,
}

impl Names {
    /// The names of this machine now.
    pub fn of_this_machine() -> Self {
        Self::from_parts(host_name().as_deref(), lan::machine_addresses())
    }

    /// `clavox.local`, `localhost`, the host name (and `<host>.local`, as
    /// mDNS resolvers on phones and laptops answer it) and `ips`.
    pub fn from_parts(host: Option<&str>, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        let mut dns: BTreeSet<String> = [lan::MDNS_HOST, "localhost"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let Some(host) = host.filter(|host| is_dns_name(host)) {
            let host = host.to_ascii_lowercase();
            if !host.contains('.') {
                dns.insert(format!("{host}.local"));
            }
            dns.insert(host);
        }
        Self {
            dns,
            ips: ips.into_iter().map(|ip| ip.to_canonical()).collect(),
        }
    }

    /// These names and `extra` (host names or addresses).
    #[must_use]
    pub fn with(mut self, extra: &[String]) -> Self {
        for name in extra.iter().map(|name| name.trim()) {
            match name.parse::<IpAddr>() {
                Ok(ip) => {
                    self.ips.insert(ip.to_canonical());
                }
                Err(_) if is_dns_name(name) => {
                    self.dns.insert(name.to_ascii_lowercase());
                }
                Err(_) => {}
            }
        }
        self
    }

    pub fn len(&self) -> usize {
        self.dns.len() + self.ips.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// This machine's host name, if it has a usable one.
pub fn host_name() -> Option<String> {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_str().ok()?.trim().to_ascii_lowercase();
    is_dns_name(&name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_is_named_by_host_name_mdns_and_addresses() {
        let names = Names::from_parts(
            Some("Kitchen-PC"),
            [
                "192.168.1.20".parse().unwrap(),
                "::ffff:10.0.0.2".parse().unwrap(),
            ],
        );
        let dns: Vec<&str> = names.dns.iter().map(String::as_str).collect();
        assert_eq!(
            dns,
            [
                "clavox.local",
                "kitchen-pc",
                "kitchen-pc.local",
                "localhost"
            ]
        );
        let ips: Vec<String> = names.ips.iter().map(ToString::to_string).collect();
        assert_eq!(ips, ["10.0.0.2", "192.168.1.20"]);
    }

    #[test]
    fn unusable_host_names_are_left_out() {
        for host in ["(none)", "", "localhost", "-x", "a..b", "10.0.0.1", "émile"] {
            let names = Names::from_parts(Some(host), []);
            assert_eq!(names.dns.len(), 2, "{host}");
        }
        let names = Names::from_parts(Some("box.example.org"), []);
        assert!(names.dns.contains("box.example.org"));
        assert!(!names.dns.contains("box.example.org.local"));
    }
}
