//! Writes of the server's administration: roles, disabling, blocks,
//! reports, the run-time settings, and groups' invite links.

use super::{Operation, SaveGroup, Swap};
use crate::domain::ChatKind;
use crate::id::{ChatId, ReportId, UserId};
use crate::store::StoreError;
use crate::store::query::Query;
use crate::store::records::{
    AdminRecord, BlockRecord, ChatRecord, GroupInviteRecord, ReportRecord, SettingsRecord,
    UserRecord,
};
use crate::store::tx::Tx;
use crate::timestamp::Timestamp;

/// Stores a brand-new account. The first account of a server becomes its
/// admin in the same commit, so two people signing up at once cannot both
/// be first.
pub(super) fn create_user(tx: &Tx<'_>, user: &UserRecord) -> Result<(), StoreError> {
    tx.put_user(user)?;
    if tx.admins()?.is_empty() {
        tx.put_admin(
            user.id,
            &AdminRecord {
                since: user.created_at,
            },
        )?;
    }
    Ok(())
}

/// Whether `chat` is a private chat whose two people block one another,
/// one way or both: then neither sends into it.
pub(super) fn blocked_in_private(tx: &Tx<'_>, chat: &ChatRecord) -> Result<bool, StoreError> {
    match chat.participants[..] {
        [a, b] if chat.kind == ChatKind::Private => tx.blocked_between(a, b),
        _ => Ok(false),
    }
}

/// Whether `user` is an admin other than `except` who can still act: an
/// enabled admin besides the one being demoted or disabled.
fn another_active_admin(tx: &Tx<'_>, except: UserId) -> Result<bool, StoreError> {
    for admin in tx.admins()? {
        if admin != except && tx.user(admin)?.is_some_and(|user| !user.disabled) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// What a change to an account came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    /// The account as it is now (changed, or already so).
    Done(UserRecord),
    NoSuchUser,
    /// Refused: the server would be left without an admin who can act.
    LastAdmin,
}

/// Makes `user` an admin or a member. The last enabled admin stays one.
#[derive(Debug, Clone, Copy)]
pub struct SetRole {
    pub user: UserId,
    pub admin: bool,
    pub at: Timestamp,
}

impl Operation for SetRole {
    type Output = AccountChange;

    fn apply(self, tx: &mut Tx<'_>) -> Result<AccountChange, StoreError> {
        let Some(user) = tx.user(self.user)? else {
            return Ok(AccountChange::NoSuchUser);
        };
        match (self.admin, tx.is_admin(self.user)?) {
            (true, false) => tx.put_admin(self.user, &AdminRecord { since: self.at })?,
            (false, true) if !another_active_admin(tx, self.user)? => {
                return Ok(AccountChange::LastAdmin);
            }
            (false, true) => tx.remove_admin(self.user)?,
            _ => {}
        }
        Ok(AccountChange::Done(user))
    }
}

/// Disables or enables an account. Disabling ends every session of it at
/// once; the last enabled admin cannot be disabled.
#[derive(Debug, Clone, Copy)]
pub struct SetDisabled {
    pub user: UserId,
    pub disabled: bool,
    pub at: Timestamp,
}

impl Operation for SetDisabled {
    type Output = AccountChange;

    fn apply(self, tx: &mut Tx<'_>) -> Result<AccountChange, StoreError> {
        let Some(mut user) = tx.user(self.user)? else {
            return Ok(AccountChange::NoSuchUser);
        };
        if user.disabled == self.disabled {
            return Ok(AccountChange::Done(user));
        }
        if self.disabled && tx.is_admin(self.user)? && !another_active_admin(tx, self.user)? {
            return Ok(AccountChange::LastAdmin);
        }
        if self.disabled {
            end_sessions(tx, self.user)?;
        }
        user.disabled = self.disabled;
        user.updated_at = self.at;
        tx.put_user(&user)?;
        Ok(AccountChange::Done(user))
    }
}

/// Ends every session of `user` (signs them out everywhere).
#[derive(Debug, Clone, Copy)]
pub struct EndAllSessions {
    pub user: UserId,
}

impl Operation for EndAllSessions {
    /// How many sessions ended; `None` when there is no such user.
    type Output = Option<usize>;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Option<usize>, StoreError> {
        if tx.user(self.user)?.is_none() {
            return Ok(None);
        }
        end_sessions(tx, self.user).map(Some)
    }
}

fn end_sessions(tx: &Tx<'_>, user: UserId) -> Result<usize, StoreError> {
    let sessions = tx.sessions_of(user)?;
    for session in &sessions {
        tx.remove_session(user, session.id)?;
    }
    Ok(sessions.len())
}

/// `blocker` blocks (or stops blocking) `blocked`.
#[derive(Debug, Clone, Copy)]
pub struct SetBlock {
    pub blocker: UserId,
    pub blocked: UserId,
    pub block: bool,
    pub at: Timestamp,
}

impl Operation for SetBlock {
    /// `false` when there is no such user to block.
    type Output = bool;

    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, StoreError> {
        if tx.user(self.blocked)?.is_none() {
            return Ok(false);
        }
        if self.block {
            tx.put_block(self.blocker, self.blocked, &BlockRecord { at: self.at })?;
        } else {
            tx.remove_block(self.blocker, self.blocked)?;
        }
        Ok(true)
    }
}

/// Queues a reported message for the admins.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub report: ReportRecord,
}

impl Operation for FileReport {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        tx.put_report(&self.report)
    }
}

/// Takes a report off the admins' queue.
#[derive(Debug, Clone, Copy)]
pub struct DismissReport {
    pub id: ReportId,
}

impl Operation for DismissReport {
    /// Whether there was such a report.
    type Output = bool;

    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, StoreError> {
        if tx.report(self.id)?.is_none() {
            return Ok(false);
        }
        tx.remove_report(self.id)?;
        Ok(true)
    }
}

/// Stores the settings the admin changed; each `Some` replaces what was
/// kept, each `None` keeps it.
#[derive(Debug, Clone, Default)]
pub struct ChangeSettings {
    pub change: SettingsRecord,
}

impl Operation for ChangeSettings {
    /// The settings kept now.
    type Output = SettingsRecord;

    fn apply(self, tx: &mut Tx<'_>) -> Result<SettingsRecord, StoreError> {
        let mut kept = tx.settings()?;
        let change = self.change;
        if change.registration.is_some() {
            kept.registration = change.registration;
        }
        if change.allowed_prefixes.is_some() {
            kept.allowed_prefixes = change.allowed_prefixes;
        }
        if change.edit_window_secs.is_some() {
            kept.edit_window_secs = change.edit_window_secs;
        }
        if change.delete_window_secs.is_some() {
            kept.delete_window_secs = change.delete_window_secs;
        }
        tx.put_settings(&kept)?;
        Ok(kept)
    }
}

/// A new invite link for a group.
#[derive(Debug, Clone)]
pub struct CreateGroupInvite {
    pub invite: GroupInviteRecord,
}

impl Operation for CreateGroupInvite {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        tx.put_group_invite(&self.invite)
    }
}

/// Revokes one of a group's invite links.
#[derive(Debug, Clone)]
pub struct RevokeGroupInvite {
    pub chat: ChatId,
    pub code: String,
}

impl Operation for RevokeGroupInvite {
    /// Whether the group had that link.
    type Output = bool;

    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, StoreError> {
        match tx.group_invite(&self.code)? {
            Some(invite) if invite.chat == self.chat => {
                tx.remove_group_invite(self.chat, &self.code)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Someone joins a group through an invite link: the group as the rules
/// changed it and the link with this use counted, if neither changed since
/// they were read.
#[derive(Debug, Clone)]
pub struct JoinByInvite {
    pub group: SaveGroup,
    pub invite_read: GroupInviteRecord,
    pub invite_used: GroupInviteRecord,
}

impl Operation for JoinByInvite {
    type Output = Swap;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Swap, StoreError> {
        if tx.group_invite(&self.invite_read.code)?.as_ref() != Some(&self.invite_read) {
            return Ok(Swap::Changed);
        }
        if self.group.apply(tx)? == Swap::Changed {
            return Ok(Swap::Changed);
        }
        tx.put_group_invite(&self.invite_used)?;
        Ok(Swap::Done(()))
    }
}
