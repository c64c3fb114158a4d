//! `/api/chats`: the caller's chats, groups and their members.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::chat::views::ChatView;
use crate::chat::{Creation, NewChat, ProfilePatch};
use crate::error::Result;
use crate::id::UserId;

use super::extract::{AuthUser, JsonBody, path_id};
use super::messages;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/{chat_id}", get(chat).patch(update))
        .route("/{chat_id}/participants", post(add_participants))
        .route(
            "/{chat_id}/participants/{user_id}",
            delete(remove_participant),
        )
        .merge(messages::router())
}

#[derive(Serialize)]
struct ChatsBody {
    chats: Vec<ChatView>,
}

async fn list(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<ChatsBody>> {
    Ok(Json(ChatsBody {
        chats: state.chat.chats(principal.user)?,
    }))
}

async fn create(
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

async fn chat(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
) -> Result<Json<ChatView>> {
    Ok(Json(state.chat.chat(principal.user, path_id(&chat)?)?))
}

async fn update(
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddBody {
    user_ids: Vec<UserId>,
}

async fn add_participants(
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

async fn remove_participant(
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
