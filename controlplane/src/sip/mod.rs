//! SIP: message parser, transports, transactions, registrar and outbound edge.

pub mod wire;
