//! Presence and typing: who is online, who is typing where. The realtime
//! layer decides when these change (sockets come and go); the rules for who
//! hears of it live here.

use crate::bus::Event;
use crate::error::Result;
use crate::id::{ChatId, UserId};
use crate::store::Query;
use crate::timestamp::Timestamp;

use super::views::{StatusView, TypingView};
use super::{ChatService, chat_of};

impl ChatService {
    /// Everyone who shares at least one chat with `user`: people who may
    /// see their presence (`users::visibility`), so `user_status` goes to
    /// them.
    fn contacts(&self, reader: &impl Query, user: UserId) -> Result<Vec<UserId>> {
        let mut contacts = Vec::new();
        for chat in reader.chats_of(user)? {
            if let Some(chat) = reader.chat(chat)? {
                contacts.extend(chat.participants.into_iter().filter(|&other| other != user));
            }
        }
        contacts.sort_unstable();
        contacts.dedup();
        Ok(contacts)
    }

    /// `user`'s first socket authenticated: tell their contacts, with the
    /// `lastSeen` stored when they last went offline.
    pub fn announce_online(&self, user: UserId) -> Result<()> {
        let reader = self.store().read()?;
        let last_seen = reader.user(user)?.and_then(|record| record.last_seen);
        let contacts = self.contacts(&reader, user)?;
        let status = StatusView {
            user_id: user,
            status: "online",
            last_seen,
        };
        self.publish(&contacts, &Event::new("user_status", &status));
        Ok(())
    }

    /// `user`'s last socket closed: store `lastSeen` and tell their contacts,
    /// unless they came back while the write was queued.
    pub async fn announce_offline(&self, user: UserId) -> Result<()> {
        let contacts = self.contacts(&self.store().read()?, user)?;
        let now = Timestamp::now();
        self.change_user(user, |record| record.last_seen = Some(now))
            .await?;
        if !self.bus().is_online(user) {
            let status = StatusView {
                user_id: user,
                status: "offline",
                last_seen: Some(now),
            };
            self.publish(&contacts, &Event::new("user_status", &status));
        }
        Ok(())
    }

    /// Tells the chat's other participants that `user` started or stopped typing.
    pub fn typing(&self, user: UserId, chat: ChatId, is_typing: bool) -> Result<()> {
        let record = chat_of(&self.store().read()?, chat, user)?;
        let others: Vec<UserId> = record
            .participants
            .into_iter()
            .filter(|&other| other != user)
            .collect();
        let typing = TypingView {
            chat_id: chat,
            user_id: user,
            is_typing,
        };
        self.publish(&others, &Event::new("user_typing", &typing));
        Ok(())
    }

    /// Checks that `user` takes part in `chat` (for `join_chat`).
    pub fn check_member(&self, user: UserId, chat: ChatId) -> Result<()> {
        chat_of(&self.store().read()?, chat, user).map(drop)
    }
}
