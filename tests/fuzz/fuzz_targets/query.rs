//! The message list's query string (`page`, `limit`, `before`, `after`),
//! through the same extractor and parser as `GET /api/chats/:id/messages`:
//! any query is answered without a panic, and an accepted one is in range.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::extract::FromRequestParts;
use axum::http::Request;
use clavox::http::extract::QueryParams;
use clavox::chat::MessageQuery;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

/// The handler's `PageParams`: the four parameters, as text.
#[derive(Deserialize)]
struct PageParams {
    page: Option<String>,
    limit: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

fuzz_target!(|query: &str| {
    let Ok(request) = Request::builder().uri(format!("/m?{query}")).body(()) else {
        return; // not a URI a client could send
    };
    let (mut parts, ()) = request.into_parts();
    let extracted = pin!(QueryParams::<PageParams>::from_request_parts(
        &mut parts,
        &()
    ));
    // The extractor never waits: it only reads the URI.
    let Poll::Ready(extracted) = extracted.poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("the query extractor waited");
    };
    let Ok(QueryParams(params)) = extracted else {
        return;
    };
    let cursors = [&params.page, &params.before, &params.after]
        .iter()
        .filter(|parameter| parameter.is_some())
        .count();
    let Ok(parsed) = MessageQuery::parse(
        params.page.as_deref(),
        params.limit.as_deref(),
        params.before.as_deref(),
        params.after.as_deref(),
    ) else {
        return;
    };
    assert!(cursors <= 1, "{query:?}");
    let limit = match parsed {
        MessageQuery::Page { page, limit } => {
            assert!(page >= 1 && params.before.is_none() && params.after.is_none());
            limit
        }
        MessageQuery::Before { limit, .. } => {
            assert!(params.before.is_some());
            limit
        }
        MessageQuery::After { limit, .. } => {
            assert!(params.after.is_some());
            limit
        }
    };
    assert!((1..=100).contains(&limit), "{query:?}");
});
