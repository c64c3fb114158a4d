//! Profiles and finding people.

use crate::auth::phone;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::store::{Query, Swap, UserRecord, ops};
use crate::timestamp::Timestamp;

use super::views::UserView;
use super::{ChatService, ProfilePatch, newly_named_upload};

impl ChatService {
    pub fn user(&self, id: UserId) -> Result<UserView> {
        let user = self.store().read()?.user(id)?.ok_or(Error::NotFound)?;
        Ok(UserView::new(&user, self.bus().is_online(id)))
    }

    /// The user with that phone number, normalised as at login.
    pub fn lookup(&self, phone_text: &str) -> Result<UserView> {
        let phone = phone::normalize(phone_text).ok_or_else(|| {
            Error::validation(
                "phoneNumber",
                "must be an international phone number such as +6281234567890",
            )
        })?;
        let user = self
            .store()
            .read()?
            .user_by_phone(&phone)?
            .ok_or(Error::NotFound)?;
        Ok(UserView::new(&user, self.bus().is_online(user.id)))
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
        Ok(UserView::new(&updated, self.bus().is_online(user)))
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
