//! How a one-time code reaches its owner. `OtpSender` is the seam: the log
//! sender prints the code for self-hosted setups without SMS; other senders
//! deliver it elsewhere.

use std::future::Future;
use std::pin::Pin;

use crate::timestamp::Timestamp;

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
