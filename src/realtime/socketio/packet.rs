//! The text packets of Engine.IO v4 and of Socket.IO v5 inside them.
//!
//! An Engine.IO packet is a type digit and its data: `0` open, `1` close,
//! `2` ping, `3` pong, `4` message, `5` upgrade, `6` noop. A message holds a
//! Socket.IO packet: a type digit, the namespace (`/name,`, left out for
//! `/`), an acknowledgement id (digits) and a JSON payload, so
//! `42["send_message",{...}]`, `421["ping",{}]` (callback 1) and
//! `431[{...}]` (the answer to it). Binary attachments are not spoken here:
//! every event of this server is JSON.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

/// Engine.IO packets the server sends as they are.
pub const CLOSE: &str = "1";
pub const PING: &str = "2";
pub const NOOP: &str = "6";
/// The Socket.IO namespace disconnect.
pub const DISCONNECT: &str = "41";

/// An Engine.IO packet from a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Engine<'a> {
    Close,
    /// With its data (`probe` while a transport upgrades).
    Ping(&'a str),
    Pong,
    Message(&'a str),
    Upgrade,
    Noop,
}

impl<'a> Engine<'a> {
    pub fn parse(text: &'a str) -> Option<Self> {
        let (kind, data) = split_kind(text)?;
        Some(match kind {
            b'1' => Self::Close,
            b'2' => Self::Ping(data),
            b'3' => Self::Pong,
            b'4' => Self::Message(data),
            b'5' => Self::Upgrade,
            b'6' => Self::Noop,
            _ => return None,
        })
    }
}

/// What a Socket.IO packet from a client asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Connect,
    Disconnect,
    Event,
    Ack,
    /// Only servers send connect errors.
    ConnectError,
    /// Events and acks with binary attachments: not spoken here.
    Binary,
}

/// A Socket.IO packet from a client, split but not yet read.
#[derive(Debug, PartialEq, Eq)]
pub struct Socket<'a> {
    pub kind: Kind,
    pub namespace: &'a str,
    pub ack: Option<i64>,
    pub payload: &'a str,
}

impl<'a> Socket<'a> {
    pub fn parse(text: &'a str) -> Option<Self> {
        let (kind, mut rest) = split_kind(text)?;
        let kind = match kind {
            b'0' => Kind::Connect,
            b'1' => Kind::Disconnect,
            b'2' => Kind::Event,
            b'3' => Kind::Ack,
            b'4' => Kind::ConnectError,
            b'5' | b'6' => Kind::Binary,
            _ => return None,
        };
        let mut namespace = "/";
        if rest.starts_with('/') {
            (namespace, rest) = rest.split_once(',').unwrap_or((rest, ""));
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let ack = match digits {
            0 => None,
            _ => Some(rest[..digits].parse().ok()?),
        };
        Some(Self {
            kind,
            namespace,
            ack,
            payload: &rest[digits..],
        })
    }
}

fn split_kind(text: &str) -> Option<(u8, &str)> {
    let kind = *text.as_bytes().first()?;
    // An ASCII digit, so the rest starts on a character boundary.
    kind.is_ascii_digit().then(|| (kind, &text[1..]))
}

/// An event's payload, `["name", data?, ...]`: its name and its first
/// argument (`{}` when there is none, as `/ws` reads a frame without data).
pub fn event(payload: &str) -> Result<(String, Value), &'static str> {
    let Ok(Value::Array(mut args)) = serde_json::from_str(payload) else {
        return Err("an event must be a JSON array: [name, data]");
    };
    if args.is_empty() {
        return Err("an event needs a name");
    }
    let data = if args.len() > 1 {
        args.swap_remove(1)
    } else {
        Value::Object(Map::new())
    };
    match args.swap_remove(0) {
        Value::String(name) => Ok((name, data)),
        _ => Err("an event's name must be a string"),
    }
}

/// The Engine.IO open packet: the session, its heartbeat and what the client
/// may upgrade to.
pub fn open(
    sid: &str,
    upgrades: bool,
    ping_interval_ms: u128,
    ping_timeout_ms: u128,
    max_payload: usize,
) -> String {
    let upgrades = if upgrades { r#"["websocket"]"# } else { "[]" };
    format!(
        r#"0{{"sid":"{sid}","upgrades":{upgrades},"pingInterval":{ping_interval_ms},"pingTimeout":{ping_timeout_ms},"maxPayload":{max_payload}}}"#
    )
}

/// The answer to a ping: a pong with the same data.
pub fn pong(data: &str) -> Utf8Bytes {
    format!("3{data}").into()
}

/// The namespace's welcome: the Socket.IO id of the socket.
pub fn connected(sid: &str) -> Utf8Bytes {
    format!(r#"40{{"sid":"{sid}"}}"#).into()
}

/// A refused namespace connection: the client's `connect_error` carries
/// `message`.
pub fn connect_error(namespace: &str, message: &str) -> Utf8Bytes {
    let message = Value::from(message);
    if namespace == "/" {
        format!(r#"44{{"message":{message}}}"#).into()
    } else {
        format!(r#"44{namespace},{{"message":{message}}}"#).into()
    }
}

/// `42["name",data]`, `data` being JSON already.
pub fn event_packet(name: &str, data: &str) -> Utf8Bytes {
    format!(r#"42["{name}",{data}]"#).into()
}

/// An event whose data is still to be encoded.
pub fn emit(name: &str, data: &impl Serialize) -> Utf8Bytes {
    // Event payloads are plain data structures: encoding cannot fail.
    let data = serde_json::to_string(data).expect("event data encodes as JSON");
    event_packet(name, &data)
}

/// `43<id>[data]`: the answer to the client's callback `id`.
pub fn ack(id: i64, data: &str) -> Utf8Bytes {
    format!("43{id}[{data}]").into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_packets_are_told_apart_by_their_digit() {
        assert_eq!(Engine::parse("2probe"), Some(Engine::Ping("probe")));
        assert_eq!(Engine::parse("3"), Some(Engine::Pong));
        assert_eq!(
            Engine::parse("42[\"a\"]"),
            Some(Engine::Message("2[\"a\"]"))
        );
        assert_eq!(Engine::parse("1"), Some(Engine::Close));
        assert_eq!(Engine::parse("5"), Some(Engine::Upgrade));
        assert_eq!(Engine::parse("6"), Some(Engine::Noop));
        assert_eq!(Engine::parse("0"), None);
        assert_eq!(Engine::parse("x"), None);
        assert_eq!(Engine::parse(""), None);
        assert_eq!(Engine::parse("é"), None);
    }

    #[test]
    fn socket_packets_split_into_namespace_ack_and_payload() {
        let plain = Socket::parse(r#"2["ping",{}]"#).unwrap();
        assert_eq!(
            plain,
            Socket {
                kind: Kind::Event,
                namespace: "/",
                ack: None,
                payload: r#"["ping",{}]"#
            }
        );
        let with_ack = Socket::parse(r#"212["send_message",{"a":1}]"#).unwrap();
        assert_eq!(
            (with_ack.ack, with_ack.payload),
            (Some(12), r#"["send_message",{"a":1}]"#)
        );
        let elsewhere = Socket::parse(r#"2/admin,7["x"]"#).unwrap();
        assert_eq!(
            (elsewhere.namespace, elsewhere.ack, elsewhere.payload),
            ("/admin", Some(7), r#"["x"]"#)
        );
        let connect = Socket::parse(r#"0{"token":"t"}"#).unwrap();
        assert_eq!(
            (connect.kind, connect.payload),
            (Kind::Connect, r#"{"token":"t"}"#)
        );
        assert_eq!(Socket::parse("0/admin").unwrap().namespace, "/admin");
        assert_eq!(Socket::parse("1").unwrap().kind, Kind::Disconnect);
        assert_eq!(
            Socket::parse(r#"51-["x",{"_placeholder":true,"num":0}]"#)
                .unwrap()
                .kind,
            Kind::Binary
        );
        assert_eq!(Socket::parse("9"), None);
        // An id past i64 is no id a client could have made.
        assert_eq!(Socket::parse(r#"299999999999999999999["x"]"#), None);
    }

    #[test]
    fn an_event_is_its_name_and_first_argument() {
        assert_eq!(
            event(r#"["send_message",{"a":1}]"#).unwrap(),
            ("send_message".into(), serde_json::json!({"a":1}))
        );
        assert_eq!(
            event(r#"["ping"]"#).unwrap(),
            ("ping".into(), serde_json::json!({}))
        );
        assert_eq!(
            event(r#"["x",1,2]"#).unwrap(),
            ("x".into(), serde_json::json!(1))
        );
        assert!(event("[]").is_err());
        assert!(event("[1]").is_err());
        assert!(event(r#"{"event":"x"}"#).is_err());
        assert!(event(r#"["x""#).is_err());
    }

    #[test]
    fn server_packets_are_what_the_official_client_reads() {
        assert_eq!(
            open("abc", true, 25_000, 20_000, 65_536),
            r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":65536}"#
        );
        assert_eq!(connected("s1").as_str(), r#"40{"sid":"s1"}"#);
        assert_eq!(
            connect_error("/", "unauthorized").as_str(),
            r#"44{"message":"unauthorized"}"#
        );
        assert_eq!(
            connect_error("/admin", "Invalid namespace").as_str(),
            r#"44/admin,{"message":"Invalid namespace"}"#
        );
        assert_eq!(
            event_packet("new_message", r#"{"seq":1}"#).as_str(),
            r#"42["new_message",{"seq":1}]"#
        );
        assert_eq!(ack(3, r#"{"seq":1}"#).as_str(), r#"433[{"seq":1}]"#);
        assert_eq!(pong("probe").as_str(), "3probe");
    }
}
