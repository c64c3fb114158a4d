//! `GET /api/openapi.json`: the OpenAPI 3.1 description of the REST API,
//! generated from the handlers' own annotations and types.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    admin, auth, changes, chats, invites, messages, moderation, push, search, uploads, users,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Clavox", description = "A self-hosted chat server: phone-number login, private and group chats, messages with read receipts. Realtime events are served at /ws."),
    paths(
        auth::send_otp,
        auth::verify_otp,
        auth::refresh_token,
        auth::logout,
        auth::sessions,
        auth::end_session,
        users::profile,
        users::update_profile,
        users::lookup,
        users::user,
        chats::list,
        chats::create,
        chats::chat,
        chats::update,
        chats::mute,
        push::key,
        push::subscribe,
        push::unsubscribe,
        push::topic,
        push::replace_topic,
        chats::unmute,
        chats::add_participants,
        chats::remove_participant,
        messages::list,
        messages::send,
        messages::mark_read,
        changes::mark_received,
        changes::changes,
        changes::edit,
        changes::delete,
        changes::edits,
        changes::hide,
        changes::forward,
        changes::react,
        changes::unreact,
        changes::pins,
        changes::pin,
        changes::unpin,
        search::search,
        uploads::upload,
        uploads::download,
        users::export,
        moderation::block,
        moderation::unblock,
        moderation::blocked,
        moderation::report,
        invites::create,
        invites::list,
        invites::revoke,
        invites::preview,
        invites::accept,
        admin::users,
        admin::invite,
        admin::change_user,
        admin::sign_out_everywhere,
        admin::unlock,
        admin::codes,
        admin::settings,
        admin::change_settings,
        admin::reports,
        admin::dismiss_report,
        admin::server,
        admin::backup,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "One-time codes, tokens and sessions"),
        (name = "users", description = "Profiles"),
        (name = "chats", description = "Private chats and groups"),
        (name = "messages", description = "Messages, their changes, and read and delivery marks"),
        (name = "uploads", description = "Attachments"),
        (name = "notifications", description = "Web Push subscriptions and the ntfy topic"),
        (name = "admin", description = "Running the server: accounts, codes, settings, reports (admins only)"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` scheme the operations refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").into();
    Json(document)
}
