//! Who is told about a new message while not looking, and how. The bus
//! hands every `new_message` to the notifier (`NotifyingBus`), off the
//! message path: a recipient with the app in view gets nothing more; one
//! who muted the chat gets nothing unless mentioned; everyone else gets a
//! Web Push on each subscribed browser (queued durably, sent by `sender`),
//! a message on their ntfy topic, and for private chats and mentions an
//! unread nudge by webhook later (`nudge`).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::ntfy::{NtfyMessage, Topics};
use super::nudge::Nudges;
use super::webpush::{Urgency, topic_for};
use crate::bus::{Bus, Event};
use crate::domain::ChatKind;
use crate::id::{ChatId, SessionId, UserId};
use crate::store::ops::{QueuePushes, QueuedPush};
use crate::store::records::PushJobRecord;
use crate::store::{Query, Store};
use crate::timestamp::Timestamp;

/// How long a push waits for a phone that is off (RFC 8030 `TTL`).
pub const PUSH_TTL: Duration = Duration::from_secs(24 * 3600);
/// New messages waiting for the notifier; past this (a stuck store) the
/// newest are dropped with a log line rather than slowing senders.
const BACKLOG: usize = 4096;
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

/// The notifier's intake, cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    arrivals: mpsc::Sender<Arrival>,
}

/// A new message and everyone it went to.
struct Arrival {
    recipients: Vec<UserId>,
    data: Arc<str>,
}

impl Notifier {
    /// Starts the notifier; it runs until `stop`.
    pub fn start(
        store: Store,
        bus: Arc<dyn Bus>,
        topics: Topics,
        nudges: Option<Nudges>,
        queued: Arc<Notify>,
        settings: Settings,
        stop: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (arrivals, incoming) = mpsc::channel(BACKLOG);
        let worker = Worker {
            store,
            bus,
            topics,
            nudges,
            queued,
            settings,
        };
        let task = tokio::spawn(worker.run(incoming, stop));
        (Self { arrivals }, task)
    }

    /// Takes a new message without waiting.
    fn offer(&self, recipients: &[UserId], data: Arc<str>) {
        let arrival = Arrival {
            recipients: recipients.to_vec(),
            data,
        };
        if self.arrivals.try_send(arrival).is_err() {
            tracing::warn!("the notifier is behind; a new message was not notified");
        }
    }
}

/// A `Bus` that also hands each new message to the notifier.
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
            self.notifier.offer(users, Arc::clone(&event.data));
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

/// What the notifier reads of a `new_message` event.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewMessage {
    chat_id: ChatId,
    sender_id: UserId,
    seq: u64,
    content: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    mentions: Vec<UserId>,
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

struct Worker {
    store: Store,
    bus: Arc<dyn Bus>,
    topics: Topics,
    nudges: Option<Nudges>,
    queued: Arc<Notify>,
    settings: Settings,
}

/// One notification, as every channel shows it.
struct Note {
    title: String,
    body: String,
    urgent: bool,
}

impl Worker {
    async fn run(self, mut incoming: mpsc::Receiver<Arrival>, stop: CancellationToken) {
        loop {
            let arrival = tokio::select! {
                () = stop.cancelled() => return,
                arrival = incoming.recv() => match arrival {
                    Some(arrival) => arrival,
                    None => return,
                },
            };
            // Everything waiting goes into one store write.
            let mut arrivals = vec![arrival];
            while arrivals.len() < 256
                && let Ok(more) = incoming.try_recv()
            {
                arrivals.push(more);
            }
            if let Err(problem) = self.notify(&arrivals).await {
                tracing::warn!("notifications for new messages failed: {problem}");
            }
        }
    }

    async fn notify(&self, arrivals: &[Arrival]) -> Result<(), String> {
        let reader = self.store.read().map_err(|error| error.to_string())?;
        let mut pushes = Vec::new();
        for arrival in arrivals {
            let Ok(message) = serde_json::from_str::<NewMessage>(&arrival.data) else {
                continue;
            };
            for &user in &arrival.recipients {
                if user == message.sender_id || self.bus.is_watching(user) {
                    continue;
                }
                let mentioned = message.mentions.contains(&user);
                let muted = reader
                    .is_muted(user, message.chat_id)
                    .map_err(|error| error.to_string())?;
                if muted && !mentioned {
                    continue;
                }
                let Some(note) = self.note(&reader, &message, mentioned)? else {
                    continue;
                };
                self.publish_to_topic(&reader, user, &message, &note)?;
                pushes.extend(self.pushes_for(&reader, user, &message, &note)?);
                if note.urgent
                    && let Some(nudges) = &self.nudges
                {
                    nudges.expect(user, message.chat_id, message.seq);
                }
            }
        }
        if !pushes.is_empty() {
            self.store
                .apply(QueuePushes { pushes })
                .await
                .map_err(|error| error.to_string())?;
            self.queued.notify_one();
        }
        Ok(())
    }

    /// The title and text of a notification about `message`, or `None`
    /// when its chat or sender is gone.
    fn note(
        &self,
        reader: &impl Query,
        message: &NewMessage,
        mentioned: bool,
    ) -> Result<Option<Note>, String> {
        let fail = |error: crate::store::StoreError| error.to_string();
        let Some(chat) = reader.chat(message.chat_id).map_err(fail)? else {
            return Ok(None);
        };
        let Some(sender) = reader.user(message.sender_id).map_err(fail)? else {
            return Ok(None);
        };
        let sender = sender
            .name
            .filter(|name| !name.trim().is_empty())
            .unwrap_or(sender.phone);
        let text = if self.settings.preview {
            preview(&message.kind, &message.content)
        } else {
            "New message".to_owned()
        };
        let private = chat.kind == ChatKind::Private;
        let (title, body) = if private {
            (sender, text)
        } else {
            let group = chat.name.clone().unwrap_or_else(|| "Group".to_owned());
            (group, format!("{sender}: {text}"))
        };
        Ok(Some(Note {
            title,
            body,
            urgent: private || mentioned,
        }))
    }

    fn publish_to_topic(
        &self,
        reader: &impl Query,
        user: UserId,
        message: &NewMessage,
        note: &Note,
    ) -> Result<(), String> {
        let Some(topic) = reader.topic_of(user).map_err(|error| error.to_string())? else {
            return Ok(());
        };
        self.topics.publish(
            &hex::encode(topic),
            NtfyMessage {
                title: note.title.clone(),
                message: note.body.clone(),
                click: Some(format!(
                    "{}/chats/{}",
                    self.settings.app_url.trim_end_matches('/'),
                    message.chat_id
                )),
                priority: if note.urgent { 4 } else { 3 },
                tags: Vec::new(),
            },
        );
        Ok(())
    }

    fn pushes_for(
        &self,
        reader: &impl Query,
        user: UserId,
        message: &NewMessage,
        note: &Note,
    ) -> Result<Vec<QueuedPush>, String> {
        let subscriptions = reader
            .push_subscriptions(user)
            .map_err(|error| error.to_string())?;
        if subscriptions.is_empty() {
            return Ok(Vec::new());
        }
        let payload = serde_json::to_vec(&PushPayload {
            chat_id: message.chat_id,
            seq: message.seq,
            title: &note.title,
            body: &note.body,
            url: format!("/chats/{}", message.chat_id),
        })
        .map_err(|error| error.to_string())?;
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
                    topic: Some(topic_for(&message.chat_id.to_string())),
                    expires_at,
                    attempts: 0,
                },
            })
            .collect())
    }
}

/// What a notification shows of a message: its text, shortened, or what
/// kind of attachment it is.
fn preview(kind: &str, content: &str) -> String {
    let text: String = content.chars().take(PREVIEW_CHARS).collect();
    let shortened = content.chars().nth(PREVIEW_CHARS).is_some();
    match kind {
        "image" if text.is_empty() => "📷 Photo".to_owned(),
        "audio" => "🎤 Voice message".to_owned(),
        "file" if text.is_empty() => "📎 File".to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_short_and_name_attachments() {
        assert_eq!(preview("text", "Halo!"), "Halo!");
        let long = "a".repeat(200);
        assert_eq!(preview("text", &long).chars().count(), PREVIEW_CHARS + 1);
        assert_eq!(preview("image", ""), "📷 Photo");
        assert_eq!(preview("image", "Look"), "Look");
        assert_eq!(preview("audio", ""), "🎤 Voice message");
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
