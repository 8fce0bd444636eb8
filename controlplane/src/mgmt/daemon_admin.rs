//! What the management API asks of a running [`Daemon`]: per-worker counters (each worker
//! answers over its control ring with copies of its own plain counters; they are summed here,
//! at scrape time), relay tokens, and the two steps of a graceful stop.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use dataplane::relay::{RelayControl, RelayStats, TokenSummary};
use dataplane::switch::{SwitchControl, SwitchStats};

use crate::daemon::Daemon;

/// How long one worker has to answer a stats request.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// One worker's answer to a stats request.
#[derive(Clone, Debug, Default)]
pub struct WorkerSnapshot {
    /// Worker index.
    pub index: usize,
    /// The worker answered (a stuck or full worker does not; its counters are then zero).
    pub answered: bool,
    /// Relay and I/O counters.
    pub relay: RelayStats,
    /// Chat switch counters.
    pub switch: SwitchStats,
    /// Messages waiting in the control ring into the worker.
    pub control_ring: usize,
    /// Capacity of that ring.
    pub control_ring_capacity: usize,
}

impl Daemon {
    /// Number of dataplane workers.
    pub fn worker_count(&self) -> usize {
        self.runtime.workers()
    }

    /// Counters of every worker. Requests go out to all workers first, then the answers are
    /// collected, so a scrape costs one round trip, not one per worker.
    pub fn worker_snapshots(&self) -> Vec<WorkerSnapshot> {
        let rings = self.runtime.controls();
        let mut relay_rx = Vec::with_capacity(rings.len());
        let mut switch_rx = Vec::with_capacity(rings.len());
        let mut out = Vec::with_capacity(rings.len());
        for (i, ring) in rings.iter().enumerate() {
            out.push(WorkerSnapshot {
                index: i,
                control_ring: ring.len(),
                control_ring_capacity: ring.capacity(),
                ..WorkerSnapshot::default()
            });
            let (tx, rx) = mpsc::channel();
            relay_rx.push(ring.push(RelayControl::Stats(tx)).ok().map(|_| rx));
            let (tx, rx) = mpsc::channel();
            switch_rx.push(
                ring.push(RelayControl::Switch(SwitchControl::Stats(tx)))
                    .ok()
                    .map(|_| rx),
            );
        }
        let deadline = Instant::now() + ANSWER_WITHIN;
        for (snap, (r, s)) in out.iter_mut().zip(relay_rx.into_iter().zip(switch_rx)) {
            let left = || deadline.saturating_duration_since(Instant::now());
            if let Some(Ok(st)) = r.map(|rx| rx.recv_timeout(left())) {
                snap.relay = st;
                snap.answered = true;
            }
            if let Some(Ok(st)) = s.map(|rx| rx.recv_timeout(left())) {
                snap.switch = st;
            }
        }
        out
    }

    /// Open SIP stream flows (TCP/TLS connections), 0 without SIP.
    pub fn sip_stream_flows(&self) -> usize {
        self.sip_core().map_or(0, |c| c.flows.stream_count())
    }

    /// The SIP core, when SIP runs.
    pub fn sip_core(&self) -> Option<std::sync::Arc<crate::sip::core::Core>> {
        self.sip
            .as_ref()
            .and_then(|m| m.sip.as_ref())
            .map(|s| s.core().clone())
    }

    /// Live relay tokens of every worker.
    pub fn relay_tokens(&self) -> Vec<TokenSummary> {
        let rxs: Vec<_> = self
            .runtime
            .controls()
            .iter()
            .filter_map(|ring| {
                let (tx, rx) = mpsc::channel();
                ring.push(RelayControl::Tokens(tx)).ok().map(|_| rx)
            })
            .collect();
        let deadline = Instant::now() + ANSWER_WITHIN;
        let mut all = Vec::new();
        for rx in rxs {
            if let Ok(list) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                all.extend(list);
            }
        }
        all.sort_by(|a, b| (a.worker, &a.client).cmp(&(b.worker, &b.client)));
        all
    }

    /// Graceful stop, step one: every worker closes its listeners. Returns how many workers
    /// got the message.
    pub fn begin_drain(&self) -> usize {
        self.broadcast(|| RelayControl::Drain)
    }

    /// Graceful stop at the deadline: every worker fails what is still waiting for a next hop
    /// (408 REPORTs to the senders that asked for them).
    pub fn abandon_in_flight(&self) -> usize {
        self.broadcast(|| RelayControl::Abandon)
    }

    /// Whether every worker is idle: nothing waiting for a next hop, no frame half through,
    /// nothing left in a send queue.
    pub fn quiescent(&self) -> bool {
        self.worker_snapshots().iter().all(|w| {
            w.answered
                && w.relay.pending_transactions == 0
                && w.relay.in_frame == 0
                && w.relay.queue.bytes == 0
                && w.switch.inflight == 0
                && w.switch.deliveries_in_progress == 0
        })
    }

    /// Drains: closes the listeners, waits (polling) until the workers are quiescent or
    /// `timeout` passed, then fails what is left and gives the sockets a moment to flush.
    /// Returns whether the workers became idle in time.
    pub fn drain(&self, timeout: Duration) -> bool {
        self.begin_drain();
        let deadline = Instant::now() + timeout;
        loop {
            if self.quiescent() {
                return true;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.abandon_in_flight();
        // Let the REPORTs leave before the connections close.
        let flush_until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < flush_until {
            if self
                .worker_snapshots()
                .iter()
                .all(|w| w.relay.queue.bytes == 0)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn broadcast(&self, msg: impl Fn() -> RelayControl) -> usize {
        let mut n = 0;
        for ring in self.runtime.controls() {
            // A full control ring is drained within a loop pass; retry for a moment.
            let until = Instant::now() + Duration::from_secs(1);
            let mut m = msg();
            loop {
                match ring.push(m) {
                    Ok(()) => {
                        n += 1;
                        break;
                    }
                    Err(back) if Instant::now() < until => {
                        m = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(_) => break,
                }
            }
        }
        n
    }
}
