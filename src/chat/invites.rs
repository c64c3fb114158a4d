//! Invite links for groups: an admin makes a link, anyone who has it sees
//! the group's name and may join (a new number may even sign up with it
//! under `REGISTRATION=invite`), until it expires, is used up or revoked.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ChatKind;
use crate::error::{Error, Result};
use crate::id::{ChatId, UserId};
use crate::store::{ChatRecord, GroupInviteRecord, Query, Reader, Swap, ops};
use crate::timestamp::Timestamp;

use super::views::ChatView;
use super::{ChatService, GROUP_MAX, chat_of};

/// How long a link lasts when the admin does not say.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest a link may last.
pub const MAX_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
pub const MAX_USES: u32 = 1000;
/// Links one group may have at once.
pub const LINKS_PER_GROUP: usize = 100;

/// An invite link as its group's admins see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InviteView {
    pub code: String,
    /// The web app's page for the link, relative to the server.
    pub url: String,
    pub expires_at: Timestamp,
    pub max_uses: Option<u32>,
    pub uses: u32,
    pub created_by: UserId,
    pub created_at: Timestamp,
}

impl From<&GroupInviteRecord> for InviteView {
    fn from(invite: &GroupInviteRecord) -> Self {
        Self {
            url: format!("/invite/{}", invite.code),
            code: invite.code.clone(),
            expires_at: invite.expires_at,
            max_uses: invite.max_uses,
            uses: invite.uses,
            created_by: invite.created_by,
            created_at: invite.created_at,
        }
    }
}

/// What anyone holding a link sees before joining.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitePreview {
    pub chat: InvitedGroup,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitedGroup {
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub member_count: usize,
}

impl ChatService {
    /// A new link to `chat`, by one of its admins.
    pub async fn create_invite(
        &self,
        admin: UserId,
        chat: ChatId,
        lifetime: Option<u64>,
        max_uses: Option<u32>,
    ) -> Result<InviteView> {
        let lifetime = match lifetime {
            None => DEFAULT_LIFETIME,
            Some(seconds) if (1..=MAX_LIFETIME.as_secs()).contains(&seconds) => {
                Duration::from_secs(seconds)
            }
            Some(_) => {
                return Err(Error::validation(
                    "expiresIn",
                    format!("from 1 to {} seconds (30 days)", MAX_LIFETIME.as_secs()),
                ));
            }
        };
        if max_uses.is_some_and(|uses| !(1..=MAX_USES).contains(&uses)) {
            return Err(Error::validation(
                "maxUses",
                format!("from 1 to {MAX_USES}"),
            ));
        }
        let reader = self.store().read()?;
        let group = administered_group(&reader, chat, admin)?;
        let now = Timestamp::now();
        let open = reader
            .group_invites(group.id)?
            .iter()
            .filter(|invite| invite.is_open(now))
            .count();
        if open >= LINKS_PER_GROUP {
            return Err(Error::validation(
                "chatId",
                format!("a group has at most {LINKS_PER_GROUP} open links; revoke some first"),
            ));
        }
        let invite = GroupInviteRecord {
            code: URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>()),
            chat: group.id,
            created_by: admin,
            created_at: now,
            expires_at: now.plus(lifetime),
            max_uses,
            uses: 0,
        };
        let view = InviteView::from(&invite);
        self.store()
            .apply(ops::CreateGroupInvite { invite })
            .await?;
        Ok(view)
    }

    /// A group's links, newest first, for its admins.
    pub fn invites(&self, admin: UserId, chat: ChatId) -> Result<Vec<InviteView>> {
        let reader = self.store().read()?;
        administered_group(&reader, chat, admin)?;
        let mut invites = reader.group_invites(chat)?;
        invites.sort_by_key(|invite| std::cmp::Reverse(invite.created_at));
        Ok(invites.iter().map(InviteView::from).collect())
    }

    pub async fn revoke_invite(&self, admin: UserId, chat: ChatId, code: &str) -> Result<()> {
        administered_group(&self.store().read()?, chat, admin)?;
        let revoke = ops::RevokeGroupInvite {
            chat,
            code: code.to_owned(),
        };
        if !self.store().apply(revoke).await? {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// What a link shows before joining; `not_found` for a link that is
    /// unknown, expired, used up or revoked alike.
    pub fn invite_preview(&self, code: &str) -> Result<InvitePreview> {
        let reader = self.store().read()?;
        let (invite, group) = open_invite(&reader, code)?;
        Ok(InvitePreview {
            chat: InvitedGroup {
                name: group.name,
                avatar: group.avatar,
                member_count: group.participants.len(),
            },
            expires_at: invite.expires_at,
        })
    }

    /// Joins the group of a link. A member already in it gets the group,
    /// and the link's use is not counted.
    pub async fn accept_invite(&self, user: UserId, code: &str) -> Result<ChatView> {
        for _ in 0..ops::SWAP_ATTEMPTS {
            let reader = self.store().read()?;
            let (invite, read) = open_invite(&reader, code)?;
            if read.has_participant(user) {
                return self.chat(user, read.id);
            }
            if read.participants.len() >= GROUP_MAX {
                return Err(Error::GroupFull { max: GROUP_MAX });
            }
            let mut changed = read.clone();
            changed.participants.push(user);
            changed.updated_at = Timestamp::now();
            let mut used = invite.clone();
            used.uses += 1;
            let join = ops::JoinByInvite {
                group: ops::SaveGroup {
                    read,
                    changed: changed.clone(),
                    joined: vec![user],
                    left: Vec::new(),
                    names_upload: None,
                },
                invite_read: invite,
                invite_used: used,
            };
            let store = self.store().clone();
            let bus = std::sync::Arc::clone(self.bus());
            let group = changed.clone();
            let joined = self
                .store()
                .apply_then(join, move |joined| {
                    if *joined == Swap::Done(()) {
                        super::chats::publish_group(&store, bus.as_ref(), &group, &[]);
                    }
                })
                .await?;
            if joined == Swap::Done(()) {
                tracing::info!(user_id = %user, chat_id = %changed.id, "joined a group by an invite link");
                return self.chat(user, changed.id);
            }
        }
        Err(Error::Unavailable)
    }
}

/// The group `chat`, if `admin` is one of its admins.
fn administered_group(reader: &Reader, chat: ChatId, admin: UserId) -> Result<ChatRecord> {
    let group = chat_of(reader, chat, admin)?;
    if group.kind != ChatKind::Group {
        return Err(Error::NotAGroup);
    }
    if !group.is_admin(admin) {
        return Err(Error::Forbidden);
    }
    Ok(group)
}

/// The link `code` and its group, if it still lets people in.
fn open_invite(reader: &Reader, code: &str) -> Result<(GroupInviteRecord, ChatRecord)> {
    let invite = reader
        .group_invite(code)?
        .filter(|invite| invite.is_open(Timestamp::now()))
        .ok_or(Error::NotFound)?;
    let group = reader.chat(invite.chat)?.ok_or(Error::NotFound)?;
    Ok((invite, group))
}
