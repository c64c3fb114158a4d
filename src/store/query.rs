//! Typed reads, shared by snapshots (`Reader`) and the writer's transaction
//! (`Tx`, which sees its own uncommitted writes).

use std::ops::Bound;

use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata};

use super::StoreError;
use super::postgres::PgTxn;
use super::records::{
    ChatHead, ChatRecord, EditRecord, GroupInviteRecord, InviteRecord, MemberRecord, MessageRecord,
    OtpRecord, PinRecord, PushJobRecord, PushSubscriptionRecord, Record, RefreshRecord,
    ReportRecord, SessionRecord, SettingsRecord, UploadRecord, UsageRecord, UserRecord,
    WrongCodesRecord,
};
use super::tables::{self, Entry, Table};
use crate::id::{ChatId, ReportId, SessionId, UserId};
use crate::timestamp::Timestamp;

/// Raw key-value pairs read from a table.
type Entries = Vec<Entry>;

/// Raw access to one transaction of either kind. Public only so `Query` can
/// name it; nothing outside `store` can make or use one.
pub struct Access<'a>(Transaction<'a>);

enum Transaction<'a> {
    Read(&'a ReadTransaction),
    Write(&'a dyn TableReads),
    Postgres(&'a PgTxn),
}

/// The reads `Access` makes of a write transaction's tables (kept open by
/// the writer for its batch, so they are reached through this rather than
/// opened per read).
pub(super) trait TableReads {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StoreError>;
    fn last(
        &self,
        table: Table,
        start: &[u8],
        end: Bound<&[u8]>,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    fn edge(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        back: bool,
    ) -> Result<Option<Entry>, StoreError>;
    fn stored_bytes(&self, table: Table) -> Result<u64, StoreError>;
    fn len(&self, table: Table) -> Result<u64, StoreError>;
}

impl<'a> Access<'a> {
    pub(super) fn read(txn: &'a ReadTransaction) -> Self {
        Self(Transaction::Read(txn))
    }

    pub(super) fn write(tables: &'a dyn TableReads) -> Self {
        Self(Transaction::Write(tables))
    }

    pub(super) fn postgres(txn: &'a PgTxn) -> Self {
        Self(Transaction::Postgres(txn))
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.0 {
            Transaction::Read(txn) => get_in(&txn.open_table(table)?, key),
            Transaction::Write(tables) => tables.get(table, key),
            Transaction::Postgres(txn) => txn.get(table, key),
        }
    }

    /// Up to `limit` entries with keys from `start` to `end`, in key order.
    fn scan(
        &self,
        table: Table,
        start: &[u8],
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Entries, StoreError> {
        match self.0 {
            Transaction::Read(txn) => scan_in(&txn.open_table(table)?, start, end, limit),
            Transaction::Write(tables) => tables.scan(table, start, end, limit),
            Transaction::Postgres(txn) => {
                txn.range(table, (Bound::Included(start), end), false, limit)
            }
        }
    }

    fn record<R: Record>(&self, table: Table, key: &[u8]) -> Result<Option<R>, StoreError> {
        self.get(table, key)?
            .map(|bytes| R::decode(&bytes))
            .transpose()
    }

    /// Every entry whose key starts with `prefix`.
    fn prefixed(&self, table: Table, prefix: &[u8]) -> Result<Entries, StoreError> {
        self.prefixed_up_to(table, prefix, usize::MAX)
    }

    /// The first `limit` entries whose key starts with `prefix`.
    fn prefixed_up_to(
        &self,
        table: Table,
        prefix: &[u8],
        limit: usize,
    ) -> Result<Entries, StoreError> {
        let end = prefix_end(prefix);
        let end = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        self.scan(table, prefix, end, limit)
    }

    /// The greatest key that starts with `prefix`, if any: one step from
    /// the end of the range, however many keys it holds.
    fn last_key_with_prefix(
        &self,
        table: Table,
        prefix: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let end = prefix_end(prefix);
        let end = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        match self.0 {
            Transaction::Read(txn) => last_in(&txn.open_table(table)?, prefix, end),
            Transaction::Write(tables) => tables.last(table, prefix, end),
            Transaction::Postgres(txn) => Ok(txn
                .range(table, (Bound::Included(prefix), end), true, 1)?
                .pop()
                .map(|(key, _)| key)),
        }
    }

    /// The bytes `table`'s entries and their tree take on disk.
    fn stored_bytes(&self, table: Table) -> Result<u64, StoreError> {
        let stats = match self.0 {
            Transaction::Read(txn) => txn.open_table(table)?.stats()?,
            Transaction::Write(tables) => return tables.stored_bytes(table),
            Transaction::Postgres(txn) => return txn.stored_bytes(table),
        };
        Ok(stats.stored_bytes() + stats.metadata_bytes())
    }

    pub(super) fn len(&self, table: Table) -> Result<u64, StoreError> {
        Ok(match self.0 {
            Transaction::Read(txn) => txn.open_table(table)?.len()?,
            Transaction::Write(tables) => tables.len(table)?,
            Transaction::Postgres(txn) => txn.len(table)?,
        })
    }

    /// The first (or, with `back`, the last) entry of a key range: one
    /// seek, however many keys the range holds.
    pub(super) fn edge_entry(
        &self,
        table: Table,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        back: bool,
    ) -> Result<Option<Entry>, StoreError> {
        match self.0 {
            Transaction::Read(txn) => edge_in(&txn.open_table(table)?, range, back),
            Transaction::Write(tables) => tables.edge(table, range, back),
            Transaction::Postgres(txn) => Ok(txn.range(table, range, back, 1)?.pop()),
        }
    }

    /// The keys that start with `prefix`.
    pub(super) fn prefixed_keys(
        &self,
        table: Table,
        prefix: &[u8],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self
            .prefixed(table, prefix)?
            .into_iter()
            .map(|(key, _)| key)
            .collect())
    }
}

pub(super) fn edge_in(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    range: (Bound<&[u8]>, Bound<&[u8]>),
    back: bool,
) -> Result<Option<Entry>, StoreError> {
    let mut entries = table.range::<&[u8]>(range)?;
    let entry = if back {
        entries.next_back()
    } else {
        entries.next()
    };
    match entry {
        Some(entry) => {
            let (key, value) = entry?;
            Ok(Some((key.value().to_vec(), value.value().to_vec())))
        }
        None => Ok(None),
    }
}

pub(super) fn get_in(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(table.get(key)?.map(|value| value.value().to_vec()))
}

pub(super) fn scan_in(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    start: &[u8],
    end: Bound<&[u8]>,
    limit: usize,
) -> Result<Entries, StoreError> {
    table
        .range::<&[u8]>((Bound::Included(start), end))?
        .take(limit)
        .map(|entry| {
            let (key, value) = entry?;
            Ok((key.value().to_vec(), value.value().to_vec()))
        })
        .collect()
}

pub(super) fn last_in(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    start: &[u8],
    end: Bound<&[u8]>,
) -> Result<Option<Vec<u8>>, StoreError> {
    match table
        .range::<&[u8]>((Bound::Included(start), end))?
        .next_back()
    {
        Some(entry) => Ok(Some(entry?.0.value().to_vec())),
        None => Ok(None),
    }
}

/// The smallest key greater than every key starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The reads the product needs, each one lookup or one range scan.
pub trait Query {
    #[doc(hidden)]
    fn access(&self) -> Access<'_>;

    /// A value of the store's own bookkeeping (`tables::META`).
    fn meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.access().get(tables::META, key)
    }

    fn user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        self.access().record(tables::USERS, id.as_bytes())
    }

    fn user_by_phone(&self, phone: &str) -> Result<Option<UserRecord>, StoreError> {
        match self
            .access()
            .get(tables::USERS_BY_PHONE, phone.as_bytes())?
        {
            Some(id) => {
                let id: [u8; 12] = id
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("phone index".into()))?;
                self.user(UserId::from_bytes(id))
            }
            None => Ok(None),
        }
    }

    /// Every user, oldest first.
    fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let access = self.access();
        access
            .prefixed(tables::USERS, &[])?
            .iter()
            .map(|(_, value)| UserRecord::decode(value))
            .collect()
    }

    fn chat(&self, id: ChatId) -> Result<Option<ChatRecord>, StoreError> {
        self.access().record(tables::CHATS, id.as_bytes())
    }

    fn chat_head(&self, id: ChatId) -> Result<Option<ChatHead>, StoreError> {
        self.access().record(tables::CHAT_HEADS, id.as_bytes())
    }

    fn chats_of(&self, user: UserId) -> Result<Vec<ChatId>, StoreError> {
        let entries = self
            .access()
            .prefixed(tables::USER_CHATS, user.as_bytes())?;
        entries
            .iter()
            .map(|(key, _)| tables::second_id(key).map(ChatId::from_bytes))
            .collect::<Option<_>>()
            .ok_or_else(|| StoreError::Corrupt("user chat index".into()))
    }

    fn private_chat_between(&self, a: UserId, b: UserId) -> Result<Option<ChatId>, StoreError> {
        match self
            .access()
            .get(tables::PRIVATE_PAIRS, &tables::private_pair(a, b))?
        {
            Some(id) => {
                let id: [u8; 12] = id
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("private pair index".into()))?;
                Ok(Some(ChatId::from_bytes(id)))
            }
            None => Ok(None),
        }
    }

    fn member(&self, chat: ChatId, user: UserId) -> Result<Option<MemberRecord>, StoreError> {
        self.access()
            .record(tables::MEMBERS, &tables::member(chat, user))
    }

    fn members(&self, chat: ChatId) -> Result<Vec<(UserId, MemberRecord)>, StoreError> {
        let entries = self.access().prefixed(tables::MEMBERS, chat.as_bytes())?;
        entries
            .iter()
            .map(|(key, value)| {
                let user = tables::second_id(key)
                    .ok_or_else(|| StoreError::Corrupt("member key".into()))?;
                Ok((UserId::from_bytes(user), MemberRecord::decode(value)?))
            })
            .collect()
    }

    fn message(&self, chat: ChatId, seq: u64) -> Result<Option<MessageRecord>, StoreError> {
        self.access()
            .record(tables::MESSAGES, &tables::message(chat, seq))
    }

    /// The messages with `first <= seq <= last`, ascending. One range scan,
    /// so its cost depends on the number returned, not on where they sit.
    fn messages(
        &self,
        chat: ChatId,
        first: u64,
        last: u64,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        if first > last {
            return Ok(Vec::new());
        }
        let start = tables::message(chat, first);
        let end = tables::message(chat, last);
        let span = usize::try_from(last - first + 1).unwrap_or(usize::MAX);
        let entries = self
            .access()
            .scan(tables::MESSAGES, &start, Bound::Included(&end), span)?;
        entries
            .iter()
            .map(|(_, value)| MessageRecord::decode(value))
            .collect()
    }

    /// The seqs of up to `limit` messages whose latest change has a `rev`
    /// above `since`, in ascending `rev`: one range scan of the change
    /// index, whatever the chat's length or `since`.
    fn changed_since(
        &self,
        chat: ChatId,
        since: u64,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let Some(from) = since.checked_add(1) else {
            return Ok(Vec::new());
        };
        let start = tables::change(chat, from);
        let end = tables::change(chat, u64::MAX);
        let entries = self
            .access()
            .scan(tables::CHANGES, &start, Bound::Included(&end), limit)?;
        entries
            .iter()
            .map(|(_, value)| {
                tables::u64_at(value, 0).ok_or_else(|| StoreError::Corrupt("change index".into()))
            })
            .collect()
    }

    /// A message's earlier versions, oldest first.
    fn edits(&self, chat: ChatId, seq: u64) -> Result<Vec<EditRecord>, StoreError> {
        let entries = self
            .access()
            .prefixed(tables::EDITS, &tables::message(chat, seq))?;
        entries
            .iter()
            .map(|(_, value)| EditRecord::decode(value))
            .collect()
    }

    /// The number the next earlier version of a message is filed under.
    fn next_edit(&self, chat: ChatId, seq: u64) -> Result<u32, StoreError> {
        let last = self
            .access()
            .last_key_with_prefix(tables::EDITS, &tables::message(chat, seq))?;
        match last {
            None => Ok(0),
            Some(key) => key
                .get(20..24)
                .and_then(|n| n.try_into().ok())
                .map(|n| u32::from_be_bytes(n).saturating_add(1))
                .ok_or_else(|| StoreError::Corrupt("edit key".into())),
        }
    }

    /// The seqs from `first` to `last` that `user` deleted for themselves.
    fn hidden_among(
        &self,
        user: UserId,
        chat: ChatId,
        first: u64,
        last: u64,
    ) -> Result<Vec<u64>, StoreError> {
        if first > last {
            return Ok(Vec::new());
        }
        let start = tables::hidden(user, chat, first);
        let end = tables::hidden(user, chat, last);
        let entries =
            self.access()
                .scan(tables::HIDDEN, &start, Bound::Included(&end), usize::MAX)?;
        entries
            .iter()
            .map(|(key, _)| {
                tables::u64_at(key, 24).ok_or_else(|| StoreError::Corrupt("hidden key".into()))
            })
            .collect()
    }

    fn is_hidden(&self, user: UserId, chat: ChatId, seq: u64) -> Result<bool, StoreError> {
        Ok(self
            .access()
            .get(tables::HIDDEN, &tables::hidden(user, chat, seq))?
            .is_some())
    }

    /// A chat's pinned messages, by seq.
    fn pins(&self, chat: ChatId) -> Result<Vec<(u64, PinRecord)>, StoreError> {
        let entries = self.access().prefixed(tables::PINS, chat.as_bytes())?;
        entries
            .iter()
            .map(|(key, value)| {
                let seq =
                    tables::u64_at(key, 12).ok_or_else(|| StoreError::Corrupt("pin key".into()))?;
                Ok((seq, PinRecord::decode(value)?))
            })
            .collect()
    }

    /// Whether any message (or an avatar) still names the upload.
    fn upload_is_named(&self, upload: &[u8; 16]) -> Result<bool, StoreError> {
        Ok(!self
            .access()
            .prefixed_up_to(tables::UPLOAD_REFS, upload, 1)?
            .is_empty())
    }

    fn seq_for_client_id(
        &self,
        chat: ChatId,
        sender: UserId,
        client_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        let key = tables::client_id(chat, sender, client_id);
        match self.access().get(tables::CLIENT_IDS, &key)? {
            Some(bytes) => {
                let bytes: [u8; 8] = bytes
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("client id index".into()))?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
            None => Ok(None),
        }
    }

    fn otp(&self, phone: &str) -> Result<Option<OtpRecord>, StoreError> {
        self.access().record(tables::OTPS, phone.as_bytes())
    }

    fn wrong_codes(&self, phone: &str) -> Result<Option<WrongCodesRecord>, StoreError> {
        self.access().record(tables::WRONG_CODES, phone.as_bytes())
    }

    fn invite(&self, phone: &str) -> Result<Option<InviteRecord>, StoreError> {
        self.access().record(tables::INVITES, phone.as_bytes())
    }

    /// Whether `viewer` once found `user` by looking up their number.
    fn found_by_lookup(&self, viewer: UserId, user: UserId) -> Result<bool, StoreError> {
        Ok(self
            .access()
            .get(tables::LOOKUPS, &tables::lookup(viewer, user))?
            .is_some())
    }

    /// Up to `limit` new messages still to notify about, as (chat, seq).
    /// The request window of `key` under limit `limit`: its start and how
    /// many requests it counted.
    fn rate_window(&self, limit: &str, key: &str) -> Result<Option<(Timestamp, u32)>, StoreError> {
        let Some(value) = self
            .access()
            .get(tables::RATE_WINDOWS, &tables::rate_window(limit, key))?
        else {
            return Ok(None);
        };
        let corrupt = || StoreError::Corrupt("rate window".into());
        let start = value
            .get(..8)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(corrupt)?;
        let count = value
            .get(8..12)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(corrupt)?;
        Ok(Some((
            Timestamp::from_millis(i64::from_be_bytes(start)),
            u32::from_be_bytes(count),
        )))
    }

    /// The keys of limit `limit`'s windows, with their starts.
    fn rate_windows(&self, limit: &str) -> Result<Vec<(Vec<u8>, Timestamp)>, StoreError> {
        let prefix = tables::rate_window(limit, "");
        self.access()
            .prefixed(tables::RATE_WINDOWS, &prefix)?
            .into_iter()
            .map(|(key, value)| {
                let start: [u8; 8] = value
                    .get(..8)
                    .and_then(|bytes| bytes.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt("rate window".into()))?;
                Ok((key, Timestamp::from_millis(i64::from_be_bytes(start))))
            })
            .collect()
    }

    fn is_notify_intent(&self, chat: ChatId, seq: u64) -> Result<bool, StoreError> {
        Ok(self
            .access()
            .get(tables::NOTIFY_INTENTS, &tables::message(chat, seq))?
            .is_some())
    }

    fn notify_intents(&self, limit: usize) -> Result<Vec<(ChatId, u64)>, StoreError> {
        self.access()
            .scan(tables::NOTIFY_INTENTS, &[], Bound::Unbounded, limit)?
            .iter()
            .map(|(key, _)| message_key(key, "notify intent key"))
            .collect()
    }

    /// Up to `limit` messages the search index does not hold yet, as
    /// (chat, seq), in key order.
    fn search_pending(&self, limit: usize) -> Result<Vec<(ChatId, u64)>, StoreError> {
        self.access()
            .scan(tables::SEARCH_PENDING, &[], Bound::Unbounded, limit)?
            .iter()
            .map(|(key, _)| message_key(key, "search pending key"))
            .collect()
    }

    /// The seqs of `chat`'s messages the search index does not hold yet.
    fn search_pending_in(&self, chat: ChatId) -> Result<Vec<u64>, StoreError> {
        self.access()
            .prefixed_keys(tables::SEARCH_PENDING, chat.as_bytes())?
            .iter()
            .map(|key| Ok(message_key(key, "search pending key")?.1))
            .collect()
    }

    /// Whether message `seq` of `chat` still waits for the search indexer.
    fn is_search_pending(&self, chat: ChatId, seq: u64) -> Result<bool, StoreError> {
        Ok(self
            .access()
            .get(tables::SEARCH_PENDING, &tables::message(chat, seq))?
            .is_some())
    }

    /// The number `chat`'s search postings carry, once the indexer has
    /// filed any of its messages.
    fn search_chat(&self, chat: ChatId) -> Result<Option<u32>, StoreError> {
        let Some(bytes) = self.access().get(tables::SEARCH_CHATS, chat.as_bytes())? else {
            return Ok(None);
        };
        let bytes: [u8; 4] = bytes
            .try_into()
            .map_err(|_| StoreError::Corrupt("search chat number".into()))?;
        Ok(Some(u32::from_be_bytes(bytes)))
    }

    /// How many messages wait for the search indexer.
    fn search_backlog(&self) -> Result<u64, StoreError> {
        self.access().len(tables::SEARCH_PENDING)
    }

    fn is_muted(&self, user: UserId, chat: ChatId) -> Result<bool, StoreError> {
        Ok(self
            .access()
            .get(tables::MUTES, &tables::mute(user, chat))?
            .is_some())
    }

    /// The user's push subscriptions with their keys.
    fn push_subscriptions(
        &self,
        user: UserId,
    ) -> Result<Vec<([u8; 16], PushSubscriptionRecord)>, StoreError> {
        self.access()
            .prefixed(tables::PUSH_SUBSCRIPTIONS, user.as_bytes())?
            .iter()
            .map(|(key, value)| {
                let endpoint_key = key
                    .get(12..28)
                    .and_then(|part| <[u8; 16]>::try_from(part).ok())
                    .ok_or_else(|| StoreError::Corrupt("push subscription key".into()))?;
                Ok((endpoint_key, PushSubscriptionRecord::decode(value)?))
            })
            .collect()
    }

    fn push_subscription(
        &self,
        user: UserId,
        endpoint_key: &[u8; 16],
    ) -> Result<Option<PushSubscriptionRecord>, StoreError> {
        self.access().record(
            tables::PUSH_SUBSCRIPTIONS,
            &tables::push_subscription(user, endpoint_key),
        )
    }

    /// Up to `limit` queued pushes due at `now` or before, soonest first,
    /// with their due times and ids.
    fn due_pushes(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Timestamp, [u8; 16], PushJobRecord)>, StoreError> {
        let end = tables::push_job(now, &[0xff; 16]);
        self.access()
            .scan(tables::PUSH_QUEUE, &[], Bound::Included(&end), limit)?
            .iter()
            .map(|(key, value)| {
                let (due, id) = tables::unnamed_upload_parts(key)
                    .ok_or_else(|| StoreError::Corrupt("push queue key".into()))?;
                Ok((due, id, PushJobRecord::decode(value)?))
            })
            .collect()
    }

    /// When the soonest queued push is due, if any is queued.
    fn next_push_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let first = self
            .access()
            .scan(tables::PUSH_QUEUE, &[], Bound::Unbounded, 1)?;
        Ok(first
            .first()
            .and_then(|(key, _)| tables::unnamed_upload_parts(key))
            .map(|(due, _)| due))
    }

    fn topic_of(&self, user: UserId) -> Result<Option<[u8; 16]>, StoreError> {
        Ok(self
            .access()
            .get(tables::USER_TOPICS, user.as_bytes())?
            .and_then(|bytes| <[u8; 16]>::try_from(bytes.as_slice()).ok()))
    }

    fn topic_owner(&self, topic: &[u8; 16]) -> Result<Option<UserId>, StoreError> {
        Ok(self
            .access()
            .get(tables::NOTIFY_TOPICS, topic)?
            .and_then(|bytes| <[u8; 12]>::try_from(bytes.as_slice()).ok())
            .map(UserId::from_bytes))
    }

    fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.access().record(tables::SESSIONS, id.as_bytes())
    }

    fn sessions_of(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        let access = self.access();
        let mut sessions = Vec::new();
        for (key, _) in access.prefixed(tables::USER_SESSIONS, user.as_bytes())? {
            let id = tables::second_id(&key)
                .ok_or_else(|| StoreError::Corrupt("session index".into()))?;
            if let Some(session) = access.record(tables::SESSIONS, &id)? {
                sessions.push(session);
            }
        }
        Ok(sessions)
    }

    /// The upload with this id (32 hex characters), if any.
    fn upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        let mut key = [0u8; 16];
        if hex::decode_to_slice(id, &mut key).is_err() {
            return Ok(None);
        }
        self.upload_by_id(&key)
    }

    fn upload_by_id(&self, id: &[u8; 16]) -> Result<Option<UploadRecord>, StoreError> {
        self.access().record(tables::UPLOADS, id)
    }

    /// Up to `limit` uploads that nothing has named and that were stored
    /// before `before`, oldest first: their times and ids.
    fn unnamed_uploads(
        &self,
        before: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Timestamp, [u8; 16])>, StoreError> {
        let end = tables::unnamed_upload(before, &[0; 16]);
        let entries =
            self.access()
                .scan(tables::UNNAMED_UPLOADS, &[], Bound::Excluded(&end), limit)?;
        entries
            .iter()
            .map(|(key, _)| tables::unnamed_upload_parts(key))
            .collect::<Option<_>>()
            .ok_or_else(|| StoreError::Corrupt("unnamed upload index".into()))
    }

    /// Every upload, oldest first.
    fn uploads(&self) -> Result<Vec<UploadRecord>, StoreError> {
        let access = self.access();
        access
            .prefixed(tables::UPLOADS, &[])?
            .iter()
            .map(|(_, value)| UploadRecord::decode(value))
            .collect()
    }

    /// The bytes of uploads `user` keeps (none yet: zero).
    fn upload_usage(&self, user: UserId) -> Result<UsageRecord, StoreError> {
        Ok(self
            .access()
            .record(tables::UPLOAD_USAGE, user.as_bytes())?
            .unwrap_or_default())
    }

    fn refresh_token(&self, hash: &[u8; 32]) -> Result<Option<RefreshRecord>, StoreError> {
        self.access().record(tables::REFRESH_TOKENS, hash)
    }

    fn is_admin(&self, user: UserId) -> Result<bool, StoreError> {
        Ok(self
            .access()
            .get(tables::ADMINS, user.as_bytes())?
            .is_some())
    }

    /// The server's admins, in id order (the order they signed up).
    fn admins(&self) -> Result<Vec<UserId>, StoreError> {
        self.access()
            .prefixed(tables::ADMINS, &[])?
            .iter()
            .map(|(key, _)| {
                let id: [u8; 12] = key
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("admin key".into()))?;
                Ok(UserId::from_bytes(id))
            })
            .collect()
    }

    /// Whether `blocker` blocks `blocked`.
    fn blocks(&self, blocker: UserId, blocked: UserId) -> Result<bool, StoreError> {
        Ok(self
            .access()
            .get(tables::BLOCKS, &tables::block(blocker, blocked))?
            .is_some())
    }

    /// Whether either of two users blocks the other.
    fn blocked_between(&self, a: UserId, b: UserId) -> Result<bool, StoreError> {
        Ok(self.blocks(a, b)? || self.blocks(b, a)?)
    }

    /// The users `blocker` blocks, in id order.
    fn blocked_by(&self, blocker: UserId) -> Result<Vec<UserId>, StoreError> {
        self.access()
            .prefixed_keys(tables::BLOCKS, blocker.as_bytes())?
            .iter()
            .map(|key| {
                tables::second_id(key)
                    .map(UserId::from_bytes)
                    .ok_or_else(|| StoreError::Corrupt("block key".into()))
            })
            .collect()
    }

    /// Up to `limit` reports after `after` (exclusive), oldest first.
    fn reports(
        &self,
        after: Option<ReportId>,
        limit: usize,
    ) -> Result<Vec<ReportRecord>, StoreError> {
        let start = after.map(|id| {
            let mut key = id.as_bytes().to_vec();
            key.push(0);
            key
        });
        self.access()
            .scan(
                tables::REPORTS,
                start.as_deref().unwrap_or(&[]),
                Bound::Unbounded,
                limit,
            )?
            .iter()
            .map(|(_, value)| ReportRecord::decode(value))
            .collect()
    }

    fn report(&self, id: ReportId) -> Result<Option<ReportRecord>, StoreError> {
        self.access().record(tables::REPORTS, id.as_bytes())
    }

    /// What the admin changed of the run-time settings.
    fn settings(&self) -> Result<SettingsRecord, StoreError> {
        Ok(self
            .access()
            .record(tables::SETTINGS, tables::RUNTIME_SETTINGS_KEY)?
            .unwrap_or_default())
    }

    fn group_invite(&self, code: &str) -> Result<Option<GroupInviteRecord>, StoreError> {
        self.access().record(tables::GROUP_INVITES, code.as_bytes())
    }

    /// A group's invite links, in code order.
    fn group_invites(&self, chat: ChatId) -> Result<Vec<GroupInviteRecord>, StoreError> {
        let access = self.access();
        let mut invites = Vec::new();
        for key in access.prefixed_keys(tables::CHAT_INVITES, chat.as_bytes())? {
            let code = std::str::from_utf8(&key[12..])
                .map_err(|_| StoreError::Corrupt("invite key".into()))?;
            if let Some(invite) = self.group_invite(code)? {
                invites.push(invite);
            }
        }
        Ok(invites)
    }

    /// How many users, chats and messages the store holds.
    fn totals(&self) -> Result<Totals, StoreError> {
        let access = self.access();
        Ok(Totals {
            users: access.len(tables::USERS)?,
            chats: access.len(tables::CHATS)?,
            messages: access.len(tables::MESSAGES)?,
            messages_bytes: access.stored_bytes(tables::MESSAGES)?,
            search_index_bytes: access.stored_bytes(tables::SEARCH_POSTINGS)?
                + access.stored_bytes(tables::SEARCH_CHATS)?,
        })
    }
}

/// A `chat id ‖ seq` key, read back.
fn message_key(key: &[u8], what: &str) -> Result<(ChatId, u64), StoreError> {
    let chat = key
        .get(..12)
        .and_then(|part| <[u8; 12]>::try_from(part).ok())
        .ok_or_else(|| StoreError::Corrupt(what.into()))?;
    let seq = tables::u64_at(key, 12).ok_or_else(|| StoreError::Corrupt(what.into()))?;
    Ok((ChatId::from_bytes(chat), seq))
}

/// What the store holds, counted (the admin's server facts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub users: u64,
    pub chats: u64,
    pub messages: u64,
    /// On disk: the messages' records, and the search index.
    pub messages_bytes: u64,
    pub search_index_bytes: u64,
}

/// A read-only snapshot of the last commit.
pub struct Reader {
    txn: Snapshot,
}

enum Snapshot {
    Redb(ReadTransaction),
    Postgres(PgTxn),
}

impl Reader {
    pub(super) fn new(txn: ReadTransaction) -> Self {
        Self {
            txn: Snapshot::Redb(txn),
        }
    }

    pub(super) fn postgres(txn: PgTxn) -> Self {
        Self {
            txn: Snapshot::Postgres(txn),
        }
    }
}

impl Query for Reader {
    fn access(&self) -> Access<'_> {
        match &self.txn {
            Snapshot::Redb(txn) => Access::read(txn),
            Snapshot::Postgres(txn) => Access::postgres(txn),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_is_the_next_key_after_the_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
        assert_eq!(prefix_end(&[255, 255]), None);
        assert_eq!(prefix_end(&[]), None);
    }

    mod properties {
        use super::super::super::tables;
        use super::prefix_end;
        use crate::id::{ChatId, UserId};
        use proptest::prelude::*;

        /// Bytes with the edges (0 and 255, where `prefix_end` carries) common.
        fn edge_byte() -> impl Strategy<Value = u8> {
            prop_oneof![Just(0u8), Just(255u8), any::<u8>()]
        }

        proptest! {
            /// `prefixed` scans from the prefix up to `prefix_end`: exactly
            /// the keys that start with the prefix lie in that range.
            #[test]
            fn the_prefix_range_holds_exactly_the_keys_with_the_prefix(
                prefix in prop::collection::vec(edge_byte(), 0..6),
                key in prop::collection::vec(edge_byte(), 0..8),
            ) {
                let end = prefix_end(&prefix);
                let in_range = key.as_slice() >= prefix.as_slice()
                    && end.as_ref().is_none_or(|end| key < *end);
                prop_assert_eq!(in_range, key.starts_with(&prefix));
            }

            /// `messages(chat, first, last)` is one scan from the key of
            /// `first` to the key of `last`: it sees that chat's messages with
            /// `first <= seq <= last` and nothing of any other chat.
            #[test]
            fn a_message_range_scan_holds_exactly_that_chats_seqs(
                chat in any::<[u8; 12]>(),
                other in any::<[u8; 12]>(),
                first in any::<u64>(),
                last in any::<u64>(),
                seq in any::<u64>(),
            ) {
                let (chat, other) = (ChatId::from_bytes(chat), ChatId::from_bytes(other));
                let (start, end) = (tables::message(chat, first), tables::message(chat, last));
                let inside = |key: [u8; 20]| start <= key && key <= end;
                prop_assert_eq!(inside(tables::message(chat, seq)), first <= seq && seq <= last);
                if other != chat {
                    prop_assert!(!inside(tables::message(other, seq)));
                }
            }

            /// The client-id index names one (chat, sender, clientId): a
            /// repeated send finds the first message, and no other sender or
            /// chat ever does.
            #[test]
            fn client_id_keys_name_one_chat_sender_and_client_id(
                a in (any::<[u8; 12]>(), any::<[u8; 12]>(), ".{1,8}"),
                b in (any::<[u8; 12]>(), any::<[u8; 12]>(), ".{1,8}"),
            ) {
                let key = |(chat, sender, client_id): &([u8; 12], [u8; 12], String)| {
                    let (chat, sender) = (ChatId::from_bytes(*chat), UserId::from_bytes(*sender));
                    tables::client_id(chat, sender, client_id)
                };
                prop_assert_eq!(key(&a) == key(&b), a == b);
            }
        }
    }
}
