//! The accept loop: takes TCP connections, refuses a peer past its share of
//! them, and serves each with hyper's HTTP/1 under a header read timeout, so a
//! client that opens a connection and sends its request head a byte at a
//! time (slow-loris) is cut off instead of holding the connection forever.
//! An HTTPS port does the TLS handshake first, under the same timeout.
//! Shutdown stops accepting, lets requests in flight finish and waits for
//! their connections; upgraded sockets are the hub's to close. A socket,
//! upgraded or not, closes by lingering (`LingeringClose`). Also
//! `AddressCounts`, the per-address cap shared with the realtime gateway.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::address::AddressKey;

/// How the accept loop treats connections.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Longest wait for a request's line and headers, also the longest a
    /// keep-alive connection may sit idle between requests.
    pub header_timeout: Duration,
    /// Open connections per peer address (0: no cap).
    pub max_per_peer: u32,
}

/// A bound port, plain or HTTPS.
pub struct Port {
    pub listener: TcpListener,
    /// The TLS side of an HTTPS port.
    pub tls: Option<TlsAcceptor>,
}

impl Port {
    pub fn plain(listener: TcpListener) -> Self {
        Self {
            listener,
            tls: None,
        }
    }
}

/// Which kind of port a request came in on, for handlers that answer
/// differently over plain HTTP (the `/join` redirect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

/// Serves `app` on every port until `shutdown` resolves, then stops
/// accepting and waits for the connections in flight to finish. A peer's
/// share of connections counts over all ports together.
pub async fn serve(
    ports: Vec<Port>,
    app: Router,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let connections = TaskTracker::new();
    let stopping = CancellationToken::new();
    let accepting = CancellationToken::new();
    let peers = AddressCounts::new(settings.max_per_peer);
    let loops: Vec<_> = ports
        .into_iter()
        .map(|port| {
            tokio::spawn(accept(
                port,
                Accepting {
                    app: app.clone(),
                    header_timeout: settings.header_timeout,
                    peers: peers.clone(),
                    connections: connections.clone(),
                    stopping: stopping.clone(),
                },
                accepting.clone(),
            ))
        })
        .collect();
    shutdown.await;
    accepting.cancel();
    for accept_loop in loops {
        let _ = accept_loop.await;
    }
    stopping.cancel();
    connections.close();
    connections.wait().await;
}

/// What every accept loop shares.
#[derive(Clone)]
struct Accepting {
    app: Router,
    header_timeout: Duration,
    peers: AddressCounts,
    connections: TaskTracker,
    stopping: CancellationToken,
}

/// Accepts on one port until `accepting` is cancelled; the port closes
/// when it returns.
async fn accept(port: Port, shared: Accepting, accepting: CancellationToken) {
    loop {
        let (stream, peer) = tokio::select! {
            () = accepting.cancelled() => break,
            accepted = port.listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    backoff(&error).await;
                    continue;
                }
            },
        };
        let Some(claim) = shared.peers.claim(peer.ip()) else {
            refuse(&stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let stream = LingeringClose(Some(stream));
        let shared_here = shared.clone();
        match &port.tls {
            None => {
                shared.connections.spawn(async move {
                    serve_connection(stream, peer, Transport::Plain, shared_here).await;
                    drop(claim);
                });
            }
            Some(tls) => {
                let tls = tls.clone();
                shared.connections.spawn(async move {
                    // A client that sends garbage or stalls in the handshake
                    // is cut off like one that stalls in its headers.
                    let handshake =
                        tokio::time::timeout(shared_here.header_timeout, tls.accept(stream)).await;
                    match handshake {
                        // A TLS-ALPN-01 validation ends with its handshake.
                        Ok(Ok(stream))
                            if stream.get_ref().1.alpn_protocol()
                                != Some(crate::tls::ACME_ALPN) =>
                        {
                            serve_connection(stream, peer, Transport::Tls, shared_here).await;
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => {
                            tracing::debug!(%error, %peer, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                    drop(claim);
                });
            }
        }
    }
}

/// One connection: HTTP/1 with upgrades (WebSocket), the peer's address
/// and the transport handed to handlers, and a graceful end at shutdown.
async fn serve_connection<S>(stream: S, peer: SocketAddr, transport: Transport, shared: Accepting)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let app = shared.app.map_request(move |request: Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(transport);
        request
    });
    let mut builder = http1::Builder::new();
    // hyper applies the header timeout only with a timer to run it.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.header_timeout);
    let connection = builder
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shared.stopping.cancelled() => {
            // Finishes the request in flight, then closes; an idle
            // keep-alive connection closes at once.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, %peer, "connection ended with an error");
    }
}

/// A connection's socket that closes by lingering: it sends its FIN, then
/// reads and throws away what the client still sends, for a while, before it
/// closes. A socket closed with unread bytes in it (the rest of a `/ws` frame
/// too large to read) is reset instead, and a reset fails the client's
/// writes and can lose it what the server wrote last, such as the close
/// frame 1009.
struct LingeringClose(Option<TcpStream>);

/// The longest a closing connection lingers.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// The most a closing connection reads and throws away; past it, a client
/// still sending is reset after all.
const LINGER_BYTES: usize = 1024 * 1024;

impl LingeringClose {
    fn stream(&mut self) -> Pin<&mut TcpStream> {
        // Only `drop` takes the stream out, and nothing polls after it.
        Pin::new(self.0.as_mut().expect("the stream is taken only on drop"))
    }
}

impl Drop for LingeringClose {
    fn drop(&mut self) {
        let Some(stream) = self.0.take() else {
            return;
        };
        // Without a runtime (it is shutting down) the socket just closes.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(stream));
        }
    }
}

async fn linger(mut stream: TcpStream) {
    // The FIN first: the client learns at once that nothing more comes.
    let _ = stream.shutdown().await;
    let mut buffer = [0; 8 * 1024];
    let mut discarded = 0;
    let _ = tokio::time::timeout(LINGER_TIME, async {
        while discarded < LINGER_BYTES {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => discarded += read,
            }
        }
    })
    .await;
}

impl AsyncRead for LingeringClose {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_read(cx, buffer)
    }
}

impl AsyncWrite for LingeringClose {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stream().poll_write(cx, bytes)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stream().poll_write_vectored(cx, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.as_ref().is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_shutdown(cx)
    }
}

/// What a peer over its share is told.
const REFUSAL_BODY: &str =
    r#"{"error":"too many connections from one address","code":"rate_limited","retryAfter":10}"#;

static REFUSAL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 10\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{REFUSAL_BODY}",
        REFUSAL_BODY.len()
    )
});

/// A peer over its share gets a short answer, written without waiting (it
/// fits a fresh socket's send buffer), and the connection closes.
fn refuse(stream: &TcpStream) {
    let _ = stream.try_write(REFUSAL.as_bytes());
}

/// Errors about one connection (the peer reset it before it was accepted)
/// are nothing; others (out of file descriptors) would spin the loop, so it
/// pauses a moment, as axum's own `serve` does.
async fn backoff(error: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        tracing::warn!(%error, "accepting a connection failed; pausing for a second");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// How many things (connections, sockets) each address holds, with a cap,
/// counted per `AddressKey` (an IPv6 client by its /64). Loopback is exempt: it is this machine (a benchmark, a health check, a
/// reverse proxy whose clients would otherwise share one quota). Cheap to
/// clone.
#[derive(Clone)]
pub struct AddressCounts {
    max: u32,
    // Claims and releases are a few instructions each under the lock, so a
    // std mutex is cheaper than anything asynchronous.
    held: Arc<Mutex<HashMap<AddressKey, u32>>>,
}

/// One claimed place of an address. Dropping it gives the place back.
pub struct Claim {
    counts: Option<(AddressCounts, AddressKey)>,
}

impl AddressCounts {
    /// At most `max` at once per address; 0 means no cap.
    pub fn new(max: u32) -> Self {
        Self {
            max,
            held: Arc::default(),
        }
    }

    /// A place for `ip`, or `None` when it already holds `max`.
    pub fn claim(&self, ip: IpAddr) -> Option<Claim> {
        let Some(key) = self.counted(ip) else {
            return Some(Claim { counts: None });
        };
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(key).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Claim {
            counts: Some((self.clone(), key)),
        })
    }

    /// Whether `ip` holds its whole share already.
    pub fn is_full(&self, ip: IpAddr) -> bool {
        let Some(key) = self.counted(ip) else {
            return false;
        };
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(&key).is_some_and(|&count| count >= self.max)
    }

    /// The key `ip` is counted under, or `None` when it is not counted.
    fn counted(&self, ip: IpAddr) -> Option<AddressKey> {
        (self.max != 0 && !ip.to_canonical().is_loopback()).then(|| AddressKey::of(ip))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let Some((counts, key)) = self.counts.take() else {
            return;
        };
        let mut held = counts.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&key) {
            *count -= 1;
            // Forget addresses that hold nothing, so the map stays as small
            // as the set of current clients.
            if *count == 0 {
                held.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_share_and_a_freed_place_back() {
        let counts = AddressCounts::new(2);
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let first = counts.claim(ip).unwrap();
        let _second = counts.claim(ip).unwrap();
        assert!(counts.is_full(ip));
        assert!(counts.claim(ip).is_none());
        assert!(counts.claim("203.0.113.10".parse().unwrap()).is_some());
        drop(first);
        assert!(counts.claim(ip).is_some());
    }

    #[test]
    fn loopback_and_a_zero_cap_are_not_counted() {
        let counts = AddressCounts::new(1);
        let claims: Vec<_> = ["127.0.0.1", "::1", "::ffff:127.0.0.1"]
            .iter()
            .flat_map(|ip| [ip.parse().unwrap(), ip.parse().unwrap()])
            .map(|ip| counts.claim(ip))
            .collect();
        assert!(claims.iter().all(Option::is_some));
        let open = AddressCounts::new(0);
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let _claims: Vec<_> = (0..10).map(|_| open.claim(ip).unwrap()).collect();
        assert!(!open.is_full(ip));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let counts = AddressCounts::new(2);
        let _first = counts.claim("2001:db8:1:2::1".parse().unwrap()).unwrap();
        let _second = counts
            .claim("2001:db8:1:2:ffff::2".parse().unwrap())
            .unwrap();
        assert!(counts.is_full("2001:db8:1:2::99".parse().unwrap()));
        assert!(counts.claim("2001:db8:1:2::3".parse().unwrap()).is_none());
        assert!(counts.claim("2001:db8:1:3::1".parse().unwrap()).is_some());
    }

    #[test]
    fn released_addresses_are_forgotten() {
        let counts = AddressCounts::new(3);
        let claim = counts.claim("192.0.2.1".parse().unwrap());
        drop(claim);
        assert!(counts.held.lock().unwrap().is_empty());
    }
}
