//! Operational routes: `/healthz` (the process answers) and `/readyz` (the
//! store is open and takes writes).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::Result;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>> {
    state.store.read()?;
    state.store.check_writable().await?;
    Ok(Json(json!({ "status": "ok" })))
}
