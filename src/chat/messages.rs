//! Sending messages, reading pages of them, and read marks.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::bus::Event;
use crate::domain::MessageKind;
use crate::error::{Error, Result};
use crate::id::{ChatId, UserId};
use crate::store::{MessageRecord, Query, ops};
use crate::timestamp::Timestamp;

use super::validate::{self, AllValid};
use super::views::{DeliveryMarkView, MessagePage, MessageView, ReadMarkView};
use super::{ChatService, chat_of};

/// `POST /api/chats/:id/messages` and the socket's `send_message`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewMessage {
    pub content: Option<String>,
    /// `text` (the default), `image`, `file` or `voice`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub client_id: Option<String>,
    /// The `seq` of the message of this chat that this one answers.
    pub reply_to: Option<u64>,
    /// Participants this message mentions (at most 50).
    #[schema(value_type = Option<Vec<String>>)]
    pub mentions: Option<Vec<UserId>>,
}

/// A message whose every field passed its rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMessage {
    pub kind: MessageKind,
    pub content: String,
    /// Compact JSON.
    pub metadata: Option<String>,
    pub client_id: Option<String>,
    /// The upload the metadata names, if any.
    pub upload: Option<[u8; 16]>,
    pub reply_to: Option<u64>,
    pub mentions: Vec<UserId>,
}

impl ValidMessage {
    /// Checks every field of `input`; `find_upload` describes an upload the
    /// metadata points at.
    pub fn parse(
        sender: UserId,
        input: &NewMessage,
        find_upload: impl Fn(&str) -> Option<validate::UploadFacts>,
    ) -> Result<Self> {
        let kind = validate::message_kind(input.kind.as_deref());
        // Content and metadata are judged by the kind: only a valid kind
        // gets them checked.
        let judged = kind.and_then(|kind| {
            let content = validate::content(kind, input.content.as_deref());
            let metadata = validate::metadata(kind, input.metadata.as_ref(), find_upload);
            (Ok(kind), content, metadata).all_valid()
        });
        let client_id = validate::client_id(input.client_id.as_deref());
        let mentions = validate::mentions(sender, input.mentions.as_deref());
        let ((kind, content, metadata), client_id, mentions) =
            (judged, client_id, mentions).all_valid()?;
        Ok(Self {
            kind,
            content,
            metadata,
            client_id,
            upload: validate::attached_upload(input.metadata.as_ref()),
            reply_to: input.reply_to,
            mentions,
        })
    }
}

/// Whether a send stored a new message or found the one its `clientId` made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Stored,
    Duplicate,
}

pub const PAGE_LIMIT_DEFAULT: u64 = 20;
pub const PAGE_LIMIT_MAX: u64 = 100;

/// Which messages a read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageQuery {
    /// Page 1 holds the newest `limit` messages.
    Page { page: u64, limit: u64 },
    /// Up to `limit` messages just below `seq`.
    Before { seq: u64, limit: u64 },
    /// Up to `limit` messages just above `seq`, oldest first.
    After { seq: u64, limit: u64 },
}

impl MessageQuery {
    /// Reads the query string's `page`, `limit`, `before` and `after`.
    pub fn parse(
        page: Option<&str>,
        limit: Option<&str>,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Result<Self> {
        let number = |field: &str, text: Option<&str>, min: u64, max: u64| -> Result<Option<u64>> {
            let Some(text) = text else { return Ok(None) };
            match text.parse::<u64>() {
                Ok(value) if (min..=max).contains(&value) => Ok(Some(value)),
                _ if max == u64::MAX => Err(Error::validation(
                    field,
                    format!("must be a whole number from {min}"),
                )),
                _ => Err(Error::validation(
                    field,
                    format!("must be a whole number from {min} to {max}"),
                )),
            }
        };
        let cursors = usize::from(page.is_some())
            + usize::from(before.is_some())
            + usize::from(after.is_some());
        let one_cursor = if cursors > 1 {
            Err(Error::validation(
                "page",
                "use one of page, before and after",
            ))
        } else {
            Ok(())
        };
        let (page, limit, (before, after), ()) = (
            number("page", page, 1, u64::MAX),
            number("limit", limit, 1, PAGE_LIMIT_MAX),
            (
                number("before", before, 0, u64::MAX),
                number("after", after, 0, u64::MAX),
            )
                .all_valid(),
            one_cursor,
        )
            .all_valid()?;
        let limit = limit.unwrap_or(PAGE_LIMIT_DEFAULT);
        Ok(match (before, after) {
            (Some(seq), _) => Self::Before { seq, limit },
            (_, Some(seq)) => Self::After { seq, limit },
            _ => Self::Page {
                page: page.unwrap_or(1),
                limit,
            },
        })
    }

    /// The inclusive `seq` range to read from a chat whose newest message is
    /// `last`, and whether more lie beyond it. Seqs have no gaps, so this is
    /// arithmetic: the read costs the same on page 1 and page 45,000.
    fn range(self, last: u64) -> (u64, u64, bool) {
        match self {
            Self::Page { page, limit } => {
                let skipped = (page - 1).saturating_mul(limit);
                if skipped >= last {
                    return (1, 0, false);
                }
                let high = last - skipped;
                let low = high.saturating_sub(limit - 1).max(1);
                (low, high, low > 1)
            }
            Self::Before { seq, limit } => {
                let high = seq.saturating_sub(1).min(last);
                if high == 0 {
                    return (1, 0, false);
                }
                let low = high.saturating_sub(limit - 1).max(1);
                (low, high, low > 1)
            }
            Self::After { seq, limit } => {
                let low = seq.saturating_add(1);
                let high = seq.saturating_add(limit).min(last);
                (low, high, high < last)
            }
        }
    }

    fn limit(self) -> u64 {
        match self {
            Self::Page { limit, .. } | Self::Before { limit, .. } | Self::After { limit, .. } => {
                limit
            }
        }
    }
}

impl ChatService {
    pub fn messages(&self, user: UserId, chat: ChatId, query: MessageQuery) -> Result<MessagePage> {
        let reader = self.store().read()?;
        chat_of(&reader, chat, user)?;
        let last = reader.chat_head(chat)?.map_or(0, |head| head.last_seq);
        let (low, high, has_more) = query.range(last);
        let messages = reader.messages(chat, low, high)?;
        let messages = views_for(&reader, user, chat, &messages)?;
        let page = match query {
            MessageQuery::Page { page, .. } => Some(page),
            _ => None,
        };
        Ok(MessagePage {
            messages,
            page,
            limit: query.limit(),
            has_more,
        })
    }

    /// Stores a message and returns it once it is on disk. A repeated
    /// `clientId` from the same sender in the same chat returns the first
    /// message instead of storing a second.
    pub async fn send_message(
        &self,
        sender: UserId,
        chat: ChatId,
        input: NewMessage,
    ) -> Result<(MessageView, Sent)> {
        self.submit_message(sender, chat, input).await?.await
    }

    /// `send_message` in two steps: checks the input and queues the write,
    /// then returns what resolves once the message is on disk. Messages
    /// queued one after another by one caller get increasing `seq`.
    pub async fn submit_message(
        &self,
        sender: UserId,
        chat: ChatId,
        input: NewMessage,
    ) -> Result<impl Future<Output = Result<(MessageView, Sent)>> + Send + 'static> {
        super::spend(&self.inner.sends, sender, 1)?;
        // Only a message pointing at an upload needs a read transaction.
        let find_upload = |id: &str| {
            let upload = self.store().read().ok()?.upload(id).ok().flatten()?;
            Some(validate::UploadFacts {
                dimensions: upload.dimensions,
            })
        };
        let valid = ValidMessage::parse(sender, &input, find_upload)?;
        let bus = std::sync::Arc::clone(self.bus());
        let send = ops::SendMessage {
            chat,
            sender,
            draft: ops::Draft {
                kind: valid.kind,
                content: valid.content,
                metadata: valid.metadata,
                upload: valid.upload,
                reply_to: valid.reply_to,
                mentions: valid.mentions,
                forwarded: false,
            },
            client_id: valid.client_id,
            at: Timestamp::now(),
        };
        let stored = self
            .store()
            .submit(send, move |sent| {
                if let ops::Sent::Stored {
                    message,
                    participants,
                    reply,
                } = sent
                {
                    metrics::counter!("clavox_messages_stored_total").increment(1);
                    let view = MessageView::just_sent(message, participants.len(), reply.as_ref());
                    let event = Event::new("new_message", &view).ordered(
                        message.chat,
                        message.rev,
                        message.seq,
                    );
                    bus.publish(participants, &event);
                }
            })
            .await?;
        Ok(async move {
            match stored.await? {
                ops::Sent::Stored {
                    message,
                    participants,
                    reply,
                } => Ok((
                    MessageView::just_sent(&message, participants.len(), reply.as_ref()),
                    Sent::Stored,
                )),
                ops::Sent::Duplicate {
                    message,
                    members,
                    reply,
                } => Ok((
                    MessageView::new(&message, &members, reply.as_ref()),
                    Sent::Duplicate,
                )),
                ops::Sent::NotMember => Err(Error::NotFound),
                // Swept (unnamed for a day) since the metadata was checked.
                ops::Sent::NoSuchUpload => Err(Error::validation("metadata.url", "no such upload")),
                ops::Sent::NoSuchReply => Err(Error::validation(
                    "replyTo",
                    "must be the seq of a message in this chat",
                )),
                ops::Sent::NotParticipant(_) => Err(Error::validation(
                    "mentions",
                    "must name participants of this chat",
                )),
                ops::Sent::Blocked => Err(Error::Blocked),
            }
        })
    }

    /// Marks everything up to `seq` read by `user`. Marks only move forward;
    /// a `seq` past the newest message is clamped to it.
    pub async fn mark_read(&self, user: UserId, chat: ChatId, seq: u64) -> Result<ReadMarkView> {
        let (seq, at) = self.move_mark(user, chat, ops::MarkKind::Read, seq).await?;
        Ok(ReadMarkView {
            chat_id: chat,
            user_id: user,
            seq,
            read_at: at,
        })
    }

    /// Marks everything up to `seq` received by `user`'s devices, as
    /// `mark_read` does for reading.
    pub async fn mark_received(
        &self,
        user: UserId,
        chat: ChatId,
        seq: u64,
    ) -> Result<DeliveryMarkView> {
        let (seq, at) = self
            .move_mark(user, chat, ops::MarkKind::Received, seq)
            .await?;
        Ok(DeliveryMarkView {
            chat_id: chat,
            user_id: user,
            seq,
            delivered_at: at,
        })
    }

    /// Moves one of `user`'s marks, tells the participants when it moved,
    /// and answers where it is now.
    async fn move_mark(
        &self,
        user: UserId,
        chat: ChatId,
        kind: ops::MarkKind,
        seq: u64,
    ) -> Result<(u64, Timestamp)> {
        let bus = std::sync::Arc::clone(self.bus());
        let mark = ops::MoveMark {
            chat,
            user,
            kind,
            seq,
            at: Timestamp::now(),
        };
        let marked = self
            .store()
            .apply_then(mark, move |marked| {
                if let ops::Marked::Moved {
                    seq,
                    at,
                    participants,
                } = marked
                {
                    let event = match kind {
                        ops::MarkKind::Read => Event::new(
                            "message_read",
                            &ReadMarkView {
                                chat_id: chat,
                                user_id: user,
                                seq: *seq,
                                read_at: *at,
                            },
                        ),
                        ops::MarkKind::Received => Event::new(
                            "message_delivered",
                            &DeliveryMarkView {
                                chat_id: chat,
                                user_id: user,
                                seq: *seq,
                                delivered_at: *at,
                            },
                        ),
                    };
                    bus.publish(participants, &event);
                }
            })
            .await?;
        match marked {
            ops::Marked::Moved { seq, at, .. } | ops::Marked::Unchanged { seq, at } => {
                Ok((seq, at))
            }
            ops::Marked::NotMember => Err(Error::NotFound),
        }
    }
}

/// The views of `messages` of `chat` as `viewer` sees them: marks, reply
/// previews, and the ones they deleted for themselves. The replied messages
/// outside `messages` and the viewer's deletions are each one read.
pub(super) fn views_for(
    reader: &impl Query,
    viewer: UserId,
    chat: ChatId,
    messages: &[MessageRecord],
) -> Result<Vec<MessageView>> {
    let members = reader.members(chat)?;
    let (Some(low), Some(high)) = (
        messages.iter().map(|m| m.seq).min(),
        messages.iter().map(|m| m.seq).max(),
    ) else {
        return Ok(Vec::new());
    };
    let hidden = reader.hidden_among(viewer, chat, low, high)?;
    let mut views = Vec::with_capacity(messages.len());
    for message in messages {
        let reply = match message.reply_to {
            Some(seq) => match messages.iter().find(|m| m.seq == seq) {
                Some(loaded) => Some(loaded.clone()),
                None => reader.message(chat, seq)?,
            },
            None => None,
        };
        let view = MessageView::new(message, &members, reply.as_ref());
        views.push(if hidden.contains(&message.seq) {
            view.hidden_from_viewer()
        } else {
            view
        });
    }
    Ok(views)
}

impl MessageView {
    /// A message that was just stored: nobody else has it yet.
    pub fn just_sent(
        message: &MessageRecord,
        participants: usize,
        reply: Option<&MessageRecord>,
    ) -> Self {
        let mut view = Self::new(message, &[], reply);
        view.is_read = participants <= 1;
        view.is_delivered = participants <= 1;
        view
    }
}

#[cfg(test)]
mod tests {
    use super::MessageQuery;

    fn parse(
        page: Option<&str>,
        limit: Option<&str>,
        before: Option<&str>,
        after: Option<&str>,
    ) -> Result<MessageQuery, crate::error::Error> {
        MessageQuery::parse(page, limit, before, after)
    }

    #[test]
    fn defaults_are_page_one_of_twenty() {
        assert_eq!(
            parse(None, None, None, None).unwrap(),
            MessageQuery::Page { page: 1, limit: 20 }
        );
    }

    #[test]
    fn bad_numbers_and_mixed_cursors_are_refused() {
        for (page, limit, before, after) in [
            (Some("0"), None, None, None),
            (Some("-1"), None, None, None),
            (Some("x"), None, None, None),
            (None, Some("0"), None, None),
            (None, Some("101"), None, None),
            (None, Some("1.5"), None, None),
            (Some("1"), None, Some("5"), None),
            (None, None, Some("5"), Some("1")),
        ] {
            assert!(
                parse(page, limit, before, after).is_err(),
                "{page:?} {limit:?} {before:?} {after:?}"
            );
        }
    }

    #[test]
    fn pages_count_back_from_the_newest() {
        let page = |page, limit| MessageQuery::Page { page, limit }.range(45);
        assert_eq!(page(1, 20), (26, 45, true));
        assert_eq!(page(2, 20), (6, 25, true));
        assert_eq!(page(3, 20), (1, 5, false));
        assert!(!page(4, 20).2);
        assert!(page(4, 20).0 > page(4, 20).1);
    }

    #[test]
    fn cursors_read_next_to_their_seq() {
        assert_eq!(
            MessageQuery::Before { seq: 10, limit: 3 }.range(45),
            (7, 9, true)
        );
        assert_eq!(
            MessageQuery::Before { seq: 3, limit: 5 }.range(45),
            (1, 2, false)
        );
        assert_eq!(
            MessageQuery::Before {
                seq: 1000,
                limit: 5
            }
            .range(45),
            (41, 45, true)
        );
        assert_eq!(
            MessageQuery::After { seq: 40, limit: 3 }.range(45),
            (41, 43, true)
        );
        assert_eq!(
            MessageQuery::After { seq: 43, limit: 3 }.range(45),
            (44, 45, false)
        );
        assert!(!MessageQuery::After { seq: 45, limit: 3 }.range(45).2);
    }

    mod properties {
        use super::super::{MessageQuery, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX};
        use proptest::prelude::*;

        /// What a client may put in one query parameter: numbers in and out
        /// of range, signs, spaces, fractions and junk.
        fn parameter() -> impl Strategy<Value = Option<String>> {
            prop::option::of(prop_oneof![
                any::<u64>().prop_map(|n| n.to_string()),
                (0u64..=200).prop_map(|n| n.to_string()),
                "[-+ ]?[0-9]{1,25}[. ]?[0-9]{0,2}",
                ".{0,12}",
            ])
        }

        /// The value a parameter stands for when it is a plain whole number.
        fn whole(text: Option<&str>) -> Option<Option<u64>> {
            let text = text?;
            let digits = text.strip_prefix('+').unwrap_or(text);
            let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
            Some(plain.then(|| digits.parse().ok()).flatten())
        }

        /// Every message of a chat of `last` messages, read by walking with
        /// `next` from `start`, as (ranges read, has_more of each read).
        fn walk(
            last: u64,
            first: MessageQuery,
            next: impl Fn(u64, u64) -> MessageQuery,
        ) -> Vec<(u64, u64, bool)> {
            let mut reads = Vec::new();
            let mut query = first;
            loop {
                let (low, high, has_more) = query.range(last);
                if low > high {
                    assert!(!has_more, "an empty read has nothing more: {query:?}");
                    break;
                }
                reads.push((low, high, has_more));
                if !has_more || reads.len() > 10_000 {
                    break;
                }
                query = next(low, high);
            }
            reads
        }

        /// The reads cover 1..=last, each seq once, and each holds at most
        /// `limit` messages.
        fn covers_once(reads: &[(u64, u64, bool)], last: u64, limit: u64) -> bool {
            let mut seen: Vec<u64> = reads
                .iter()
                .flat_map(|&(low, high, _)| low..=high)
                .collect();
            let sizes_fit = reads.iter().all(|&(low, high, _)| high - low < limit);
            seen.sort_unstable();
            sizes_fit && seen == (1..=last).collect::<Vec<_>>()
        }

        proptest! {
            #[test]
            fn any_query_is_answered_without_panicking(
                page in parameter(),
                limit in parameter(),
                before in parameter(),
                after in parameter(),
            ) {
                let parsed = MessageQuery::parse(
                    page.as_deref(),
                    limit.as_deref(),
                    before.as_deref(),
                    after.as_deref(),
                );
                let page_ok = whole(page.as_deref()).is_none_or(|n| n.is_some_and(|n| n >= 1));
                let limit_ok = whole(limit.as_deref())
                    .is_none_or(|n| n.is_some_and(|n| (1..=PAGE_LIMIT_MAX).contains(&n)));
                let before_ok = whole(before.as_deref()).is_none_or(|n| n.is_some());
                let after_ok = whole(after.as_deref()).is_none_or(|n| n.is_some());
                let cursors = [&page, &before, &after].iter().filter(|p| p.is_some()).count();
                let valid = page_ok && limit_ok && before_ok && after_ok && cursors <= 1;
                match parsed {
                    Ok(query) => {
                        prop_assert!(valid, "{query:?}");
                        let expected_limit = whole(limit.as_deref())
                            .flatten()
                            .unwrap_or(PAGE_LIMIT_DEFAULT);
                        prop_assert_eq!(query.limit(), expected_limit);
                        match query {
                            MessageQuery::Page { page: n, .. } => {
                                prop_assert!(before.is_none() && after.is_none());
                                prop_assert_eq!(Some(n), whole(page.as_deref()).unwrap_or(Some(1)));
                            }
                            MessageQuery::Before { seq, .. } => {
                                prop_assert_eq!(Some(Some(seq)), whole(before.as_deref()));
                            }
                            MessageQuery::After { seq, .. } => {
                                prop_assert_eq!(Some(Some(seq)), whole(after.as_deref()));
                            }
                        }
                    }
                    Err(error) => {
                        prop_assert!(!valid);
                        prop_assert_eq!(error.code(), "validation_failed");
                    }
                }
            }

            #[test]
            fn in_range_values_are_accepted(
                page in 1u64..,
                limit in 1..=PAGE_LIMIT_MAX,
                seq in any::<u64>(),
                cursor in 0..3,
            ) {
                let (page, limit, seq) = (page.to_string(), limit.to_string(), seq.to_string());
                let query = match cursor {
                    0 => MessageQuery::parse(Some(&page), Some(&limit), None, None),
                    1 => MessageQuery::parse(None, Some(&limit), Some(&seq), None),
                    _ => MessageQuery::parse(None, Some(&limit), None, Some(&seq)),
                };
                prop_assert!(query.is_ok(), "{:?}", query);
            }

            #[test]
            fn out_of_range_values_are_refused(
                limit in prop_oneof![Just(0u64), (PAGE_LIMIT_MAX + 1)..],
                negative in 1u64..,
            ) {
                let limit = limit.to_string();
                let negative = format!("-{negative}");
                prop_assert!(MessageQuery::parse(None, Some(&limit), None, None).is_err());
                prop_assert!(MessageQuery::parse(Some("0"), None, None, None).is_err());
                prop_assert!(MessageQuery::parse(Some(&negative), None, None, None).is_err());
                prop_assert!(MessageQuery::parse(None, None, Some(&negative), None).is_err());
                prop_assert!(MessageQuery::parse(None, None, None, Some(&negative)).is_err());
            }

            #[test]
            fn pages_cover_every_message_exactly_once(
                last in 0u64..3000,
                limit in 1..=PAGE_LIMIT_MAX,
            ) {
                let mut reads: Vec<(u64, u64, bool)> = Vec::new();
                for page in 1.. {
                    let (low, high, has_more) = MessageQuery::Page { page, limit }.range(last);
                    if low > high {
                        prop_assert!(!has_more);
                        break;
                    }
                    if let Some(&(previous_low, _, previous_more)) = reads.last() {
                        prop_assert!(previous_more);
                        prop_assert_eq!(high + 1, previous_low, "pages touch, newest first");
                    }
                    prop_assert!(high - low + 1 == limit || !has_more);
                    reads.push((low, high, has_more));
                }
                prop_assert_eq!(reads.len() as u64, last.div_ceil(limit));
                prop_assert!(covers_once(&reads, last, limit));
                prop_assert!(reads.first().is_none_or(|&(_, high, _)| high == last));
            }

            #[test]
            fn before_cursors_walk_back_over_every_message_once(
                last in 0u64..3000,
                limit in 1..=PAGE_LIMIT_MAX,
                start_past_end in any::<bool>(),
            ) {
                let seq = if start_past_end { u64::MAX } else { last + 1 };
                let reads = walk(last, MessageQuery::Before { seq, limit }, |low, _| {
                    MessageQuery::Before { seq: low, limit }
                });
                prop_assert!(covers_once(&reads, last, limit));
            }

            #[test]
            fn after_cursors_walk_forward_over_every_message_once(
                last in 0u64..3000,
                limit in 1..=PAGE_LIMIT_MAX,
            ) {
                let reads = walk(last, MessageQuery::After { seq: 0, limit }, |_, high| {
                    MessageQuery::After { seq: high, limit }
                });
                prop_assert!(covers_once(&reads, last, limit));
                prop_assert!(reads.windows(2).all(|pair| pair[0].1 + 1 == pair[1].0));
            }

            #[test]
            fn any_read_stays_inside_the_chat_and_the_limit(
                last in any::<u64>(),
                page in 1u64..,
                seq in any::<u64>(),
                limit in 1..=PAGE_LIMIT_MAX,
            ) {
                for query in [
                    MessageQuery::Page { page, limit },
                    MessageQuery::Before { seq, limit },
                    MessageQuery::After { seq, limit },
                ] {
                    let (low, high, has_more) = query.range(last);
                    if low <= high {
                        prop_assert!(low >= 1 && high <= last, "{query:?}");
                        prop_assert!(high - low < limit, "{query:?}");
                        match query {
                            MessageQuery::After { .. } => prop_assert_eq!(has_more, high < last),
                            _ => prop_assert_eq!(has_more, low > 1),
                        }
                    } else {
                        prop_assert!(!has_more, "{query:?}");
                    }
                }
            }
        }
    }
}
