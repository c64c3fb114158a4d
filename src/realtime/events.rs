//! The `/ws` wire format: every frame is a text frame holding one JSON object
//! `{"event", "data", "id"?}`; answers to a frame with an `id` are `ack` or
//! `error` with the same `id`.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::bus::Event;
use crate::error::Error;

pub use crate::bus::close;

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

    #[test]
    fn deeply_nested_frames_are_refused_not_overflowed() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(ClientFrame::parse(&deep).is_err());
        let deep_data = format!(
            r#"{{"event":"ping","data":{}1{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(ClientFrame::parse(&deep_data).is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Any JSON value, nested a few levels.
        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                // Quarters: floats that survive serde_json's text round trip.
                (-4000i32..4000).prop_map(|n| Value::from(f64::from(n) / 4.0)),
                ".{0,12}".prop_map(Value::from),
                Just(Value::from("ping")),
            ];
            leaf.prop_recursive(3, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                    prop::collection::btree_map(
                        prop_oneof![Just("event"), Just("id"), Just("data"), Just("x")],
                        inner,
                        0..5
                    )
                    .prop_map(|map| {
                        Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                    }),
                ]
            })
        }

        /// SPEC's rule: a JSON object with a string `event` and an integer
        /// (or no) `id`.
        fn is_event_frame(value: &Value) -> bool {
            let Value::Object(object) = value else {
                return false;
            };
            let id_ok = match object.get("id") {
                None | Some(Value::Null) => true,
                Some(Value::Number(number)) => number.is_i64(),
                Some(_) => false,
            };
            id_ok && matches!(object.get("event"), Some(Value::String(_)))
        }

        proptest! {
            #[test]
            fn any_text_is_answered_without_panicking(text in any::<String>()) {
                if let Ok(frame) = ClientFrame::parse(&text) {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    prop_assert!(is_event_frame(&value));
                    prop_assert_eq!(frame.event.as_str(), value["event"].as_str().unwrap());
                }
            }

            #[test]
            fn any_bytes_are_answered_without_panicking(
                bytes in prop::collection::vec(any::<u8>(), 0..64),
            ) {
                let text = String::from_utf8_lossy(&bytes);
                let _ = ClientFrame::parse(&text);
            }

            #[test]
            fn a_frame_is_accepted_iff_it_is_an_object_with_a_string_event(value in json()) {
                let text = value.to_string();
                let parsed = ClientFrame::parse(&text);
                prop_assert_eq!(parsed.is_ok(), is_event_frame(&value), "{}", text);
                if let Ok(frame) = parsed {
                    let expected = value.get("data").cloned();
                    prop_assert_eq!(frame.data, expected.unwrap_or(Value::Object(Map::new())));
                    prop_assert_eq!(frame.id, value.get("id").and_then(Value::as_i64));
                }
            }

            #[test]
            fn the_id_comes_back_in_the_ack_and_the_error(
                id in any::<i64>(),
                event in ".{0,16}",
                data in json(),
            ) {
                let frame = serde_json::json!({ "event": event, "data": data, "id": id });
                let frame = frame.to_string();
                let parsed = ClientFrame::parse(&frame).unwrap();
                prop_assert_eq!(parsed.id, Some(id));
                let ack: Value = serde_json::from_str(ack(id, &parsed.data).as_str()).unwrap();
                prop_assert_eq!(&ack["event"], "ack");
                prop_assert_eq!(ack["id"].as_i64(), Some(id));
                prop_assert_eq!(&ack["data"], &parsed.data);
                let refused = error(parsed.id, &Error::BadRequest("x"));
                let error: Value = serde_json::from_str(refused.as_str()).unwrap();
                prop_assert_eq!(error["id"].as_i64(), Some(id));
                prop_assert_eq!(&error["data"]["code"], "bad_request");
            }

            #[test]
            fn a_bad_frame_keeps_a_readable_id(id in any::<i64>(), event in json()) {
                let frame = serde_json::json!({ "event": event, "id": id }).to_string();
                match ClientFrame::parse(&frame) {
                    Ok(parsed) => prop_assert!(event.is_string() && parsed.id == Some(id)),
                    Err(bad) => prop_assert_eq!(bad.id, Some(id)),
                }
            }
        }
    }
}
