//! Access tokens (JWT, HS256, claims `sub`, `sid`, `iat`, `exp`) and refresh
//! tokens (256 random bits, stored only as SHA-256).

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::{SessionId, UserId};
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

/// Whose token it is, once the signature and expiry have been checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSubject {
    pub user: UserId,
    pub session: SessionId,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
}

/// Signs and checks access tokens with one HS256 key.
pub struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is exact: an ended token must not live on for a grace period.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn sign(
        &self,
        user: UserId,
        session: SessionId,
        now: Timestamp,
        lifetime: std::time::Duration,
    ) -> String {
        let claims = Claims {
            sub: user.to_string(),
            sid: session.to_string(),
            iat: now.seconds(),
            exp: now.plus(lifetime).seconds(),
        };
        // HS256 signing of a serialisable struct cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing succeeds")
    }

    pub fn check(&self, token: &str) -> Result<TokenSubject, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let claims = data.claims;
        let user = claims.sub.parse().map_err(|_| TokenError::Invalid)?;
        let session = claims.sid.parse().map_err(|_| TokenError::Invalid)?;
        Ok(TokenSubject {
            user,
            session,
            expires_at: Timestamp::from_millis(claims.exp.saturating_mul(1000)),
        })
    }
}

/// A new refresh token: 256 random bits as 64 hex characters.
pub fn new_refresh_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// What the store keeps of a refresh token.
pub fn refresh_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn signer() -> Signer {
        Signer::new(&[42; 32])
    }

    #[test]
    fn a_signed_token_checks_out() {
        let (user, session) = (UserId::generate(), SessionId::generate());
        let token = signer().sign(user, session, Timestamp::now(), Duration::from_secs(60));
        let subject = signer().check(&token).unwrap();
        assert_eq!((subject.user, subject.session), (user, session));
    }

    #[test]
    fn expired_tokens_are_told_apart_from_bad_ones() {
        let past = Timestamp::from_millis(Timestamp::now().millis() - 120_000);
        let token = signer().sign(
            UserId::generate(),
            SessionId::generate(),
            past,
            Duration::from_secs(60),
        );
        assert_eq!(signer().check(&token), Err(TokenError::Expired));
    }

    #[test]
    fn tokens_from_another_key_or_without_a_signature_are_invalid() {
        let token = Signer::new(&[1; 32]).sign(
            UserId::generate(),
            SessionId::generate(),
            Timestamp::now(),
            Duration::from_secs(60),
        );
        assert_eq!(signer().check(&token), Err(TokenError::Invalid));
        let unsigned = {
            let payload = token.split('.').nth(1).unwrap();
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
        };
        assert_eq!(signer().check(&unsigned), Err(TokenError::Invalid));
        assert_eq!(signer().check("not a token"), Err(TokenError::Invalid));
    }

    #[test]
    fn refresh_tokens_are_long_and_distinct() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_ne!(refresh_hash(&a), refresh_hash(&b));
    }
}
