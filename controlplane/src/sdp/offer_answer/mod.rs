//! SDP offer/answer for a chat room focus (RFC 3264, RFC 4975 §8, RFC 6135, RFC 6714, RFC 7701).
//!
//! [`ChatAnswerer`] is the focus side: it checks an offer against the room policy, decides the
//! connection role and CEMA, and builds the answer plus a [`NegotiatedSession`] the focus acts on
//! (where to connect, which To-Path to bind, what the participant can receive). [`ChatOfferer`]
//! is the matching client side used by test clients.

mod answerer;
mod offerer;
mod policy;
mod reject;
#[cfg(test)]
mod tests;

pub use answerer::{Answer, ChatAnswerer, SessionChanges};
pub use offerer::{
    AnswerError, ChatOfferer, EstablishedSession, FallbackReason, OfferConfig, OfferResult,
};
pub use policy::{ActPassAnswer, AnswerPolicy, LocalMsrp, PassiveOfferHandling};
pub use reject::{RejectReason, Rejection};

use super::format_list::FormatList;
use super::msrp_media::{ChatroomCaps, Direction, Fingerprint, MsrpProto};
use super::msrp_uri::{Host, MsrpUri};

/// Where the active side opens its MSRP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTarget {
    /// Address to connect to: the peer's `c=` host under CEMA, else the first `a=path` URI's.
    pub host: Host,
    /// Port: the peer's `m=` port under CEMA, else the first URI's port.
    pub port: u16,
    /// Whether to run TLS on the connection.
    pub tls: bool,
    /// The first path URI's host, the name a TLS certificate is checked against (RFC 4975
    /// §14.2); under CEMA TLS stays end to end, so this differs from `host`.
    pub tls_name: Host,
    /// Whether the target came from `c=`/`m=` (RFC 6714) rather than from `a=path`.
    pub via_cema: bool,
}

/// Who opens the MSRP connection for this session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionRole {
    /// We wait for the peer; the session binds when its first request's To-Path names our URI.
    Passive,
    /// We connect, then send a SEND at once (RFC 6135 §4.2.2) with To-Path = the peer's path.
    Active(ConnectTarget),
}

impl ConnectionRole {
    /// Whether we are the active side.
    pub fn is_active(&self) -> bool {
        matches!(self, ConnectionRole::Active(_))
    }
}

/// What the focus (answerer) needs to run one participant's MSRP session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedSession {
    /// Index of the accepted `m=` line in offer and answer.
    pub media_index: usize,
    /// `TCP/MSRP` or `TCP/TLS/MSRP`.
    pub proto: MsrpProto,
    /// Our session URI (our `a=path`): the From-Path we send and the To-Path the peer uses.
    pub local_uri: MsrpUri,
    /// The peer's `a=path`, first hop first: the To-Path of every request we send.
    pub peer_path: Vec<MsrpUri>,
    /// The peer's `a=accept-types`.
    pub peer_accept_types: FormatList,
    /// The peer's `a=accept-wrapped-types` (what may travel inside message/cpim to it).
    pub peer_accept_wrapped_types: Option<FormatList>,
    /// The peer's `a=max-size`.
    pub peer_max_size: Option<u64>,
    /// The peer's `a=chatroom`; `None` means the peer is not chat-room aware (RFC 7701 §8).
    pub peer_chatroom: Option<ChatroomCaps>,
    /// The chat-room tokens we announced (support ∩ policy).
    pub announced_chatroom: ChatroomCaps,
    /// Connection role and, when active, the target.
    pub role: ConnectionRole,
    /// Whether CEMA (RFC 6714) is in effect.
    pub cema: bool,
    /// The peer's certificate fingerprints (RFC 8122), to check a self-signed TLS peer.
    pub peer_fingerprints: Vec<Fingerprint>,
    /// The direction we answered (RFC 3264 §6.1); affects only regular-content SENDs (RFC 4975
    /// §8.9).
    pub direction: Direction,
}

impl NegotiatedSession {
    /// Whether the peer declared `a=chatroom` at all.
    pub fn chat_aware(&self) -> bool {
        self.peer_chatroom.is_some()
    }

    /// Whether private messages may be delivered to this participant: it declared the
    /// `private-messages` token and the room allows them (RFC 7701 §6.2, §8).
    pub fn private_messages(&self) -> bool {
        self.announced_chatroom.private_messages
            && self
                .peer_chatroom
                .as_ref()
                .is_some_and(|c| c.private_messages)
    }

    /// Whether the participant declared nickname support and the room allows nicknames.
    pub fn nicknames(&self) -> bool {
        self.announced_chatroom.nicknames
            && self.peer_chatroom.as_ref().is_some_and(|c| c.nicknames)
    }

    /// The To-Path of every request we send on this session (the peer's path).
    pub fn to_path(&self) -> &[MsrpUri] {
        &self.peer_path
    }

    /// Whether the whole connection to the peer is over TLS.
    pub fn tls(&self) -> bool {
        self.proto.is_tls()
    }
}
