//! The server's own certificate authority (`TLS=auto`): an ECDSA P-256 root
//! made on first start and kept in the data directory (key 0600, both in
//! backups), which signs a short-lived certificate for this machine's names.
//!
//! The root is name-constrained to what a LAN server can be called: `.local`,
//! `localhost`, the host name, the private and loopback address ranges, and
//! the machine's own public addresses when it was made. A phone that trusts
//! it therefore trusts nothing it could sign for any other site. Chrome,
//! Firefox, Android and current Apple systems enforce such constraints on a
//! root the user installed; a system that ignores them trusts the root for
//! every name, which is why its key never leaves the data directory.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_parser::extensions::GeneralName;

use super::names::Names;

/// How long the root is valid.
const ROOT_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a machine certificate is valid; well under the 825 days Apple
/// accepts, and short enough that a stolen one soon expires.
pub const LEAF_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);
/// Certificates start a little in the past: a phone whose clock runs behind
/// must not see one that is "not yet valid".
const BACKDATE: Duration = Duration::from_secs(24 * 3600);

/// DNS names the root may sign for (each with its subdomains).
const DNS_SCOPE: [&str; 5] = ["local", "localhost", "home.arpa", "lan", "internal"];

/// Address ranges the root may sign for: private, shared (carrier-grade NAT,
/// VPN meshes), loopback and unique-local.
const NET_SCOPE: [(&str, u8); 8] = [
    ("10.0.0.0", 8),
    ("172.16.0.0", 12),
    ("192.168.0.0", 16),
    ("100.64.0.0", 10),
    ("127.0.0.0", 8),
    ("::1", 128),
    ("fc00::", 7),
    ("fe80::", 10),
];

/// The names and address ranges a root may sign for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    dns: Vec<String>,
    nets: Vec<(IpAddr, u8)>,
}

impl Scope {
    /// The scope of a root made now on a machine named `names`: the fixed
    /// LAN scope, the host name and any public address the machine has.
    fn for_machine(names: &Names) -> Self {
        let mut dns: Vec<String> = DNS_SCOPE.iter().map(|name| (*name).to_owned()).collect();
        dns.extend(
            names
                .dns
                .iter()
                .filter(|name| !covers(&dns, name))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let mut nets: Vec<(IpAddr, u8)> = NET_SCOPE
            .iter()
            .map(|(net, prefix)| (net.parse().expect("a valid range"), *prefix))
            .collect();
        let public: Vec<_> = names
            .ips
            .iter()
            .filter(|ip| !nets.iter().any(|net| in_net(**ip, *net)))
            .map(|ip| (*ip, if ip.is_ipv4() { 32 } else { 128 }))
            .collect();
        nets.extend(public);
        Self { dns, nets }
    }

    /// Whether a certificate signed by the root may carry `name`.
    pub fn permits_dns(&self, name: &str) -> bool {
        covers(&self.dns, name)
    }

    pub fn permits_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| in_net(ip, *net))
    }

    /// `names` less those outside this scope.
    pub fn restrict(&self, names: &Names) -> Names {
        Names {
            dns: names
                .dns
                .iter()
                .filter(|name| self.permits_dns(name))
                .cloned()
                .collect(),
            ips: names
                .ips
                .iter()
                .copied()
                .filter(|ip| self.permits_ip(*ip))
                .collect(),
        }
    }

    fn constraints(&self) -> NameConstraints {
        let dns = self.dns.iter().cloned().map(GeneralSubtree::DnsName);
        let nets = self.nets.iter().map(|(ip, prefix)| {
            GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(*ip, *prefix))
        });
        NameConstraints {
            permitted_subtrees: dns.chain(nets).collect(),
            excluded_subtrees: Vec::new(),
        }
    }

    /// The scope written in a root's name constraints.
    fn of_certificate(certificate: &x509_parser::certificate::X509Certificate<'_>) -> Option<Self> {
        let constraints = certificate.name_constraints().ok()??;
        let mut scope = Self {
            dns: Vec::new(),
            nets: Vec::new(),
        };
        for subtree in constraints.value.permitted_subtrees.as_ref()? {
            match subtree.base {
                GeneralName::DNSName(name) => scope.dns.push(name.to_owned()),
                GeneralName::IPAddress(bytes) => scope.nets.push(net_of(bytes)?),
                _ => return None,
            }
        }
        Some(scope)
    }
}

/// Whether a DNS constraint list admits `name` (a constraint admits
/// itself and its subdomains).
fn covers(constraints: &[String], name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    constraints.iter().any(|constraint| {
        name == *constraint
            || name
                .strip_suffix(constraint.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

fn in_net(ip: IpAddr, (net, prefix): (IpAddr, u8)) -> bool {
    match (ip.to_canonical(), net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// A name constraint's address and mask as a network and prefix length.
fn net_of(bytes: &[u8]) -> Option<(IpAddr, u8)> {
    let (address, mask) = bytes.split_at(bytes.len() / 2);
    let prefix = u8::try_from(mask.iter().map(|b| b.count_ones()).sum::<u32>()).ok()?;
    let ip = match address.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(address).ok()?),
        16 => IpAddr::from(<[u8; 16]>::try_from(address).ok()?),
        _ => return None,
    };
    Some((ip, prefix))
}

/// A root certificate and its key.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    certificate_pem: String,
    certificate_der: Vec<u8>,
    scope: Scope,
}

/// A certificate issued for this machine.
pub struct Issued {
    pub certificate_pem: String,
    pub key_pem: String,
    pub names: Names,
}

impl Authority {
    /// A new root for a machine named `names`.
    pub fn create(names: &Names) -> Result<Self, String> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(describe)?;
        let scope = Scope::for_machine(names);
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Clavox");
        let host = names
            .dns
            .iter()
            .find(|name| !name.contains('.') && *name != "localhost");
        params.distinguished_name.push(
            DnType::CommonName,
            match host {
                Some(host) => format!("Clavox on {host}"),
                None => "Clavox local authority".to_owned(),
            },
        );
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.name_constraints = Some(scope.constraints());
        params.serial_number = Some(random_serial());
        let now = SystemTime::now();
        params.not_before = time_of(now - BACKDATE);
        params.not_after = time_of(now + ROOT_LIFETIME);
        let certificate = params.self_signed(&key).map_err(describe)?;
        Ok(Self {
            certificate_pem: certificate.pem(),
            certificate_der: certificate.der().to_vec(),
            issuer: Issuer::new(params, key),
            scope,
        })
    }

    /// The root in `certificate_pem` with its key in `key_pem`; an error
    /// says what is wrong with them.
    pub fn load(certificate_pem: &str, key_pem: &str) -> Result<Self, String> {
        let key = KeyPair::from_pem(key_pem).map_err(|error| format!("the key: {error}"))?;
        let der = pem_der(certificate_pem, "CERTIFICATE").ok_or("the certificate is not PEM")?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|error| format!("the certificate: {error}"))?;
        if !parsed.is_ca() {
            return Err("the certificate is not an authority".into());
        }
        if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err("the key does not belong to the certificate".into());
        }
        if !parsed.validity().is_valid() {
            return Err("the certificate has expired".into());
        }
        let scope = Scope::of_certificate(&parsed)
            .ok_or("the certificate has no name constraints Clavox can read")?;
        let issuer = Issuer::from_ca_cert_der(&der.clone().into(), key).map_err(describe)?;
        Ok(Self {
            issuer,
            certificate_pem: certificate_pem.to_owned(),
            certificate_der: der,
            scope,
        })
    }

    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// The name phones show for it (`Clavox on kitchen`).
    pub fn name(&self) -> String {
        x509_parser::parse_x509_certificate(&self.certificate_der)
            .ok()
            .and_then(|(_, parsed)| {
                let name = parsed
                    .subject()
                    .iter_common_name()
                    .next()?
                    .as_str()
                    .ok()?
                    .to_owned();
                Some(name)
            })
            .unwrap_or_else(|| "Clavox".to_owned())
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// `AB:CD:…`: the SHA-256 of the certificate, as phones and browsers
    /// show it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.certificate_der)
    }

    /// A certificate for those of `names` this root may sign for, valid
    /// from now for `LEAF_LIFETIME`.
    pub fn issue(&self, names: &Names) -> Result<Issued, String> {
        let names = self.scope.restrict(names);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(describe)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, crate::lan::MDNS_HOST);
        params.subject_alt_names = names
            .dns
            .iter()
            .filter_map(|name| name.clone().try_into().ok().map(SanType::DnsName))
            .chain(names.ips.iter().map(|ip| SanType::IpAddress(*ip)))
            .collect();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial());
        let now = SystemTime::now();
        params.not_before = time_of(now - BACKDATE);
        params.not_after = time_of(now + LEAF_LIFETIME);
        let certificate = params.signed_by(&key, &self.issuer).map_err(describe)?;
        Ok(Issued {
            certificate_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
            names,
        })
    }
}

/// The SHA-256 of `der` as colon-separated upper-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut text = String::with_capacity(digest.len() * 3);
    for (index, byte) in digest.iter().enumerate() {
        if index > 0 {
            text.push(':');
        }
        let _ = write!(text, "{byte:02X}");
    }
    text
}

/// The contents of the first PEM block labelled `label` in `text`.
pub fn pem_der(text: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

fn random_serial() -> SerialNumber {
    // Positive (top bit clear) and never starting with a zero byte.
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&bytes)
}

fn time_of(moment: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(moment)
}

#[allow(clippy::needless_pass_by_value)] // the shape `map_err` passes
fn describe(error: rcgen::Error) -> String {
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Names {
        Names::from_parts(
            Some("kitchen"),
            [
                "192.168.1.20".parse().unwrap(),
                "127.0.0.1".parse().unwrap(),
                "203.0.113.7".parse().unwrap(),
            ],
        )
    }

    #[test]
    fn the_scope_admits_lan_names_and_the_machines_own_addresses_only() {
        let scope = Scope::for_machine(&machine());
        for name in [
            "clavox.local",
            "kitchen",
            "kitchen.local",
            "localhost",
            "nas.home.arpa",
        ] {
            assert!(scope.permits_dns(name), "{name}");
        }
        for name in [
            "example.com",
            "local.example.com",
            "xlocal",
            "kitchen.example.com.evil",
        ] {
            assert!(!scope.permits_dns(name), "{name}");
        }
        for ip in [
            "10.1.2.3",
            "172.31.255.1",
            "192.168.1.20",
            "203.0.113.7",
            "::1",
            "fd00::5",
        ] {
            assert!(scope.permits_ip(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "203.0.113.8", "172.32.0.1", "2001:db8::1"] {
            assert!(!scope.permits_ip(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_saved_root_loads_with_its_scope_and_signs_for_the_machine() {
        let names = machine();
        let root = Authority::create(&names).unwrap();
        let loaded = Authority::load(root.certificate_pem(), &root.key_pem()).unwrap();
        assert_eq!(loaded.scope(), root.scope());
        assert_eq!(loaded.fingerprint(), root.fingerprint());
        let wider = Names::from_parts(
            Some("kitchen"),
            names
                .ips
                .iter()
                .copied()
                .chain(["8.8.4.4".parse().unwrap()]),
        );
        let issued = loaded.issue(&wider).unwrap();
        assert_eq!(
            issued.names, names,
            "an address outside the scope is left out"
        );
        let der = pem_der(&issued.certificate_pem, "CERTIFICATE").unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            leaf.issuer(),
            x509_parser::parse_x509_certificate(root.certificate_der())
                .unwrap()
                .1
                .subject()
        );
    }

    #[test]
    fn a_damaged_or_mismatched_root_is_refused_with_a_reason() {
        let root = Authority::create(&machine()).unwrap();
        let other = Authority::create(&machine()).unwrap();
        let mismatched = Authority::load(root.certificate_pem(), &other.key_pem());
        assert!(mismatched.err().unwrap().contains("does not belong"));
        let truncated = &root.certificate_pem()[..100];
        assert!(Authority::load(truncated, &root.key_pem()).is_err());
        assert!(Authority::load(root.certificate_pem(), "garbage").is_err());
    }

    #[test]
    fn fingerprints_are_colon_separated_sha256() {
        let text = fingerprint(b"abc");
        assert_eq!(text.len(), 32 * 3 - 1);
        assert!(text.starts_with("BA:78:16:BF"));
    }
}
