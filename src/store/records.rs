//! The structs kept on disk. Each value is stored as one version byte followed
//! by the record in postcard, so a later release can recognise an old layout
//! and migrate it at start-up (`store::migrate`). Changing a struct below means
//! bumping its `VERSION` and teaching the migration the old shape.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::id::{ChatId, MessageId, SessionId, UserId};
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

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        match bytes.split_first() {
            Some((&version, body)) if version == Self::VERSION => postcard::from_bytes(body)
                .map_err(|error| {
                    StoreError::Corrupt(format!("{}: {error}", std::any::type_name::<Self>()))
                }),
            Some((&version, _)) => Err(StoreError::Corrupt(format!(
                "{} has layout version {version}, expected {}",
                std::any::type_name::<Self>(),
                Self::VERSION
            ))),
            None => Err(StoreError::Corrupt("empty record".into())),
        }
    }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatKind {
    Private,
    Group,
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

/// The hot part of a chat, rewritten by every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatHead {
    /// The `seq` of the newest message; 0 while the chat is empty.
    pub last_seq: u64,
    /// The newest message's time, or the chat's creation or last change.
    pub last_activity: Timestamp,
}

impl Record for ChatHead {
    const VERSION: u8 = 1;
}

/// One participant of one chat: where they have read up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub joined_at: Timestamp,
    /// Everything up to this `seq` has been read by this member.
    pub read_seq: u64,
    /// When `read_seq` last moved (the joining time until then).
    pub read_at: Timestamp,
    /// How many of the member's own messages lie above `read_seq`: they never
    /// count as unread, and keeping the count here makes `unreadCount` O(1).
    pub own_after_read: u64,
}

impl Record for MemberRecord {
    const VERSION: u8 = 1;
}

impl MemberRecord {
    /// A member who joins at `at` with everything up to `read_seq` read.
    pub fn joining(at: Timestamp, read_seq: u64) -> Self {
        Self {
            joined_at: at,
            read_seq,
            read_at: at,
            own_after_read: 0,
        }
    }

    /// Where a read up to `seq` moves this member's mark in a chat whose
    /// newest message is `last_seq`: clamped to it, and `None` unless that
    /// is forward (marks never move back).
    pub fn advanced_mark(&self, seq: u64, last_seq: u64) -> Option<u64> {
        let target = seq.min(last_seq);
        (target > self.read_seq).then_some(target)
    }

    pub fn unread(&self, last_seq: u64) -> u64 {
        last_seq
            .saturating_sub(self.read_seq)
            .saturating_sub(self.own_after_read)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    Text,
    Image,
    File,
    Voice,
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
}

impl Record for MessageRecord {
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
        };
        let bytes = head.encode();
        assert_eq!(bytes[0], ChatHead::VERSION);
        assert_eq!(ChatHead::decode(&bytes).unwrap(), head);
    }

    #[test]
    fn an_unknown_version_is_reported_not_misread() {
        let mut bytes = ChatHead {
            last_seq: 1,
            last_activity: Timestamp::from_millis(1),
        }
        .encode();
        bytes[0] = 99;
        assert!(matches!(
            ChatHead::decode(&bytes),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(ChatHead::decode(&[]), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn unread_skips_the_members_own_messages() {
        let member = MemberRecord {
            joined_at: Timestamp::from_millis(0),
            read_seq: 3,
            read_at: Timestamp::from_millis(0),
            own_after_read: 2,
        };
        assert_eq!(member.unread(10), 5);
        assert_eq!(member.unread(3), 0);
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
            )
                .prop_map(|(id, seq, kind, content, metadata, client_id, millis)| {
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
                    }
                })
        }

        fn member() -> impl Strategy<Value = MemberRecord> {
            (any::<i64>(), any::<u64>(), any::<u64>()).prop_map(|(millis, read_seq, own)| {
                MemberRecord {
                    joined_at: Timestamp::from_millis(millis),
                    read_seq,
                    read_at: Timestamp::from_millis(millis),
                    own_after_read: own,
                }
            })
        }

        proptest! {
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
                let _ = InviteRecord::decode(&bytes);
            }

            /// Whatever marks arrive, in whatever order, while the chat
            /// grows: the mark never moves back and never passes the newest
            /// message, and it lands on each mark that is forward.
            #[test]
            fn read_marks_only_move_forward(
                marks in proptest::collection::vec((any::<u64>(), 0u64..1000), 1..64),
            ) {
                let mut member = MemberRecord {
                    joined_at: Timestamp::from_millis(0),
                    read_seq: 0,
                    read_at: Timestamp::from_millis(0),
                    own_after_read: 0,
                };
                let mut last_seq = 0u64;
                for (seq, grown) in marks {
                    last_seq += grown;
                    let before = member.read_seq;
                    if let Some(target) = member.advanced_mark(seq, last_seq) {
                        member.read_seq = target;
                    }
                    prop_assert!(member.read_seq >= before);
                    prop_assert!(member.read_seq <= last_seq.max(before));
                    prop_assert_eq!(member.read_seq, before.max(seq.min(last_seq)));
                }
            }

            /// The unread count never exceeds what lies above the read mark,
            /// and a mark moved forward never raises it.
            #[test]
            fn unread_counts_only_what_lies_above_the_mark(
                member in member(),
                last_seq in any::<u64>(),
                forward in any::<u64>(),
            ) {
                let unread = member.unread(last_seq);
                prop_assert!(unread <= last_seq.saturating_sub(member.read_seq));
                let ceiling = last_seq.max(member.read_seq);
                let moved = MemberRecord {
                    read_seq: member.read_seq.saturating_add(forward).min(ceiling),
                    ..member
                };
                prop_assert!(moved.unread(last_seq) <= unread);
            }
        }
    }
}
