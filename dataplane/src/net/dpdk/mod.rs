//! The DPDK backend (feature `dpdk`): kernel bypass with a userspace TCP/IP stack per core.
//!
//! - [`eal`], [`mbuf`], [`port`]: safe wrappers over the system libdpdk (bindgen bindings plus a
//!   C shim for the `static inline` fast path, see `build.rs` and `csrc/`).
//! - [`device`]: smoltcp's `phy::Device` over one queue pair.
//! - [`backend`]: [`DpdkBackend`], the [`Backend`](crate::net::Backend) of one core: many
//!   small smoltcp interfaces behind a 4-tuple demultiplexer ([`classify`]).
//! - [`runtime`]: [`DpdkRuntime`], one EAL and one port per process, one backend per core.
//! - [`config`]: [`DpdkConfig`], the configuration section.

pub mod backend;
mod bus;
pub mod classify;
pub mod config;
pub mod device;
pub mod eal;
pub mod mbuf;
pub mod port;
pub mod runtime;
mod sys;

pub use backend::{BackendStats, DpdkBackend};
pub use config::{DpdkConfig, Ipv4Cidr, Ipv6Cidr, TcpConfig};
pub use eal::{DpdkError, Eal};
pub use runtime::DpdkRuntime;
