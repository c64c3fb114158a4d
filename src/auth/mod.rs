//! Who you are: one-time codes by phone, sessions, and the tokens that prove
//! them. Every rule of logging in lives here, for REST and sockets alike.

pub mod accounts;
pub mod delivery;
pub mod keys;
pub mod otp;
mod pace;
pub mod phone;
pub mod tokens;
mod waiting;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bus::Bus;
use crate::config::{Config, Registration};
use crate::error::{Error, Result};
use crate::id::{SessionId, UserId};
use crate::settings::LiveSettings;
use crate::store::{OtpRecord, Query, SessionRecord, Store, Swap, UserRecord, ops};
use crate::timestamp::Timestamp;

use delivery::{OtpMessage, OtpSender};
use keys::Keys;
use otp::Verdict;
use pace::DeliveryPace;
use tokens::{Signer, TokenError};
pub use waiting::WaitingCode;
use waiting::WaitingCodes;

/// The parts of `Config` that logging in depends on.
#[derive(Debug, Clone)]
pub struct Policy {
    pub access_lifetime: Duration,
    pub refresh_lifetime: Duration,
    pub otp_lifetime: Duration,
    pub otp_cooldown: Duration,
    /// Who may sign up, and with which numbers: changed at run time.
    pub settings: LiveSettings,
}

impl Policy {
    pub fn new(config: &Config, settings: LiveSettings) -> Self {
        Self {
            access_lifetime: config.jwt_expire,
            refresh_lifetime: config.refresh_expire,
            otp_lifetime: config.otp_expire,
            otp_cooldown: config.otp_cooldown,
            settings,
        }
    }
}

/// The authenticated caller of a request or socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user: UserId,
    pub session: SessionId,
    /// When the access token that proved it expires.
    pub expires_at: Timestamp,
}

/// Where a login comes from, remembered with its session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone)]
pub struct OtpSent {
    pub expires_in: u64,
    pub retry_after: u64,
}

#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

#[derive(Debug, Clone)]
pub struct Login {
    pub tokens: TokenPair,
    pub user: UserRecord,
    pub is_new_user: bool,
}

/// Why a number gets no code; logged, never told to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    PrefixNotAllowed,
    NotInvited,
    RegistrationClosed,
    Disabled,
}

/// What a send leaves to deliver.
enum Outgoing {
    /// A code, for the number's account if it has one.
    Code(String, Option<UserId>),
    /// Nothing: the number may not log in, for this reason.
    Nothing(Refusal),
}

/// The login service; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    signer: Signer,
    otp_key: [u8; 32],
    sender: Arc<dyn OtpSender>,
    /// How long `sender` takes lately, for answers that deliver nothing.
    pace: DeliveryPace,
    bus: Arc<dyn Bus>,
    policy: Policy,
    /// Codes sent and not yet used, for the admin console.
    waiting: WaitingCodes,
}

impl Auth {
    pub fn new(
        store: Store,
        keys: &Keys,
        sender: Arc<dyn OtpSender>,
        bus: Arc<dyn Bus>,
        policy: Policy,
    ) -> Self {
        let signer = Signer::new(&keys.jwt);
        Self {
            inner: Arc::new(Inner {
                store,
                signer,
                otp_key: keys.otp,
                pace: DeliveryPace::new(sender.first_guess()),
                sender,
                bus,
                policy,
                waiting: WaitingCodes::default(),
            }),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    pub fn sender(&self) -> &dyn OtpSender {
        self.inner.sender.as_ref()
    }

    /// Sends a code to `phone_text`, or pretends to when the number may not
    /// log in: the answer, its timing and later verify answers are the same
    /// either way, so they reveal nothing. `invite` is a group's invite
    /// code, which lets a new number sign up under `REGISTRATION=invite`.
    pub async fn send_otp(
        &self,
        phone_text: &str,
        invite: Option<&str>,
        client: &ClientInfo,
    ) -> Result<OtpSent> {
        let phone = phone::parse(phone_text)?;
        let policy = &self.inner.policy;
        let now = Timestamp::now();
        let (record, outgoing) = match self.admission(&phone, invite)? {
            Ok(account) => {
                let issued = otp::issue(&self.inner.otp_key, &phone, now, policy.otp_lifetime);
                (issued.record, Outgoing::Code(issued.code, account))
            }
            Err(refusal) => (
                otp::decoy(now, policy.otp_lifetime),
                Outgoing::Nothing(refusal),
            ),
        };
        if let Err(error) = self.store_code(&phone, &record, now).await {
            if matches!(error, Error::RateLimited { .. }) {
                count_send("cooldown");
            }
            return Err(error);
        }
        match outgoing {
            Outgoing::Code(code, account) => {
                self.deliver(&phone, code.clone(), record.clone()).await?;
                self.tell_waiting(&phone, code, record.expires_at, account, client);
            }
            Outgoing::Nothing(refusal) => {
                self.inner.waiting.forget(&phone);
                self.pretend_delivery(&phone, refusal).await;
            }
        }
        Ok(OtpSent {
            expires_in: policy.otp_lifetime.as_secs(),
            retry_after: policy.otp_cooldown.as_secs(),
        })
    }

    /// Hands the code to the sender and answers once it is delivered; a code
    /// that could not be delivered is withdrawn.
    async fn deliver(&self, phone: &str, code: String, record: OtpRecord) -> Result<()> {
        let inner = &self.inner;
        let message = OtpMessage {
            phone: phone.to_owned(),
            code,
            expires_at: record.expires_at,
        };
        let started = Instant::now();
        if let Err(error) = inner.sender.send(&message).await {
            tracing::warn!(phone = %phone, %error, "code delivery failed; the code was withdrawn");
            // A code sent meanwhile replaced this one and stays.
            let withdraw = ops::SaveOtp {
                phone: phone.to_owned(),
                read: Some(record),
                changed: None,
            };
            inner.store.apply(withdraw).await?;
            inner.waiting.forget(phone);
            count_send("delivery_failed");
            return Err(Error::OtpDeliveryFailed);
        }
        inner.pace.record(started.elapsed());
        count_send("sent");
        Ok(())
    }

    /// Lists a delivered code for the admin console, and shows it on the
    /// account's signed-in devices (`login_code`), so a person signs in a
    /// new device without SMS or the server log.
    fn tell_waiting(
        &self,
        phone: &str,
        code: String,
        expires_at: Timestamp,
        account: Option<UserId>,
        client: &ClientInfo,
    ) {
        let waiting = WaitingCode {
            phone: phone.to_owned(),
            code,
            expires_at,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
        };
        if let Some(user) = account {
            let event = crate::bus::Event::new("login_code", &LoginCodeEvent::from(&waiting));
            self.inner.bus.publish(&[user], &event);
        }
        self.inner.waiting.remember(waiting);
    }

    /// Codes sent and not yet used, soonest to expire first.
    pub fn waiting_codes(&self) -> Vec<WaitingCode> {
        self.inner.waiting.list()
    }

    /// Takes about as long as a delivery does lately, so a number that gets
    /// no code cannot be told apart by the answer time.
    async fn pretend_delivery(&self, phone: &str, refusal: Refusal) {
        tracing::info!(phone = %phone, reason = ?refusal, "no code sent: this number may not log in");
        count_send("refused");
        tokio::time::sleep(self.inner.pace.pretend()).await;
    }

    /// Stores `record` as `phone`'s code unless the last one is younger
    /// than the cooldown (`rate_limited`).
    async fn store_code(&self, phone: &str, record: &OtpRecord, now: Timestamp) -> Result<()> {
        let store = &self.inner.store;
        for _ in 0..ops::SWAP_ATTEMPTS {
            let read = store.read()?.otp(phone)?;
            let cooldown = self.inner.policy.otp_cooldown;
            if let Some(retry_after) = otp::cooldown_left(read.as_ref(), cooldown, now) {
                return Err(Error::RateLimited { retry_after });
            }
            let save = ops::SaveOtp {
                phone: phone.to_owned(),
                read,
                changed: Some(record.clone()),
            };
            if store.apply(save).await? == Swap::Done(()) {
                return Ok(());
            }
        }
        Err(Error::Unavailable)
    }

    /// Whether `phone` may get a code, and its account if it has one.
    fn admission(
        &self,
        phone: &str,
        invite: Option<&str>,
    ) -> Result<std::result::Result<Option<UserId>, Refusal>> {
        let settings = self.inner.policy.settings.current();
        if !settings.allows_number(phone) {
            return Ok(Err(Refusal::PrefixNotAllowed));
        }
        let reader = self.inner.store.read()?;
        if let Some(user) = reader.user_by_phone(phone)? {
            return Ok(if user.disabled {
                Err(Refusal::Disabled)
            } else {
                Ok(Some(user.id))
            });
        }
        let holds_group_invite = match invite {
            Some(code) => reader
                .group_invite(code)?
                .is_some_and(|invite| invite.is_open(Timestamp::now())),
            None => false,
        };
        Ok(match settings.registration {
            Registration::Open => Ok(None),
            Registration::Invite if holds_group_invite || reader.invite(phone)?.is_some() => {
                Ok(None)
            }
            Registration::Invite => Err(Refusal::NotInvited),
            Registration::Closed => Err(Refusal::RegistrationClosed),
        })
    }

    /// Checks a code; the first success for a number creates its user.
    pub async fn verify_otp(
        &self,
        phone_text: &str,
        code: &str,
        client: ClientInfo,
    ) -> Result<Login> {
        let phone = phone::parse(phone_text)?;
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::validation("otp", "the code is 6 digits"));
        }
        let now = Timestamp::now();
        let refresh_token = tokens::new_refresh_token();
        let store = &self.inner.store;
        for _ in 0..ops::SWAP_ATTEMPTS {
            let reader = store.read()?;
            let (read, tally) = (reader.otp(&phone)?, reader.wrong_codes(&phone)?);
            let key = &self.inner.otp_key;
            let (verdict, updated) =
                otp::verify(key, &phone, read.as_ref(), tally.as_ref(), code, now);
            let (Some(read), Some(updated)) = (read, updated) else {
                return Err(verdict_error(verdict));
            };
            if verdict != Verdict::Accepted {
                let count = ops::CountWrongCode {
                    phone: phone.clone(),
                    read,
                    changed: updated,
                    tally: otp::counted(tally.as_ref(), now),
                    tally_read: tally,
                };
                match store.apply(count).await? {
                    Swap::Done(()) => return Err(verdict_error(verdict)),
                    Swap::Changed => continue,
                }
            }
            let start = ops::StartSession {
                phone: phone.clone(),
                otp_read: read,
                otp_spent: updated,
                new_user: UserRecord::new(phone.clone(), None, now),
                session: SessionId::generate(),
                refresh_hash: tokens::refresh_hash(&refresh_token),
                user_agent: client.user_agent.clone(),
                ip: client.ip.clone(),
                at: now,
                expires_at: now.plus(self.inner.policy.refresh_lifetime),
            };
            let (user, is_new_user, session) = match store.apply(start).await? {
                ops::Started::Session {
                    user,
                    is_new_user,
                    session,
                } => (user, is_new_user, session),
                ops::Started::Disabled => return Err(Error::Forbidden),
                ops::Started::Changed => continue,
            };
            self.inner.waiting.forget(&phone);
            tracing::info!(user_id = %user.id, is_new_user, "logged in");
            let tokens = self.token_pair(user.id, session, refresh_token, now);
            return Ok(Login {
                tokens,
                user,
                is_new_user,
            });
        }
        Err(Error::Unavailable)
    }

    /// Trades a refresh token for a new pair. A token that was already
    /// traded in is a sign of theft: its whole session ends.
    pub async fn refresh(&self, refresh_token: &str, client: ClientInfo) -> Result<TokenPair> {
        let presented = tokens::refresh_hash(refresh_token);
        let next_token = tokens::new_refresh_token();
        let now = Timestamp::now();
        let store = &self.inner.store;
        for _ in 0..ops::SWAP_ATTEMPTS {
            let reader = store.read()?;
            let Some(record) = reader.refresh_token(&presented)? else {
                return Err(Error::Unauthorized);
            };
            let Some(read) = reader.session(record.session)? else {
                return Err(Error::Unauthorized);
            };
            if read.refresh_hash != presented {
                let end = ops::EndSession {
                    user: read.user,
                    session: read.id,
                };
                if store.apply(end).await? {
                    self.inner.bus.end_session(read.id);
                }
                tracing::warn!(user_id = %read.user, session_id = %read.id, "a rotated refresh token was presented again; session ended");
                return Err(Error::Unauthorized);
            }
            if now >= read.expires_at || !user_may_log_in(&reader, read.user)? {
                return Err(Error::Unauthorized);
            }
            let mut changed = read.clone();
            changed.refresh_hash = tokens::refresh_hash(&next_token);
            changed.last_used_at = now;
            changed.expires_at = now.plus(self.inner.policy.refresh_lifetime);
            if client.user_agent.is_some() {
                changed.user_agent.clone_from(&client.user_agent);
            }
            if client.ip.is_some() {
                changed.ip.clone_from(&client.ip);
            }
            let (user, session) = (changed.user, changed.id);
            if store.apply(ops::RenewSession { read, changed }).await? == Swap::Done(()) {
                return Ok(self.token_pair(user, session, next_token, now));
            }
        }
        Err(Error::Unavailable)
    }

    fn token_pair(
        &self,
        user: UserId,
        session: SessionId,
        refresh_token: String,
        now: Timestamp,
    ) -> TokenPair {
        let lifetime = self.inner.policy.access_lifetime;
        TokenPair {
            access_token: self.inner.signer.sign(user, session, now, lifetime),
            refresh_token,
            expires_in: lifetime.as_secs(),
        }
    }

    /// Checks an access token: signature, expiry, and that its session and
    /// user are still live, so an ended session stops working at once.
    pub fn authenticate(&self, access_token: &str) -> Result<Principal> {
        let subject = self
            .inner
            .signer
            .check(access_token)
            .map_err(|error| match error {
                TokenError::Expired => Error::TokenExpired,
                TokenError::Invalid => Error::Unauthorized,
            })?;
        let reader = self.inner.store.read()?;
        let live = reader.session(subject.session)?.is_some_and(|session| {
            session.user == subject.user && Timestamp::now() < session.expires_at
        });
        if !live || !user_may_log_in(&reader, subject.user)? {
            return Err(Error::Unauthorized);
        }
        Ok(Principal {
            user: subject.user,
            session: subject.session,
            expires_at: subject.expires_at,
        })
    }

    /// The user a token was signed for, checking only signature and expiry:
    /// enough to key a rate limit, never enough to grant access.
    pub fn token_user(&self, access_token: &str) -> Option<UserId> {
        self.inner
            .signer
            .check(access_token)
            .ok()
            .map(|subject| subject.user)
    }

    pub async fn logout(&self, principal: Principal) -> Result<()> {
        self.end_session(principal, principal.session).await
    }

    pub fn sessions(&self, principal: Principal) -> Result<Vec<SessionRecord>> {
        let mut sessions = self.inner.store.read()?.sessions_of(principal.user)?;
        sessions.sort_by_key(|session| std::cmp::Reverse(session.last_used_at));
        Ok(sessions)
    }

    /// Ends one of the caller's sessions; anyone else's is `not_found`.
    pub async fn end_session(&self, principal: Principal, session: SessionId) -> Result<()> {
        let end = ops::EndSession {
            user: principal.user,
            session,
        };
        if !self.inner.store.apply(end).await? {
            return Err(Error::NotFound);
        }
        self.inner.bus.end_session(session);
        Ok(())
    }
}

/// `login_code`: a code sent to the number of a signed-in user.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginCodeEvent<'a> {
    phone_number: &'a str,
    code: &'a str,
    expires_at: Timestamp,
    user_agent: Option<&'a str>,
    ip: Option<&'a str>,
}

impl<'a> From<&'a WaitingCode> for LoginCodeEvent<'a> {
    fn from(waiting: &'a WaitingCode) -> Self {
        Self {
            phone_number: &waiting.phone,
            code: &waiting.code,
            expires_at: waiting.expires_at,
            user_agent: waiting.user_agent.as_deref(),
            ip: waiting.ip.as_deref(),
        }
    }
}

/// `clavox_otp_sends_total` by what became of the request.
fn count_send(outcome: &'static str) {
    metrics::counter!("clavox_otp_sends_total", "outcome" => outcome).increment(1);
}

fn user_may_log_in(reader: &impl Query, user: UserId) -> Result<bool, crate::store::StoreError> {
    Ok(reader.user(user)?.is_some_and(|user| !user.disabled))
}

/// The error an attempt with a code that was not accepted answers.
fn verdict_error(verdict: Verdict) -> Error {
    match verdict {
        Verdict::Wrong { attempts_left } => Error::InvalidOtp {
            attempts_left: Some(attempts_left),
        },
        Verdict::Locked => Error::OtpLocked,
        Verdict::Expired => Error::OtpExpired,
        Verdict::Accepted | Verdict::Unknown => Error::InvalidOtp {
            attempts_left: None,
        },
    }
}
