//! Where the bench's users get their one-time codes: a webhook receiver on
//! 127.0.0.1 that the server under test delivers to (`OTP_WEBHOOK_URL`), so
//! users log in by the real path without anyone reading a log. The same
//! listener serves the stand-in push service (`push_service`), which the
//! server reaches because its `PUSH_ALLOWED_HOSTS` lists this address.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;

use super::push_service::PushService;

/// The webhook's body, as the server sends it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    phone_number: String,
    otp: String,
}

type Codes = Arc<Mutex<HashMap<String, String>>>;

/// A running receiver; it stops when dropped.
pub struct Inbox {
    address: SocketAddr,
    codes: Codes,
    push_service: PushService,
    task: tokio::task::JoinHandle<()>,
}

impl Inbox {
    /// Listens on `address` (port 0 picks a free one).
    pub async fn start(address: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let codes = Codes::default();
        let push_service = PushService::new();
        let app = Router::new()
            .route("/otp", post(receive))
            .with_state(Arc::clone(&codes))
            .merge(push_service.router());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            address,
            codes,
            push_service,
            task,
        })
    }

    /// The URL to give the server as `OTP_WEBHOOK_URL`.
    pub fn url(&self) -> String {
        format!("http://{}/otp", self.address)
    }

    /// This receiver's `host:port`, for the server's `PUSH_ALLOWED_HOSTS`.
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    /// A push subscription's endpoint at the stand-in push service.
    pub fn push_endpoint(&self, id: &str) -> String {
        format!("http://{}/push/{id}", self.address)
    }

    pub fn push_service(&self) -> &PushService {
        &self.push_service
    }

    /// The code last sent to `phone`, waiting briefly for a server that
    /// answers before it delivers.
    pub async fn take(&self, phone: &str) -> Option<String> {
        for _ in 0..500 {
            if let Some(code) = self.lock().remove(phone) {
                return Some(code);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(codes): State<Codes>, Json(delivery): Json<Delivery>) {
    codes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(delivery.phone_number, delivery.otp);
}
