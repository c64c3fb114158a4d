//! Name resolution for push requests that checks where a name leads. A push
//! service's name is public, but its DNS answer is whatever its owner says:
//! a name that resolves (or is rebound) to loopback or the LAN would let a
//! subscription reach the server's own ports. Addresses are filtered here,
//! at the moment of connecting, so no check can go stale in between.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use hickory_resolver::TokioResolver;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::endpoint::AllowedHosts;

/// Resolves with hickory (no glibc name service) and, for names not in
/// `PUSH_ALLOWED_HOSTS`, keeps only public addresses.
/// Usable for any outbound request whose address comes from users.
#[derive(Clone)]
pub struct PushResolver {
    resolver: Arc<TokioResolver>,
    allowed: Arc<AllowedHosts>,
}

/// The error a resolution gives when every address was refused, so the
/// sender can tell a refusal from a network failure.
#[derive(Debug)]
pub struct AddressRefused {
    name: String,
}

impl std::fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} resolves only to private, loopback or otherwise non-public addresses",
            self.name
        )
    }
}

impl std::error::Error for AddressRefused {}

impl PushResolver {
    /// Reads the system's DNS settings (`/etc/resolv.conf`, `/etc/hosts`).
    pub fn new(allowed: Arc<AllowedHosts>) -> Result<Self, String> {
        let resolver = match TokioResolver::builder_tokio() {
            Ok(builder) => builder.build(),
            // No /etc/resolv.conf (an empty container root): the server
            // still starts; pushes to push services by name fail and wait
            // in the queue, and listed hosts given as addresses still work.
            Err(error) => {
                tracing::warn!(
                    "cannot read the system's DNS settings ({error}); Web Push cannot reach push services by name"
                );
                TokioResolver::builder_with_config(
                    hickory_resolver::config::ResolverConfig::new(),
                    hickory_resolver::name_server::TokioConnectionProvider::default(),
                )
                .build()
            }
        };
        Ok(Self {
            resolver: Arc::new(resolver),
            allowed,
        })
    }
}

impl Resolve for PushResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let resolver = Arc::clone(&self.resolver);
        let listed = self.allowed.lists_name(&name);
        Box::pin(async move {
            let found = resolver.lookup_ip(name.as_str()).await?;
            let addresses: Vec<SocketAddr> = found
                .iter()
                .filter(|ip| listed || is_public(*ip))
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if addresses.is_empty() {
                let refused = AddressRefused {
                    name: name.as_str().to_owned(),
                };
                return Err(refused.into());
            }
            let addresses: Addrs = Box::new(addresses.into_iter());
            Ok(addresses)
        })
    }
}

/// Whether a push to `ip` would leave the machine's own networks: not
/// private, loopback, link-local, unspecified, multicast, broadcast or
/// shared (carrier NAT) space, nor an IPv6 form of one of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(mapped) => is_public_v4(mapped),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let shared = ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64;
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.octets()[0] == 0
        || shared)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_multicast_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("an address");
            assert!(!is_public(ip), "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_public() {
        for ip in [
            "142.250.74.42",
            "8.8.8.8",
            "2a00:1450:4007:80e::200a",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = ip.parse().expect("an address");
            assert!(is_public(ip), "{ip}");
        }
    }
}
