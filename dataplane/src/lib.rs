//! The MSRP dataplane: everything that touches MSRP bytes.
//!
//! Layering (bottom up): [`wire`] parses and writes frames without I/O or clocks; [`session`]
//! is the sans-IO RFC 4975 endpoint built on it. Relay, switch, workers and network backends
//! stack on these two and never the other way round.

pub mod digest;
pub mod net;
pub mod relay;
pub mod rings;
pub mod runtime;

pub mod session;
pub mod switch;
pub mod wire;
pub mod worker;
