//! SIP: message parser, transports, transactions, registrar and outbound edge.
//!
//! Layering (bottom up): [`wire`] (parser/writer, no I/O), [`transaction`] and [`dialog`]
//! (sans-IO state machines), [`flow`] (flows and flow tokens), [`location`] and [`registrar`]
//! (bindings and RFC 3261/3327/5626 rules), [`core`] (registrar + edge + proxy glue, socket-
//! free), [`transport`] and [`server`] (tokio). [`app`] is the hook for the chat-room focus.

pub mod app;
pub mod core;
pub mod counters;
pub mod dialog;
pub mod flow;
pub mod location;
pub mod registrar;
pub mod server;
pub mod stun;
pub mod transaction;
pub mod transport;
pub mod wire;

pub use app::{IncomingRequest, SipApp, SipHandle};
pub use flow::{FlowKey, TransportKind};
pub use location::{Binding, LocationService, MemoryLocation};
pub use server::{load_users, SipConfig, SipServer};
