//! Message changes under `/api/chats/:chatId`: the change feed, edits,
//! deleting (for everyone and for oneself), reactions, pins, forwarding,
//! and delivery marks.

use axum::extract::{Path, State};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::chat::views::{ChangesPage, DeliveryMarkView, EditView, MessageList, MessageView};
use crate::chat::{CHANGES_LIMIT_DEFAULT, CHANGES_LIMIT_MAX, ChangeRequest};
use crate::error::{Error, ErrorBody, Result};
use crate::http::AppState;
use crate::http::extract::{AuthUser, JsonBody, QueryParams, path_id};
use crate::id::ChatId;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{chat_id}/changes", get(changes))
        .route("/{chat_id}/received", post(mark_received))
        .route("/{chat_id}/messages/{seq}", patch(edit).delete(delete))
        .route("/{chat_id}/messages/{seq}/edits", get(edits))
        .route("/{chat_id}/messages/{seq}/hide", post(hide))
        .route("/{chat_id}/messages/{seq}/forward", post(forward))
        .route(
            "/{chat_id}/messages/{seq}/reactions/{emoji}",
            put(react).delete(unreact),
        )
        .route("/{chat_id}/pins", get(pins))
        .route("/{chat_id}/pins/{seq}", put(pin).delete(unpin))
}

/// A chat id and a message's seq from the path; anything unreadable names
/// no message (`404`).
pub(super) fn message_path(chat: &str, seq: &str) -> Result<(ChatId, u64)> {
    Ok((path_id(chat)?, seq.parse().map_err(|_| Error::NotFound)?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ChangesParams {
    /// The last `rev` the client has seen (0: everything).
    since: Option<String>,
    /// 1-500, default 100.
    limit: Option<String>,
}

#[utoipa::path(get, path = "/api/chats/{chat_id}/changes", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), ChangesParams), responses((status = 200, body = ChangesPage), (status = 400, description = "Invalid input", body = ErrorBody), (status = 404, description = "No such chat, or not a participant", body = ErrorBody)))]
pub(super) async fn changes(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
    QueryParams(params): QueryParams<ChangesParams>,
) -> Result<Json<ChangesPage>> {
    let chat = path_id(&chat)?;
    let since = match params.since.as_deref() {
        None => Ok(0),
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| Error::validation("since", "must be a whole number from 0")),
    };
    let limit = match params.limit.as_deref() {
        None => Ok(CHANGES_LIMIT_DEFAULT),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=CHANGES_LIMIT_MAX).contains(limit))
            .ok_or_else(|| {
                Error::validation(
                    "limit",
                    format!("must be a whole number from 1 to {CHANGES_LIMIT_MAX}"),
                )
            }),
    };
    let (since, limit) = crate::chat::validate::AllValid::all_valid((since, limit))?;
    Ok(Json(state.chat.changes(
        principal.user,
        chat,
        since,
        limit,
    )?))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct SeqBody {
    seq: u64,
}

#[utoipa::path(post, path = "/api/chats/{chat_id}/received", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path)), request_body = SeqBody, responses((status = 200, body = DeliveryMarkView), (status = 400, description = "Invalid input", body = ErrorBody), (status = 404, description = "No such chat, or not a participant", body = ErrorBody)))]
pub(super) async fn mark_received(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
    JsonBody(body): JsonBody<SeqBody>,
) -> Result<Json<DeliveryMarkView>> {
    let chat = path_id(&chat)?;
    Ok(Json(
        state
            .chat
            .mark_received(principal.user, chat, body.seq)
            .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct EditBody {
    /// The new text, or an attachment's new caption.
    content: Option<String>,
}

#[utoipa::path(patch, path = "/api/chats/{chat_id}/messages/{seq}", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), ("seq" = u64, Path)), request_body = EditBody, responses((status = 200, body = MessageView), (status = 400, description = "Invalid input", body = ErrorBody), (status = 403, description = "Not the sender (`forbidden`), or past EDIT_WINDOW (`edit_window_closed`)", body = ErrorBody), (status = 404, description = "No such message in a chat of the caller", body = ErrorBody), (status = 409, description = "The message was deleted (`message_deleted`)", body = ErrorBody)))]
pub(super) async fn edit(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path((chat, seq)): Path<(String, String)>,
    JsonBody(body): JsonBody<EditBody>,
) -> Result<Json<MessageView>> {
    let (chat, seq) = message_path(&chat, &seq)?;
    let request = ChangeRequest::Edit {
        content: body.content,
    };
    Ok(Json(
        state
            .chat
            .change_message(principal.user, chat, seq, request)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/chats/{chat_id}/messages/{seq}", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), ("seq" = u64, Path)), responses((status = 200, description = "The tombstone", body = MessageView), (status = 403, description = "Not the sender within DELETE_WINDOW, nor a group admin", body = ErrorBody), (status = 404, description = "No such message in a chat of the caller", body = ErrorBody)))]
pub(super) async fn delete(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path((chat, seq)): Path<(String, String)>,
) -> Result<Json<MessageView>> {
    let (chat, seq) = message_path(&chat, &seq)?;
    Ok(Json(
        state
            .chat
            .change_message(principal.user, chat, seq, ChangeRequest::Delete)
            .await?,
    ))
}

#[derive(Serialize, ToSchema)]
pub(super) struct EditsBody {
    /// Earlier versions, oldest first.
    edits: Vec<EditView>,
}

#[utoipa::path(get, path = "/api/chats/{chat_id}/messages/{seq}/edits", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), ("seq" = u64, Path)), responses((status = 200, body = EditsBody), (status = 404, description = "No such message in a chat of the caller", body = ErrorBody)))]
pub(super) async fn edits(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path((chat, seq)): Path<(String, String)>,
) -> Result<Json<EditsBody>> {
    let (chat, seq) = message_path(&chat, &seq)?;
    let edits = state.chat.edits(principal.user, chat, seq)?;
    Ok(Json(EditsBody { edits }))
}

#[utoipa::path(post, path = "/api/chats/{chat_id}/messages/{seq}/hide", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), ("seq" = u64, Path)), responses((status = 200, description = "The message, hidden for the caller", body = MessageView), (status = 404, description = "No such message in a chat of the caller", body = ErrorBody)))]
pub(super) async fn hide(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path((chat, seq)): Path<(String, String)>,
) -> Result<Json<MessageView>> {
    let (chat, seq) = message_path(&chat, &seq)?;
    Ok(Json(
        state.chat.hide_message(principal.user, chat, seq).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ForwardBody {
    /// 1-20 chats the caller is in.
    #[schema(value_type = Vec<String>)]
    chat_ids: Vec<ChatId>,
}

#[utoipa::path(post, path = "/api/chats/{chat_id}/messages/{seq}/forward", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), ("seq" = u64, Path)), request_body = ForwardBody, responses((status = 200, description = "The copies, one per chat", body = MessageList), (status = 400, description = "Invalid input", body = ErrorBody), (status = 404, description = "No such message, or a chat the caller is not in", body = ErrorBody), (status = 409, description = "The message was deleted", body = ErrorBody)))]
pub(super) async fn forward(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path((chat, seq)): Path<(String, String)>,
    JsonBody(body): JsonBody<ForwardBody>,
) -> Result<Json<MessageList>> {
    let (chat, seq) = message_path(&chat, &seq)?;
    Ok(Json(
        state
            .chat
            .forward(principal.user, chat, seq, &body.chat_ids)
            .await?,
    ))
}

#[utoipa::path(put, path = "/api/chats/{chat_id}/messages/{seq}/reactions/{emoji}", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), ("seq" = u64, Path), ("emoji" = String, Path, description = "One emoji, percent-encoded")), responses((status = 200, body = MessageView), (status = 400, description = "Not one emoji (`validation_failed`), or 20 emoji there already (`too_many_reactions`)", body = ErrorBody), (status = 404, description = "No such message in a chat of the caller", body = ErrorBody), (status = 409, description = "The message was deleted", body = ErrorBody)))]
pub(super) async fn react(
    state: State<AppState>,
    user: AuthUser,
    Path((chat, seq, emoji)): Path<(String, String, String)>,
) -> Result<Json<MessageView>> {
    reaction(state, user, (chat, seq, emoji), true).await
}

#[utoipa::path(delete, path = "/api/chats/{chat_id}/messages/{seq}/reactions/{emoji}", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), ("seq" = u64, Path), ("emoji" = String, Path, description = "One emoji, percent-encoded")), responses((status = 200, body = MessageView), (status = 400, description = "Not one emoji", body = ErrorBody), (status = 404, description = "No such message in a chat of the caller", body = ErrorBody), (status = 409, description = "The message was deleted", body = ErrorBody)))]
pub(super) async fn unreact(
    state: State<AppState>,
    user: AuthUser,
    Path((chat, seq, emoji)): Path<(String, String, String)>,
) -> Result<Json<MessageView>> {
    reaction(state, user, (chat, seq, emoji), false).await
}

async fn reaction(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    (chat, seq, emoji): (String, String, String),
    on: bool,
) -> Result<Json<MessageView>> {
    let (chat, seq) = message_path(&chat, &seq)?;
    let request = ChangeRequest::React { emoji, on };
    Ok(Json(
        state
            .chat
            .change_message(principal.user, chat, seq, request)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/chats/{chat_id}/pins", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path)), responses((status = 200, description = "Most recently pinned first", body = MessageList), (status = 404, description = "No such chat, or not a participant", body = ErrorBody)))]
pub(super) async fn pins(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(chat): Path<String>,
) -> Result<Json<MessageList>> {
    Ok(Json(state.chat.pins(principal.user, path_id(&chat)?)?))
}

#[utoipa::path(put, path = "/api/chats/{chat_id}/pins/{seq}", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), ("seq" = u64, Path)), responses((status = 200, body = MessageView), (status = 400, description = "50 pinned already (`too_many_pins`)", body = ErrorBody), (status = 403, description = "In a group, only admins pin", body = ErrorBody), (status = 404, description = "No such message in a chat of the caller", body = ErrorBody), (status = 409, description = "The message was deleted", body = ErrorBody)))]
pub(super) async fn pin(
    state: State<AppState>,
    user: AuthUser,
    Path((chat, seq)): Path<(String, String)>,
) -> Result<Json<MessageView>> {
    pinning(state, user, (chat, seq), true).await
}

#[utoipa::path(delete, path = "/api/chats/{chat_id}/pins/{seq}", tag = "messages", security(("bearer" = [])), params(("chat_id" = String, Path), ("seq" = u64, Path)), responses((status = 200, body = MessageView), (status = 403, description = "In a group, only admins unpin", body = ErrorBody), (status = 404, description = "No such message in a chat of the caller", body = ErrorBody), (status = 409, description = "The message was deleted", body = ErrorBody)))]
pub(super) async fn unpin(
    state: State<AppState>,
    user: AuthUser,
    Path((chat, seq)): Path<(String, String)>,
) -> Result<Json<MessageView>> {
    pinning(state, user, (chat, seq), false).await
}

async fn pinning(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    (chat, seq): (String, String),
    on: bool,
) -> Result<Json<MessageView>> {
    let (chat, seq) = message_path(&chat, &seq)?;
    Ok(Json(
        state
            .chat
            .change_message(principal.user, chat, seq, ChangeRequest::Pin { on })
            .await?,
    ))
}
