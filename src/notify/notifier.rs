//! Who is told about a new message while not looking, and how. Each new
//! message leaves a notify intent in its own commit; the notifier, woken
//! by the bus (`NotifyingBus`) and at start, works through the intents off
//! the message path: a recipient with the app in view gets nothing more;
//! one who muted the chat gets nothing unless mentioned; everyone else gets
//! a Web Push on each subscribed browser (queued durably, in the same
//! commit that clears the intent, and sent by `sender`), a message on their
//! ntfy topic, and for private chats and mentions an unread nudge by
//! webhook later (`nudge`). A crash at any moment loses no push.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::ntfy::{NtfyMessage, Topics};
use super::nudge::Nudges;
use super::webpush::{Urgency, topic_for};
use crate::bus::{Bus, Event};
use crate::domain::{ChatKind, MessageKind};
use crate::id::{ChatId, SessionId, UserId};
use crate::store::ops::{QueuePushes, QueuedPush};
use crate::store::records::{MessageRecord, PushJobRecord};
use crate::store::{Query, Store, StoreError};
use crate::timestamp::Timestamp;

/// How long a push waits for a phone that is off (RFC 8030 `TTL`).
pub const PUSH_TTL: Duration = Duration::from_secs(24 * 3600);
/// New messages handled per store write.
const BATCH: usize = 256;
/// How long a woken notifier lets new messages gather before it reads
/// them: a busy server then clears their intents in a few writes a second
/// instead of one per message, each a commit the writer would otherwise
/// make beside the messages' own. A push this much later goes unnoticed.
const GATHER: Duration = Duration::from_millis(50);
/// The most characters of a message a notification shows.
const PREVIEW_CHARS: usize = 140;

/// How notifications look.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Whether pushes and topic messages carry the message text
    /// (`PUSH_PREVIEW`); without, they say "New message".
    pub preview: bool,
    /// Where this server's web app is, for links that open a chat.
    pub app_url: String,
}

/// Wakes the notifier; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    wake: Arc<Notify>,
}

/// A `Bus` that also wakes the notifier for each new message.
pub struct NotifyingBus {
    inner: Arc<dyn Bus>,
    notifier: Notifier,
}

impl NotifyingBus {
    pub fn new(inner: Arc<dyn Bus>, notifier: Notifier) -> Self {
        Self { inner, notifier }
    }
}

impl Bus for NotifyingBus {
    fn publish(&self, users: &[UserId], event: &Event) {
        self.inner.publish(users, event);
        if event.name == "new_message" {
            self.notifier.wake.notify_one();
        }
    }

    fn is_online(&self, user: UserId) -> bool {
        self.inner.is_online(user)
    }

    fn is_watching(&self, user: UserId) -> bool {
        self.inner.is_watching(user)
    }

    fn end_session(&self, session: SessionId) {
        self.inner.end_session(session);
    }

    fn end_user(&self, user: UserId) {
        self.inner.end_user(user);
    }
}

/// The JSON a push carries to the service worker.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushPayload<'a> {
    pub chat_id: ChatId,
    pub seq: u64,
    pub title: &'a str,
    pub body: &'a str,
    /// The app path that opens the chat.
    pub url: String,
}

/// What the notifier works with.
pub struct Worker {
    pub store: Store,
    /// Who is watching (the bus under `NotifyingBus`).
    pub bus: Arc<dyn Bus>,
    pub topics: Topics,
    pub nudges: Option<Nudges>,
    /// Woken when pushes were queued, for the sender.
    pub queued: Arc<Notify>,
    pub settings: Settings,
}

/// One notification, as every channel shows it.
struct Note {
    title: String,
    body: String,
    urgent: bool,
}

impl Worker {
    /// Starts the notifier; it runs until `stop`.
    pub fn start(self, stop: CancellationToken) -> (Notifier, tokio::task::JoinHandle<()>) {
        let wake = Arc::new(Notify::new());
        let task = tokio::spawn(self.run(Arc::clone(&wake), stop));
        (Notifier { wake }, task)
    }

    async fn run(self, wake: Arc<Notify>, stop: CancellationToken) {
        loop {
            // Intents left by a crash are handled at once, then each wake.
            loop {
                match self.handle_batch().await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(problem) => {
                        tracing::warn!("notifications for new messages failed: {problem}");
                        break;
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = wake.notified() => {}
                // A failed batch is tried again in a while.
                () = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(GATHER) => {}
            }
        }
    }

    /// Handles up to `BATCH` new messages; how many it handled.
    async fn handle_batch(&self) -> Result<usize, StoreError> {
        let reader = self.store.read()?;
        let intents = reader.notify_intents(BATCH)?;
        let mut told = Told::default();
        for &(chat, seq) in &intents {
            if let Some(message) = reader.message(chat, seq)? {
                self.notify(&reader, &message, &mut told)?;
            }
        }
        drop(reader);
        let handled = intents.len();
        if handled > 0 {
            let some_pushes = !told.pushes.is_empty();
            let claimed = self
                .store
                .apply(QueuePushes {
                    pushes: told.pushes,
                    handled: intents,
                })
                .await?;
            // Only the notifier whose claim on the messages held tells
            // anyone: another node's took them first.
            if claimed {
                if some_pushes {
                    self.queued.notify_one();
                }
                for (topic, note) in told.topics {
                    self.topics.publish(&topic, note);
                }
                if let Some(nudges) = &self.nudges {
                    for (user, chat, seq) in told.nudges {
                        nudges.expect(user, chat, seq);
                    }
                }
            }
        }
        Ok(handled)
    }

    /// Decides who hears of `message`, and how, into `told`.
    fn notify(
        &self,
        reader: &impl Query,
        message: &MessageRecord,
        told: &mut Told,
    ) -> Result<(), StoreError> {
        let Some(chat) = reader.chat(message.chat)? else {
            return Ok(());
        };
        for &user in &chat.participants {
            if user == message.sender || self.bus.is_watching(user) {
                continue;
            }
            let mentioned = message.mentions.contains(&user);
            if reader.is_muted(user, chat.id)? && !mentioned {
                continue;
            }
            let Some(note) =
                self.note(reader, message, chat.kind, chat.name.as_deref(), mentioned)?
            else {
                continue;
            };
            told.topics
                .extend(self.topic_message(reader, user, message, &note)?);
            told.pushes
                .extend(self.pushes_for(reader, user, message, &note)?);
            if note.urgent {
                told.nudges.push((user, chat.id, message.seq));
            }
        }
        Ok(())
    }

    /// The title and text of a notification about `message`, or `None`
    /// when its sender is gone.
    fn note(
        &self,
        reader: &impl Query,
        message: &MessageRecord,
        kind: ChatKind,
        group_name: Option<&str>,
        mentioned: bool,
    ) -> Result<Option<Note>, StoreError> {
        let Some(sender) = reader.user(message.sender)? else {
            return Ok(None);
        };
        let sender = sender
            .name
            .filter(|name| !name.trim().is_empty())
            .unwrap_or(sender.phone);
        let text = if self.settings.preview {
            preview(message.kind, &message.content)
        } else {
            "New message".to_owned()
        };
        let private = kind == ChatKind::Private;
        let (title, body) = if private {
            (sender, text)
        } else {
            let group = group_name.unwrap_or("Group").to_owned();
            (group, format!("{sender}: {text}"))
        };
        Ok(Some(Note {
            title,
            body,
            urgent: private || mentioned,
        }))
    }

    /// What `user`'s ntfy topic shows for `message`, if they have one.
    fn topic_message(
        &self,
        reader: &impl Query,
        user: UserId,
        message: &MessageRecord,
        note: &Note,
    ) -> Result<Option<(String, NtfyMessage)>, StoreError> {
        let Some(topic) = reader.topic_of(user)? else {
            return Ok(None);
        };
        let shown = NtfyMessage {
            title: note.title.clone(),
            message: note.body.clone(),
            click: Some(format!(
                "{}/chats/{}",
                self.settings.app_url.trim_end_matches('/'),
                message.chat
            )),
            priority: if note.urgent { 4 } else { 3 },
            tags: Vec::new(),
        };
        Ok(Some((hex::encode(topic), shown)))
    }

    fn pushes_for(
        &self,
        reader: &impl Query,
        user: UserId,
        message: &MessageRecord,
        note: &Note,
    ) -> Result<Vec<QueuedPush>, StoreError> {
        let subscriptions = reader.push_subscriptions(user)?;
        if subscriptions.is_empty() {
            return Ok(Vec::new());
        }
        let payload = serde_json::to_vec(&PushPayload {
            chat_id: message.chat,
            seq: message.seq,
            title: &note.title,
            body: &note.body,
            url: format!("/chats/{}", message.chat),
        })
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let now = Timestamp::now();
        let expires_at = now.plus(PUSH_TTL);
        let urgency = if note.urgent {
            Urgency::High
        } else {
            Urgency::Normal
        };
        Ok(subscriptions
            .into_iter()
            .map(|(endpoint_key, _)| QueuedPush {
                due: now,
                id: rand::random(),
                job: PushJobRecord {
                    user,
                    endpoint_key,
                    payload: payload.clone(),
                    urgency: urgency_code(urgency),
                    topic: Some(topic_for(&message.chat.to_string())),
                    expires_at,
                    attempts: 0,
                },
            })
            .collect())
    }
}

/// What a notification shows of a message: its text, shortened, or what
/// kind of attachment it is.
fn preview(kind: MessageKind, content: &str) -> String {
    let text: String = content.chars().take(PREVIEW_CHARS).collect();
    let shortened = content.chars().nth(PREVIEW_CHARS).is_some();
    match kind {
        MessageKind::Image if text.is_empty() => "📷 Photo".to_owned(),
        MessageKind::Voice => "🎤 Voice message".to_owned(),
        MessageKind::File if text.is_empty() => "📎 File".to_owned(),
        _ if shortened => format!("{text}…"),
        _ => text,
    }
}

/// `Urgency` as the queue stores it.
pub fn urgency_code(urgency: Urgency) -> u8 {
    match urgency {
        Urgency::VeryLow => 0,
        Urgency::Low => 1,
        Urgency::Normal => 2,
        Urgency::High => 3,
    }
}

pub fn urgency_of(code: u8) -> Urgency {
    match code {
        0 => Urgency::VeryLow,
        1 => Urgency::Low,
        3 => Urgency::High,
        _ => Urgency::Normal,
    }
}

/// What a batch of new messages comes to, kept until the batch is claimed.
#[derive(Default)]
struct Told {
    pushes: Vec<QueuedPush>,
    topics: Vec<(String, NtfyMessage)>,
    /// (user, chat, seq): urgent messages to nudge about if still unread.
    nudges: Vec<(UserId, ChatId, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_short_and_name_attachments() {
        assert_eq!(preview(MessageKind::Text, "Halo!"), "Halo!");
        let long = "a".repeat(200);
        assert_eq!(
            preview(MessageKind::Text, &long).chars().count(),
            PREVIEW_CHARS + 1
        );
        assert_eq!(preview(MessageKind::Image, ""), "📷 Photo");
        assert_eq!(preview(MessageKind::Image, "Look"), "Look");
        assert_eq!(preview(MessageKind::Voice, ""), "🎤 Voice message");
    }

    #[test]
    fn urgency_codes_round_trip() {
        for urgency in [
            Urgency::VeryLow,
            Urgency::Low,
            Urgency::Normal,
            Urgency::High,
        ] {
            assert_eq!(
                urgency_code(urgency_of(urgency_code(urgency))),
                urgency_code(urgency)
            );
        }
    }
}
