//! Blocking people, and reporting messages to the server's admins.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::chat::views::UserView;
use crate::error::{ErrorBody, Result};
use crate::http::AppState;
use crate::http::extract::{AuthUser, OptionalJsonBody, path_id};

/// Under `/api/users`.
pub fn users_router() -> Router<AppState> {
    Router::new()
        .route("/blocked", get(blocked))
        .route("/{user_id}/block", put(block).delete(unblock))
}

/// Under `/api/chats`.
pub fn chats_router() -> Router<AppState> {
    Router::new().route("/{chat_id}/messages/{seq}/report", post(report))
}

#[utoipa::path(put, path = "/api/users/{user_id}/block", tag = "users", security(("bearer" = [])), params(("user_id" = String, Path)), responses((status = 204, description = "Blocked"), (status = 400, description = "Yourself", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody)))]
pub(super) async fn block(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(user): Path<String>,
) -> Result<StatusCode> {
    state
        .chat
        .set_block(principal.user, path_id(&user)?, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/users/{user_id}/block", tag = "users", security(("bearer" = [])), params(("user_id" = String, Path)), responses((status = 204, description = "No longer blocked"), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody)))]
pub(super) async fn unblock(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(user): Path<String>,
) -> Result<StatusCode> {
    state
        .chat
        .set_block(principal.user, path_id(&user)?, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub(super) struct BlockedBody {
    users: Vec<UserView>,
}

#[utoipa::path(get, path = "/api/users/blocked", tag = "users", security(("bearer" = [])), responses((status = 200, body = BlockedBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn blocked(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<BlockedBody>> {
    Ok(Json(BlockedBody {
        users: state.chat.blocked_users(principal.user)?,
    }))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct ReportBody {
    /// At most 500 characters.
    reason: Option<String>,
}

#[utoipa::path(post, path = "/api/chats/{chat_id}/messages/{seq}/report", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), ("seq" = u64, Path)), request_body(content = Option<ReportBody>), responses((status = 204, description = "Queued for the admins"), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, description = "No such message in a chat of the caller", body = ErrorBody), (status = 429, description = "Too many reports", body = ErrorBody)))]
pub(super) async fn report(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path((chat, seq)): Path<(String, String)>,
    OptionalJsonBody(body): OptionalJsonBody<ReportBody>,
) -> Result<StatusCode> {
    let (chat, seq) = super::changes::message_path(&chat, &seq)?;
    state
        .chat
        .report(principal.user, chat, seq, body.and_then(|body| body.reason))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
