//! `/api/admin`: running the server from the web app. Every route needs an
//! admin (`403 forbidden` for members), and every change is logged with
//! the admin's id.

use std::path::Path as FsPath;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{WaitingCode, accounts};
use crate::chat::reports::ReportView;
use crate::chat::views::UserView;
use crate::domain::Registration;
use crate::error::{Error, ErrorBody, Result};
use crate::http::AppState;
use crate::http::extract::{AdminUser, JsonBody, QueryParams, path_id};
use crate::id::{ReportId, UserId};
use crate::settings::{RuntimeSettings, SettingsChange};
use crate::store::{Query, UserRecord};
use crate::timestamp::Timestamp;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(users))
        .route("/users/invite", post(invite))
        .route("/users/{user_id}/{action}", post(change_user))
        .route("/users/{user_id}/sessions", delete(sign_out_everywhere))
        .route("/unlock", post(unlock))
        .route("/codes", get(codes))
        .route("/settings", get(settings).patch(change_settings))
        .route("/reports", get(reports))
        .route("/reports/{report_id}", delete(dismiss_report))
        .route("/server", get(server))
        .route("/backup", post(backup))
}

/// Users per page of the admin's list.
const USERS_PAGE: usize = 50;

/// An account as the admin console lists it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountView {
    #[serde(flatten)]
    user: UserView,
    /// `active` or `disabled`.
    #[schema(example = "active")]
    status: &'static str,
    /// Signed-in devices.
    sessions: usize,
}

fn account(state: &AppState, admin: UserId, user: &UserRecord) -> Result<AccountView> {
    Ok(AccountView {
        user: state.chat.view_of(admin, user)?,
        status: if user.disabled { "disabled" } else { "active" },
        sessions: state.store.read()?.sessions_of(user.id)?.len(),
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UsersQuery {
    /// Part of a name or number, any case.
    q: Option<String>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct UsersBody {
    users: Vec<AccountView>,
    /// The cursor of the next page; `null` on the last.
    next: Option<UserId>,
}

#[utoipa::path(get, path = "/api/admin/users", tag = "admin", security(("bearer" = [])), params(UsersQuery), responses((status = 200, body = UsersBody), (status = 401, description = "Missing, bad or expired token", body = ErrorBody), (status = 403, description = "Not an admin", body = ErrorBody)))]
pub(super) async fn users(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    QueryParams(query): QueryParams<UsersQuery>,
) -> Result<Json<UsersBody>> {
    let after: Option<UserId> = query.cursor.as_deref().map(path_id).transpose()?;
    let needle = query.q.as_deref().map(str::trim).unwrap_or_default();
    if needle.chars().count() > 64 {
        return Err(Error::validation("q", "at most 64 characters"));
    }
    let needle = needle.to_lowercase();
    // Ids sort by creation time: the list runs oldest first.
    let mut matching = accounts::list(&state.store)?
        .into_iter()
        .filter(|user| after.is_none_or(|after| user.id > after))
        .filter(|user| needle.is_empty() || matches_search(user, &needle));
    let page: Vec<UserRecord> = matching.by_ref().take(USERS_PAGE).collect();
    let next = match (matching.next(), page.last()) {
        (Some(_), Some(last)) => Some(last.id),
        _ => None,
    };
    let users = page
        .iter()
        .map(|user| account(&state, admin.user, user))
        .collect::<Result<_>>()?;
    Ok(Json(UsersBody { users, next }))
}

/// Whether `user`'s name or number holds `needle` (lower-case already).
fn matches_search(user: &UserRecord, needle: &str) -> bool {
    let digits: String = needle.chars().filter(char::is_ascii_digit).collect();
    user.name
        .as_deref()
        .is_some_and(|name| name.to_lowercase().contains(needle))
        || (!digits.is_empty() && user.phone.contains(&digits))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct PhoneBody {
    phone_number: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct InvitedBody {
    /// The number as it was normalised.
    phone_number: String,
}

#[utoipa::path(post, path = "/api/admin/users/invite", tag = "admin", security(("bearer" = [])), request_body = PhoneBody, responses((status = 201, body = InvitedBody), (status = 400, description = "Not a phone number", body = ErrorBody), (status = 403, description = "Not an admin", body = ErrorBody)))]
pub(super) async fn invite(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    JsonBody(body): JsonBody<PhoneBody>,
) -> Result<(StatusCode, Json<InvitedBody>)> {
    let phone = accounts::invite(&state.store, &body.phone_number)
        .await
        .map_err(to_field("phoneNumber"))?;
    tracing::info!(admin_id = %admin.user, phone = %phone, "admin invited a number");
    Ok((
        StatusCode::CREATED,
        Json(InvitedBody {
            phone_number: phone,
        }),
    ))
}

#[utoipa::path(post, path = "/api/admin/users/{user_id}/{action}", tag = "admin", security(("bearer" = [])), params(("user_id" = String, Path), ("action" = String, Path, description = "`disable`, `enable`, `promote` or `demote`")), responses((status = 200, body = AccountView), (status = 403, description = "Not an admin", body = ErrorBody), (status = 404, description = "No such user or action", body = ErrorBody), (status = 409, description = "It would leave no admin who can sign in (`last_admin`)", body = ErrorBody)))]
pub(super) async fn change_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path((user, action)): Path<(String, String)>,
) -> Result<Json<AccountView>> {
    let user: UserId = path_id(&user)?;
    let bus: Arc<dyn crate::bus::Bus> = Arc::new(state.hub.clone());
    let changed = match action.as_str() {
        "disable" => accounts::set_disabled(&state.store, bus, user, true).await?,
        "enable" => accounts::set_disabled(&state.store, bus, user, false).await?,
        "promote" => accounts::set_admin(&state.store, user, true).await?,
        "demote" => accounts::set_admin(&state.store, user, false).await?,
        _ => return Err(Error::NotFound),
    };
    tracing::info!(admin_id = %admin.user, user_id = %user, action = %action, "admin changed an account");
    Ok(Json(account(&state, admin.user, &changed)?))
}

#[utoipa::path(delete, path = "/api/admin/users/{user_id}/sessions", tag = "admin", security(("bearer" = [])), params(("user_id" = String, Path)), responses((status = 204, description = "Signed out everywhere"), (status = 403, description = "Not an admin", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody)))]
pub(super) async fn sign_out_everywhere(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user): Path<String>,
) -> Result<StatusCode> {
    let user: UserId = path_id(&user)?;
    let ended =
        accounts::sign_out_everywhere(&state.store, Arc::new(state.hub.clone()), user).await?;
    tracing::info!(admin_id = %admin.user, user_id = %user, ended, "admin signed a user out everywhere");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UnlockedBody {
    phone_number: String,
    /// Whether the number had wrong codes to forget.
    was_locked: bool,
}

#[utoipa::path(post, path = "/api/admin/unlock", tag = "admin", security(("bearer" = [])), request_body = PhoneBody, responses((status = 200, body = UnlockedBody), (status = 400, description = "Not a phone number", body = ErrorBody), (status = 403, description = "Not an admin", body = ErrorBody)))]
pub(super) async fn unlock(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    JsonBody(body): JsonBody<PhoneBody>,
) -> Result<Json<UnlockedBody>> {
    let unlocked = accounts::unlock(&state.store, &body.phone_number)
        .await
        .map_err(to_field("phoneNumber"))?;
    let (phone_number, was_locked) = match unlocked {
        accounts::Unlocked::Forgotten(phone) => (phone, true),
        accounts::Unlocked::NothingToForget(phone) => (phone, false),
    };
    tracing::info!(admin_id = %admin.user, phone = %phone_number, was_locked, "admin unlocked a number");
    Ok(Json(UnlockedBody {
        phone_number,
        was_locked,
    }))
}

/// Names the body's field in a validation error about a phone number.
fn to_field(field: &'static str) -> impl Fn(Error) -> Error {
    move |error| match error {
        Error::Validation(errors) => Error::Validation(
            errors
                .into_iter()
                .map(|error| crate::error::FieldError::new(field, error.message))
                .collect(),
        ),
        other => other,
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CodeView {
    phone_number: String,
    code: String,
    expires_at: Timestamp,
    /// Who asked for it.
    ip: Option<String>,
    user_agent: Option<String>,
}

impl From<WaitingCode> for CodeView {
    fn from(waiting: WaitingCode) -> Self {
        Self {
            phone_number: waiting.phone,
            code: waiting.code,
            expires_at: waiting.expires_at,
            ip: waiting.ip,
            user_agent: waiting.user_agent,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(super) struct CodesBody {
    codes: Vec<CodeView>,
}

#[utoipa::path(get, path = "/api/admin/codes", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "Codes sent by this server and not yet used, soonest to expire first", body = CodesBody), (status = 403, description = "Not an admin", body = ErrorBody)))]
pub(super) async fn codes(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<CodesBody>> {
    tracing::info!(admin_id = %admin.user, "admin read the waiting codes");
    Ok(Json(CodesBody {
        codes: state
            .auth
            .waiting_codes()
            .into_iter()
            .map(CodeView::from)
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct SettingsBody {
    #[schema(value_type = String, example = "open")]
    registration: Registration,
    /// Empty: any number.
    allowed_phone_prefixes: Vec<String>,
    /// Seconds; 0 is no limit.
    edit_window: u64,
    delete_window: u64,
    /// The settings the server's environment or command line set: they
    /// win, and cannot be changed here.
    locked: Vec<&'static str>,
}

fn settings_body(state: &AppState, settings: &RuntimeSettings) -> SettingsBody {
    let locks = state.settings.locks();
    let locked = [
        ("registration", locks.registration),
        ("allowedPhonePrefixes", locks.allowed_prefixes),
        ("editWindow", locks.edit_window),
        ("deleteWindow", locks.delete_window),
    ]
    .into_iter()
    .filter_map(|(name, locked)| locked.then_some(name))
    .collect();
    SettingsBody {
        registration: settings.registration,
        allowed_phone_prefixes: settings.allowed_prefixes.clone(),
        edit_window: settings.edit_window.as_secs(),
        delete_window: settings.delete_window.as_secs(),
        locked,
    }
}

#[utoipa::path(get, path = "/api/admin/settings", tag = "admin", security(("bearer" = [])), responses((status = 200, body = SettingsBody), (status = 403, description = "Not an admin", body = ErrorBody)))]
pub(super) async fn settings(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> Result<Json<SettingsBody>> {
    Ok(Json(settings_body(&state, &state.settings.current())))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct SettingsPatch {
    /// `open`, `invite` or `closed`.
    #[schema(value_type = Option<String>)]
    registration: Option<Registration>,
    allowed_phone_prefixes: Option<Vec<String>>,
    /// Seconds; 0 is no limit.
    edit_window: Option<u64>,
    delete_window: Option<u64>,
}

#[utoipa::path(patch, path = "/api/admin/settings", tag = "admin", security(("bearer" = [])), request_body = SettingsPatch, responses((status = 200, body = SettingsBody), (status = 400, description = "Invalid or locked settings; nothing changed", body = ErrorBody), (status = 403, description = "Not an admin", body = ErrorBody)))]
pub(super) async fn change_settings(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    JsonBody(patch): JsonBody<SettingsPatch>,
) -> Result<Json<SettingsBody>> {
    let change = SettingsChange {
        registration: patch.registration,
        allowed_prefixes: patch.allowed_phone_prefixes,
        edit_window_secs: patch.edit_window,
        delete_window_secs: patch.delete_window,
    };
    let current = state.settings.change(&state.store, change).await?;
    tracing::info!(admin_id = %admin.user, settings = ?current, "admin changed the settings");
    Ok(Json(settings_body(&state, &current)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ReportsQuery {
    /// The `next` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct ReportsBody {
    reports: Vec<ReportView>,
    next: Option<ReportId>,
}

#[utoipa::path(get, path = "/api/admin/reports", tag = "admin", security(("bearer" = [])), params(ReportsQuery), responses((status = 200, description = "Reported messages, oldest first", body = ReportsBody), (status = 403, description = "Not an admin", body = ErrorBody)))]
pub(super) async fn reports(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    QueryParams(query): QueryParams<ReportsQuery>,
) -> Result<Json<ReportsBody>> {
    let after = query.cursor.as_deref().map(path_id).transpose()?;
    let (reports, next) = state.chat.reports(admin.user, after)?;
    Ok(Json(ReportsBody { reports, next }))
}

#[utoipa::path(delete, path = "/api/admin/reports/{report_id}", tag = "admin", security(("bearer" = [])), params(("report_id" = String, Path)), responses((status = 204, description = "Taken off the queue"), (status = 403, description = "Not an admin", body = ErrorBody), (status = 404, description = "No such report", body = ErrorBody)))]
pub(super) async fn dismiss_report(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(report): Path<String>,
) -> Result<StatusCode> {
    let report: ReportId = path_id(&report)?;
    state.chat.dismiss_report(report).await?;
    tracing::info!(admin_id = %admin.user, report_id = %report, "admin dismissed a report");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ServerBody {
    version: &'static str,
    uptime_seconds: u64,
    /// Bytes the data directory takes: database, keys and uploads.
    data_dir_bytes: u64,
    free_disk_bytes: u64,
    users: u64,
    chats: u64,
    messages: u64,
    /// Bytes the messages' records take in the database.
    messages_bytes: u64,
    /// Bytes the search index takes in the database.
    search_index_bytes: u64,
    sockets_online: usize,
    users_online: usize,
}

#[utoipa::path(get, path = "/api/admin/server", tag = "admin", security(("bearer" = [])), responses((status = 200, body = ServerBody), (status = 403, description = "Not an admin", body = ErrorBody)))]
pub(super) async fn server(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> Result<Json<ServerBody>> {
    let totals = state.store.read()?.totals()?;
    let data_dir = state.config.data_dir.clone();
    let data_dir_bytes = tokio::task::spawn_blocking(move || size_of_dir(&data_dir))
        .await
        .map_err(|error| Error::Internal(Box::new(error)))?;
    let free_disk_bytes = state
        .uploads
        .blobs()
        .disk_space()
        .map_or(0, |space| space.free);
    let (sockets_online, users_online) = state.hub.counts();
    Ok(Json(ServerBody {
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.started.elapsed().as_secs(),
        data_dir_bytes,
        free_disk_bytes,
        users: totals.users,
        chats: totals.chats,
        messages: totals.messages,
        messages_bytes: totals.messages_bytes,
        search_index_bytes: totals.search_index_bytes,
        sockets_online,
        users_online,
    }))
}

/// The bytes of every file under `dir`; what cannot be read counts as 0.
fn size_of_dir(dir: &FsPath) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => size_of_dir(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |meta| meta.len()),
            _ => 0,
        })
        .sum()
}

#[utoipa::path(post, path = "/api/admin/backup", tag = "admin", security(("bearer" = [])), responses((status = 200, description = "A backup archive (tar), the same as `clavox backup` writes", content_type = "application/x-tar"), (status = 403, description = "Not an admin", body = ErrorBody)))]
pub(super) async fn backup(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Response> {
    tracing::info!(admin_id = %admin.user, "admin downloads a backup");
    let (store, data_dir) = (state.store.clone(), state.config.data_dir.clone());
    let staged =
        tokio::task::spawn_blocking(move || crate::backup::stage(&store, &data_dir, &data_dir))
            .await
            .map_err(|error| Error::Internal(Box::new(error)))?
            .map_err(|error| Error::Internal(Box::new(error)))?;
    let archive = tokio::fs::File::open(staged.archive())
        .await
        .map_err(|error| Error::Internal(Box::new(error)))?;
    let length = staged.summary.bytes;
    // The staged copy is removed once the body has been sent (or dropped).
    let chunks =
        futures_util::StreamExt::map(tokio_util::io::ReaderStream::new(archive), move |chunk| {
            let _keep = &staged;
            chunk
        });
    let name = format!(
        "attachment; filename=\"clavox-backup-{}.tar\"",
        super::today()
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (header::CONTENT_LENGTH, length.to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        Body::from_stream(chunks),
    )
        .into_response())
}
