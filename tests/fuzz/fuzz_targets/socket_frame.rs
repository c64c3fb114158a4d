//! The `/ws` frame decoding path: any text frame is answered without a
//! panic; a frame is accepted iff it is a JSON object with a string `event`
//! and an integer (or no) `id`, and that `id` comes back in the ack and in
//! an error.
#![no_main]

use clavox::error::Error;
use clavox::realtime::events::{self, ClientFrame};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|bytes: &[u8]| {
    // The server only reads text frames (binary ones close the socket).
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let value = serde_json::from_str::<Value>(text).ok();
    let is_event = value.as_ref().is_some_and(|value| {
        let id_ok = match value.get("id") {
            None | Some(Value::Null) => true,
            Some(Value::Number(number)) => number.is_i64(),
            Some(_) => false,
        };
        value.is_object() && id_ok && value.get("event").is_some_and(Value::is_string)
    });
    match ClientFrame::parse(text) {
        Ok(frame) => {
            assert!(is_event, "accepted {text:?}");
            let value = value.expect("accepted frames are JSON");
            assert_eq!(Some(frame.event.as_str()), value["event"].as_str());
            assert_eq!(frame.id, value.get("id").and_then(Value::as_i64));
            if let Some(id) = frame.id {
                let ack: Value = serde_json::from_str(events::ack(id, &frame.data).as_str())
                    .expect("acks are JSON");
                assert_eq!(ack["id"].as_i64(), Some(id));
                assert_eq!(ack["event"], "ack");
                // Not `data` itself: serde_json's float text is not exact
                // to the last digit, so a re-read float may differ by one ulp.
                assert_eq!(ack["data"].is_object(), frame.data.is_object());
            }
        }
        Err(bad) => {
            assert!(!is_event, "refused {text:?}");
            let answer = events::error(bad.id, &Error::BadRequest(bad.reason));
            let answer: Value = serde_json::from_str(answer.as_str()).expect("errors are JSON");
            assert_eq!(answer["id"].as_i64(), bad.id);
            assert_eq!(answer["data"]["code"], "bad_request");
        }
    }
});
