//! The admin channel: commands such as `clavox users disable` reach the
//! running server through a Unix socket in the data directory. The socket
//! is mode 0600 inside a 0700 directory, so only the server's own user can
//! use it; it is never exposed on the network. With no server running, the
//! same commands run directly against the data directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use crate::auth::accounts::{self, Unlocked};
use crate::backup;
use crate::bus::Bus;
use crate::data_dir::DataDir;
use crate::error::Error;
use crate::store::{Query, SCHEMA_VERSION, Store, UserRecord};

pub fn socket_path(data_dir: &Path) -> PathBuf {
    DataDir::new(data_dir).admin_socket()
}

/// One admin command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    Status,
    /// Brings the data directory to this version's layout (opening the
    /// store does) and, with no server running, indexes for search what an
    /// upgrade left waiting.
    Migrate,
    ListUsers,
    Invite {
        phone: String,
    },
    Disable {
        phone: String,
    },
    Enable {
        phone: String,
    },
    Unlock {
        phone: String,
    },
    Promote {
        phone: String,
    },
    Demote {
        phone: String,
    },
    /// Over the admin socket the server sends the archive and the asking
    /// process writes `out`; run directly, `out` is written here.
    Backup {
        out: PathBuf,
    },
    Seed,
}

/// The outcome, as lines for a person to read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub lines: Vec<String>,
    /// How many bytes of a file (a backup) follow this line on the socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_bytes: Option<u64>,
}

impl Response {
    fn ok(lines: Vec<String>) -> Self {
        Self {
            ok: true,
            lines,
            attached_bytes: None,
        }
    }

    fn failed(problem: impl std::fmt::Display) -> Self {
        Self {
            ok: false,
            lines: vec![problem.to_string()],
            attached_bytes: None,
        }
    }
}

/// What commands act on: the store, the live sockets, the data directory.
#[derive(Clone)]
pub struct Context {
    pub store: Store,
    pub bus: Arc<dyn Bus>,
    pub data_dir: PathBuf,
    /// Whether this is the running server (rather than a direct open).
    pub live: bool,
}

pub async fn execute(context: &Context, request: Request) -> Response {
    let store = &context.store;
    let outcome: Result<Vec<String>, String> = match request {
        Request::Status => status(context),
        Request::Migrate if context.live => status(context),
        Request::Migrate => index_for_search(store).await.and_then(|mut lines| {
            lines.extend(status(context)?);
            Ok(lines)
        }),
        Request::ListUsers => list_users(store),
        Request::Invite { phone } => accounts::invite(store, &phone)
            .await
            .map(|phone| vec![format!("invited {phone}")])
            .map_err(describe),
        Request::Disable { phone } => disable(context, &phone, true)
            .await
            .map(|user| {
                vec![format!(
                    "disabled {}: signed out everywhere, gets no codes",
                    user.phone
                )]
            })
            .map_err(describe),
        Request::Enable { phone } => disable(context, &phone, false)
            .await
            .map(|user| vec![format!("enabled {}", user.phone)])
            .map_err(describe),
        Request::Promote { phone } => make_admin(store, &phone, true)
            .await
            .map(|user| vec![format!("{} is an admin", user.phone)])
            .map_err(describe),
        Request::Demote { phone } => make_admin(store, &phone, false)
            .await
            .map(|user| vec![format!("{} is a member", user.phone)])
            .map_err(describe),
        Request::Unlock { phone } => accounts::unlock(store, &phone)
            .await
            .map(|unlocked| vec![describe_unlock(&unlocked)])
            .map_err(describe),
        Request::Backup { out } => {
            let (store, data_dir) = (store.clone(), context.data_dir.clone());
            tokio::task::spawn_blocking(move || {
                backup::create(&store, &data_dir, &out).map(|summary| (summary, out))
            })
            .await
            .map_err(|error| error.to_string())
            .and_then(|result| result.map_err(|error| error.to_string()))
            .map(|(summary, out)| vec![format!("backup written to {}: {summary}", out.display())])
        }
        Request::Seed => crate::seed::run(store, Arc::clone(&context.bus), &context.data_dir)
            .await
            .map_err(describe),
    };
    match outcome {
        Ok(lines) => Response::ok(lines),
        Err(problem) => Response::failed(problem),
    }
}

async fn disable(
    context: &Context,
    phone: &str,
    disabled: bool,
) -> crate::error::Result<UserRecord> {
    let user = accounts::by_phone(&context.store, phone)?;
    let changed =
        accounts::set_disabled(&context.store, Arc::clone(&context.bus), user.id, disabled).await?;
    tracing::info!(admin = "command line", user_id = %user.id, disabled, "account disabled or enabled");
    Ok(changed)
}

async fn make_admin(store: &Store, phone: &str, admin: bool) -> crate::error::Result<UserRecord> {
    let user = accounts::by_phone(store, phone)?;
    let changed = accounts::set_admin(store, user.id, admin).await?;
    tracing::info!(admin = "command line", user_id = %user.id, promoted = admin, "role changed");
    Ok(changed)
}

fn describe(error: Error) -> String {
    match error {
        Error::NotFound => "no user has that phone number".into(),
        Error::Validation(fields) => fields
            .into_iter()
            .map(|field| format!("{}: {}", field.field, field.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn describe_unlock(unlocked: &Unlocked) -> String {
    match unlocked {
        Unlocked::Forgotten(phone) => {
            format!("unlocked {phone}: its wrong codes are forgotten and its codes work again")
        }
        Unlocked::NothingToForget(phone) => format!("{phone} was not locked"),
    }
}

/// Files every message waiting for the search indexer, with a progress
/// line on stderr every 100,000.
async fn index_for_search(store: &Store) -> Result<Vec<String>, String> {
    let backlog = store
        .read()
        .and_then(|reader| reader.search_backlog())
        .map_err(|error| error.to_string())?;
    if backlog == 0 {
        return Ok(Vec::new());
    }
    let mut indexed = 0;
    let mut reported = 0;
    loop {
        let done = store
            .apply(crate::store::ops::IndexForSearch {
                limit: 5_000,
                budget: None,
            })
            .await
            .map_err(|error| error.to_string())?;
        indexed += done.messages;
        if indexed - reported >= 100_000 {
            reported = indexed;
            eprintln!("indexed {indexed} of {backlog} messages for search");
        }
        if !done.more {
            return Ok(vec![format!("indexed {indexed} messages for search")]);
        }
    }
}

fn status(context: &Context) -> Result<Vec<String>, String> {
    let users = accounts::list(&context.store).map_err(describe)?.len();
    let serving = if context.live {
        "a running server"
    } else {
        "no server (opened directly)"
    };
    Ok(vec![format!(
        "data directory {} is used by {serving}; schema version {SCHEMA_VERSION}; {users} users",
        context.data_dir.display()
    )])
}

fn list_users(store: &Store) -> Result<Vec<String>, String> {
    let users = accounts::list(store).map_err(describe)?;
    let admins = store
        .read()
        .and_then(|reader| reader.admins())
        .map_err(|error| error.to_string())?;
    let mut lines = vec![format!(
        "{:<24}  {:<16}  {:<20}  {:<8}  {:<8}  {}",
        "ID", "PHONE", "NAME", "ROLE", "STATUS", "CREATED"
    )];
    for user in &users {
        let status = if user.disabled { "disabled" } else { "active" };
        let role = if admins.contains(&user.id) {
            "admin"
        } else {
            "member"
        };
        let name: String = user
            .name
            .as_deref()
            .unwrap_or("-")
            .chars()
            .take(20)
            .collect();
        lines.push(format!(
            "{:<24}  {:<16}  {:<20}  {:<8}  {:<8}  {}",
            user.id.to_string(),
            user.phone,
            name,
            role,
            status,
            user.created_at
        ));
    }
    lines.push(format!("{} users", users.len()));
    Ok(lines)
}

/// Serves the admin socket until `shutdown`.
pub fn listen(
    context: Context,
    shutdown: CancellationToken,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let path = socket_path(&context.data_dir);
    // A socket file left by a crashed server: this process holds the
    // database lock, so no other server can be using it.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "admin socket accept failed");
                        continue;
                    }
                },
            };
            let context = context.clone();
            tokio::spawn(async move {
                if let Err(error) = answer(stream, &context).await {
                    tracing::warn!(%error, "admin command failed");
                }
            });
        }
        let _ = std::fs::remove_file(&path);
    }))
}

async fn answer(stream: UnixStream, context: &Context) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut line = String::new();
    BufReader::new(reader.take(64 * 1024))
        .read_line(&mut line)
        .await?;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(Request::Backup { .. }) => {
            tracing::info!("admin command: backup, sent to the caller");
            return send_backup(context, writer).await;
        }
        Ok(request) => {
            tracing::info!(?request, "admin command");
            execute(context, request).await
        }
        Err(error) => Response::failed(format!("not an admin command: {error}")),
    };
    write_response(&mut writer, &response).await?;
    writer.shutdown().await
}

async fn write_response(
    writer: &mut (impl AsyncWriteExt + Unpin),
    response: &Response,
) -> std::io::Result<()> {
    let mut text = serde_json::to_string(response).map_err(std::io::Error::other)?;
    text.push('\n');
    writer.write_all(text.as_bytes()).await
}

/// Stages a backup inside the data directory (the one place this server may
/// surely write), then sends it to the caller, who writes it wherever they
/// may: under systemd the server's own view of the filesystem is narrow.
async fn send_backup(
    context: &Context,
    mut writer: tokio::net::unix::OwnedWriteHalf,
) -> std::io::Result<()> {
    let (store, data_dir) = (context.store.clone(), context.data_dir.clone());
    let staged = tokio::task::spawn_blocking(move || backup::stage(&store, &data_dir, &data_dir))
        .await
        .map_err(std::io::Error::other)?;
    let staged = match staged {
        Ok(staged) => staged,
        Err(error) => {
            write_response(&mut writer, &Response::failed(error)).await?;
            return writer.shutdown().await;
        }
    };
    let mut archive = tokio::fs::File::open(staged.archive()).await?;
    let response = Response {
        attached_bytes: Some(staged.summary.bytes),
        ..Response::ok(vec![staged.summary.to_string()])
    };
    write_response(&mut writer, &response).await?;
    tokio::io::copy(&mut archive, &mut writer).await?;
    writer.shutdown().await
}

/// Sends `request` to the server running on `data_dir`; `None` when no
/// server is listening there. A backup the server sends is written to the
/// request's `out` by this process.
pub async fn ask(data_dir: &Path, request: &Request) -> Result<Option<Response>, String> {
    let path = socket_path(data_dir);
    let Ok(stream) = UnixStream::connect(&path).await else {
        return Ok(None);
    };
    let (reader, mut writer) = stream.into_split();
    let mut text = serde_json::to_string(request).map_err(|error| error.to_string())?;
    text.push('\n');
    writer
        .write_all(text.as_bytes())
        .await
        .map_err(|error| format!("cannot talk to the server: {error}"))?;
    let mut line = String::new();
    let mut reader = BufReader::new(reader);
    reader
        .read_line(&mut line)
        .await
        .map_err(|error| format!("cannot read the server's answer: {error}"))?;
    let response: Response = serde_json::from_str(&line).map_err(|error| {
        format!("the server's answer is not understood ({error}); is it the same version?")
    })?;
    match (request, response.attached_bytes) {
        (Request::Backup { out }, Some(bytes)) if response.ok => {
            receive_backup(&mut reader, bytes, out).await?;
            let summary = response.lines.join(" ");
            Ok(Some(Response::ok(vec![format!(
                "backup written to {}: {summary}",
                out.display()
            )])))
        }
        _ => Ok(Some(response)),
    }
}

/// Writes the `bytes` of a backup arriving on `reader` to `out`, whole or not at all.
async fn receive_backup(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
    bytes: u64,
    out: &Path,
) -> Result<(), String> {
    let receiving = backup::Receiving::begin(out).map_err(|error| error.to_string())?;
    let mut file = tokio::fs::File::from_std(
        receiving
            .file
            .try_clone()
            .map_err(|error| error.to_string())?,
    );
    let copied = tokio::io::copy(&mut reader.take(bytes), &mut file)
        .await
        .map_err(|error| format!("cannot write {}: {error}", out.display()))?;
    if copied != bytes {
        return Err(format!(
            "the server sent {copied} of the backup's {bytes} bytes; nothing was written"
        ));
    }
    drop(file);
    receiving.finish(out).map_err(|error| error.to_string())
}
