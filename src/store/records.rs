//! The structs kept on disk. Each value is stored as one version byte followed
//! by the record in postcard, so a later release can recognise an old layout
//! and migrate it at start-up (`store::migrate`). Changing a struct below means
//! bumping its `VERSION` and teaching the migration the old shape.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::{ChatKind, MessageKind, ReadMark};
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

/// One participant of one chat: when they joined and where they have read
/// up to. (Encoded as the four fields it always had: a nested struct adds
/// nothing to postcard's layout.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub joined_at: Timestamp,
    pub mark: ReadMark,
}

impl Record for MemberRecord {
    const VERSION: u8 = 1;
}

impl MemberRecord {
    /// A member who joins at `at` with everything up to `read_seq` read.
    pub fn joining(at: Timestamp, read_seq: u64) -> Self {
        Self {
            joined_at: at,
            mark: ReadMark::joining(at, read_seq),
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
            (any::<i64>(), any::<u64>(), any::<u64>()).prop_map(|(millis, seq, own_above)| {
                MemberRecord {
                    joined_at: Timestamp::from_millis(millis),
                    mark: ReadMark {
                        seq,
                        at: Timestamp::from_millis(millis),
                        own_above,
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
                let mut bytes = vec![MemberRecord::VERSION];
                bytes.extend(postcard::to_allocvec(&flat).unwrap());
                let member = MemberRecord::decode(&bytes).unwrap();
                prop_assert_eq!(member.joined_at, flat.joined_at);
                prop_assert_eq!(member.mark, ReadMark { seq, at: flat.read_at, own_above: own });
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
            }
        }
    }
}
