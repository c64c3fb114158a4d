//! Creating chats, reading them, and changing a group's name and members.

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::events::Event;
use crate::id::{ChatId, UserId};
use crate::store::{ChatHead, ChatKind, ChatRecord, MemberRecord, Query, StoreError, Tx};
use crate::timestamp::Timestamp;

use super::views::{ChatView, MessageView};
use super::{ChatService, GROUP_MAX, chat_of, validate};

/// Reads `"field": null` as `Some(None)` and a missing field as `None`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// `PUT /api/users/profile` and `PATCH /api/chats/:id`: absent fields stay,
/// `null` clears (where clearing is allowed).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ProfilePatch {
    /// 1-64 characters after trimming.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// An http(s) URL or `/api/uploads/<id>`; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub avatar: Option<Option<String>>,
}

/// A checked patch: a new name, and a new avatar (`Some(None)` clears it).
pub type CheckedPatch = (Option<String>, Option<Option<String>>);

impl ProfilePatch {
    /// Validates both fields at once; a name can be changed, never cleared.
    pub fn checked(self) -> Result<CheckedPatch> {
        let mut checks = validate::Checks::default();
        let name = match self.name {
            None => None,
            Some(None) => checks.check(Err(Error::validation(
                "name",
                "cannot be cleared; send 1 to 64 characters",
            ))),
            Some(Some(text)) => checks.check(validate::name("name", &text)),
        };
        let avatar = match self.avatar {
            None => None,
            Some(None) => Some(None),
            Some(Some(text)) => checks.check(validate::avatar("avatar", &text)).map(Some),
        };
        checks.finish()?;
        Ok((name, avatar))
    }
}

/// `POST /api/chats`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewChat {
    pub participants: Vec<UserId>,
    /// `private` (the default) or `group`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
}

/// Whether a create call made the chat or found the existing private one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    Created,
    Existing,
}

/// The chat as `viewer` sees it: their unread count, the newest message.
fn view_for(
    reader: &impl Query,
    chat: &ChatRecord,
    viewer: UserId,
) -> Result<ChatView, StoreError> {
    let head = reader.chat_head(chat.id)?.unwrap_or(ChatHead {
        last_seq: 0,
        last_activity: chat.created_at,
    });
    let unread = reader
        .member(chat.id, viewer)?
        .map_or(0, |member| member.unread(head.last_seq));
    let last_message = match head.last_seq {
        0 => None,
        seq => match reader.message(chat.id, seq)? {
            Some(message) => Some(MessageView::new(&message, &reader.members(chat.id)?)),
            None => None,
        },
    };
    Ok(ChatView::new(chat, last_message, unread))
}

/// `chat_updated` for each of `users`, each with their own view of `chat`.
fn updates_for(
    reader: &impl Query,
    chat: &ChatRecord,
    users: &[UserId],
) -> Result<Vec<(UserId, Event)>, StoreError> {
    users
        .iter()
        .map(|&user| {
            let view = if chat.has_participant(user) {
                view_for(reader, chat, user)?
            } else {
                ChatView::new(chat, None, 0)
            };
            Ok((user, Event::new("chat_updated", &view)))
        })
        .collect()
}

impl ChatService {
    /// The caller's chats, most recent activity first.
    pub fn chats(&self, user: UserId) -> Result<Vec<ChatView>> {
        let reader = self.store().read()?;
        let mut chats = Vec::new();
        for id in reader.chats_of(user)? {
            let Some(chat) = reader.chat(id)? else {
                continue;
            };
            let activity = reader
                .chat_head(id)?
                .map_or(chat.created_at, |head| head.last_activity);
            chats.push((activity, view_for(&reader, &chat, user)?));
        }
        chats.sort_by_key(|(activity, _)| std::cmp::Reverse(*activity));
        Ok(chats.into_iter().map(|(_, view)| view).collect())
    }

    pub fn chat(&self, user: UserId, chat: ChatId) -> Result<ChatView> {
        let reader = self.store().read()?;
        let record = chat_of(&reader, chat, user)?;
        Ok(view_for(&reader, &record, user)?)
    }

    /// Creates a chat, or returns the pair's existing private chat.
    pub async fn create_chat(
        &self,
        creator: UserId,
        input: NewChat,
    ) -> Result<(ChatView, Creation)> {
        let mut checks = validate::Checks::default();
        let kind = match input.kind.as_deref().unwrap_or("private") {
            "private" => Some(ChatKind::Private),
            "group" => Some(ChatKind::Group),
            _ => checks.check(Err(Error::validation("type", "must be private or group"))),
        };
        let mut members = vec![creator];
        for user in input.participants {
            if !members.contains(&user) {
                members.push(user);
            }
        }
        let name = match (kind, input.name) {
            (Some(ChatKind::Group), Some(name)) => checks.check(validate::name("name", &name)),
            (Some(ChatKind::Group), None) => {
                checks.check(Err(Error::validation("name", "a group needs a name")))
            }
            _ => None,
        };
        if kind == Some(ChatKind::Private) && members.len() != 2 {
            checks.check::<()>(Err(Error::validation(
                "participants",
                "a private chat is between you and exactly one other user",
            )));
        }
        if kind == Some(ChatKind::Group) && members.len() < 2 {
            checks.check::<()>(Err(Error::validation(
                "participants",
                "a group needs at least one member besides you",
            )));
        }
        checks.finish()?;
        let kind = kind.ok_or_else(|| Error::validation("type", "must be private or group"))?;
        if members.len() > GROUP_MAX {
            return Err(Error::GroupFull { max: GROUP_MAX });
        }
        let notifier = std::sync::Arc::clone(self.notifier());
        let now = Timestamp::now();
        self.store()
            .write(move |tx| {
                if let Some(unknown) = first_unknown(tx, &members)? {
                    return Ok(Err(Error::UnknownUser(unknown.to_string())));
                }
                if kind == ChatKind::Private
                    && let Some(existing) = tx.private_chat_between(members[0], members[1])?
                    && let Some(chat) = tx.chat(existing)?
                {
                    return Ok(Ok((view_for(tx, &chat, creator)?, Creation::Existing)));
                }
                let chat = ChatRecord {
                    id: ChatId::generate(),
                    kind,
                    admins: if kind == ChatKind::Group {
                        vec![creator]
                    } else {
                        Vec::new()
                    },
                    participants: members,
                    name,
                    avatar: None,
                    created_by: creator,
                    created_at: now,
                    updated_at: now,
                };
                tx.put_chat(&chat)?;
                tx.put_chat_head(
                    chat.id,
                    &ChatHead {
                        last_seq: 0,
                        last_activity: now,
                    },
                )?;
                for &user in &chat.participants {
                    tx.put_member(
                        chat.id,
                        user,
                        &MemberRecord {
                            joined_at: now,
                            read_seq: 0,
                            read_at: now,
                            own_after_read: 0,
                        },
                    )?;
                }
                if kind == ChatKind::Private {
                    tx.put_private_pair(chat.participants[0], chat.participants[1], chat.id)?;
                }
                let view = view_for(tx, &chat, creator)?;
                let event = Event::new("chat_updated", &view);
                let recipients = chat.participants.clone();
                tx.on_commit(move || notifier.publish(&recipients, &event));
                Ok(Ok((view, Creation::Created)))
            })
            .await?
    }

    /// Renames a group or changes its avatar: admins only.
    pub async fn update_chat(
        &self,
        user: UserId,
        chat: ChatId,
        patch: ProfilePatch,
    ) -> Result<ChatView> {
        let (name, avatar) = patch.checked()?;
        self.change_group(user, chat, Allowed::Admins, move |_, record| {
            if let Some(name) = name {
                record.name = Some(name);
            }
            if let Some(avatar) = avatar {
                record.avatar = avatar;
            }
            Ok(Ok(Vec::new()))
        })
        .await
    }

    /// Adds members to a group: admins only.
    pub async fn add_participants(
        &self,
        user: UserId,
        chat: ChatId,
        users: Vec<UserId>,
    ) -> Result<ChatView> {
        if users.is_empty() {
            return Err(Error::validation("userIds", "name at least one user"));
        }
        let now = Timestamp::now();
        self.change_group(user, chat, Allowed::Admins, move |tx, record| {
            if let Some(unknown) = first_unknown(tx, &users)? {
                return Ok(Err(Error::UnknownUser(unknown.to_string())));
            }
            let mut added = Vec::new();
            for new in users {
                if !record.has_participant(new) && !added.contains(&new) {
                    added.push(new);
                }
            }
            if record.participants.len() + added.len() > GROUP_MAX {
                return Ok(Err(Error::GroupFull { max: GROUP_MAX }));
            }
            let last_seq = tx.chat_head(record.id)?.map_or(0, |head| head.last_seq);
            for &new in &added {
                // History before joining counts as read: a new member starts
                // with no unread backlog.
                tx.put_member(
                    record.id,
                    new,
                    &MemberRecord {
                        joined_at: now,
                        read_seq: last_seq,
                        read_at: now,
                        own_after_read: 0,
                    },
                )?;
                record.participants.push(new);
            }
            Ok(Ok(Vec::new()))
        })
        .await
    }

    /// Removes a member (admins) or leaves (anyone). When the last admin
    /// goes, the longest-standing remaining member becomes admin.
    pub async fn remove_participant(
        &self,
        user: UserId,
        chat: ChatId,
        target: UserId,
    ) -> Result<()> {
        self.change_group(
            user,
            chat,
            Allowed::AdminsOrSelf(target),
            move |tx, record| {
                if !record.has_participant(target) {
                    return Ok(Err(Error::NotFound));
                }
                record.participants.retain(|&member| member != target);
                record.admins.retain(|&admin| admin != target);
                if record.admins.is_empty()
                    && let Some(&successor) = record.participants.first()
                {
                    record.admins.push(successor);
                }
                tx.remove_member(record.id, target)?;
                Ok(Ok(vec![target]))
            },
        )
        .await
        .map(drop)
    }

    /// The frame of every group change: the caller must be a member of a
    /// group and `allowed` to make it. `change` checks its own preconditions
    /// before it writes, edits the record, and returns the users who must
    /// hear of the change besides the remaining members (those it removed).
    async fn change_group<F>(
        &self,
        user: UserId,
        chat: ChatId,
        allowed: Allowed,
        change: F,
    ) -> Result<ChatView>
    where
        F: FnOnce(&Tx<'_>, &mut ChatRecord) -> Result<Result<Vec<UserId>>, StoreError>
            + Send
            + 'static,
    {
        let notifier = std::sync::Arc::clone(self.notifier());
        let now = Timestamp::now();
        self.store()
            .write(move |tx| {
                let mut record = match chat_of(tx, chat, user) {
                    Ok(record) => record,
                    Err(error) => return Ok(Err(error)),
                };
                if record.kind != ChatKind::Group {
                    return Ok(Err(Error::NotAGroup));
                }
                let permitted = record.is_admin(user)
                    || matches!(allowed, Allowed::AdminsOrSelf(target) if target == user);
                if !permitted {
                    return Ok(Err(Error::Forbidden));
                }
                let departed = match change(tx, &mut record)? {
                    Ok(departed) => departed,
                    Err(error) => return Ok(Err(error)),
                };
                record.updated_at = now;
                tx.put_chat(&record)?;
                let mut audience = record.participants.clone();
                audience.extend(departed);
                let updates = updates_for(tx, &record, &audience)?;
                let view = if record.has_participant(user) {
                    view_for(tx, &record, user)?
                } else {
                    ChatView::new(&record, None, 0)
                };
                tx.on_commit(move || {
                    for (user, event) in updates {
                        notifier.publish(&[user], &event);
                    }
                });
                Ok(Ok(view))
            })
            .await?
    }
}

/// Who may make a group change.
#[derive(Debug, Clone, Copy)]
enum Allowed {
    Admins,
    /// Admins, or the member named here acting on themselves (leaving).
    AdminsOrSelf(UserId),
}

fn first_unknown(tx: &Tx<'_>, users: &[UserId]) -> Result<Option<UserId>, StoreError> {
    for &user in users {
        if tx.user(user)?.is_none() {
            return Ok(Some(user));
        }
    }
    Ok(None)
}
