//! Who you are: one-time codes by phone, sessions, and the tokens that prove
//! them. Every rule of logging in lives here, for REST and sockets alike.

pub mod accounts;
pub mod delivery;
pub mod keys;
pub mod otp;
pub mod phone;
pub mod tokens;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Registration};
use crate::error::{Error, Result};
use crate::events::Notifier;
use crate::id::{SessionId, UserId};
use crate::store::{Query, RefreshRecord, SessionRecord, Store, Tx, UserRecord};
use crate::timestamp::Timestamp;

use delivery::{OtpMessage, OtpSender};
use keys::Keys;
use otp::Verdict;
use tokens::{Signer, TokenError};

/// The parts of `Config` that logging in depends on.
#[derive(Debug, Clone)]
pub struct Policy {
    pub access_lifetime: Duration,
    pub refresh_lifetime: Duration,
    pub otp_lifetime: Duration,
    pub otp_cooldown: Duration,
    pub registration: Registration,
    pub allowed_prefixes: Vec<String>,
}

impl Policy {
    pub fn from_config(config: &Config) -> Self {
        Self {
            access_lifetime: config.jwt_expire,
            refresh_lifetime: config.refresh_expire,
            otp_lifetime: config.otp_expire,
            otp_cooldown: config.otp_cooldown,
            registration: config.registration,
            allowed_prefixes: config.allowed_phone_prefixes.clone(),
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
    notifier: Arc<dyn Notifier>,
    policy: Policy,
}

impl Auth {
    pub fn new(
        store: Store,
        keys: &Keys,
        sender: Arc<dyn OtpSender>,
        notifier: Arc<dyn Notifier>,
        policy: Policy,
    ) -> Self {
        let signer = Signer::new(&keys.jwt);
        Self {
            inner: Arc::new(Inner {
                store,
                signer,
                otp_key: keys.otp,
                sender,
                notifier,
                policy,
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
    /// log in: the answer is the same either way, so it reveals nothing.
    pub async fn send_otp(&self, phone_text: &str) -> Result<OtpSent> {
        let phone = parse_phone(phone_text)?;
        let inner = &self.inner;
        let policy = &inner.policy;
        let now = Timestamp::now();
        let refusal = self.refusal(&phone)?;
        let issued = otp::issue(&inner.otp_key, &phone, now, policy.otp_lifetime);
        let record = if refusal.is_some() {
            otp::blank(now)
        } else {
            issued.record.clone()
        };
        let cooldown = policy.otp_cooldown;
        let stored_phone = phone.clone();
        let waited = inner
            .store
            .write(move |tx| {
                if let Some(retry_after) =
                    otp::cooldown_left(tx.otp(&stored_phone)?.as_ref(), cooldown, now)
                {
                    return Ok(Err(retry_after));
                }
                tx.put_otp(&stored_phone, &record)?;
                Ok(Ok(()))
            })
            .await?;
        if let Err(retry_after) = waited {
            count_send("cooldown");
            return Err(Error::RateLimited { retry_after });
        }
        let sent = OtpSent {
            expires_in: policy.otp_lifetime.as_secs(),
            retry_after: policy.otp_cooldown.as_secs(),
        };
        if let Some(refusal) = refusal {
            tracing::info!(phone = %phone, reason = ?refusal, "no code sent: this number may not log in");
            count_send("refused");
            return Ok(sent);
        }
        let message = OtpMessage {
            phone: phone.clone(),
            code: issued.code,
            expires_at: issued.record.expires_at,
        };
        if let Err(error) = inner.sender.send(&message).await {
            tracing::warn!(phone = %phone, %error, "code delivery failed; the code was withdrawn");
            let withdrawn_phone = phone.clone();
            inner
                .store
                .write(move |tx| tx.remove_otp(&withdrawn_phone))
                .await?;
            count_send("delivery_failed");
            return Err(Error::OtpDeliveryFailed);
        }
        count_send("sent");
        Ok(sent)
    }

    fn refusal(&self, phone: &str) -> Result<Option<Refusal>> {
        let policy = &self.inner.policy;
        if !policy.allowed_prefixes.is_empty()
            && !policy
                .allowed_prefixes
                .iter()
                .any(|prefix| phone.starts_with(prefix.as_str()))
        {
            return Ok(Some(Refusal::PrefixNotAllowed));
        }
        let reader = self.inner.store.read()?;
        if let Some(user) = reader.user_by_phone(phone)? {
            return Ok(user.disabled.then_some(Refusal::Disabled));
        }
        Ok(match policy.registration {
            Registration::Open => None,
            Registration::Invite if reader.invite(phone)?.is_some() => None,
            Registration::Invite => Some(Refusal::NotInvited),
            Registration::Closed => Some(Refusal::RegistrationClosed),
        })
    }

    /// Checks a code; the first success for a number creates its user.
    pub async fn verify_otp(
        &self,
        phone_text: &str,
        code: &str,
        client: ClientInfo,
    ) -> Result<Login> {
        let phone = parse_phone(phone_text)?;
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::validation("otp", "the code is 6 digits"));
        }
        let inner = Arc::clone(&self.inner);
        let code = code.to_owned();
        let now = Timestamp::now();
        let refresh_token = tokens::new_refresh_token();
        let refresh_hash = tokens::refresh_hash(&refresh_token);
        let refresh_lifetime = inner.policy.refresh_lifetime;
        let outcome = self
            .inner
            .store
            .write(move |tx| {
                let (verdict, updated) =
                    otp::verify(&inner.otp_key, &phone, tx.otp(&phone)?.as_ref(), &code, now);
                if let Some(updated) = &updated {
                    tx.put_otp(&phone, updated)?;
                }
                let error = match verdict {
                    Verdict::Accepted => None,
                    Verdict::Wrong { attempts_left } => Some(Error::InvalidOtp {
                        attempts_left: Some(attempts_left),
                    }),
                    Verdict::Locked => Some(Error::OtpLocked),
                    Verdict::Expired => Some(Error::OtpExpired),
                    Verdict::Unknown => Some(Error::InvalidOtp {
                        attempts_left: None,
                    }),
                };
                if let Some(error) = error {
                    return Ok(Err(error));
                }
                let (user, is_new_user) = match tx.user_by_phone(&phone)? {
                    Some(user) if user.disabled => return Ok(Err(Error::Forbidden)),
                    Some(user) => (user, false),
                    None => {
                        let user = UserRecord::new(phone.clone(), None, now);
                        tx.put_user(&user)?;
                        (user, true)
                    }
                };
                let session = SessionRecord {
                    id: SessionId::generate(),
                    user: user.id,
                    refresh_hash,
                    user_agent: client.user_agent,
                    ip: client.ip,
                    created_at: now,
                    last_used_at: now,
                    expires_at: now.plus(refresh_lifetime),
                };
                store_session(tx, &session)?;
                Ok(Ok((user, session.id, is_new_user)))
            })
            .await??;
        let (user, session, is_new_user) = outcome;
        tracing::info!(user_id = %user.id, is_new_user, "logged in");
        let tokens = self.token_pair(user.id, session, refresh_token, now);
        Ok(Login {
            tokens,
            user,
            is_new_user,
        })
    }

    /// Trades a refresh token for a new pair. A token that was already
    /// traded in is a sign of theft: its whole session ends.
    pub async fn refresh(&self, refresh_token: &str, client: ClientInfo) -> Result<TokenPair> {
        let presented = tokens::refresh_hash(refresh_token);
        let next_token = tokens::new_refresh_token();
        let next_hash = tokens::refresh_hash(&next_token);
        let now = Timestamp::now();
        let inner = Arc::clone(&self.inner);
        let lifetime = inner.policy.refresh_lifetime;
        let renewed = self
            .inner
            .store
            .write(move |tx| {
                let Some(record) = tx.refresh_token(&presented)? else { return Ok(Err(Error::Unauthorized)) };
                let Some(mut session) = tx.session(record.session)? else { return Ok(Err(Error::Unauthorized)) };
                if session.refresh_hash != presented {
                    tx.remove_session(session.user, session.id)?;
                    let ended = session.id;
                    let notifier = Arc::clone(&inner.notifier);
                    tx.on_commit(move || notifier.end_session(ended));
                    tracing::warn!(user_id = %session.user, session_id = %session.id, "a rotated refresh token was presented again; session ended");
                    return Ok(Err(Error::Unauthorized));
                }
                if now >= session.expires_at || !user_may_log_in(tx, session.user)? {
                    return Ok(Err(Error::Unauthorized));
                }
                session.refresh_hash = next_hash;
                session.last_used_at = now;
                session.expires_at = now.plus(lifetime);
                if client.user_agent.is_some() {
                    session.user_agent = client.user_agent;
                }
                if client.ip.is_some() {
                    session.ip = client.ip;
                }
                store_session(tx, &session)?;
                Ok(Ok((session.user, session.id)))
            })
            .await??;
        let (user, session) = renewed;
        Ok(self.token_pair(user, session, next_token, now))
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
        let notifier = Arc::clone(&self.inner.notifier);
        self.inner
            .store
            .write(move |tx| match tx.session(session)? {
                Some(record) if record.user == principal.user => {
                    tx.remove_session(record.user, session)?;
                    tx.on_commit(move || notifier.end_session(session));
                    Ok(Ok(()))
                }
                _ => Ok(Err(Error::NotFound)),
            })
            .await?
    }
}

/// `clavox_otp_sends_total` by what became of the request.
fn count_send(outcome: &'static str) {
    metrics::counter!("clavox_otp_sends_total", "outcome" => outcome).increment(1);
}

fn parse_phone(text: &str) -> Result<String> {
    phone::normalize(text).ok_or_else(|| {
        Error::validation(
            "phoneNumber",
            "must be an international phone number such as +6281234567890",
        )
    })
}

fn user_may_log_in(reader: &impl Query, user: UserId) -> Result<bool, crate::store::StoreError> {
    Ok(reader.user(user)?.is_some_and(|user| !user.disabled))
}

fn store_session(tx: &Tx<'_>, session: &SessionRecord) -> Result<(), crate::store::StoreError> {
    tx.put_session(session)?;
    tx.put_refresh_token(
        &session.refresh_hash,
        &RefreshRecord {
            session: session.id,
            expires_at: session.expires_at,
        },
    )
}
