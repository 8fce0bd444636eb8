//! Sans-IO RFC 4975 endpoint: transactions, chunking, reassembly, reports, timers.
//!
//! [`Connection`] is the endpoint of one transport connection carrying any number of
//! sessions. It is built from pieces that the relay, the chat switch and the tools reuse on
//! their own: [`Chunker`]/[`ChunkCursor`] (sending), [`Reassembler`] (receiving),
//! [`TransactionTable`] (outstanding requests and their timers), the frame builders in
//! [`builders`], [`AcceptTypes`] (415), the [`SessionDirectory`] trait (binding, 481/506) and
//! the client side of AUTH ([`AuthRequest`], [`AuthResponder`]).
//!
//! ```
//! use dataplane::session::{Config, Connection, OutgoingMessage, SessionConfig};
//! use dataplane::wire::OwnedMsrpUri;
//! use bytes::{Bytes, BytesMut};
//! use std::time::Instant;
//!
//! let uri = |s: &'static str| OwnedMsrpUri::parse(Bytes::from_static(s.as_bytes())).unwrap();
//! let mut seed = 1u64;
//! let mut conn = Connection::new(Config::default(), move || {
//!     seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
//!     seed
//! });
//! let s = conn
//!     .open_session(SessionConfig::new(
//!         uri("msrp://a.example:7001/alice1;tcp"),
//!         vec![uri("msrp://b.example:7002/bob1;tcp")],
//!     ))
//!     .unwrap();
//! conn.send_message(s, OutgoingMessage::new("text/plain", "hello")).unwrap();
//! let now = Instant::now();
//! let mut wire = BytesMut::new();
//! while let Some(t) = conn.poll_transmit(now) {
//!     t.write_to(&mut wire); // or write_vectored(&t.io_slices())
//! }
//! assert!(wire.starts_with(b"MSRP "));
//! ```

mod accept;
mod auth;
pub mod builders;
mod chunker;
mod config;
mod connection;
mod directory;
mod events;
mod ranges;
mod reassembly;
mod timers;
mod transactions;
mod transmit;

pub use accept::{AcceptTypes, AcceptTypesError};
pub use auth::{
    digest_response, parse_use_path, AuthRequest, AuthResponder, Challenge, PasswordDigest,
};
pub use chunker::{choose_tid, ChunkCursor, ChunkPlan, Chunker, INTERRUPTIBLE_ABOVE};
pub use config::{Config, SuccessReportMode};
pub use connection::{
    Connection, ConnectionError, ConnectionStats, OutgoingMessage, SendError, SessionError,
};
pub use directory::{
    Binding, NoDirectory, SessionConfig, SessionDirectory, SessionTable, TableDirectory,
};
pub use events::{AbortReason, Event, FailureSource, ReceivedMessage, SendFailure, SessionId};
pub use ranges::RangeSet;
pub use reassembly::{Progress, Reassembler, ReassemblyLimits, Refusal};
pub use timers::{RecentMap, TimedMap};
pub use transactions::{TransactionTable, DEFAULT_TRANSACTION_TIMEOUT};
pub use transmit::Transmit;

#[cfg(test)]
mod tests;
