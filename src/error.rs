//! The one error every handler and socket event returns. Each variant is one
//! of SPEC's error codes; `status` and `code` are decided in one match, and
//! `IntoResponse` writes SPEC's body. Internal failures are logged once here,
//! with their cause chain, and leave as an opaque 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// A sentence for people.
    pub error: String,
    /// A stable snake_case code for programs.
    #[schema(value_type = String, example = "validation_failed")]
    pub code: &'static str,
    /// With `validation_failed`: each bad field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// With `rate_limited`: seconds to wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// With `invalid_otp`: wrong codes still allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts_left: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the body stalled: no data arrived for too long; send it again")]
    RequestTimeout,
    #[error("missing or invalid access token")]
    Unauthorized,
    #[error("the access token has expired; refresh it")]
    TokenExpired,
    #[error("you are not allowed to do that")]
    Forbidden,
    #[error("your uploads would take more than your quota of {quota} bytes")]
    QuotaExceeded { quota: u64 },
    #[error("not found")]
    NotFound,
    #[error("this route does not accept that method")]
    MethodNotAllowed,
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("unknown event `{0}`")]
    UnknownEvent(String),
    #[error("too many requests; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("the code is wrong")]
    InvalidOtp { attempts_left: Option<u32> },
    #[error("too many wrong codes; request a new code")]
    OtpLocked,
    #[error("the code has expired; request a new code")]
    OtpExpired,
    #[error("the code could not be delivered; try again later")]
    OtpDeliveryFailed,
    #[error("unknown user: {0}")]
    UnknownUser(String),
    #[error("a group holds at most {max} members")]
    GroupFull { max: usize },
    #[error("only groups have members, a name and admins to change")]
    NotAGroup,
    #[error("the time to edit this message has passed")]
    EditWindowClosed,
    #[error("this message was deleted")]
    MessageDeleted,
    #[error("one of you has blocked the other")]
    Blocked,
    #[error(
        "the server must keep at least one admin who can sign in; make someone else admin first"
    )]
    LastAdmin,
    #[error("a message holds at most {max} different reactions")]
    TooManyReactions { max: usize },
    #[error("a chat holds at most {max} pinned messages")]
    TooManyPins { max: usize },
    #[error("the server's disk is full; try again later")]
    StorageFull,
    #[error(
        "the server cannot take writes right now (starting, stopping or recovering); try again in a moment"
    )]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_)
            | Self::InvalidJson(_)
            | Self::InvalidOtp { .. }
            | Self::OtpLocked
            | Self::OtpExpired
            | Self::UnknownUser(_)
            | Self::GroupFull { .. }
            | Self::NotAGroup
            | Self::TooManyReactions { .. }
            | Self::TooManyPins { .. }
            | Self::BadRequest(_)
            | Self::UnknownEvent(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unauthorized | Self::TokenExpired => StatusCode::UNAUTHORIZED,
            Self::Forbidden
            | Self::QuotaExceeded { .. }
            | Self::EditWindowClosed
            | Self::Blocked => StatusCode::FORBIDDEN,
            Self::MessageDeleted | Self::LastAdmin => StatusCode::CONFLICT,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::OtpDeliveryFailed => StatusCode::BAD_GATEWAY,
            Self::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation(_) => "validation_failed",
            Self::InvalidJson(_) => "invalid_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::Unauthorized => "unauthorized",
            Self::TokenExpired => "token_expired",
            Self::Forbidden => "forbidden",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::BadRequest(_) => "bad_request",
            Self::UnknownEvent(_) => "unknown_event",
            Self::RateLimited { .. } => "rate_limited",
            Self::InvalidOtp { .. } => "invalid_otp",
            Self::OtpLocked => "otp_locked",
            Self::OtpExpired => "otp_expired",
            Self::OtpDeliveryFailed => "otp_delivery_failed",
            Self::UnknownUser(_) => "unknown_user",
            Self::GroupFull { .. } => "group_full",
            Self::NotAGroup => "not_a_group",
            Self::EditWindowClosed => "edit_window_closed",
            Self::MessageDeleted => "message_deleted",
            Self::Blocked => "blocked",
            Self::LastAdmin => "last_admin",
            Self::TooManyReactions { .. } => "too_many_reactions",
            Self::TooManyPins { .. } => "too_many_pins",
            Self::StorageFull => "storage_full",
            Self::Unavailable => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// SPEC's error body: `error` and `code`, plus the fields some codes carry.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.message(),
            code: self.code(),
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            retry_after: match self {
                Self::RateLimited { retry_after } => Some(*retry_after),
                _ => None,
            },
            attempts_left: match self {
                Self::InvalidOtp { attempts_left } => *attempts_left,
                _ => None,
            },
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Validation(errors) => match errors.as_slice() {
                [only] => format!("{}: {}", only.field, only.message),
                _ => "some fields are invalid; see errors".into(),
            },
            other => other.to_string(),
        }
    }

    /// Logs an internal failure with its whole cause chain; the client only
    /// ever sees the opaque message.
    pub fn log_if_internal(&self) {
        if let Self::Internal(source) = self {
            let mut chain = source.to_string();
            let mut cause = source.source();
            while let Some(next) = cause {
                chain.push_str(": ");
                chain.push_str(&next.to_string());
                cause = next.source();
            }
            tracing::error!(error.cause_chain = %chain, "request failed");
        }
    }
}

impl Error {
    /// Sorts a JSON decoding failure: broken JSON is `invalid_json`, JSON of
    /// the wrong shape is `validation_failed` naming the field.
    pub fn from_json(error: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if !inner.is_data() {
            return Self::InvalidJson(inner.to_string());
        }
        let message = inner.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        // serde names a missing field only in its message: "missing field `name`".
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'));
        let field = match (missing, path.as_str()) {
            (Some(name), "." | "") => name.to_owned(),
            (Some(name), parent) => format!("{parent}.{name}"),
            (None, ".") => String::new(),
            (None, path) => path.to_owned(),
        };
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Full => Self::StorageFull,
            StoreError::Closed | StoreError::Unavailable => Self::Unavailable,
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.log_if_internal();
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized | Self::TokenExpired => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_list_their_fields() {
        let body =
            serde_json::to_value(Error::validation("phoneNumber", "not a phone number").body())
                .unwrap();
        assert_eq!(body["code"], "validation_failed");
        assert_eq!(body["errors"][0]["field"], "phoneNumber");
        assert!(body.get("retryAfter").is_none());
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let error = Error::RateLimited { retry_after: 12 };
        assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error.body().retry_after, Some(12));
        let response = error.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "12");
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let error = Error::Internal("disk controller on fire".into());
        assert_eq!(error.body().error, "internal error");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use serde::Deserialize;

        #[derive(Debug, Deserialize)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        struct Body {
            chat_id: String,
            seq: Option<u64>,
            tags: Option<Vec<bool>>,
        }

        /// Any JSON value, nested a few levels, with the field names above.
        fn json() -> impl Strategy<Value = serde_json::Value> {
            use serde_json::Value;
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                ".{0,8}".prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 24, 5, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
                    prop::collection::btree_map(
                        prop_oneof![Just("chatId"), Just("seq"), Just("tags"), Just("x")],
                        inner,
                        0..4
                    )
                    .prop_map(|map| {
                        Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                    }),
                ]
            })
        }

        proptest! {
            #[test]
            fn validation_bodies_list_every_field(
                fields in prop::collection::vec((".{0,12}", ".{0,24}"), 1..5),
            ) {
                let errors: Vec<FieldError> = fields
                    .iter()
                    .map(|(field, message)| FieldError::new(field, message))
                    .collect();
                let error = Error::Validation(errors.clone());
                prop_assert_eq!(error.status(), StatusCode::BAD_REQUEST);
                let body = serde_json::to_value(error.body()).unwrap();
                prop_assert_eq!(&body["code"], "validation_failed");
                prop_assert_eq!(body["errors"].as_array().unwrap().len(), errors.len());
                if let [only] = errors.as_slice() {
                    let expected = format!("{}: {}", only.field, only.message);
                    prop_assert_eq!(body["error"].as_str(), Some(expected.as_str()));
                }
            }

            /// JSON of the wrong shape is always `validation_failed` with one
            /// field, and the message never leaks serde's line and column.
            #[test]
            fn wrong_shapes_become_one_field_error(value in json()) {
                let result: Result<Body, _> = serde_path_to_error::deserialize(value);
                if let Err(error) = result {
                    match Error::from_json(error) {
                        Error::Validation(errors) => {
                            prop_assert_eq!(errors.len(), 1);
                            prop_assert!(!errors[0].message.contains(" at line "));
                        }
                        other => prop_assert!(false, "expected validation_failed, got {other:?}"),
                    }
                }
            }
        }
    }
}
