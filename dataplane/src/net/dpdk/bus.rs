//! What the cores of one port exchange when it has several queues: neighbour-discovery frames
//! (RSS delivers ARP/NDP to one queue, but every core's interfaces need the answers) and TCP
//! segments of flows the receiving core does not own: replies to connections another core
//! opened (the owner is encoded in the ephemeral port: `port % queues`), or segments a driver
//! put on another queue than the flow's first ones (these go around the ring of cores, with a
//! hop count, until the owner takes them or the last core answers with a RST).

use crossbeam::queue::ArrayQueue;

use super::mbuf::Mbuf;

/// Frames in flight per core and kind; beyond that they are dropped (TCP and ARP retry).
const INBOX: usize = 1024;

struct Inbox {
    neighbors: ArrayQueue<Vec<u8>>,
    steered: ArrayQueue<(Mbuf, u8)>,
}

/// Lock-free inboxes, one per queue pair.
pub struct CoreBus {
    inboxes: Vec<Inbox>,
}

impl CoreBus {
    /// Inboxes for `queues` cores (none are used with one queue).
    pub fn new(queues: u16) -> Self {
        let n = if queues > 1 { usize::from(queues) } else { 0 };
        CoreBus {
            inboxes: (0..n)
                .map(|_| Inbox {
                    neighbors: ArrayQueue::new(INBOX),
                    steered: ArrayQueue::new(INBOX),
                })
                .collect(),
        }
    }

    /// Gives a copy of a neighbour frame to every core but `from`.
    pub fn broadcast_neighbor(&self, from: u16, frame: &[u8]) {
        for (q, inbox) in self.inboxes.iter().enumerate() {
            if q != usize::from(from) {
                let _ = inbox.neighbors.push(frame.to_vec());
            }
        }
    }

    /// Hands a segment to core `to`, after `hops` hops (dropped if its inbox is full).
    pub fn steer(&self, to: u16, m: Mbuf, hops: u8) {
        if let Some(inbox) = self.inboxes.get(usize::from(to)) {
            let _ = inbox.steered.push((m, hops));
        }
    }

    /// The next neighbour frame for core `q`.
    pub fn pop_neighbor(&self, q: u16) -> Option<Vec<u8>> {
        self.inboxes.get(usize::from(q))?.neighbors.pop()
    }

    /// The next steered segment for core `q`, with its hop count.
    pub fn pop_steered(&self, q: u16) -> Option<(Mbuf, u8)> {
        self.inboxes.get(usize::from(q))?.steered.pop()
    }
}
