//! How a one-time code reaches its owner. `OtpSender` is the seam: the log
//! sender prints the code for self-hosted setups without SMS; the webhook
//! sender hands it to a gateway of the admin's choosing; the Twilio sender
//! speaks the original design's SMS provider.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::config::{Config, Secret};
use crate::timestamp::Timestamp;

/// How long a delivery may take before it counts as failed.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// A guess at one round trip to an SMS gateway, used until the server has
/// timed a delivery of its own.
const GATEWAY_FIRST_GUESS: Duration = Duration::from_millis(500);

/// One code to deliver.
#[derive(Debug, Clone)]
pub struct OtpMessage {
    pub phone: String,
    pub code: String,
    pub expires_at: Timestamp,
}

impl OtpMessage {
    /// The text a person reads.
    pub fn text(&self) -> String {
        format!(
            "Your Clavox code is {}. It expires at {} UTC.",
            self.code, self.expires_at
        )
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), DeliveryError>> + Send + 'a>>;

pub trait OtpSender: Send + Sync + 'static {
    /// Delivers `message`; an error means the code did not reach anyone.
    fn send<'a>(&'a self, message: &'a OtpMessage) -> SendFuture<'a>;

    /// How codes are delivered, for the start-up banner.
    fn describe(&self) -> String;

    /// How long a delivery is assumed to take until one has been timed.
    fn first_guess(&self) -> Duration {
        Duration::ZERO
    }
}

/// The sender the settings ask for.
pub fn from_config(config: &Config) -> Result<Arc<dyn OtpSender>, String> {
    if let Some(url) = &config.otp_webhook_url {
        return Ok(Arc::new(WebhookSender {
            client: http_client()?,
            url: url.clone(),
            secret: config.otp_webhook_secret.clone(),
        }));
    }
    if let (Some(account), Some(token), Some(from)) = (
        &config.twilio_account_sid,
        &config.twilio_auth_token,
        &config.twilio_phone_number,
    ) {
        let base = config.twilio_api_url.trim_end_matches('/');
        return Ok(Arc::new(TwilioSender {
            client: http_client()?,
            endpoint: format!("{base}/2010-04-01/Accounts/{account}/Messages.json"),
            account: account.clone(),
            token: token.clone(),
            from: from.clone(),
        }));
    }
    Ok(Arc::new(LogSender))
}

/// One outbound client: TLS roots built in (no OS trust store needed) and
/// names resolved without the C library.
fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .user_agent(concat!("clavox/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| format!("cannot set up outbound HTTPS: {error}"))
}

/// Prints each code to the server log: the default for a server without SMS.
pub struct LogSender;

impl OtpSender for LogSender {
    fn send<'a>(&'a self, message: &'a OtpMessage) -> SendFuture<'a> {
        Box::pin(async move {
            tracing::info!(phone = %message.phone, "OTP for {}: {}", message.phone, message.code);
            Ok(())
        })
    }

    fn describe(&self) -> String {
        "printed to this log (set OTP_WEBHOOK_URL or TWILIO_* to send SMS)".into()
    }
}

/// POSTs `{"phoneNumber","otp","message","expiresAt"}` to the admin's URL.
pub struct WebhookSender {
    client: reqwest::Client,
    url: String,
    secret: Option<Secret>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody<'a> {
    phone_number: &'a str,
    otp: &'a str,
    message: String,
    expires_at: Timestamp,
}

/// `sha256=<hex HMAC-SHA256 of body under secret>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl OtpSender for WebhookSender {
    fn send<'a>(&'a self, message: &'a OtpMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let body = WebhookBody {
                phone_number: &message.phone,
                otp: &message.code,
                message: message.text(),
                expires_at: message.expires_at,
            };
            let body =
                serde_json::to_vec(&body).map_err(|error| DeliveryError(error.to_string()))?;
            let mut request = self
                .client
                .post(&self.url)
                .header("content-type", "application/json");
            if let Some(secret) = &self.secret {
                request = request.header("x-clavox-signature", signature(secret.expose(), &body));
            }
            let response = request
                .body(body)
                .send()
                .await
                .map_err(|error| DeliveryError(format!("webhook unreachable: {error}")))?;
            if !response.status().is_success() {
                return Err(DeliveryError(format!(
                    "webhook answered {}",
                    response.status()
                )));
            }
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!(
            "sent to the webhook {}{}",
            self.url,
            if self.secret.is_some() {
                " (signed)"
            } else {
                ""
            }
        )
    }

    fn first_guess(&self) -> Duration {
        GATEWAY_FIRST_GUESS
    }
}

/// Sends the code as an SMS through Twilio's Messages API.
pub struct TwilioSender {
    client: reqwest::Client,
    endpoint: String,
    account: String,
    token: Secret,
    from: String,
}

impl OtpSender for TwilioSender {
    fn send<'a>(&'a self, message: &'a OtpMessage) -> SendFuture<'a> {
        Box::pin(async move {
            let form = [
                ("To", message.phone.as_str()),
                ("From", self.from.as_str()),
                ("Body", &message.text()),
            ];
            let body = serde_urlencoded::to_string(form)
                .map_err(|error| DeliveryError(error.to_string()))?;
            let response = self
                .client
                .post(&self.endpoint)
                .basic_auth(&self.account, Some(self.token.expose()))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .map_err(|error| DeliveryError(format!("Twilio unreachable: {error}")))?;
            if !response.status().is_success() {
                return Err(DeliveryError(format!(
                    "Twilio answered {}",
                    response.status()
                )));
            }
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("sent by SMS through Twilio from {}", self.from)
    }

    fn first_guess(&self) -> Duration {
        GATEWAY_FIRST_GUESS
    }
}

#[cfg(test)]
mod tests {
    use super::signature;

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
