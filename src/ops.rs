//! Operational routes: `/healthz` (the process answers), `/readyz` (the
//! store is open and takes writes) and `/metrics` (Prometheus text), plus
//! the metrics recorder and the HTTP request counter every route passes.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::http::AppState;
use crate::http::extract::{bearer_token, client_ip};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>> {
    state.store.read()?;
    state.store.check_writable().await?;
    Ok(Json(json!({ "status": "ok" })))
}

const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0];

/// The process's metrics recorder, installed on first use. Metrics are
/// process-wide, as Prometheus expects of one process.
pub fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|builder| {
                    builder.set_buckets_for_metric(
                        Matcher::Full("clavox_writer_batch_size".into()),
                        &BATCH_BUCKETS,
                    )
                });
            let recorder = match builder {
                Ok(builder) => builder.build_recorder(),
                Err(error) => {
                    tracing::warn!(%error, "metrics are off");
                    return None;
                }
            };
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .as_ref()
}

/// Counts every request by route template (never by raw path, which would
/// make one series per chat id), method and status.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("clavox_http_requests_total", "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!("clavox_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Loopback clients may read metrics; others need `METRICS_TOKEN`. Anyone
/// else is told there is nothing here.
async fn metrics(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    // A request relayed by a proxy on this machine comes from loopback too:
    // unless the proxy is trusted to name the client, it is not local.
    let relayed = !state.config.trust_proxy
        && (parts.headers.contains_key("x-forwarded-for")
            || parts.headers.contains_key("forwarded"));
    let local =
        !relayed && client_ip(&parts, state.config.trust_proxy).is_some_and(|ip| ip.is_loopback());
    let token_ok = match (&state.config.metrics_token, bearer_token(&parts)) {
        (Some(expected), Some(given)) => {
            bool::from(expected.expose().as_bytes().ct_eq(given.as_bytes()))
        }
        _ => false,
    };
    let Some(handle) = recorder().filter(|_| local || token_ok) else {
        return Error::NotFound.into_response();
    };
    let (sockets, users) = state.hub.counts();
    metrics::gauge!("clavox_open_sockets").set(sockets as f64);
    metrics::gauge!("clavox_online_users").set(users as f64);
    handle.run_upkeep();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
        .into_response()
}
