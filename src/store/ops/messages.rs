//! Writes to messages: sending and forwarding, read and delivery marks,
//! deleting for oneself, and the changes that take the chat's next `rev`
//! (edits, deletions for everyone, reactions, pins). Each decides in the
//! batch, against the chat as it is now, so concurrent changes to one
//! message apply one after another and none is lost; who may make a change
//! is `domain`'s rule, applied here.

use super::{Operation, blocked_in_private, head_of, member_of, name_upload, read_mark_of};
use crate::domain::{
    ChangeWindows, ChatKind, DeliveryMark, MAX_PINS, MAX_REACTIONS, MessageKind, Refusal,
};
use crate::id::{ChatId, MessageId, UserId};
use crate::store::StoreError;
use crate::store::query::Query;
use crate::store::records::{
    ChatRecord, EditRecord, MemberRecord, MessageRecord, PinRecord, Reaction,
};
use crate::store::tx::Tx;
use crate::timestamp::Timestamp;

/// What a new message says; the writer gives it its `seq` and `rev`.
#[derive(Debug, Clone)]
pub struct Draft {
    pub kind: MessageKind,
    pub content: String,
    pub metadata: Option<String>,
    /// The upload `metadata.url` names, if any. It must still exist here,
    /// in the batch: a sweep may have removed it since it was checked.
    pub upload: Option<[u8; 16]>,
    pub reply_to: Option<u64>,
    /// Without the sender and without repeats.
    pub mentions: Vec<UserId>,
    pub forwarded: bool,
}

/// Stores `draft` at the end of `chat`: the next `seq` and `rev`, the
/// chat's head, and the sender's own-message count above their read mark.
fn append(
    tx: &Tx<'_>,
    chat: &ChatRecord,
    sender: UserId,
    draft: Draft,
    client_id: Option<String>,
    at: Timestamp,
) -> Result<MessageRecord, StoreError> {
    let mut head = head_of(tx, chat)?;
    let mut member = read_mark_of(tx, chat.id, sender)?;
    // Two sends stamped a moment apart may reach the writer in either
    // order: a message is never stamped earlier than the one before it, so
    // a chat's seq order is its time order (search pages by both).
    let at = at.max(head.last_activity);
    let message = MessageRecord {
        id: MessageId::generate(),
        chat: chat.id,
        seq: head.last_seq + 1,
        sender,
        kind: draft.kind,
        content: draft.content,
        metadata: draft.metadata,
        client_id,
        created_at: at,
        updated_at: at,
        rev: head.last_rev + 1,
        upload: draft.upload,
        reply_to: draft.reply_to,
        mentions: draft.mentions,
        forwarded: draft.forwarded,
        reactions: Vec::new(),
        pinned: false,
        edited_at: None,
        deleted_at: None,
    };
    tx.put_message(&message)?;
    tx.put_notify_intent(chat.id, message.seq)?;
    head.last_seq = message.seq;
    head.last_rev = message.rev;
    head.last_activity = at;
    tx.put_chat_head(chat.id, &head)?;
    member.mark.sent_own();
    tx.update_member(chat.id, sender, &member)?;
    Ok(message)
}

/// The message `message` answers, as it is now.
fn replied(tx: &Tx<'_>, message: &MessageRecord) -> Result<Option<MessageRecord>, StoreError> {
    match message.reply_to {
        Some(seq) => tx.message(message.chat, seq),
        None => Ok(None),
    }
}

/// A new message at the end of a chat, unless its `clientId` made one already.
#[derive(Debug, Clone)]
pub struct SendMessage {
    pub chat: ChatId,
    pub sender: UserId,
    pub draft: Draft,
    pub client_id: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
pub enum Sent {
    Stored {
        message: MessageRecord,
        participants: Vec<UserId>,
        reply: Option<MessageRecord>,
    },
    /// The message this `clientId` stored before, with the chat's marks.
    Duplicate {
        message: MessageRecord,
        members: Vec<(UserId, MemberRecord)>,
        reply: Option<MessageRecord>,
    },
    /// The sender is not in the chat (or it does not exist).
    NotMember,
    /// The upload the message names is gone: nothing was stored.
    NoSuchUpload,
    /// `replyTo` names no message of the chat.
    NoSuchReply,
    /// A mention names someone who is not in the chat.
    NotParticipant(UserId),
    /// A private chat whose two people block one another.
    Blocked,
}

impl Operation for SendMessage {
    type Output = Sent;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Sent, StoreError> {
        let Some(record) = member_of(tx, self.chat, self.sender)? else {
            return Ok(Sent::NotMember);
        };
        if let Some(client_id) = &self.client_id
            && let Some(seq) = tx.seq_for_client_id(self.chat, self.sender, client_id)?
        {
            let message = tx
                .message(self.chat, seq)?
                .ok_or_else(|| StoreError::Corrupt("client id points at no message".into()))?;
            let members = tx.members(self.chat)?;
            let reply = replied(tx, &message)?;
            return Ok(Sent::Duplicate {
                message,
                members,
                reply,
            });
        }
        if blocked_in_private(tx, &record)? {
            return Ok(Sent::Blocked);
        }
        if let Some(&outsider) = self
            .draft
            .mentions
            .iter()
            .find(|user| !record.has_participant(**user))
        {
            return Ok(Sent::NotParticipant(outsider));
        }
        let last_seq = head_of(tx, &record)?.last_seq;
        if self
            .draft
            .reply_to
            .is_some_and(|seq| seq == 0 || seq > last_seq)
        {
            return Ok(Sent::NoSuchReply);
        }
        if let Some(upload) = &self.draft.upload
            && !name_upload(tx, upload)?
        {
            return Ok(Sent::NoSuchUpload);
        }
        let message = append(
            tx,
            &record,
            self.sender,
            self.draft,
            self.client_id,
            self.at,
        )?;
        let reply = replied(tx, &message)?;
        Ok(Sent::Stored {
            message,
            participants: record.participants,
            reply,
        })
    }
}

/// A copy of one message, sent by `sender` into each of `into`.
#[derive(Debug, Clone)]
pub struct Forward {
    pub chat: ChatId,
    pub seq: u64,
    pub sender: UserId,
    /// Without repeats.
    pub into: Vec<ChatId>,
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
pub enum Forwarded {
    /// Each copy with the participants of its chat, in the order asked.
    Stored(Vec<(MessageRecord, Vec<UserId>)>),
    /// The message, or one of the chats, is not one the sender is in.
    NotFound,
    Refused(Refusal),
}

impl Operation for Forward {
    type Output = Forwarded;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Forwarded, StoreError> {
        if member_of(tx, self.chat, self.sender)?.is_none() {
            return Ok(Forwarded::NotFound);
        }
        let Some(original) = tx.message(self.chat, self.seq)? else {
            return Ok(Forwarded::NotFound);
        };
        if original.is_deleted() {
            return Ok(Forwarded::Refused(Refusal::MessageDeleted));
        }
        let mut targets = Vec::with_capacity(self.into.len());
        for &chat in &self.into {
            match member_of(tx, chat, self.sender)? {
                Some(record) if blocked_in_private(tx, &record)? => {
                    return Ok(Forwarded::Refused(Refusal::Blocked));
                }
                Some(record) => targets.push(record),
                None => return Ok(Forwarded::NotFound),
            }
        }
        // The copies share the attachment: each names the upload.
        let upload = match original.upload {
            Some(upload) if name_upload(tx, &upload)? => Some(upload),
            _ => None,
        };
        let mut copies = Vec::with_capacity(targets.len());
        for record in targets {
            let draft = Draft {
                kind: original.kind,
                content: original.content.clone(),
                metadata: original.metadata.clone(),
                upload,
                reply_to: None,
                mentions: Vec::new(),
                forwarded: true,
            };
            let copy = append(tx, &record, self.sender, draft, None, self.at)?;
            copies.push((copy, record.participants));
        }
        Ok(Forwarded::Stored(copies))
    }
}

/// Which of a member's marks to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    Read,
    Received,
}

/// Moves `user`'s read or delivery mark in `chat` up to `seq`.
#[derive(Debug, Clone, Copy)]
pub struct MoveMark {
    pub chat: ChatId,
    pub user: UserId,
    pub kind: MarkKind,
    pub seq: u64,
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
pub enum Marked {
    Moved {
        seq: u64,
        at: Timestamp,
        participants: Vec<UserId>,
    },
    /// The mark was there already (or further).
    Unchanged {
        seq: u64,
        at: Timestamp,
    },
    NotMember,
}

impl Operation for MoveMark {
    type Output = Marked;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Marked, StoreError> {
        let Some(record) = member_of(tx, self.chat, self.user)? else {
            return Ok(Marked::NotMember);
        };
        let last = head_of(tx, &record)?.last_seq;
        let mut member = read_mark_of(tx, self.chat, self.user)?;
        match self.kind {
            MarkKind::Read => {
                let Some(target) = member.mark.advanced(self.seq, last) else {
                    return Ok(Marked::Unchanged {
                        seq: member.mark.seq,
                        at: member.mark.at,
                    });
                };
                // Own messages above the new mark still must not count as
                // unread; usually the mark reaches the end and there are none.
                let own_above = if target == last {
                    0
                } else {
                    let above = tx.messages(self.chat, target + 1, last)?;
                    above
                        .iter()
                        .filter(|message| message.sender == self.user)
                        .count() as u64
                };
                member.mark.move_to(target, self.at, own_above);
            }
            MarkKind::Received => {
                let now = member.delivered_up_to();
                let target = self.seq.min(last);
                if target <= now.seq {
                    return Ok(Marked::Unchanged {
                        seq: now.seq,
                        at: now.at,
                    });
                }
                member.delivered = DeliveryMark {
                    seq: target,
                    at: self.at,
                };
            }
        }
        tx.update_member(self.chat, self.user, &member)?;
        Ok(Marked::Moved {
            seq: self.seq.min(last),
            at: self.at,
            participants: record.participants,
        })
    }
}

/// A change to a stored message, made by `actor`.
#[derive(Debug, Clone)]
pub struct ChangeMessage {
    pub chat: ChatId,
    pub seq: u64,
    pub actor: UserId,
    pub change: Change,
    pub at: Timestamp,
}

#[derive(Debug, Clone)]
pub enum Change {
    /// New text (an attachment's caption), already checked.
    Edit {
        content: String,
        windows: ChangeWindows,
    },
    /// For everyone.
    Delete {
        windows: ChangeWindows,
    },
    /// One emoji grapheme cluster, already checked.
    React {
        emoji: String,
        on: bool,
    },
    Pin {
        on: bool,
    },
}

/// A message as a change left it, with what its view needs.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub message: MessageRecord,
    /// Whether the one who made the change deleted it for themselves.
    pub hidden_for_actor: bool,
    pub participants: Vec<UserId>,
    pub members: Vec<(UserId, MemberRecord)>,
    pub reply: Option<MessageRecord>,
}

#[derive(Debug, Clone)]
pub enum Changed {
    /// The change took the chat's next `rev`.
    Done {
        outcome: Outcome,
        /// An upload nothing names any more: its record is gone, and its
        /// blob is the caller's to remove.
        freed_upload: Option<[u8; 16]>,
    },
    /// It was so already (a reaction that is there, a repeated delete):
    /// no `rev`.
    Unchanged(Outcome),
    /// No such message in a chat the actor is in.
    NotFound,
    Refused(Refusal),
}

impl Operation for ChangeMessage {
    type Output = Changed;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Changed, StoreError> {
        let Some(chat) = member_of(tx, self.chat, self.actor)? else {
            return Ok(Changed::NotFound);
        };
        let Some(mut message) = tx.message(self.chat, self.seq)? else {
            return Ok(Changed::NotFound);
        };
        let actor = self.actor;
        let outcome = |tx: &Tx<'_>, message: MessageRecord| -> Result<Outcome, StoreError> {
            Ok(Outcome {
                hidden_for_actor: tx.is_hidden(actor, message.chat, message.seq)?,
                members: tx.members(message.chat)?,
                reply: replied(tx, &message)?,
                participants: chat.participants.clone(),
                message,
            })
        };
        let deleted = message.is_deleted();
        if deleted && matches!(self.change, Change::Delete { .. }) {
            return Ok(Changed::Unchanged(outcome(tx, message)?));
        }
        if deleted {
            return Ok(Changed::Refused(Refusal::MessageDeleted));
        }
        let mut freed_upload = None;
        let applied = match self.change {
            Change::Edit { content, windows } => {
                edit(tx, &mut message, self.actor, content, windows, self.at)?
            }
            Change::Delete { windows } => {
                let admin = chat.kind == ChatKind::Group && chat.is_admin(self.actor);
                match windows.may_delete(
                    message.sender,
                    self.actor,
                    admin,
                    message.created_at,
                    self.at,
                ) {
                    Ok(()) => {
                        freed_upload = erase(tx, &mut message, self.at)?;
                        Ok(true)
                    }
                    Err(refusal) => Err(refusal),
                }
            }
            Change::React { emoji, on } => react(&mut message, self.actor, emoji, on),
            Change::Pin { on } => pin(tx, &chat, &mut message, self.actor, on, self.at)?,
        };
        let changed = match applied {
            Ok(changed) => changed,
            Err(refusal) => return Ok(Changed::Refused(refusal)),
        };
        if !changed {
            return Ok(Changed::Unchanged(outcome(tx, message)?));
        }
        let mut head = head_of(tx, &chat)?;
        let old_rev = message.rev;
        head.last_rev += 1;
        message.rev = head.last_rev;
        message.updated_at = self.at;
        tx.rewrite_message(old_rev, &message)?;
        tx.put_chat_head(chat.id, &head)?;
        Ok(Changed::Done {
            outcome: outcome(tx, message)?,
            freed_upload,
        })
    }
}

/// Replaces the text, keeping the version it replaces in the history.
fn edit(
    tx: &Tx<'_>,
    message: &mut MessageRecord,
    actor: UserId,
    content: String,
    windows: ChangeWindows,
    at: Timestamp,
) -> Result<Result<bool, Refusal>, StoreError> {
    if let Err(refusal) = windows.may_edit(message.sender, actor, message.created_at, at) {
        return Ok(Err(refusal));
    }
    if content == message.content {
        return Ok(Ok(false));
    }
    let n = tx.next_edit(message.chat, message.seq)?;
    let earlier = EditRecord {
        content: std::mem::replace(&mut message.content, content),
        written_at: message.edited_at.unwrap_or(message.created_at),
    };
    tx.put_edit(message.chat, message.seq, n, &earlier)?;
    message.edited_at = Some(at);
    Ok(Ok(true))
}

/// Deletes for everyone: the message keeps its place as a tombstone, and
/// everything it said goes from the database (edit history, reactions,
/// mentions, its pin). Its upload goes too when nothing else names it; the
/// id returned is the blob to remove.
fn erase(
    tx: &Tx<'_>,
    message: &mut MessageRecord,
    at: Timestamp,
) -> Result<Option<[u8; 16]>, StoreError> {
    tx.remove_edits(message.chat, message.seq)?;
    if message.pinned {
        tx.remove_pin(message.chat, message.seq)?;
    }
    let mut freed = None;
    if let Some(upload) = message.upload.take() {
        tx.remove_upload_ref(&upload, message.chat, message.seq)?;
        if !tx.upload_is_named(&upload)?
            && let Some(record) = tx.upload_by_id(&upload)?
        {
            super::drop_upload(tx, &record)?;
            freed = Some(upload);
        }
    }
    message.content.clear();
    message.metadata = None;
    message.mentions.clear();
    message.reactions.clear();
    message.pinned = false;
    message.edited_at = None;
    message.deleted_at = Some(at);
    Ok(freed)
}

/// Adds or takes back `actor`'s `emoji`; `false` when it was so already.
fn react(
    message: &mut MessageRecord,
    actor: UserId,
    emoji: String,
    on: bool,
) -> Result<bool, Refusal> {
    let existing = message
        .reactions
        .iter()
        .position(|reaction| reaction.emoji == emoji);
    match (existing, on) {
        (Some(at), true) => {
            let users = &mut message.reactions[at].users;
            if users.contains(&actor) {
                return Ok(false);
            }
            users.push(actor);
        }
        (None, true) => {
            if message.reactions.len() >= MAX_REACTIONS {
                return Err(Refusal::TooManyReactions);
            }
            message.reactions.push(Reaction {
                emoji,
                users: vec![actor],
            });
        }
        (Some(at), false) => {
            let users = &mut message.reactions[at].users;
            let Some(mine) = users.iter().position(|user| *user == actor) else {
                return Ok(false);
            };
            users.remove(mine);
            if users.is_empty() {
                message.reactions.remove(at);
            }
        }
        (None, false) => return Ok(false),
    }
    Ok(true)
}

/// Pins or unpins; `false` when it was so already.
fn pin(
    tx: &Tx<'_>,
    chat: &ChatRecord,
    message: &mut MessageRecord,
    actor: UserId,
    on: bool,
    at: Timestamp,
) -> Result<Result<bool, Refusal>, StoreError> {
    if let Err(refusal) = crate::domain::may_pin(chat.kind, chat.is_admin(actor)) {
        return Ok(Err(refusal));
    }
    if message.pinned == on {
        return Ok(Ok(false));
    }
    if on {
        if tx.pins(chat.id)?.len() >= MAX_PINS {
            return Ok(Err(Refusal::TooManyPins));
        }
        tx.put_pin(
            chat.id,
            message.seq,
            &PinRecord {
                pinned_at: at,
                by: actor,
            },
        )?;
    } else {
        tx.remove_pin(chat.id, message.seq)?;
    }
    message.pinned = on;
    Ok(Ok(true))
}

/// Deletes a message for `user` only: others see no change, and no `rev`
/// moves.
#[derive(Debug, Clone, Copy)]
pub struct HideMessage {
    pub chat: ChatId,
    pub seq: u64,
    pub user: UserId,
}

impl Operation for HideMessage {
    /// The message as it is for everyone; `None` when there is no such
    /// message in a chat the user is in.
    type Output = Option<Outcome>;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Option<Outcome>, StoreError> {
        let Some(chat) = member_of(tx, self.chat, self.user)? else {
            return Ok(None);
        };
        let Some(message) = tx.message(self.chat, self.seq)? else {
            return Ok(None);
        };
        tx.put_hidden(self.user, self.chat, self.seq)?;
        Ok(Some(Outcome {
            hidden_for_actor: true,
            members: tx.members(self.chat)?,
            reply: replied(tx, &message)?,
            participants: chat.participants,
            message,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::super::tests::text;
    use super::super::{AddUser, CreateChat, Created};
    use super::*;
    use crate::store::{Store, UserRecord};

    const OPEN: ChangeWindows = ChangeWindows {
        edit: None,
        delete: None,
    };

    /// One step of one writer: who (0-2), what, and on which message
    /// (an index into the messages sent so far).
    #[derive(Debug, Clone)]
    enum Step {
        Send(usize),
        Edit(usize, usize),
        Delete(usize, usize),
        React(usize, usize, usize, bool),
        Pin(usize, usize, bool),
        Hide(usize, usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        let who = 0..3usize;
        let at = 0..40usize;
        prop_oneof![
            3 => who.clone().prop_map(Step::Send),
            2 => (who.clone(), at.clone()).prop_map(|(w, m)| Step::Edit(w, m)),
            1 => (who.clone(), at.clone()).prop_map(|(w, m)| Step::Delete(w, m)),
            3 => (who.clone(), at.clone(), 0..3usize, any::<bool>())
                .prop_map(|(w, m, e, on)| Step::React(w, m, e, on)),
            1 => (who.clone(), at.clone(), any::<bool>()).prop_map(|(w, m, on)| Step::Pin(w, m, on)),
            1 => (who, at).prop_map(|(w, m)| Step::Hide(w, m)),
        ]
    }

    async fn group_of_three(store: &Store) -> (ChatId, Vec<UserId>) {
        let mut people = Vec::new();
        for n in 0..3 {
            let user = UserRecord::new(format!("+62812000001{n}"), None, Timestamp::now());
            people.push(store.apply(AddUser { user }).await.unwrap().id);
        }
        let now = Timestamp::now();
        let chat = ChatRecord {
            id: ChatId::generate(),
            kind: ChatKind::Group,
            participants: people.clone(),
            admins: vec![people[0]],
            name: Some("rev".into()),
            avatar: None,
            created_by: people[0],
            created_at: now,
            updated_at: now,
        };
        let Created::New(chat) = store.apply(CreateChat { chat }).await.unwrap() else {
            panic!("a new group");
        };
        (chat.id, people)
    }

    /// Applies one step; the `rev` it took, if it took one.
    async fn run(
        store: &Store,
        chat: ChatId,
        people: &[UserId],
        sent: u64,
        step: Step,
    ) -> Option<u64> {
        let seq = |index: usize| (index as u64 % sent.max(1)) + 1;
        let change = |who: usize, index: usize, change: Change| ChangeMessage {
            chat,
            seq: seq(index),
            actor: people[who],
            change,
            at: Timestamp::now(),
        };
        let changed = match step {
            Step::Send(who) => {
                return match store.apply(text(chat, people[who], None)).await.unwrap() {
                    Sent::Stored { message, .. } => Some(message.rev),
                    other => panic!("a member's send is stored: {other:?}"),
                };
            }
            Step::Hide(who, index) => {
                store
                    .apply(HideMessage {
                        chat,
                        seq: seq(index),
                        user: people[who],
                    })
                    .await
                    .unwrap();
                return None;
            }
            Step::Edit(who, index) => change(
                who,
                index,
                Change::Edit {
                    content: format!("edit {who} {index}"),
                    windows: OPEN,
                },
            ),
            Step::Delete(who, index) => change(who, index, Change::Delete { windows: OPEN }),
            Step::React(who, index, emoji, on) => change(
                who,
                index,
                Change::React {
                    emoji: ["👍", "❤️", "🇮🇩"][emoji].into(),
                    on,
                },
            ),
            Step::Pin(who, index, on) => change(who, index, Change::Pin { on }),
        };
        match store.apply(changed).await.unwrap() {
            Changed::Done { outcome, .. } => Some(outcome.message.rev),
            Changed::Unchanged(_) | Changed::Refused(_) | Changed::NotFound => None,
        }
    }

    /// A client's copy of the chat: what it learnt from the change feed.
    async fn catch_up(
        store: &Store,
        chat: ChatId,
        copy: &mut BTreeMap<u64, MessageRecord>,
        seen: &mut u64,
    ) {
        loop {
            let reader = store.read().unwrap();
            // Small pages, so paging is exercised too.
            let seqs = reader.changed_since(chat, *seen, 3).unwrap();
            if seqs.is_empty() {
                return;
            }
            for seq in seqs {
                let message = reader.message(chat, seq).unwrap().unwrap();
                assert!(message.rev > *seen, "the feed goes forward in rev");
                *seen = message.rev;
                copy.insert(seq, message);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Whatever sends, edits, deletions, reactions and pins several
        /// writers make at once, the chat's `rev`s are 1, 2, 3, ... with no
        /// gap or repeat, and a client that follows the change feed (with
        /// catch-ups at any moment) ends with exactly the stored state.
        #[test]
        fn revs_are_gapless_and_the_change_feed_rebuilds_every_message(
            rounds in prop::collection::vec(prop::collection::vec(step(), 1..6), 1..10),
        ) {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(dir.path()).unwrap();
                let (chat, people) = group_of_three(&store).await;
                store.apply(text(chat, people[0], None)).await.unwrap();
                let mut revs = vec![1];
                let (mut copy, mut seen) = (BTreeMap::new(), 0);
                for round in rounds {
                    let sent = store.read().unwrap().chat_head(chat).unwrap().unwrap().last_seq;
                    // One round's steps run at once, as several writers would.
                    let taken = futures_util::future::join_all(
                        round.into_iter().map(|step| run(&store, chat, &people, sent, step)),
                    )
                    .await;
                    revs.extend(taken.into_iter().flatten());
                    catch_up(&store, chat, &mut copy, &mut seen).await;
                }
                revs.sort_unstable();
                let head = store.read().unwrap().chat_head(chat).unwrap().unwrap();
                assert_eq!(revs, (1..=head.last_rev).collect::<Vec<_>>());
                assert_eq!(seen, head.last_rev);
                let stored: BTreeMap<u64, MessageRecord> = store
                    .read()
                    .unwrap()
                    .messages(chat, 1, head.last_seq)
                    .unwrap()
                    .into_iter()
                    .map(|message| (message.seq, message))
                    .collect();
                assert_eq!(copy, stored);
                for message in stored.values().filter(|message| message.is_deleted()) {
                    assert!(message.content.is_empty() && message.reactions.is_empty());
                    assert!(store.read().unwrap().edits(chat, message.seq).unwrap().is_empty());
                }
                store.close().await;
            });
        }
    }

    #[tokio::test]
    async fn a_message_stamped_before_the_one_ahead_of_it_takes_that_ones_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (chat, people) = group_of_three(&store).await;
        let later = Timestamp::from_millis(Timestamp::now().millis() + 60_000);
        let mut sends = Vec::new();
        for at in [later, Timestamp::now()] {
            let mut send = text(chat, people[0], None);
            send.at = at;
            let Sent::Stored { message, .. } = store.apply(send).await.unwrap() else {
                panic!("stored");
            };
            sends.push(message.created_at);
        }
        // Reaching the writer second, the earlier stamp is moved up: a
        // chat's seq order stays its time order.
        assert_eq!(sends, [later, later]);
        store.close().await;
    }

    #[tokio::test]
    async fn a_deleted_message_frees_its_upload_only_when_nothing_else_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (chat, people) = group_of_three(&store).await;
        let upload = crate::store::UploadRecord {
            id: [9; 16],
            owner: people[0],
            name: "photo.png".into(),
            content_type: "image/png".into(),
            size: 10,
            sha256: [0; 32],
            dimensions: None,
            created_at: Timestamp::now(),
        };
        store
            .apply(super::super::AddUpload { upload, quota: 100 })
            .await
            .unwrap();
        let mut send = text(chat, people[0], None);
        send.draft.upload = Some([9; 16]);
        store.apply(send).await.unwrap();
        let forward = Forward {
            chat,
            seq: 1,
            sender: people[1],
            into: vec![chat],
            at: Timestamp::now(),
        };
        assert!(
            matches!(store.apply(forward).await.unwrap(), Forwarded::Stored(ref copies) if copies[0].0.forwarded)
        );
        let delete = |seq, actor| ChangeMessage {
            chat,
            seq,
            actor,
            change: Change::Delete { windows: OPEN },
            at: Timestamp::now(),
        };
        let Changed::Done { freed_upload, .. } = store.apply(delete(1, people[0])).await.unwrap()
        else {
            panic!("the sender deletes");
        };
        assert_eq!(freed_upload, None, "the forwarded copy still names it");
        assert!(
            store
                .read()
                .unwrap()
                .upload_by_id(&[9; 16])
                .unwrap()
                .is_some()
        );
        let Changed::Done { freed_upload, .. } = store.apply(delete(2, people[1])).await.unwrap()
        else {
            panic!("the forwarder deletes their copy");
        };
        assert_eq!(freed_upload, Some([9; 16]));
        assert!(
            store
                .read()
                .unwrap()
                .upload_by_id(&[9; 16])
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.read().unwrap().upload_usage(people[0]).unwrap().bytes,
            0
        );
        // Deleting again changes nothing; other changes are refused.
        assert!(matches!(
            store.apply(delete(2, people[1])).await.unwrap(),
            Changed::Unchanged(_)
        ));
        let react = ChangeMessage {
            change: Change::React {
                emoji: "👍".into(),
                on: true,
            },
            ..delete(2, people[1])
        };
        assert!(matches!(
            store.apply(react).await.unwrap(),
            Changed::Refused(Refusal::MessageDeleted)
        ));
    }
}
