//! Whose address a request counts against: `X-Forwarded-For` only from a
//! peer in `TRUSTED_PROXIES`, read from the right; IPv6 clients by their /64
//! and IPv4-mapped IPv6 as IPv4, for the rate limits and the socket cap alike.

use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::TestApp;

/// A limit of three requests per address, with `X-Forwarded-For` believed
/// from the default trusted proxies (this machine) and `settings`.
async fn limited_to_three(settings: &[(&str, &str)]) -> TestApp {
    let limited = [
        ("--trust-proxy", "true"),
        ("--rate-limit-max-requests", "3"),
    ];
    TestApp::spawn_with(&[&limited[..], settings].concat()).await
}

/// The status of one unauthenticated REST request sent with `forwarded`
/// as its `X-Forwarded-For`.
async fn status_forwarded_for(app: &TestApp, forwarded: &str) -> StatusCode {
    app.client
        .get(app.url("/api/chats"))
        .header("x-forwarded-for", forwarded)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_forwarded_for_from_a_peer_that_is_not_a_trusted_proxy_is_ignored() {
    // The tests' client connects from loopback, which this server does not trust.
    let app = limited_to_three(&[("--trusted-proxies", "10.0.0.0/8")]).await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        statuses.push(status_forwarded_for(&app, &format!("203.0.113.{n}")).await);
    }
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(statuses[3..], [StatusCode::TOO_MANY_REQUESTS; 2]);
}

#[tokio::test]
async fn addresses_a_client_writes_ahead_of_its_proxys_do_not_move_its_key() {
    let app = limited_to_three(&[]).await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        // The client forged the first address; the proxy appended the real one.
        let forwarded = format!("203.0.113.{n}, 198.51.100.50");
        statuses.push(status_forwarded_for(&app, &forwarded).await);
    }
    assert_eq!(statuses[..3], [StatusCode::UNAUTHORIZED; 3]);
    assert_eq!(statuses[3..], [StatusCode::TOO_MANY_REQUESTS; 2]);
    // A proxy chain of trusted hops is walked to the first address it does not trust.
    assert_eq!(
        status_forwarded_for(&app, "198.51.100.51, 127.0.0.5").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn addresses_of_one_ipv6_64_share_a_limit_and_mapped_ipv4_is_ipv4() {
    let app = limited_to_three(&[]).await;
    for n in 1..=3 {
        let rotating = format!("2001:db8:7:8:{n}::{n}");
        assert_eq!(
            status_forwarded_for(&app, &rotating).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        status_forwarded_for(&app, "2001:db8:7:8:ffff::1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status_forwarded_for(&app, "2001:db8:7:9::1").await,
        StatusCode::UNAUTHORIZED,
        "the next /64 is someone else"
    );

    for forwarded in ["198.51.100.60", "::ffff:198.51.100.60", "198.51.100.60"] {
        assert_eq!(
            status_forwarded_for(&app, forwarded).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        status_forwarded_for(&app, "::ffff:198.51.100.60").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn sockets_from_one_ipv6_64_share_the_socket_cap() {
    let app =
        TestApp::spawn_with(&[("--trust-proxy", "true"), ("--max-sockets-per-ip", "2")]).await;
    let connect = |forwarded: &'static str| {
        let mut request = format!("ws://{}/ws", app.address)
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let _first = connect("2001:db8:1:2::1").await.expect("within the cap");
    let _second = connect("2001:db8:1:2::2").await.expect("within the cap");
    assert!(
        connect("2001:db8:1:2:abcd::3").await.is_err(),
        "a third address of the same /64 is over the cap"
    );
    let _neighbour = connect("2001:db8:1:3::1").await.expect("another /64");
}
