//! A bounded queue from many senders to one receiving task that costs next
//! to nothing while empty. A socket keeps two (its outbox, and for
//! Socket.IO its inbox) for its whole life and most of that life they are
//! empty: tokio's channel allocates a block of 32 slots and its padded
//! state up front (1.5 KiB for a `/ws` outbox, several for a Socket.IO
//! inbox), where this one holds a lock, a `VecDeque` that grows on use and
//! lets go of a burst's room once drained, and the receiver's waker.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

/// Room a drained queue keeps; a burst's larger buffer is given back.
const KEPT_ROOM: usize = 16;

/// Why `try_send` did not queue the item.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The queue holds `capacity` items.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
}

struct State<T> {
    items: VecDeque<T>,
    /// The receiving task, while it waits for an item.
    waiting: Option<Waker>,
    senders: usize,
    receiver_alive: bool,
}

/// A queue holding at most `capacity` items.
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            waiting: None,
            senders: 1,
            receiver_alive: true,
        }),
        capacity,
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The critical sections cannot panic halfway through a change.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> Sender<T> {
    /// Queues `item` without waiting.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let mut state = self.shared.lock();
        if !state.receiver_alive {
            return Err(TrySendError::Closed(item));
        }
        if state.items.len() >= self.shared.capacity {
            return Err(TrySendError::Full(item));
        }
        state.items.push_back(item);
        let waiting = state.waiting.take();
        drop(state);
        if let Some(waker) = waiting {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders -= 1;
        let waiting = if state.senders == 0 {
            state.waiting.take()
        } else {
            None
        };
        drop(state);
        // The receiver learns that nothing more will come.
        if let Some(waker) = waiting {
            waker.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next item; `None` once every sender is gone and the queue is
    /// empty.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|context| {
            let mut state = self.shared.lock();
            if let Some(item) = state.pop() {
                return Poll::Ready(Some(item));
            }
            if state.senders == 0 {
                return Poll::Ready(None);
            }
            match &mut state.waiting {
                Some(waker) => waker.clone_from(context.waker()),
                waiting => *waiting = Some(context.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }

    /// The next item if one is queued.
    pub fn try_recv(&mut self) -> Option<T> {
        self.shared.lock().pop()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_alive = false;
        // Dropped outside the lock: an item's drop may do anything.
        let items = std::mem::take(&mut state.items);
        state.waiting = None;
        drop(state);
        drop(items);
    }
}

impl<T> State<T> {
    fn pop(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        if self.items.is_empty() && self.items.capacity() > KEPT_ROOM {
            self.items = VecDeque::new();
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_come_out_in_order_and_the_queue_refuses_past_capacity() {
        let (sender, mut receiver) = bounded(2);
        sender.try_send(1).unwrap();
        sender.try_send(2).unwrap();
        assert_eq!(sender.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!(receiver.recv().await, Some(1));
        sender.try_send(3).unwrap();
        assert_eq!(receiver.try_recv(), Some(2));
        assert_eq!(receiver.try_recv(), Some(3));
        assert_eq!(receiver.try_recv(), None);
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken_by_a_send_from_another_task() {
        let (sender, mut receiver) = bounded(4);
        let waiting = tokio::spawn(async move { receiver.recv().await });
        tokio::task::yield_now().await;
        sender.try_send("hello").unwrap();
        assert_eq!(waiting.await.unwrap(), Some("hello"));
    }

    #[tokio::test]
    async fn the_receiver_sees_the_end_once_every_sender_is_gone_and_the_queue_is_empty() {
        let (sender, mut receiver) = bounded(4);
        let second = sender.clone();
        sender.try_send(1).unwrap();
        drop(sender);
        let waiting = tokio::spawn(async move {
            let first = receiver.recv().await;
            let end = receiver.recv().await;
            (first, end)
        });
        tokio::task::yield_now().await;
        drop(second);
        assert_eq!(waiting.await.unwrap(), (Some(1), None));
    }

    #[test]
    fn sending_to_a_dropped_receiver_fails_and_drops_nothing_queued_twice() {
        let (sender, receiver) = bounded(4);
        let item = Arc::new(());
        sender.try_send(Arc::clone(&item)).unwrap();
        drop(receiver);
        // The queued item was dropped with the receiver.
        assert_eq!(Arc::strong_count(&item), 1);
        assert!(matches!(
            sender.try_send(Arc::clone(&item)),
            Err(TrySendError::Closed(_))
        ));
    }

    #[test]
    fn a_drained_queue_gives_back_a_bursts_room() {
        let (sender, mut receiver) = bounded(1024);
        for n in 0..500 {
            sender.try_send(n).unwrap();
        }
        while receiver.try_recv().is_some() {}
        assert!(receiver.shared.lock().items.capacity() <= KEPT_ROOM);
    }
}
