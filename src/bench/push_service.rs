//! The bench's stand-in for a browser's push service: `POST /push/{id}`
//! answers `201 Created` without decrypting the push, noting when each one
//! arrived. Told to hang, it holds every push unanswered instead, as a
//! push service that accepts connections but never replies would; told to
//! answer again, it lets the held ones go with `201`. It never judges what
//! it receives: the server's own tests check the encryption.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use tokio::sync::watch;

/// How often a waiting bench looks at the arrivals.
const LOOK_EVERY: Duration = Duration::from_millis(5);

/// A handle on the stand-in; clones share it.
#[derive(Clone)]
pub struct PushService {
    shared: Arc<Shared>,
}

struct Shared {
    /// When each push arrived, in order of arrival.
    arrivals: Mutex<Vec<Instant>>,
    /// Whether pushes are held unanswered.
    hanging: watch::Sender<bool>,
}

impl PushService {
    /// A stand-in that answers.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                arrivals: Mutex::new(Vec::new()),
                hanging: watch::Sender::new(false),
            }),
        }
    }

    /// The `/push/{id}` route, to serve beside the code receiver.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/push/{id}", post(receive))
            .with_state(self.clone())
    }

    /// Holds every push from now on unanswered.
    pub fn hang(&self) {
        self.shared.hanging.send_replace(true);
    }

    /// Answers `201` from now on, to the pushes held so far too.
    pub fn answer(&self) {
        self.shared.hanging.send_replace(false);
    }

    /// How many pushes have arrived since the bench began.
    pub fn arrived(&self) -> usize {
        self.arrivals().len()
    }

    /// When push number `index` (counting from 0) arrived.
    pub fn arrival(&self, index: usize) -> Option<Instant> {
        self.arrivals().get(index).copied()
    }

    /// Waits until `count` pushes have arrived, or until none has for
    /// `stall`; how many have arrived.
    pub async fn wait_for(&self, count: usize, stall: Duration) -> usize {
        let mut seen = self.arrived();
        let mut last_change = Instant::now();
        while seen < count && last_change.elapsed() < stall {
            tokio::time::sleep(LOOK_EVERY).await;
            let now = self.arrived();
            if now != seen {
                seen = now;
                last_change = Instant::now();
            }
        }
        seen
    }

    fn arrivals(&self) -> std::sync::MutexGuard<'_, Vec<Instant>> {
        self.shared
            .arrivals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Notes an arrival now; the clock is read under the lock so that
    /// arrivals stay in time order.
    fn note_arrival(&self) {
        let mut arrivals = self.arrivals();
        arrivals.push(Instant::now());
    }
}

/// One push: the whole body is read (a push has arrived once it is all
/// there), then answered at once or when the hang ends. A bench that ends
/// while pushes are held drops them unanswered.
async fn receive(State(service): State<PushService>, _encrypted: Bytes) -> StatusCode {
    service.note_arrival();
    let mut hanging = service.shared.hanging.subscribe();
    let _ = hanging.wait_for(|hanging| !hanging).await;
    StatusCode::CREATED
}
