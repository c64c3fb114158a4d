//! Works through the durable push queue: sends what is due, several at
//! once, and settles each attempt in the store — sent, gone (the
//! subscription goes too), or due again later with backoff, until the push
//! outlives its `TTL`. A push service that is slow or down delays only its
//! own pushes; nothing here is on the message path.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::notifier::urgency_of;
use super::webpush::{PushMessage, PushOutcome, WebPush};
use crate::store::ops::{ClaimPushes, SettlePush, Settled};
use crate::store::records::PushJobRecord;
use crate::store::{Query, Store};
use crate::timestamp::Timestamp;

/// Pushes in flight at once.
const IN_FLIGHT: usize = 32;
/// How long a claimed push is this node's to send (longer than an attempt
/// may take); a node that dies meanwhile leaves it due again after that.
const LEASE: Duration = Duration::from_secs(120);
/// The longest the sender sleeps without looking at the queue.
const LOOK_EVERY: Duration = Duration::from_secs(30);
/// Waits between attempts: 10 s, doubling, at most an hour.
const FIRST_RETRY: Duration = Duration::from_secs(10);
const MAX_RETRY: Duration = Duration::from_secs(3600);

/// Sends queued pushes until `stop`; `queued` wakes it when new ones come.
pub async fn run(store: Store, push: Arc<WebPush>, queued: Arc<Notify>, stop: CancellationToken) {
    let mut in_flight: HashSet<[u8; 16]> = HashSet::new();
    let mut attempts: JoinSet<[u8; 16]> = JoinSet::new();
    loop {
        let room = IN_FLIGHT.saturating_sub(in_flight.len());
        let due = if room == 0 {
            Vec::new()
        } else {
            match due_now(&store, room).await {
                Ok(due) => due,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the push queue");
                    Vec::new()
                }
            }
        };
        let fresh: Vec<_> = due
            .into_iter()
            .filter(|(_, id, _)| !in_flight.contains(id))
            .take(room)
            .collect();
        for (at, id, job) in fresh {
            in_flight.insert(id);
            let (store, push) = (store.clone(), Arc::clone(&push));
            attempts.spawn(async move {
                attempt(&store, &push, at, id, job).await;
                id
            });
        }
        let wait = next_wait(&store);
        tokio::select! {
            () = stop.cancelled() => break,
            () = queued.notified() => {}
            Some(done) = attempts.join_next(), if !attempts.is_empty() => {
                if let Ok(id) = done {
                    in_flight.remove(&id);
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
    // Attempts under way are cut off; their pushes stay queued and go
    // after the restart.
    attempts.shutdown().await;
}

/// Up to `room` pushes due now for this node to send. A node alone with its
/// store just reads them (`in_flight` keeps it from sending one twice);
/// nodes sharing a store claim them, so each goes out from one node.
async fn due_now(
    store: &Store,
    room: usize,
) -> Result<Vec<(Timestamp, [u8; 16], PushJobRecord)>, crate::store::StoreError> {
    let now = Timestamp::now();
    let due = store.read()?.due_pushes(now, room * 2)?;
    if store.is_embedded() || due.is_empty() {
        return Ok(due);
    }
    store
        .apply(ClaimPushes {
            now,
            lease: LEASE,
            limit: room,
        })
        .await
}

/// How long until the soonest queued push is due (capped).
fn next_wait(store: &Store) -> Duration {
    let due = store
        .read()
        .and_then(|reader| reader.next_push_due())
        .ok()
        .flatten();
    due.map_or(LOOK_EVERY, |due| {
        Timestamp::now().until(due).min(LOOK_EVERY)
    })
}

/// One try at one push, settled in the store.
async fn attempt(store: &Store, push: &WebPush, due: Timestamp, id: [u8; 16], job: PushJobRecord) {
    let settled = settle(store, push, &job).await;
    let settle = SettlePush {
        due,
        id,
        job,
        settled,
    };
    if let Err(error) = store.apply(settle).await {
        tracing::warn!(%error, "cannot settle a push");
    }
}

async fn settle(store: &Store, push: &WebPush, job: &PushJobRecord) -> Settled {
    let now = Timestamp::now();
    if job.expires_at <= now {
        return Settled::Done;
    }
    let subscription = match store
        .read()
        .and_then(|reader| reader.push_subscription(job.user, &job.endpoint_key))
    {
        Ok(Some(subscription)) => subscription,
        // Unsubscribed or signed out meanwhile: nothing to send to.
        Ok(None) => return Settled::Done,
        Err(error) => {
            tracing::warn!(%error, "cannot read a push subscription");
            return Settled::RetryAt(now.plus(FIRST_RETRY));
        }
    };
    let message = PushMessage {
        endpoint: subscription.endpoint,
        p256dh: subscription.p256dh,
        auth: subscription.auth,
        payload: job.payload.clone(),
        ttl: now.until(job.expires_at),
        urgency: urgency_of(job.urgency),
        topic: job.topic.clone(),
    };
    match push.send(&message).await {
        PushOutcome::Delivered => Settled::Done,
        PushOutcome::Gone => Settled::Gone,
        PushOutcome::Refused(reason) => {
            tracing::info!(%reason, "a push service refused a push; dropped");
            Settled::Done
        }
        PushOutcome::RetryAfter(asked) => {
            let backoff = FIRST_RETRY
                .saturating_mul(1 << job.attempts.min(12))
                .min(MAX_RETRY);
            let at = now.plus(asked.max(backoff));
            if at >= job.expires_at {
                Settled::Done
            } else {
                Settled::RetryAt(at)
            }
        }
    }
}
