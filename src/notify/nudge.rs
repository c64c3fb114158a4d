//! Unread nudges (`NOTIFY_WEBHOOK_URL`): a private-chat message or a
//! mention still unread after `NOTIFY_WEBHOOK_DELAY` makes the server POST
//! `{"userId", "phoneNumber", "chatId", "from", "preview", "unread"}`,
//! signed like the code webhook, so an SMS or WhatsApp gateway can remind
//! the person. One nudge per chat and quiet period: a chat nudged about is
//! not nudged about again until a whole delay has passed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::auth::delivery::signature;
use crate::config::Secret;
use crate::id::{ChatId, UserId};
use crate::store::{Query, Store};

/// Where nudges go and when.
#[derive(Debug, Clone)]
pub struct NudgeSettings {
    pub url: String,
    pub secret: Option<Secret>,
    pub delay: Duration,
}

/// The nudges waiting for their time, cheap to clone.
#[derive(Clone)]
pub struct Nudges {
    inner: Arc<Inner>,
}

struct Inner {
    settings: NudgeSettings,
    /// (user, chat) → when to look, and the newest seq that asked for it.
    waiting: Mutex<HashMap<(UserId, ChatId), Waiting>>,
    /// (user, chat) → when the last nudge went, for the quiet period.
    nudged: Mutex<HashMap<(UserId, ChatId), Instant>>,
    wake: Notify,
}

#[derive(Debug, Clone, Copy)]
struct Waiting {
    due: Instant,
    seq: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NudgeBody {
    user_id: UserId,
    phone_number: String,
    chat_id: ChatId,
    from: String,
    preview: String,
    unread: u64,
}

impl Nudges {
    pub fn new(settings: NudgeSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                waiting: Mutex::default(),
                nudged: Mutex::default(),
                wake: Notify::new(),
            }),
        }
    }

    /// `user` got message `seq` of `chat` that deserves a nudge if it
    /// stays unread.
    pub fn expect(&self, user: UserId, chat: ChatId, seq: u64) {
        let due = Instant::now() + self.inner.settings.delay;
        let mut waiting = self
            .inner
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The first unread message starts the clock; later ones only move
        // the seq it asks about.
        waiting
            .entry((user, chat))
            .and_modify(|waiting| waiting.seq = waiting.seq.max(seq))
            .or_insert(Waiting { due, seq });
        self.inner.wake.notify_one();
    }

    /// Sends nudges as they come due, until `stop`.
    pub async fn run(self, store: Store, stop: CancellationToken) {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(client) => client,
            Err(error) => {
                tracing::warn!(%error, "cannot set up the nudge webhook client; no nudges");
                return;
            }
        };
        loop {
            let next = self.next_due();
            let sleep = next.map_or(Duration::from_secs(3600), |due| {
                due.saturating_duration_since(Instant::now())
            });
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.inner.wake.notified() => continue,
                () = tokio::time::sleep(sleep) => {}
            }
            for ((user, chat), waiting) in self.take_due() {
                if let Err(problem) = self.nudge(&client, &store, user, chat, waiting.seq).await {
                    tracing::warn!("an unread nudge failed: {problem}");
                }
            }
        }
    }

    fn next_due(&self) -> Option<Instant> {
        let waiting = self
            .inner
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        waiting.values().map(|waiting| waiting.due).min()
    }

    fn take_due(&self) -> Vec<((UserId, ChatId), Waiting)> {
        let now = Instant::now();
        let mut waiting = self
            .inner
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due: Vec<_> = waiting
            .iter()
            .filter(|(_, waiting)| waiting.due <= now)
            .map(|(key, waiting)| (*key, *waiting))
            .collect();
        for (key, _) in &due {
            waiting.remove(key);
        }
        due
    }

    /// Sends the nudge if the message is still unread and the chat was not
    /// nudged about within the quiet period.
    async fn nudge(
        &self,
        client: &reqwest::Client,
        store: &Store,
        user: UserId,
        chat: ChatId,
        seq: u64,
    ) -> Result<(), String> {
        let settings = &self.inner.settings;
        {
            let nudged = self
                .inner
                .nudged
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if nudged
                .get(&(user, chat))
                .is_some_and(|at| at.elapsed() < settings.delay)
            {
                return Ok(());
            }
        }
        let Some(body) = Self::body(store, user, chat, seq)? else {
            return Ok(());
        };
        let body = serde_json::to_vec(&body).map_err(|error| error.to_string())?;
        let mut request = client
            .post(&settings.url)
            .header("content-type", "application/json");
        if let Some(secret) = &settings.secret {
            request = request.header("x-clavox-signature", signature(secret.expose(), &body));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|error| format!("the webhook is unreachable: {error}"))?;
        self.inner
            .nudged
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((user, chat), Instant::now());
        if !response.status().is_success() {
            return Err(format!("the webhook answered {}", response.status()));
        }
        Ok(())
    }

    /// What the nudge says, or `None` when `seq` was read meanwhile (or the
    /// chat, message or user is gone).
    fn body(
        store: &Store,
        user: UserId,
        chat: ChatId,
        seq: u64,
    ) -> Result<Option<NudgeBody>, String> {
        let fail = |error: crate::store::StoreError| error.to_string();
        let reader = store.read().map_err(fail)?;
        let Some(member) = reader.member(chat, user).map_err(fail)? else {
            return Ok(None);
        };
        let Some(head) = reader.chat_head(chat).map_err(fail)? else {
            return Ok(None);
        };
        let unread = member.mark.unread(head.last_seq);
        if member.mark.unread(seq) == 0 || unread == 0 {
            return Ok(None);
        }
        let (Some(recipient), Some(message)) = (
            reader.user(user).map_err(fail)?,
            reader.message(chat, seq).map_err(fail)?,
        ) else {
            return Ok(None);
        };
        let from = reader
            .user(message.sender)
            .map_err(fail)?
            .map(|sender| {
                sender
                    .name
                    .filter(|name| !name.is_empty())
                    .unwrap_or(sender.phone)
            })
            .unwrap_or_default();
        Ok(Some(NudgeBody {
            user_id: user,
            phone_number: recipient.phone,
            chat_id: chat,
            from,
            preview: message.content.chars().take(140).collect(),
            unread,
        }))
    }
}
