//! Invite links for groups: made, listed and revoked by a group's admins
//! under `/api/chats/:chatId/invites`; seen and accepted by anyone holding
//! one under `/api/invites/:code`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::chat::invites::{InvitePreview, InviteView};
use crate::chat::views::ChatView;
use crate::error::{ErrorBody, Result};
use crate::http::AppState;
use crate::http::extract::{AuthUser, OptionalJsonBody, path_id};

/// Under `/api/chats`.
pub fn chats_router() -> Router<AppState> {
    Router::new()
        .route("/{chat_id}/invites", post(create).get(list))
        .route("/{chat_id}/invites/{code}", delete(revoke))
}

/// Under `/api/invites`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{code}", get(preview))
        .route("/{code}/accept", post(accept))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewInvite {
    /// Seconds the link lasts: default 7 days, at most 30 days.
    expires_in: Option<u64>,
    /// 1 to 1000; unlimited when absent.
    max_uses: Option<u32>,
}

#[utoipa::path(post, path = "/api/chats/{chat_id}/invites", tag = "chats", security(("bearer" = [])), params(("chat_id" = String, Path)), request_body(content = Option<NewInvite>), responses((status = 201, body = InviteView), (status = 400, description = "Invalid input, or not a group", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 403, description = "Not an admin of the group", body = ErrorBody), (status = 404, description = "No such chat of the caller", body = ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<NewInvite>,
) -> Result<(StatusCode, Json<InviteView>)> {
    let (expires_in, max_uses) = body.map_or((None, None), |body| (body.expires_in, body.max_uses));
    let invite = state
        .chat
        .create_invite(principal.user, path_id(&chat)?, expires_in, max_uses)
        .await?;
    Ok((StatusCode::CREATED, Json(invite)))
}

#[derive(Serialize, ToSchema)]
pub(super) struct InvitesBody {
    invites: Vec<InviteView>,
}

#[utoipa::path(get, path = "/api/chats/{chat_id}/invites", tag = "chats", security(("bearer" = [])), params(("chat_id" = String, Path)), responses((status = 200, body = InvitesBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 403, description = "Not an admin of the group", body = ErrorBody), (status = 404, description = "No such chat of the caller", body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
) -> Result<Json<InvitesBody>> {
    Ok(Json(InvitesBody {
        invites: state.chat.invites(principal.user, path_id(&chat)?)?,
    }))
}

#[utoipa::path(delete, path = "/api/chats/{chat_id}/invites/{code}", tag = "chats", security(("bearer" = [])), params(("chat_id" = String, Path), ("code" = String, Path)), responses((status = 204, description = "Revoked"), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 403, description = "Not an admin of the group", body = ErrorBody), (status = 404, description = "No such chat or link", body = ErrorBody)))]
pub(super) async fn revoke(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path((chat, code)): Path<(String, String)>,
) -> Result<StatusCode> {
    state
        .chat
        .revoke_invite(principal.user, path_id(&chat)?, &code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/invites/{code}", tag = "chats", params(("code" = String, Path)), responses((status = 200, body = InvitePreview), (status = 404, description = "Unknown, expired, used up or revoked", body = ErrorBody)))]
pub(super) async fn preview(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<InvitePreview>> {
    Ok(Json(state.chat.invite_preview(&code)?))
}

#[utoipa::path(post, path = "/api/invites/{code}/accept", tag = "chats", security(("bearer" = [])), params(("code" = String, Path)), responses((status = 200, description = "The group, joined (or already a member)", body = ChatView), (status = 400, description = "The group is full", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, description = "Unknown, expired, used up or revoked", body = ErrorBody)))]
pub(super) async fn accept(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(code): Path<String>,
) -> Result<Json<ChatView>> {
    Ok(Json(state.chat.accept_invite(principal.user, &code).await?))
}
