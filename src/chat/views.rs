//! The JSON shapes of SPEC (`User`, `Chat`, `Message`, read marks), built from
//! stored records. REST answers and socket events share them, so the two
//! can never disagree about what a message looks like.

use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use crate::domain::{ChatKind, MessageKind, Role};
use crate::id::{ChatId, MessageId, UserId};
use crate::store::{ChatRecord, MemberRecord, MessageRecord, UserRecord};
use crate::timestamp::Timestamp;

/// How much of a user a viewer may see; `chat::users` decides which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Everything and the account's role: the user themselves, and admins.
    Account(Role),
    /// Everything, the number and presence included.
    Full,
    /// The profile only: `phoneNumber`, `isOnline` and `lastSeen` are `null`.
    ProfileOnly,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = User)]
pub struct UserView {
    pub id: UserId,
    /// `null` unless the viewer may see it (SPEC Users).
    pub phone_number: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub is_verified: bool,
    /// `null` unless the viewer may see it, as `phoneNumber`.
    pub is_online: Option<bool>,
    pub last_seen: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// `member` or `admin`; `null` unless the viewer is the user or an admin.
    pub role: Option<Role>,
}

impl UserView {
    /// Only the rule in `chat::users` makes these, so no route or event can
    /// show a user without asking it.
    pub(super) fn new(user: &UserRecord, is_online: bool, visibility: Visibility) -> Self {
        let full = visibility != Visibility::ProfileOnly;
        let role = match visibility {
            Visibility::Account(role) => Some(role),
            Visibility::Full | Visibility::ProfileOnly => None,
        };
        Self {
            role,
            id: user.id,
            phone_number: full.then(|| user.phone.clone()),
            name: user.name.clone(),
            avatar: user.avatar.clone(),
            // Accounts only come into being through a verified code.
            is_verified: true,
            is_online: full.then_some(is_online),
            last_seen: user.last_seen.filter(|_| full),
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadByView {
    pub user_id: UserId,
    pub read_at: Timestamp,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveredToView {
    pub user_id: UserId,
    pub delivered_at: Timestamp,
}

/// The message a reply answers, as that message is now.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ReplyPreview)]
pub struct ReplyPreview {
    pub seq: u64,
    pub sender_id: UserId,
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "text")]
    pub kind: &'static str,
    /// The first 100 characters of its content; `""` once it is deleted.
    pub preview: String,
}

/// Characters of the replied message a reply shows.
const REPLY_PREVIEW_CHARS: usize = 100;

impl ReplyPreview {
    fn of(message: &MessageRecord) -> Self {
        Self {
            seq: message.seq,
            sender_id: message.sender,
            kind: kind_name(message.kind),
            preview: message.content.chars().take(REPLY_PREVIEW_CHARS).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReactionView {
    pub emoji: String,
    pub user_ids: Vec<UserId>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Message)]
pub struct MessageView {
    pub id: MessageId,
    pub chat_id: ChatId,
    pub sender_id: UserId,
    pub seq: u64,
    pub content: String,
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "text")]
    pub kind: &'static str,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Box<RawValue>>,
    pub client_id: Option<String>,
    pub is_read: bool,
    pub read_by: Vec<ReadByView>,
    pub is_delivered: bool,
    pub delivered_to: Vec<DeliveredToView>,
    pub rev: u64,
    pub reply_to: Option<ReplyPreview>,
    pub mentions: Vec<UserId>,
    pub forwarded: bool,
    pub reactions: Vec<ReactionView>,
    pub pinned: bool,
    pub edited_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    /// Deleted by the viewer for themselves.
    pub hidden: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl MessageView {
    /// `members` are the chat's current participants with their marks;
    /// `reply` the message this one answers, as it is now.
    pub fn new(
        message: &MessageRecord,
        members: &[(UserId, MemberRecord)],
        reply: Option<&MessageRecord>,
    ) -> Self {
        let others = members.iter().filter(|(user, _)| *user != message.sender);
        let read_by: Vec<ReadByView> = others
            .clone()
            .filter(|(_, member)| member.mark.covers(message.seq))
            .map(|(user, member)| ReadByView {
                user_id: *user,
                read_at: member.mark.at,
            })
            .collect();
        let delivered_to: Vec<DeliveredToView> = others
            .clone()
            .map(|(user, member)| (user, member.delivered_up_to()))
            .filter(|(_, delivered)| delivered.seq >= message.seq)
            .map(|(user, delivered)| DeliveredToView {
                user_id: *user,
                delivered_at: delivered.at,
            })
            .collect();
        let others = others.count();
        Self {
            id: message.id,
            chat_id: message.chat,
            sender_id: message.sender,
            seq: message.seq,
            content: message.content.clone(),
            kind: kind_name(message.kind),
            metadata: message
                .metadata
                .as_deref()
                .and_then(|text| RawValue::from_string(text.to_owned()).ok()),
            client_id: message.client_id.clone(),
            is_read: read_by.len() == others,
            read_by,
            is_delivered: delivered_to.len() == others,
            delivered_to,
            rev: message.rev,
            reply_to: reply.map(ReplyPreview::of),
            mentions: message.mentions.clone(),
            forwarded: message.forwarded,
            reactions: message
                .reactions
                .iter()
                .map(|reaction| ReactionView {
                    emoji: reaction.emoji.clone(),
                    user_ids: reaction.users.clone(),
                })
                .collect(),
            pinned: message.pinned,
            edited_at: message.edited_at,
            deleted_at: message.deleted_at,
            hidden: false,
            created_at: message.created_at,
            updated_at: message.updated_at,
        }
    }

    /// As the viewer sees a message they deleted for themselves: in its
    /// place, without what it said.
    pub fn hidden_from_viewer(mut self) -> Self {
        self.hidden = true;
        self.content.clear();
        self.metadata = None;
        self
    }
}

pub fn kind_name(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Text => "text",
        MessageKind::Image => "image",
        MessageKind::File => "file",
        MessageKind::Voice => "voice",
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Chat)]
pub struct ChatView {
    pub id: ChatId,
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "private")]
    pub kind: &'static str,
    pub participants: Vec<UserId>,
    pub admins: Vec<UserId>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub created_by: UserId,
    pub last_message: Option<MessageView>,
    pub unread_count: u64,
    /// Whether the viewer muted it (no pushes, mentions excepted).
    pub muted: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl ChatView {
    pub fn new(chat: &ChatRecord, last_message: Option<MessageView>, unread_count: u64) -> Self {
        Self {
            id: chat.id,
            kind: match chat.kind {
                ChatKind::Private => "private",
                ChatKind::Group => "group",
            },
            participants: chat.participants.clone(),
            admins: chat.admins.clone(),
            name: chat.name.clone(),
            avatar: chat.avatar.clone(),
            created_by: chat.created_by,
            last_message,
            unread_count,
            muted: false,
            created_at: chat.created_at,
            updated_at: chat.updated_at,
        }
    }
}

/// A member's delivery mark: the answer to marking received, and
/// `message_delivered`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = DeliveryMark)]
pub struct DeliveryMarkView {
    pub chat_id: ChatId,
    pub user_id: UserId,
    pub seq: u64,
    pub delivered_at: Timestamp,
}

/// A member's read mark: the answer to marking read, and `message_read`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ReadMark)]
pub struct ReadMarkView {
    pub chat_id: ChatId,
    pub user_id: UserId,
    pub seq: u64,
    pub read_at: Timestamp,
}

/// The `user_status` event.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub user_id: UserId,
    pub status: &'static str,
    pub last_seen: Option<Timestamp>,
}

/// The `user_typing` event.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingView {
    pub chat_id: ChatId,
    pub user_id: UserId,
    pub is_typing: bool,
}

/// `GET /api/chats/:id/changes`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangesPage {
    /// In ascending `rev`.
    pub messages: Vec<MessageView>,
    /// The chat's `rev` now.
    pub rev: u64,
    pub has_more: bool,
}

/// `GET /api/chats/:id/messages/:seq/edits`: one earlier version.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EditView {
    pub content: String,
    pub edited_at: Timestamp,
}

/// A list of messages (pins, forwarded copies).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<MessageView>,
}

/// A page of messages.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    /// The page asked for; `null` for cursor (`before`/`after`) reads.
    pub page: Option<u64>,
    pub limit: u64,
    pub has_more: bool,
}
