//! Extractors that turn a request into typed input or SPEC's errors: JSON
//! bodies (415, 413, `invalid_json`, `validation_failed` with the field),
//! query strings, ids in paths, the authenticated caller, and the client's
//! address.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, FORWARDED, USER_AGENT};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::auth::{ClientInfo, Principal};
use crate::config::{Config, JSON_BODY_LIMIT};
use crate::error::Error;
use crate::http::AppState;

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

/// A JSON body that may also be absent (an empty body).
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        match OptionalJsonBody::from_request(request, state).await? {
            OptionalJsonBody(Some(value)) => Ok(Self(value)),
            OptionalJsonBody(None) => Err(Error::InvalidJson(
                "the body is empty; send a JSON object".into(),
            )),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = Error;

    async fn from_request(request: Request, _: &S) -> Result<Self, Error> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(is_json_type);
        let bytes = read_body(request).await?;
        if bytes.is_empty() && is_json != Some(true) {
            return Ok(Self(None));
        }
        if is_json != Some(true) {
            return Err(Error::UnsupportedMediaType);
        }
        parse_json(&bytes).map(|value| Self(Some(value)))
    }
}

fn is_json_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_body(request: Request) -> Result<Bytes, Error> {
    axum::body::to_bytes(request.into_body(), JSON_BODY_LIMIT)
        .await
        .map_err(|error| {
            let too_large = std::error::Error::source(&error).is_some_and(
                <dyn std::error::Error + 'static>::is::<http_body_util::LengthLimitError>,
            );
            if too_large {
                Error::PayloadTooLarge {
                    limit: JSON_BODY_LIMIT,
                }
            } else if is_body_timeout(&error) {
                Error::RequestTimeout
            } else {
                Error::InvalidJson("the body could not be read".into())
            }
        })
}

/// Whether reading a body failed because it stalled (`BODY_TIMEOUT`).
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Parses JSON, telling broken JSON (`invalid_json`) apart from JSON of the
/// wrong shape (`validation_failed`, naming the field).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    // Syntax first, so `{} trailing` is broken JSON rather than a missing field.
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| Error::InvalidJson(error.to_string()))?;
    serde_path_to_error::deserialize(value).map_err(Error::from_json)
}

/// A query string of type `T` (all fields optional strings, usually).
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(Self)
            .map_err(|error| Error::validation("query", error.to_string()))
    }
}

/// Parses an id from a path segment. A malformed id cannot name anything, so
/// it is `not_found` like any other id that names nothing.
pub fn path_id<T: FromStr>(text: &str) -> Result<T, Error> {
    text.parse().map_err(|_| Error::NotFound)
}

/// The caller, proven by `Authorization: Bearer <access token>`.
pub struct AuthUser(pub Principal);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token = bearer_token(parts).ok_or(Error::Unauthorized)?;
        state.auth.authenticate(token).map(Self)
    }
}

/// The caller, proven as `AuthUser` is, who administers the server; a
/// member is `forbidden`.
pub struct AdminUser(pub Principal);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let AuthUser(principal) = AuthUser::from_request_parts(parts, state).await?;
        if !crate::store::Query::is_admin(&state.store.read()?, principal.user)? {
            return Err(Error::Forbidden);
        }
        Ok(Self(principal))
    }
}

pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The client's address: the TCP peer, or, with `TRUST_PROXY` and a peer
/// among `TRUSTED_PROXIES`, the client its `X-Forwarded-For` names
/// (`TrustedProxies::client`). `None` only for a request that did not come
/// through the listener.
pub fn client_ip(parts: &Parts, config: &Config) -> Option<IpAddr> {
    let peer = peer_ip(parts)?;
    if !believes_forwarded_for(peer, config) {
        return Some(peer);
    }
    Some(config.trusted_proxies.client(peer, forwarded_for(parts)))
}

/// Whether `X-Forwarded-For` from `peer` is read at all.
fn believes_forwarded_for(peer: IpAddr, config: &Config) -> bool {
    config.trust_proxy && config.trusted_proxies.contains(peer)
}

/// Whether the request comes from this machine: its client is loopback, and
/// no proxy named a client this server does not believe (a proxy on this
/// machine relaying others is loopback too).
pub fn is_local(parts: &Parts, config: &Config) -> bool {
    let Some(peer) = peer_ip(parts) else {
        return false;
    };
    // `Forwarded` is never read, so what it names is never believed.
    let names_another = parts.headers.contains_key(FORWARDED)
        || (parts.headers.contains_key(X_FORWARDED_FOR) && !believes_forwarded_for(peer, config));
    !names_another && client_ip(parts, config).is_some_and(|ip| ip.to_canonical().is_loopback())
}

fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// `X-Forwarded-For` hops from the right, over every such header in order; a
/// value that is not text counts as one hop that is not an address.
fn forwarded_for(parts: &Parts) -> impl Iterator<Item = &str> {
    parts
        .headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .rev()
        .flat_map(|value| value.to_str().unwrap_or("").split(',').rev())
}

/// The client's address as `client_ip` reads it (`None` only for a request
/// that did not come through the listener).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(Self(client_ip(parts, &state.config)))
    }
}

/// Where a login comes from: address and user agent.
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let ip = client_ip(parts, &state.config).map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(256).collect());
        Ok(Self(ClientInfo { ip, user_agent }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        phone_number: String,
        tags: Option<Vec<u32>>,
    }

    fn field_of(error: Error) -> String {
        match error {
            Error::Validation(fields) => fields[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn broken_json_is_invalid_json() {
        assert!(matches!(
            parse_json::<Body>(b"{\"phoneNumber\":"),
            Err(Error::InvalidJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b"{} trailing"),
            Err(Error::InvalidJson(_))
        ));
    }

    #[test]
    fn wrong_shapes_name_their_field() {
        assert_eq!(
            field_of(parse_json::<Body>(b"{}").unwrap_err()),
            "phoneNumber"
        );
        assert_eq!(
            field_of(parse_json::<Body>(b"{\"phoneNumber\": 5}").unwrap_err()),
            "phoneNumber"
        );
        assert_eq!(
            field_of(
                parse_json::<Body>(b"{\"phoneNumber\": \"x\", \"tags\": [1, \"a\"]}").unwrap_err()
            ),
            "tags[1]"
        );
        assert!(matches!(
            parse_json::<Body>(b"[]"),
            Err(Error::Validation(_))
        ));
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json_type("application/json"));
        assert!(is_json_type("Application/JSON; charset=utf-8"));
        assert!(is_json_type("application/merge-patch+json"));
        assert!(!is_json_type("text/plain"));
        assert!(!is_json_type("application/x-www-form-urlencoded"));
    }

    mod properties {
        use super::*;
        use crate::chat::{NewChat, NewMessage, ProfilePatch};
        use proptest::prelude::*;

        /// Bytes that are often almost JSON: the bodies a hostile client sends.
        fn body() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..64),
                r#"[{}\[\]":,0-9a-zA-Z \\]{0,48}"#.prop_map(String::into_bytes),
                (
                    prop::sample::select(vec![
                        "content",
                        "type",
                        "metadata",
                        "clientId",
                        "participants",
                        "name",
                        "avatar"
                    ]),
                    prop_oneof![
                        Just("null"),
                        Just("1"),
                        Just("\"x\""),
                        Just("[]"),
                        Just("{}"),
                        Just("[\"a\"]")
                    ],
                )
                    .prop_map(|(field, value)| format!(r#"{{"{field}": {value}}}"#).into_bytes()),
            ]
        }

        fn is_json(bytes: &[u8]) -> bool {
            serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
        }

        fn check<T: DeserializeOwned>(bytes: &[u8]) -> Result<(), TestCaseError> {
            match parse_json::<T>(bytes) {
                Ok(_) => prop_assert!(is_json(bytes)),
                Err(Error::InvalidJson(_)) => prop_assert!(!is_json(bytes)),
                Err(Error::Validation(errors)) => {
                    prop_assert!(is_json(bytes));
                    prop_assert_eq!(errors.len(), 1);
                }
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
            Ok(())
        }

        proptest! {
            /// Every body is JSON of the right shape, broken JSON
            /// (`invalid_json`), or JSON of the wrong shape (`validation_failed`).
            #[test]
            fn any_body_is_sorted_into_one_of_three_answers(bytes in body()) {
                check::<NewMessage>(&bytes)?;
                check::<NewChat>(&bytes)?;
                check::<ProfilePatch>(&bytes)?;
            }

            #[test]
            fn message_bodies_keep_their_fields(
                content in any::<String>(),
                client_id in prop::option::of(any::<String>()),
            ) {
                let body =
                    serde_json::json!({ "content": content, "clientId": client_id, "extra": 1 });
                let parsed: NewMessage = parse_json(body.to_string().as_bytes()).unwrap();
                prop_assert_eq!(parsed.content, Some(content));
                prop_assert_eq!(parsed.client_id, client_id);
            }

            #[test]
            fn json_content_types_ignore_case_and_parameters(
                upper in prop::collection::vec(any::<bool>(), 16),
                parameters in "(; ?[a-z]{1,8}=[a-z0-9-]{1,8}){0,2}",
                other in "[a-z]{1,12}/[a-z+.-]{1,12}",
            ) {
                let cased: String = "application/json"
                    .chars()
                    .zip(&upper)
                    .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
                    .collect();
                let declared = format!("{cased}{parameters}");
                prop_assert!(is_json_type(&declared));
                let expected = other == "application/json"
                    || (other.starts_with("application/") && other.ends_with("+json"));
                prop_assert_eq!(is_json_type(&other), expected);
            }
        }
    }
}
