//! What the API does with notifications: the server's VAPID key,
//! browsers' push subscriptions (checked against SSRF before they are
//! stored), and each user's secret ntfy topic.

use sha2::{Digest, Sha256};

use super::ntfy::Topics;
use super::webpush::{AllowedHosts, check_endpoint, check_keys};
use crate::error::{Error, Result};
use crate::id::{SessionId, UserId};
use crate::store::ops::{EnsureTopic, ReplaceTopic, Subscribe, Unsubscribe};
use crate::store::records::PushSubscriptionRecord;
use crate::store::{Query, Store};
use crate::timestamp::Timestamp;

/// The API's side of notifications; cheap to clone.
#[derive(Clone)]
pub struct Notifications {
    store: Store,
    topics: Topics,
    allowed: AllowedHosts,
    public_key: String,
    app_url: String,
}

/// A browser's subscription as the API receives it.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

impl Notifications {
    pub fn new(
        store: Store,
        topics: Topics,
        allowed: AllowedHosts,
        public_key: String,
        app_url: String,
    ) -> Self {
        Self {
            store,
            topics,
            allowed,
            public_key,
            app_url,
        }
    }

    /// The VAPID public key browsers subscribe with (base64url).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// Stores a subscription for this session, once its endpoint and keys
    /// pass the checks.
    pub async fn subscribe(
        &self,
        user: UserId,
        session: SessionId,
        subscription: NewSubscription,
    ) -> Result<()> {
        check_endpoint(&subscription.endpoint, &self.allowed)
            .map_err(|reason| Error::validation("endpoint", reason))?;
        check_keys(&subscription.p256dh, &subscription.auth)
            .map_err(|reason| Error::validation("keys", reason))?;
        let record = PushSubscriptionRecord {
            user,
            session,
            endpoint: subscription.endpoint,
            p256dh: subscription.p256dh,
            auth: subscription.auth,
            created_at: Timestamp::now(),
        };
        self.store
            .apply(Subscribe {
                endpoint_key: endpoint_key(&record.endpoint),
                subscription: record,
            })
            .await?;
        Ok(())
    }

    pub async fn unsubscribe(&self, user: UserId, endpoint: &str) -> Result<()> {
        self.store
            .apply(Unsubscribe {
                user,
                endpoint_key: endpoint_key(endpoint),
            })
            .await?;
        Ok(())
    }

    /// The user's topic, made on first ask.
    pub async fn topic(&self, user: UserId) -> Result<TopicLink> {
        if let Some(topic) = self.store.read()?.topic_of(user)? {
            return Ok(self.link(&topic));
        }
        let topic = self
            .store
            .apply(EnsureTopic {
                user,
                topic: rand::random(),
            })
            .await?;
        Ok(self.link(&topic))
    }

    /// A new topic for the user; the old one stops at once, and phones
    /// subscribed to it are cut off.
    pub async fn replace_topic(&self, user: UserId) -> Result<TopicLink> {
        let topic: [u8; 16] = rand::random();
        let old = self.store.apply(ReplaceTopic { user, topic }).await?;
        if let Some(old) = old {
            self.topics.forget(&hex::encode(old));
        }
        Ok(self.link(&topic))
    }

    fn link(&self, topic: &[u8; 16]) -> TopicLink {
        let path = format!("/notify/{}", hex::encode(topic));
        let url = format!("{}{path}", self.app_url.trim_end_matches('/'));
        TopicLink {
            qr_svg: crate::qr::svg(&url).unwrap_or_default(),
            url,
            path,
            topic: hex::encode(topic),
        }
    }

    /// Whether `topic` (hex) is some user's current topic.
    pub fn is_known_topic(store: &Store, topic: &str) -> bool {
        let Ok(bytes) = hex::decode(topic) else {
            return false;
        };
        let Ok(topic) = <[u8; 16]>::try_from(bytes.as_slice()) else {
            return false;
        };
        store
            .read()
            .and_then(|reader| reader.topic_owner(&topic))
            .is_ok_and(|owner| owner.is_some())
    }
}

/// A user's topic: its name, its path, its full URL, and that URL as a QR
/// code (an inline SVG) for the ntfy app to scan.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopicLink {
    pub topic: String,
    pub path: String,
    pub url: String,
    pub qr_svg: String,
}

/// A subscription is stored under a digest of its endpoint: fixed size,
/// and the same endpoint always lands on the same record.
pub fn endpoint_key(endpoint: &str) -> [u8; 16] {
    let digest = Sha256::digest(endpoint.as_bytes());
    let mut key = [0; 16];
    key.copy_from_slice(&digest[..16]);
    key
}
