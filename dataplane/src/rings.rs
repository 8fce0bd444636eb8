//! Lock-free rings between the control plane and the workers, and between workers.
//!
//! Every ring is a bounded lock-free queue plus the receiving worker's [`Doorbell`]. A worker
//! that is about to sleep in its backend's `poll` announces it on the doorbell; producers ring
//! it only then, so a busy worker costs its producers one atomic load per message and no
//! system call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

use crate::net::Wake;

/// Wakes one worker, but only when it sleeps (or is about to).
pub struct Doorbell {
    sleeping: AtomicBool,
    wake: Arc<dyn Wake>,
}

impl Doorbell {
    /// A doorbell that interrupts the worker's backend poll through `wake`.
    pub fn new(wake: Arc<dyn Wake>) -> Arc<Self> {
        Arc::new(Doorbell {
            sleeping: AtomicBool::new(false),
            wake,
        })
    }

    /// Called by the owning worker before it checks its rings one last time and sleeps.
    /// The store must be visible before those checks, hence `SeqCst` on both sides.
    pub fn prepare_sleep(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
    }

    /// Called by the owning worker when it wakes up (or decides not to sleep).
    pub fn awake(&self) {
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Called by producers after pushing: wakes the worker if it sleeps.
    pub fn ring(&self) {
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.wake.wake();
        }
    }
}

/// The sending end of a ring into one worker. Cheap to clone; any thread may push.
pub struct RingTx<T> {
    queue: Arc<ArrayQueue<T>>,
    bell: Arc<Doorbell>,
}

impl<T> Clone for RingTx<T> {
    fn clone(&self) -> Self {
        RingTx {
            queue: self.queue.clone(),
            bell: self.bell.clone(),
        }
    }
}

/// The receiving end, owned by the worker.
pub struct RingRx<T> {
    queue: Arc<ArrayQueue<T>>,
}

/// A bounded ring of `capacity` messages that wakes the owner of `bell`.
pub fn ring<T>(capacity: usize, bell: Arc<Doorbell>) -> (RingTx<T>, RingRx<T>) {
    let queue = Arc::new(ArrayQueue::new(capacity.max(1)));
    (
        RingTx {
            queue: queue.clone(),
            bell,
        },
        RingRx { queue },
    )
}

impl<T> RingTx<T> {
    /// Pushes one message and wakes the receiver if needed. A full ring hands the message back:
    /// the caller decides whether to retry later, shed it, or answer an error upstream.
    pub fn push(&self, msg: T) -> Result<(), T> {
        let r = self.queue.push(msg);
        self.bell.ring();
        r
    }

    /// Messages waiting in the ring.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The ring's capacity.
    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }
}

impl<T> RingRx<T> {
    /// Takes the oldest message, if any.
    pub fn pop(&self) -> Option<T> {
        self.queue.pop()
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn rings_only_a_sleeping_worker() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let bell = Doorbell::new(count.clone());
        let (tx, rx) = ring::<u32>(4, bell.clone());
        tx.push(1).unwrap();
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            0,
            "busy worker must not be woken"
        );
        bell.prepare_sleep();
        tx.push(2).unwrap();
        tx.push(3).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "one wake per sleep");
        assert_eq!(
            (rx.pop(), rx.pop(), rx.pop(), rx.pop()),
            (Some(1), Some(2), Some(3), None)
        );
    }

    #[test]
    fn full_ring_hands_the_message_back() {
        let bell = Doorbell::new(Arc::new(Count(AtomicUsize::new(0))));
        let (tx, _rx) = ring::<u32>(2, bell);
        tx.push(1).unwrap();
        tx.push(2).unwrap();
        assert_eq!(tx.push(3), Err(3));
    }
}
