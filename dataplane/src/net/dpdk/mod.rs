//! DPDK backend (feature `dpdk`): kernel bypass with a userspace TCP/IP stack per core.
//! Placeholder while the modules are assembled.
pub mod eal;
pub mod mbuf;
pub mod port;
mod sys;
