//! The REST API under `/api`: thin handlers, one file per resource. Each
//! parses its input, calls one function of `auth` or `chat`, and shapes the
//! answer.

mod auth;
mod changes;
mod chats;
mod messages;
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

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", axum::routing::get(openapi::document))
        .nest("/auth", auth::router(state))
        .nest("/users", users::router())
        .nest("/chats", chats::router())
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
