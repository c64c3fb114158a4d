//! The REST calls the bench makes, exactly as a client would: log in with a
//! phone number and the code the server delivered, create chats, send
//! messages, subscribe to pushes, read pages.

use futures_util::{StreamExt, stream};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::measure::Progress;
use super::otp::Inbox;

/// A logged-in bench user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub token: String,
}

#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Verified {
    access_token: String,
    user: IdOnly,
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

/// A unique, valid mobile number for bench user `n` (an Indonesian range,
/// like the examples in the README).
pub fn phone(n: u64) -> String {
    format!("+62813{:07}", n % 10_000_000)
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                // Servers close idle keep-alive connections (Clavox after its
                // HEADER_TIMEOUT); reusing one just as it closes would fail a
                // request.
                .pool_idle_timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn login(&self, inbox: &Inbox, phone: &str) -> Result<User, String> {
        self.post("/api/auth/send-otp", None, &json!({ "phoneNumber": phone }))
            .await?;
        let otp = inbox.take(phone).await.ok_or_else(|| {
            format!(
                "no code reached the bench for {phone}: is the server's OTP_WEBHOOK_URL {}?",
                inbox.url()
            )
        })?;
        let body = self
            .post(
                "/api/auth/verify-otp",
                None,
                &json!({ "phoneNumber": phone, "otp": otp }),
            )
            .await?;
        let verified: Verified = serde_json::from_value(body)
            .map_err(|error| format!("verify-otp answered oddly: {error}"))?;
        Ok(User {
            id: verified.user.id,
            token: verified.access_token,
        })
    }

    /// Logs in users `first..first + count`, several at a time.
    pub async fn login_many(
        &self,
        inbox: &Inbox,
        first: u64,
        count: usize,
        progress: &Progress,
    ) -> Result<Vec<User>, String> {
        let mut users = Vec::with_capacity(count);
        let mut logins = stream::iter(first..first + count as u64)
            .map(|n| async move { self.login(inbox, &phone(n)).await })
            .buffered(32);
        while let Some(user) = logins.next().await {
            users.push(user?);
            progress.update(format_args!("logging in users {}/{count}", users.len()));
        }
        Ok(users)
    }

    /// A chat of `members` (the first creates it): private for two, else a group.
    pub async fn create_chat(&self, members: &[User], name: &str) -> Result<String, String> {
        let (creator, others) = members.split_first().ok_or("a chat needs members")?;
        let participants: Vec<&str> = others.iter().map(|user| user.id.as_str()).collect();
        let body = if participants.len() == 1 {
            json!({ "type": "private", "participants": participants })
        } else {
            json!({ "type": "group", "name": name, "participants": participants })
        };
        let chat = self.post("/api/chats", Some(&creator.token), &body).await?;
        chat.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| "chat creation answered without an id".to_owned())
    }

    /// Sends a text message to `chat`, answered once it is stored.
    pub async fn send_message(&self, token: &str, chat: &str, text: &str) -> Result<(), String> {
        let path = format!("/api/chats/{chat}/messages");
        self.post(&path, Some(token), &json!({ "content": text }))
            .await
            .map(drop)
    }

    /// Subscribes the user to Web Push at `endpoint`, as a browser would
    /// with `PushSubscription.toJSON()`.
    pub async fn subscribe_push(
        &self,
        token: &str,
        endpoint: &str,
        keys: &Value,
    ) -> Result<(), String> {
        let body = json!({ "endpoint": endpoint, "keys": keys });
        self.post("/api/push/subscriptions", Some(token), &body)
            .await
            .map(drop)
    }

    pub async fn unsubscribe_push(&self, token: &str, endpoint: &str) -> Result<(), String> {
        let body = json!({ "endpoint": endpoint });
        self.send(
            Method::DELETE,
            "/api/push/subscriptions",
            Some(token),
            &body,
        )
        .await
        .map(drop)
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Result<Value, String> {
        self.send(Method::POST, path, token, body).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Result<Value, String> {
        let mut request = self.http.request(method.clone(), self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|error| format!("{method} {path}: {error}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("{method} {path} answered {status}: {body}"))
        }
    }
}
