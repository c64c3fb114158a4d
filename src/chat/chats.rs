//! Creating chats, reading them, and changing a group's name and members.

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use crate::bus::Bus;
use crate::bus::Event;
use crate::domain::ChatKind;
use crate::error::{Error, Result};
use crate::id::{ChatId, UserId};
use crate::store::{ChatHead, ChatRecord, Query, Reader, Store, Swap, ops};
use crate::timestamp::Timestamp;

use super::blocks;
use super::messages::views_for;
use super::validate::{self, AllValid};
use super::views::ChatView;
use super::{ChatService, GROUP_MAX, chat_of, newly_named_upload};

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
        let name = match self.name {
            None => Ok(None),
            Some(None) => Err(Error::validation(
                "name",
                "cannot be cleared; send 1 to 64 characters",
            )),
            Some(Some(text)) => validate::name("name", &text).map(Some),
        };
        let avatar = match self.avatar {
            None => Ok(None),
            Some(None) => Ok(Some(None)),
            Some(Some(text)) => validate::avatar("avatar", &text).map(|url| Some(Some(url))),
        };
        (name, avatar).all_valid()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewChat {
    pub participants: Vec<UserId>,
    /// `private` (the default) or `group`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
}

/// Whether a create call made the chat or found the existing private one.
/// A new chat whose every field passed its rule: its kind, the members
/// (creator first, each once, within `GROUP_MAX`) and a group's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidChat {
    pub kind: ChatKind,
    pub members: Vec<UserId>,
    pub name: Option<String>,
}

impl ValidChat {
    pub fn parse(creator: UserId, input: NewChat) -> Result<Self> {
        let mut members = vec![creator];
        for user in input.participants {
            if !members.contains(&user) {
                members.push(user);
            }
        }
        let kind = match input.kind.as_deref().unwrap_or("private") {
            "private" => ChatKind::Private,
            "group" => ChatKind::Group,
            _ => return Err(Error::validation("type", "must be private or group")),
        };
        let (name, ()) = match kind {
            ChatKind::Private => (Ok(None), private_pair(&members)).all_valid()?,
            ChatKind::Group => (group_name(input.name), group_members(&members)).all_valid()?,
        };
        if members.len() > GROUP_MAX {
            return Err(Error::GroupFull { max: GROUP_MAX });
        }
        Ok(Self {
            kind,
            members,
            name,
        })
    }
}

fn private_pair(members: &[UserId]) -> Result<()> {
    if members.len() == 2 {
        return Ok(());
    }
    Err(Error::validation(
        "participants",
        "a private chat is between you and exactly one other user",
    ))
}

fn group_name(name: Option<String>) -> Result<Option<String>> {
    match name {
        Some(name) => validate::name("name", &name).map(Some),
        None => Err(Error::validation("name", "a group needs a name")),
    }
}

fn group_members(members: &[UserId]) -> Result<()> {
    if members.len() < 2 {
        return Err(Error::validation(
            "participants",
            "a group needs at least one member besides you",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    Created,
    Existing,
}

/// The chat as `viewer` sees it: their unread count, the newest message.
pub(super) fn view_for(reader: &impl Query, chat: &ChatRecord, viewer: UserId) -> Result<ChatView> {
    let head = reader
        .chat_head(chat.id)?
        .unwrap_or(ChatHead::empty(chat.created_at));
    let unread = reader
        .member(chat.id, viewer)?
        .map_or(0, |member| member.mark.unread(head.last_seq));
    let last_message = match head.last_seq {
        0 => None,
        seq => match reader.message(chat.id, seq)? {
            Some(message) => views_for(reader, viewer, chat.id, &[message])?.pop(),
            None => None,
        },
    };
    let mut view = ChatView::new(chat, last_message, unread);
    view.muted = reader.is_muted(viewer, chat.id)?;
    Ok(view)
}

/// `chat_updated` for each of `users`, each with their own view of `chat`.
fn updates_for(
    reader: &impl Query,
    chat: &ChatRecord,
    users: &[UserId],
) -> Result<Vec<(UserId, Event)>> {
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

    /// Mutes or unmutes `chat` for `user`, and tells the user's other
    /// devices (`chat_updated`).
    pub async fn set_mute(&self, user: UserId, chat: ChatId, muted: bool) -> Result<()> {
        let member = self
            .store()
            .apply(ops::SetMute { user, chat, muted })
            .await?;
        if !member {
            return Err(Error::NotFound);
        }
        let reader = self.store().read()?;
        if let Some(record) = reader.chat(chat)? {
            let view = view_for(&reader, &record, user)?;
            self.bus()
                .publish(&[user], &Event::new("chat_updated", &view));
        }
        Ok(())
    }

    pub fn chat(&self, user: UserId, chat: ChatId) -> Result<ChatView> {
        let reader = self.store().read()?;
        let record = chat_of(&reader, chat, user)?;
        view_for(&reader, &record, user)
    }

    /// Creates a chat, or returns the pair's existing private chat.
    pub async fn create_chat(
        &self,
        creator: UserId,
        input: NewChat,
    ) -> Result<(ChatView, Creation)> {
        let ValidChat {
            kind,
            members,
            name,
        } = ValidChat::parse(creator, input)?;
        {
            let reader = self.store().read()?;
            match kind {
                ChatKind::Private => blocks::may_talk(&reader, members[0], members[1])?,
                ChatKind::Group => blocks::may_add(&reader, creator, &members)?,
            }
        }
        if kind == ChatKind::Group {
            super::spend(&self.inner.groups_created, creator, 1)?;
        }
        let now = Timestamp::now();
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
        let bus = std::sync::Arc::clone(self.bus());
        let created = self
            .store()
            .apply_then(ops::CreateChat { chat }, move |created| {
                if let ops::Created::New(chat) = created {
                    // A new chat has no messages and nothing unread yet.
                    let view = ChatView::new(chat, None, 0);
                    bus.publish(&chat.participants, &Event::new("chat_updated", &view));
                }
            })
            .await?;
        match created {
            ops::Created::New(chat) => Ok((ChatView::new(&chat, None, 0), Creation::Created)),
            ops::Created::Existing(chat) => {
                let view = view_for(&self.store().read()?, &chat, creator)?;
                Ok((view, Creation::Existing))
            }
            ops::Created::UnknownUser(user) => Err(Error::UnknownUser(user.to_string())),
        }
    }

    /// Renames a group or changes its avatar: admins only.
    pub async fn update_chat(
        &self,
        user: UserId,
        chat: ChatId,
        patch: ProfilePatch,
    ) -> Result<ChatView> {
        let (name, avatar) = patch.checked()?;
        self.change_group(user, chat, Allowed::Admins, |_, record| {
            if let Some(name) = &name {
                record.name = Some(name.clone());
            }
            if let Some(avatar) = &avatar {
                record.avatar.clone_from(avatar);
            }
            Ok(Membership::default())
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
        let asked = u32::try_from(users.len()).unwrap_or(u32::MAX);
        super::spend(&self.inner.members_added, user, asked)?;
        self.change_group(user, chat, Allowed::Admins, |reader, record| {
            // Accounts are never deleted: one seen in the snapshot exists.
            for &new in &users {
                if reader.user(new)?.is_none() {
                    return Err(Error::UnknownUser(new.to_string()));
                }
            }
            let mut joined = Vec::new();
            for &new in &users {
                if !record.has_participant(new) && !joined.contains(&new) {
                    joined.push(new);
                }
            }
            blocks::may_add(reader, user, &joined)?;
            if record.participants.len() + joined.len() > GROUP_MAX {
                return Err(Error::GroupFull { max: GROUP_MAX });
            }
            record.participants.extend(&joined);
            Ok(Membership {
                joined,
                left: Vec::new(),
            })
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
        self.change_group(user, chat, Allowed::AdminsOrSelf(target), |_, record| {
            if !record.has_participant(target) {
                return Err(Error::NotFound);
            }
            record.participants.retain(|&member| member != target);
            record.admins.retain(|&admin| admin != target);
            if record.admins.is_empty()
                && let Some(&successor) = record.participants.first()
            {
                record.admins.push(successor);
            }
            Ok(Membership {
                joined: Vec::new(),
                left: vec![target],
            })
        })
        .await
        .map(drop)
    }

    /// The frame of every group change: the caller must be a member of a
    /// group and `allowed` to make it. `change` checks its own preconditions
    /// against a snapshot, edits the record and says who joined and left;
    /// the store takes the result only if nobody changed the group
    /// meanwhile, else the change is decided again on a fresh snapshot.
    async fn change_group(
        &self,
        user: UserId,
        chat: ChatId,
        allowed: Allowed,
        change: impl Fn(&Reader, &mut ChatRecord) -> Result<Membership>,
    ) -> Result<ChatView> {
        for _ in 0..ops::SWAP_ATTEMPTS {
            let reader = self.store().read()?;
            let read = chat_of(&reader, chat, user)?;
            if read.kind != ChatKind::Group {
                return Err(Error::NotAGroup);
            }
            let permitted = read.is_admin(user)
                || matches!(allowed, Allowed::AdminsOrSelf(target) if target == user);
            if !permitted {
                return Err(Error::Forbidden);
            }
            let mut changed = read.clone();
            let Membership { joined, left } = change(&reader, &mut changed)?;
            changed.updated_at = Timestamp::now();
            let save = ops::SaveGroup {
                names_upload: newly_named_upload(read.avatar.as_deref(), changed.avatar.as_deref()),
                read,
                changed: changed.clone(),
                joined,
                left: left.clone(),
            };
            let store = self.store().clone();
            let bus = std::sync::Arc::clone(self.bus());
            let record = changed.clone();
            let saved = self
                .store()
                .apply_then(save, move |saved| {
                    if *saved == Swap::Done(()) {
                        publish_group(&store, bus.as_ref(), &record, &left);
                    }
                })
                .await?;
            if saved == Swap::Changed {
                continue;
            }
            return Ok(if changed.has_participant(user) {
                view_for(&self.store().read()?, &changed, user)?
            } else {
                ChatView::new(&changed, None, 0)
            });
        }
        Err(Error::Unavailable)
    }
}

/// Who a group change brought in and sent away.
#[derive(Debug, Default)]
struct Membership {
    joined: Vec<UserId>,
    left: Vec<UserId>,
}

/// Tells every member (and those who just left) how the group looks to them.
pub(super) fn publish_group(store: &Store, bus: &dyn Bus, chat: &ChatRecord, left: &[UserId]) {
    let updates = store.read().map_err(Error::from).and_then(|reader| {
        let audience: Vec<UserId> = chat.participants.iter().chain(left).copied().collect();
        updates_for(&reader, chat, &audience)
    });
    match updates {
        Ok(updates) => {
            for (user, event) in updates {
                bus.publish(&[user], &event);
            }
        }
        Err(error) => error.log_if_internal(),
    }
}

/// Who may make a group change.
#[derive(Debug, Clone, Copy)]
enum Allowed {
    Admins,
    /// Admins, or the member named here acting on themselves (leaving).
    AdminsOrSelf(UserId),
}
