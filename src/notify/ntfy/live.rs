//! One live subscription as a sequence of events, whatever the wire: `open`
//! first, then the cached messages asked for, then each message as it is
//! published, with a `keepalive` whenever the interval comes round.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::event::{Event, Kind};
use super::topics::{Settings, Subscription};
use crate::timestamp::Timestamp;

/// A zero interval would spin; tests use tens of milliseconds.
const SHORTEST_KEEPALIVE: Duration = Duration::from_millis(1);

/// Why a live subscription ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server is shutting down.
    Shutdown,
    /// The topic was forgotten (replaced by its owner).
    Forgotten,
    /// The subscriber fell more than `subscriber_backlog` messages behind.
    FellBehind,
}

pub struct Live {
    topic: String,
    pending: VecDeque<Arc<Event>>,
    subscription: Subscription,
    keepalive: Interval,
    shutdown: CancellationToken,
}

impl Live {
    /// Needs a Tokio runtime (for the keepalive timer).
    pub fn start(topic: &str, subscription: Subscription, settings: &Settings) -> Self {
        let open = Event::control(Kind::Open, topic, Timestamp::now().seconds());
        let mut pending = VecDeque::with_capacity(subscription.backlog.len() + 1);
        pending.push_back(Arc::new(open));
        pending.extend(subscription.backlog.iter().cloned());
        let period = settings.keepalive.max(SHORTEST_KEEPALIVE);
        let mut keepalive = tokio::time::interval_at(Instant::now() + period, period);
        // A stalled writer gets one keepalive afterwards, not a burst.
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            topic: topic.to_owned(),
            pending,
            subscription,
            keepalive,
            shutdown: settings.shutdown.clone(),
        }
    }

    /// The next event to write. Cancel-safe: dropping the future loses nothing.
    pub async fn next(&mut self) -> Result<Arc<Event>, End> {
        if self.shutdown.is_cancelled() {
            return Err(End::Shutdown);
        }
        if let Some(event) = self.pending.pop_front() {
            return Ok(event);
        }
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => Err(End::Shutdown),
            received = self.subscription.receiver.recv() => match received {
                Ok(event) => Ok(event),
                Err(RecvError::Closed) => Err(End::Forgotten),
                Err(RecvError::Lagged(_)) => Err(End::FellBehind),
            },
            _ = self.keepalive.tick() => {
                Ok(Arc::new(Event::control(Kind::Keepalive, &self.topic, Timestamp::now().seconds())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::ntfy::NtfyMessage;
    use crate::notify::ntfy::since::Since;
    use crate::notify::ntfy::topics::Topics;

    fn topics(backlog: usize) -> Topics {
        let mut settings = Settings::new(CancellationToken::new());
        settings.subscriber_backlog = backlog;
        settings.keepalive = Duration::from_millis(20);
        Topics::new(settings, |_| true)
    }

    fn start(topics: &Topics, since: &Since) -> Live {
        Live::start("t", topics.subscribe("t", since), topics.settings())
    }

    fn text(text: &str) -> NtfyMessage {
        NtfyMessage {
            message: text.into(),
            ..NtfyMessage::default()
        }
    }

    async fn kind(live: &mut Live) -> Result<Kind, End> {
        live.next().await.map(|event| event.event)
    }

    #[tokio::test]
    async fn open_comes_first_then_the_backlog_then_live_messages_and_keepalives() {
        let topics = topics(8);
        topics.publish("t", text("cached"));
        let mut live = start(&topics, &Since::All);
        assert_eq!(kind(&mut live).await, Ok(Kind::Open));
        assert_eq!(
            live.next().await.map(|event| event.message.clone()),
            Ok(Some("cached".into()))
        );
        topics.publish("t", text("live"));
        assert_eq!(
            live.next().await.map(|event| event.message.clone()),
            Ok(Some("live".into()))
        );
        assert_eq!(kind(&mut live).await, Ok(Kind::Keepalive));
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_ended_and_publishing_goes_on() {
        let topics = topics(2);
        let mut live = start(&topics, &Since::Nothing);
        assert_eq!(kind(&mut live).await, Ok(Kind::Open));
        for number in 0..5 {
            topics.publish("t", text(&number.to_string()));
        }
        assert_eq!(kind(&mut live).await, Err(End::FellBehind));
    }

    #[tokio::test]
    async fn shutdown_and_forgetting_end_the_subscription() {
        let topics = topics(8);
        let mut live = start(&topics, &Since::Nothing);
        topics.forget("t");
        assert_eq!(kind(&mut live).await, Ok(Kind::Open));
        assert_eq!(kind(&mut live).await, Err(End::Forgotten));

        let mut live = start(&topics, &Since::Nothing);
        topics.settings().shutdown.cancel();
        assert_eq!(kind(&mut live).await, Err(End::Shutdown));
    }
}
