//! The Socket.IO packet decoding path: any text is read without a panic;
//! an event is accepted iff its payload is a JSON array led by a string,
//! and an acknowledgement the server writes for a client's callback reads
//! back as that callback's answer.
#![no_main]

use clavox::realtime::socketio::packet::{self, Engine, Kind, Socket};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let first = text.as_bytes().first().copied();
    match Engine::parse(text) {
        Some(engine) => {
            assert!(matches!(first, Some(b'1'..=b'6')), "accepted {text:?}");
            if let Engine::Message(message) = engine {
                assert_eq!(message, &text[1..]);
            }
        }
        None => assert!(!matches!(first, Some(b'1'..=b'6')), "refused {text:?}"),
    }
    let Some(socket) = Socket::parse(text) else {
        return;
    };
    assert!(text.ends_with(socket.payload));
    if socket.namespace != "/" {
        assert!(socket.namespace.starts_with('/'));
    }
    if socket.kind != Kind::Event {
        return;
    }
    let value = serde_json::from_str::<Value>(socket.payload).ok();
    let is_event = value
        .as_ref()
        .and_then(Value::as_array)
        .is_some_and(|args| args.first().is_some_and(Value::is_string));
    match packet::event(socket.payload) {
        Ok((name, data)) => {
            assert!(is_event, "accepted {text:?}");
            let args = value.expect("accepted events are JSON");
            assert_eq!(Some(name.as_str()), args[0].as_str());
            assert_eq!(data.is_object(), args.get(1).is_none_or(Value::is_object));
            if let Some(id) = socket.ack {
                let data = serde_json::to_string(&data).expect("event data encodes");
                let ack = packet::ack(id, &data);
                let back = Socket::parse(ack.as_str().strip_prefix('4').expect("a message"))
                    .expect("acks parse");
                assert_eq!((back.kind, back.namespace, back.ack), (Kind::Ack, "/", Some(id)));
                let answer: Value = serde_json::from_str(back.payload).expect("acks are JSON");
                assert_eq!(answer.as_array().map(Vec::len), Some(1));
            }
        }
        Err(_) => assert!(!is_event, "refused {text:?}"),
    }
});
