//! `/api/auth`: one-time codes, tokens and sessions.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Login, TokenPair};
use crate::chat::views::UserView;
use crate::error::ErrorBody;
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::id::SessionId;
use crate::timestamp::Timestamp;

use crate::http::extract::{AuthUser, Client, JsonBody, OptionalJsonBody, bearer_token, path_id};
use crate::http::rate_limit;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/send-otp",
            post(send_otp).route_layer(middleware::from_fn_with_state(
                state.clone(),
                rate_limit::otp_sends,
            )),
        )
        .route(
            "/verify-otp",
            post(verify_otp).route_layer(middleware::from_fn_with_state(
                state.clone(),
                rate_limit::otp_verifies,
            )),
        )
        .route("/refresh-token", post(refresh_token))
        .route("/logout", post(logout))
        .route("/sessions", get(sessions))
        .route("/sessions/{session_id}", delete(end_session))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct PhoneBody {
    phone_number: String,
    /// A group's invite code: lets a new number sign up under
    /// `REGISTRATION=invite` while the code is valid.
    invite: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct OtpSentBody {
    message: &'static str,
    expires_in: u64,
    retry_after: u64,
}

#[utoipa::path(post, path = "/api/auth/send-otp", tag = "auth", request_body = PhoneBody, responses((status = 200, body = OtpSentBody), (status = 400, description = "Invalid input", body = ErrorBody), (status = 429, description = "Too many requests", body = ErrorBody), (status = 502, description = "Code delivery failed", body = ErrorBody)))]
pub(super) async fn send_otp(
    State(state): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<PhoneBody>,
) -> Result<Json<OtpSentBody>> {
    let sent = state
        .auth
        .send_otp(&body.phone_number, body.invite.as_deref(), &client)
        .await?;
    Ok(Json(OtpSentBody {
        message: "OTP sent",
        expires_in: sent.expires_in,
        retry_after: sent.retry_after,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct VerifyBody {
    phone_number: String,
    otp: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct TokensBody {
    access_token: String,
    refresh_token: String,
    expires_in: u64,
}

impl From<TokenPair> for TokensBody {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            expires_in: pair.expires_in,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct LoginBody {
    #[serde(flatten)]
    tokens: TokensBody,
    user: UserView,
    is_new_user: bool,
}

#[utoipa::path(post, path = "/api/auth/verify-otp", tag = "auth", request_body = VerifyBody, responses((status = 200, body = LoginBody), (status = 400, description = "Invalid input", body = ErrorBody), (status = 429, description = "Too many requests", body = ErrorBody)))]
pub(super) async fn verify_otp(
    State(state): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<VerifyBody>,
) -> Result<Json<LoginBody>> {
    let Login {
        tokens,
        user,
        is_new_user,
    } = state
        .auth
        .verify_otp(&body.phone_number, &body.otp, client)
        .await?;
    let user = state.chat.view_of(user.id, &user)?;
    Ok(Json(LoginBody {
        tokens: tokens.into(),
        user,
        is_new_user,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefreshBody {
    refresh_token: Option<String>,
}

/// The refresh token as a bearer token (the original design), if sent so.
pub(super) struct BearerRefresh(Option<String>);

impl axum::extract::FromRequestParts<AppState> for BearerRefresh {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(bearer_token(parts).map(str::to_owned)))
    }
}

#[utoipa::path(post, path = "/api/auth/refresh-token", tag = "auth", request_body(content = Option<RefreshBody>, description = "Or send the refresh token as a bearer token"), security(("bearer" = [])), responses((status = 200, body = TokensBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn refresh_token(
    State(state): State<AppState>,
    Client(client): Client,
    BearerRefresh(header): BearerRefresh,
    OptionalJsonBody(body): OptionalJsonBody<RefreshBody>,
) -> Result<Json<TokensBody>> {
    // The header wins; the body is for clients that cannot set headers.
    let token = header
        .or_else(|| body.and_then(|body| body.refresh_token))
        .ok_or(Error::Unauthorized)?;
    let pair = state.auth.refresh(&token, client).await?;
    Ok(Json(pair.into()))
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])), responses((status = 204, description = "Session ended"), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn logout(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<StatusCode> {
    state.auth.logout(principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionView {
    id: SessionId,
    created_at: Timestamp,
    last_used_at: Timestamp,
    user_agent: Option<String>,
    ip: Option<String>,
    current: bool,
}

#[derive(Serialize, ToSchema)]
pub(super) struct SessionsBody {
    sessions: Vec<SessionView>,
}

#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth", security(("bearer" = [])), responses((status = 200, body = SessionsBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody)))]
pub(super) async fn sessions(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
) -> Result<Json<SessionsBody>> {
    let sessions = state
        .auth
        .sessions(principal)?
        .into_iter()
        .map(|session| SessionView {
            id: session.id,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            user_agent: session.user_agent,
            ip: session.ip,
            current: session.id == principal.session,
        })
        .collect();
    Ok(Json(SessionsBody { sessions }))
}

#[utoipa::path(delete, path = "/api/auth/sessions/{session_id}", tag = "auth", security(("bearer" = [])), params(("session_id" = String, Path)), responses((status = 204, description = "Session ended"), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn end_session(
    State(state): State<AppState>,
    AuthUser(principal): AuthUser,
    Path(session): Path<String>,
) -> Result<StatusCode> {
    state
        .auth
        .end_session(principal, path_id(&session)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
