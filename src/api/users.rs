//! `/api/users`: the caller's profile and other people's.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::chat::ProfilePatch;
use crate::chat::views::UserView;
use crate::error::{Error, Result};

use super::extract::{AuthUser, JsonBody, QueryParams, path_id};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/profile", get(profile).put(update_profile))
        .route("/lookup", get(lookup))
        .route("/{user_id}", get(user))
}

async fn profile(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<UserView>> {
    Ok(Json(state.chat.user(principal.user)?))
}

async fn update_profile(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    JsonBody(patch): JsonBody<ProfilePatch>,
) -> Result<Json<UserView>> {
    Ok(Json(
        state.chat.update_profile(principal.user, patch).await?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LookupQuery {
    phone_number: Option<String>,
}

async fn lookup(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    QueryParams(query): QueryParams<LookupQuery>,
) -> Result<Json<UserView>> {
    let phone = query
        .phone_number
        .ok_or_else(|| Error::validation("phoneNumber", "is required"))?;
    Ok(Json(state.chat.lookup(&phone)?))
}

async fn user(
    State(state): State<AppState>,
    AuthUser(_): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<UserView>> {
    Ok(Json(state.chat.user(path_id(&id)?)?))
}
