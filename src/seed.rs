//! Demo data for trying Clavox out: three people, a private chat and a
//! family group with a few messages, created through the same rules as
//! everything else.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::accounts;
use crate::blobs::Blobs;
use crate::bus::Bus;
use crate::chat::{self, ChatService, NewChat, NewMessage};
use crate::data_dir::DataDir;
use crate::domain::Registration;
use crate::error::{Error, Result};
use crate::settings::{LiveSettings, RuntimeSettings};
use crate::store::{Query, Store};

const PEOPLE: [(&str, &str); 3] = [
    ("+6281100000001", "Ana"),
    ("+6281100000002", "Budi"),
    ("+6281100000003", "Citra"),
];

/// Creates the demo data unless it is there already; returns lines telling
/// how to log in as the demo people.
pub async fn run(store: &Store, bus: Arc<dyn Bus>, data_dir: &Path) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    for (phone, name) in PEOPLE {
        ids.push(accounts::ensure(store, phone, name).await?);
    }
    // Demo data is written by the server itself: no budget.
    let uploads = DataDir::new(data_dir).uploads();
    let blobs = Blobs::open(&uploads).map_err(|error| Error::Internal(Box::new(error)))?;
    let settings = chat::Settings {
        message_rate: 0,
        live: LiveSettings::fixed(RuntimeSettings {
            registration: Registration::Open,
            allowed_prefixes: Vec::new(),
            edit_window: Duration::ZERO,
            delete_window: Duration::ZERO,
        }),
    };
    let chat = ChatService::new(store.clone(), bus, blobs, settings);
    let mut lines = Vec::new();
    if store.read()?.chats_of(ids[0])?.is_empty() {
        let private = NewChat {
            participants: vec![ids[1]],
            kind: Some("private".into()),
            name: None,
        };
        let (private, _) = chat.create_chat(ids[0], private).await?;
        let family = NewChat {
            participants: vec![ids[1], ids[2]],
            kind: Some("group".into()),
            name: Some("Keluarga".into()),
        };
        let (family, _) = chat.create_chat(ids[0], family).await?;
        let script = [
            (0, private.id, "Halo Budi! Sudah coba Clavox?"),
            (1, private.id, "Sudah, jalan di laptop tanpa internet 👍"),
            (0, family.id, "Makan malam jam 7 ya"),
            (2, family.id, "Siap!"),
            (1, family.id, "Aku bawa martabak"),
        ];
        for (sender, chat_id, text) in script {
            let message = NewMessage {
                content: Some(text.into()),
                ..NewMessage::default()
            };
            chat.send_message(ids[sender], chat_id, message).await?;
        }
        lines.push("Created 3 demo users, a private chat and the group \"Keluarga\".".into());
    } else {
        lines.push("The demo data is already there.".into());
    }
    lines
        .push("Log in from the web app as any of them; the code appears in the server log:".into());
    for (phone, name) in PEOPLE {
        lines.push(format!("  {name:<6} {phone}"));
    }
    Ok(lines)
}
