//! Blocking: while either of two people blocks the other, neither starts or
//! writes in a private chat with the other, and the blocked one cannot add
//! the blocker to a group. Groups they already share go on as before.

use crate::error::{Error, Result};
use crate::id::UserId;
use crate::store::{Query, ops};
use crate::timestamp::Timestamp;

use super::ChatService;
use super::views::UserView;

impl ChatService {
    /// `blocker` blocks (`block`) or stops blocking `blocked`.
    pub async fn set_block(&self, blocker: UserId, blocked: UserId, block: bool) -> Result<()> {
        if blocker == blocked {
            return Err(Error::validation("userId", "you cannot block yourself"));
        }
        let change = ops::SetBlock {
            blocker,
            blocked,
            block,
            at: Timestamp::now(),
        };
        if !self.store().apply(change).await? {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// The people `user` blocks.
    pub fn blocked_users(&self, user: UserId) -> Result<Vec<UserView>> {
        let reader = self.store().read()?;
        let mut views = Vec::new();
        for id in reader.blocked_by(user)? {
            if let Some(record) = reader.user(id)? {
                views.push(self.view_of(user, &record)?);
            }
        }
        Ok(views)
    }
}

/// `blocked` when `adder` may not bring any of `added` into a group: one of
/// them blocks the adder.
pub(super) fn may_add(reader: &impl Query, adder: UserId, added: &[UserId]) -> Result<()> {
    for &user in added {
        if user != adder && reader.blocks(user, adder)? {
            return Err(Error::Blocked);
        }
    }
    Ok(())
}

/// `blocked` when either of two people blocks the other.
pub(super) fn may_talk(reader: &impl Query, a: UserId, b: UserId) -> Result<()> {
    if reader.blocked_between(a, b)? {
        return Err(Error::Blocked);
    }
    Ok(())
}
