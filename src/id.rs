//! Time-ordered 12-byte identifiers in MongoDB's ObjectId layout: 4 bytes of
//! big-endian Unix seconds, then 8 bytes from a CSPRNG. Ids therefore sort by
//! their creation second, clients written for the original ObjectId-based
//! design keep working, and no id can be guessed from another (an ObjectId's
//! process mark and counter could). In JSON an id is 24 lowercase hex
//! characters.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The raw 12 bytes shared by every id type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub [u8; 12]);

/// Why a string is not an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected 24 lowercase hexadecimal characters")]
pub struct InvalidId;

impl Id {
    /// A new id, sorting after every id made in an earlier second. Within a
    /// second the order is random; uniqueness rests on the 64 random bits.
    pub fn generate() -> Self {
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let seconds = u32::try_from(seconds).unwrap_or(u32::MAX);
        // `rand::random` draws from the thread's CSPRNG, seeded by the OS.
        let random: [u8; 8] = rand::random();
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&seconds.to_be_bytes());
        bytes[4..].copy_from_slice(&random);
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Id {
    type Err = InvalidId;

    fn from_str(text: &str) -> Result<Self, InvalidId> {
        let is_lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
        if text.len() != 24 || !text.as_bytes().iter().all(is_lower_hex) {
            return Err(InvalidId);
        }
        let mut bytes = [0u8; 12];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| InvalidId)?;
        Ok(Self(bytes))
    }
}

/// Declares a typed id so a user id can never be passed where a chat id is meant.
macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
        #[schema(value_type = String, pattern = "^[0-9a-f]{24}$", example = "6b0aae888119ca3816709081")]
        pub struct $name(pub Id);

        impl $name {
            pub fn generate() -> Self {
                Self(Id::generate())
            }

            pub fn as_bytes(&self) -> &[u8; 12] {
                self.0.as_bytes()
            }

            pub fn from_bytes(bytes: [u8; 12]) -> Self {
                Self(Id(bytes))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(text: &str) -> Result<Self, InvalidId> {
                text.parse().map(Self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.collect_str(self)
                } else {
                    self.as_bytes().serialize(serializer)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                    text.parse().map_err(serde::de::Error::custom)
                } else {
                    <[u8; 12]>::deserialize(deserializer).map(Self::from_bytes)
                }
            }
        }
    };
}

typed_id!(
    /// A user (one per phone number).
    UserId
);
typed_id!(
    /// A private or group chat.
    ChatId
);
typed_id!(
    /// One stored message.
    MessageId
);
typed_id!(
    /// One logged-in device: a refresh-token chain and the access tokens it issued.
    SessionId
);
typed_id!(
    /// A message reported to the admins.
    ReportId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_in_sequence_sort_by_their_creation_second() {
        let ids: Vec<Id> = (0..1000).map(|_| Id::generate()).collect();
        let seconds: Vec<&[u8]> = ids.iter().map(|id| &id.0[..4]).collect();
        assert!(seconds.is_sorted());
        let mut sorted = ids.clone();
        sorted.sort();
        let sorted_seconds: Vec<&[u8]> = sorted.iter().map(|id| &id.0[..4]).collect();
        assert_eq!(seconds, sorted_seconds);
    }

    #[test]
    fn the_eight_bytes_after_the_second_are_random_not_a_counter() {
        let ids: Vec<Id> = (0..256).map(|_| Id::generate()).collect();
        let tail = |id: &Id| u64::from_be_bytes(id.0[4..].try_into().unwrap());
        let second = |id: &Id| id.0[..4].to_vec();
        let same_second: Vec<(&Id, &Id)> = ids
            .windows(2)
            .map(|pair| (&pair[0], &pair[1]))
            .filter(|(a, b)| second(a) == second(b))
            .collect();
        assert!(!same_second.is_empty(), "256 ids span at most two seconds");
        for (a, b) in same_second {
            assert_ne!(tail(b), tail(a).wrapping_add(1), "counted: {a} then {b}");
            assert_ne!(a.0[4..9], b.0[4..9], "a fixed mark: {a} and {b}");
        }
    }

    #[test]
    fn hex_text_round_trips() {
        let id = UserId::generate();
        let text = id.to_string();
        assert_eq!(text.len(), 24);
        assert_eq!(text.parse::<UserId>(), Ok(id));
    }

    #[test]
    fn malformed_text_is_rejected() {
        for bad in [
            "",
            "123",
            "ZZZZZZZZZZZZZZZZZZZZZZZZ",
            "0123456789ABCDEF01234567",
            "0123456789abcdef012345678",
        ] {
            assert_eq!(bad.parse::<Id>(), Err(InvalidId), "{bad}");
        }
    }

    #[test]
    fn json_uses_hex_and_postcard_uses_bytes() {
        let id = ChatId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<ChatId>(&json).unwrap(), id);
        let packed = postcard::to_allocvec(&id).unwrap();
        assert_eq!(packed.len(), 12);
        assert_eq!(postcard::from_bytes::<ChatId>(&packed).unwrap(), id);
    }

    #[test]
    fn the_first_four_bytes_are_the_creation_second() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let id = Id::generate();
        let seconds = u64::from(u32::from_be_bytes(id.0[..4].try_into().unwrap()));
        assert!(seconds >= before && seconds <= before + 1);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn is_id_text(text: &str) -> bool {
            text.len() == 24
                && text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }

        proptest! {
            #[test]
            fn any_bytes_format_as_24_lowercase_hex_and_parse_back(bytes in any::<[u8; 12]>()) {
                let text = Id(bytes).to_string();
                prop_assert!(is_id_text(&text), "{text}");
                prop_assert_eq!(text.parse::<Id>(), Ok(Id(bytes)));
                prop_assert_eq!(text.parse::<ChatId>(), Ok(ChatId::from_bytes(bytes)));
            }

            #[test]
            fn text_order_is_id_order(a in any::<[u8; 12]>(), b in any::<[u8; 12]>()) {
                prop_assert_eq!(Id(a).cmp(&Id(b)), Id(a).to_string().cmp(&Id(b).to_string()));
            }

            #[test]
            fn any_text_parses_only_when_it_is_24_lowercase_hex(text in any::<String>()) {
                prop_assert_eq!(text.parse::<Id>().is_ok(), is_id_text(&text));
            }

            #[test]
            fn hex_of_the_wrong_length_is_refused(text in "[0-9a-f]{0,48}") {
                prop_assert_eq!(text.parse::<UserId>().is_ok(), text.len() == 24);
            }

            #[test]
            fn upper_case_hex_is_refused(bytes in any::<[u8; 12]>(), at in 0usize..24) {
                let text = Id(bytes).to_string();
                let mut shouted = text.clone().into_bytes();
                shouted[at] = shouted[at].to_ascii_uppercase();
                let shouted = String::from_utf8(shouted).unwrap();
                prop_assert_eq!(shouted.parse::<Id>().is_ok(), shouted == text);
                let has_letters = text.bytes().any(|b| b.is_ascii_alphabetic());
                prop_assert_eq!(text.to_uppercase().parse::<Id>().is_err(), has_letters);
            }

            #[test]
            fn json_and_postcard_round_trip(bytes in any::<[u8; 12]>()) {
                let id = MessageId::from_bytes(bytes);
                let json = serde_json::to_string(&id).unwrap();
                prop_assert_eq!(serde_json::from_str::<MessageId>(&json).unwrap(), id);
                let packed = postcard::to_allocvec(&id).unwrap();
                prop_assert_eq!(postcard::from_bytes::<MessageId>(&packed).unwrap(), id);
            }

            #[test]
            fn any_json_string_decodes_only_when_it_is_an_id(text in any::<String>()) {
                let json = serde_json::to_string(&text).unwrap();
                let decoded = serde_json::from_str::<SessionId>(&json);
                prop_assert_eq!(decoded.is_ok(), is_id_text(&text));
            }
        }
    }
}
