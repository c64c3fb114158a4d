//! Assembly: the router mounts the REST API, the realtime gateway, the
//! operational routes and the web app under the tower layers every response
//! passes through; `serve` runs it until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderValue, Method, Request};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::admin;
use crate::config::Config;
use crate::error::Error;
use crate::listener;

use crate::http::AppState;

/// The policy for the bundled web app: its own scripts and styles only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob: http: https:; media-src 'self' blob:; connect-src 'self' ws: wss:; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

pub fn router(state: &AppState) -> Router {
    // Installed before the first request is counted.
    crate::ops::recorder();
    Router::new()
        .nest("/api", crate::api::router(state))
        .merge(crate::realtime::router())
        .merge(crate::ops::router())
        .merge(crate::join::router())
        .nest("/notify", crate::notify::ntfy::router())
        .fallback(crate::web::serve)
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::join::send_browsers_to_join))
        .with_state(state.clone())
        // An idle timeout, not a total one: a large upload on a slow link
        // keeps going as long as bytes keep arriving.
        .layer(RequestBodyTimeoutLayer::new(state.config.body_timeout))
        .layer(axum::middleware::from_fn(crate::ops::count_requests))
        .layer(CompressionLayer::new())
        .layer(cors(&state.config))
        .layer(hardening_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(hardening_header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(hardening_header(header::REFERRER_POLICY, "no-referrer"))
        .layer(hardening_header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .layer(axum::middleware::from_fn(cross_origin_opener_policy))
        .layer(
            TraceLayer::new_for_http()
                // The path only: a query string may carry a token (`/ws?token=`).
                .make_span_with(|request: &Request<_>| {
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(Error::Internal("a request handler panicked".into()))
        }))
}

/// `Cross-Origin-Opener-Policy: same-origin`, where browsers heed it: on a
/// plain-HTTP LAN address they ignore it and log an error about it.
async fn cross_origin_opener_policy(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let secure = crate::join::is_secure_context(&request);
    let mut response = next.run(request).await;
    if secure {
        response.headers_mut().insert(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        );
    }
    response
}

fn hardening_header(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Same-origin requests need no CORS; other browser origins must be listed
/// in `FRONTEND_URL`.
fn cors(config: &Arc<Config>) -> CorsLayer {
    let config = Arc::clone(config);
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(
            move |origin: &HeaderValue, request| {
                let host = request
                    .headers
                    .get(header::HOST)
                    .and_then(|host| host.to_str().ok());
                origin
                    .to_str()
                    .is_ok_and(|origin| config.allows_origin(origin, host))
            },
        ))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::RETRY_AFTER])
        .max_age(Duration::from_secs(3600))
}

/// How long shutdown waits for sockets to say goodbye.
const SOCKET_DRAIN: Duration = Duration::from_secs(5);

/// Serves until `shutdown` resolves, then: stop accepting, finish requests
/// in flight, close sockets with 1001, commit queued writes.
pub async fn serve(
    ports: Vec<listener::Port>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hub = state.hub.clone();
    let sockets = state.sockets.clone();
    let state_background = state.background.clone();
    let store = state.store.clone();
    let admin = admin::Context {
        store: store.clone(),
        bus: Arc::new(hub.clone()),
        data_dir: state.config.data_dir.clone(),
        live: true,
    };
    // Without the admin socket the server still serves; only admin commands
    // cannot reach it (they then say so).
    let admin = admin::listen(admin, hub.shutdown_signal())
        .inspect_err(|error| tracing::warn!(%error, "admin socket unavailable; admin commands cannot reach this server"))
        .ok();
    let sweeper = tokio::spawn(state.uploads.clone().run_sweeper(hub.shutdown_signal()));
    let settings = listener::Settings {
        header_timeout: state.config.header_timeout,
        // Behind a trusted proxy every peer is the proxy: no per-peer cap.
        max_per_peer: if state.config.trust_proxy {
            0
        } else {
            state.config.max_connections_per_ip
        },
    };
    listener::serve(ports, router(&state), settings, async move {
        shutdown.await;
        tracing::info!("shutting down: closing sockets, finishing queued writes");
        hub.shut_down();
    })
    .await;
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    // A sweep under way finishes its writes before the store closes, and
    // so do the notifier and the push sender.
    let _ = sweeper.await;
    state_background.close();
    state_background.wait().await;
    sockets.close();
    if tokio::time::timeout(SOCKET_DRAIN, sockets.wait())
        .await
        .is_err()
    {
        tracing::warn!("some sockets did not close in time");
    }
    store.close().await;
    Ok(())
}
