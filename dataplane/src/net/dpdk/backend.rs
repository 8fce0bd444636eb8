//! [`DpdkBackend`]: the [`Backend`] of one dataplane core over one port queue pair, with
//! smoltcp as its TCP/IP stack.
//!
//! smoltcp walks a whole `SocketSet` for every received segment and on every egress poll, which
//! makes one interface with thousands of sockets unusably slow. So a core runs many small
//! interfaces ("shards", `sockets_per_interface` sockets each) sharing the port's MAC and IP
//! addresses, and demultiplexes frames itself:
//!
//! - a TCP segment of a known flow goes to the shard holding its socket (a hash map keyed by
//!   the 4-tuple);
//! - a SYN for a listening port goes to shard 0, where each listener keeps `listen_backlog`
//!   listening sockets; the socket that took the SYN is moved to the next data shard with room (round robin) and a
//!   fresh listening socket is armed in its place;
//! - ARP and NDP go to shard 0, which answers, and then (muted) to every data shard, so every
//!   neighbour cache learns the peers;
//! - anything else (ICMP, segments of unknown flows, which smoltcp answers with RST) goes to
//!   shard 0.
//!
//! Egress polls only the shards that have something to do: ingress, a `send`/`recv`/`close`
//! on one of their sockets, or a due timer (`poll_at`). Readiness events come from the state
//! of the sockets a pass touched.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::BytesMut;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::DeviceCapabilities;
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration as SmolDuration, Instant as SmolInstant};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint, Ipv4Address,
    Ipv6Address,
};

use super::bus::CoreBus;
use super::classify::{classify, Class, FlowKey};
use super::config::{DpdkConfig, TcpConfig};
use super::device::{capabilities, Staged, StagedDevice};
use super::mbuf::Mbuf;
use super::port::{QueueIo, QueueStats};
use crate::net::{Backend, ConnId, ListenerId, NetEvent, Wake};

/// Egress passes per shard and poll: each pass sends at most one segment per socket.
const MAX_EGRESS_PASSES: usize = 64;
/// How often lingering sockets and handshake deadlines are checked.
const MAINTENANCE_EVERY: Duration = Duration::from_millis(20);
/// Neighbour frames replayed into a shard created after they arrived.
const NEIGHBOR_LOG: usize = 16;

/// Counters of one backend (per core).
#[derive(Clone, Copy, Debug, Default)]
pub struct BackendStats {
    /// Queue-level packet counters.
    pub queue: QueueStats,
    /// Bytes copied from the caller's slices into smoltcp's send buffers.
    pub tx_copied: u64,
    /// Bytes copied from smoltcp's receive buffers into the caller's `BytesMut`.
    pub rx_copied: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// SYNs dropped because the core was at `max_connections`.
    pub syn_dropped: u64,
    /// Frames dropped because the NIC flagged a bad checksum.
    pub bad_checksum: u64,
    /// Frames handed to another core (multi-queue ports).
    pub steered: u64,
    /// Interfaces (shards) in use, control shard included.
    pub shards: usize,
    /// Egress polls of a shard.
    pub egress_polls: u64,
}

struct Shard {
    iface: Interface,
    sockets: SocketSet<'static>,
    /// Sockets in the set (connections, lingering sockets, listening sockets).
    used: usize,
    dirty: bool,
    /// Check every member's state after the next egress (a timer may have changed it).
    timers_fired: bool,
    next_poll: Option<SmolInstant>,
    /// Connection slots whose socket lives here.
    members: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    Discard,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Accepted by a listening socket, handshake not finished: not yet reported.
    Embryonic(ListenerId),
    /// `connect` issued, not yet reported.
    Connecting,
    /// Reported to the worker.
    Open,
}

struct Conn {
    shard: u16,
    handle: SocketHandle,
    key: FlowKey,
    phase: Phase,
    /// Handshake deadline (embryonic and connecting phases).
    deadline: SmolInstant,
    /// Receive-queue length the worker has been told about.
    rx_seen: usize,
    eof_reported: bool,
    write_blocked: bool,
    touched: bool,
    member_pos: usize,
}

struct Slot {
    gen: u32,
    conn: Option<Conn>,
}

#[derive(Clone, Copy)]
struct Flow {
    shard: u16,
    /// `None` once the worker closed it and the socket only lingers.
    conn: Option<u32>,
}

struct Listener {
    addr: Option<IpAddr>,
    port: u16,
    /// Listening sockets in shard 0.
    armed: Vec<SocketHandle>,
}

struct Linger {
    shard: u16,
    handle: SocketHandle,
    key: FlowKey,
    deadline: SmolInstant,
}

/// Wakes a backend that parks between idle passes (`idle_sleep_us > 0`).
struct ParkWaker {
    woken: AtomicBool,
    thread: OnceLock<std::thread::Thread>,
}

impl Wake for ParkWaker {
    fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}

/// The DPDK + smoltcp backend of one dataplane core. Create it with
/// [`DpdkRuntime`](super::DpdkRuntime), move it to its worker thread, and poll it there.
pub struct DpdkBackend {
    io: QueueIo,
    caps: DeviceCapabilities,
    tcp: TcpConfig,
    mac: EthernetAddress,
    addrs: Vec<IpCidr>,
    gateway_v4: Option<Ipv4Address>,
    gateway_v6: Option<Ipv6Address>,
    idle_sleep: Duration,
    rx_bursts: u16,
    rx_checksum_offload: bool,
    pin_core: Option<usize>,
    started: bool,

    shards: Vec<Shard>,
    max_shards: usize,
    shard_cursor: usize,
    flows: HashMap<FlowKey, Flow, ahash::RandomState>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    listeners: Vec<Option<Listener>>,
    lingering: Vec<Linger>,
    handshakes: Vec<(u32, u32)>,
    touched: Vec<u32>,
    dirty: Vec<u16>,
    /// Shard deadlines (`poll_at`), earliest first.
    timers: BinaryHeap<Reverse<(SmolInstant, u16)>>,
    next_ephemeral: u16,

    rx_frames: Vec<Mbuf>,
    scratch: Vec<u8>,
    neighbor_log: Vec<Vec<u8>>,
    neighbor_log_next: usize,
    bus: Arc<CoreBus>,
    queue: u16,
    queues: u16,
    clock: std::time::Instant,
    last_maintenance: SmolInstant,
    seed: u64,
    waker: Arc<ParkWaker>,
    stats: BackendStats,
}

fn smol_ip(ip: IpAddr) -> IpAddress {
    match ip {
        IpAddr::V4(a) => IpAddress::Ipv4(a),
        IpAddr::V6(a) => IpAddress::Ipv6(a),
    }
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "stale connection id")
}

/// One ingress step of `shard` with `frame`.
fn ingress(
    sh: &mut Shard,
    io: &mut QueueIo,
    caps: &DeviceCapabilities,
    scratch: &mut Vec<u8>,
    now: SmolInstant,
    frame: Staged<'_>,
    mute: bool,
) {
    let mut dev = StagedDevice {
        io,
        rx: Some(frame),
        mute,
        caps,
        scratch,
    };
    let _ = sh.iface.poll_ingress_single(now, &mut dev, &mut sh.sockets);
}

impl DpdkBackend {
    pub(crate) fn new(
        io: QueueIo,
        cfg: &DpdkConfig,
        queue: u16,
        bus: Arc<CoreBus>,
    ) -> Result<Self, super::DpdkError> {
        let info = io.port().info().clone();
        let mtu = usize::from(cfg.mtu.map_or(info.mtu, |m| m.min(info.mtu)).max(576));
        let caps = capabilities(mtu, info.rx_checksum_offload);
        let mac = EthernetAddress(info.mac);
        if !mac.is_unicast() {
            return Err(super::DpdkError::Config(format!(
                "port MAC {mac} is not unicast"
            )));
        }
        let mut addrs = Vec::new();
        if let Some(c) = cfg.ipv4 {
            addrs.push(IpCidr::new(IpAddress::Ipv4(c.addr), c.prefix));
        }
        if let Some(c) = cfg.ipv6 {
            addrs.push(IpCidr::new(IpAddress::Ipv6(c.addr), c.prefix));
            // The link-local address answers neighbour solicitations sent from link-local
            // sources (what Linux does).
            let m = info.mac;
            let ll = Ipv6Address::new(
                0xfe80,
                0,
                0,
                0,
                u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
                u16::from_be_bytes([m[2], 0xff]),
                u16::from_be_bytes([0xfe, m[3]]),
                u16::from_be_bytes([m[4], m[5]]),
            );
            addrs.push(IpCidr::new(IpAddress::Ipv6(ll), 64));
        }
        let s = cfg.tcp.sockets_per_interface.max(1);
        let max_shards = cfg.tcp.max_connections.div_ceil(s) + 1;
        let clock = std::time::Instant::now();
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = ahash::RandomState::new().build_hasher();
            h.write_u16(queue);
            h.finish()
        };
        let mut b = DpdkBackend {
            io,
            caps,
            tcp: cfg.tcp.clone(),
            mac,
            addrs,
            gateway_v4: cfg.ipv4_gateway,
            gateway_v6: cfg.ipv6_gateway,
            idle_sleep: Duration::from_micros(cfg.idle_sleep_us),
            rx_bursts: cfg.rx_bursts_per_poll.max(1),
            rx_checksum_offload: info.rx_checksum_offload,
            pin_core: if cfg.pin_cores {
                cfg.cores.get(usize::from(queue)).copied()
            } else {
                None
            },
            started: false,
            shards: Vec::new(),
            max_shards,
            shard_cursor: 1,
            flows: HashMap::with_hasher(ahash::RandomState::new()),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            listeners: Vec::new(),
            lingering: Vec::new(),
            handshakes: Vec::new(),
            touched: Vec::new(),
            dirty: Vec::new(),
            timers: BinaryHeap::new(),
            next_ephemeral: cfg.tcp.ephemeral_first,
            rx_frames: Vec::with_capacity(usize::from(cfg.burst)),
            scratch: Vec::new(),
            neighbor_log: Vec::new(),
            neighbor_log_next: 0,
            bus,
            queue,
            queues: info.queues,
            clock,
            last_maintenance: SmolInstant::ZERO,
            seed,
            waker: Arc::new(ParkWaker {
                woken: AtomicBool::new(false),
                thread: OnceLock::new(),
            }),
            stats: BackendStats::default(),
        };
        b.add_shard(); // shard 0: control
        b.add_shard(); // first data shard
        Ok(b)
    }

    /// Counters of this core.
    pub fn stats(&self) -> BackendStats {
        let mut s = self.stats;
        s.queue = self.io.stats;
        s.shards = self.shards.len();
        s
    }

    /// Connections the worker holds (accepted and reported, or connecting).
    pub fn connections(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// The queue pair this backend owns.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    fn now(&self) -> SmolInstant {
        SmolInstant::from_micros(self.clock.elapsed().as_micros() as i64)
    }

    fn add_shard(&mut self) -> usize {
        let now = self.now();
        let idx = self.shards.len();
        let mut cfg = IfaceConfig::new(HardwareAddress::Ethernet(self.mac));
        cfg.random_seed = self
            .seed
            .wrapping_add((idx as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut dev = StagedDevice {
            io: &mut self.io,
            rx: None,
            mute: true,
            caps: &self.caps,
            scratch: &mut self.scratch,
        };
        let mut iface = Interface::new(cfg, &mut dev, now);
        let addrs = self.addrs.clone();
        iface.update_ip_addrs(|a| {
            for c in addrs {
                let _ = a.push(c);
            }
        });
        if let Some(gw) = self.gateway_v4 {
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        if let Some(gw) = self.gateway_v6 {
            let _ = iface.routes_mut().add_default_ipv6_route(gw);
        }
        let mut shard = Shard {
            iface,
            sockets: SocketSet::new(Vec::new()),
            used: 0,
            dirty: false,
            timers_fired: false,
            next_poll: None,
            members: Vec::new(),
        };
        // Teach the new interface the neighbours the others already know.
        for f in &self.neighbor_log {
            ingress(
                &mut shard,
                &mut self.io,
                &self.caps,
                &mut self.scratch,
                now,
                Staged::Slice(f),
                true,
            );
        }
        self.shards.push(shard);
        idx
    }

    /// The data shard for a new socket: round robin over shards with room, a new shard when
    /// all are full, `None` at `max_connections`.
    fn pick_data_shard(&mut self) -> Option<usize> {
        let cap = self.tcp.sockets_per_interface;
        let n = self.shards.len();
        for i in 0..n.saturating_sub(1) {
            let s = 1 + (self.shard_cursor - 1 + i) % (n - 1);
            if self.shards[s].used < cap {
                self.shard_cursor = 1 + s % (n - 1);
                return Some(s);
            }
        }
        if n < self.max_shards {
            return Some(self.add_shard());
        }
        None
    }

    fn at_capacity(&self) -> bool {
        self.live + self.lingering.len() >= self.tcp.max_connections
    }

    fn new_socket(&self) -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.tcp.rx_buffer]),
            tcp::SocketBuffer::new(vec![0; self.tcp.tx_buffer]),
        );
        s.set_nagle_enabled(self.tcp.nagle);
        s.set_ack_delay(match self.tcp.ack_delay_ms {
            0 => None,
            ms => Some(SmolDuration::from_millis(ms)),
        });
        s.set_timeout(match self.tcp.user_timeout_ms {
            0 => None,
            ms => Some(SmolDuration::from_millis(ms)),
        });
        s.set_keep_alive(match self.tcp.keepalive_ms {
            0 => None,
            ms => Some(SmolDuration::from_millis(ms)),
        });
        s
    }

    fn mark_dirty(&mut self, shard: usize) {
        let sh = &mut self.shards[shard];
        if !sh.dirty {
            sh.dirty = true;
            self.dirty.push(shard as u16);
        }
    }

    fn touch(&mut self, idx: u32) {
        if let Some(Slot { conn: Some(c), .. }) = self.slots.get_mut(idx as usize) {
            if !c.touched {
                c.touched = true;
                self.touched.push(idx);
            }
        }
    }

    fn handshake_deadline(&self, now: SmolInstant) -> SmolInstant {
        let ms = match self.tcp.user_timeout_ms {
            0 => 60_000,
            ms => ms,
        };
        now + SmolDuration::from_millis(ms)
    }

    fn insert_conn(
        &mut self,
        shard: usize,
        handle: SocketHandle,
        key: FlowKey,
        phase: Phase,
    ) -> u32 {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot { gen: 0, conn: None });
                (self.slots.len() - 1) as u32
            }
        };
        let deadline = self.handshake_deadline(self.now());
        let sh = &mut self.shards[shard];
        let member_pos = sh.members.len();
        sh.members.push(idx);
        let slot = &mut self.slots[idx as usize];
        slot.gen = slot.gen.wrapping_add(1);
        slot.conn = Some(Conn {
            shard: shard as u16,
            handle,
            key,
            phase,
            deadline,
            rx_seen: 0,
            eof_reported: false,
            write_blocked: false,
            touched: false,
            member_pos,
        });
        self.handshakes.push((idx, slot.gen));
        self.flows.insert(
            key,
            Flow {
                shard: shard as u16,
                conn: Some(idx),
            },
        );
        self.live += 1;
        idx
    }

    /// Takes the connection out of its slot and its shard's member list; the socket stays.
    fn detach(&mut self, idx: u32) -> Option<Conn> {
        let c = self.slots.get_mut(idx as usize)?.conn.take()?;
        let sh = &mut self.shards[usize::from(c.shard)];
        sh.members.swap_remove(c.member_pos);
        if let Some(&moved) = sh.members.get(c.member_pos) {
            if let Some(Slot { conn: Some(m), .. }) = self.slots.get_mut(moved as usize) {
                m.member_pos = c.member_pos;
            }
        }
        self.free.push(idx);
        self.live -= 1;
        Some(c)
    }

    /// Drops a connection and its socket at once (failed handshakes).
    fn discard(&mut self, idx: u32) {
        if let Some(c) = self.detach(idx) {
            let sh = &mut self.shards[usize::from(c.shard)];
            sh.sockets.remove(c.handle);
            sh.used -= 1;
            self.flows.remove(&c.key);
        }
    }

    /// Hands a connection's socket to the lingering list (FIN or RST still to be exchanged).
    fn linger(&mut self, idx: u32, abort: bool) {
        let Some(c) = self.detach(idx) else { return };
        let now = self.now();
        let shard = usize::from(c.shard);
        let sock = self.shards[shard].sockets.get_mut::<tcp::Socket>(c.handle);
        if abort {
            sock.abort();
        } else {
            sock.close();
        }
        if let Some(f) = self.flows.get_mut(&c.key) {
            f.conn = None;
        }
        self.lingering.push(Linger {
            shard: c.shard,
            handle: c.handle,
            key: c.key,
            deadline: now + SmolDuration::from_millis(self.tcp.linger_ms),
        });
        self.mark_dirty(shard);
    }

    fn listener_for(&self, key: &FlowKey) -> Option<usize> {
        self.listeners.iter().position(|l| {
            matches!(l, Some(l) if l.port == key.lport && l.addr.is_none_or(|a| a == key.local))
        })
    }

    fn arm(&mut self, li: usize) {
        let Some(Some(l)) = self.listeners.get(li) else {
            return;
        };
        let ep = IpListenEndpoint {
            addr: l.addr.map(smol_ip),
            port: l.port,
        };
        let mut s = self.new_socket();
        if s.listen(ep).is_err() {
            return;
        }
        let h = self.shards[0].sockets.add(s);
        self.shards[0].used += 1;
        if let Some(Some(l)) = self.listeners.get_mut(li) {
            l.armed.push(h);
        }
    }

    /// A SYN for listener `li`: shard 0 processes it, the socket that took it moves to a data
    /// shard and a new listening socket replaces it.
    fn accept_syn(&mut self, li: usize, key: FlowKey, m: Mbuf, now: SmolInstant) {
        if self.at_capacity() {
            self.stats.syn_dropped += 1;
            return;
        }
        ingress(
            &mut self.shards[0],
            &mut self.io,
            &self.caps,
            &mut self.scratch,
            now,
            Staged::Mbuf(m),
            false,
        );
        let Some(Some(l)) = self.listeners.get(li) else {
            return;
        };
        let mut taken = None;
        for (i, &h) in l.armed.iter().enumerate() {
            if self.shards[0].sockets.get::<tcp::Socket>(h).state() != State::Listen {
                taken = Some((i, h));
                break;
            }
        }
        let Some((i, h)) = taken else { return };
        if let Some(Some(l)) = self.listeners.get_mut(li) {
            l.armed.swap_remove(i);
        }
        let sock = self.shards[0].sockets.remove(h);
        self.shards[0].used -= 1;
        self.arm(li);
        if !matches!(&sock, smoltcp::socket::Socket::Tcp(t) if t.state() == State::SynReceived) {
            return; // refused (e.g. a RST answered it): the socket is dropped
        }
        let Some(d) = self.pick_data_shard() else {
            self.stats.syn_dropped += 1;
            return;
        };
        let h2 = self.shards[d].sockets.add(sock);
        self.shards[d].used += 1;
        self.insert_conn(d, h2, key, Phase::Embryonic(ListenerId(li as u32)));
        self.mark_dirty(d);
    }

    /// ARP/NDP: shard 0 answers, every other shard learns silently.
    fn neighbor_frame(&mut self, frame: Staged<'_>, now: SmolInstant, from_wire: bool) {
        let mut copy = std::mem::take(&mut self.scratch);
        match &frame {
            Staged::Mbuf(m) => m.copy_to(&mut copy),
            Staged::Slice(s) => {
                copy.clear();
                copy.extend_from_slice(s);
            }
        }
        let mut scratch = Vec::new();
        ingress(
            &mut self.shards[0],
            &mut self.io,
            &self.caps,
            &mut scratch,
            now,
            frame,
            false,
        );
        for s in 1..self.shards.len() {
            ingress(
                &mut self.shards[s],
                &mut self.io,
                &self.caps,
                &mut scratch,
                now,
                Staged::Slice(&copy),
                true,
            );
        }
        if from_wire && self.queues > 1 {
            self.bus.broadcast_neighbor(self.queue, &copy);
        }
        if self.neighbor_log.len() < NEIGHBOR_LOG {
            self.neighbor_log.push(copy.clone());
        } else {
            let i = self.neighbor_log_next % NEIGHBOR_LOG;
            self.neighbor_log[i].clear();
            self.neighbor_log[i].extend_from_slice(&copy);
        }
        self.neighbor_log_next = self.neighbor_log_next.wrapping_add(1);
        self.scratch = copy;
        // Sockets waiting for a neighbour may go now.
        for s in 0..self.shards.len() {
            self.mark_dirty(s);
        }
    }

    /// Where a segment of a flow this core does not know goes next, with its hop count: the
    /// owner of an ephemeral port directly, else around the ring of cores; `None`: answer here
    /// (smoltcp sends a RST).
    fn steer_to(&self, key: &FlowKey, hops: Option<u8>) -> Option<(u16, u8)> {
        let q = self.queues;
        if q < 2 {
            return None;
        }
        let ephemeral = key.lport >= self.tcp.ephemeral_first;
        let next = (self.queue + 1) % q;
        match hops {
            None if ephemeral => {
                let owner = key.lport % q;
                (owner != self.queue).then_some((owner, 1))
            }
            None => Some((next, 1)),
            Some(h) if !ephemeral && u16::from(h) + 1 < q => Some((next, h + 1)),
            Some(_) => None,
        }
    }

    /// Handles one received frame; `hops` is `None` for a frame from the wire, `Some(n)` for
    /// one another core handed over after `n` hops.
    fn handle_frame(&mut self, m: Mbuf, now: SmolInstant, hops: Option<u8>) {
        let from_wire = hops.is_none();
        match classify(m.data()) {
            Class::Tcp { key, syn } => {
                if self.rx_checksum_offload && !m.rx_checksum_good(key.local.is_ipv4()) {
                    self.stats.bad_checksum += 1;
                    return;
                }
                if let Some(f) = self.flows.get(&key).copied() {
                    let s = usize::from(f.shard);
                    ingress(
                        &mut self.shards[s],
                        &mut self.io,
                        &self.caps,
                        &mut self.scratch,
                        now,
                        Staged::Mbuf(m),
                        false,
                    );
                    self.mark_dirty(s);
                    if let Some(c) = f.conn {
                        self.touch(c);
                    }
                    return;
                }
                if syn {
                    if let Some(li) = self.listener_for(&key) {
                        self.accept_syn(li, key, m, now);
                        return;
                    }
                }
                // With several queues the flow may belong to another core: one this core
                // opened (its ephemeral port says which), or one the driver delivered elsewhere
                // before (RSS, or a kernel fanout that rolled over to this queue).
                if let Some((to, h)) = self.steer_to(&key, hops) {
                    self.stats.steered += 1;
                    self.bus.steer(to, m, h);
                    return;
                }
                ingress(
                    &mut self.shards[0],
                    &mut self.io,
                    &self.caps,
                    &mut self.scratch,
                    now,
                    Staged::Mbuf(m),
                    false,
                );
                self.mark_dirty(0);
            }
            Class::Neighbor => self.neighbor_frame(Staged::Mbuf(m), now, from_wire),
            Class::Other => {
                ingress(
                    &mut self.shards[0],
                    &mut self.io,
                    &self.caps,
                    &mut self.scratch,
                    now,
                    Staged::Mbuf(m),
                    false,
                );
                self.mark_dirty(0);
            }
            Class::Drop => {}
        }
    }

    fn egress(&mut self, now: SmolInstant) {
        let mut i = 0;
        while i < self.dirty.len() {
            let s = usize::from(self.dirty[i]);
            i += 1;
            let sh = &mut self.shards[s];
            sh.dirty = false;
            let mut dev = StagedDevice {
                io: &mut self.io,
                rx: None,
                mute: false,
                caps: &self.caps,
                scratch: &mut self.scratch,
            };
            let mut passes = 0;
            loop {
                self.stats.egress_polls += 1;
                let r = sh.iface.poll_egress(now, &mut dev, &mut sh.sockets);
                passes += 1;
                if r == smoltcp::iface::PollResult::None
                    || passes >= MAX_EGRESS_PASSES
                    || !dev.io.tx_room()
                {
                    break;
                }
            }
            // Only an earlier deadline needs a heap entry: a pending earlier one fires, finds
            // nothing (or something) to do, and the deadline is recomputed then.
            if let Some(t) = sh.iface.poll_at(now, &sh.sockets) {
                if sh.next_poll.is_none_or(|cur| t < cur) {
                    sh.next_poll = Some(t);
                    self.timers.push(Reverse((t, s as u16)));
                }
            }
            if sh.timers_fired {
                sh.timers_fired = false;
                for k in 0..sh.members.len() {
                    let idx = sh.members[k];
                    if let Some(Slot { conn: Some(c), .. }) = self.slots.get_mut(idx as usize) {
                        if !c.touched {
                            c.touched = true;
                            self.touched.push(idx);
                        }
                    }
                }
            }
        }
        self.dirty.clear();
    }

    /// Marks the shards whose `poll_at` deadline has come. The heap holds stale entries for
    /// shards whose deadline moved; they are recognised by comparing with `next_poll`.
    fn fire_timers(&mut self, now: SmolInstant) {
        while let Some(&Reverse((t, s))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let s = usize::from(s);
            if self.shards[s].next_poll == Some(t) {
                self.shards[s].next_poll = None;
                self.shards[s].timers_fired = true;
                self.mark_dirty(s);
            }
        }
    }

    /// Turns the state of touched connections into events.
    fn report(&mut self, out: &mut Vec<NetEvent>) {
        let mut touched = std::mem::take(&mut self.touched);
        for &idx in &touched {
            if self.report_one(idx, out) == Verdict::Discard {
                self.discard(idx);
            }
        }
        touched.clear();
        if self.touched.is_empty() {
            self.touched = touched;
        }
    }

    fn report_one(&mut self, idx: u32, out: &mut Vec<NetEvent>) -> Verdict {
        let Some(slot) = self.slots.get_mut(idx as usize) else {
            return Verdict::Keep;
        };
        let gen = slot.gen;
        let Some(c) = slot.conn.as_mut() else {
            return Verdict::Keep;
        };
        c.touched = false;
        let id = ConnId { idx, gen };
        let sock = self.shards[usize::from(c.shard)]
            .sockets
            .get::<tcp::Socket>(c.handle);
        let state = sock.state();
        match c.phase {
            Phase::Embryonic(listener) => match state {
                State::SynReceived => return Verdict::Keep,
                State::Closed | State::Listen | State::TimeWait => return Verdict::Discard,
                _ => {
                    c.phase = Phase::Open;
                    self.stats.accepted += 1;
                    out.push(NetEvent::Accepted {
                        listener,
                        conn: id,
                        peer: SocketAddr::new(c.key.remote, c.key.rport),
                    });
                    out.push(NetEvent::Writable(id));
                }
            },
            Phase::Connecting => match state {
                State::SynSent => return Verdict::Keep,
                State::Closed | State::TimeWait => {
                    out.push(NetEvent::Connected {
                        conn: id,
                        ok: false,
                    });
                    return Verdict::Discard;
                }
                _ => {
                    c.phase = Phase::Open;
                    out.push(NetEvent::Connected { conn: id, ok: true });
                    out.push(NetEvent::Writable(id));
                }
            },
            Phase::Open => {}
        }
        let q = sock.recv_queue();
        let eof = !sock.may_recv();
        if q > c.rx_seen || (eof && !c.eof_reported) {
            c.rx_seen = q;
            c.eof_reported |= eof;
            out.push(NetEvent::Readable(id));
        }
        if c.write_blocked && (sock.send_queue() < sock.send_capacity() || !sock.may_send()) {
            c.write_blocked = false;
            out.push(NetEvent::Writable(id));
        }
        Verdict::Keep
    }

    /// Frees lingering sockets that are done and enforces handshake deadlines.
    fn maintenance(&mut self, now: SmolInstant, out: &mut Vec<NetEvent>) {
        let mut i = 0;
        while i < self.lingering.len() {
            let l = &self.lingering[i];
            let shard = usize::from(l.shard);
            let sock = self.shards[shard].sockets.get_mut::<tcp::Socket>(l.handle);
            let done = matches!(sock.state(), State::Closed | State::TimeWait);
            if done || now >= l.deadline {
                if !done {
                    sock.abort();
                }
                let l = self.lingering.swap_remove(i);
                self.shards[shard].sockets.remove(l.handle);
                self.shards[shard].used -= 1;
                if matches!(self.flows.get(&l.key), Some(f) if f.conn.is_none()) {
                    self.flows.remove(&l.key);
                }
                continue;
            }
            i += 1;
        }
        let mut k = 0;
        while k < self.handshakes.len() {
            let (idx, gen) = self.handshakes[k];
            let pending = match self.slots.get(idx as usize) {
                Some(Slot {
                    gen: g,
                    conn: Some(c),
                }) if *g == gen && c.phase != Phase::Open => Some(c.deadline),
                _ => None,
            };
            match pending {
                None => {
                    self.handshakes.swap_remove(k);
                }
                Some(deadline) if now >= deadline => {
                    self.handshakes.swap_remove(k);
                    let connecting = matches!(
                        &self.slots[idx as usize].conn,
                        Some(c) if c.phase == Phase::Connecting
                    );
                    if connecting {
                        out.push(NetEvent::Connected {
                            conn: ConnId { idx, gen },
                            ok: false,
                        });
                    }
                    self.linger(idx, true);
                }
                Some(_) => k += 1,
            }
        }
    }

    fn drain_bus(&mut self, now: SmolInstant) -> bool {
        let mut work = false;
        while let Some(f) = self.bus.pop_neighbor(self.queue) {
            work = true;
            self.neighbor_frame(Staged::Slice(&f), now, false);
        }
        while let Some((m, hops)) = self.bus.pop_steered(self.queue) {
            work = true;
            self.handle_frame(m, now, Some(hops));
        }
        work
    }

    fn on_first_poll(&mut self) {
        self.started = true;
        let _ = self.waker.thread.set(std::thread::current());
        if let Some(core) = self.pin_core {
            let _ = core_affinity::set_for_current(core_affinity::CoreId { id: core });
        }
        // Gives a non-EAL worker thread an lcore id, so mempool caches work on it.
        // SAFETY: plain registration of the calling thread; failure only costs the cache.
        unsafe {
            if super::sys::shim_lcore_id() == u32::MAX {
                super::sys::rte_thread_register();
            }
        }
    }

    fn conn(&self, id: ConnId) -> io::Result<&Conn> {
        match self.slots.get(id.idx as usize) {
            Some(Slot { gen, conn: Some(c) }) if *gen == id.gen => Ok(c),
            _ => Err(not_connected()),
        }
    }

    fn conn_mut(&mut self, id: ConnId) -> io::Result<&mut Conn> {
        match self.slots.get_mut(id.idx as usize) {
            Some(Slot { gen, conn: Some(c) }) if *gen == id.gen => Ok(c),
            _ => Err(not_connected()),
        }
    }

    fn local_ip_for(&self, remote: IpAddr) -> Option<IpAddr> {
        self.addrs.iter().find_map(|c| match (c.address(), remote) {
            (IpAddress::Ipv4(a), IpAddr::V4(_)) => Some(IpAddr::V4(a)),
            (IpAddress::Ipv6(a), IpAddr::V6(_)) if !a.is_unicast_link_local() => {
                Some(IpAddr::V6(a))
            }
            _ => None,
        })
    }

    fn is_local(&self, ip: IpAddr) -> bool {
        let a = smol_ip(ip);
        self.addrs.iter().any(|c| c.address() == a)
    }

    /// The next free ephemeral port for `remote` that this core owns.
    fn ephemeral(&mut self, local: IpAddr, remote: SocketAddr) -> Option<u16> {
        let first = self.tcp.ephemeral_first;
        let span = u32::from(u16::MAX - first) + 1;
        for _ in 0..span {
            let p = self.next_ephemeral;
            self.next_ephemeral = if p == u16::MAX { first } else { p + 1 };
            if self.queues > 1 && p % self.queues != self.queue {
                continue;
            }
            let key = FlowKey {
                local,
                remote: remote.ip(),
                lport: p,
                rport: remote.port(),
            };
            let listened = self.listeners.iter().flatten().any(|l| l.port == p);
            if !listened && !self.flows.contains_key(&key) {
                return Some(p);
            }
        }
        None
    }
}

impl Backend for DpdkBackend {
    fn listen(&mut self, addr: SocketAddr) -> io::Result<(ListenerId, SocketAddr)> {
        let ip = if addr.ip().is_unspecified() {
            None
        } else if self.is_local(addr.ip()) {
            Some(addr.ip())
        } else {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "not an address of the DPDK port",
            ));
        };
        let port = if addr.port() != 0 {
            addr.port()
        } else {
            let first = self.tcp.ephemeral_first;
            (first..=u16::MAX)
                .rev()
                .find(|p| {
                    !self.listeners.iter().flatten().any(|l| l.port == *p)
                        && !self.flows.keys().any(|k| k.lport == *p)
                })
                .ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free port"))?
        };
        let clash = self
            .listeners
            .iter()
            .flatten()
            .any(|l| l.port == port && (l.addr.is_none() || ip.is_none() || l.addr == ip));
        if clash {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, "port in use"));
        }
        let li = match self.listeners.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.listeners.push(None);
                self.listeners.len() - 1
            }
        };
        self.listeners[li] = Some(Listener {
            addr: ip,
            port,
            armed: Vec::new(),
        });
        for _ in 0..self.tcp.listen_backlog {
            self.arm(li);
        }
        let bound = SocketAddr::new(addr.ip(), port);
        Ok((ListenerId(li as u32), bound))
    }

    fn connect(&mut self, addr: SocketAddr) -> io::Result<ConnId> {
        if self.at_capacity() {
            return Err(io::Error::other("DPDK backend at max_connections"));
        }
        let local = self.local_ip_for(addr.ip()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no address of this family on the DPDK port",
            )
        })?;
        let lport = self
            .ephemeral(local, addr)
            .ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no free ephemeral port"))?;
        let d = self
            .pick_data_shard()
            .ok_or_else(|| io::Error::other("DPDK backend at max_connections"))?;
        let mut sock = self.new_socket();
        let remote = IpEndpoint::new(smol_ip(addr.ip()), addr.port());
        let local_ep = IpListenEndpoint {
            addr: Some(smol_ip(local)),
            port: lport,
        };
        sock.connect(self.shards[d].iface.context(), remote, local_ep)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e:?}")))?;
        let h = self.shards[d].sockets.add(sock);
        self.shards[d].used += 1;
        let key = FlowKey {
            local,
            remote: addr.ip(),
            lport,
            rport: addr.port(),
        };
        let idx = self.insert_conn(d, h, key, Phase::Connecting);
        self.mark_dirty(d);
        Ok(ConnId {
            idx,
            gen: self.slots[idx as usize].gen,
        })
    }

    fn recv(&mut self, id: ConnId, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        let c = self.conn(id)?;
        if c.phase != Phase::Open {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let (shard, handle) = (usize::from(c.shard), c.handle);
        let sock = self.shards[shard].sockets.get_mut::<tcp::Socket>(handle);
        let mut n = 0usize;
        while n < max {
            let want = max - n;
            match sock.recv(|d| {
                let k = d.len().min(want);
                buf.extend_from_slice(&d[..k]);
                (k, k)
            }) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(_) => break,
            }
        }
        let left = sock.recv_queue();
        let eof = !sock.may_recv();
        if n == 0 && !eof {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.stats.rx_copied += n as u64;
        if let Ok(c) = self.conn_mut(id) {
            c.rx_seen = left;
        }
        if n > 0 {
            // The window opened: let the stack advertise it.
            self.mark_dirty(shard);
        }
        Ok(n)
    }

    fn send(&mut self, id: ConnId, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let c = self.conn(id)?;
        let (shard, handle, phase) = (usize::from(c.shard), c.handle, c.phase);
        if phase != Phase::Open {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let sock = self.shards[shard].sockets.get_mut::<tcp::Socket>(handle);
        if !sock.may_send() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "connection closed for sending",
            ));
        }
        let mut total = 0usize;
        let mut short = false;
        for b in bufs {
            if b.is_empty() {
                continue;
            }
            let n = sock.send_slice(b).unwrap_or(0);
            total += n;
            if n < b.len() {
                short = true;
                break;
            }
        }
        if short {
            if let Ok(c) = self.conn_mut(id) {
                c.write_blocked = true;
            }
        }
        if total == 0 {
            return if short {
                Err(io::ErrorKind::WouldBlock.into())
            } else {
                Ok(0)
            };
        }
        self.stats.tx_copied += total as u64;
        self.mark_dirty(shard);
        Ok(total)
    }

    fn close(&mut self, id: ConnId) {
        let Ok(c) = self.conn(id) else { return };
        let abort = c.phase != Phase::Open;
        self.linger(id.idx, abort);
    }

    fn close_listener(&mut self, listener: ListenerId) {
        let li = listener.0 as usize;
        let Some(Some(l)) = self.listeners.get_mut(li) else {
            return;
        };
        let armed = std::mem::take(&mut l.armed);
        self.listeners[li] = None;
        for h in armed {
            self.shards[0].sockets.remove(h);
            self.shards[0].used -= 1;
        }
        // Handshakes in progress on this listener will never be reported: reset them.
        let embryos: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.conn {
                Some(c) if c.phase == Phase::Embryonic(listener) => Some(i as u32),
                _ => None,
            })
            .collect();
        for idx in embryos {
            self.linger(idx, true);
        }
    }

    fn addrs(&self, id: ConnId) -> Option<(SocketAddr, SocketAddr)> {
        let c = self.conn(id).ok()?;
        Some((
            SocketAddr::new(c.key.local, c.key.lport),
            SocketAddr::new(c.key.remote, c.key.rport),
        ))
    }

    fn poll(&mut self, out: &mut Vec<NetEvent>, timeout: Option<Duration>) -> io::Result<()> {
        if !self.started {
            self.on_first_poll();
        }
        let mut now = self.now();
        let mut work = self.drain_bus(now);
        for _ in 0..self.rx_bursts {
            let mut frames = std::mem::take(&mut self.rx_frames);
            let n = self.io.rx_burst(&mut frames);
            for m in frames.drain(..) {
                self.handle_frame(m, now, None);
            }
            self.rx_frames = frames;
            if n == 0 {
                break;
            }
            work = true;
            now = self.now();
        }
        let had_dirty = !self.dirty.is_empty();
        self.fire_timers(now);
        self.egress(now);
        self.io.flush();
        let before = out.len();
        self.report(out);
        if now
            >= self.last_maintenance
                + SmolDuration::from_millis(MAINTENANCE_EVERY.as_millis() as u64)
        {
            self.last_maintenance = now;
            self.maintenance(now, out);
        }
        let idle = !work && !had_dirty && out.len() == before && self.io.tx_pending() == 0;
        if idle && !self.idle_sleep.is_zero() && timeout != Some(Duration::ZERO) {
            if !self.waker.woken.swap(false, Ordering::AcqRel) {
                let nap = timeout.map_or(self.idle_sleep, |t| t.min(self.idle_sleep));
                std::thread::park_timeout(nap);
            }
            self.waker.woken.store(false, Ordering::Release);
        }
        Ok(())
    }

    fn waker(&self) -> Arc<dyn Wake> {
        self.waker.clone()
    }
}

/// Workers receive their backend from the thread that built the runtime.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<DpdkBackend>();
};
