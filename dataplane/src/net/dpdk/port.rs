//! An ethdev port configured with one RX/TX queue pair per dataplane core (RSS across them when
//! there are several), and [`QueueIo`], the burst-level I/O of one queue pair owned by one core.

use std::ffi::{CStr, CString};
use std::ptr::NonNull;
use std::sync::Arc;

use super::eal::{call_error, DpdkError, Eal};
use super::mbuf::{Mbuf, Mempool};
use super::sys;

/// How to bring a port up.
#[derive(Clone, Debug)]
pub struct PortSetup {
    /// RX/TX queue pairs (one per dataplane core).
    pub queues: u16,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// Mbufs per queue's pool.
    pub mbufs_per_queue: u32,
    /// Per-lcore mempool cache.
    pub mbuf_cache: u32,
    /// Use RX checksum offload when the port has it (the stack then skips verification).
    pub rx_checksum_offload: bool,
}

/// What the port can do and was configured with.
#[derive(Clone, Debug)]
pub struct PortInfo {
    /// ethdev port id.
    pub id: u16,
    /// Driver (PMD) name.
    pub driver: String,
    /// MAC address.
    pub mac: [u8; 6],
    /// IP MTU.
    pub mtu: u16,
    /// Queue pairs configured.
    pub queues: u16,
    /// Whether RSS spreads flows over the queues (false: one queue, or the driver's own
    /// distribution).
    pub rss: bool,
    /// Whether RX IPv4/TCP checksum offload is on.
    pub rx_checksum_offload: bool,
    /// Most RX queues the port supports.
    pub max_rx_queues: u16,
    /// Most TX queues the port supports.
    pub max_tx_queues: u16,
}

/// A started port; stopped and closed when the last user drops it.
pub struct Port {
    info: PortInfo,
    pools: Vec<Arc<Mempool>>,
    _eal: Arc<Eal>,
}

impl Port {
    /// Finds a port by ethdev name (`net_af_packet0`, `0000:01:00.0`) or decimal id.
    pub fn find(name: &str) -> Result<u16, DpdkError> {
        if let Ok(id) = name.parse::<u16>() {
            return Ok(id);
        }
        let c = CString::new(name).map_err(|_| DpdkError::BadArgument(name.into()))?;
        let mut id = 0u16;
        // SAFETY: valid C string and out pointer.
        let ret = unsafe { sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        if ret != 0 {
            return Err(DpdkError::NoSuchPort(name.into()));
        }
        Ok(id)
    }

    /// Configures port `id` with `setup.queues` queue pairs, a mempool per queue, RSS when
    /// there is more than one queue, and starts it.
    pub fn start(eal: &Arc<Eal>, id: u16, setup: &PortSetup) -> Result<Arc<Port>, DpdkError> {
        if setup.queues == 0 {
            return Err(DpdkError::Config("at least one queue pair".into()));
        }
        // SAFETY: zeroed is the documented initial state of these plain C structs.
        let mut dev: sys::rte_eth_dev_info = unsafe { std::mem::zeroed() };
        // SAFETY: valid out pointer.
        let ret = unsafe { sys::rte_eth_dev_info_get(id, &mut dev) };
        if ret != 0 {
            return Err(DpdkError::NoSuchPort(id.to_string()));
        }
        let driver = if dev.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: the driver name is a static C string.
            unsafe { CStr::from_ptr(dev.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        if setup.queues > dev.max_rx_queues || setup.queues > dev.max_tx_queues {
            return Err(DpdkError::Config(format!(
                "port {id} ({driver}) has at most {} rx / {} tx queues, {} wanted (one per core); \
                 for net_af_packet add qpairs=N to the --vdev",
                dev.max_rx_queues, dev.max_tx_queues, setup.queues
            )));
        }

        // SAFETY: as above.
        let mut conf: sys::rte_eth_conf = unsafe { std::mem::zeroed() };
        let mut rss = false;
        // SAFETY: the shim's constant getters have no preconditions.
        let (rss_hf, csum, fast_free, mq_rss) = unsafe {
            (
                sys::shim_rss_hf_ip_tcp(),
                sys::shim_rx_offload_checksum(),
                sys::shim_tx_offload_mbuf_fast_free(),
                sys::shim_mq_rx_rss(),
            )
        };
        if setup.queues > 1 {
            let hf = rss_hf & dev.flow_type_rss_offloads;
            if hf != 0 {
                conf.rxmode.mq_mode = mq_rss;
                conf.rx_adv_conf.rss_conf.rss_hf = hf;
                rss = true;
            }
            // Without RSS the driver spreads flows its own way (net_af_packet: a kernel
            // PACKET_FANOUT hash per flow); the cores exchange what lands on the wrong queue.
        }
        let rx_csum = setup.rx_checksum_offload && dev.rx_offload_capa & csum == csum;
        if rx_csum {
            conf.rxmode.offloads |= csum;
        }
        // Every transmitted mbuf is a fresh single-reference buffer from this queue's pool.
        if dev.tx_offload_capa & fast_free != 0 {
            conf.txmode.offloads |= fast_free;
        }
        // SAFETY: valid conf pointer; the port is stopped.
        let ret = unsafe { sys::rte_eth_dev_configure(id, setup.queues, setup.queues, &conf) };
        if ret != 0 {
            return Err(call_error("rte_eth_dev_configure", ret));
        }
        let mut rx_desc = setup.rx_desc;
        let mut tx_desc = setup.tx_desc;
        // SAFETY: valid out pointers.
        let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx_desc, &mut tx_desc) };
        if ret != 0 {
            return Err(call_error("rte_eth_dev_adjust_nb_rx_tx_desc", ret));
        }
        // SAFETY: plain query.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let mut pools = Vec::with_capacity(usize::from(setup.queues));
        for q in 0..setup.queues {
            let pool = Arc::new(Mempool::new(
                eal,
                &format!("msrp_p{id}_q{q}"),
                setup.mbufs_per_queue,
                setup.mbuf_cache,
                // RTE_MBUF_DEFAULT_BUF_SIZE: 2048 data + 128 headroom.
                2048 + 128,
                socket,
            )?);
            let sock = u32::try_from(socket).unwrap_or(u32::MAX);
            // SAFETY: the port is configured; NULL conf means the driver's defaults.
            let ret = unsafe {
                sys::rte_eth_rx_queue_setup(id, q, rx_desc, sock, std::ptr::null(), pool.as_ptr())
            };
            if ret != 0 {
                return Err(call_error("rte_eth_rx_queue_setup", ret));
            }
            let mut txconf = dev.default_txconf;
            txconf.offloads = conf.txmode.offloads;
            // SAFETY: as above.
            let ret = unsafe { sys::rte_eth_tx_queue_setup(id, q, tx_desc, sock, &txconf) };
            if ret != 0 {
                return Err(call_error("rte_eth_tx_queue_setup", ret));
            }
            pools.push(pool);
        }
        // SAFETY: the port is configured with all its queues.
        let ret = unsafe { sys::rte_eth_dev_start(id) };
        if ret != 0 {
            return Err(call_error("rte_eth_dev_start", ret));
        }
        // NDP uses multicast (solicited-node addresses): let it through the MAC filter.
        // SAFETY: plain port call; a port that cannot do it keeps its default filter.
        unsafe { sys::rte_eth_allmulticast_enable(id) };
        let mut mac = sys::rte_ether_addr::default();
        // SAFETY: valid out pointer.
        unsafe { sys::rte_eth_macaddr_get(id, &mut mac) };
        let mut mtu = 1500u16;
        // SAFETY: valid out pointer.
        if unsafe { sys::rte_eth_dev_get_mtu(id, &mut mtu) } != 0 {
            mtu = 1500;
        }
        Ok(Arc::new(Port {
            info: PortInfo {
                id,
                driver,
                mac: mac.addr_bytes,
                mtu,
                queues: setup.queues,
                rss,
                rx_checksum_offload: rx_csum,
                max_rx_queues: dev.max_rx_queues,
                max_tx_queues: dev.max_tx_queues,
            },
            pools,
            _eal: eal.clone(),
        }))
    }

    /// What the port is.
    pub fn info(&self) -> &PortInfo {
        &self.info
    }

    /// Packets and errors counted by the driver: (ipackets, opackets, imissed, ierrors, oerrors).
    pub fn stats(&self) -> (u64, u64, u64, u64, u64) {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid out pointer.
        unsafe { sys::rte_eth_stats_get(self.info.id, &mut s) };
        (s.ipackets, s.opackets, s.imissed, s.ierrors, s.oerrors)
    }

    /// The I/O handle of queue pair `queue`; each queue must have one owner at a time.
    pub(crate) fn queue_io(self: &Arc<Self>, queue: u16, burst: u16) -> QueueIo {
        let burst = usize::from(burst.clamp(1, 512));
        QueueIo {
            pool: self.pools[usize::from(queue)].clone(),
            port: self.clone(),
            queue,
            burst,
            rx: vec![std::ptr::null_mut(); burst],
            tx: Vec::with_capacity(burst * 4),
            tx_cap: burst * 4,
            stats: QueueStats::default(),
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: the last user is gone; no queue is polled any more.
        unsafe {
            sys::rte_eth_dev_stop(self.info.id);
            sys::rte_eth_dev_close(self.info.id);
        }
    }
}

/// Per-queue packet counters kept by [`QueueIo`].
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueStats {
    /// Frames received.
    pub rx: u64,
    /// Frames handed to the driver.
    pub tx: u64,
    /// Frames the stack produced that could not be sent (no mbuf, too long).
    pub tx_dropped: u64,
    /// Multi-segment frames that had to be linearised.
    pub rx_linearised: u64,
}

/// Burst I/O on one queue pair: received frames come out as owned [`Mbuf`]s; frames to send
/// are buffered and handed to the driver a burst at a time.
pub struct QueueIo {
    pub(crate) pool: Arc<Mempool>,
    port: Arc<Port>,
    queue: u16,
    burst: usize,
    rx: Vec<*mut sys::rte_mbuf>,
    tx: Vec<*mut sys::rte_mbuf>,
    tx_cap: usize,
    pub(crate) stats: QueueStats,
}

// SAFETY: a queue pair is owned by exactly one QueueIo, which moves with its worker thread.
unsafe impl Send for QueueIo {}

impl QueueIo {
    /// The port this queue belongs to.
    pub fn port(&self) -> &Arc<Port> {
        &self.port
    }

    /// This queue's index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives one burst into `out`; returns how many frames arrived.
    #[inline]
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf>) -> usize {
        // SAFETY: `rx` has room for `burst` pointers; the driver fills the first n.
        let n = unsafe {
            sys::shim_rx_burst(
                self.port.info.id,
                self.queue,
                self.rx.as_mut_ptr(),
                self.burst as u16,
            )
        };
        let n = usize::from(n);
        for &p in &self.rx[..n] {
            if let Some(p) = NonNull::new(p) {
                // SAFETY: the driver handed us ownership of these mbufs.
                out.push(unsafe { Mbuf::from_raw(p) });
            }
        }
        self.stats.rx += n as u64;
        n
    }

    /// Whether another frame can be queued for transmission.
    #[inline]
    pub fn tx_room(&self) -> bool {
        self.tx.len() < self.tx_cap
    }

    /// Queues a frame; sends a burst when enough are queued.
    #[inline]
    pub fn push_tx(&mut self, m: Mbuf) {
        if self.tx.len() >= self.tx_cap {
            self.flush();
            if self.tx.len() >= self.tx_cap {
                self.stats.tx_dropped += 1;
                return; // dropping `m` frees it; TCP retransmits.
            }
        }
        self.tx.push(m.into_raw().as_ptr());
        if self.tx.len() >= self.burst {
            self.flush();
        }
    }

    /// Hands queued frames to the driver; what it does not take stays queued.
    #[inline]
    pub fn flush(&mut self) {
        let mut sent = 0usize;
        // A few tries: a full ring drains as the NIC (or the kernel, for af_packet) catches up.
        for _ in 0..4 {
            if sent == self.tx.len() {
                break;
            }
            let chunk = (self.tx.len() - sent).min(usize::from(u16::MAX));
            // SAFETY: the pointers in tx[sent..] are owned mbufs; the driver takes the first n.
            let n = unsafe {
                sys::shim_tx_burst(
                    self.port.info.id,
                    self.queue,
                    self.tx.as_mut_ptr().add(sent),
                    chunk as u16,
                )
            };
            if n == 0 {
                break;
            }
            sent += usize::from(n);
        }
        self.stats.tx += sent as u64;
        self.tx.drain(..sent);
    }

    /// Frames waiting in the software tx queue.
    pub fn tx_pending(&self) -> usize {
        self.tx.len()
    }
}

impl Drop for QueueIo {
    fn drop(&mut self) {
        self.flush();
        if !self.tx.is_empty() {
            // SAFETY: these mbufs are still ours.
            unsafe { sys::shim_pktmbuf_free_bulk(self.tx.as_mut_ptr(), self.tx.len() as u32) };
            self.tx.clear();
        }
    }
}
