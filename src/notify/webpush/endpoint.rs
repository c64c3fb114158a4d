//! Which push endpoints a subscription may name. An endpoint is a URL a
//! browser hands over, so anyone can choose it: admitting only the browsers'
//! push services and the hosts an admin lists keeps the server from being
//! pointed at its own network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use reqwest::Url;
use reqwest::dns::Name;

/// The longest endpoint admitted. Real ones are well under 1 KiB; the cap
/// keeps stored subscriptions small.
pub const MAX_ENDPOINT_LENGTH: usize = 2048;

/// The browsers' push services, reached over `https://` on port 443 only.
/// A leading `*.` admits any subdomain (Apple and Windows give each device
/// a regional host). Chrome and Edge on Android use FCM; Firefox uses
/// Mozilla's autopush; Safari uses Apple's; Edge on Windows uses WNS.
pub const PUSH_SERVICES: &[&str] = &[
    "fcm.googleapis.com",
    "android.googleapis.com",
    "updates.push.services.mozilla.com",
    "push.services.mozilla.com",
    "web.push.apple.com",
    "*.push.apple.com",
    "*.notify.windows.com",
];

/// Hosts an admin trusts as push endpoints (`PUSH_ALLOWED_HOSTS`), such as a
/// UnifiedPush distributor on the LAN: any scheme, any address. `host`
/// admits the scheme's default port, `host:port` that port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    host: HostName,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostName {
    Domain(String),
    Ip(IpAddr),
}

impl AllowedHosts {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `url`'s host and port are listed.
    fn admits(&self, url: &Url) -> bool {
        let Some(host) = url_host(url) else {
            return false;
        };
        self.entries.iter().any(|entry| {
            entry.host == host
                && match entry.port {
                    Some(port) => url.port_or_known_default() == Some(port),
                    None => url.port().is_none(),
                }
        })
    }

    /// Whether a name being resolved belongs to a listed host: those may
    /// resolve to any address, a LAN one included.
    pub(super) fn lists_name(&self, name: &Name) -> bool {
        let name = name.as_str().to_ascii_lowercase();
        self.entries
            .iter()
            .any(|entry| matches!(&entry.host, HostName::Domain(domain) if *domain == name))
    }
}

/// A URL's host as a name or an address (the parser has already
/// normalised it: lower case, IPv6 in brackets).
fn url_host(url: &Url) -> Option<HostName> {
    let host = url.host_str()?;
    if let Some(ip) = host.strip_prefix('[').and_then(|ip| ip.strip_suffix(']')) {
        return Ipv6Addr::from_str(ip)
            .ok()
            .map(|ip| HostName::Ip(IpAddr::V6(ip)));
    }
    Some(match Ipv4Addr::from_str(host) {
        Ok(ip) => HostName::Ip(IpAddr::V4(ip)),
        Err(_) => HostName::Domain(host.to_ascii_lowercase()),
    })
}

impl FromStr for AllowedHosts {
    type Err = String;

    /// A comma-separated list of `host` or `host:port` (`[v6]:port` for
    /// IPv6); blanks around entries and empty entries are ignored.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let entries = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                parse_entry(entry).map_err(|why| {
                    format!("PUSH_ALLOWED_HOSTS: `{entry}` {why} (expected `host` or `host:port`)")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }
}

fn parse_entry(entry: &str) -> Result<AllowedHost, &'static str> {
    let entry = entry.to_ascii_lowercase();
    let (host, port) = if let Some(bracketed) = entry.strip_prefix('[') {
        let (ip, rest) = bracketed.split_once(']').ok_or("lacks its closing `]`")?;
        let ip = Ipv6Addr::from_str(ip).map_err(|_| "is not an IPv6 address")?;
        (HostName::Ip(IpAddr::V6(ip)), rest)
    } else {
        let (host, rest) = entry
            .find(':')
            .map_or((entry.as_str(), ""), |at| entry.split_at(at));
        (parse_host(host)?, rest)
    };
    let port = match port {
        "" => None,
        port => Some(parse_port(port)?),
    };
    Ok(AllowedHost { host, port })
}

fn parse_host(host: &str) -> Result<HostName, &'static str> {
    if let Ok(ip) = Ipv4Addr::from_str(host) {
        return Ok(HostName::Ip(IpAddr::V4(ip)));
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if host.len() <= 253 && host.split('.').all(valid_label) {
        Ok(HostName::Domain(host.to_owned()))
    } else {
        Err("is not a host name")
    }
}

fn parse_port(port: &str) -> Result<u16, &'static str> {
    port.strip_prefix(':')
        .and_then(|digits| digits.parse::<u16>().ok())
        .filter(|port| *port != 0)
        .ok_or("has no valid port after the host")
}

/// Admits `endpoint` as a push endpoint, or says in a sentence why not (for
/// a `400 validation_error`). Built-in push services need `https://` on the
/// default port; listed hosts may use `http://` and their listed port. Names
/// are checked here; the addresses they resolve to are checked when sending.
pub fn check_endpoint(endpoint: &str, allowed: &AllowedHosts) -> Result<(), String> {
    parse_endpoint(endpoint, allowed).map(|_| ())
}

/// [`check_endpoint`], giving the parsed URL to the sender.
pub(super) fn parse_endpoint(endpoint: &str, allowed: &AllowedHosts) -> Result<Url, String> {
    if endpoint.len() > MAX_ENDPOINT_LENGTH {
        return Err(format!(
            "The endpoint is longer than {MAX_ENDPOINT_LENGTH} characters."
        ));
    }
    // Plain ASCII only: no look-alike host names, no spaces or controls the
    // URL parser would quietly drop or encode.
    if !endpoint.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err("The endpoint must be plain ASCII without spaces.".into());
    }
    let url = Url::parse(endpoint).map_err(|_| "The endpoint is not a valid URL.".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The endpoint must not carry a user name or password.".into());
    }
    if !matches!(url.scheme(), "https" | "http") {
        return Err("The endpoint must be an https:// URL.".into());
    }
    if allowed.admits(&url) {
        return Ok(url);
    }
    check_push_service(&url)?;
    Ok(url)
}

fn check_push_service(url: &Url) -> Result<(), String> {
    let domain = match url_host(url) {
        Some(HostName::Domain(domain)) => domain,
        Some(HostName::Ip(_)) => {
            return Err(
                "The endpoint names an IP address; only push services and hosts in PUSH_ALLOWED_HOSTS are accepted."
                    .into(),
            );
        }
        None => return Err("The endpoint has no host.".into()),
    };
    if !is_push_service(&domain) {
        return Err(format!(
            "The endpoint's host {domain} is not a known push service nor listed in PUSH_ALLOWED_HOSTS."
        ));
    }
    if url.scheme() != "https" {
        return Err("Push service endpoints must use https://.".into());
    }
    if url.port().is_some() {
        return Err("Push service endpoints must use the default HTTPS port.".into());
    }
    Ok(())
}

fn is_push_service(domain: &str) -> bool {
    PUSH_SERVICES
        .iter()
        .any(|service| match service.strip_prefix("*.") {
            Some(parent) => domain
                .strip_suffix(parent)
                .and_then(|sub| sub.strip_suffix('.'))
                .is_some_and(|sub| !sub.is_empty()),
            None => domain == *service,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> AllowedHosts {
        AllowedHosts::default()
    }

    fn listed(list: &str) -> AllowedHosts {
        list.parse().expect("a valid list")
    }

    #[test]
    fn https_endpoints_on_the_browsers_push_services_are_admitted() {
        for endpoint in [
            "https://fcm.googleapis.com/fcm/send/abc:def",
            "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
            "https://web.push.apple.com/QGx9",
            "https://api.push.apple.com/3/device/x",
            "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",
            "https://android.googleapis.com/gcm/send/x",
            "https://FCM.googleapis.com:443/fcm/send/x",
        ] {
            assert_eq!(check_endpoint(endpoint, &none()), Ok(()), "{endpoint}");
        }
    }

    #[test]
    fn http_other_ports_and_unknown_hosts_are_refused_for_push_services() {
        for endpoint in [
            "http://fcm.googleapis.com/fcm/send/x",
            "https://fcm.googleapis.com:8443/fcm/send/x",
            "https://example.com/push",
            "https://push.apple.com/x",
            "https://evil.push.apple.com.example.com/x",
            "https://fcm.googleapis.com.evil.example/x",
            "ftp://fcm.googleapis.com/x",
        ] {
            assert!(check_endpoint(endpoint, &none()).is_err(), "{endpoint}");
        }
    }

    #[test]
    fn userinfo_ip_literals_overlong_and_non_ascii_endpoints_are_refused() {
        let long = format!("https://fcm.googleapis.com/{}", "a".repeat(2048));
        for endpoint in [
            "https://user:pw@fcm.googleapis.com/x",
            "https://user@fcm.googleapis.com/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://169.254.169.254/latest",
            "https://fcm.googleapis.com/é",
            "https://fcm.googleapis.com/a b",
            "https://fcm.googleapis.com/\n",
            long.as_str(),
            "not a url",
        ] {
            assert!(check_endpoint(endpoint, &none()).is_err(), "{endpoint}");
        }
    }

    #[test]
    fn listed_hosts_are_admitted_over_http_on_their_listed_port() {
        let allowed = listed("ntfy.lan, 192.168.1.10:8080,[fd00::1]:2586");
        for endpoint in [
            "http://ntfy.lan/up/abc",
            "https://ntfy.lan/up/abc",
            "http://NTFY.lan/up",
            "http://192.168.1.10:8080/up",
            "http://[fd00::1]:2586/up",
        ] {
            assert_eq!(check_endpoint(endpoint, &allowed), Ok(()), "{endpoint}");
        }
        for endpoint in [
            "http://ntfy.lan:8080/up",
            "http://192.168.1.10/up",
            "http://192.168.1.10:8081/up",
            "http://[fd00::1]/up",
            "http://user@ntfy.lan/up",
        ] {
            assert!(check_endpoint(endpoint, &allowed).is_err(), "{endpoint}");
        }
    }

    #[test]
    fn allowed_hosts_parse_from_a_comma_separated_list() {
        assert!(listed("").is_empty());
        assert!(listed(" , ").is_empty());
        let hosts = listed("a.lan, 10.0.0.2:80 ,[::1]:1");
        assert_eq!(hosts.entries.len(), 3);
        assert_eq!(hosts.entries[1].port, Some(80));
        assert_eq!(
            hosts.entries[2].host,
            HostName::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
    }

    #[test]
    fn bad_allowed_host_entries_are_named_in_the_error() {
        for list in [
            "a.lan:0",
            "a.lan:99999",
            "a.lan:",
            "http://a.lan",
            "a..lan",
            "[::1",
            "[zz]:1",
            "a.lan/path",
            "user@a.lan",
        ] {
            let error = list.parse::<AllowedHosts>().expect_err(list);
            assert!(error.contains("PUSH_ALLOWED_HOSTS"), "{error}");
            assert!(error.contains(list), "{error}");
        }
    }
}
