//! HTTPS through the real binary: the local authority trusted by a client
//! that trusts nothing else, `/join` and its downloads, the plain port
//! sending browsers there, handshakes that stall or send garbage, files
//! reloaded under open connections, and a damaged authority replaced.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clavox::tls::authority::{Authority, fingerprint, pem_der};
use clavox::tls::names::Names;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::process::{BINARY, Server, free_port};

/// A client that trusts only `ca_pem`, and reaches `clavox.local` at
/// 127.0.0.1.
fn trusting(ca_pem: &str, port: u16) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .resolve("clavox.local", SocketAddr::from(([127, 0, 0, 1], port)))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn text(client: &reqwest::Client, url: &str) -> (reqwest::StatusCode, String) {
    let response = client.get(url).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_https_port_is_trusted_through_the_authority_join_serves() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let port = server.https_port();
    let plain = reqwest::Client::new();
    let (status, ca_pem) = text(&plain, &format!("{}/join/ca.crt", server.base)).await;
    assert_eq!(status, 200);
    let ca_der = pem_der(&ca_pem, "CERTIFICATE").expect("the download is a PEM certificate");
    let expected = fingerprint(&ca_der);
    server.wait_for_line(&expected);
    let client = trusting(&ca_pem, port);
    for url in [
        format!("https://127.0.0.1:{port}/healthz"),
        format!("https://clavox.local:{port}/healthz"),
    ] {
        let (status, body) = text(&client, &url).await;
        assert_eq!(status, 200, "{url}: {body}");
    }
    // The API works the same over HTTPS.
    let (status, body) = text(&client, &format!("https://127.0.0.1:{port}/api/chats")).await;
    assert_eq!(status, 401, "{body}");
    // Nobody else vouches for it.
    let stranger = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    assert!(
        stranger
            .get(format!("https://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_err()
    );

    let (status, page) = text(
        &client,
        &format!("https://clavox.local:{port}/join?lang=id"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.replace("<wbr>", "").contains(&expected),
        "the page shows the fingerprint"
    );
    assert!(
        page.contains(&format!("https://clavox.local:{port}/")),
        "{page}"
    );
    assert!(page.contains("<svg"), "a QR code of the address");
    assert!(page.contains("Percayai sertifikat") && page.contains("iPhone"));
    assert!(
        !page.contains("/join/plain"),
        "over HTTPS there is nothing plain to offer"
    );
    let profile = plain
        .get(format!("{}/join/clavox.mobileconfig", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        profile.headers()["content-type"],
        "application/x-apple-aspen-config"
    );
    let profile = profile.text().await.unwrap();
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&ca_der);
    assert!(profile.contains(&encoded));
}

#[tokio::test]
async fn the_plain_port_sends_browsers_to_join_and_lets_everyone_else_through() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let browser = |path: &str| {
        client
            .get(format!("{}{path}", server.base))
            .header("Host", "192.168.1.20:5000")
            .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
    };
    let sent = browser("/").send().await.unwrap();
    assert_eq!(sent.status(), 303);
    assert_eq!(sent.headers()["location"], "/join");
    let sent = browser("/chats/abc").send().await.unwrap();
    assert_eq!(sent.status(), 303);
    // The page offers plain HTTP, and a browser that takes it is remembered.
    let page = browser("/join").send().await.unwrap().text().await.unwrap();
    assert!(page.contains("https://192.168.1.20:"), "{page}");
    assert!(page.contains("/join/plain"));
    let chosen = browser("/join/plain").send().await.unwrap();
    assert_eq!(chosen.status(), 303);
    let cookie = chosen.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("clavox-plain-http=1"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let app = browser("/").header("Cookie", cookie).send().await.unwrap();
    assert_eq!(app.status(), 200);
    // API clients, assets and this machine's own browser are not sent away.
    let api = browser("/api/chats").send().await.unwrap();
    assert_eq!(api.status(), 401);
    let local = client
        .get(format!("{}/", server.base))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 200);
    let proxied = browser("/")
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200, "a proxy that did HTTPS is believed");
    let script = client
        .get(format!("{}/", server.base))
        .header("Host", "192.168.1.20:5000")
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200, "no text/html, no redirect");
}

#[tokio::test]
async fn a_handshake_that_stalls_or_sends_garbage_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(dir.path(), &[("HEADER_TIMEOUT", "1s")]);
    let port = server.https_port();
    let started = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut buffer = [0; 64];
    let read = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buffer))
        .await
        .expect("the server closes a silent connection");
    assert!(matches!(read, Ok(0) | Err(_)));
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut garbage = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), garbage.read_to_end(&mut answer))
        .await
        .expect("the server closes a connection that does not speak TLS");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    // And the port still serves.
    let (_, ca_pem) = text(
        &reqwest::Client::new(),
        &format!("{}/join/ca.crt", server.base),
    )
    .await;
    let (status, _) = text(
        &trusting(&ca_pem, port),
        &format!("https://127.0.0.1:{port}/healthz"),
    )
    .await;
    assert_eq!(status, 200);
}

/// A TLS connection to 127.0.0.1:`port` trusting `root`, as `name`.
async fn connect(port: u16, root: &[u8], name: &str) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(root.to_vec())).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    connector
        .connect(ServerName::try_from(name.to_owned()).unwrap(), stream)
        .await
        .unwrap()
}

/// Sends one keep-alive `GET /healthz` on `stream` and reads the answer.
async fn health(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: clavox.local\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buffer[..read]).into_owned()
}

fn served_certificate(stream: &tokio_rustls::client::TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn tls_files_are_reloaded_when_they_change_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let root = Authority::create(&Names::from_parts(Some("box"), [])).unwrap();
    let machine = Names::from_parts(Some("box"), ["127.0.0.1".parse().unwrap()]);
    let (certificate, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let install = |issued: clavox::tls::authority::Issued| {
        std::fs::write(&key, issued.key_pem).unwrap();
        std::fs::write(&certificate, issued.certificate_pem).unwrap();
    };
    install(root.issue(&machine).unwrap());
    let mut server = Server::start_with(
        &dir.path().join("data"),
        &[
            ("TLS", "files"),
            ("TLS_CERT", certificate.to_str().unwrap()),
            ("TLS_KEY", key.to_str().unwrap()),
        ],
    );
    let port = server.https_port();
    let mut held = connect(port, root.certificate_der(), "clavox.local").await;
    assert!(health(&mut held).await.contains("200 OK"));
    let first = served_certificate(&held);
    install(root.issue(&machine).unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let fresh = connect(port, root.certificate_der(), "clavox.local").await;
        if served_certificate(&fresh) != first {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed files were never served"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.wait_for_line("reloaded the HTTPS certificate");
    // The connection opened before the renewal goes on as it was.
    assert!(health(&mut held).await.contains("200 OK"));
    assert_eq!(served_certificate(&held), first);
}

#[test]
fn the_authority_survives_restarts_and_a_damaged_one_is_replaced_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let fingerprint_of = |server: &mut Server| {
        let line = server.wait_for_line("CA SHA-256:");
        line.split_whitespace().last().unwrap().to_owned()
    };
    let mut first = Server::start(dir.path());
    let original = fingerprint_of(&mut first);
    first.wait_for_line("this authority is new");
    drop(first);
    let mut second = Server::start(dir.path());
    assert_eq!(fingerprint_of(&mut second), original);
    assert!(
        !second
            .seen
            .iter()
            .any(|line| line.contains("this authority is new"))
    );
    drop(second);
    std::fs::write(dir.path().join("tls-ca.key"), "damaged").unwrap();
    let mut third = Server::start(dir.path());
    let replaced = fingerprint_of(&mut third);
    assert_ne!(replaced, original);
    assert!(third.seen.iter().any(|line| line.contains("was unusable")));
    third.wait_for_line("this authority is new");
}

#[test]
fn a_tls_port_in_use_stops_the_start_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tls_port = taken.local_addr().unwrap().port();
    let output = std::process::Command::new(BINARY)
        .args([
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            &free_port().to_string(),
        ])
        .args(["--tls-port", &tls_port.to_string(), "--mdns", "false"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stdout);
    let errors: Vec<&str> = said.lines().filter(|line| line.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{said}");
    assert!(errors[0].contains("TLS_PORT"), "{said}");
}

#[test]
fn the_json_banner_names_the_https_address_and_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(dir.path(), &[("LOG_FORMAT", "json")]);
    let line = server.wait_for_line("clavox is ready");
    let banner: Value = serde_json::from_str(&line).unwrap();
    let fingerprint = banner["ca_fingerprint"].as_str().unwrap();
    assert_eq!(fingerprint.len(), 95);
    assert!(
        banner["https_urls"]
            .to_string()
            .contains("https://127.0.0.1:")
    );
}

/// Debian's `pebble` ACME test server and its mock DNS (which answers
/// 127.0.0.1 for every name), on free loopback ports; stopped on drop.
struct Pebble {
    children: Vec<std::process::Child>,
    directory: String,
    /// The authority of pebble's own HTTPS, for `ACME_CA_FILE`.
    ca_file: std::path::PathBuf,
    management: u16,
}

impl Pebble {
    /// Starts pebble to validate on `tls_port`, or `None` (skip) when it
    /// is not installed and `CLAVOX_REQUIRE_PEBBLE` is unset.
    fn start(dir: &std::path::Path, tls_port: u16) -> Option<Self> {
        let installed = std::process::Command::new("pebble")
            .arg("-version")
            .output()
            .is_ok();
        if !installed {
            assert!(
                std::env::var_os("CLAVOX_REQUIRE_PEBBLE").is_none(),
                "CLAVOX_REQUIRE_PEBBLE is set but pebble is not installed (apt-get install pebble)"
            );
            eprintln!("skipped: pebble is not installed");
            return None;
        }
        let own = Authority::create(&Names::from_parts(None, [])).unwrap();
        let issued = own
            .issue(&Names::from_parts(None, ["127.0.0.1".parse().unwrap()]))
            .unwrap();
        let path = |name: &str| dir.join(name);
        std::fs::write(path("pebble-ca.pem"), own.certificate_pem()).unwrap();
        std::fs::write(path("pebble-cert.pem"), &issued.certificate_pem).unwrap();
        std::fs::write(path("pebble-key.pem"), &issued.key_pem).unwrap();
        let (acme, management, dns, challenge_management) =
            (free_port(), free_port(), free_port(), free_port());
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{acme}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": path("pebble-cert.pem"),
                "privateKey": path("pebble-key.pem"),
                "httpPort": free_port(),
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        std::fs::write(path("pebble.json"), config.to_string()).unwrap();
        let quiet = || std::process::Stdio::null();
        let dns_server = std::process::Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns}")])
            .args(["-management", &format!("127.0.0.1:{challenge_management}")])
            .args([
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-defaultIPv6",
                "",
            ])
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .unwrap();
        let pebble = std::process::Command::new("pebble")
            .arg("-config")
            .arg(path("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
            // No random pauses or refused nonces: the test is about Clavox.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(quiet())
            .stderr(quiet())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", acme)).is_err() {
            assert!(Instant::now() < deadline, "pebble did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self {
            children: vec![dns_server, pebble],
            directory: format!("https://127.0.0.1:{acme}/dir"),
            ca_file: path("pebble-ca.pem"),
            management,
        })
    }

    /// The root pebble issues certificates under.
    async fn issuing_root(&self) -> Vec<u8> {
        let ca = std::fs::read_to_string(&self.ca_file).unwrap();
        let (_, pem) = text(
            &trusting(&ca, 0),
            &format!("https://127.0.0.1:{}/roots/0", self.management),
        )
        .await;
        pem_der(&pem, "CERTIFICATE").expect("pebble's root")
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

const ACME_DOMAIN: &str = "chat.clavox.test";

#[tokio::test]
async fn tls_acme_gets_a_certificate_by_tls_alpn_01_and_keeps_it_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let tls_port = free_port();
    let Some(pebble) = Pebble::start(dir.path(), tls_port) else {
        return;
    };
    let data = dir.path().join("data");
    let tls_port_text = tls_port.to_string();
    let ca_file = pebble.ca_file.to_str().unwrap().to_owned();
    let settings = [
        ("TLS", "acme"),
        ("TLS_DOMAIN", ACME_DOMAIN),
        ("TLS_PORT", tls_port_text.as_str()),
        ("ACME_DIRECTORY", pebble.directory.as_str()),
        ("ACME_CA_FILE", ca_file.as_str()),
        ("ACME_EMAIL", "admin@clavox.test"),
    ];
    let mut server = Server::start_with(&data, &settings);
    server.wait_for_line("got a certificate by ACME");
    let root = pebble.issuing_root().await;
    let mut stream = connect(tls_port, &root, ACME_DOMAIN).await;
    assert!(health(&mut stream).await.contains("200 OK"));
    // /join names the public address and has no authority to trust.
    let page = reqwest::Client::new()
        .get(format!("{}/join", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("https://{ACME_DOMAIN}:{tls_port}/")),
        "{page}"
    );
    assert!(!page.contains("/join/ca.crt"));
    let certificate = served_certificate(&stream);
    drop(stream);
    drop(server);
    let mut restarted = Server::start_with(&data, &settings);
    restarted.wait_for_line("serving the saved ACME certificate");
    let stream = connect(tls_port, &root, ACME_DOMAIN).await;
    assert_eq!(served_certificate(&stream), certificate, "no second order");
}

#[tokio::test]
async fn an_unreachable_acme_server_is_retried_while_plain_http_serves() {
    let dir = tempfile::tempdir().unwrap();
    let nothing_there = format!("https://127.0.0.1:{}/dir", free_port());
    let mut server = Server::start_with(
        dir.path(),
        &[
            ("TLS", "acme"),
            ("TLS_DOMAIN", ACME_DOMAIN),
            ("ACME_DIRECTORY", nothing_there.as_str()),
        ],
    );
    let line = server.wait_for_line("cannot get a certificate by ACME");
    assert!(line.contains("trying again in"), "{line}");
    let (status, _) = text(&reqwest::Client::new(), &format!("{}/healthz", server.base)).await;
    assert_eq!(status, 200);
}
