//! Field rules shared by every route and event that accepts the field.
//! Lengths are counted in Unicode code points.

use serde_json::Value;

use crate::domain::MessageKind;
use crate::error::{Error, FieldError};

pub const NAME_MAX: usize = 64;
pub const AVATAR_MAX: usize = 2048;
pub const CONTENT_MAX: usize = 4096;
pub const METADATA_MAX_BYTES: usize = 4096;
pub const CLIENT_ID_MAX: usize = 64;

/// Bidirectional formatting controls, removed from names: with them,
/// "Admin\u{202e}gnp.exe" displays as "Adminexe.png".
const BIDI_CONTROLS: [char; 12] = [
    '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}',
];

/// A display name or group name: bidirectional controls removed, trimmed,
/// 1 to 64 characters, no control characters, at least one visible one.
pub fn name(field: &str, text: &str) -> Result<String, Error> {
    let without_bidi: String = text
        .chars()
        .filter(|c| !BIDI_CONTROLS.contains(c))
        .collect();
    let trimmed = without_bidi.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > NAME_MAX {
        return Err(Error::validation(
            field,
            format!("must be 1 to {NAME_MAX} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::validation(
            field,
            "must not contain control characters",
        ));
    }
    if !trimmed.chars().any(is_visible) {
        return Err(Error::validation(
            field,
            "must contain a visible character, not only spaces or zero-width ones",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Whether `c` shows as something on its own.
fn is_visible(c: char) -> bool {
    !c.is_whitespace() && !is_invisible(c)
}

/// Characters that draw nothing: Unicode's Default_Ignorable_Code_Point set
/// (zero-width spaces and joiners, bidi controls, invisible operators,
/// fillers, variation selectors, tags), the other format (Cf) characters,
/// and the blank Braille pattern, a favourite for names that look empty.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{034f}'
            | '\u{061c}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fff8}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
            // Format characters outside Default_Ignorable_Code_Point.
            | '\u{0600}'..='\u{0605}'
            | '\u{06dd}'
            | '\u{070f}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08e2}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{2800}'
    )
}

/// An avatar: an http(s) URL or an upload of this server, at most 2048 characters.
pub fn avatar(field: &str, text: &str) -> Result<String, Error> {
    let text = text.trim();
    if text.chars().count() > AVATAR_MAX {
        return Err(Error::validation(
            field,
            format!("must be at most {AVATAR_MAX} characters"),
        ));
    }
    if !is_http_url(text) && upload_id(text).is_none() {
        return Err(Error::validation(
            field,
            "must be an http(s) URL or an upload URL (/api/uploads/<id>)",
        ));
    }
    Ok(text.to_owned())
}

fn is_http_url(text: &str) -> bool {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !text.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

/// The id in `/api/uploads/<32 lowercase hex>`, if `text` is such a URL.
pub fn upload_id(text: &str) -> Option<&str> {
    let id = text.strip_prefix("/api/uploads/")?;
    let is_lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    (id.len() == 32 && id.bytes().all(is_lower_hex)).then_some(id)
}

/// The stored id of the upload `text` names (`/api/uploads/<id>`), if any.
pub fn upload_key(text: &str) -> Option<[u8; 16]> {
    let mut key = [0; 16];
    hex::decode_to_slice(upload_id(text)?, &mut key).ok()?;
    Some(key)
}

/// The upload an attachment's `metadata.url` names, if any.
pub fn attached_upload(metadata: Option<&Value>) -> Option<[u8; 16]> {
    upload_key(metadata?.get("url")?.as_str()?)
}

pub fn message_kind(text: Option<&str>) -> Result<MessageKind, Error> {
    match text.unwrap_or("text") {
        "text" => Ok(MessageKind::Text),
        "image" => Ok(MessageKind::Image),
        "file" => Ok(MessageKind::File),
        "voice" => Ok(MessageKind::Voice),
        _ => Err(Error::validation(
            "type",
            "must be text, image, file or voice",
        )),
    }
}

/// A message's text: required and not blank for text messages, an optional
/// caption otherwise; at most 4096 characters.
pub fn content(kind: MessageKind, text: Option<&str>) -> Result<String, Error> {
    let text = text.unwrap_or("");
    if kind == MessageKind::Text && text.trim().is_empty() {
        return Err(Error::validation("content", "must not be empty"));
    }
    if text.chars().count() > CONTENT_MAX {
        return Err(Error::validation(
            "content",
            format!("must be at most {CONTENT_MAX} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// An upload a message points at, as far as messages care.
pub struct UploadFacts {
    /// Measured by the server from the file, for raster images.
    pub dimensions: Option<(u32, u32)>,
}

/// Checks `metadata` and returns it as compact JSON. Attachments need a
/// `url`: an upload of this server (which `find_upload` must know) or an
/// absolute http(s) URL. An image upload's `width` and `height` are the
/// server's measurements, whatever the client said.
pub fn metadata(
    kind: MessageKind,
    metadata: Option<&Value>,
    find_upload: impl Fn(&str) -> Option<UploadFacts>,
) -> Result<Option<String>, Error> {
    let mut object = match metadata {
        None | Some(Value::Null) => None,
        Some(Value::Object(object)) => Some(object.clone()),
        Some(_) => return Err(Error::validation("metadata", "must be an object")),
    };
    let url = object.as_ref().and_then(|object| object.get("url"));
    let mut measured = None;
    match url {
        None if kind != MessageKind::Text => {
            return Err(Error::validation(
                "metadata.url",
                "is required for image, file and voice messages",
            ));
        }
        None => {}
        Some(Value::String(url)) => match upload_id(url) {
            Some(id) => match find_upload(id) {
                Some(facts) => measured = facts.dimensions,
                None => return Err(Error::validation("metadata.url", "no such upload")),
            },
            None if is_http_url(url) => {}
            None => {
                return Err(Error::validation(
                    "metadata.url",
                    "must be an upload URL (/api/uploads/<id>) or an http(s) URL",
                ));
            }
        },
        Some(_) => return Err(Error::validation("metadata.url", "must be a string")),
    }
    let Some(mut object) = object.take() else {
        return Ok(None);
    };
    if let (MessageKind::Image, Some((width, height))) = (kind, measured) {
        object.insert("width".into(), Value::from(width));
        object.insert("height".into(), Value::from(height));
    }
    let compact = Value::Object(object).to_string();
    if compact.len() > METADATA_MAX_BYTES {
        return Err(Error::validation(
            "metadata",
            format!("must be at most {METADATA_MAX_BYTES} bytes as JSON"),
        ));
    }
    Ok(Some(compact))
}

/// Most users one message may mention.
pub const MENTIONS_MAX: usize = 50;

/// The users a message mentions, each once, without the sender: mentioning
/// oneself is dropped. Whether they are in the chat the store checks.
pub fn mentions(
    sender: crate::id::UserId,
    users: Option<&[crate::id::UserId]>,
) -> Result<Vec<crate::id::UserId>, Error> {
    let users = users.unwrap_or_default();
    if users.len() > MENTIONS_MAX {
        return Err(Error::validation(
            "mentions",
            format!("must name at most {MENTIONS_MAX} users"),
        ));
    }
    let mut kept = Vec::with_capacity(users.len());
    for &user in users {
        if user != sender && !kept.contains(&user) {
            kept.push(user);
        }
    }
    Ok(kept)
}

/// Longest emoji accepted, in bytes: the longest ZWJ family sequences with
/// skin tones are about 40.
const EMOJI_MAX_BYTES: usize = 64;

/// One emoji grapheme cluster: a pictograph, flag, keycap or tag sequence,
/// with its skin tones, variation selectors and joiners.
pub fn emoji(text: &str) -> Result<String, Error> {
    use unicode_segmentation::UnicodeSegmentation;
    let refuse = || Error::validation("emoji", "must be one emoji");
    if text.is_empty() || text.len() > EMOJI_MAX_BYTES || text.graphemes(true).count() != 1 {
        return Err(refuse());
    }
    let mut chars = text.chars();
    let first = chars.next().ok_or_else(refuse)?;
    let keycap = matches!(first, '0'..='9' | '#' | '*');
    let starts_emoji = keycap || is_pictograph(first) || is_regional_indicator(first);
    let rest_fits = chars.all(|c| {
        is_pictograph(c)
            || is_regional_indicator(c)
            || matches!(c, '\u{200D}' | '\u{FE0F}' | '\u{FE0E}' | '\u{20E3}' | '\u{1F3FB}'..='\u{1F3FF}' | '\u{E0020}'..='\u{E007F}')
    });
    if !starts_emoji || !rest_fits || (keycap && !text.ends_with('\u{20E3}')) {
        return Err(refuse());
    }
    Ok(text.to_owned())
}

fn is_regional_indicator(c: char) -> bool {
    matches!(c, '\u{1F1E6}'..='\u{1F1FF}')
}

/// Unicode's Extended_Pictographic characters, in the blocks where emoji live.
fn is_pictograph(c: char) -> bool {
    matches!(c,
        '\u{00A9}' | '\u{00AE}' | '\u{203C}' | '\u{2049}' | '\u{2122}' | '\u{2139}'
        | '\u{2194}'..='\u{2199}' | '\u{21A9}'..='\u{21AA}' | '\u{231A}'..='\u{231B}'
        | '\u{2328}' | '\u{2388}' | '\u{23CF}' | '\u{23E9}'..='\u{23F3}' | '\u{23F8}'..='\u{23FA}'
        | '\u{24C2}' | '\u{25AA}'..='\u{25AB}' | '\u{25B6}' | '\u{25C0}' | '\u{25FB}'..='\u{25FE}'
        | '\u{2600}'..='\u{27BF}' | '\u{2934}'..='\u{2935}' | '\u{2B05}'..='\u{2B07}'
        | '\u{2B1B}'..='\u{2B1C}' | '\u{2B50}' | '\u{2B55}' | '\u{3030}' | '\u{303D}'
        | '\u{3297}' | '\u{3299}' | '\u{1F000}'..='\u{1F1E5}' | '\u{1F200}'..='\u{1F3FA}'
        | '\u{1F400}'..='\u{1FAFF}' | '\u{1FC00}'..='\u{1FFFD}')
}

/// Chats to forward into: 1 to 20, each once.
pub fn forward_targets(chats: &[crate::id::ChatId]) -> Result<Vec<crate::id::ChatId>, Error> {
    const MAX: usize = 20;
    if chats.is_empty() || chats.len() > MAX {
        return Err(Error::validation(
            "chatIds",
            format!("must name 1 to {MAX} chats"),
        ));
    }
    let mut kept = Vec::with_capacity(chats.len());
    for &chat in chats {
        if !kept.contains(&chat) {
            kept.push(chat);
        }
    }
    Ok(kept)
}

pub fn client_id(text: Option<&str>) -> Result<Option<String>, Error> {
    match text {
        None => Ok(None),
        Some(id) if (1..=CLIENT_ID_MAX).contains(&id.chars().count()) => Ok(Some(id.to_owned())),
        Some(_) => Err(Error::validation(
            "clientId",
            format!("must be 1 to {CLIENT_ID_MAX} characters"),
        )),
    }
}

/// Several independent checks as one answer: every value when all passed,
/// else every field error among them, so a client learns about every bad
/// field at once. Implemented for tuples of `Result`s.
pub trait AllValid {
    type Output;
    fn all_valid(self) -> Result<Self::Output, Error>;
}

/// The field errors an error stands for.
fn field_errors(error: Error) -> Vec<FieldError> {
    match error {
        Error::Validation(errors) => errors,
        other => vec![FieldError::new("", other.to_string())],
    }
}

macro_rules! all_valid_for_tuples {
    ($(($($value:ident),+)),+) => {$(
        impl<$($value),+> AllValid for ($(Result<$value, Error>,)+) {
            type Output = ($($value,)+);

            #[allow(non_snake_case)]
            fn all_valid(self) -> Result<Self::Output, Error> {
                match self {
                    ($(Ok($value),)+) => Ok(($($value,)+)),
                    ($($value,)+) => {
                        let mut errors = Vec::new();
                        $(if let Err(error) = $value {
                            errors.extend(field_errors(error));
                        })+
                        Err(Error::Validation(errors))
                    }
                }
            }
        }
    )+};
}

all_valid_for_tuples!((A, B), (A, B, C), (A, B, C, D));

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_emoji_is_one_grapheme_with_its_tones_and_joiners() {
        for good in [
            "👍",
            "👍🏽",
            "❤️",
            "❤",
            "👨‍👩‍👧‍👦",
            "🧑🏾‍🤝‍🧑🏻",
            "🏳️‍🌈",
            "🇮🇩",
            "1️⃣",
            "#️⃣",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "☕",
            "🫠",
        ] {
            assert_eq!(emoji(good).ok().as_deref(), Some(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "ab",
            "👍👍",
            "👍a",
            "1",
            "#",
            "\u{200D}",
            "\u{FE0F}",
            "🇮🇩🇮🇩",
            " 👍",
            "<script>",
            "\u{1F3FB}x",
        ] {
            assert!(emoji(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mentions_drop_the_sender_and_repeats() {
        let (me, you) = (crate::id::UserId::generate(), crate::id::UserId::generate());
        assert_eq!(mentions(me, Some(&[you, me, you])).unwrap(), vec![you]);
        assert!(mentions(me, Some(&vec![you; MENTIONS_MAX + 1])).is_err());
        assert_eq!(mentions(me, None).unwrap(), vec![]);
    }

    #[test]
    fn all_valid_reports_every_failed_field_or_every_value() {
        let bad = |field: &str| -> Result<u8, Error> { Err(Error::validation(field, "bad")) };
        assert_eq!(
            (Ok::<u8, Error>(1), Ok::<u8, Error>(2))
                .all_valid()
                .unwrap(),
            (1, 2)
        );
        let Err(Error::Validation(errors)) = (bad("a"), Ok::<u8, Error>(2), bad("c")).all_valid()
        else {
            panic!("two fields failed");
        };
        let fields: Vec<&str> = errors.iter().map(|error| error.field.as_str()).collect();
        assert_eq!(fields, ["a", "c"]);
    }

    #[test]
    fn names_are_trimmed_and_counted_in_code_points() {
        assert_eq!(name("name", "  Ana  ").unwrap(), "Ana");
        assert!(name("name", "   ").is_err());
        assert!(name("name", &"é".repeat(64)).is_ok());
        assert!(name("name", &"é".repeat(65)).is_err());
    }

    /// The bidirectional controls SPEC (Users) lists.
    const SPEC_BIDI_CONTROLS: [char; 12] = [
        '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}',
    ];

    #[test]
    fn names_lose_their_bidirectional_controls() {
        assert_eq!(
            name("name", "Admin\u{202e}gnp.exe").unwrap(),
            "Admingnp.exe"
        );
        for control in SPEC_BIDI_CONTROLS {
            assert_eq!(name("name", &format!("A{control}B")).unwrap(), "AB");
        }
        assert_eq!(
            name("name", "\u{2067} Ana \u{2069}").unwrap(),
            "Ana",
            "trimmed once the controls are gone"
        );
    }

    #[test]
    fn names_need_a_visible_character() {
        for invisible in [
            "\u{200b}\u{200b}",
            "\u{200c}",
            "\u{200d}",
            "\u{2060}",
            "\u{feff}",
            " \u{200b} ",
            "\u{00ad}",
            "\u{180e}",
            "\u{3164}",
            "\u{fe0f}",
            "\u{e0041}",
            "\u{202e}\u{200f}",
        ] {
            let error = name("name", invisible).expect_err(&format!("{invisible:?}"));
            assert_eq!(error.code(), "validation_failed");
        }
        assert_eq!(
            name("name", "A\u{200d}B").unwrap(),
            "A\u{200d}B",
            "invisible characters may sit between visible ones"
        );
        assert_eq!(name("name", "👩\u{200d}💻").unwrap(), "👩\u{200d}💻");
    }

    #[test]
    fn avatars_are_web_or_upload_urls() {
        assert!(avatar("avatar", "https://example.com/a.png").is_ok());
        assert!(avatar("avatar", "/api/uploads/0123456789abcdef0123456789abcdef").is_ok());
        assert!(avatar("avatar", "javascript:alert(1)").is_err());
        assert!(avatar("avatar", "https://").is_err());
        assert!(
            avatar(
                "avatar",
                &format!("https://example.com/{}", "a".repeat(2048))
            )
            .is_err()
        );
    }

    #[test]
    fn text_messages_must_say_something() {
        assert!(content(MessageKind::Text, Some(" \n ")).is_err());
        assert!(content(MessageKind::Text, None).is_err());
        assert_eq!(content(MessageKind::Image, None).unwrap(), "");
        assert!(content(MessageKind::Text, Some(&"😀".repeat(4096))).is_ok());
        assert!(content(MessageKind::Text, Some(&"😀".repeat(4097))).is_err());
    }

    #[test]
    fn attachments_need_a_known_url() {
        let none = |_: &str| None;
        assert!(metadata(MessageKind::Image, None, none).is_err());
        assert!(
            metadata(
                MessageKind::Image,
                Some(&json!({"url": "https://x.example/a.png"})),
                none
            )
            .is_ok()
        );
        assert!(
            metadata(
                MessageKind::File,
                Some(&json!({"url": "/api/uploads/0123456789abcdef0123456789abcdef"})),
                none
            )
            .is_err()
        );
        assert!(
            metadata(
                MessageKind::File,
                Some(&json!({"url": "/api/uploads/0123456789abcdef0123456789abcdef"})),
                |_| Some(UploadFacts { dimensions: None })
            )
            .is_ok()
        );
        assert!(metadata(MessageKind::Voice, Some(&json!({"url": "ftp://x"})), none).is_err());
        assert!(metadata(MessageKind::Text, Some(&json!([1, 2])), none).is_err());
        assert!(
            metadata(
                MessageKind::Text,
                Some(&json!({"note": "x".repeat(5000)})),
                none
            )
            .is_err()
        );
        assert_eq!(
            metadata(MessageKind::Text, Some(&json!({"a": 1})), none)
                .unwrap()
                .as_deref(),
            Some(r#"{"a":1}"#)
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const KINDS: [MessageKind; 4] = [
            MessageKind::Text,
            MessageKind::Image,
            MessageKind::File,
            MessageKind::Voice,
        ];

        /// Text near a limit, mixing one-, two-, three- and four-byte code
        /// points so a byte count can never pass for a character count.
        fn text_around(limit: usize) -> impl Strategy<Value = String> {
            let char = prop::sample::select(vec![
                'a', ' ', 'é', '語', '😀', '\n', '\u{200b}', '\u{202e}',
            ]);
            prop::collection::vec(char, limit - 3..=limit + 3)
                .prop_map(|chars| chars.into_iter().collect())
        }

        /// Any JSON value, nested a few levels.
        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                ".{0,40}".prop_map(Value::from),
                Just(Value::from("https://example.com/a.png")),
                Just(Value::from("/api/uploads/0123456789abcdef0123456789abcdef")),
            ];
            leaf.prop_recursive(4, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
                    prop::collection::btree_map(
                        prop_oneof![Just("url".to_owned()), "[a-z]{1,8}"],
                        inner,
                        0..8
                    )
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn content_is_accepted_iff_within_4096_code_points_and_not_blank(
                text in text_around(CONTENT_MAX),
                kind in prop::sample::select(KINDS.to_vec()),
            ) {
                let fits = text.chars().count() <= CONTENT_MAX;
                let said = kind != MessageKind::Text || !text.trim().is_empty();
                match content(kind, Some(&text)) {
                    Ok(stored) => {
                        prop_assert!(fits && said);
                        prop_assert_eq!(stored, text);
                    }
                    Err(error) => prop_assert!(
                        !(fits && said) && error.code() == "validation_failed"
                    ),
                }
            }

            #[test]
            fn blank_text_messages_are_refused(blank in "[ \t\r\n\u{a0}\u{2003}\u{3000}]{0,50}") {
                prop_assert!(content(MessageKind::Text, Some(&blank)).is_err());
                prop_assert!(content(MessageKind::Image, Some(&blank)).is_ok());
            }

            #[test]
            fn names_are_trimmed_bounded_and_idempotent(text in any::<String>()) {
                if let Ok(checked) = name("name", &text) {
                    let without_bidi: String = text
                        .chars()
                        .filter(|c| !SPEC_BIDI_CONTROLS.contains(c))
                        .collect();
                    prop_assert_eq!(checked.as_str(), without_bidi.trim());
                    prop_assert!((1..=NAME_MAX).contains(&checked.chars().count()));
                    prop_assert!(!checked.chars().any(char::is_control));
                    prop_assert!(checked.chars().any(|c| !c.is_whitespace() && !is_invisible(c)));
                    prop_assert_eq!(name("name", &checked).ok(), Some(checked));
                }
            }

            #[test]
            fn names_of_only_invisible_characters_are_refused(
                blank in "[ \t\u{200b}-\u{200f}\u{2060}\u{feff}\u{202a}-\u{202e}\u{2066}-\u{2069}\u{061c}\u{00ad}\u{3164}]{0,70}",
            ) {
                prop_assert!(name("name", &blank).is_err());
            }

            #[test]
            fn names_are_counted_in_code_points(text in text_around(NAME_MAX)) {
                let without_bidi = text.replace('\u{202e}', "");
                let trimmed = without_bidi.trim();
                let expected = (1..=NAME_MAX).contains(&trimmed.chars().count())
                    && !trimmed.chars().any(char::is_control)
                    && trimmed.chars().any(|c| ['a', 'é', '語', '😀'].contains(&c));
                prop_assert_eq!(name("name", &text).is_ok(), expected);
            }

            #[test]
            fn accepted_avatars_are_web_or_upload_urls(
                text in any::<String>(),
                scheme in "(https?://)?",
            ) {
                let text = format!("{scheme}{text}");
                if let Ok(checked) = avatar("avatar", &text) {
                    prop_assert!(checked.chars().count() <= AVATAR_MAX);
                    prop_assert!(
                        upload_id(&checked).is_some()
                            || ((checked.starts_with("https://") || checked.starts_with("http://"))
                                && !checked.chars().any(|c| c.is_whitespace() || c.is_control()))
                    );
                    prop_assert_eq!(avatar("avatar", &checked).ok(), Some(checked));
                }
            }

            #[test]
            fn upload_urls_round_trip_32_lowercase_hex(bytes in any::<[u8; 16]>()) {
                let id = hex::encode(bytes);
                let url = format!("/api/uploads/{id}");
                prop_assert_eq!(upload_id(&url), Some(id.as_str()));
                prop_assert!(avatar("avatar", &url).is_ok());
                let shouted = format!("/api/uploads/{}", id.to_uppercase());
                prop_assert_eq!(upload_id(&shouted).is_some(), shouted == url);
            }

            #[test]
            fn upload_ids_of_other_lengths_or_alphabets_are_refused(id in "[0-9a-zA-Z]{0,40}") {
                let expected = id.len() == 32
                    && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                prop_assert_eq!(upload_id(&format!("/api/uploads/{id}")).is_some(), expected);
            }

            #[test]
            fn client_ids_are_1_to_64_code_points(text in text_around(CLIENT_ID_MAX)) {
                let expected = (1..=CLIENT_ID_MAX).contains(&text.chars().count());
                prop_assert_eq!(client_id(Some(&text)).is_ok(), expected);
                prop_assert_eq!(client_id(None).ok(), Some(None));
            }

            #[test]
            fn message_kinds_are_the_four_names(text in "[a-z]{0,6}") {
                let known = ["text", "image", "file", "voice"].contains(&text.as_str());
                prop_assert_eq!(message_kind(Some(&text)).is_ok(), known);
            }

            #[test]
            fn accepted_metadata_is_a_small_json_object(
                value in json(),
                kind in prop::sample::select(KINDS.to_vec()),
                known_upload in any::<bool>(),
            ) {
                let find_upload = |_: &str| {
                    known_upload.then_some(UploadFacts { dimensions: Some((640, 480)) })
                };
                match metadata(kind, Some(&value), find_upload) {
                    Ok(None) => prop_assert!(value.is_null() && kind == MessageKind::Text),
                    Ok(Some(compact)) => {
                        prop_assert!(compact.len() <= METADATA_MAX_BYTES);
                        let stored: Value = serde_json::from_str(&compact).unwrap();
                        prop_assert!(stored.is_object());
                        if kind != MessageKind::Text {
                            prop_assert!(stored["url"].is_string());
                        }
                    }
                    Err(error) => prop_assert_eq!(error.code(), "validation_failed"),
                }
            }

            #[test]
            fn metadata_is_limited_to_4096_bytes_of_compact_json(
                note in prop::collection::vec(
                    prop::sample::select(vec!['x', 'é', '"', '😀']),
                    1500..2300
                ),
            ) {
                let note: String = note.into_iter().collect();
                let value = serde_json::json!({ "note": note });
                let compact = value.to_string();
                let result = metadata(MessageKind::Text, Some(&value), |_| None);
                let fits = compact.len() <= METADATA_MAX_BYTES;
                prop_assert_eq!(result.is_ok(), fits, "{} bytes", compact.len());
            }

            #[test]
            fn image_uploads_carry_the_measured_size(
                width in any::<u32>(),
                height in any::<u32>(),
            ) {
                let value = serde_json::json!({
                    "url": "/api/uploads/0123456789abcdef0123456789abcdef",
                    "width": 1,
                    "height": 1,
                });
                let stored = metadata(MessageKind::Image, Some(&value), |_| {
                    Some(UploadFacts { dimensions: Some((width, height)) })
                })
                .unwrap()
                .unwrap();
                let stored: Value = serde_json::from_str(&stored).unwrap();
                prop_assert_eq!(&stored["width"], &Value::from(width));
                prop_assert_eq!(&stored["height"], &Value::from(height));
            }
        }
    }
}
