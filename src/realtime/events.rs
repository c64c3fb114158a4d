//! The `/ws` wire format: every frame is a text frame holding one JSON object
//! `{"event", "data", "id"?}`; answers to a frame with an `id` are `ack` or
//! `error` with the same `id`.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::events::Event;

/// WebSocket close codes the server uses.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const TOO_BIG: u16 = 1009;
    /// "Try again later": the client did not read fast enough.
    pub const TOO_SLOW: u16 = 1013;
    /// Not authenticated in time, token expired, or session ended.
    pub const UNAUTHORIZED: u16 = 4001;
}

/// Largest frame or message a client may send.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// A server event as a `/ws` text frame.
pub fn frame(event: &Event) -> Utf8Bytes {
    let name = event.name;
    format!(r#"{{"event":"{name}","data":{}}}"#, event.data).into()
}

/// `{"event":"ack","id":n,"data":...}`.
pub fn ack(id: i64, data: &impl Serialize) -> Utf8Bytes {
    // Event payloads are plain data structures: encoding cannot fail.
    let data = serde_json::to_string(data).expect("ack data encodes as JSON");
    format!(r#"{{"event":"ack","id":{id},"data":{data}}}"#).into()
}

/// `{"event":"error","id"?:n,"data":{"code","error"}}`.
pub fn error(id: Option<i64>, error: &Error) -> Utf8Bytes {
    // The same body as a REST error answer, so clients handle both alike.
    let data = serde_json::to_value(error.body()).unwrap_or_else(|_| Value::Object(Map::new()));
    let mut frame = Map::new();
    frame.insert("event".into(), Value::from("error"));
    if let Some(id) = id {
        frame.insert("id".into(), Value::from(id));
    }
    frame.insert("data".into(), data);
    Value::Object(frame).to_string().into()
}

/// One frame from a client, parsed as far as the envelope.
#[derive(Debug)]
pub struct ClientFrame {
    pub event: String,
    pub data: Value,
    pub id: Option<i64>,
}

/// Why a frame could not even be read as an event.
#[derive(Debug)]
pub struct BadFrame {
    /// The frame's `id`, when it had a readable one.
    pub id: Option<i64>,
    pub reason: &'static str,
}

impl ClientFrame {
    pub fn parse(text: &str) -> Result<Self, BadFrame> {
        let Ok(Value::Object(mut object)) = serde_json::from_str::<Value>(text) else {
            return Err(BadFrame {
                id: None,
                reason: "a frame must be one JSON object",
            });
        };
        let id = match object.remove("id") {
            None | Some(Value::Null) => None,
            Some(Value::Number(number)) if number.is_i64() => number.as_i64(),
            Some(_) => {
                return Err(BadFrame {
                    id: None,
                    reason: "`id` must be an integer",
                });
            }
        };
        let Some(Value::String(event)) = object.remove("event") else {
            return Err(BadFrame {
                id,
                reason: "`event` must be a string",
            });
        };
        let data = object.remove("data").unwrap_or(Value::Object(Map::new()));
        Ok(Self { event, data, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_wrap_the_encoded_event() {
        let event = Event::new("user_typing", &serde_json::json!({"isTyping": true}));
        assert_eq!(
            frame(&event).as_str(),
            r#"{"event":"user_typing","data":{"isTyping":true}}"#
        );
    }

    #[test]
    fn envelopes_are_checked() {
        let parsed = ClientFrame::parse(r#"{"event":"ping","id":7}"#).unwrap();
        assert_eq!((parsed.event.as_str(), parsed.id), ("ping", Some(7)));
        assert!(parsed.data.is_object());
        assert!(ClientFrame::parse("[1,2]").is_err());
        assert!(ClientFrame::parse("not json").is_err());
        assert!(ClientFrame::parse(r#"{"event":"ping","id":"x"}"#).is_err());
        let missing = ClientFrame::parse(r#"{"id":3}"#).unwrap_err();
        assert_eq!(missing.id, Some(3));
    }

    #[test]
    fn errors_carry_code_message_and_id() {
        let frame = error(Some(4), &Error::NotFound);
        let value: Value = serde_json::from_str(frame.as_str()).unwrap();
        assert_eq!(value["id"], 4);
        assert_eq!(value["data"]["code"], "not_found");
        assert!(value["data"]["error"].is_string());
    }
}
