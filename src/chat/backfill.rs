//! Message events read back from the store, for a bus across nodes that
//! missed some (`bus::Backfill`): the same events, to the same people, as
//! the send or change published after its commit.

use crate::bus::{Backfill, ChatPlace, Event, Seen};
use crate::id::{ChatId, UserId};
use crate::store::{MessageRecord, Query};

use super::ChatService;
use super::views::MessageView;

/// Changes read per store read while filling a gap.
const PAGE: usize = 200;

impl Backfill for ChatService {
    fn chats_of(&self, user: UserId) -> Option<Vec<ChatPlace>> {
        let reader = self.store().read().ok()?;
        let mut places = Vec::new();
        for chat in reader.chats_of(user).ok()? {
            let head = reader.chat_head(chat).ok()?;
            places.push(ChatPlace {
                chat,
                rev: head.as_ref().map_or(0, |head| head.last_rev),
                seq: head.as_ref().map_or(0, |head| head.last_seq),
            });
        }
        Some(places)
    }

    fn latest_rev(&self, chat: ChatId) -> Option<u64> {
        let reader = self.store().read().ok()?;
        Some(reader.chat_head(chat).ok()?.map_or(0, |head| head.last_rev))
    }

    fn missed(
        &self,
        chat: ChatId,
        after: u64,
        upto: u64,
        seen: Seen,
    ) -> Option<Vec<(Vec<UserId>, Event)>> {
        let reader = self.store().read().ok()?;
        let Some(record) = reader.chat(chat).ok()? else {
            return Some(Vec::new());
        };
        let members = reader.members(chat).ok()?;
        let mut events = Vec::new();
        let mut since = after;
        loop {
            let seqs = reader.changed_since(chat, since, PAGE).ok()?;
            let mut messages: Vec<MessageRecord> = Vec::with_capacity(seqs.len());
            for seq in &seqs {
                if let Some(message) = reader.message(chat, *seq).ok()? {
                    messages.push(message);
                }
            }
            // The change index is in `rev` order.
            let done = seqs.len() < PAGE;
            for message in messages {
                if message.rev > upto {
                    return Some(events);
                }
                since = message.rev;
                let new = match seen {
                    Seen::UpToSeq(seq) => message.seq > seq,
                    Seen::Since(at) if message.updated_at < at => continue,
                    Seen::Since(at) => message.created_at >= at,
                };
                let reply = match message.reply_to {
                    Some(seq) => reader.message(chat, seq).ok()?,
                    None => None,
                };
                let view = MessageView::new(&message, &members, reply.as_ref());
                let name = if new {
                    "new_message"
                } else {
                    "message_updated"
                };
                let event = Event::new(name, &view).ordered(chat, message.rev, message.seq);
                events.push((record.participants.clone(), event));
            }
            if done {
                return Some(events);
            }
        }
    }
}
