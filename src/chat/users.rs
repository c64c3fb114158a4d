//! Profiles and finding people, and the one rule of who sees a user's
//! number and presence.

use crate::auth::phone;
use crate::domain::Role;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::store::{Query, Swap, UserRecord, ops};
use crate::timestamp::Timestamp;

use super::views::{UserView, Visibility};
use super::{ChatService, ProfilePatch, newly_named_upload};

impl ChatService {
    /// `user` as `viewer` may see them. Every route and event that shows a
    /// user builds it here.
    pub fn view_of(&self, viewer: UserId, user: &UserRecord) -> Result<UserView> {
        let visibility = self.visibility(viewer, user.id)?;
        Ok(UserView::new(
            user,
            self.bus().is_online(user.id),
            visibility,
        ))
    }

    /// A user's number and presence are shown to the user, to people who
    /// share a chat with them, to whoever found them by their number, and
    /// to admins; everyone else sees the profile only. The role is shown to
    /// the user and to admins.
    fn visibility(&self, viewer: UserId, user: UserId) -> Result<Visibility> {
        let reader = self.store().read()?;
        if viewer == user || reader.is_admin(viewer)? {
            let role = if reader.is_admin(user)? {
                Role::Admin
            } else {
                Role::Member
            };
            return Ok(Visibility::Account(role));
        }
        if share_a_chat(&reader, viewer, user)? || reader.found_by_lookup(viewer, user)? {
            return Ok(Visibility::Full);
        }
        Ok(Visibility::ProfileOnly)
    }

    /// The caller's own profile.
    pub fn profile(&self, user: UserId) -> Result<UserView> {
        self.user(user, user)
    }

    pub fn user(&self, viewer: UserId, id: UserId) -> Result<UserView> {
        let user = self.store().read()?.user(id)?.ok_or(Error::NotFound)?;
        self.view_of(viewer, &user)
    }

    /// The user with that phone number, normalised as at login. Finding
    /// them lets `viewer` see their number and presence from then on.
    pub async fn lookup(&self, viewer: UserId, phone_text: &str) -> Result<UserView> {
        let phone = phone::parse(phone_text)?;
        let reader = self.store().read()?;
        let user = reader.user_by_phone(&phone)?.ok_or(Error::NotFound)?;
        if viewer != user.id && !reader.found_by_lookup(viewer, user.id)? {
            let remember = ops::RememberLookup {
                viewer,
                user: user.id,
            };
            self.store().apply(remember).await?;
        }
        self.view_of(viewer, &user)
    }

    pub async fn update_profile(&self, user: UserId, patch: ProfilePatch) -> Result<UserView> {
        let (name, avatar) = patch.checked()?;
        let now = Timestamp::now();
        let updated = self
            .change_user(user, |record| {
                record.updated_at = now;
                if let Some(name) = &name {
                    record.name = Some(name.clone());
                }
                if let Some(avatar) = &avatar {
                    record.avatar.clone_from(avatar);
                }
            })
            .await?
            .ok_or(Error::NotFound)?;
        self.view_of(user, &updated)
    }

    /// Applies `change` to `user`'s record, deciding
    /// again on a fresh read if someone else changed the record meanwhile.
    /// `None` when there is no such user.
    pub(super) async fn change_user(
        &self,
        user: UserId,
        change: impl Fn(&mut UserRecord),
    ) -> Result<Option<UserRecord>> {
        for _ in 0..ops::SWAP_ATTEMPTS {
            let Some(read) = self.store().read()?.user(user)? else {
                return Ok(None);
            };
            let mut changed = read.clone();
            change(&mut changed);
            let save = ops::SaveUser {
                names_upload: newly_named_upload(read.avatar.as_deref(), changed.avatar.as_deref()),
                read,
                changed: changed.clone(),
            };
            if self.store().apply(save).await? == Swap::Done(()) {
                return Ok(Some(changed));
            }
        }
        Err(Error::Unavailable)
    }
}

/// Whether `a` and `b` take part in at least one chat together.
fn share_a_chat(reader: &impl Query, a: UserId, b: UserId) -> Result<bool> {
    // One range scan each; the chat index returns ids in sorted order.
    let theirs = reader.chats_of(b)?;
    Ok(reader
        .chats_of(a)?
        .iter()
        .any(|chat| theirs.binary_search(chat).is_ok()))
}
