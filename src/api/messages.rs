//! `/api/chats/:chatId/messages` and `/read`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::chat::views::{MessagePage, MessageView, ReadMarkView};
use crate::chat::{MessageQuery, NewMessage, Sent};
use crate::error::ErrorBody;
use crate::error::Result;
use crate::http::AppState;

use crate::http::extract::{AuthUser, JsonBody, QueryParams, path_id};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{chat_id}/messages", get(list).post(send))
        .route("/{chat_id}/read", post(mark_read))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageParams {
    page: Option<String>,
    limit: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

#[utoipa::path(get, path = "/api/chats/{chat_id}/messages", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), PageParams), responses((status = 200, body = MessagePage), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, description = "No such chat, or not a participant", body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<MessagePage>> {
    let chat = path_id(&chat)?;
    let query = MessageQuery::parse(
        params.page.as_deref(),
        params.limit.as_deref(),
        params.before.as_deref(),
        params.after.as_deref(),
    )?;
    Ok(Json(state.chat.messages(principal.user, chat, query)?))
}

#[utoipa::path(post, path = "/api/chats/{chat_id}/messages", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path)), request_body = NewMessage, responses((status = 201, description = "Stored (on disk)", body = MessageView), (status = 200, description = "The message this clientId already stored", body = MessageView), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, description = "No such chat, or not a participant", body = ErrorBody)))]
pub(super) async fn send(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
    JsonBody(input): JsonBody<NewMessage>,
) -> Result<(StatusCode, Json<MessageView>)> {
    let (message, sent) = state
        .chat
        .send_message(principal.user, path_id(&chat)?, input)
        .await?;
    let status = match sent {
        Sent::Stored => StatusCode::CREATED,
        Sent::Duplicate => StatusCode::OK,
    };
    Ok((status, Json(message)))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct ReadBody {
    seq: u64,
}

#[utoipa::path(post, path = "/api/chats/{chat_id}/read", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path)), request_body = ReadBody, responses((status = 200, body = ReadMarkView), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, description = "No such chat, or not a participant", body = ErrorBody)))]
pub(super) async fn mark_read(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
    JsonBody(body): JsonBody<ReadBody>,
) -> Result<Json<ReadMarkView>> {
    Ok(Json(
        state
            .chat
            .mark_read(principal.user, path_id(&chat)?, body.seq)
            .await?,
    ))
}
