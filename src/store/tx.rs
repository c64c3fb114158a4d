//! Writes, available only inside the writer's batch, to the operations in
//! `ops`.

use std::collections::BTreeMap;

use redb::WriteTransaction;

use super::StoreError;
use super::journal::Changes;
use super::open_tables::OpenTables;
use super::postgres::PgTxn;
use super::query::{Access, Query};
use super::records::{
    AdminRecord, BlockRecord, ChatHead, ChatRecord, EditRecord, GroupInviteRecord, InviteRecord,
    MemberRecord, MessageRecord, OtpRecord, PinRecord, PushJobRecord, PushSubscriptionRecord,
    Record, RefreshRecord, ReportRecord, SessionRecord, SettingsRecord, UploadRecord, UsageRecord,
    UserRecord, WrongCodesRecord,
};
use super::search;
use super::tables::{self, Table};
use crate::id::{ChatId, ReportId, SessionId, UserId};
use crate::timestamp::Timestamp;

/// The batch transaction, as its operations see it one after another.
pub struct Tx<'a> {
    txn: Target<'a>,
    abort: Option<StoreError>,
}

/// The batch transaction, in whichever engine holds the store.
enum Target<'a> {
    /// With where its writes are kept for the journal, unless the
    /// transaction is committed durably by itself (migrations).
    Redb(OpenTables<'a>, Option<&'a Changes>),
    Postgres(&'a PgTxn),
}

impl<'a> Tx<'a> {
    /// A transaction whose commit is durable by itself. Drop the `Tx`
    /// before committing: it holds the transaction's tables open.
    pub(super) fn new(txn: &'a WriteTransaction) -> Self {
        Self {
            txn: Target::Redb(OpenTables::new(txn), None),
            abort: None,
        }
    }

    /// A batch made durable by the journal: its writes are kept in `changes`.
    pub(super) fn journaled(txn: &'a WriteTransaction, changes: &'a Changes) -> Self {
        Self {
            txn: Target::Redb(OpenTables::new(txn), Some(changes)),
            abort: None,
        }
    }

    pub(super) fn postgres(txn: &'a PgTxn) -> Self {
        Self {
            txn: Target::Postgres(txn),
            abort: None,
        }
    }

    /// The error that must fail the batch, if the last operation raised
    /// one; the next operation starts without.
    pub(super) fn take_abort(&mut self) -> Option<StoreError> {
        self.abort.take()
    }

    pub(super) fn abort_batch(&mut self, error: StoreError) {
        self.abort.get_or_insert(error);
    }

    fn put(&self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        match &self.txn {
            Target::Redb(tables, changes) => {
                tables.with(table, |open| Ok(open.insert(key, value).map(drop)?))?;
                if let Some(changes) = changes {
                    changes.put(table, key, value);
                }
            }
            Target::Postgres(txn) => txn.put(table, key, value),
        }
        Ok(())
    }

    fn put_record(&self, table: Table, key: &[u8], record: &impl Record) -> Result<(), StoreError> {
        self.put(table, key, &record.encode())
    }

    fn delete(&self, table: Table, key: &[u8]) -> Result<(), StoreError> {
        match &self.txn {
            Target::Redb(tables, changes) => {
                tables.with(table, |open| Ok(open.remove(key).map(drop)?))?;
                if let Some(changes) = changes {
                    changes.delete(table, key);
                }
            }
            Target::Postgres(txn) => txn.delete(table, key),
        }
        Ok(())
    }

    pub fn put_rate_window(
        &self,
        limit: &str,
        key: &str,
        start: Timestamp,
        count: u32,
    ) -> Result<(), StoreError> {
        let value = [
            start.millis().to_be_bytes().as_slice(),
            &count.to_be_bytes(),
        ]
        .concat();
        self.put(
            tables::RATE_WINDOWS,
            &tables::rate_window(limit, key),
            &value,
        )
    }

    pub fn remove_rate_window(&self, key: &[u8]) -> Result<(), StoreError> {
        self.delete(tables::RATE_WINDOWS, key)
    }

    pub fn put_meta(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.put(tables::META, key, value)
    }

    /// Inserts or replaces a user, keeping the phone index in step.
    pub fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.put_record(tables::USERS, user.id.as_bytes(), user)?;
        self.put(
            tables::USERS_BY_PHONE,
            user.phone.as_bytes(),
            user.id.as_bytes(),
        )
    }

    pub fn put_chat(&self, chat: &ChatRecord) -> Result<(), StoreError> {
        self.put_record(tables::CHATS, chat.id.as_bytes(), chat)
    }

    pub fn put_chat_head(&self, chat: ChatId, head: &ChatHead) -> Result<(), StoreError> {
        self.put_record(tables::CHAT_HEADS, chat.as_bytes(), head)
    }

    pub fn put_private_pair(&self, a: UserId, b: UserId, chat: ChatId) -> Result<(), StoreError> {
        self.put(
            tables::PRIVATE_PAIRS,
            &tables::private_pair(a, b),
            chat.as_bytes(),
        )
    }

    /// Makes `user` a member of `chat`: read marks and the user's chat index.
    pub fn put_member(
        &self,
        chat: ChatId,
        user: UserId,
        member: &MemberRecord,
    ) -> Result<(), StoreError> {
        self.put_record(tables::MEMBERS, &tables::member(chat, user), member)?;
        self.put(tables::USER_CHATS, &tables::user_chat(user, chat), &[])
    }

    /// Updates a member's read marks, leaving the chat index alone.
    pub fn update_member(
        &self,
        chat: ChatId,
        user: UserId,
        member: &MemberRecord,
    ) -> Result<(), StoreError> {
        self.put_record(tables::MEMBERS, &tables::member(chat, user), member)
    }

    pub fn remove_member(&self, chat: ChatId, user: UserId) -> Result<(), StoreError> {
        self.delete(tables::MEMBERS, &tables::member(chat, user))?;
        self.delete(tables::USER_CHATS, &tables::user_chat(user, chat))
    }

    /// Stores a new message with its client-id index, its place in the
    /// change index and its reference to an upload.
    pub fn put_message(&self, message: &MessageRecord) -> Result<(), StoreError> {
        let location = tables::message(message.chat, message.seq);
        self.put_record(tables::MESSAGES, &location, message)?;
        if let Some(client_id) = &message.client_id {
            let key = tables::client_id(message.chat, message.sender, client_id);
            self.put(tables::CLIENT_IDS, &key, &message.seq.to_be_bytes())?;
        }
        if let Some(upload) = &message.upload {
            let key = tables::upload_ref(upload, message.chat, message.seq);
            self.put(tables::UPLOAD_REFS, &key, &[])?;
        }
        self.put_search_pending(message.chat, message.seq)?;
        self.put_change(message)
    }

    /// Replaces a stored message whose latest change had `old_rev`, moving
    /// it in the change index to its new `rev`. When its text changed, its
    /// old terms leave the search index at once (it is never found by what
    /// it no longer says) and the indexer files its new ones.
    pub fn rewrite_message(&self, old_rev: u64, message: &MessageRecord) -> Result<(), StoreError> {
        let location = tables::message(message.chat, message.seq);
        let before = self.message(message.chat, message.seq)?;
        self.put_record(tables::MESSAGES, &location, message)?;
        match before {
            Some(before) if search::same_document(&before, message) => {}
            before => {
                if let Some(before) = &before {
                    self.unfile_message(before)?;
                }
                self.put_search_pending(message.chat, message.seq)?;
            }
        }
        self.delete(tables::CHANGES, &tables::change(message.chat, old_rev))?;
        self.put_change(message)
    }

    /// Marks message `seq` of `chat` for the search indexer.
    pub(super) fn put_search_pending(&self, chat: ChatId, seq: u64) -> Result<(), StoreError> {
        self.put(tables::SEARCH_PENDING, &tables::message(chat, seq), &[])
    }

    pub(super) fn remove_search_pending(&self, chat: ChatId, seq: u64) -> Result<(), StoreError> {
        self.delete(tables::SEARCH_PENDING, &tables::message(chat, seq))
    }

    /// The number `chat`'s search postings carry, given now if it has none.
    pub(super) fn search_chat_number(&self, chat: ChatId) -> Result<u32, StoreError> {
        if let Some(number) = self.search_chat(chat)? {
            return Ok(number);
        }
        let number = u32::try_from(self.access().len(tables::SEARCH_CHATS)?)
            .map_err(|_| StoreError::Corrupt("too many chats in the search index".into()))?;
        self.put(tables::SEARCH_CHATS, chat.as_bytes(), &number.to_be_bytes())?;
        Ok(number)
    }

    /// Files each term's postings (sorted, without repeats) in the index.
    pub(super) fn file_postings(
        &self,
        terms: &BTreeMap<String, Vec<search::Posting>>,
    ) -> Result<(), StoreError> {
        match &self.txn {
            Target::Redb(tables, changes) => {
                search::file(&mut search::Journaled::new(tables, *changes), terms)
            }
            Target::Postgres(txn) => search::file(&mut { *txn }, terms),
        }
    }

    /// Takes `message`, as it was filed, out of the search index.
    fn unfile_message(&self, message: &MessageRecord) -> Result<(), StoreError> {
        let Some(chat) = self.search_chat(message.chat)? else {
            return Ok(());
        };
        let posting = search::Posting {
            chat,
            seq: message.seq,
        };
        let terms = search::terms_of(message);
        match &self.txn {
            Target::Redb(tables, changes) => {
                let mut postings = search::Journaled::new(tables, *changes);
                for term in terms {
                    search::unfile(&mut postings, &term, posting)?;
                }
            }
            Target::Postgres(txn) => {
                let mut txn = *txn;
                for term in terms {
                    search::unfile(&mut txn, &term, posting)?;
                }
            }
        }
        Ok(())
    }

    /// Files `message` in the change index under its `rev`. (A message
    /// upgraded from before the index existed is filed there by the
    /// migration, under the same `rev`.)
    pub(super) fn put_change(&self, message: &MessageRecord) -> Result<(), StoreError> {
        let key = tables::change(message.chat, message.rev);
        self.put(tables::CHANGES, &key, &message.seq.to_be_bytes())
    }

    pub fn put_edit(
        &self,
        chat: ChatId,
        seq: u64,
        n: u32,
        edit: &EditRecord,
    ) -> Result<(), StoreError> {
        self.put_record(tables::EDITS, &tables::edit(chat, seq, n), edit)
    }

    /// Erases a message's edit history.
    pub fn remove_edits(&self, chat: ChatId, seq: u64) -> Result<(), StoreError> {
        let prefix = tables::message(chat, seq);
        let keys: Vec<Vec<u8>> = self.access().prefixed_keys(tables::EDITS, &prefix)?;
        for key in keys {
            self.delete(tables::EDITS, &key)?;
        }
        Ok(())
    }

    pub fn put_hidden(&self, user: UserId, chat: ChatId, seq: u64) -> Result<(), StoreError> {
        self.put(tables::HIDDEN, &tables::hidden(user, chat, seq), &[])
    }

    pub fn put_pin(&self, chat: ChatId, seq: u64, pin: &PinRecord) -> Result<(), StoreError> {
        self.put_record(tables::PINS, &tables::pin(chat, seq), pin)
    }

    pub fn remove_pin(&self, chat: ChatId, seq: u64) -> Result<(), StoreError> {
        self.delete(tables::PINS, &tables::pin(chat, seq))
    }

    /// Keeps an upload for good (an avatar names it).
    pub fn keep_upload(&self, upload: &[u8; 16]) -> Result<(), StoreError> {
        self.put(tables::UPLOAD_REFS, &tables::kept_upload(upload), &[])
    }

    pub fn remove_upload_ref(
        &self,
        upload: &[u8; 16],
        chat: ChatId,
        seq: u64,
    ) -> Result<(), StoreError> {
        self.delete(tables::UPLOAD_REFS, &tables::upload_ref(upload, chat, seq))
    }

    pub fn put_otp(&self, phone: &str, otp: &OtpRecord) -> Result<(), StoreError> {
        self.put_record(tables::OTPS, phone.as_bytes(), otp)
    }

    pub fn remove_otp(&self, phone: &str) -> Result<(), StoreError> {
        self.delete(tables::OTPS, phone.as_bytes())
    }

    pub fn put_wrong_codes(&self, phone: &str, tally: &WrongCodesRecord) -> Result<(), StoreError> {
        self.put_record(tables::WRONG_CODES, phone.as_bytes(), tally)
    }

    pub fn remove_wrong_codes(&self, phone: &str) -> Result<(), StoreError> {
        self.delete(tables::WRONG_CODES, phone.as_bytes())
    }

    pub fn put_invite(&self, phone: &str, invite: &InviteRecord) -> Result<(), StoreError> {
        self.put_record(tables::INVITES, phone.as_bytes(), invite)
    }

    pub fn put_lookup(&self, viewer: UserId, user: UserId) -> Result<(), StoreError> {
        self.put(tables::LOOKUPS, &tables::lookup(viewer, user), &[])
    }

    pub fn put_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.put_record(tables::SESSIONS, session.id.as_bytes(), session)?;
        self.put(
            tables::USER_SESSIONS,
            &tables::user_session(session.user, session.id),
            &[],
        )
    }

    /// Ends a session. Its refresh-token records stay until they expire, so a
    /// late replay is still recognised, and fail because the session is gone.
    /// Also drops the push subscriptions made in the session: a signed-out
    /// browser gets no more pushes.
    pub fn remove_session(&self, user: UserId, session: SessionId) -> Result<(), StoreError> {
        self.delete(tables::SESSIONS, session.as_bytes())?;
        self.delete(tables::USER_SESSIONS, &tables::user_session(user, session))?;
        for key in self
            .access()
            .prefixed_keys(tables::SESSION_PUSH, session.as_bytes())?
        {
            self.delete(tables::SESSION_PUSH, &key)?;
            if let Some(subscription) = key.get(12..) {
                self.delete(tables::PUSH_SUBSCRIPTIONS, subscription)?;
            }
        }
        Ok(())
    }

    /// Marks message `seq` of `chat` as one to notify people about.
    pub fn put_notify_intent(&self, chat: ChatId, seq: u64) -> Result<(), StoreError> {
        self.put(tables::NOTIFY_INTENTS, &tables::message(chat, seq), &[])
    }

    pub fn remove_notify_intent(&self, chat: ChatId, seq: u64) -> Result<(), StoreError> {
        self.delete(tables::NOTIFY_INTENTS, &tables::message(chat, seq))
    }

    pub fn set_mute(&self, user: UserId, chat: ChatId, muted: bool) -> Result<(), StoreError> {
        let key = tables::mute(user, chat);
        if muted {
            self.put(tables::MUTES, &key, &[])
        } else {
            self.delete(tables::MUTES, &key)
        }
    }

    pub fn put_push_subscription(
        &self,
        key: &[u8; 16],
        subscription: &PushSubscriptionRecord,
    ) -> Result<(), StoreError> {
        let user = subscription.user;
        self.put_record(
            tables::PUSH_SUBSCRIPTIONS,
            &tables::push_subscription(user, key),
            subscription,
        )?;
        self.put(
            tables::SESSION_PUSH,
            &tables::session_push(subscription.session, user, key),
            &[],
        )
    }

    pub fn remove_push_subscription(
        &self,
        key: &[u8; 16],
        subscription: &PushSubscriptionRecord,
    ) -> Result<(), StoreError> {
        let user = subscription.user;
        self.delete(
            tables::PUSH_SUBSCRIPTIONS,
            &tables::push_subscription(user, key),
        )?;
        self.delete(
            tables::SESSION_PUSH,
            &tables::session_push(subscription.session, user, key),
        )
    }

    pub fn put_push_job(
        &self,
        due: Timestamp,
        id: &[u8; 16],
        job: &PushJobRecord,
    ) -> Result<(), StoreError> {
        self.put_record(tables::PUSH_QUEUE, &tables::push_job(due, id), job)
    }

    pub fn remove_push_job(&self, due: Timestamp, id: &[u8; 16]) -> Result<(), StoreError> {
        self.delete(tables::PUSH_QUEUE, &tables::push_job(due, id))
    }

    /// Gives `user` the notification topic `topic`, retiring their old one.
    pub fn put_topic(&self, user: UserId, topic: &[u8; 16]) -> Result<(), StoreError> {
        if let Some(old) = self.topic_of(user)? {
            self.delete(tables::NOTIFY_TOPICS, &old)?;
        }
        self.put(tables::NOTIFY_TOPICS, topic, user.as_bytes())?;
        self.put(tables::USER_TOPICS, user.as_bytes(), topic)
    }

    /// Stores a new upload, as yet named by nothing.
    pub fn put_upload(&self, upload: &UploadRecord) -> Result<(), StoreError> {
        self.put_record(tables::UPLOADS, &upload.id, upload)?;
        let unnamed = tables::unnamed_upload(upload.created_at, &upload.id);
        self.put(tables::UNNAMED_UPLOADS, &unnamed, &[])
    }

    /// Takes the upload stored at `at` off the list of those nothing names.
    pub fn remove_unnamed_upload(&self, at: Timestamp, id: &[u8; 16]) -> Result<(), StoreError> {
        self.delete(tables::UNNAMED_UPLOADS, &tables::unnamed_upload(at, id))
    }

    /// Removes an upload's record (its blob is the caller's to remove
    /// after the commit).
    pub fn remove_upload(&self, upload: &UploadRecord) -> Result<(), StoreError> {
        self.remove_unnamed_upload(upload.created_at, &upload.id)?;
        self.delete(tables::UPLOADS, &upload.id)
    }

    /// Stores `user`'s usage; none at all is no record.
    pub fn put_upload_usage(&self, user: UserId, usage: &UsageRecord) -> Result<(), StoreError> {
        if usage.bytes == 0 {
            return self.delete(tables::UPLOAD_USAGE, user.as_bytes());
        }
        self.put_record(tables::UPLOAD_USAGE, user.as_bytes(), usage)
    }

    pub fn put_refresh_token(
        &self,
        hash: &[u8; 32],
        record: &RefreshRecord,
    ) -> Result<(), StoreError> {
        self.put_record(tables::REFRESH_TOKENS, hash, record)
    }

    pub fn put_admin(&self, user: UserId, admin: &AdminRecord) -> Result<(), StoreError> {
        self.put_record(tables::ADMINS, user.as_bytes(), admin)
    }

    pub fn remove_admin(&self, user: UserId) -> Result<(), StoreError> {
        self.delete(tables::ADMINS, user.as_bytes())
    }

    pub fn put_block(
        &self,
        blocker: UserId,
        blocked: UserId,
        block: &BlockRecord,
    ) -> Result<(), StoreError> {
        self.put_record(tables::BLOCKS, &tables::block(blocker, blocked), block)
    }

    pub fn remove_block(&self, blocker: UserId, blocked: UserId) -> Result<(), StoreError> {
        self.delete(tables::BLOCKS, &tables::block(blocker, blocked))
    }

    pub fn put_report(&self, report: &ReportRecord) -> Result<(), StoreError> {
        self.put_record(tables::REPORTS, report.id.as_bytes(), report)
    }

    pub fn remove_report(&self, id: ReportId) -> Result<(), StoreError> {
        self.delete(tables::REPORTS, id.as_bytes())
    }

    pub fn put_settings(&self, settings: &SettingsRecord) -> Result<(), StoreError> {
        self.put_record(tables::SETTINGS, tables::RUNTIME_SETTINGS_KEY, settings)
    }

    /// Inserts or replaces an invite link, keeping its group's index in step.
    pub fn put_group_invite(&self, invite: &GroupInviteRecord) -> Result<(), StoreError> {
        self.put_record(tables::GROUP_INVITES, invite.code.as_bytes(), invite)?;
        self.put(
            tables::CHAT_INVITES,
            &tables::chat_invite(invite.chat, &invite.code),
            &[],
        )
    }

    pub fn remove_group_invite(&self, chat: ChatId, code: &str) -> Result<(), StoreError> {
        self.delete(tables::GROUP_INVITES, code.as_bytes())?;
        self.delete(tables::CHAT_INVITES, &tables::chat_invite(chat, code))
    }
}

impl Query for Tx<'_> {
    fn access(&self) -> Access<'_> {
        match &self.txn {
            Target::Redb(tables, _) => Access::write(tables),
            Target::Postgres(txn) => Access::postgres(txn),
        }
    }
}
