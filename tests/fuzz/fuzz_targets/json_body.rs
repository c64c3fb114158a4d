//! JSON bodies of send_message (REST and socket), chat creation and
//! profile and group patches: any body is answered without a panic, as
//! `invalid_json`, `validation_failed` or a value, and whatever the
//! validators accept keeps SPEC's limits.
#![no_main]

use clavox::http::extract::parse_json;
use clavox::chat::validate::{self, CLIENT_ID_MAX, CONTENT_MAX, METADATA_MAX_BYTES, UploadFacts};
use clavox::chat::{NewChat, NewMessage, ProfilePatch};
use clavox::error::Error;
use clavox::domain::MessageKind;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::Value;

fuzz_target!(|bytes: &[u8]| {
    let is_json = serde_json::from_slice::<Value>(bytes).is_ok();
    if let Some(message) = decode::<NewMessage>(bytes, is_json) {
        check_message(&message);
    }
    if let Some(chat) = decode::<NewChat>(bytes, is_json) {
        if let Some(name) = chat.name {
            check_name(&name);
        }
    }
    if let Some(patch) = decode::<ProfilePatch>(bytes, is_json) {
        if let Ok((name, avatar)) = patch.checked() {
            if let Some(name) = name {
                assert_eq!(validate::name("name", &name).ok().as_ref(), Some(&name));
            }
            if let Some(Some(avatar)) = avatar {
                assert!(avatar.chars().count() <= validate::AVATAR_MAX);
                assert!(
                    avatar.starts_with("https://")
                        || avatar.starts_with("http://")
                        || validate::upload_id(&avatar).is_some(),
                    "{avatar:?}"
                );
            }
        }
    }
});

/// The body as `T`; broken JSON must be `invalid_json` and JSON of the
/// wrong shape `validation_failed`.
fn decode<T: DeserializeOwned>(bytes: &[u8], is_json: bool) -> Option<T> {
    match parse_json::<T>(bytes) {
        Ok(value) => {
            assert!(is_json);
            Some(value)
        }
        Err(Error::InvalidJson(_)) => {
            assert!(!is_json);
            None
        }
        Err(Error::Validation(errors)) => {
            assert!(is_json && errors.len() == 1);
            None
        }
        Err(other) => panic!("unexpected answer {other:?}"),
    }
}

/// What `ChatService::send_message` checks before it writes.
fn check_message(message: &NewMessage) {
    let Ok(kind) = validate::message_kind(message.kind.as_deref()) else {
        return;
    };
    if let Ok(content) = validate::content(kind, message.content.as_deref()) {
        assert!(content.chars().count() <= CONTENT_MAX);
        assert!(kind != MessageKind::Text || !content.trim().is_empty());
    }
    let find_upload = |id: &str| {
        assert_eq!(id.len(), 32);
        id.starts_with('0').then_some(UploadFacts {
            dimensions: Some((1, 1)),
        })
    };
    if let Ok(Some(metadata)) = validate::metadata(kind, message.metadata.as_ref(), find_upload) {
        assert!(metadata.len() <= METADATA_MAX_BYTES);
        let stored: Value = serde_json::from_str(&metadata).expect("stored metadata is JSON");
        assert!(stored.is_object());
        assert!(kind == MessageKind::Text || stored["url"].is_string());
    }
    if let Ok(Some(client_id)) = validate::client_id(message.client_id.as_deref()) {
        assert!((1..=CLIENT_ID_MAX).contains(&client_id.chars().count()));
    }
}

fn check_name(text: &str) {
    if let Ok(name) = validate::name("name", text) {
        assert!((1..=validate::NAME_MAX).contains(&name.chars().count()));
        assert_eq!(name, text.trim());
    }
}
