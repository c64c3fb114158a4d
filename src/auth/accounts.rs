//! The admin's say over accounts: who is invited, who is disabled, who is
//! an admin, which number may try codes again. Used by the command line
//! (against the running server or the data directory) and the admin API.

use std::sync::Arc;

use crate::bus::Bus;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::store::{Query, Store, UserRecord, ops};
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

/// The account of `phone_text` (normalised as at login), or `not_found`.
pub fn by_phone(store: &Store, phone_text: &str) -> Result<UserRecord> {
    let phone = phone::parse(phone_text)?;
    store.read()?.user_by_phone(&phone)?.ok_or(Error::NotFound)
}

/// Disables or enables an account. Disabling ends every session and
/// socket of it at once; a disabled user gets no codes. The last admin
/// who can sign in cannot be disabled (`last_admin`).
pub async fn set_disabled(
    store: &Store,
    bus: Arc<dyn Bus>,
    user: UserId,
    disabled: bool,
) -> Result<UserRecord> {
    let change = ops::SetDisabled {
        user,
        disabled,
        at: Timestamp::now(),
    };
    let user = account_changed(store.apply(change).await?)?;
    if disabled {
        bus.end_user(user.id);
    }
    Ok(user)
}

/// Makes an account an admin or a member; the last admin who can sign in
/// stays one (`last_admin`).
pub async fn set_admin(store: &Store, user: UserId, admin: bool) -> Result<UserRecord> {
    let change = ops::SetRole {
        user,
        admin,
        at: Timestamp::now(),
    };
    account_changed(store.apply(change).await?)
}

/// Ends every session of an account and closes its sockets; how many
/// sessions ended.
pub async fn sign_out_everywhere(store: &Store, bus: Arc<dyn Bus>, user: UserId) -> Result<usize> {
    let ended = store
        .apply(ops::EndAllSessions { user })
        .await?
        .ok_or(Error::NotFound)?;
    bus.end_user(user);
    Ok(ended)
}

fn account_changed(change: ops::AccountChange) -> Result<UserRecord> {
    match change {
        ops::AccountChange::Done(user) => Ok(user),
        ops::AccountChange::NoSuchUser => Err(Error::NotFound),
        ops::AccountChange::LastAdmin => Err(Error::LastAdmin),
    }
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
