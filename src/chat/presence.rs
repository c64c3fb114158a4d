//! Presence and typing: who is online, who is typing where. The realtime
//! layer decides when these change (sockets come and go); the rules for who
//! hears of it live here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::bus::Event;
use crate::error::{Error, Result};
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

    /// Tells the chat's other participants that `user` started or stopped
    /// typing. A start goes out at most once per `TYPING_REPEAT` per user and
    /// chat (one inside that time waits for its end, and is dropped if a stop
    /// comes first); a stop goes out at once, after a start that went out.
    /// So toggling cannot flood anyone, and no one sees typing that ended.
    pub fn typing(&self, user: UserId, chat: ChatId, is_typing: bool) -> Result<()> {
        let record = chat_of(&self.store().read()?, chat, user)?;
        match self
            .inner
            .typing
            .tell(user, chat, is_typing, Instant::now())
        {
            Tell::Now => self.publish_typing(&record.participants, user, chat, is_typing),
            Tell::Later(at) => {
                let service = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(at.into()).await;
                    service.flush_typing(user, chat);
                });
            }
            Tell::Nothing => {}
        }
        Ok(())
    }

    /// Tells a held-back start, unless a stop took it back, if the user is
    /// still in the chat.
    fn flush_typing(&self, user: UserId, chat: ChatId) {
        if !self.inner.typing.flush(user, chat, Instant::now()) {
            return;
        }
        let record = self
            .store()
            .read()
            .map_err(Error::from)
            .and_then(|reader| chat_of(&reader, chat, user));
        if let Ok(record) = record {
            self.publish_typing(&record.participants, user, chat, true);
        }
    }

    fn publish_typing(&self, participants: &[UserId], user: UserId, chat: ChatId, is_typing: bool) {
        let others: Vec<UserId> = participants
            .iter()
            .copied()
            .filter(|&other| other != user)
            .collect();
        let typing = TypingView {
            chat_id: chat,
            user_id: user,
            is_typing,
        };
        self.publish(&others, &Event::new("user_typing", &typing));
    }

    /// Checks that `user` takes part in `chat` (for `join_chat`).
    pub fn check_member(&self, user: UserId, chat: ChatId) -> Result<()> {
        chat_of(&self.store().read()?, chat, user).map(drop)
    }
}

/// Least time between two `user_typing` starts of one user in one chat.
const TYPING_REPEAT: Duration = Duration::from_secs(2);

/// When typing changes are told, per user and chat.
#[derive(Default)]
pub(super) struct TypingThrottle {
    states: Mutex<HashMap<(UserId, ChatId), TypingState>>,
}

#[derive(Debug, Clone, Copy)]
struct TypingState {
    /// When the others were last told a start.
    started_at: Instant,
    /// Whether the others see the user typing.
    told: bool,
    /// A start waits for `started_at + TYPING_REPEAT`.
    start_waiting: bool,
    /// A flush is due (set once, however often the start is taken back).
    flush_due: bool,
}

/// What to do with a typing change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tell {
    Now,
    /// Hold it back: `flush` at this moment tells it, if it still stands.
    Later(Instant),
    Nothing,
}

/// Entries the throttle keeps before it forgets the ones that no longer matter.
const TYPING_SWEEP_AT: usize = 4096;

impl TypingThrottle {
    fn tell(&self, user: UserId, chat: ChatId, is_typing: bool, now: Instant) -> Tell {
        let mut states = self.lock();
        if states.len() >= TYPING_SWEEP_AT {
            states.retain(|_, state| {
                state.told
                    || state.flush_due
                    || now.duration_since(state.started_at) < TYPING_REPEAT
            });
        }
        let key = (user, chat);
        let Some(state) = states.get_mut(&key) else {
            if is_typing {
                states.insert(
                    key,
                    TypingState {
                        started_at: now,
                        told: true,
                        start_waiting: false,
                        flush_due: false,
                    },
                );
                return Tell::Now;
            }
            return Tell::Nothing;
        };
        if !is_typing {
            state.start_waiting = false;
            return if std::mem::take(&mut state.told) {
                Tell::Now
            } else {
                Tell::Nothing
            };
        }
        if state.told || state.start_waiting {
            return Tell::Nothing;
        }
        let due = state.started_at + TYPING_REPEAT;
        if now >= due {
            state.started_at = now;
            state.told = true;
            return Tell::Now;
        }
        state.start_waiting = true;
        if std::mem::replace(&mut state.flush_due, true) {
            // A flush is on its way already.
            return Tell::Nothing;
        }
        Tell::Later(due)
    }

    /// Whether the held-back start still stands and must be told now.
    fn flush(&self, user: UserId, chat: ChatId, now: Instant) -> bool {
        let mut states = self.lock();
        let Some(state) = states.get_mut(&(user, chat)) else {
            return false;
        };
        state.flush_due = false;
        if !std::mem::take(&mut state.start_waiting) {
            return false;
        }
        state.started_at = now;
        state.told = true;
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(UserId, ChatId), TypingState>> {
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toggling_tells_a_start_per_two_seconds_and_each_stop_at_once() {
        let throttle = TypingThrottle::default();
        let (user, chat) = (UserId::generate(), ChatId::generate());
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(throttle.tell(user, chat, true, at(0)), Tell::Now);
        assert_eq!(
            throttle.tell(user, chat, false, at(10)),
            Tell::Now,
            "stops are never held"
        );
        assert_eq!(
            throttle.tell(user, chat, true, at(20)),
            Tell::Later(at(2000))
        );
        for ms in 21..100 {
            assert_eq!(
                throttle.tell(user, chat, ms % 2 == 0, at(ms)),
                Tell::Nothing
            );
        }
        // The last toggle was a stop (99 is odd): the held start is dropped.
        assert!(!throttle.flush(user, chat, at(2000)));
        assert_eq!(throttle.tell(user, chat, true, at(2100)), Tell::Now);
    }

    #[test]
    fn a_start_held_back_goes_out_when_its_time_comes() {
        let throttle = TypingThrottle::default();
        let (user, chat) = (UserId::generate(), ChatId::generate());
        let start = Instant::now();
        assert_eq!(
            throttle.tell(user, chat, false, start),
            Tell::Nothing,
            "no stop before a start"
        );
        assert_eq!(throttle.tell(user, chat, true, start), Tell::Now);
        assert_eq!(throttle.tell(user, chat, true, start), Tell::Nothing);
        assert_eq!(throttle.tell(user, chat, false, start), Tell::Now);
        let due = start + TYPING_REPEAT;
        assert_eq!(throttle.tell(user, chat, true, start), Tell::Later(due));
        assert!(throttle.flush(user, chat, due));
        assert_eq!(throttle.tell(user, chat, false, due), Tell::Now);
        assert_eq!(
            throttle.tell(user, ChatId::generate(), true, start),
            Tell::Now,
            "chats apart"
        );
    }
}
