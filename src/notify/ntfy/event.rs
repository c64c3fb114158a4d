//! ntfy's JSON message format and the three ways a subscription writes it
//! on the wire: one JSON object per line, Server-Sent Events, and raw text.

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Serialize;

/// Length of ntfy's message ids; `since=<id>` recognises an id by it.
pub const ID_LENGTH: usize = 12;

/// What a publisher hands to [`Topics::publish`](super::Topics::publish):
/// the notification as the ntfy app shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NtfyMessage {
    /// Bold first line ("Ana"); left out of the JSON when empty.
    pub title: String,
    /// The body ("Halo!").
    pub message: String,
    /// Opened when the notification is tapped.
    pub click: Option<String>,
    /// 1 (min) to 5 (max); 0 means ntfy's default, 3. Larger values count as 5.
    pub priority: u8,
    /// ntfy tags; names of emoji ("speech_balloon") show as emoji.
    pub tags: Vec<String>,
}

/// The `event` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// First event of a live subscription.
    Open,
    /// Sent when nothing else was, so proxies and phones keep the connection.
    Keepalive,
    /// A notification.
    Message,
}

/// One ntfy event, field names and order as ntfy's server writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix seconds after which the message leaves the cache; messages only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
    pub event: Kind,
    pub topic: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Present on messages only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub click: Option<String>,
}

impl Event {
    /// An `open` or `keepalive` event.
    pub fn control(kind: Kind, topic: &str, now: i64) -> Self {
        Self {
            id: new_id(),
            time: now,
            expires: None,
            event: kind,
            topic: topic.to_owned(),
            title: String::new(),
            message: None,
            priority: None,
            tags: Vec::new(),
            click: None,
        }
    }

    /// A `message` event stamped with a fresh id, `now` and its expiry.
    pub fn message(topic: &str, message: NtfyMessage, now: i64, expires: i64) -> Self {
        Self {
            id: new_id(),
            time: now,
            expires: Some(expires),
            event: Kind::Message,
            topic: topic.to_owned(),
            title: message.title,
            message: Some(message.message),
            priority: Some(priority(message.priority)),
            tags: message.tags,
            click: message.click,
        }
    }

    pub fn to_json(&self) -> String {
        // Strings, numbers and a unit enum: serialising cannot fail.
        serde_json::to_string(self).expect("an ntfy event serialises to JSON")
    }
}

/// How a streaming subscription writes events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `/json`: one JSON object per line.
    Json,
    /// `/sse`: Server-Sent Events.
    Sse,
    /// `/raw`: the message text only, one per line.
    Raw,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/x-ndjson; charset=utf-8",
            Self::Sse => "text/event-stream; charset=utf-8",
            Self::Raw => "text/plain; charset=utf-8",
        }
    }

    pub fn encode(self, event: &Event) -> String {
        match self {
            Self::Json => format!("{}\n", event.to_json()),
            // As ntfy: messages carry `id:` and no `event:` line, so a
            // browser's `EventSource.onmessage` fires for them; other events
            // are named and reach only listeners of that name.
            Self::Sse if event.event == Kind::Message => {
                format!("id: {}\ndata: {}\n\n", event.id, event.to_json())
            }
            Self::Sse => format!(
                "event: {}\ndata: {}\n\n",
                kind_name(event.event),
                event.to_json()
            ),
            // One line per message, so a line break inside one becomes a space;
            // every other event is an empty line.
            Self::Raw => match &event.message {
                Some(text) if event.event == Kind::Message => {
                    format!("{}\n", text.replace(['\r', '\n'], " "))
                }
                _ => "\n".to_owned(),
            },
        }
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Open => "open",
        Kind::Keepalive => "keepalive",
        Kind::Message => "message",
    }
}

fn priority(given: u8) -> u8 {
    match given {
        0 => 3,
        1..=5 => given,
        _ => 5,
    }
}

/// 12 random letters and digits, as ntfy's ids.
fn new_id() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(ID_LENGTH)
        .map(char::from)
        .collect()
}

/// Whether `text` has the shape of an ntfy message id.
pub fn looks_like_id(text: &str) -> bool {
    text.len() == ID_LENGTH && text.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ana() -> NtfyMessage {
        NtfyMessage {
            title: "Ana".into(),
            message: "Halo!\nApa kabar?".into(),
            click: Some("http://192.168.1.2:5000/#/chat/1".into()),
            priority: 0,
            tags: vec!["speech_balloon".into()],
        }
    }

    #[test]
    fn a_message_serialises_with_ntfy_field_names_and_default_priority() {
        let event = Event::message("t", ana(), 100, 200);
        let json: serde_json::Value = serde_json::from_str(&event.to_json()).expect("json");
        assert_eq!(json["event"], "message");
        assert_eq!(json["time"], 100);
        assert_eq!(json["expires"], 200);
        assert_eq!(json["priority"], 3);
        assert_eq!(json["tags"], serde_json::json!(["speech_balloon"]));
        assert!(looks_like_id(json["id"].as_str().expect("id")));
    }

    #[test]
    fn an_open_event_leaves_message_fields_out() {
        let json = Event::control(Kind::Open, "t", 100).to_json();
        for field in ["expires", "title", "message", "priority", "tags", "click"] {
            assert!(!json.contains(field), "{json}");
        }
    }

    #[test]
    fn raw_keeps_each_message_on_one_line_and_control_events_empty() {
        let message = Event::message("t", ana(), 1, 2);
        assert_eq!(Format::Raw.encode(&message), "Halo! Apa kabar?\n");
        assert_eq!(
            Format::Raw.encode(&Event::control(Kind::Keepalive, "t", 1)),
            "\n"
        );
    }

    #[test]
    fn sse_gives_messages_an_id_and_names_other_events() {
        let message = Event::message("t", ana(), 1, 2);
        let encoded = Format::Sse.encode(&message);
        assert!(
            encoded.starts_with(&format!("id: {}\ndata: {{", message.id)),
            "{encoded}"
        );
        assert!(encoded.ends_with("}\n\n"));
        let open = Format::Sse.encode(&Event::control(Kind::Open, "t", 1));
        assert!(open.starts_with("event: open\ndata: {"), "{open}");
    }

    #[test]
    fn priorities_out_of_range_are_clamped() {
        assert_eq!(priority(0), 3);
        assert_eq!(priority(1), 1);
        assert_eq!(priority(9), 5);
    }
}
