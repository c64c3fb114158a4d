//! Web Push (RFC 8030, 8291, 8292): the server's VAPID key, which endpoints
//! a subscription may name, and sending one encrypted, signed push. It owns
//! the outbound guard against server-side request forgery (an endpoint
//! comes from a browser, so from anyone): only browsers' push services and
//! the hosts an admin lists are admitted, and the address actually dialled
//! is checked again after resolution. It never decides who gets a push,
//! never stores subscriptions and never retries: the caller acts on the
//! [`PushOutcome`].

mod endpoint;
mod resolver;
mod send;
mod vapid;

pub use endpoint::{AllowedHosts, MAX_ENDPOINT_LENGTH, PUSH_SERVICES, check_endpoint};
pub use resolver::{AddressRefused, PushResolver, is_public};
pub use send::{MAX_PAYLOAD, PushMessage, PushOutcome, Urgency, WebPush, check_keys, topic_for};
pub use vapid::VapidKey;
