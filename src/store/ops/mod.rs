//! The writes the store takes: typed operations, each applied inside the
//! writer's next batch and durable when its answer arrives. An operation
//! checks what it must against the batch's current state before its first
//! write, and says what became of it in its own outcome type; a storage
//! failure fails the whole batch instead.
//!
//! Two kinds live here. Writes whose outcome only the writer can decide
//! (`SendMessage`, `MarkRead`, `CreateChat`, `AddUpload`, `SweepUploads`)
//! run their data rules in the batch: the next `seq`, `clientId`
//! idempotency, read marks that only move forward, a user's upload quota,
//! and an upload named by a message before a sweep can take it. Every other
//! change is a compare-and-set: the rules above read a snapshot, decide, and
//! send the record they read beside the one they want; `Changed` tells them
//! someone else wrote first, and they decide again.

mod accounts;
mod messages;
mod notify;
mod search;

pub use accounts::*;
pub use messages::*;
pub use notify::*;
pub use search::*;

use super::query::Query;
use super::records::{
    ChatHead, ChatRecord, InviteRecord, MemberRecord, OtpRecord, RefreshRecord, SessionRecord,
    UploadRecord, UsageRecord, UserRecord, WrongCodesRecord,
};
use super::tables;
use super::tx::Tx;
use super::{SCHEMA_VERSION, StoreError};
use crate::domain::ChatKind;
use crate::id::{ChatId, SessionId, UserId};
use crate::timestamp::Timestamp;

/// A typed write. Implemented only here, so the only code that touches a
/// transaction is the store's own.
pub trait Operation: Send + 'static {
    type Output: Send + 'static;

    #[doc(hidden)]
    fn apply(self, tx: &mut Tx<'_>) -> Result<Self::Output, StoreError>;
}

/// How often the rules decide a compare-and-set again when others keep
/// changing the record first, before they give up (`503`, try again).
pub const SWAP_ATTEMPTS: usize = 8;

/// What a compare-and-set came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap<T = ()> {
    Done(T),
    /// The record was not the one read: read again and decide again.
    Changed,
}

pub(super) fn member_of(
    tx: &Tx<'_>,
    chat: ChatId,
    user: UserId,
) -> Result<Option<ChatRecord>, StoreError> {
    Ok(tx.chat(chat)?.filter(|record| record.has_participant(user)))
}

pub(super) fn head_of(tx: &Tx<'_>, chat: &ChatRecord) -> Result<ChatHead, StoreError> {
    Ok(tx
        .chat_head(chat.id)?
        .unwrap_or(ChatHead::empty(chat.created_at)))
}

pub(super) fn read_mark_of(
    tx: &Tx<'_>,
    chat: ChatId,
    user: UserId,
) -> Result<MemberRecord, StoreError> {
    tx.member(chat, user)?
        .ok_or_else(|| StoreError::Corrupt("participant without read mark".into()))
}

/// Marks the upload `id` as named (by a message or an avatar), so it is
/// never swept; `false` when there is no such upload (any more).
pub(super) fn name_upload(tx: &Tx<'_>, id: &[u8; 16]) -> Result<bool, StoreError> {
    let Some(upload) = tx.upload_by_id(id)? else {
        return Ok(false);
    };
    tx.remove_unnamed_upload(upload.created_at, id)?;
    Ok(true)
}

/// Names an upload as an avatar: kept for good, since avatars are not
/// tracked once replaced.
fn name_avatar(tx: &Tx<'_>, id: &[u8; 16]) -> Result<(), StoreError> {
    if name_upload(tx, id)? {
        tx.keep_upload(id)?;
    }
    Ok(())
}

/// Removes an upload's record and gives its bytes back to its owner's
/// usage; its blob is the caller's to remove once this is committed.
pub(super) fn drop_upload(tx: &Tx<'_>, upload: &UploadRecord) -> Result<(), StoreError> {
    tx.remove_upload(upload)?;
    let usage = tx.upload_usage(upload.owner)?;
    let bytes = usage.bytes.saturating_sub(upload.size);
    tx.put_upload_usage(upload.owner, &UsageRecord { bytes })
}

/// A new chat; for a private chat, the one its two people have already if any.
#[derive(Debug, Clone)]
pub struct CreateChat {
    pub chat: ChatRecord,
}

#[derive(Debug, Clone)]
pub enum Created {
    New(ChatRecord),
    Existing(ChatRecord),
    UnknownUser(UserId),
}

impl Operation for CreateChat {
    type Output = Created;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Created, StoreError> {
        let chat = self.chat;
        for &user in &chat.participants {
            if tx.user(user)?.is_none() {
                return Ok(Created::UnknownUser(user));
            }
        }
        if let [a, b] = chat.participants[..]
            && chat.kind == ChatKind::Private
            && let Some(existing) = tx.private_chat_between(a, b)?
            && let Some(existing) = tx.chat(existing)?
        {
            return Ok(Created::Existing(existing));
        }
        tx.put_chat(&chat)?;
        tx.put_chat_head(chat.id, &ChatHead::empty(chat.created_at))?;
        for &user in &chat.participants {
            tx.put_member(chat.id, user, &MemberRecord::joining(chat.created_at, 0))?;
        }
        if let [a, b] = chat.participants[..]
            && chat.kind == ChatKind::Private
        {
            tx.put_private_pair(a, b, chat.id)?;
        }
        Ok(Created::New(chat))
    }
}

/// A group as the rules changed it, with the members it gained and lost.
#[derive(Debug, Clone)]
pub struct SaveGroup {
    pub read: ChatRecord,
    pub changed: ChatRecord,
    pub joined: Vec<UserId>,
    pub left: Vec<UserId>,
    /// The upload a new avatar names, if any: named from now on.
    pub names_upload: Option<[u8; 16]>,
}

impl Operation for SaveGroup {
    type Output = Swap;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Swap, StoreError> {
        if tx.chat(self.read.id)?.as_ref() != Some(&self.read) {
            return Ok(Swap::Changed);
        }
        // History before joining counts as read: a new member starts with
        // no unread backlog.
        let last_seq = head_of(tx, &self.changed)?.last_seq;
        for &user in &self.joined {
            let joined_at = self.changed.updated_at;
            tx.put_member(
                self.changed.id,
                user,
                &MemberRecord::joining(joined_at, last_seq),
            )?;
        }
        for &user in &self.left {
            tx.remove_member(self.changed.id, user)?;
        }
        if let Some(upload) = &self.names_upload {
            name_avatar(tx, upload)?;
        }
        tx.put_chat(&self.changed)?;
        Ok(Swap::Done(()))
    }
}

/// A user record as the rules changed it (profile, `lastSeen`).
#[derive(Debug, Clone)]
pub struct SaveUser {
    pub read: UserRecord,
    pub changed: UserRecord,
    /// The upload a new avatar names, if any: named from now on.
    pub names_upload: Option<[u8; 16]>,
}

impl Operation for SaveUser {
    type Output = Swap;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Swap, StoreError> {
        if tx.user(self.read.id)?.as_ref() != Some(&self.read) {
            return Ok(Swap::Changed);
        }
        if let Some(upload) = &self.names_upload {
            name_avatar(tx, upload)?;
        }
        tx.put_user(&self.changed)?;
        Ok(Swap::Done(()))
    }
}

/// A brand-new account, unless the number has one already (demo data).
#[derive(Debug, Clone)]
pub struct AddUser {
    pub user: UserRecord,
}

impl Operation for AddUser {
    /// The account that has the number now.
    type Output = UserRecord;

    fn apply(self, tx: &mut Tx<'_>) -> Result<UserRecord, StoreError> {
        if let Some(existing) = tx.user_by_phone(&self.user.phone)? {
            return Ok(existing);
        }
        create_user(tx, &self.user)?;
        Ok(self.user)
    }
}

/// Replaces a number's code record (`None` removes it), if it is still
/// the one read.
#[derive(Debug, Clone)]
pub struct SaveOtp {
    pub phone: String,
    pub read: Option<OtpRecord>,
    pub changed: Option<OtpRecord>,
}

impl Operation for SaveOtp {
    type Output = Swap;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Swap, StoreError> {
        if tx.otp(&self.phone)? != self.read {
            return Ok(Swap::Changed);
        }
        match &self.changed {
            Some(record) => tx.put_otp(&self.phone, record)?,
            None => tx.remove_otp(&self.phone)?,
        }
        Ok(Swap::Done(()))
    }
}

/// A wrong code: the code's attempts and the number's tally of wrong codes,
/// counted together so neither can be skipped, if both are still the ones
/// read.
#[derive(Debug, Clone)]
pub struct CountWrongCode {
    pub phone: String,
    pub read: OtpRecord,
    pub changed: OtpRecord,
    pub tally_read: Option<WrongCodesRecord>,
    pub tally: WrongCodesRecord,
}

impl Operation for CountWrongCode {
    type Output = Swap;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Swap, StoreError> {
        if tx.otp(&self.phone)?.as_ref() != Some(&self.read)
            || tx.wrong_codes(&self.phone)? != self.tally_read
        {
            return Ok(Swap::Changed);
        }
        tx.put_otp(&self.phone, &self.changed)?;
        tx.put_wrong_codes(&self.phone, &self.tally)?;
        Ok(Swap::Done(()))
    }
}

/// Forgets a number's wrong codes, so its codes work again before its
/// window passes (`clavox users unlock`).
#[derive(Debug, Clone)]
pub struct ForgetWrongCodes {
    pub phone: String,
}

impl Operation for ForgetWrongCodes {
    /// Whether the number had wrong codes to forget.
    type Output = bool;

    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, StoreError> {
        let had = tx.wrong_codes(&self.phone)?.is_some();
        tx.remove_wrong_codes(&self.phone)?;
        Ok(had)
    }
}

/// A login: the spent code stored, the account made if the number has none
/// (`new_user`, used only then), and a new session for the account.
#[derive(Debug, Clone)]
pub struct StartSession {
    pub phone: String,
    pub otp_read: OtpRecord,
    pub otp_spent: OtpRecord,
    pub new_user: UserRecord,
    pub session: SessionId,
    pub refresh_hash: [u8; 32],
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub enum Started {
    Session {
        user: UserRecord,
        is_new_user: bool,
        session: SessionId,
    },
    Disabled,
    /// The code changed meanwhile: judge it again.
    Changed,
}

impl Operation for StartSession {
    type Output = Started;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Started, StoreError> {
        if tx.otp(&self.phone)?.as_ref() != Some(&self.otp_read) {
            return Ok(Started::Changed);
        }
        tx.put_otp(&self.phone, &self.otp_spent)?;
        let (user, is_new_user) = match tx.user_by_phone(&self.phone)? {
            Some(user) if user.disabled => return Ok(Started::Disabled),
            Some(user) => (user, false),
            None => {
                create_user(tx, &self.new_user)?;
                (self.new_user, true)
            }
        };
        let session = SessionRecord {
            id: self.session,
            user: user.id,
            refresh_hash: self.refresh_hash,
            user_agent: self.user_agent,
            ip: self.ip,
            created_at: self.at,
            last_used_at: self.at,
            expires_at: self.expires_at,
        };
        put_session(tx, &session)?;
        Ok(Started::Session {
            user,
            is_new_user,
            session: session.id,
        })
    }
}

/// A session as `refresh` renewed it (a new refresh token), if it is still
/// the one read.
#[derive(Debug, Clone)]
pub struct RenewSession {
    pub read: SessionRecord,
    pub changed: SessionRecord,
}

impl Operation for RenewSession {
    type Output = Swap;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Swap, StoreError> {
        if tx.session(self.read.id)?.as_ref() != Some(&self.read) {
            return Ok(Swap::Changed);
        }
        put_session(tx, &self.changed)?;
        Ok(Swap::Done(()))
    }
}

/// Ends a session of `user`. Its refresh-token records stay until they
/// expire, so a late replay is still recognised, and fails.
#[derive(Debug, Clone, Copy)]
pub struct EndSession {
    pub user: UserId,
    pub session: SessionId,
}

impl Operation for EndSession {
    /// Whether `user` had that session.
    type Output = bool;

    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, StoreError> {
        match tx.session(self.session)? {
            Some(record) if record.user == self.user => {
                tx.remove_session(self.user, self.session)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Lets a number create an account under `REGISTRATION=invite`.
#[derive(Debug, Clone)]
pub struct Invite {
    pub phone: String,
    pub at: Timestamp,
}

impl Operation for Invite {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        tx.put_invite(
            &self.phone,
            &InviteRecord {
                invited_at: self.at,
            },
        )
    }
}

/// Remembers that `viewer` found `user` by looking up their number, which
/// lets the viewer see that number and the user's presence from then on.
#[derive(Debug, Clone, Copy)]
pub struct RememberLookup {
    pub viewer: UserId,
    pub user: UserId,
}

impl Operation for RememberLookup {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        tx.put_lookup(self.viewer, self.user)
    }
}

/// Describes a file that was just placed among the uploads, if its owner's
/// uploads still fit within `quota` bytes with it. Checked here, inside the
/// batch, because uploads of one user may finish at the same moment.
#[derive(Debug, Clone)]
pub struct AddUpload {
    pub upload: UploadRecord,
    pub quota: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Stored,
    /// Nothing was stored: the file would take its owner past the quota.
    OverQuota,
}

impl Operation for AddUpload {
    type Output = Added;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Added, StoreError> {
        let owner = self.upload.owner;
        let usage = tx.upload_usage(owner)?;
        if self.upload.size > usage.left(self.quota) {
            return Ok(Added::OverQuota);
        }
        tx.put_upload(&self.upload)?;
        let bytes = usage.bytes + self.upload.size;
        tx.put_upload_usage(owner, &UsageRecord { bytes })?;
        Ok(Added::Stored)
    }
}

/// Removes up to `limit` uploads that nothing ever named and that were
/// stored before `before`: their records, and their bytes from their owners'
/// usage. Their blobs are the caller's to remove once this is committed; a
/// crash in between leaves only blobs that no record names, never a record
/// (or a message) naming a missing file.
#[derive(Debug, Clone, Copy)]
pub struct SweepUploads {
    pub before: Timestamp,
    pub limit: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Swept {
    /// The ids of the uploads removed, whose blobs are to go too.
    pub removed: Vec<[u8; 16]>,
    /// Whether `limit` was reached: more may be waiting.
    pub more: bool,
}

impl Operation for SweepUploads {
    type Output = Swept;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Swept, StoreError> {
        let unnamed = tx.unnamed_uploads(self.before, self.limit)?;
        let mut swept = Swept {
            removed: Vec::with_capacity(unnamed.len()),
            more: unnamed.len() == self.limit,
        };
        for (at, id) in unnamed {
            let Some(upload) = tx.upload_by_id(&id)? else {
                tx.remove_unnamed_upload(at, &id)?;
                continue;
            };
            drop_upload(tx, &upload)?;
            swept.removed.push(id);
        }
        Ok(swept)
    }
}

/// Commits nothing: proves a write transaction can be committed now.
#[derive(Debug, Clone, Copy)]
pub struct Probe;

impl Operation for Probe {
    type Output = ();

    fn apply(self, _: &mut Tx<'_>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Counts one request of `key` against limit `limit` (`max` per `window`,
/// the window starting at its first request), for nodes that must share
/// their counts. `Err(seconds)` until the window ends when over the limit.
#[derive(Debug, Clone)]
pub struct CountRequest {
    pub limit: &'static str,
    pub key: String,
    pub window: std::time::Duration,
    pub max: u32,
    pub now: Timestamp,
}

impl Operation for CountRequest {
    type Output = Result<(), u64>;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Self::Output, StoreError> {
        let (start, count) = match tx.rate_window(self.limit, &self.key)? {
            Some((start, count)) if self.now < start.plus(self.window) => (start, count),
            _ => (self.now, 0),
        };
        if count >= self.max {
            let ends = start.plus(self.window);
            return Ok(Err(self.now.seconds_until(ends).max(1)));
        }
        tx.put_rate_window(self.limit, &self.key, start, count + 1)?;
        Ok(Ok(()))
    }
}

/// Takes back one request of `key` under limit `limit` (one that turned out
/// not to count).
#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub limit: &'static str,
    pub key: String,
}

impl Operation for RefundRequest {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        if let Some((start, count)) = tx.rate_window(self.limit, &self.key)? {
            tx.put_rate_window(self.limit, &self.key, start, count.saturating_sub(1))?;
        }
        Ok(())
    }
}

/// Forgets limit `limit`'s windows that started before `before` (ended).
#[derive(Debug, Clone)]
pub struct ForgetRateWindows {
    pub limit: &'static str,
    pub before: Timestamp,
}

impl Operation for ForgetRateWindows {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        for (key, start) in tx.rate_windows(self.limit)? {
            if start < self.before {
                tx.remove_rate_window(&key)?;
            }
        }
        Ok(())
    }
}

/// Marks a new shared store (PostgreSQL) with this build's layout, and
/// refuses one written by a newer build. (The embedded store does this in
/// its migration, before the writer starts.)
#[derive(Debug, Clone, Copy)]
pub struct AdoptSchema;

impl Operation for AdoptSchema {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let found = match tx.meta(tables::SCHEMA_VERSION_KEY)? {
            None => return tx.put_meta(tables::SCHEMA_VERSION_KEY, &SCHEMA_VERSION.to_be_bytes()),
            Some(bytes) => <[u8; 4]>::try_from(bytes.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("schema version".into()))?,
        };
        match found {
            SCHEMA_VERSION => Ok(()),
            found if found > SCHEMA_VERSION => Err(StoreError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            }),
            found => Err(StoreError::Corrupt(format!(
                "the database holds schema {found}; copy the data directory again with `clavox migrate --to postgres`"
            ))),
        }
    }
}

/// A secret every node must share (the token signing key): the one stored
/// under `name`, or else `candidate`, stored now. The first node to start
/// chooses it; the others adopt it.
#[derive(Debug, Clone)]
pub struct SharedSecret {
    pub name: &'static str,
    pub candidate: String,
}

impl Operation for SharedSecret {
    type Output = String;

    fn apply(self, tx: &mut Tx<'_>) -> Result<String, StoreError> {
        let key = tables::shared_secret(self.name);
        if let Some(stored) = tx.meta(&key)? {
            return String::from_utf8(stored)
                .map_err(|_| StoreError::Corrupt(format!("the shared {} secret", self.name)));
        }
        tx.put_meta(&key, self.candidate.as_bytes())?;
        Ok(self.candidate)
    }
}

fn put_session(tx: &Tx<'_>, session: &SessionRecord) -> Result<(), StoreError> {
    tx.put_session(session)?;
    tx.put_refresh_token(
        &session.refresh_hash,
        &RefreshRecord {
            session: session.id,
            expires_at: session.expires_at,
        },
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::MessageKind;
    use crate::store::Store;

    fn user(phone: &str) -> UserRecord {
        UserRecord::new(phone.into(), None, Timestamp::now())
    }

    pub(super) async fn chat_of_two(store: &Store) -> (ChatId, UserId, UserId) {
        let (ana, budi) = (user("+6281200000001"), user("+6281200000002"));
        for person in [&ana, &budi] {
            store
                .apply(AddUser {
                    user: person.clone(),
                })
                .await
                .unwrap();
        }
        let now = Timestamp::now();
        let chat = ChatRecord {
            id: ChatId::generate(),
            kind: ChatKind::Private,
            admins: Vec::new(),
            participants: vec![ana.id, budi.id],
            name: None,
            avatar: None,
            created_by: ana.id,
            created_at: now,
            updated_at: now,
        };
        let Created::New(chat) = store.apply(CreateChat { chat }).await.unwrap() else {
            panic!("a new pair gets a new chat");
        };
        (chat.id, ana.id, budi.id)
    }

    #[tokio::test]
    async fn a_shared_request_window_counts_refunds_and_ends() {
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let window = Duration::from_secs(60);
        let start = Timestamp::now();
        let count = |at: Timestamp| CountRequest {
            limit: "otp_sends",
            key: "192.0.2.1".into(),
            window,
            max: 2,
            now: at,
        };
        assert_eq!(store.apply(count(start)).await.unwrap(), Ok(()));
        assert_eq!(store.apply(count(start)).await.unwrap(), Ok(()));
        let later = start.plus(Duration::from_secs(15));
        assert_eq!(store.apply(count(later)).await.unwrap(), Err(45));
        store
            .apply(RefundRequest {
                limit: "otp_sends",
                key: "192.0.2.1".into(),
            })
            .await
            .unwrap();
        assert_eq!(store.apply(count(later)).await.unwrap(), Ok(()));
        assert_eq!(
            store.apply(count(start.plus(window))).await.unwrap(),
            Ok(()),
            "a new window"
        );
        store
            .apply(ForgetRateWindows {
                limit: "otp_sends",
                before: start.plus(window).plus(Duration::from_secs(1)),
            })
            .await
            .unwrap();
        assert!(
            store
                .read()
                .unwrap()
                .rate_windows("otp_sends")
                .unwrap()
                .is_empty()
        );
    }

    pub(super) fn text(chat: ChatId, sender: UserId, client_id: Option<&str>) -> SendMessage {
        SendMessage {
            chat,
            sender,
            draft: Draft {
                kind: MessageKind::Text,
                content: "halo".into(),
                metadata: None,
                upload: None,
                reply_to: None,
                mentions: Vec::new(),
                forwarded: false,
            },
            client_id: client_id.map(Into::into),
            at: Timestamp::now(),
        }
    }

    fn upload(owner: UserId, size: u64, at: Timestamp) -> AddUpload {
        AddUpload {
            upload: UploadRecord {
                id: rand::random(),
                owner,
                name: "file".into(),
                content_type: "application/octet-stream".into(),
                size,
                sha256: [0; 32],
                dimensions: None,
                created_at: at,
            },
            quota: 1000,
        }
    }

    #[tokio::test]
    async fn a_sweep_takes_only_old_uploads_nothing_named_and_sends_cannot_name_them_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (chat, ana, _) = chat_of_two(&store).await;
        let (old, now) = (Timestamp::from_millis(1_000), Timestamp::now());
        let (named, unnamed, fresh) = (
            upload(ana, 1, old),
            upload(ana, 20, old),
            upload(ana, 300, now),
        );
        let (named_id, unnamed_id) = (named.upload.id, unnamed.upload.id);
        for add in [named, unnamed, fresh] {
            assert_eq!(store.apply(add).await.unwrap(), Added::Stored);
        }
        assert_eq!(
            store.apply(upload(ana, 680, now)).await.unwrap(),
            Added::OverQuota
        );
        let naming = |id| {
            let mut send = text(chat, ana, None);
            send.draft.upload = Some(id);
            send
        };
        assert!(matches!(
            store.apply(naming(named_id)).await.unwrap(),
            Sent::Stored { .. }
        ));

        let sweep = |limit| SweepUploads {
            before: old.plus(std::time::Duration::from_millis(1)),
            limit,
        };
        let swept = store.apply(sweep(1)).await.unwrap();
        assert_eq!((swept.removed, swept.more), (vec![unnamed_id], true));
        let swept = store.apply(sweep(1)).await.unwrap();
        assert_eq!((swept.removed, swept.more), (vec![], false));
        assert_eq!(store.read().unwrap().upload_usage(ana).unwrap().bytes, 301);

        let refused = store.apply(naming(unnamed_id)).await.unwrap();
        assert!(matches!(refused, Sent::NoSuchUpload));
        assert_eq!(
            store
                .read()
                .unwrap()
                .chat_head(chat)
                .unwrap()
                .unwrap()
                .last_seq,
            1
        );
    }

    #[tokio::test]
    async fn a_compare_and_set_refuses_a_record_changed_since_it_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let read = store
            .apply(AddUser {
                user: user("+6281200000003"),
            })
            .await
            .unwrap();
        let mut first = read.clone();
        first.name = Some("Ana".into());
        let mut second = read.clone();
        second.name = Some("Budi".into());
        let save = |changed: &UserRecord| SaveUser {
            read: read.clone(),
            changed: changed.clone(),
            names_upload: None,
        };
        assert_eq!(store.apply(save(&first)).await.unwrap(), Swap::Done(()));
        assert_eq!(store.apply(save(&second)).await.unwrap(), Swap::Changed);
        let stored = store.read().unwrap().user(read.id).unwrap().unwrap();
        assert_eq!(stored.name.as_deref(), Some("Ana"));
    }

    #[tokio::test]
    async fn sends_take_the_next_seq_once_per_client_id_and_only_from_members() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (chat, ana, budi) = chat_of_two(&store).await;
        let seq = |sent: Sent| match sent {
            Sent::Stored { message, .. } | Sent::Duplicate { message, .. } => message.seq,
            _ => 0,
        };
        assert_eq!(
            seq(store.apply(text(chat, ana, Some("a"))).await.unwrap()),
            1
        );
        assert_eq!(
            seq(store.apply(text(chat, budi, Some("a"))).await.unwrap()),
            2
        );
        let again = store.apply(text(chat, ana, Some("a"))).await.unwrap();
        assert!(matches!(again, Sent::Duplicate { ref message, .. } if message.seq == 1));
        assert_eq!(seq(store.apply(text(chat, ana, None)).await.unwrap()), 3);
        let outsider = UserId::generate();
        assert!(matches!(
            store.apply(text(chat, outsider, None)).await.unwrap(),
            Sent::NotMember
        ));
    }

    #[tokio::test]
    async fn read_marks_move_forward_clamped_to_the_newest_message() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (chat, ana, budi) = chat_of_two(&store).await;
        for _ in 0..3 {
            store.apply(text(chat, ana, None)).await.unwrap();
        }
        let mark = |kind, seq| MoveMark {
            chat,
            user: budi,
            kind,
            seq,
            at: Timestamp::now(),
        };
        assert!(matches!(
            store.apply(mark(MarkKind::Received, 2)).await.unwrap(),
            Marked::Moved { seq: 2, .. }
        ));
        assert!(matches!(
            store.apply(mark(MarkKind::Read, 99)).await.unwrap(),
            Marked::Moved { seq: 3, .. }
        ));
        assert!(matches!(
            store.apply(mark(MarkKind::Read, 1)).await.unwrap(),
            Marked::Unchanged { seq: 3, .. }
        ));
        // Reading implies delivery: the delivery mark is at 3 as well.
        assert!(matches!(
            store.apply(mark(MarkKind::Received, 3)).await.unwrap(),
            Marked::Unchanged { seq: 3, .. }
        ));
    }
}
