//! `/api/chats`: the caller's chats, groups and their members.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::chat::views::ChatView;
use crate::chat::{Creation, NewChat, ProfilePatch};
use crate::error::ErrorBody;
use crate::error::Result;
use crate::http::AppState;
use crate::id::UserId;

use super::{changes, messages};
use crate::http::extract::{AuthUser, JsonBody, path_id};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{chat_id}", get(chat).patch(update))
        .route("/{chat_id}/participants", post(add_participants))
        .route("/{chat_id}/mute", put(mute).delete(unmute))
        .route(
            "/{chat_id}/participants/{user_id}",
            delete(remove_participant),
        )
        .merge(messages::router())
        .merge(changes::router())
}

#[derive(Serialize, ToSchema)]
pub(super) struct ChatsBody {
    chats: Vec<ChatView>,
}

#[utoipa::path(get, path = "/api/chats", tag = "chats", security(("bearer" = [])), responses((status = 200, body = ChatsBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<ChatsBody>> {
    Ok(Json(ChatsBody {
        chats: state.chat.chats(principal.user)?,
    }))
}

#[utoipa::path(post, path = "/api/chats", tag = "chats", security(("bearer" = [])), request_body = NewChat, responses((status = 201, description = "Created", body = ChatView), (status = 200, description = "The pair's existing private chat", body = ChatView), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    JsonBody(input): JsonBody<NewChat>,
) -> Result<(StatusCode, Json<ChatView>)> {
    let (chat, creation) = state.chat.create_chat(principal.user, input).await?;
    let status = match creation {
        Creation::Created => StatusCode::CREATED,
        Creation::Existing => StatusCode::OK,
    };
    Ok((status, Json(chat)))
}

#[utoipa::path(get, path = "/api/chats/{chat_id}", tag = "chats", security(("bearer" = [])), params(("chat_id" = String, Path)), responses((status = 200, body = ChatView), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, description = "No such chat, or not a participant", body = ErrorBody)))]
pub(super) async fn chat(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
) -> Result<Json<ChatView>> {
    Ok(Json(state.chat.chat(principal.user, path_id(&chat)?)?))
}

#[utoipa::path(patch, path = "/api/chats/{chat_id}", tag = "chats", security(("bearer" = [])), params(("chat_id" = String, Path)), request_body = ProfilePatch, responses((status = 200, body = ChatView), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "No such chat, or not a participant", body = ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
    JsonBody(patch): JsonBody<ProfilePatch>,
) -> Result<Json<ChatView>> {
    Ok(Json(
        state
            .chat
            .update_chat(principal.user, path_id(&chat)?, patch)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct AddBody {
    user_ids: Vec<UserId>,
}

#[utoipa::path(post, path = "/api/chats/{chat_id}/participants", tag = "chats", security(("bearer" = [])), params(("chat_id" = String, Path)), request_body = AddBody, responses((status = 200, body = ChatView), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "No such chat, or not a participant", body = ErrorBody)))]
pub(super) async fn add_participants(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
    JsonBody(body): JsonBody<AddBody>,
) -> Result<Json<ChatView>> {
    Ok(Json(
        state
            .chat
            .add_participants(principal.user, path_id(&chat)?, body.user_ids)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/chats/{chat_id}/participants/{user_id}", tag = "chats", security(("bearer" = [])), params(("chat_id" = String, Path), ("user_id" = String, Path)), responses((status = 204, description = "Removed"), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "No such chat, or not a participant", body = ErrorBody)))]
pub(super) async fn remove_participant(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path((chat, user)): Path<(String, String)>,
) -> Result<StatusCode> {
    state
        .chat
        .remove_participant(principal.user, path_id(&chat)?, path_id(&user)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/api/chats/{chat_id}/mute", tag = "chats", security(("bearer" = [])), params(("chat_id" = String, Path)), responses((status = 204, description = "Muted: no pushes or nudges for this chat, except mentions"), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, description = "No such chat, or not the caller's", body = ErrorBody)))]
pub(super) async fn mute(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat_id): Path<String>,
) -> Result<StatusCode> {
    let chat = path_id(&chat_id)?;
    state.chat.set_mute(principal.user, chat, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/chats/{chat_id}/mute", tag = "chats", security(("bearer" = [])), params(("chat_id" = String, Path)), responses((status = 204, description = "Unmuted"), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, description = "No such chat, or not the caller's", body = ErrorBody)))]
pub(super) async fn unmute(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat_id): Path<String>,
) -> Result<StatusCode> {
    let chat = path_id(&chat_id)?;
    state.chat.set_mute(principal.user, chat, false).await?;
    Ok(StatusCode::NO_CONTENT)
}
