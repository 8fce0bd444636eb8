//! The `[dpdk]` configuration section: EAL arguments, the port, the cores (one queue pair
//! each), static addresses, pool and TCP sizes. Every limit of the backend is here.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// Everything the DPDK backend needs. `Default` is a single-core setup for the veth test
/// topology (see `scripts/setup-dpdk.sh`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpdkConfig {
    /// EAL arguments, e.g. `["-l", "0", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
    /// "--vdev=net_af_packet0,iface=vd0"]`.
    pub eal_args: Vec<String>,
    /// The ethdev port: a name (`net_af_packet0`, a PCI address) or a decimal port id.
    pub port: String,
    /// CPU cores of the dataplane workers; one RX/TX queue pair each (RSS spreads flows).
    pub cores: Vec<usize>,
    /// Pin each worker thread to its core (`core_affinity`) on its first poll.
    pub pin_cores: bool,
    /// Static IPv4 address and prefix length of the port.
    pub ipv4: Option<Ipv4Cidr>,
    /// IPv4 default gateway.
    pub ipv4_gateway: Option<Ipv4Addr>,
    /// Static IPv6 address and prefix length of the port.
    pub ipv6: Option<Ipv6Cidr>,
    /// IPv6 default gateway.
    pub ipv6_gateway: Option<Ipv6Addr>,
    /// IP MTU; `None` takes the port's.
    pub mtu: Option<u16>,
    /// Mbufs in each queue's pool (af_xdp needs several thousand).
    pub mbufs_per_queue: u32,
    /// Per-lcore mempool cache.
    pub mbuf_cache: u32,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// Frames per rx/tx burst.
    pub burst: u16,
    /// Most rx bursts handled per poll pass (bounds the work between event deliveries).
    pub rx_bursts_per_poll: u16,
    /// Use RX checksum offload when the port has it.
    pub rx_checksum_offload: bool,
    /// When a poll pass found nothing to do: 0 busy-polls (dedicated cores); otherwise park
    /// the thread up to this many microseconds (shared cores, tests).
    pub idle_sleep_us: u64,
    /// The userspace TCP stack.
    pub tcp: TcpConfig,
}

/// Sizes and timers of the smoltcp TCP stack, per core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TcpConfig {
    /// Receive buffer per connection, bytes (the advertised window; above 64 KiB needs window
    /// scaling, which smoltcp negotiates). smoltcp allocates both buffers when the connection
    /// opens: 20 000 connections with 16 KiB each way take 640 MiB.
    pub rx_buffer: usize,
    /// Send buffer per connection, bytes (what `send` can queue before `WouldBlock`).
    pub tx_buffer: usize,
    /// Sockets per smoltcp `Interface`: smoltcp walks a whole socket set per packet, so a
    /// core's connections are spread over many small interfaces behind a 4-tuple demux.
    pub sockets_per_interface: usize,
    /// Most connections (accepted, connecting, closing) per core.
    pub max_connections: usize,
    /// Listening sockets kept armed per listener (re-armed as connections arrive).
    pub listen_backlog: usize,
    /// Delayed-ACK timeout, ms (0: ACK at once).
    pub ack_delay_ms: u64,
    /// Nagle's algorithm (off: the engine already batches what it writes).
    pub nagle: bool,
    /// Abort a connection whose sent data stays unacknowledged this long, ms (0: never).
    pub user_timeout_ms: u64,
    /// TCP keep-alive interval, ms (0: off).
    pub keepalive_ms: u64,
    /// How long a closed connection may linger (FIN handshake, TIME-WAIT) before it is
    /// aborted and its socket freed, ms.
    pub linger_ms: u64,
    /// First port of the ephemeral range used by `connect`.
    pub ephemeral_first: u16,
}

/// An IPv4 address with a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv4Cidr {
    /// Address.
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub prefix: u8,
}

/// An IPv6 address with a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Cidr {
    /// Address.
    pub addr: Ipv6Addr,
    /// Prefix length.
    pub prefix: u8,
}

impl Default for DpdkConfig {
    fn default() -> Self {
        DpdkConfig {
            eal_args: vec![
                "-l".into(),
                "0".into(),
                "--no-huge".into(),
                "-m".into(),
                "256".into(),
                "--no-pci".into(),
                "--no-shconf".into(),
                "--vdev=net_af_packet0,iface=vd0".into(),
            ],
            port: "net_af_packet0".into(),
            cores: vec![0],
            pin_cores: true,
            ipv4: Some(Ipv4Cidr {
                addr: Ipv4Addr::new(198, 18, 0, 2),
                prefix: 24,
            }),
            ipv4_gateway: None,
            ipv6: None,
            ipv6_gateway: None,
            mtu: None,
            mbufs_per_queue: 8191,
            mbuf_cache: 256,
            rx_desc: 1024,
            tx_desc: 1024,
            burst: 32,
            rx_bursts_per_poll: 8,
            rx_checksum_offload: true,
            idle_sleep_us: 0,
            tcp: TcpConfig::default(),
        }
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            rx_buffer: 16 * 1024,
            tx_buffer: 16 * 1024,
            sockets_per_interface: 16,
            max_connections: 20_000,
            listen_backlog: 4,
            ack_delay_ms: 10,
            nagle: false,
            user_timeout_ms: 60_000,
            keepalive_ms: 0,
            linger_ms: 15_000,
            ephemeral_first: 49152,
        }
    }
}

impl DpdkConfig {
    /// Checks the limits that would otherwise fail deep inside DPDK or smoltcp.
    pub fn validate(&self) -> Result<(), String> {
        if self.cores.is_empty() {
            return Err("dpdk.cores: at least one core".into());
        }
        if self.cores.len() > usize::from(u16::MAX) {
            return Err("dpdk.cores: too many".into());
        }
        if self.ipv4.is_none() && self.ipv6.is_none() {
            return Err("dpdk: set ipv4 and/or ipv6".into());
        }
        if matches!(self.ipv4, Some(c) if c.prefix > 32 || c.addr.is_unspecified()) {
            return Err("dpdk.ipv4: bad address or prefix".into());
        }
        if matches!(self.ipv6, Some(c) if c.prefix > 128 || c.addr.is_unspecified()) {
            return Err("dpdk.ipv6: bad address or prefix".into());
        }
        if self.burst == 0 || self.burst > 512 || self.rx_bursts_per_poll == 0 {
            return Err("dpdk.burst must be 1..=512 and rx_bursts_per_poll >= 1".into());
        }
        if self.mbufs_per_queue < 2 * u32::from(self.rx_desc) + 4 * u32::from(self.burst) {
            return Err("dpdk.mbufs_per_queue must cover the rx ring and the tx bursts".into());
        }
        let t = &self.tcp;
        if t.rx_buffer < 1024 || t.tx_buffer < 1024 {
            return Err("dpdk.tcp buffers must be at least 1024 bytes".into());
        }
        if t.rx_buffer > (1 << 30) || t.tx_buffer > (1 << 30) {
            return Err("dpdk.tcp buffers must be at most 1 GiB".into());
        }
        if t.sockets_per_interface == 0 || t.max_connections == 0 || t.listen_backlog == 0 {
            return Err(
                "dpdk.tcp: sockets_per_interface, max_connections, listen_backlog >= 1".into(),
            );
        }
        if t.ephemeral_first < 1024 {
            return Err("dpdk.tcp.ephemeral_first must be >= 1024".into());
        }
        Ok(())
    }
}
