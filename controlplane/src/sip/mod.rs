//! SIP: message parser, transports, transactions, registrar and outbound edge.

pub mod dialog;
pub mod flow;
pub mod location;
pub mod registrar;
pub mod transaction;
pub mod wire;
