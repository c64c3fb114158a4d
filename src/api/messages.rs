//! `/api/chats/:chatId/messages` and `/read`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::chat::views::{MessagePage, MessageView, ReadMarkView};
use crate::chat::{MessageQuery, NewMessage, Sent};
use crate::error::Result;

use super::extract::{AuthUser, JsonBody, QueryParams, path_id};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{chat_id}/messages", get(list).post(send))
        .route("/{chat_id}/read", post(mark_read))
}

#[derive(Deserialize)]
struct PageParams {
    page: Option<String>,
    limit: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

async fn list(
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

async fn send(
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

#[derive(Deserialize)]
struct ReadBody {
    seq: u64,
}

async fn mark_read(
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
