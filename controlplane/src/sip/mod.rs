//! SIP: message parser, transports, transactions, registrar and outbound edge.

pub mod dialog;
pub mod transaction;
pub mod wire;
