//! Client addresses: the reverse proxies this server trusts to name a client
//! (`TRUSTED_PROXIES`), the client a chain of `X-Forwarded-For` hops names,
//! and the key every per-address limit and cap counts a client under. Pure
//! rules on addresses; reading headers and sockets is for its callers.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// How a per-address limit or cap knows a client: an IPv4 address as itself
/// (IPv4-mapped IPv6 included, as a dual-stack socket reports IPv4 peers), an
/// IPv6 address by its /64, the block one home or host is usually given
/// whole: counting single IPv6 addresses would let a client rotate through
/// 2^64 of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(IpAddr);

/// Bits of an IPv6 address that name the network one client holds.
const IPV6_CLIENT_PREFIX: u8 = 64;

impl AddressKey {
    /// The one place an address becomes a key.
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(ip) => Self(IpAddr::V4(ip)),
            IpAddr::V6(ip) => Self(IpAddr::V6(mask_v6(ip, IPV6_CLIENT_PREFIX))),
        }
    }
}

impl fmt::Display for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(ip) => write!(f, "{ip}"),
            IpAddr::V6(ip) => write!(f, "{ip}/{IPV6_CLIENT_PREFIX}"),
        }
    }
}

/// A block of addresses: `10.0.0.0/8`, `fd00::/8`, or one address alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => mask_v4(ip, self.prefix) == network,
            (IpAddr::V6(network), IpAddr::V6(ip)) => mask_v6(ip, self.prefix) == network,
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid =
            || format!("`{text}` is not an address or a CIDR like 10.0.0.0/8 or fd00::/8");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| invalid())?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            // `parse` alone would take a sign: `/+8`.
            Some(prefix) if prefix.bytes().all(|b| b.is_ascii_digit()) => {
                prefix.parse().map_err(|_| invalid())?
            }
            Some(_) => return Err(invalid()),
        };
        if prefix > bits {
            return Err(format!(
                "`{text}`: a prefix length is at most {bits} for this address"
            ));
        }
        Ok(Self::canonical(address, prefix))
    }
}

impl Cidr {
    /// The block with host bits cleared (`127.0.0.1/8` is `127.0.0.0/8`), and
    /// an IPv4-mapped block as the IPv4 block it is.
    fn canonical(address: IpAddr, prefix: u8) -> Self {
        match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => Self::canonical(IpAddr::V4(v4), prefix - 96),
                _ => Self {
                    network: IpAddr::V6(mask_v6(v6, prefix)),
                    prefix,
                },
            },
            IpAddr::V4(v4) => Self {
                network: IpAddr::V4(mask_v4(v4, prefix)),
                prefix,
            },
        }
    }
}

fn mask_v4(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(u32::from(ip) & mask)
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    Ipv6Addr::from(u128::from(ip) & mask)
}

/// The reverse proxies whose `X-Forwarded-For` is believed (with
/// `TRUST_PROXY`): addresses and CIDRs, comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse()
                    .map_err(|error| format!("TRUSTED_PROXIES: {error}"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(ip))
    }

    /// The client a request from `peer` comes from, given its
    /// `X-Forwarded-For` hops read from the right (the hop `peer` added
    /// first). Each trusted proxy vouches for the hop before it, so the walk
    /// stops at the first address that is not a trusted proxy: anything left
    /// of it was written by the client and may be forged. A peer that is not
    /// a trusted proxy is the client itself; a chain of trusted proxies only
    /// ends at its left-most address; a hop that is not an address ends the
    /// walk at the proxy that passed it on.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        hops_from_right: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = peer;
        for hop in hops_from_right {
            if !self.contains(client) {
                break;
            }
            match parse_hop(hop) {
                Some(ip) => client = ip,
                None => break,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port as
/// some proxies write it (`192.0.2.1:5123`, `[2001:db8::1]:443`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|address| address.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(text: &str) -> TrustedProxies {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_and_single_addresses_parse() {
        let default = proxies("127.0.0.1/8,::1");
        assert!(default.contains(ip("127.0.0.1")));
        assert!(default.contains(ip("127.255.0.9")));
        assert!(
            default.contains(ip("::ffff:127.0.0.1")),
            "IPv4-mapped is IPv4"
        );
        assert!(default.contains(ip("::1")));
        assert!(!default.contains(ip("::2")));
        assert!(!default.contains(ip("128.0.0.1")));
        let private = proxies(" 10.0.0.0/8 , fd00::/8,192.0.2.7,");
        assert!(private.contains(ip("10.200.3.4")));
        assert!(private.contains(ip("fdab::1")));
        assert!(private.contains(ip("192.0.2.7")));
        assert!(!private.contains(ip("192.0.2.8")));
        assert!(proxies("0.0.0.0/0").contains(ip("203.0.113.1")));
        assert!(!proxies("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(proxies("::ffff:10.0.0.0/104").contains(ip("10.9.9.9")));
        assert_eq!(proxies(""), TrustedProxies::default());
    }

    #[test]
    fn what_is_not_a_cidr_is_refused_with_the_setting_named() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "/8",
            "10.0.0/8",
            "proxy.example",
            "10.0.0.0/8/8",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0 /8",
            "1.2.3.4, 5.6.7.8/40",
        ] {
            let error = bad.parse::<TrustedProxies>().unwrap_err();
            assert!(error.starts_with("TRUSTED_PROXIES: "), "{bad}: {error}");
        }
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_and_mapped_ipv4_as_ipv4() {
        let key = |text| AddressKey::of(ip(text));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:198.51.100.7"), key("198.51.100.7"));
        assert_ne!(key("198.51.100.7"), key("198.51.100.8"));
        assert_eq!(key("2001:db8:1:2::9").to_string(), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:198.51.100.7").to_string(), "198.51.100.7");
    }

    #[test]
    fn the_client_is_the_right_most_hop_that_is_not_a_trusted_proxy() {
        let trusted = proxies("127.0.0.1/8,10.0.0.0/8");
        let client = |peer, header: &str| trusted.client(ip(peer), header.split(',').rev());
        assert_eq!(
            client("203.0.113.9", "127.0.0.1"),
            ip("203.0.113.9"),
            "an untrusted peer"
        );
        assert_eq!(client("127.0.0.1", "198.51.100.1"), ip("198.51.100.1"));
        assert_eq!(
            client("127.0.0.1", "127.0.0.1, 6.6.6.6, 198.51.100.1, 10.1.1.1"),
            ip("198.51.100.1"),
            "what the client wrote left of its address is not read"
        );
        assert_eq!(client("127.0.0.1", "10.0.0.2, 10.0.0.3"), ip("10.0.0.2"));
        assert_eq!(client("127.0.0.1", "198.51.100.1, junk"), ip("127.0.0.1"));
        assert_eq!(client("127.0.0.1", "[2001:db8::5]:443"), ip("2001:db8::5"));
        assert_eq!(client("127.0.0.1", "192.0.2.4:5123"), ip("192.0.2.4"));
        assert_eq!(client("::ffff:10.0.0.1", "192.0.2.4"), ip("192.0.2.4"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_text_is_answered_without_panicking(text in any::<String>()) {
                let _ = text.parse::<TrustedProxies>();
                let _ = parse_hop(&text);
            }

            #[test]
            fn an_ipv4_block_holds_exactly_the_addresses_sharing_its_prefix(
                network in any::<u32>(),
                prefix in 0u8..=32,
                other in any::<u32>(),
            ) {
                let block: Cidr = format!("{}/{prefix}", Ipv4Addr::from(network)).parse().unwrap();
                let shift = 32 - u32::from(prefix);
                let same = network.checked_shr(shift).unwrap_or(0) == other.checked_shr(shift).unwrap_or(0);
                prop_assert_eq!(block.contains(IpAddr::V4(Ipv4Addr::from(other))), same);
                prop_assert!(block.contains(IpAddr::V4(Ipv4Addr::from(network))));
            }

            #[test]
            fn an_ipv6_block_holds_exactly_the_addresses_sharing_its_prefix(
                network in any::<u128>(),
                prefix in 0u8..=128,
                other in any::<u128>(),
            ) {
                let block: Cidr = format!("{}/{prefix}", Ipv6Addr::from(network)).parse().unwrap();
                let shift = 128 - u32::from(prefix);
                let same = network.checked_shr(shift).unwrap_or(0) == other.checked_shr(shift).unwrap_or(0);
                let other = Ipv6Addr::from(other);
                // An IPv4-mapped address is IPv4, in IPv4 blocks only.
                prop_assume!(other.to_ipv4_mapped().is_none());
                prop_assert_eq!(block.contains(IpAddr::V6(other)), same);
            }

            #[test]
            fn ipv6_addresses_share_a_key_exactly_when_they_share_a_64(a in any::<u128>(), b in any::<u128>()) {
                let (a6, b6) = (Ipv6Addr::from(a), Ipv6Addr::from(b));
                prop_assume!(a6.to_ipv4_mapped().is_none() && b6.to_ipv4_mapped().is_none());
                let same = AddressKey::of(IpAddr::V6(a6)) == AddressKey::of(IpAddr::V6(b6));
                prop_assert_eq!(same, a >> 64 == b >> 64);
            }

            #[test]
            fn ipv4_keys_are_the_address_whether_mapped_or_not(a in any::<u32>(), b in any::<u32>()) {
                let (a4, b4) = (Ipv4Addr::from(a), Ipv4Addr::from(b));
                let mapped = AddressKey::of(IpAddr::V6(a4.to_ipv6_mapped()));
                prop_assert_eq!(mapped, AddressKey::of(IpAddr::V4(a4)));
                prop_assert_eq!(mapped == AddressKey::of(IpAddr::V4(b4)), a == b);
            }

            /// Whatever a client writes ahead of the first untrusted hop, and
            /// whatever an untrusted peer sends, the client stays the same.
            #[test]
            fn forged_hops_do_not_move_the_client(
                forged in prop::collection::vec(any::<u32>(), 0..6),
                real in any::<u32>(),
                proxy_hops in 0usize..3,
                untrusted_peer in any::<u32>(),
            ) {
                let trusted = proxies("10.0.0.0/8");
                let real = Ipv4Addr::from(real);
                prop_assume!(!trusted.contains(IpAddr::V4(real)));
                let mut header: Vec<String> = forged.iter().map(|n| Ipv4Addr::from(*n).to_string()).collect();
                header.push(real.to_string());
                header.extend((0..proxy_hops).map(|n| format!("10.0.0.{n}")));
                let hops = || header.iter().rev().map(String::as_str);
                prop_assert_eq!(trusted.client(ip("10.9.9.9"), hops()), IpAddr::V4(real));
                let peer = IpAddr::V4(Ipv4Addr::from(untrusted_peer));
                prop_assume!(!trusted.contains(peer));
                prop_assert_eq!(trusted.client(peer, hops()), peer);
            }
        }
    }
}
