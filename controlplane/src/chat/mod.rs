//! `msrp-chat`: a terminal client that joins an RFC 7701 chat room like any participant.
//!
//! It sends a SIP INVITE with an SDP offer for an MSRP message stream (`message/cpim`,
//! `a=chatroom`), opens or accepts the MSRP connection as the answer says (RFC 6135), asks for
//! a nickname (RFC 7701 §7), subscribes to the room's conference event package (RFC 4575)
//! for the roster, and then relays between typed lines and Message/CPIM messages. See
//! `README.md` in this directory for usage.
//!
//! Layout: [`options`] (command line), [`client`] (the session and its event loop),
//! [`sip_ua`] (SIP requests and digest), [`msrp_link`] (the MSRP connection over the session
//! engine), [`people`] (roster), [`cpim`] (message bodies), [`command`] (typed lines),
//! [`display`] (output), [`transport`] (sockets and reader tasks), [`error`].

pub mod client;
pub mod command;
pub mod cpim;
pub mod display;
pub mod error;
pub mod msrp_link;
pub mod options;
pub mod people;
pub mod sip_ua;
pub mod terminal;
pub mod transport;

pub use client::run;
pub use error::ChatError;
pub use options::{ChatOptions, OnOff, SipTransportKind};
pub use terminal::run_on_terminal;

#[cfg(test)]
mod tests;
