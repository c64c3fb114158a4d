//! Operational routes: `/healthz` (the process answers), `/readyz` (the
//! store is open and takes writes) and `/metrics` (Prometheus text), plus
//! the metrics recorder and the HTTP request counter every route passes.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::http::AppState;
use crate::http::extract::{bearer_token, is_local};

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
    if let Some(cluster) = &state.cluster
        && !cluster.is_connected()
    {
        return Err(crate::error::Error::Unavailable);
    }
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

/// Counts every request by route, method and status. Each label comes from a
/// closed set: a label a client could choose would be a new series, kept for
/// the life of the process, for anyone to create without logging in.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let route = route_label(request.extensions().get::<MatchedPath>());
    let method = method_label(request.method());
    let started = Instant::now();
    // Nothing here serves a method outside HTTP's own; answering at once
    // keeps the invented name away from every layer below.
    let response = if method == OTHER {
        Error::MethodNotAllowed.into_response()
    } else {
        next.run(request).await
    };
    let status = status_label(response.status());
    metrics::counter!("clavox_http_requests_total", "route" => route.clone(), "method" => method, "status" => status).increment(1);
    metrics::histogram!("clavox_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The label of anything outside a closed set.
const OTHER: &str = "other";

/// The route template (never the raw path, which would make one series per
/// chat id or per invented path), or `unmatched`.
fn route_label(route: Option<&MatchedPath>) -> String {
    route.map_or("unmatched", MatchedPath::as_str).to_owned()
}

/// The methods HTTP defines, by name; any other token is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => OTHER,
    }
}

/// A registered status by its code; any other by its class (`5xx`).
fn status_label(status: StatusCode) -> String {
    if status.canonical_reason().is_some() {
        status.as_str().to_owned()
    } else {
        format!("{}xx", status.as_u16() / 100)
    }
}

/// Loopback clients may read metrics; others need `METRICS_TOKEN`. Anyone
/// else is told there is nothing here.
async fn metrics(State(state): State<AppState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let local = is_local(&parts, &state.config);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_http_are_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        for invented in ["FOO", "get", "INVENTED1234", "PROPFIND"] {
            let method = Method::from_bytes(invented.as_bytes()).unwrap();
            assert_eq!(method_label(&method), OTHER, "{invented}");
        }
    }

    #[test]
    fn unregistered_statuses_are_counted_by_class() {
        assert_eq!(status_label(StatusCode::OK), "200");
        assert_eq!(status_label(StatusCode::TOO_MANY_REQUESTS), "429");
        assert_eq!(status_label(StatusCode::from_u16(599).unwrap()), "5xx");
        assert_eq!(status_label(StatusCode::from_u16(999).unwrap()), "9xx");
    }

    #[test]
    fn requests_no_route_matched_share_one_route_label() {
        assert_eq!(route_label(None), "unmatched");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// However many statuses answers carry, they make at most the
            /// registered codes plus one label per class.
            #[test]
            fn status_labels_are_a_registered_code_or_a_class(code in 100u16..1000) {
                let status = StatusCode::from_u16(code).unwrap();
                let label = status_label(status);
                let registered = status.canonical_reason().is_some();
                prop_assert_eq!(label == code.to_string(), registered);
                prop_assert_eq!(label == format!("{}xx", code / 100), !registered);
            }

            #[test]
            fn any_method_token_is_labelled_from_the_closed_set(token in "[A-Za-z!#$%&'*+.^_`|~0-9-]{1,24}") {
                let method = Method::from_bytes(token.as_bytes()).unwrap();
                let label = method_label(&method);
                let known = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];
                prop_assert!(known.contains(&label) || label == OTHER);
                prop_assert_eq!(label == token, known.contains(&token.as_str()));
            }
        }
    }
}
