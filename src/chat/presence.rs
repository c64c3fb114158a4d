//! Presence and typing: who is online, who is typing where. The realtime
//! layer decides when these change (sockets come and go); the rules for who
//! hears of it live here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bus::Event;
use crate::error::Result;
use crate::id::{ChatId, UserId};
use crate::store::Query;
use crate::timestamp::Timestamp;

use super::views::{StatusView, TypingView};
use super::{ChatService, chat_of};

impl ChatService {
    /// Everyone who shares at least one chat with `user`.
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

    /// Tells the chat's other participants that `user` started or stopped
    /// typing: a start at most once per `TYPING_REPEAT` per user and chat,
    /// a stop only after a start was told, so toggling cannot flood anyone.
    pub fn typing(&self, user: UserId, chat: ChatId, is_typing: bool) -> Result<()> {
        let record = chat_of(&self.store().read()?, chat, user)?;
        if !self
            .inner
            .typing
            .tell(user, chat, is_typing, Instant::now())
        {
            return Ok(());
        }
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

/// Least time between two `user_typing` starts of one user in one chat.
const TYPING_REPEAT: Duration = Duration::from_secs(2);

/// Which typing changes are worth telling, per user and chat: a start at
/// most once per `TYPING_REPEAT`, a stop only after a told start.
#[derive(Default)]
pub(super) struct TypingThrottle {
    told: Mutex<HashMap<(UserId, ChatId), Told>>,
}

#[derive(Debug, Clone, Copy)]
struct Told {
    started_at: Instant,
    typing: bool,
}

/// Entries the throttle keeps before it forgets the ones that no longer matter.
const TYPING_SWEEP_AT: usize = 4096;

impl TypingThrottle {
    /// Whether this change must be told, noting it if so.
    fn tell(&self, user: UserId, chat: ChatId, is_typing: bool, now: Instant) -> bool {
        let mut told = self
            .told
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if told.len() >= TYPING_SWEEP_AT {
            told.retain(|_, state| {
                state.typing || now.duration_since(state.started_at) < TYPING_REPEAT
            });
        }
        let state = told.get(&(user, chat)).copied();
        match (is_typing, state) {
            (false, Some(state)) if state.typing => {
                told.insert(
                    (user, chat),
                    Told {
                        typing: false,
                        ..state
                    },
                );
                true
            }
            (false, _) => false,
            (true, Some(state))
                if state.typing || now.duration_since(state.started_at) < TYPING_REPEAT =>
            {
                false
            }
            (true, _) => {
                told.insert(
                    (user, chat),
                    Told {
                        started_at: now,
                        typing: true,
                    },
                );
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toggling_tells_one_start_per_two_seconds_and_one_stop_per_start() {
        let throttle = TypingThrottle::default();
        let (user, chat) = (UserId::generate(), ChatId::generate());
        let start = Instant::now();
        let told: Vec<bool> = (0..10)
            .map(|i| {
                throttle.tell(
                    user,
                    chat,
                    i % 2 == 0,
                    start + Duration::from_millis(i * 10),
                )
            })
            .collect();
        assert_eq!(
            told,
            [
                true, true, false, false, false, false, false, false, false, false
            ]
        );
        assert!(throttle.tell(user, chat, true, start + TYPING_REPEAT));
        assert!(
            throttle.tell(user, ChatId::generate(), true, start),
            "chats apart"
        );
    }
}
