//! Realtime clients for the bench: Clavox's own `/ws` frames, or Socket.IO
//! (Engine.IO v4 over a WebSocket) so the same load can drive any server of
//! the original design. A client reads only what it measures: when each
//! message was sent (the bench writes that into its content), whether a
//! frame is a delivery, an acknowledgement or an error.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// The bench's message content: `bench <microseconds since the bench began>`.
const CONTENT_PREFIX: &str = r#""content":"bench "#;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Clavox's `/ws` JSON frames.
    #[default]
    Ws,
    /// Socket.IO v4 at `/socket.io/`, as the original design's clients speak.
    Socketio,
}

/// What a set of sockets saw; shared by every socket of one measurement.
pub struct Counters {
    epoch: Instant,
    pub deliveries: AtomicU64,
    pub acks: AtomicU64,
    pub errors: AtomicU64,
    /// Send-to-delivery times in microseconds, while `recording`.
    latencies: Mutex<Vec<u32>>,
    recording: AtomicBool,
    /// Sends a client may still have unanswered (filling a chat).
    window: Option<Arc<Semaphore>>,
}

impl Counters {
    pub fn new(epoch: Instant) -> Arc<Self> {
        Self::build(epoch, None)
    }

    /// Counters whose every ack or error gives back one permit of `window`.
    pub fn with_window(epoch: Instant, window: Arc<Semaphore>) -> Arc<Self> {
        Self::build(epoch, Some(window))
    }

    fn build(epoch: Instant, window: Option<Arc<Semaphore>>) -> Arc<Self> {
        Arc::new(Self {
            epoch,
            deliveries: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latencies: Mutex::new(Vec::new()),
            recording: AtomicBool::new(true),
            window,
        })
    }

    /// Microseconds since the epoch: what goes into a message's content.
    pub fn now_micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    /// The latencies recorded so far, leaving none behind.
    pub fn take_latencies(&self) -> Vec<u32> {
        std::mem::take(
            &mut *self
                .latencies
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn delivered(&self, sent_at: Option<u64>) {
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        if let Some(sent_at) = sent_at
            && self.recording.load(Ordering::Relaxed)
        {
            let micros = self
                .now_micros()
                .saturating_sub(sent_at)
                .min(u64::from(u32::MAX)) as u32;
            self.latencies
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(micros);
        }
    }

    fn answered(&self, ok: bool) {
        if ok {
            self.acks.fetch_add(1, Ordering::Relaxed);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(window) = &self.window {
            window.add_permits(1);
        }
    }
}

/// One connected, authenticated socket. Dropping it closes the connection.
pub struct Socket {
    protocol: Protocol,
    out: mpsc::UnboundedSender<String>,
    next_id: AtomicU64,
}

impl Socket {
    /// Connects to `socket_base` (`ws://host:port`) and authenticates with `token`.
    pub async fn connect(
        socket_base: &str,
        protocol: Protocol,
        token: &str,
        counters: Arc<Counters>,
    ) -> Result<Self, String> {
        let url = match protocol {
            Protocol::Ws => format!("{socket_base}/ws?token={token}"),
            Protocol::Socketio => format!("{socket_base}/socket.io/?EIO=4&transport=websocket"),
        };
        let (stream, _) =
            tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio_tungstenite::connect_async(&url))
                .await
                .map_err(|_| format!("{url}: no answer within {}s", HANDSHAKE_TIMEOUT.as_secs()))?
                .map_err(|error| format!("{url}: {error}"))?;
        let (mut sink, mut source) = stream.split();
        if protocol == Protocol::Socketio {
            let join = async {
                expect_text(&mut source, &mut sink, "0").await?;
                sink.send(Message::text(format!(r#"40{{"token":"{token}"}}"#)))
                    .await
                    .map_err(|error| error.to_string())?;
                expect_text(&mut source, &mut sink, "40").await
            };
            tokio::time::timeout(HANDSHAKE_TIMEOUT, join)
                .await
                .map_err(|_| "Socket.IO: no connect answer".to_owned())??;
        }
        let (out, mut queue) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(frame) = queue.recv().await {
                let mut batch = vec![frame];
                while let Ok(frame) = queue.try_recv() {
                    batch.push(frame);
                }
                for frame in batch {
                    if sink.feed(Message::text(frame)).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
            let _ = sink.close().await;
        });
        // Weak, so that dropping the socket ends the writer above, which
        // closes the connection: a measurement's sockets do not outlive it,
        // nor do the frames still on their way to them.
        let handle = out.downgrade();
        tokio::spawn(async move {
            while let Some(Ok(message)) = source.next().await {
                let Some(replies) = handle.upgrade() else {
                    break;
                };
                match message {
                    Message::Text(text) => read_frame(protocol, &text, &counters, &replies),
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            if counters.recording.load(Ordering::Relaxed) && handle.strong_count() > 0 {
                // Closed by the server while being measured.
                counters.errors.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(Self {
            protocol,
            out,
            next_id: AtomicU64::new(1),
        })
    }

    /// Sends `event` with `data` (a JSON object), asking for an
    /// acknowledgement.
    pub fn request(&self, event: &str, data: &str) -> bool {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = match self.protocol {
            Protocol::Ws => format!(r#"{{"event":"{event}","id":{id},"data":{data}}}"#),
            Protocol::Socketio => format!(r#"42{id}["{event}",{data}]"#),
        };
        self.out.send(frame).is_ok()
    }

    /// Sends a text message stamped with `sent_at` (see `Counters::now_micros`),
    /// asking for an acknowledgement.
    pub fn send_message(&self, chat_id: &str, sent_at: u64) -> bool {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = match self.protocol {
            Protocol::Ws => format!(
                r#"{{"event":"send_message","id":{id},"data":{{"chatId":"{chat_id}","content":"bench {sent_at}"}}}}"#
            ),
            Protocol::Socketio => {
                format!(
                    r#"42{id}["send_message",{{"chatId":"{chat_id}","content":"bench {sent_at}"}}]"#
                )
            }
        };
        self.out.send(frame).is_ok()
    }
}

/// Reads until a text frame starting with `prefix`, answering the server's
/// pings meanwhile (a busy server may ping before it answers).
async fn expect_text<S, W>(source: &mut S, sink: &mut W, prefix: &str) -> Result<(), String>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    W: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    loop {
        match source.next().await {
            Some(Ok(Message::Text(text))) if text.starts_with(prefix) => return Ok(()),
            Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                sink.send(Message::text("3"))
                    .await
                    .map_err(|error| error.to_string())?;
            }
            Some(Ok(other)) => return Err(format!("Socket.IO handshake: unexpected {other:?}")),
            Some(Err(error)) => return Err(format!("Socket.IO handshake: {error}")),
            None => return Err("Socket.IO handshake: the server closed the connection".into()),
        }
    }
}

fn read_frame(
    protocol: Protocol,
    text: &str,
    counters: &Counters,
    replies: &mpsc::UnboundedSender<String>,
) {
    match protocol {
        Protocol::Ws => {
            if text.starts_with(r#"{"event":"new_message""#) {
                counters.delivered(sent_at(text));
            } else if text.starts_with(r#"{"event":"ack""#) {
                counters.answered(true);
            } else if text.starts_with(r#"{"event":"error""#) {
                counters.answered(false);
            }
        }
        Protocol::Socketio => {
            if text == "2" {
                let _ = replies.send("3".into());
            } else if text.starts_with(r#"42["new_message""#) {
                counters.delivered(sent_at(text));
            } else if text.starts_with("43") {
                // An ack holds the stored message, or `{error, code}`.
                counters.answered(sent_at(text).is_some());
            } else if text.starts_with(r#"42["error""#) || text.starts_with("41") {
                counters.answered(false);
            }
        }
    }
}

/// The send time the bench wrote into a message's content.
fn sent_at(frame: &str) -> Option<u64> {
    let start = frame.find(CONTENT_PREFIX)? + CONTENT_PREFIX.len();
    let digits = &frame[start..];
    let end = digits.find('"')?;
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_send_time_in_either_protocol() {
        let ws = r#"{"event":"new_message","data":{"id":"x","content":"bench 1234","seq":3}}"#;
        let sio = r#"42["new_message",{"id":"x","seq":3,"content":"bench 99"}]"#;
        assert_eq!(sent_at(ws), Some(1234));
        assert_eq!(sent_at(sio), Some(99));
        assert_eq!(sent_at(r#"{"content":"hello"}"#), None);
    }

    #[test]
    fn counts_deliveries_acks_and_errors() {
        let counters = Counters::new(Instant::now());
        let (replies, mut sent) = mpsc::unbounded_channel();
        read_frame(
            Protocol::Ws,
            r#"{"event":"new_message","data":{"content":"bench 0"}}"#,
            &counters,
            &replies,
        );
        read_frame(
            Protocol::Ws,
            r#"{"event":"ack","id":1,"data":{"content":"bench 0"}}"#,
            &counters,
            &replies,
        );
        read_frame(
            Protocol::Ws,
            r#"{"event":"error","id":2,"data":{"code":"not_found"}}"#,
            &counters,
            &replies,
        );
        read_frame(
            Protocol::Socketio,
            r#"431[{"error":"no","code":"not_found"}]"#,
            &counters,
            &replies,
        );
        read_frame(Protocol::Socketio, "2", &counters, &replies);
        assert_eq!(counters.deliveries.load(Ordering::Relaxed), 1);
        assert_eq!(counters.acks.load(Ordering::Relaxed), 1);
        assert_eq!(counters.errors.load(Ordering::Relaxed), 2);
        assert_eq!(counters.take_latencies().len(), 1);
        assert_eq!(sent.try_recv().ok().as_deref(), Some("3"));
    }
}
