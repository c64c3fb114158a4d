//! The structs kept on disk. Each value is stored as one version byte followed
//! by the record in postcard, so a later release can recognise an old layout
//! and migrate it at start-up (`store::migrate`). Changing a struct below means
//! bumping its `VERSION` and teaching the migration the old shape.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::{ChatKind, DeliveryMark, MessageKind, ReadMark, Registration};
use crate::id::{ChatId, MessageId, ReportId, SessionId, UserId};
use crate::timestamp::Timestamp;

use super::StoreError;

/// A struct that is stored as a value, with its layout version.
pub trait Record: Serialize + DeserializeOwned {
    const VERSION: u8;

    fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![Self::VERSION];
        // Serialising plain structs into a Vec cannot fail: postcard only
        // errors on a full fixed buffer or on types it cannot represent.
        bytes.extend(postcard::to_allocvec(self).expect("records serialise to a Vec"));
        bytes
    }

    /// Reads a value written with an older layout `version`, when this
    /// record knows one; `None` when it does not.
    fn upgrade(_version: u8, _body: &[u8]) -> Option<Result<Self, StoreError>> {
        None
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        match bytes.split_first() {
            Some((&version, body)) if version == Self::VERSION => from_postcard(body),
            Some((&version, body)) if let Some(upgraded) = Self::upgrade(version, body) => upgraded,
            Some((&version, _)) => Err(StoreError::Corrupt(format!(
                "{} has layout version {version}, expected {}",
                std::any::type_name::<Self>(),
                Self::VERSION
            ))),
            None => Err(StoreError::Corrupt("empty record".into())),
        }
    }
}

fn from_postcard<T: DeserializeOwned>(body: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(body)
        .map_err(|error| StoreError::Corrupt(format!("{}: {error}", std::any::type_name::<T>())))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: UserId,
    /// E.164, the account's identity.
    pub phone: String,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub last_seen: Option<Timestamp>,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Record for UserRecord {
    const VERSION: u8 = 1;
}

impl UserRecord {
    /// A new, enabled account for `phone` (E.164).
    pub fn new(phone: String, name: Option<String>, now: Timestamp) -> Self {
        Self {
            id: UserId::generate(),
            phone,
            name,
            avatar: None,
            last_seen: None,
            disabled: false,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A chat's description. It changes rarely; the per-message counters live in
/// `ChatHead` so a send never rewrites the member list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRecord {
    pub id: ChatId,
    pub kind: ChatKind,
    /// In the order they joined, so "longest-standing member" is the first.
    pub participants: Vec<UserId>,
    pub admins: Vec<UserId>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Record for ChatRecord {
    const VERSION: u8 = 1;
}

impl ChatRecord {
    pub fn has_participant(&self, user: UserId) -> bool {
        self.participants.contains(&user)
    }

    pub fn is_admin(&self, user: UserId) -> bool {
        self.admins.contains(&user)
    }
}

/// The hot part of a chat, rewritten by every message and change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatHead {
    /// The `seq` of the newest message; 0 while the chat is empty.
    pub last_seq: u64,
    /// The newest message's time, or the chat's creation or last change.
    pub last_activity: Timestamp,
    /// The `rev` of the chat's latest message change (a send included).
    pub last_rev: u64,
}

impl Record for ChatHead {
    const VERSION: u8 = 2;

    /// Before changes existed every message was its own one change, so
    /// the chat's `rev` was its `seq`.
    fn upgrade(version: u8, body: &[u8]) -> Option<Result<Self, StoreError>> {
        #[derive(Deserialize)]
        struct V1 {
            last_seq: u64,
            last_activity: Timestamp,
        }
        (version == 1).then(|| {
            from_postcard::<V1>(body).map(|old| Self {
                last_seq: old.last_seq,
                last_activity: old.last_activity,
                last_rev: old.last_seq,
            })
        })
    }
}

impl ChatHead {
    /// The head of a chat with no messages yet.
    pub fn empty(created_at: Timestamp) -> Self {
        Self {
            last_seq: 0,
            last_activity: created_at,
            last_rev: 0,
        }
    }
}

/// One participant of one chat: when they joined, where they have read
/// up to, and where their devices have received up to. (A nested struct
/// adds nothing to postcard's layout: version 1 was the first four fields
/// written flat.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub joined_at: Timestamp,
    pub mark: ReadMark,
    pub delivered: DeliveryMark,
}

impl Record for MemberRecord {
    const VERSION: u8 = 2;

    /// Members from before delivery marks: what they read is delivered.
    fn upgrade(version: u8, body: &[u8]) -> Option<Result<Self, StoreError>> {
        #[derive(Deserialize)]
        struct V1 {
            joined_at: Timestamp,
            mark: ReadMark,
        }
        (version == 1).then(|| {
            from_postcard::<V1>(body).map(|old| Self {
                joined_at: old.joined_at,
                mark: old.mark,
                delivered: DeliveryMark {
                    seq: old.mark.seq,
                    at: old.mark.at,
                },
            })
        })
    }
}

impl MemberRecord {
    /// A member who joins at `at` with everything up to `read_seq` read.
    pub fn joining(at: Timestamp, read_seq: u64) -> Self {
        Self {
            joined_at: at,
            mark: ReadMark::joining(at, read_seq),
            delivered: DeliveryMark { seq: read_seq, at },
        }
    }

    /// Up to where this member has the chat's messages, and since when: a
    /// read mark implies delivery.
    pub fn delivered_up_to(&self) -> DeliveryMark {
        if self.mark.seq > self.delivered.seq {
            DeliveryMark {
                seq: self.mark.seq,
                at: self.mark.at,
            }
        } else {
            self.delivered
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub id: MessageId,
    pub chat: ChatId,
    pub seq: u64,
    pub sender: UserId,
    pub kind: MessageKind,
    pub content: String,
    /// Compact JSON text: postcard cannot read back a free-form JSON value.
    pub metadata: Option<String>,
    pub client_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The chat's `rev` of this message's latest change.
    pub rev: u64,
    /// The upload `metadata.url` names, kept so deleting can let it go.
    pub upload: Option<[u8; 16]>,
    /// The `seq` of the message this one answers.
    pub reply_to: Option<u64>,
    pub mentions: Vec<UserId>,
    pub forwarded: bool,
    /// Each emoji once, in order of first use.
    pub reactions: Vec<Reaction>,
    pub pinned: bool,
    pub edited_at: Option<Timestamp>,
    /// Deleted for everyone: content, metadata, reactions and mentions are
    /// gone, from this record and everywhere else.
    pub deleted_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// One emoji grapheme cluster.
    pub emoji: String,
    /// In the order they reacted.
    pub users: Vec<UserId>,
}

impl Record for MessageRecord {
    const VERSION: u8 = 2;

    /// Messages from before changes existed: never changed, so their `rev`
    /// is their `seq` (the chat's head agrees).
    fn upgrade(version: u8, body: &[u8]) -> Option<Result<Self, StoreError>> {
        #[derive(Deserialize)]
        struct V1 {
            id: MessageId,
            chat: ChatId,
            seq: u64,
            sender: UserId,
            kind: MessageKind,
            content: String,
            metadata: Option<String>,
            client_id: Option<String>,
            created_at: Timestamp,
            updated_at: Timestamp,
        }
        (version == 1).then(|| {
            from_postcard::<V1>(body).map(|old| Self {
                id: old.id,
                chat: old.chat,
                seq: old.seq,
                sender: old.sender,
                kind: old.kind,
                content: old.content,
                metadata: old.metadata,
                client_id: old.client_id,
                created_at: old.created_at,
                updated_at: old.updated_at,
                rev: old.seq,
                upload: None,
                reply_to: None,
                mentions: Vec::new(),
                forwarded: false,
                reactions: Vec::new(),
                pinned: false,
                edited_at: None,
                deleted_at: None,
            })
        })
    }
}

impl MessageRecord {
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// An earlier version of an edited message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditRecord {
    pub content: String,
    /// When this version was written: the message's `createdAt` for the
    /// original.
    pub written_at: Timestamp,
}

impl Record for EditRecord {
    const VERSION: u8 = 1;
}

/// A pinned message of a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinRecord {
    pub pinned_at: Timestamp,
    pub by: UserId,
}

impl Record for PinRecord {
    const VERSION: u8 = 1;
}

/// The live one-time code of one phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpRecord {
    /// HMAC of the number and the code under the server's key, never the code.
    pub code_hash: [u8; 32],
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
    pub failed_attempts: u32,
    /// Consumed by a successful verify; kept so the cooldown still applies.
    pub used: bool,
}

impl Record for OtpRecord {
    const VERSION: u8 = 1;
}

/// The wrong codes one number has taken in its current window, across all
/// its codes. Kept apart from `OtpRecord` so a new code does not reset it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrongCodesRecord {
    pub window_start: Timestamp,
    pub count: u32,
}

impl Record for WrongCodesRecord {
    const VERSION: u8 = 1;
}

/// One logged-in device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user: UserId,
    /// SHA-256 of the refresh token that is valid now.
    pub refresh_hash: [u8; 32],
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Record for SessionRecord {
    const VERSION: u8 = 1;
}

/// Every refresh token a session was ever given, so presenting a rotated one
/// can be recognised as reuse and end the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub session: SessionId,
    pub expires_at: Timestamp,
}

impl Record for RefreshRecord {
    const VERSION: u8 = 1;
}

/// A stored file; its bytes live in the data directory's `uploads/`, named
/// by the id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub id: [u8; 16],
    pub owner: UserId,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: [u8; 32],
    /// Measured from the file's header, for raster images.
    pub dimensions: Option<(u32, u32)>,
    pub created_at: Timestamp,
}

impl Record for UploadRecord {
    const VERSION: u8 = 1;
}

impl UploadRecord {
    /// The id as it appears in URLs: 32 lowercase hex characters.
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }
}

/// The bytes of uploads one user keeps. The operations that add and remove
/// uploads keep it in step, so checking the quota is one read, never a sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub bytes: u64,
}

impl Record for UsageRecord {
    const VERSION: u8 = 1;
}

impl UsageRecord {
    /// How many more bytes fit within `quota`.
    pub fn left(&self, quota: u64) -> u64 {
        quota.saturating_sub(self.bytes)
    }
}

/// A number the admin invited (`clavox users invite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteRecord {
    pub invited_at: Timestamp,
}

impl Record for InviteRecord {
    const VERSION: u8 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_their_version_byte() {
        let head = ChatHead {
            last_seq: 42,
            last_activity: Timestamp::from_millis(7),
            last_rev: 50,
        };
        let bytes = head.encode();
        assert_eq!(bytes[0], ChatHead::VERSION);
        assert_eq!(ChatHead::decode(&bytes).unwrap(), head);
    }

    #[test]
    fn an_unknown_version_is_reported_not_misread() {
        let mut bytes = ChatHead::empty(Timestamp::from_millis(1)).encode();
        bytes[0] = 99;
        assert!(matches!(
            ChatHead::decode(&bytes),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(ChatHead::decode(&[]), Err(StoreError::Corrupt(_))));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn message() -> impl Strategy<Value = MessageRecord> {
            (
                any::<[u8; 12]>(),
                any::<u64>(),
                prop::sample::select(vec![
                    MessageKind::Text,
                    MessageKind::Image,
                    MessageKind::File,
                    MessageKind::Voice,
                ]),
                ".{0,64}",
                prop::option::of(".{0,32}"),
                prop::option::of(".{1,16}"),
                any::<i64>(),
                (
                    any::<u64>(),
                    prop::option::of(any::<u64>()),
                    prop::collection::vec("\\PC{1,4}", 0..4),
                    any::<bool>(),
                ),
            )
                .prop_map(
                    |(
                        id,
                        seq,
                        kind,
                        content,
                        metadata,
                        client_id,
                        millis,
                        (rev, reply_to, emoji, flag),
                    )| {
                        MessageRecord {
                            id: MessageId::from_bytes(id),
                            chat: ChatId::from_bytes(id),
                            seq,
                            sender: UserId::from_bytes(id),
                            kind,
                            content,
                            metadata,
                            client_id,
                            created_at: Timestamp::from_millis(millis),
                            updated_at: Timestamp::from_millis(millis),
                            rev,
                            upload: flag.then_some([7; 16]),
                            reply_to,
                            mentions: vec![UserId::from_bytes(id)],
                            forwarded: flag,
                            reactions: emoji
                                .into_iter()
                                .map(|emoji| Reaction {
                                    emoji,
                                    users: vec![UserId::from_bytes(id)],
                                })
                                .collect(),
                            pinned: !flag,
                            edited_at: flag.then(|| Timestamp::from_millis(millis)),
                            deleted_at: None,
                        }
                    },
                )
        }

        fn member() -> impl Strategy<Value = MemberRecord> {
            (any::<i64>(), any::<u64>(), any::<u64>()).prop_map(|(millis, seq, own_above)| {
                MemberRecord {
                    joined_at: Timestamp::from_millis(millis),
                    mark: ReadMark {
                        seq,
                        at: Timestamp::from_millis(millis),
                        own_above,
                    },
                    delivered: DeliveryMark {
                        seq: seq / 2,
                        at: Timestamp::from_millis(millis),
                    },
                }
            })
        }

        /// Member records written before the read mark was a type of its
        /// own: the same four fields, in the same order.
        #[derive(serde::Serialize)]
        struct FlatMember {
            joined_at: Timestamp,
            read_seq: u64,
            read_at: Timestamp,
            own_after_read: u64,
        }

        proptest! {
            #[test]
            fn member_records_of_the_flat_layout_still_decode(
                joined in any::<i64>(), seq in any::<u64>(), read in any::<i64>(), own in any::<u64>(),
            ) {
                let flat = FlatMember {
                    joined_at: Timestamp::from_millis(joined),
                    read_seq: seq,
                    read_at: Timestamp::from_millis(read),
                    own_after_read: own,
                };
                let mut bytes = vec![1];
                bytes.extend(postcard::to_allocvec(&flat).unwrap());
                let member = MemberRecord::decode(&bytes).unwrap();
                prop_assert_eq!(member.joined_at, flat.joined_at);
                prop_assert_eq!(member.mark, ReadMark { seq, at: flat.read_at, own_above: own });
                // What was read before delivery marks existed was delivered.
                prop_assert_eq!(member.delivered_up_to(), DeliveryMark { seq, at: flat.read_at });
            }

            /// Messages and heads of version 1 read as never changed: `rev`
            /// is `seq`, for the message and for its chat.
            #[test]
            fn version_one_messages_and_heads_read_with_rev_equal_to_seq(
                message in message(), millis in any::<i64>(),
            ) {
                #[derive(serde::Serialize)]
                struct V1<'a> {
                    id: MessageId, chat: ChatId, seq: u64, sender: UserId, kind: MessageKind,
                    content: &'a str, metadata: &'a Option<String>, client_id: &'a Option<String>,
                    created_at: Timestamp, updated_at: Timestamp,
                }
                let old = V1 {
                    id: message.id, chat: message.chat, seq: message.seq, sender: message.sender,
                    kind: message.kind, content: &message.content, metadata: &message.metadata,
                    client_id: &message.client_id, created_at: message.created_at,
                    updated_at: message.updated_at,
                };
                let mut bytes = vec![1];
                bytes.extend(postcard::to_allocvec(&old).unwrap());
                let read = MessageRecord::decode(&bytes).unwrap();
                prop_assert_eq!(read.rev, message.seq);
                prop_assert_eq!(&read.content, &message.content);
                prop_assert!(read.reactions.is_empty() && read.deleted_at.is_none() && read.upload.is_none());

                let mut head = vec![1];
                head.extend(postcard::to_allocvec(&(message.seq, Timestamp::from_millis(millis))).unwrap());
                let head = ChatHead::decode(&head).unwrap();
                prop_assert_eq!((head.last_seq, head.last_rev), (message.seq, message.seq));
            }

            #[test]
            fn records_round_trip(message in message(), member in member()) {
                prop_assert_eq!(MessageRecord::decode(&message.encode()).unwrap(), message);
                prop_assert_eq!(MemberRecord::decode(&member.encode()).unwrap(), member);
            }

            /// A damaged value is an error, never a panic or a huge allocation.
            #[test]
            fn any_bytes_decode_or_are_reported_corrupt(
                bytes in prop::collection::vec(any::<u8>(), 0..64),
                version_one in any::<bool>(),
            ) {
                let mut bytes = bytes;
                if version_one && !bytes.is_empty() {
                    bytes[0] = 1;
                }
                let _ = UserRecord::decode(&bytes);
                let _ = ChatRecord::decode(&bytes);
                let _ = ChatHead::decode(&bytes);
                let _ = MemberRecord::decode(&bytes);
                let _ = MessageRecord::decode(&bytes);
                let _ = OtpRecord::decode(&bytes);
                let _ = WrongCodesRecord::decode(&bytes);
                let _ = SessionRecord::decode(&bytes);
                let _ = RefreshRecord::decode(&bytes);
                let _ = UploadRecord::decode(&bytes);
                let _ = UsageRecord::decode(&bytes);
                let _ = InviteRecord::decode(&bytes);
                let _ = EditRecord::decode(&bytes);
                let _ = PinRecord::decode(&bytes);
            }
        }
    }
}

/// A browser's Web Push subscription, made in one session: ending the
/// session drops it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscriptionRecord {
    pub user: UserId,
    pub session: SessionId,
    pub endpoint: String,
    /// The browser's P-256 public key and auth secret, base64url.
    pub p256dh: String,
    pub auth: String,
    pub created_at: Timestamp,
}

impl Record for PushSubscriptionRecord {
    const VERSION: u8 = 1;
}

/// A push waiting to be sent (or sent again), with what it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushJobRecord {
    pub user: UserId,
    /// The subscription it goes to (its key under the user).
    pub endpoint_key: [u8; 16],
    /// The JSON the service worker reads.
    pub payload: Vec<u8>,
    /// 0 very low … 3 high (RFC 8030 `Urgency`).
    pub urgency: u8,
    /// RFC 8030 `Topic`: a newer push with the same topic replaces this
    /// one on the device.
    pub topic: Option<String>,
    /// Past this it is dropped unsent (its `TTL` ran out).
    pub expires_at: Timestamp,
    pub attempts: u32,
}

impl Record for PushJobRecord {
    const VERSION: u8 = 1;
}

/// An account that administers the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRecord {
    pub since: Timestamp,
}

impl Record for AdminRecord {
    const VERSION: u8 = 1;
}

/// One user blocking another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    pub at: Timestamp,
}

impl Record for BlockRecord {
    const VERSION: u8 = 1;
}

/// A message reported to the admins, with a copy of it as it was then, so
/// an edit or a deletion afterwards hides nothing from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRecord {
    pub id: ReportId,
    pub reporter: UserId,
    pub reason: Option<String>,
    pub message: MessageRecord,
    pub at: Timestamp,
}

impl Record for ReportRecord {
    const VERSION: u8 = 1;
}

/// What the admin changed of the run-time settings; `None` keeps the
/// default. Settings given in the environment win over these.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRecord {
    pub registration: Option<Registration>,
    pub allowed_prefixes: Option<Vec<String>>,
    pub edit_window_secs: Option<u64>,
    pub delete_window_secs: Option<u64>,
}

impl Record for SettingsRecord {
    const VERSION: u8 = 1;
}

/// A link that lets people join a group (`/invite/<code>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInviteRecord {
    pub code: String,
    pub chat: ChatId,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub max_uses: Option<u32>,
    pub uses: u32,
}

impl Record for GroupInviteRecord {
    const VERSION: u8 = 1;
}

impl GroupInviteRecord {
    /// Whether it still lets someone in at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        now < self.expires_at && self.max_uses.is_none_or(|max| self.uses < max)
    }
}
