//! `/api/users`: the caller's profile and other people's.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::chat::ProfilePatch;
use crate::chat::views::UserView;
use crate::error::ErrorBody;
use crate::error::{Error, Result};
use crate::http::AppState;

use crate::http::extract::{AuthUser, JsonBody, QueryParams, path_id};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profile", get(profile).put(update_profile))
        .route("/profile/export", get(export))
        .route("/lookup", get(lookup))
        .route("/{user_id}", get(user))
}

#[utoipa::path(get, path = "/api/users/profile", tag = "users", security(("bearer" = [])), responses((status = 200, body = UserView), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn profile(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<UserView>> {
    Ok(Json(state.chat.profile(principal.user)?))
}

#[utoipa::path(put, path = "/api/users/profile", tag = "users", security(("bearer" = [])), request_body = ProfilePatch, responses((status = 200, body = UserView), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn update_profile(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    JsonBody(patch): JsonBody<ProfilePatch>,
) -> Result<Json<UserView>> {
    Ok(Json(
        state.chat.update_profile(principal.user, patch).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(super) struct LookupQuery {
    phone_number: Option<String>,
}

#[utoipa::path(get, path = "/api/users/lookup", tag = "users", security(("bearer" = [])), params(LookupQuery), responses((status = 200, body = UserView), (status = 400, description = "Invalid input", body = ErrorBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn lookup(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    QueryParams(query): QueryParams<LookupQuery>,
) -> Result<Json<UserView>> {
    let phone = query
        .phone_number
        .ok_or_else(|| Error::validation("phoneNumber", "is required"))?;
    Ok(Json(state.chat.lookup(principal.user, &phone).await?))
}

#[utoipa::path(get, path = "/api/users/{user_id}", tag = "users", security(("bearer" = [])), params(("user_id" = String, Path)), responses((status = 200, body = UserView), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn user(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<UserView>> {
    Ok(Json(state.chat.user(principal.user, path_id(&id)?)?))
}

#[utoipa::path(get, path = "/api/users/profile/export", tag = "users", security(("bearer" = [])), responses((status = 200, description = "A tar archive: profile.json, chats/<chatId>.json (the chat and every message of it the caller can see), and the caller's uploads under uploads/; streamed as it is written", content_type = "application/x-tar"), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn export(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Response> {
    let chat = state.chat.clone();
    let user = principal.user;
    tracing::info!(user_id = %user, "export of a user's data");
    let body = crate::http::stream::from_blocking_writer(move |out| chat.write_export(user, out));
    let name = format!(
        "attachment; filename=\"clavox-export-{}.tar\"",
        super::today()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}
