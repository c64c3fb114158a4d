//! Every redb table and the layout of its keys, in one place. Keys are byte
//! strings built so that each read the API needs is a single range scan;
//! integers are big-endian so byte order is numeric order.

use redb::TableDefinition;

use crate::id::{ChatId, SessionId, UserId};
use crate::timestamp::Timestamp;

pub type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;
/// A raw key-value pair read from a table, whichever engine holds it.
pub type Entry = (Vec<u8>, Vec<u8>);

/// `"schema_version"` → u32 big-endian.
pub const META: Table = TableDefinition::new("meta");
/// user id → `UserRecord`.
pub const USERS: Table = TableDefinition::new("users");
/// E.164 phone number → user id.
pub const USERS_BY_PHONE: Table = TableDefinition::new("users_by_phone");
/// chat id → `ChatRecord`.
pub const CHATS: Table = TableDefinition::new("chats");
/// chat id → `ChatHead`.
pub const CHAT_HEADS: Table = TableDefinition::new("chat_heads");
/// user id ‖ chat id → empty: the chats of a user.
pub const USER_CHATS: Table = TableDefinition::new("user_chats");
/// lower user id ‖ higher user id → chat id: the one private chat of a pair.
pub const PRIVATE_PAIRS: Table = TableDefinition::new("private_pairs");
/// chat id ‖ user id → `MemberRecord`: read marks.
pub const MEMBERS: Table = TableDefinition::new("members");
/// chat id ‖ seq → `MessageRecord`.
pub const MESSAGES: Table = TableDefinition::new("messages");
/// chat id ‖ rev → seq: each message under the `rev` of its latest change,
/// so `changes?since=` is one range scan.
pub const CHANGES: Table = TableDefinition::new("changes");
/// chat id ‖ seq ‖ n (u32) → `EditRecord`: a message's earlier versions.
pub const EDITS: Table = TableDefinition::new("edits");
/// user id ‖ chat id ‖ seq → empty: messages a user deleted for themselves.
pub const HIDDEN: Table = TableDefinition::new("hidden");
/// chat id ‖ seq → `PinRecord`: a chat's pinned messages.
pub const PINS: Table = TableDefinition::new("pins");
/// upload id ‖ chat id ‖ seq → empty: the messages that name an upload. An
/// upload id ‖ `KEPT` entry keeps it for good (an avatar named it, or it
/// was named before these references were kept).
pub const UPLOAD_REFS: Table = TableDefinition::new("upload_refs");
/// chat id ‖ sender id ‖ client id → seq: idempotent sends.
pub const CLIENT_IDS: Table = TableDefinition::new("client_ids");
/// E.164 phone number → `OtpRecord`.
pub const OTPS: Table = TableDefinition::new("otps");
/// E.164 phone number → `WrongCodesRecord`: wrong codes across all its codes.
pub const WRONG_CODES: Table = TableDefinition::new("wrong_codes");
/// session id → `SessionRecord`.
pub const SESSIONS: Table = TableDefinition::new("sessions");
/// user id ‖ session id → empty: the sessions of a user.
pub const USER_SESSIONS: Table = TableDefinition::new("user_sessions");
/// SHA-256 of a refresh token → `RefreshRecord`.
pub const REFRESH_TOKENS: Table = TableDefinition::new("refresh_tokens");

/// E.164 phone number → `InviteRecord`: who may join under `REGISTRATION=invite`.
pub const INVITES: Table = TableDefinition::new("invites");

/// upload id (16 bytes) → `UploadRecord`.
pub const UPLOADS: Table = TableDefinition::new("uploads");
/// user id → `UsageRecord`: the bytes of uploads each user keeps.
pub const UPLOAD_USAGE: Table = TableDefinition::new("upload_usage");
/// upload time ‖ upload id → empty: the uploads no message or avatar has
/// named yet, oldest first. Uploads stored before this table existed are
/// not in it: never being swept is the safe side.
pub const UNNAMED_UPLOADS: Table = TableDefinition::new("unnamed_uploads");

/// viewer id ‖ user id → empty: the viewer found that user by their number.
pub const LOOKUPS: Table = TableDefinition::new("lookups");

/// user id ‖ chat id → empty: the chats the user muted.
pub const MUTES: Table = TableDefinition::new("mutes");
/// user id ‖ endpoint key → `PushSubscriptionRecord`.
pub const PUSH_SUBSCRIPTIONS: Table = TableDefinition::new("push_subscriptions");
/// session id ‖ user id ‖ endpoint key → empty: what a session subscribed.
pub const SESSION_PUSH: Table = TableDefinition::new("session_push");
/// due time ‖ job id → `PushJobRecord`: pushes to send, soonest first.
pub const PUSH_QUEUE: Table = TableDefinition::new("push_queue");
/// topic → user id, and user id → topic: each user's secret notification
/// topic (`/notify/<topic>`).
pub const NOTIFY_TOPICS: Table = TableDefinition::new("notify_topics");
pub const USER_TOPICS: Table = TableDefinition::new("user_topics");
/// chat id ‖ seq → empty: new messages the notifier has not yet handled.
/// Written in the message's own commit, so a crash right after a send
/// loses no notification.
pub const NOTIFY_INTENTS: Table = TableDefinition::new("notify_intents");

/// user id → `AdminRecord`: who administers the server.
pub const ADMINS: Table = TableDefinition::new("admins");
/// blocker id ‖ blocked id → `BlockRecord`.
pub const BLOCKS: Table = TableDefinition::new("blocks");
/// report id → `ReportRecord`: reported messages, oldest first.
pub const REPORTS: Table = TableDefinition::new("reports");
/// `"runtime"` → `SettingsRecord`: what the admin changed at run time.
pub const SETTINGS: Table = TableDefinition::new("settings");
pub const RUNTIME_SETTINGS_KEY: &[u8] = b"runtime";
/// invite code → `GroupInviteRecord`.
pub const GROUP_INVITES: Table = TableDefinition::new("group_invites");
/// chat id ‖ invite code → empty: a group's invite links.
pub const CHAT_INVITES: Table = TableDefinition::new("chat_invites");

/// term ‖ 0 ‖ chat number ‖ seq → the rest of a block of postings: the
/// search index. A term's postings, one per message it appears in, are
/// kept in (chat number, seq) order and cut into blocks of at most
/// `search::BLOCK_BYTES`, each filed under its first posting and holding
/// the others delta-encoded (`store::search`), so a posting costs a byte or
/// two. Written by the search indexer, off the send path.
pub const SEARCH_POSTINGS: Table = TableDefinition::new("search_postings");
/// chat id → chat number (u32): the short number a chat's postings carry,
/// given when the indexer first meets the chat, in order from 0.
pub const SEARCH_CHATS: Table = TableDefinition::new("search_chats");
/// Schema 3's index (one key per posting), dropped by the upgrade to 4.
pub const RETIRED_SEARCH_TERMS: Table = TableDefinition::new("search_terms");
/// chat id ‖ seq → empty: messages whose text the search index does not
/// hold yet. Written in the message's own commit (a send, an edit), so a
/// crash never leaves a message unindexed; the indexer files the message's
/// terms and removes the entry in one later commit.
pub const SEARCH_PENDING: Table = TableDefinition::new("search_pending");

/// limit name ‖ 0 ‖ key → window start (i64 millis) ‖ count (u32): request
/// windows that must hold across nodes sharing a store (`send-otp` per
/// address). A single node keeps its windows in memory instead.
pub const RATE_WINDOWS: Table = TableDefinition::new("rate_windows");

pub const ALL: &[Table] = &[
    META,
    USERS,
    USERS_BY_PHONE,
    CHATS,
    CHAT_HEADS,
    USER_CHATS,
    PRIVATE_PAIRS,
    MEMBERS,
    MESSAGES,
    CLIENT_IDS,
    OTPS,
    WRONG_CODES,
    SESSIONS,
    USER_SESSIONS,
    REFRESH_TOKENS,
    INVITES,
    UPLOADS,
    LOOKUPS,
    UPLOAD_USAGE,
    UNNAMED_UPLOADS,
    CHANGES,
    EDITS,
    HIDDEN,
    PINS,
    UPLOAD_REFS,
    MUTES,
    PUSH_SUBSCRIPTIONS,
    SESSION_PUSH,
    PUSH_QUEUE,
    NOTIFY_TOPICS,
    USER_TOPICS,
    NOTIFY_INTENTS,
    ADMINS,
    BLOCKS,
    REPORTS,
    SETTINGS,
    GROUP_INVITES,
    CHAT_INVITES,
    SEARCH_POSTINGS,
    SEARCH_CHATS,
    SEARCH_PENDING,
    RATE_WINDOWS,
];

/// `RATE_WINDOWS`' key of `key` under limit `limit`.
pub fn rate_window(limit: &str, key: &str) -> Vec<u8> {
    [limit.as_bytes(), &[0], key.as_bytes()].concat()
}

pub const SCHEMA_VERSION_KEY: &[u8] = b"schema_version";
/// In `META`: a secret every node of a PostgreSQL store shares, by name.
pub fn shared_secret(name: &str) -> Vec<u8> {
    [b"secret/".as_slice(), name.as_bytes()].concat()
}

fn join<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let mut key = [0u8; N];
    let mut at = 0;
    for part in parts {
        key[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    debug_assert_eq!(at, N, "key parts must fill the key exactly");
    key
}

pub fn user_chat(user: UserId, chat: ChatId) -> [u8; 24] {
    join(&[user.as_bytes(), chat.as_bytes()])
}

/// The same key whichever order the two users are given in.
pub fn private_pair(a: UserId, b: UserId) -> [u8; 24] {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    join(&[low.as_bytes(), high.as_bytes()])
}

pub fn member(chat: ChatId, user: UserId) -> [u8; 24] {
    join(&[chat.as_bytes(), user.as_bytes()])
}

pub fn message(chat: ChatId, seq: u64) -> [u8; 20] {
    join(&[chat.as_bytes(), &seq.to_be_bytes()])
}

pub fn change(chat: ChatId, rev: u64) -> [u8; 20] {
    join(&[chat.as_bytes(), &rev.to_be_bytes()])
}

pub fn edit(chat: ChatId, seq: u64, n: u32) -> [u8; 24] {
    join(&[chat.as_bytes(), &seq.to_be_bytes(), &n.to_be_bytes()])
}

pub fn hidden(user: UserId, chat: ChatId, seq: u64) -> [u8; 32] {
    join(&[user.as_bytes(), chat.as_bytes(), &seq.to_be_bytes()])
}

pub fn pin(chat: ChatId, seq: u64) -> [u8; 20] {
    join(&[chat.as_bytes(), &seq.to_be_bytes()])
}

/// The chat-and-seq part of an upload reference that keeps the upload for
/// good: no message has chat id zero.
pub const KEPT: [u8; 20] = [0; 20];

pub fn upload_ref(upload: &[u8; 16], chat: ChatId, seq: u64) -> [u8; 36] {
    join(&[upload, chat.as_bytes(), &seq.to_be_bytes()])
}

pub fn kept_upload(upload: &[u8; 16]) -> [u8; 36] {
    join(&[upload, &KEPT])
}

/// The u64 at `at` in a key, as `seq` or `rev` are stored.
pub fn u64_at(key: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(key.get(at..at + 8)?.try_into().ok()?))
}

pub fn client_id(chat: ChatId, sender: UserId, client_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(24 + client_id.len());
    key.extend_from_slice(chat.as_bytes());
    key.extend_from_slice(sender.as_bytes());
    key.extend_from_slice(client_id.as_bytes());
    key
}

pub fn lookup(viewer: UserId, user: UserId) -> [u8; 24] {
    join(&[viewer.as_bytes(), user.as_bytes()])
}

pub fn block(blocker: UserId, blocked: UserId) -> [u8; 24] {
    join(&[blocker.as_bytes(), blocked.as_bytes()])
}

pub fn chat_invite(chat: ChatId, code: &str) -> Vec<u8> {
    [chat.as_bytes(), code.as_bytes()].concat()
}

/// Where a term's postings begin: `term ‖ 0`. Terms never hold a NUL
/// (they are made of letters and digits), so no term's range runs into
/// another's.
pub fn search_term(term: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(term.len() + 13);
    key.extend_from_slice(term.as_bytes());
    key.push(0);
    key
}

/// A block of postings starting at (chat number, seq):
/// `term ‖ 0 ‖ chat number ‖ seq`.
pub fn search_block(term: &str, chat: u32, seq: u64) -> Vec<u8> {
    let mut key = search_term(term);
    key.extend_from_slice(&chat.to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub fn mute(user: UserId, chat: ChatId) -> [u8; 24] {
    join(&[user.as_bytes(), chat.as_bytes()])
}

pub fn push_subscription(user: UserId, endpoint_key: &[u8; 16]) -> [u8; 28] {
    join(&[user.as_bytes(), endpoint_key])
}

pub fn session_push(session: SessionId, user: UserId, endpoint_key: &[u8; 16]) -> [u8; 40] {
    join(&[session.as_bytes(), user.as_bytes(), endpoint_key])
}

pub fn push_job(due: Timestamp, id: &[u8; 16]) -> [u8; 24] {
    timed(due, id)
}

pub fn user_session(user: UserId, session: SessionId) -> [u8; 24] {
    join(&[user.as_bytes(), session.as_bytes()])
}

pub fn unnamed_upload(at: Timestamp, id: &[u8; 16]) -> [u8; 24] {
    timed(at, id)
}

/// `time ‖ id`, sorting by time. Times before 1970 sort first: none are
/// ever stored.
fn timed(at: Timestamp, id: &[u8; 16]) -> [u8; 24] {
    let millis = u64::try_from(at.millis()).unwrap_or(0);
    join(&[&millis.to_be_bytes(), id])
}

/// The time and id a `time ‖ id` key (`unnamed_upload`, `push_job`) holds.
pub fn unnamed_upload_parts(key: &[u8]) -> Option<(Timestamp, [u8; 16])> {
    let millis = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let id = key.get(8..24)?.try_into().ok()?;
    Some((Timestamp::from_millis(i64::try_from(millis).ok()?), id))
}

/// The id in the second half of a `user ‖ x` key.
pub fn second_id(key: &[u8]) -> Option<[u8; 12]> {
    key.get(12..24)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_keys_sort_by_chat_then_seq() {
        let chat = ChatId::generate();
        assert!(message(chat, 2) < message(chat, 10));
        assert!(message(chat, 255) < message(chat, 256));
    }

    #[test]
    fn unnamed_upload_keys_sort_by_time_and_read_back() {
        let (early, late) = (Timestamp::from_millis(999), Timestamp::from_millis(1000));
        assert!(unnamed_upload(early, &[255; 16]) < unnamed_upload(late, &[0; 16]));
        let key = unnamed_upload(late, &[7; 16]);
        assert_eq!(unnamed_upload_parts(&key), Some((late, [7; 16])));
    }

    #[test]
    fn a_private_pair_has_one_key_in_either_order() {
        let (a, b) = (UserId::generate(), UserId::generate());
        assert_eq!(private_pair(a, b), private_pair(b, a));
    }
}
