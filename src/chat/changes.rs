//! Changing stored messages: edits, deleting for everyone or for oneself,
//! reactions, pins and forwarding, and reading them back (the change feed,
//! edit histories, a chat's pins). Every change that others see takes the
//! chat's next `rev` in the writer's batch and goes out as `message_updated`
//! in commit order, so per chat it follows `new_message` in `rev` order.

use crate::bus::Event;
use crate::domain::Refusal;
use crate::error::{Error, Result};
use crate::id::{ChatId, UserId};
use crate::store::{Query, ops};
use crate::timestamp::Timestamp;

use super::messages::views_for;
use super::validate;
use super::views::{ChangesPage, EditView, MessageList, MessageView};
use super::{ChatService, chat_of};

pub const CHANGES_LIMIT_DEFAULT: usize = 100;
pub const CHANGES_LIMIT_MAX: usize = 500;

/// What a change asks for, as a client sent it.
#[derive(Debug, Clone)]
pub enum Request {
    Edit { content: Option<String> },
    Delete,
    React { emoji: String, on: bool },
    Pin { on: bool },
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Forbidden => Error::Forbidden,
            Refusal::EditWindowClosed => Error::EditWindowClosed,
            Refusal::MessageDeleted => Error::MessageDeleted,
            Refusal::TooManyReactions => Error::TooManyReactions {
                max: crate::domain::MAX_REACTIONS,
            },
            Refusal::TooManyPins => Error::TooManyPins {
                max: crate::domain::MAX_PINS,
            },
            Refusal::Blocked => Error::Blocked,
        }
    }
}

impl ChatService {
    /// Applies one change to the message `seq` of `chat` and answers the
    /// message as it now is.
    pub async fn change_message(
        &self,
        actor: UserId,
        chat: ChatId,
        seq: u64,
        request: Request,
    ) -> Result<MessageView> {
        self.submit_change(actor, chat, seq, request).await?.await
    }

    /// `change_message` in two steps, as `submit_message`: checks the
    /// request and queues the change, then returns what resolves once it
    /// is on disk. Changes queued one after another by one caller apply in
    /// that order, so a socket can have many in flight.
    pub async fn submit_change(
        &self,
        actor: UserId,
        chat: ChatId,
        seq: u64,
        request: Request,
    ) -> Result<impl Future<Output = Result<MessageView>> + Send + 'static> {
        let windows = self.inner.settings.current().windows();
        let change = match request {
            Request::Edit { content } => {
                // The content rules depend on the kind: text must not be
                // blank, a caption may be.
                let message = self.visible_message(actor, chat, seq)?;
                let content = validate::content(message.kind, content.as_deref())?;
                ops::Change::Edit { content, windows }
            }
            Request::Delete => ops::Change::Delete { windows },
            Request::React { emoji, on } => ops::Change::React {
                emoji: validate::emoji(&emoji)?,
                on,
            },
            Request::Pin { on } => ops::Change::Pin { on },
        };
        let bus = std::sync::Arc::clone(self.bus());
        let change = ops::ChangeMessage {
            chat,
            seq,
            actor,
            change,
            at: Timestamp::now(),
        };
        let changed = self
            .store()
            .submit(change, move |changed| {
                if let ops::Changed::Done { outcome, .. } = changed {
                    metrics::counter!("clavox_message_changes_total").increment(1);
                    let view = view_of(outcome);
                    let message = &outcome.message;
                    let event = Event::new("message_updated", &view).ordered(
                        message.chat,
                        message.rev,
                        message.seq,
                    );
                    bus.publish(&outcome.participants, &event);
                }
            })
            .await?;
        let service = self.clone();
        Ok(async move {
            match changed.await? {
                ops::Changed::Done {
                    outcome,
                    freed_upload,
                } => {
                    if let Some(upload) = freed_upload {
                        // The record is gone; a crash before this leaves a
                        // blob that no record names, which the sweep removes.
                        if let Err(error) = service.inner.blobs.remove(&upload).await {
                            tracing::warn!(%error, "removing a deleted message's file failed; the sweep will");
                        }
                    }
                    Ok(as_seen_by_actor(&outcome))
                }
                ops::Changed::Unchanged(outcome) => Ok(as_seen_by_actor(&outcome)),
                ops::Changed::NotFound => Err(Error::NotFound),
                ops::Changed::Refused(refusal) => Err(refusal.into()),
            }
        })
    }

    /// Deletes the message for `user` only.
    pub async fn hide_message(&self, user: UserId, chat: ChatId, seq: u64) -> Result<MessageView> {
        let hide = ops::HideMessage { chat, seq, user };
        match self.store().apply(hide).await? {
            Some(outcome) => Ok(as_seen_by_actor(&outcome)),
            None => Err(Error::NotFound),
        }
    }

    /// Sends a copy of the message into each of `into`, as `sender`.
    pub async fn forward(
        &self,
        sender: UserId,
        chat: ChatId,
        seq: u64,
        into: &[ChatId],
    ) -> Result<MessageList> {
        let into = validate::forward_targets(into)?;
        super::spend(
            &self.inner.sends,
            sender,
            u32::try_from(into.len()).unwrap_or(u32::MAX),
        )?;
        let bus = std::sync::Arc::clone(self.bus());
        let forward = ops::Forward {
            chat,
            seq,
            sender,
            into,
            at: Timestamp::now(),
        };
        let forwarded = self
            .store()
            .apply_then(forward, move |forwarded| {
                if let ops::Forwarded::Stored(copies) = forwarded {
                    for (message, participants) in copies {
                        metrics::counter!("clavox_messages_stored_total").increment(1);
                        let view = MessageView::just_sent(message, participants.len(), None);
                        let event = Event::new("new_message", &view).ordered(
                            message.chat,
                            message.rev,
                            message.seq,
                        );
                        bus.publish(participants, &event);
                    }
                }
            })
            .await?;
        match forwarded {
            ops::Forwarded::Stored(copies) => Ok(MessageList {
                messages: copies
                    .iter()
                    .map(|(message, participants)| {
                        MessageView::just_sent(message, participants.len(), None)
                    })
                    .collect(),
            }),
            ops::Forwarded::NotFound => Err(Error::NotFound),
            ops::Forwarded::Refused(refusal) => Err(refusal.into()),
        }
    }

    /// Every message of `chat` whose latest change has a `rev` above
    /// `since`, up to `limit`, in ascending `rev`.
    pub fn changes(
        &self,
        user: UserId,
        chat: ChatId,
        since: u64,
        limit: usize,
    ) -> Result<ChangesPage> {
        let reader = self.store().read()?;
        chat_of(&reader, chat, user)?;
        let rev = reader.chat_head(chat)?.map_or(0, |head| head.last_rev);
        let mut seqs = reader.changed_since(chat, since, limit + 1)?;
        let has_more = seqs.len() > limit;
        seqs.truncate(limit);
        let mut messages = Vec::with_capacity(seqs.len());
        for seq in seqs {
            let message = reader.message(chat, seq)?.ok_or_else(|| {
                Error::Internal("the change index names a missing message".into())
            })?;
            messages.push(message);
        }
        Ok(ChangesPage {
            messages: views_for(&reader, user, chat, &messages)?,
            rev,
            has_more,
        })
    }

    /// The earlier versions of an edited message, oldest first.
    pub fn edits(&self, user: UserId, chat: ChatId, seq: u64) -> Result<Vec<EditView>> {
        let reader = self.store().read()?;
        chat_of(&reader, chat, user)?;
        if reader.message(chat, seq)?.is_none() {
            return Err(Error::NotFound);
        }
        Ok(reader
            .edits(chat, seq)?
            .into_iter()
            .map(|edit| EditView {
                content: edit.content,
                edited_at: edit.written_at,
            })
            .collect())
    }

    /// A chat's pinned messages, most recently pinned first.
    pub fn pins(&self, user: UserId, chat: ChatId) -> Result<MessageList> {
        let reader = self.store().read()?;
        chat_of(&reader, chat, user)?;
        let mut pins = reader.pins(chat)?;
        pins.sort_by(|a, b| b.1.pinned_at.cmp(&a.1.pinned_at).then(b.0.cmp(&a.0)));
        let mut messages = Vec::with_capacity(pins.len());
        for (seq, _) in pins {
            if let Some(message) = reader.message(chat, seq)? {
                messages.push(message);
            }
        }
        Ok(MessageList {
            messages: views_for(&reader, user, chat, &messages)?,
        })
    }

    /// The message `seq` of a chat `user` is in.
    fn visible_message(
        &self,
        user: UserId,
        chat: ChatId,
        seq: u64,
    ) -> Result<crate::store::MessageRecord> {
        let reader = self.store().read()?;
        chat_of(&reader, chat, user)?;
        reader.message(chat, seq)?.ok_or(Error::NotFound)
    }
}

/// The changed message as the one who changed it sees it (deleted for
/// themselves or not).
fn as_seen_by_actor(outcome: &ops::Outcome) -> MessageView {
    let view = view_of(outcome);
    if outcome.hidden_for_actor {
        view.hidden_from_viewer()
    } else {
        view
    }
}

fn view_of(outcome: &ops::Outcome) -> MessageView {
    MessageView::new(&outcome.message, &outcome.members, outcome.reply.as_ref())
}
