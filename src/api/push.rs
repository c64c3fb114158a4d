//! `/api/push` and `/api/notify`: Web Push subscriptions and the caller's
//! ntfy topic.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ErrorBody, Result};
use crate::http::AppState;
use crate::http::extract::{AuthUser, JsonBody};
use crate::notify::service::{NewSubscription, TopicLink};

pub fn push_router() -> Router<AppState> {
    Router::new().route("/key", get(key)).route(
        "/subscriptions",
        axum::routing::post(subscribe).delete(unsubscribe),
    )
}

pub fn notify_router() -> Router<AppState> {
    Router::new().route("/topic", get(topic).delete(replace_topic))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct KeyBody {
    /// The server's VAPID public key (uncompressed P-256, base64url), for
    /// `pushManager.subscribe({ applicationServerKey })`.
    public_key: String,
}

#[utoipa::path(get, path = "/api/push/key", tag = "notifications", responses((status = 200, body = KeyBody)))]
pub(super) async fn key(State(state): State<AppState>) -> Json<KeyBody> {
    Json(KeyBody {
        public_key: state.notifications.public_key().to_owned(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SubscriptionKeys {
    p256dh: String,
    auth: String,
}

/// `PushSubscription.toJSON()` as browsers give it.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct SubscriptionBody {
    endpoint: String,
    keys: SubscriptionKeys,
    /// Browsers send it (usually `null`); ignored.
    #[serde(default)]
    #[allow(dead_code)]
    expiration_time: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct SubscribedBody {
    endpoint: String,
}

#[utoipa::path(post, path = "/api/push/subscriptions", tag = "notifications", security(("bearer" = [])), request_body = SubscriptionBody, responses((status = 201, body = SubscribedBody), (status = 400, description = "An endpoint that is not a push service, or bad keys", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn subscribe(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    JsonBody(body): JsonBody<SubscriptionBody>,
) -> Result<(StatusCode, Json<SubscribedBody>)> {
    let endpoint = body.endpoint.clone();
    state
        .notifications
        .subscribe(
            principal.user,
            principal.session,
            NewSubscription {
                endpoint: body.endpoint,
                p256dh: body.keys.p256dh,
                auth: body.keys.auth,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(SubscribedBody { endpoint })))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct UnsubscribeBody {
    endpoint: String,
}

#[utoipa::path(delete, path = "/api/push/subscriptions", tag = "notifications", security(("bearer" = [])), request_body = UnsubscribeBody, responses((status = 204, description = "No longer subscribed (also when it was not)"), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn unsubscribe(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    JsonBody(body): JsonBody<UnsubscribeBody>,
) -> Result<StatusCode> {
    state
        .notifications
        .unsubscribe(principal.user, &body.endpoint)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/notify/topic", tag = "notifications", security(("bearer" = [])), responses((status = 200, description = "The caller's secret ntfy topic (made on first ask)", body = TopicLink), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn topic(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<TopicLink>> {
    Ok(Json(state.notifications.topic(principal.user).await?))
}

#[utoipa::path(delete, path = "/api/notify/topic", tag = "notifications", security(("bearer" = [])), responses((status = 200, description = "A new topic; the old one stops at once", body = TopicLink), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn replace_topic(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<TopicLink>> {
    Ok(Json(
        state.notifications.replace_topic(principal.user).await?,
    ))
}
