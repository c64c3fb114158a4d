//! The REST API under `/api`: thin handlers, one file per resource. Each
//! parses its input, calls one function of `auth` or `chat`, and shapes the
//! answer.

mod admin;
mod auth;
mod changes;
mod chats;
mod invites;
mod messages;
mod moderation;
mod openapi;
mod push;
mod search;
mod uploads;
mod users;

use axum::Router;
use axum::middleware;

use crate::error::Error;
use crate::http::AppState;
use crate::http::rate_limit;

/// Today's date (`2026-12-05`), for the names of downloaded archives.
fn today() -> String {
    crate::timestamp::Timestamp::now().to_string()[..10].to_owned()
}

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", axum::routing::get(openapi::document))
        .nest("/auth", auth::router(state))
        .nest("/users", users::router().merge(moderation::users_router()))
        .nest(
            "/chats",
            chats::router()
                .merge(moderation::chats_router())
                .merge(invites::chats_router()),
        )
        .nest("/invites", invites::router())
        .nest("/admin", admin::router())
        .nest("/uploads", uploads::router())
        .route("/search", axum::routing::get(search::search))
        .nest("/push", push::push_router())
        .nest("/notify", push::notify_router())
        .fallback(|| async { Error::NotFound })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::general,
        ))
}
