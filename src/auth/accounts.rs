//! The admin's say over accounts: who is invited, who is disabled, which
//! number may try codes again. Used by the command line, against the running
//! server or the data directory.

use std::sync::Arc;

use crate::bus::Bus;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::store::{Query, Store, Swap, UserRecord, ops};
use crate::timestamp::Timestamp;

use super::phone;

/// Every account, oldest first.
pub fn list(store: &Store) -> Result<Vec<UserRecord>> {
    Ok(store.read()?.users()?)
}

/// Lets `phone` create an account while `REGISTRATION=invite`.
pub async fn invite(store: &Store, phone_text: &str) -> Result<String> {
    let phone = phone::parse(phone_text)?;
    let invite = ops::Invite {
        phone: phone.clone(),
        at: Timestamp::now(),
    };
    store.apply(invite).await?;
    Ok(phone)
}

/// Disables or enables the account of `phone`. Disabling ends every session
/// and socket of it at once; a disabled user gets no codes.
pub async fn set_disabled(
    store: &Store,
    bus: Arc<dyn Bus>,
    phone_text: &str,
    disabled: bool,
) -> Result<UserRecord> {
    let phone = phone::parse(phone_text)?;
    for _ in 0..ops::SWAP_ATTEMPTS {
        let read = store
            .read()?
            .user_by_phone(&phone)?
            .ok_or(Error::NotFound)?;
        let mut changed = read.clone();
        changed.disabled = disabled;
        changed.updated_at = Timestamp::now();
        let save = ops::SaveUser {
            read,
            changed: changed.clone(),
            names_upload: None,
        };
        if store.apply(save).await? == Swap::Done(()) {
            if disabled {
                bus.end_user(changed.id);
            }
            return Ok(changed);
        }
    }
    Err(Error::Unavailable)
}

/// What unlocking a number came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlocked {
    /// Its wrong codes were forgotten; its codes work again.
    Forgotten(String),
    /// It had no wrong codes on record.
    NothingToForget(String),
}

/// Forgets the wrong codes of `phone`, so a number locked out by too many
/// (`otp_locked`) may log in again before its 24 hours pass.
pub async fn unlock(store: &Store, phone_text: &str) -> Result<Unlocked> {
    let phone = phone::parse(phone_text)?;
    let forget = ops::ForgetWrongCodes {
        phone: phone.clone(),
    };
    Ok(if store.apply(forget).await? {
        Unlocked::Forgotten(phone)
    } else {
        Unlocked::NothingToForget(phone)
    })
}

/// The user with `phone`, created (verified, named `name`) if new. For demo
/// data only: real accounts come into being through a verified code.
pub async fn ensure(store: &Store, phone_text: &str, name: &str) -> Result<UserId> {
    let phone = phone::parse(phone_text)?;
    let user = UserRecord::new(phone, Some(name.to_owned()), Timestamp::now());
    Ok(store.apply(ops::AddUser { user }).await?.id)
}
