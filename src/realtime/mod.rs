//! The realtime adapters. `connection` holds the rules of one connection (authentication, the
//! client events, typing) whatever its wire format; `socket` runs a `/ws`
//! connection and `events` is its wire format; `socketio` is the Socket.IO
//! endpoint (`/socket.io/`) onto the same rules. Each adapter gives the bus
//! (`crate::bus`) a `Sink` for its sockets.

pub mod connection;
pub mod events;
mod queue;
pub mod socket;
pub mod socketio;

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::Utf8Bytes;
use axum::routing::get;
use tokio::time::{Instant, Sleep};

use crate::bus::{Encodings, Event, QueueFull, Sink};
use crate::http::AppState;

/// Frames a socket may have waiting before it counts as too slow.
pub const OUTBOX_CAPACITY: usize = 1024;

/// A socket's read buffer, allocated up front for every socket (128 KiB
/// in tungstenite by default, 4 KiB in Engine.IO) while client frames are a
/// few hundred bytes; bigger ones still fit, read in more steps.
pub const READ_BUFFER_BYTES: usize = 1024;

/// How long one write to a client may take before the client counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a websocket's close frame may wait for a client to read.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A wire format's encoding of bus events.
trait WireFormat: Send + Sync + 'static {
    fn encode(event: &Event) -> Utf8Bytes;
}

/// How the bus reaches a socket whose task drains an outbox of encoded
/// frames: each event is encoded once per fan-out and wire format (`F`
/// tells the formats apart among the fan-out's encodings).
struct OutboxSink<F> {
    outbox: queue::Sender<Utf8Bytes>,
    format: PhantomData<F>,
}

/// An event as wire format `F` encodes it.
struct Encoded<F>(Utf8Bytes, PhantomData<F>);

impl<F: WireFormat> OutboxSink<F> {
    fn shared(outbox: queue::Sender<Utf8Bytes>) -> Arc<dyn Sink> {
        Arc::new(Self {
            outbox,
            format: PhantomData,
        })
    }
}

impl<F: WireFormat> Sink for OutboxSink<F> {
    fn offer(&self, event: &Event, encodings: &mut Encodings) -> Result<(), QueueFull> {
        let Encoded(frame, _) =
            encodings.get_or_make(|| Encoded::<F>(F::encode(event), PhantomData));
        match self.outbox.try_send(frame.clone()) {
            Err(queue::TrySendError::Full(_)) => Err(QueueFull),
            // A closed outbox is a socket on its way out: nothing to do.
            _ => Ok(()),
        }
    }
}

/// How much earlier a socket's deadline must come for its timer to be set
/// again: the timer's resolution.
const TIMER_SLACK: Duration = Duration::from_millis(1);

/// Events whose answers may wait for the disk at once, per socket; past that
/// the socket is not read until the oldest is answered (memory per client
/// stays bounded while its sends share fsyncs).
pub const ANSWERS_WAITING: usize = 64;

/// Sets a socket's one timer to `deadline` when that comes sooner (a typing
/// state began). Only ever earlier: a later deadline waits for the timer,
/// which fires early and is set again.
fn bring_forward(timer: Pin<&mut Sleep>, deadline: Instant) {
    if deadline + TIMER_SLACK < timer.deadline() {
        timer.reset(deadline);
    }
}

/// `/ws` and `/socket.io/`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ws", get(socket::upgrade))
        .merge(socketio::router())
}
