//! [`DpdkRuntime`]: the process-wide part of the DPDK backend. It initialises the EAL (once),
//! configures the port with one queue pair per configured core, and hands out one
//! [`DpdkBackend`] per queue, each to be moved to (and polled only on) its worker thread.

use std::sync::Arc;

use super::backend::DpdkBackend;
use super::bus::CoreBus;
use super::config::DpdkConfig;
use super::eal::{DpdkError, Eal};
use super::port::{Port, PortInfo, PortSetup};

/// EAL + port + per-core backends.
pub struct DpdkRuntime {
    cfg: DpdkConfig,
    port: Arc<Port>,
    bus: Arc<CoreBus>,
    taken: Vec<bool>,
}

impl DpdkRuntime {
    /// Validates `cfg`, initialises the EAL with `cfg.eal_args` and starts `cfg.port` with one
    /// queue pair per core in `cfg.cores`.
    pub fn start(cfg: &DpdkConfig) -> Result<Self, DpdkError> {
        cfg.validate().map_err(DpdkError::Config)?;
        let eal = Arc::new(Eal::init(&cfg.eal_args)?);
        let id = Port::find(&cfg.port)?;
        let queues = u16::try_from(cfg.cores.len())
            .map_err(|_| DpdkError::Config("too many cores".into()))?;
        let port = Port::start(
            &eal,
            id,
            &PortSetup {
                queues,
                rx_desc: cfg.rx_desc,
                tx_desc: cfg.tx_desc,
                mbufs_per_queue: cfg.mbufs_per_queue,
                mbuf_cache: cfg.mbuf_cache,
                rx_checksum_offload: cfg.rx_checksum_offload,
            },
        )?;
        Ok(DpdkRuntime {
            cfg: cfg.clone(),
            bus: Arc::new(CoreBus::new(queues)),
            port,
            taken: vec![false; usize::from(queues)],
        })
    }

    /// The port as configured.
    pub fn port(&self) -> &PortInfo {
        self.port.info()
    }

    /// Driver counters: (ipackets, opackets, imissed, ierrors, oerrors).
    pub fn port_stats(&self) -> (u64, u64, u64, u64, u64) {
        self.port.stats()
    }

    /// The backend of queue pair `queue` (= the index of its core in `cores`); once each.
    pub fn backend(&mut self, queue: u16) -> Result<DpdkBackend, DpdkError> {
        match self.taken.get_mut(usize::from(queue)) {
            Some(t) if !*t => *t = true,
            Some(_) => return Err(DpdkError::Config(format!("queue {queue} already taken"))),
            None => return Err(DpdkError::Config(format!("no queue {queue}"))),
        }
        let io = self.port.queue_io(queue, self.cfg.burst);
        DpdkBackend::new(io, &self.cfg, queue, self.bus.clone())
    }

    /// All backends, in core order.
    pub fn backends(&mut self) -> Result<Vec<DpdkBackend>, DpdkError> {
        (0..self.taken.len() as u16)
            .map(|q| self.backend(q))
            .collect()
    }
}
