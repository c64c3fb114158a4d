//! `Config`: every setting of `clavox serve`, read from flags, then the
//! environment, then `./.env` (loaded into the environment by `cli::run`
//! before parsing), then the defaults below, and checked once by
//! `validate`. Nothing else in the program reads environment variables.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::address::TrustedProxies;
pub use crate::domain::Registration;

/// A value that must never reach a log line: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsMode {
    /// HTTPS with a certificate from the server's own local authority.
    Auto,
    /// HTTPS with a certificate for TLS_DOMAIN from an ACME authority (Let's
    /// Encrypt by default), by TLS-ALPN-01 on TLS_PORT, renewed by itself.
    Acme,
    /// HTTPS with the certificate and key in TLS_CERT and TLS_KEY,
    /// reloaded when they change.
    Files,
    /// Plain HTTP only (behind a reverse proxy that does HTTPS).
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// The embedded database in the data directory: one node, the fastest.
    Redb,
    /// PostgreSQL at DATABASE_URL, shared by several nodes.
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BusKind {
    /// Events stay in this process: one node.
    Local,
    /// Events, typing and presence cross nodes through NATS at NATS_URL.
    Nats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Settings of `clavox serve`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server settings")]
pub struct Config {
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 5000)]
    pub port: u16,

    /// Address to listen on (0.0.0.0 = every IPv4 interface, :: = every interface).
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Where the database and generated secrets live (created with mode 0700).
    #[arg(
        long = "data-dir",
        env = "CLAVOX_DATA_DIR",
        default_value = "./clavox-data"
    )]
    pub data_dir: PathBuf,

    /// HS256 key for access tokens. Default: generated on first run and kept in the data dir.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,

    /// Read the JWT key from this file instead (for container and systemd secrets).
    #[arg(long, env = "JWT_SECRET_FILE", conflicts_with = "jwt_secret")]
    pub jwt_secret_file: Option<PathBuf>,

    /// Access-token lifetime (`15m`, `7d`, `3600`).
    #[arg(long, env = "JWT_EXPIRE", default_value = "15m", value_parser = parse_duration)]
    pub jwt_expire: Duration,

    /// Refresh-token (login session) lifetime.
    #[arg(long, env = "REFRESH_EXPIRE", default_value = "30d", value_parser = parse_duration)]
    pub refresh_expire: Duration,

    /// How long a one-time code stays valid.
    #[arg(long, env = "OTP_EXPIRE", default_value = "5m", value_parser = parse_duration)]
    pub otp_expire: Duration,

    /// Least time between two codes sent to one number.
    #[arg(long, env = "OTP_COOLDOWN", default_value = "30s", value_parser = parse_duration)]
    pub otp_cooldown: Duration,

    /// Extra allowed browser origins, comma-separated (`http://localhost:5173`).
    #[arg(long, env = "FRONTEND_URL", value_delimiter = ',')]
    pub frontend_url: Vec<String>,

    /// Who may create an account [default: open]. Set here, it wins over
    /// the admin console's setting, which then shows as locked.
    #[arg(long, env = "REGISTRATION", value_enum, ignore_case = true)]
    pub registration: Option<Registration>,

    /// Only numbers starting with one of these may sign up or log in
    /// (`+62,+65`) [default: any]. Set here, it wins over the admin console.
    #[arg(long, env = "ALLOWED_PHONE_PREFIXES", value_delimiter = ',')]
    pub allowed_phone_prefixes: Option<Vec<String>>,

    /// Window of the general REST rate limit, in milliseconds (or `1m`).
    #[arg(long, env = "RATE_LIMIT_WINDOW_MS", default_value = "60000", value_parser = parse_millis)]
    pub rate_limit_window_ms: Duration,

    /// Requests per window per user (per IP address before login).
    #[arg(long, env = "RATE_LIMIT_MAX_REQUESTS", default_value_t = 600)]
    pub rate_limit_max_requests: u32,

    /// Window of the `send-otp` and `verify-otp` limits, in milliseconds (or `15m`).
    #[arg(long, env = "AUTH_RATE_LIMIT_WINDOW_MS", default_value = "900000", value_parser = parse_millis)]
    pub auth_rate_limit_window_ms: Duration,

    /// `send-otp` calls per window per IP address (`verify-otp`: five times that).
    #[arg(long, env = "AUTH_RATE_LIMIT_MAX", default_value_t = 20)]
    pub auth_rate_limit_max: u32,

    /// Deliver codes by POSTing JSON to this URL (your SMS or WhatsApp gateway).
    #[arg(long, env = "OTP_WEBHOOK_URL")]
    pub otp_webhook_url: Option<String>,

    /// Sign webhook bodies with HMAC-SHA256 under this secret (`X-Clavox-Signature`).
    #[arg(long, env = "OTP_WEBHOOK_SECRET", hide_env_values = true)]
    pub otp_webhook_secret: Option<Secret>,

    /// Twilio account SID: with the token and number below, codes go out as SMS through Twilio.
    #[arg(long, env = "TWILIO_ACCOUNT_SID")]
    pub twilio_account_sid: Option<String>,

    /// Twilio auth token.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<Secret>,

    /// The Twilio number codes are sent from.
    #[arg(long, env = "TWILIO_PHONE_NUMBER")]
    pub twilio_phone_number: Option<String>,

    /// Twilio's base URL (point it at a stand-in to test).
    #[arg(long, env = "TWILIO_API_URL", default_value = "https://api.twilio.com")]
    pub twilio_api_url: String,

    /// Bearer token that opens /metrics to clients other than this machine.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// Largest upload, in bytes.
    #[arg(long, env = "UPLOAD_MAX_BYTES", default_value_t = 26_214_400)]
    pub upload_max_bytes: u64,

    /// Bytes of uploads one user may keep; past it an upload is refused
    /// (`403 quota_exceeded`) until some of theirs are removed.
    #[arg(long, env = "UPLOAD_QUOTA_BYTES", default_value_t = 1_073_741_824)]
    pub upload_quota_bytes: u64,

    /// How long an upload that no message or avatar names is kept. SPEC
    /// fixes it at 24 h; shorter only so tests can watch the sweep.
    #[arg(long, env = "UPLOAD_SWEEP_AFTER", default_value = "24h", value_parser = parse_duration, hide = true)]
    pub upload_sweep_after: Duration,

    /// Announce the server on the local network as clavox.local (mDNS, UDP 5353).
    #[arg(long, env = "MDNS", default_value = "true", value_parser = parse_switch, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub mdns: bool,

    /// Take the client address from `X-Forwarded-For` sent by one of TRUSTED_PROXIES.
    #[arg(long, env = "TRUST_PROXY", default_value = "false", value_parser = parse_switch, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub trust_proxy: bool,

    /// The reverse proxies whose `X-Forwarded-For` TRUST_PROXY believes:
    /// addresses or CIDRs, comma-separated. From any other peer the header
    /// is ignored.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "127.0.0.1/8,::1")]
    pub trusted_proxies: TrustedProxies,

    /// Most WebSocket and Socket.IO connections one client address may hold
    /// at once (0: no cap). Loopback clients (this machine: benchmarks, a
    /// reverse proxy without TRUST_PROXY) are not capped.
    #[arg(long, env = "MAX_SOCKETS_PER_IP", default_value_t = 256)]
    pub max_sockets_per_ip: u32,

    /// Most open TCP connections one peer address may hold at once, sockets
    /// excepted (0: no cap). Loopback peers are not capped, nor is anyone
    /// with TRUST_PROXY (every peer is then the proxy).
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: u32,

    /// How long a client may take to send a request's line and headers (and
    /// how long an idle keep-alive connection stays open).
    #[arg(long, env = "HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// How long a request body may stall: the longest wait for its next
    /// bytes, not for all of it, so a large upload on a slow link still works.
    #[arg(long, env = "BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub body_timeout: Duration,

    /// How long a new socket may take to authenticate (`join_user` or a
    /// query token) before it is closed with 4001.
    #[arg(long, env = "SOCKET_AUTH_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub socket_auth_timeout: Duration,

    /// Events per second one socket may send on average, in bursts of twice
    /// that, `send_message` not counted (0: no budget).
    #[arg(long, env = "SOCKET_EVENT_RATE", default_value_t = 20)]
    pub socket_event_rate: u32,

    /// Messages per second one user may send on average over all their
    /// sockets and REST together, in bursts of 200 (0: no budget).
    #[arg(long, env = "MESSAGE_RATE", default_value_t = 30)]
    pub message_rate: u32,

    /// How long after sending a sender may still edit a message (`0`: no
    /// limit) [default: 2d]. Set here, it wins over the admin console.
    #[arg(long, env = "EDIT_WINDOW", value_parser = parse_duration)]
    pub edit_window: Option<Duration>,

    /// How long after sending a sender may still delete a message for
    /// everyone (`0`: no limit; group admins may at any time) [default: 2d].
    /// Set here, it wins over the admin console.
    #[arg(long, env = "DELETE_WINDOW", value_parser = parse_duration)]
    pub delete_window: Option<Duration>,

    /// HTTPS beside plain HTTP: `auto` (the server's own local certificate
    /// authority; phones trust it once, from /join), `acme` (TLS_DOMAIN),
    /// `files` (TLS_CERT and TLS_KEY) or `off`.
    #[arg(long, env = "TLS", value_enum, default_value_t = TlsMode::Auto, ignore_case = true)]
    pub tls: TlsMode,

    /// The HTTPS port (0: any free port).
    #[arg(long, env = "TLS_PORT", default_value_t = 5443)]
    pub tls_port: u16,

    /// For TLS=auto: more names and addresses the certificate carries,
    /// comma-separated (in a container: the host's LAN address and name).
    #[arg(long, env = "TLS_NAMES", value_delimiter = ',')]
    pub tls_names: Vec<String>,

    /// For TLS=acme: the public name the certificate is for. The ACME
    /// authority must reach TLS_PORT at this name (as port 443 outside).
    #[arg(long, env = "TLS_DOMAIN")]
    pub tls_domain: Option<String>,

    /// For TLS=acme: the address the ACME authority may write to about
    /// the certificate (expiry notices).
    #[arg(long, env = "ACME_EMAIL")]
    pub acme_email: Option<String>,

    /// For TLS=acme: the ACME directory URL.
    #[arg(
        long,
        env = "ACME_DIRECTORY",
        default_value = "https://acme-v02.api.letsencrypt.org/directory"
    )]
    pub acme_directory: String,

    /// For TLS=acme: a PEM certificate authority to trust for the ACME
    /// directory itself (a private ACME server such as step-ca).
    #[arg(long, env = "ACME_CA_FILE")]
    pub acme_ca_file: Option<PathBuf>,

    /// For TLS=files: the certificate chain (PEM), reloaded when it changes.
    #[arg(long, env = "TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// For TLS=files: the private key (PEM), reloaded when it changes.
    #[arg(long, env = "TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Whether pushes and ntfy notifications show the message text; off,
    /// they say "New message".
    #[arg(long, env = "PUSH_PREVIEW", default_value = "true", value_parser = parse_switch, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub push_preview: bool,

    /// Push services besides the browsers' own that subscriptions may name
    /// (`host` or `host:port`, comma-separated; UnifiedPush distributors,
    /// where http:// is allowed too).
    #[arg(long, env = "PUSH_ALLOWED_HOSTS")]
    pub push_allowed_hosts: Option<String>,

    /// Where to POST unread nudges (private messages and mentions still
    /// unread after NOTIFY_WEBHOOK_DELAY), e.g. an SMS or WhatsApp gateway.
    #[arg(long, env = "NOTIFY_WEBHOOK_URL")]
    pub notify_webhook_url: Option<String>,

    /// Signs nudges with `X-Clavox-Signature: sha256=<HMAC>`, as codes are.
    #[arg(long, env = "NOTIFY_WEBHOOK_SECRET", hide_env_values = true)]
    pub notify_webhook_secret: Option<Secret>,

    /// How long a message stays unread before its nudge.
    #[arg(long, env = "NOTIFY_WEBHOOK_DELAY", default_value = "15m", value_parser = parse_duration)]
    pub notify_webhook_delay: Duration,

    /// The address people open the app at, for links in notifications
    /// (default: the HTTPS address on this machine's first LAN address).
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Log format: `pretty` or `json` (levels come from RUST_LOG).
    /// Where messages and accounts are stored: `redb` (embedded, one node)
    /// or `postgres` (DATABASE_URL, shared by several nodes).
    #[arg(long, env = "STORE", value_enum, default_value_t = StoreKind::Redb, ignore_case = true)]
    pub store: StoreKind,

    /// PostgreSQL connection URL for STORE=postgres
    /// (`postgres://clavox:secret@db.lan/clavox`).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// How live events reach sockets: `local` (one node) or `nats` (NATS_URL,
    /// for several nodes sharing a PostgreSQL store).
    #[arg(long, env = "BUS", value_enum, default_value_t = BusKind::Local, ignore_case = true)]
    pub bus: BusKind,

    /// NATS servers for BUS=nats, comma-separated (`nats://nats1.lan:4222,nats://nats2.lan:4222`).
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,

    /// Where attachments live; nodes sharing a PostgreSQL store must share
    /// it too (a network file system). Default: `<data dir>/uploads`.
    #[arg(long, env = "UPLOADS_DIR")]
    pub uploads_dir: Option<PathBuf>,

    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, ignore_case = true)]
    pub log_format: LogFormat,
}

/// A phone prefix as `ALLOWED_PHONE_PREFIXES` takes them: `+` and digits.
pub fn check_prefix(prefix: &str) -> std::result::Result<(), String> {
    let digits = prefix.strip_prefix('+').unwrap_or("");
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{prefix}` must look like +62 (a + and digits)"));
    }
    Ok(())
}

/// Largest JSON request body.
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

impl Config {
    /// Checks what clap's types cannot; the message names the setting and
    /// says what to change.
    /// Where attachments live: `UPLOADS_DIR`, or `uploads/` in the data dir.
    pub fn uploads_dir(&self) -> PathBuf {
        self.uploads_dir
            .clone()
            .unwrap_or_else(|| crate::data_dir::DataDir::new(&self.data_dir).uploads())
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.store == StoreKind::Postgres && self.database_url.is_none() {
            return Err(
                "STORE=postgres needs DATABASE_URL (postgres://user:password@host/database)".into(),
            );
        }
        if self.bus == BusKind::Nats && self.nats_url.is_none() {
            return Err("BUS=nats needs NATS_URL (nats://host:4222, comma-separated)".into());
        }
        if self.bus == BusKind::Nats && self.store == StoreKind::Redb {
            return Err(
                "BUS=nats joins several nodes, which must share a store: set STORE=postgres too"
                    .into(),
            );
        }
        let positive = [
            ("JWT_EXPIRE", self.jwt_expire),
            ("REFRESH_EXPIRE", self.refresh_expire),
            ("OTP_EXPIRE", self.otp_expire),
            ("RATE_LIMIT_WINDOW_MS", self.rate_limit_window_ms),
            ("AUTH_RATE_LIMIT_WINDOW_MS", self.auth_rate_limit_window_ms),
            ("HEADER_TIMEOUT", self.header_timeout),
            ("BODY_TIMEOUT", self.body_timeout),
            ("SOCKET_AUTH_TIMEOUT", self.socket_auth_timeout),
            ("UPLOAD_SWEEP_AFTER", self.upload_sweep_after),
        ];
        for (name, value) in positive {
            if value.is_zero() {
                return Err(format!("{name} must be longer than zero"));
            }
        }
        if self.refresh_expire < self.jwt_expire {
            return Err("REFRESH_EXPIRE must be at least as long as JWT_EXPIRE".into());
        }
        if self.rate_limit_max_requests == 0 || self.auth_rate_limit_max == 0 {
            return Err(
                "RATE_LIMIT_MAX_REQUESTS and AUTH_RATE_LIMIT_MAX must be at least 1".into(),
            );
        }
        if let Some(secret) = &self.jwt_secret
            && secret.expose().len() < 32
        {
            return Err(
                "JWT_SECRET must be at least 32 characters; leave it unset to have one generated"
                    .into(),
            );
        }
        for prefix in self.allowed_phone_prefixes.iter().flatten() {
            check_prefix(prefix).map_err(|problem| format!("ALLOWED_PHONE_PREFIXES: {problem}"))?;
        }
        if let Some(url) = &self.otp_webhook_url
            && !is_http_url(url)
        {
            return Err(format!("OTP_WEBHOOK_URL: `{url}` must be an http(s) URL"));
        }
        let twilio = [
            self.twilio_account_sid.is_some(),
            self.twilio_auth_token.is_some(),
            self.twilio_phone_number.is_some(),
        ];
        if twilio.contains(&true) && twilio.contains(&false) {
            return Err("TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_PHONE_NUMBER must be set together".into());
        }
        if twilio[0] && self.otp_webhook_url.is_some() {
            return Err("set either OTP_WEBHOOK_URL or the TWILIO_* settings, not both".into());
        }
        if !is_http_url(&self.twilio_api_url) {
            return Err(format!(
                "TWILIO_API_URL: `{}` must be an http(s) URL",
                self.twilio_api_url
            ));
        }
        let files = [self.tls_cert.is_some(), self.tls_key.is_some()];
        match self.tls {
            TlsMode::Files if files.contains(&false) => {
                return Err("TLS=files needs both TLS_CERT and TLS_KEY (PEM files)".into());
            }
            TlsMode::Auto | TlsMode::Off if files.contains(&true) => {
                return Err("TLS_CERT and TLS_KEY are used only with TLS=files; set TLS=files or remove them".into());
            }
            TlsMode::Acme => match &self.tls_domain {
                None => {
                    return Err("TLS=acme needs TLS_DOMAIN, the public name of this server".into());
                }
                Some(domain) if !crate::lan::is_dns_name(domain) || !domain.contains('.') => {
                    return Err(format!(
                        "TLS_DOMAIN: `{domain}` must be a public host name like chat.example.com"
                    ));
                }
                Some(_) => {}
            },
            _ => {}
        }
        if !is_http_url(&self.acme_directory) {
            return Err(format!(
                "ACME_DIRECTORY: `{}` must be an http(s) URL",
                self.acme_directory
            ));
        }
        if let Some(email) = &self.acme_email
            && (!email.contains('@') || email.contains(char::is_whitespace))
        {
            return Err(format!("ACME_EMAIL: `{email}` is not an email address"));
        }
        if let Some(url) = &self.notify_webhook_url
            && !is_http_url(url)
        {
            return Err(format!(
                "NOTIFY_WEBHOOK_URL: `{url}` must be an http(s) URL"
            ));
        }
        if let Some(url) = &self.public_url
            && !is_origin(url)
        {
            return Err(format!(
                "PUBLIC_URL: `{url}` must be an origin like https://chat.example.com"
            ));
        }
        for name in &self.tls_names {
            let name = name.trim();
            if name.parse::<IpAddr>().is_err() && !crate::lan::is_dns_name(name) {
                return Err(format!(
                    "TLS_NAMES: `{name}` is neither an address nor a host name"
                ));
            }
        }
        if self.tls != TlsMode::Off && self.tls_port != 0 && self.tls_port == self.port {
            return Err(format!(
                "TLS_PORT and PORT are both {}: HTTPS needs a port of its own",
                self.port
            ));
        }
        for origin in &self.frontend_url {
            if !is_origin(origin) {
                return Err(format!(
                    "FRONTEND_URL: `{origin}` must be an origin like https://chat.example.com (scheme, host, optional port, no path)"
                ));
            }
        }
        Ok(())
    }

    /// Whether a browser `origin` may use this server: its own origin (the
    /// request's `Host`) or one listed in `FRONTEND_URL`. CORS and the
    /// WebSocket upgrade both ask this.
    pub fn allows_origin(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/');
        let listed = self
            .frontend_url
            .iter()
            .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin));
        let own = match (origin.split_once("://"), host) {
            (Some((_, authority)), Some(host)) => authority.eq_ignore_ascii_case(host),
            _ => false,
        };
        listed || own
    }
}

fn is_http_url(text: &str) -> bool {
    text.strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.contains(' '))
}

fn is_origin(text: &str) -> bool {
    let text = text.trim_end_matches('/');
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(['/', '?', '#', ' '])
}

/// `30s`, `15m`, `2h`, `7d`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_with_unit(text, 1000)
}

/// `1500`, read as milliseconds, or a duration with a unit (`15m`).
pub fn parse_millis(text: &str) -> Result<Duration, String> {
    parse_with_unit(text, 1)
}

fn parse_with_unit(text: &str, plain_unit_ms: u64) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; use e.g. 30s, 15m, 7d or a number"))?;
    let unit_ms = match unit {
        "" => plain_unit_ms,
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit; use ms, s, m, h or d"
            ));
        }
    };
    number
        .checked_mul(unit_ms)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// `true`/`false`/`1`/`0` (and `yes`/`no`, `on`/`off`).
pub fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(format!("`{other}` is not a switch; use true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_units_and_plain_seconds() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("3600"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-5").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn millisecond_settings_read_plain_numbers_as_milliseconds() {
        assert_eq!(parse_millis("60000"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_millis("15m"), Ok(Duration::from_secs(900)));
    }

    #[test]
    fn switches_accept_the_usual_spellings() {
        assert_eq!(parse_switch("1"), Ok(true));
        assert_eq!(parse_switch("FALSE"), Ok(false));
        assert!(parse_switch("maybe").is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "***");
    }

    #[test]
    fn origins_have_no_path() {
        assert!(is_origin("http://localhost:5173"));
        assert!(is_origin("https://chat.example.com/"));
        assert!(!is_origin("chat.example.com"));
        assert!(!is_origin("https://chat.example.com/app"));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const UNITS: [(&str, u64); 5] = [
            ("ms", 1),
            ("s", 1000),
            ("m", 60_000),
            ("h", 3_600_000),
            ("d", 86_400_000),
        ];

        const SWITCH_WORDS: [&str; 8] = ["true", "1", "yes", "on", "false", "0", "no", "off"];

        proptest! {
            #[test]
            fn any_text_is_answered_without_panicking(text in any::<String>()) {
                let _ = parse_duration(&text);
                let _ = parse_millis(&text);
                let _ = parse_switch(&text);
                let _ = is_origin(&text);
                let _ = is_http_url(&text);
            }

            #[test]
            fn accepted_durations_are_a_number_and_a_known_unit(
                text in "[ ]?[0-9]{0,22}[a-z]{0,3}[ ]?",
            ) {
                let well_formed = {
                    let trimmed = text.trim();
                    let digits = trimmed.trim_end_matches(|c: char| c.is_ascii_lowercase());
                    let unit = &trimmed[digits.len()..];
                    !digits.is_empty()
                        && digits.bytes().all(|b| b.is_ascii_digit())
                        && ["", "ms", "s", "m", "h", "d"].contains(&unit)
                };
                if parse_duration(&text).is_ok() || parse_millis(&text).is_ok() {
                    prop_assert!(well_formed, "{text:?}");
                }
            }

            #[test]
            fn durations_with_a_unit_round_trip(
                number in any::<u64>(),
                unit in 0..UNITS.len(),
                space in "[ \t]{0,2}",
            ) {
                let (suffix, unit_ms) = UNITS[unit];
                let text = format!("{space}{number}{suffix}{space}");
                let expected = number.checked_mul(unit_ms).map(Duration::from_millis);
                prop_assert_eq!(parse_duration(&text).ok(), expected);
                prop_assert_eq!(parse_millis(&text).ok(), expected);
                if let Some(duration) = expected.filter(|_| unit_ms >= 1000) {
                    let seconds = duration.as_secs().to_string();
                    prop_assert_eq!(parse_duration(&seconds), Ok(duration));
                }
            }

            #[test]
            fn plain_numbers_are_seconds_or_milliseconds(number in any::<u64>()) {
                let text = number.to_string();
                prop_assert_eq!(
                    parse_duration(&text).ok(),
                    number.checked_mul(1000).map(Duration::from_millis)
                );
                prop_assert_eq!(parse_millis(&text), Ok(Duration::from_millis(number)));
            }

            #[test]
            fn switches_are_known_words_in_any_case(
                word in prop::sample::select(SWITCH_WORDS.to_vec()),
                upper in prop::collection::vec(any::<bool>(), 5),
                space in "[ \t]{0,2}",
            ) {
                let cased: String = word
                    .chars()
                    .zip(upper.iter().chain(std::iter::repeat(&false)))
                    .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
                    .collect();
                let expected = matches!(word, "true" | "1" | "yes" | "on");
                prop_assert_eq!(parse_switch(&format!("{space}{cased}{space}")), Ok(expected));
            }

            #[test]
            fn other_words_are_not_switches(word in "[a-z0-9]{1,8}") {
                let known = SWITCH_WORDS.contains(&word.as_str());
                prop_assert_eq!(parse_switch(&word).is_ok(), known);
            }
        }
    }
}
