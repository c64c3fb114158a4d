//! Profiles and finding people.

use crate::auth::phone;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::store::Query;
use crate::timestamp::Timestamp;

use super::views::UserView;
use super::{ChatService, ProfilePatch};

impl ChatService {
    pub fn user(&self, id: UserId) -> Result<UserView> {
        let user = self.store().read()?.user(id)?.ok_or(Error::NotFound)?;
        Ok(UserView::new(&user, self.notifier().is_online(id)))
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
        Ok(UserView::new(&user, self.notifier().is_online(user.id)))
    }

    pub async fn update_profile(&self, user: UserId, patch: ProfilePatch) -> Result<UserView> {
        let (name, avatar) = patch.checked()?;
        let now = Timestamp::now();
        let updated = self
            .store()
            .write(move |tx| {
                let Some(mut record) = tx.user(user)? else {
                    return Ok(Err(Error::NotFound));
                };
                if let Some(name) = name {
                    record.name = Some(name);
                }
                if let Some(avatar) = avatar {
                    record.avatar = avatar;
                }
                record.updated_at = now;
                tx.put_user(&record)?;
                Ok(Ok(record))
            })
            .await??;
        Ok(UserView::new(&updated, self.notifier().is_online(user)))
    }
}
