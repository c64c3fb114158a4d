//! `GET /api/search`: messages of the caller's chats that match a query.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::chat::validate::AllValid;
use crate::chat::{
    SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, SearchCursor, SearchPage, SearchRequest,
};
use crate::error::{Error, ErrorBody, Result};
use crate::http::AppState;
use crate::http::extract::{AuthUser, QueryParams, path_id};
use crate::search::QUERY_MAX_CHARS;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SearchParams {
    /// The words to find, 1-200 characters after trimming.
    q: Option<String>,
    /// Only this chat.
    #[serde(rename = "chatId")]
    #[param(rename = "chatId")]
    chat_id: Option<String>,
    /// 1-50, default 20.
    limit: Option<String>,
    /// `next` of the previous page.
    before: Option<String>,
}

#[utoipa::path(get, path = "/api/search", tag = "messages", security(("bearer" = [])), params(SearchParams), responses((status = 200, description = "Matches newest first. Words match whole or by a prefix of 2 or more characters, case-, width- and accent-insensitively; Chinese, Japanese and Korean runs of 2 or more characters match anywhere in a message; Thai, Lao, Khmer and Myanmar by their words (found by a word model, without a dictionary). Every term must match. A page may hold fewer than `limit` results while `next` is set (each request does bounded work): go on until `next` is null.", body = SearchPage), (status = 400, description = "Invalid input", body = ErrorBody), (status = 404, description = "`chatId` names no chat of the caller", body = ErrorBody)))]
pub(super) async fn search(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    QueryParams(params): QueryParams<SearchParams>,
) -> Result<Json<SearchPage>> {
    let query = params
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| (1..=QUERY_MAX_CHARS).contains(&q.chars().count()))
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::validation(
                "q",
                format!("must be 1 to {QUERY_MAX_CHARS} characters after trimming"),
            )
        });
    let limit = match params.limit.as_deref() {
        None => Ok(SEARCH_LIMIT_DEFAULT),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=SEARCH_LIMIT_MAX).contains(limit))
            .ok_or_else(|| {
                Error::validation(
                    "limit",
                    format!("must be a whole number from 1 to {SEARCH_LIMIT_MAX}"),
                )
            }),
    };
    let before = match params.before.as_deref() {
        None => Ok(None),
        Some(text) => SearchCursor::decode(text)
            .map(Some)
            .ok_or_else(|| Error::validation("before", "must be a `next` from an earlier page")),
    };
    let (query, limit, before) = (query, limit, before).all_valid()?;
    let chat = params.chat_id.as_deref().map(path_id).transpose()?;
    let request = SearchRequest {
        query,
        chat,
        limit,
        before,
    };
    Ok(Json(state.chat.search(principal.user, &request).await?))
}
