//! The control plane: SIP signalling, SDP negotiation, rooms and nicknames, management.
//!
//! It runs on tokio and drives the dataplane over lock-free rings; it never touches MSRP bytes
//! on the hot path.

pub mod backend;
pub mod chat;
pub mod cli;
pub mod conference;
pub mod config;
pub mod daemon;
pub mod focus;
pub mod logging;
pub mod mgmt;
pub mod nickname;
pub mod sdp;
pub mod sip;
