//! The admin's say over accounts: who is invited, who is disabled. Used by
//! the command line, against the running server or the data directory.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::events::Notifier;
use crate::id::UserId;
use crate::store::{InviteRecord, Query, Store, UserRecord};
use crate::timestamp::Timestamp;

use super::phone;

fn parse(phone_text: &str) -> Result<String> {
    phone::normalize(phone_text).ok_or_else(|| {
        Error::validation(
            "phoneNumber",
            "must be an international phone number such as +6281234567890",
        )
    })
}

/// Every account, oldest first.
pub fn list(store: &Store) -> Result<Vec<UserRecord>> {
    Ok(store.read()?.users()?)
}

/// Lets `phone` create an account while `REGISTRATION=invite`.
pub async fn invite(store: &Store, phone_text: &str) -> Result<String> {
    let phone = parse(phone_text)?;
    let stored = phone.clone();
    store
        .write(move |tx| {
            tx.put_invite(
                &stored,
                &InviteRecord {
                    invited_at: Timestamp::now(),
                },
            )
        })
        .await?;
    Ok(phone)
}

/// Disables or enables the account of `phone`. Disabling ends every session
/// and socket of it at once; a disabled user gets no codes.
pub async fn set_disabled(
    store: &Store,
    notifier: Arc<dyn Notifier>,
    phone_text: &str,
    disabled: bool,
) -> Result<UserRecord> {
    let phone = parse(phone_text)?;
    store
        .write(move |tx| {
            let Some(mut user) = tx.user_by_phone(&phone)? else {
                return Ok(Err(Error::NotFound));
            };
            user.disabled = disabled;
            user.updated_at = Timestamp::now();
            tx.put_user(&user)?;
            if disabled {
                for session in tx.sessions_of(user.id)? {
                    tx.remove_session(user.id, session.id)?;
                }
                let id = user.id;
                tx.on_commit(move || notifier.end_user(id));
            }
            Ok(Ok(user))
        })
        .await?
}

/// The user with `phone`, created (verified, named `name`) if new. For demo
/// data only: real accounts come into being through a verified code.
pub async fn ensure(store: &Store, phone_text: &str, name: &str) -> Result<UserId> {
    let phone = parse(phone_text)?;
    let name = name.to_owned();
    store
        .write(move |tx| {
            if let Some(user) = tx.user_by_phone(&phone)? {
                return Ok(user.id);
            }
            let now = Timestamp::now();
            let user = UserRecord::new(phone, Some(name), now);
            tx.put_user(&user)?;
            Ok(user.id)
        })
        .await
        .map_err(Error::from)
}
