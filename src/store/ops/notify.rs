//! Writes for notifications: mutes, push subscriptions, each user's ntfy
//! topic, and the durable push queue the sender works through.

use super::{Operation, StoreError, Tx, member_of};
use crate::id::{ChatId, UserId};
use crate::store::query::Query;
use crate::store::records::{PushJobRecord, PushSubscriptionRecord};
use crate::timestamp::Timestamp;

/// Mutes or unmutes a chat for one of its members.
#[derive(Debug, Clone, Copy)]
pub struct SetMute {
    pub user: UserId,
    pub chat: ChatId,
    pub muted: bool,
}

impl Operation for SetMute {
    /// Whether `user` is in the chat (nothing changes otherwise).
    type Output = bool;

    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, StoreError> {
        if member_of(tx, self.chat, self.user)?.is_none() {
            return Ok(false);
        }
        tx.set_mute(self.user, self.chat, self.muted)?;
        Ok(true)
    }
}

/// Stores a subscription under its endpoint's key, replacing the user's
/// earlier one for the same endpoint (the browser subscribed again, maybe
/// in a new session).
#[derive(Debug, Clone)]
pub struct Subscribe {
    pub endpoint_key: [u8; 16],
    pub subscription: PushSubscriptionRecord,
}

impl Operation for Subscribe {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        let user = self.subscription.user;
        if let Some(old) = tx.push_subscription(user, &self.endpoint_key)? {
            tx.remove_push_subscription(&self.endpoint_key, &old)?;
        }
        tx.put_push_subscription(&self.endpoint_key, &self.subscription)
    }
}

/// Removes one of `user`'s subscriptions.
#[derive(Debug, Clone, Copy)]
pub struct Unsubscribe {
    pub user: UserId,
    pub endpoint_key: [u8; 16],
}

impl Operation for Unsubscribe {
    /// Whether there was such a subscription.
    type Output = bool;

    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, StoreError> {
        match tx.push_subscription(self.user, &self.endpoint_key)? {
            Some(old) => {
                tx.remove_push_subscription(&self.endpoint_key, &old)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Gives a user the topic `topic` unless they have one: two first asks at
/// once end with one topic, the same for both.
#[derive(Debug, Clone, Copy)]
pub struct EnsureTopic {
    pub user: UserId,
    pub topic: [u8; 16],
}

impl Operation for EnsureTopic {
    /// The user's topic, new or kept.
    type Output = [u8; 16];

    fn apply(self, tx: &mut Tx<'_>) -> Result<[u8; 16], StoreError> {
        if let Some(topic) = tx.topic_of(self.user)? {
            return Ok(topic);
        }
        tx.put_topic(self.user, &self.topic)?;
        Ok(self.topic)
    }
}

/// Gives a user a new secret notification topic; the old one stops
/// working at once.
#[derive(Debug, Clone, Copy)]
pub struct ReplaceTopic {
    pub user: UserId,
    pub topic: [u8; 16],
}

impl Operation for ReplaceTopic {
    /// The topic it replaced, if any.
    type Output = Option<[u8; 16]>;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Option<[u8; 16]>, StoreError> {
        let old = tx.topic_of(self.user)?;
        tx.put_topic(self.user, &self.topic)?;
        Ok(old)
    }
}

/// A push to queue: due now, under a fresh random id.
#[derive(Debug, Clone)]
pub struct QueuedPush {
    pub due: Timestamp,
    pub id: [u8; 16],
    pub job: PushJobRecord,
}

/// Queues the pushes for new messages and marks those messages handled,
/// in one commit: a restart neither loses nor repeats a push.
#[derive(Debug, Clone)]
pub struct QueuePushes {
    pub pushes: Vec<QueuedPush>,
    /// The messages (chat, seq) these pushes are for.
    pub handled: Vec<(ChatId, u64)>,
}

impl Operation for QueuePushes {
    type Output = bool;

    /// `false`, changing nothing, when another node sharing the store
    /// handled one of these messages first: the rest are read again.
    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, StoreError> {
        for &(chat, seq) in &self.handled {
            if !tx.is_notify_intent(chat, seq)? {
                return Ok(false);
            }
        }
        for push in &self.pushes {
            tx.put_push_job(push.due, &push.id, &push.job)?;
        }
        for (chat, seq) in self.handled {
            tx.remove_notify_intent(chat, seq)?;
        }
        Ok(true)
    }
}

/// Takes up to `limit` pushes due at `now` for this node to send. Each is
/// moved to `now + lease`, so no other node sharing the store sends it
/// meanwhile, and one whose sender died goes out after the lease. Answers
/// the claimed pushes at their new times (what `SettlePush` names).
#[derive(Debug, Clone)]
pub struct ClaimPushes {
    pub now: Timestamp,
    pub lease: std::time::Duration,
    pub limit: usize,
}

impl Operation for ClaimPushes {
    type Output = Vec<(Timestamp, [u8; 16], PushJobRecord)>;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Self::Output, StoreError> {
        let until = self.now.plus(self.lease);
        let due = tx.due_pushes(self.now, self.limit)?;
        let mut claimed = Vec::with_capacity(due.len());
        for (at, id, job) in due {
            tx.remove_push_job(at, &id)?;
            tx.put_push_job(until, &id, &job)?;
            claimed.push((until, id, job));
        }
        Ok(claimed)
    }
}

/// What became of one attempt to send a queued push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Sent, or dropped for good (refused, expired, no subscription).
    Done,
    /// Try again at this time.
    RetryAt(Timestamp),
    /// The push service says the subscription is gone: drop it too.
    Gone,
}

/// Settles the queued push `(due, id)` after an attempt.
#[derive(Debug, Clone)]
pub struct SettlePush {
    pub due: Timestamp,
    pub id: [u8; 16],
    pub job: PushJobRecord,
    pub settled: Settled,
}

impl Operation for SettlePush {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), StoreError> {
        tx.remove_push_job(self.due, &self.id)?;
        match self.settled {
            Settled::Done => Ok(()),
            Settled::RetryAt(at) => {
                let mut job = self.job;
                job.attempts += 1;
                tx.put_push_job(at, &self.id, &job)
            }
            Settled::Gone => {
                let (user, key) = (self.job.user, self.job.endpoint_key);
                if let Some(subscription) = tx.push_subscription(user, &key)? {
                    tx.remove_push_subscription(&key, &subscription)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::Store;
    use crate::store::ops::tests::{chat_of_two, text};

    fn job(user: UserId) -> PushJobRecord {
        PushJobRecord {
            user,
            endpoint_key: [7; 16],
            payload: b"{}".to_vec(),
            urgency: 2,
            topic: None,
            expires_at: Timestamp::now().plus(Duration::from_secs(3600)),
            attempts: 0,
        }
    }

    #[tokio::test]
    async fn a_message_handled_by_one_notifier_queues_its_pushes_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (chat, ana, budi) = chat_of_two(&store).await;
        store.apply(text(chat, ana, None)).await.unwrap();
        let handled = store.read().unwrap().notify_intents(10).unwrap();
        assert_eq!(handled, vec![(chat, 1)]);
        // Two nodes read the same intent and both decide to push.
        let queue = |id: u8| QueuePushes {
            pushes: vec![QueuedPush {
                due: Timestamp::now(),
                id: [id; 16],
                job: job(budi),
            }],
            handled: handled.clone(),
        };
        assert!(store.apply(queue(1)).await.unwrap());
        assert!(!store.apply(queue(2)).await.unwrap());
        let reader = store.read().unwrap();
        let queued = reader
            .due_pushes(Timestamp::now().plus(Duration::from_secs(1)), 10)
            .unwrap();
        assert_eq!(queued.len(), 1, "one push, not two");
        assert_eq!(queued[0].1, [1; 16]);
        assert!(reader.notify_intents(10).unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_claimed_push_is_nobody_elses_until_its_lease_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (_, _, budi) = chat_of_two(&store).await;
        let now = Timestamp::now();
        store
            .apply(QueuePushes {
                pushes: vec![QueuedPush {
                    due: now,
                    id: [3; 16],
                    job: job(budi),
                }],
                handled: Vec::new(),
            })
            .await
            .unwrap();
        let lease = Duration::from_secs(120);
        let claim = |at: Timestamp| ClaimPushes {
            now: at,
            lease,
            limit: 10,
        };
        let first = store.apply(claim(now)).await.unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].0, now.plus(lease), "due again when the lease ends");
        assert!(store.apply(claim(now)).await.unwrap().is_empty());
        let after_lease = store.apply(claim(now.plus(lease))).await.unwrap();
        assert_eq!(
            after_lease.len(),
            1,
            "a dead claimant's push goes out after all"
        );
    }
}
