//! Configuration of the answerer: the room's SDP policy and our local MSRP endpoint.

use crate::sdp::format_list::FormatList;
use crate::sdp::msrp_media::{ChatroomCaps, Fingerprint, MsrpProto};
use crate::sdp::msrp_uri::{Host, MsrpScheme, MsrpUri};

/// How to answer an offer that says `a=setup:actpass` (RFC 6135 §4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActPassAnswer {
    /// Answer `passive` and let the participant connect (RFC 6135: SHOULD, when not behind NAT).
    #[default]
    Passive,
    /// Answer `active` and connect to the participant.
    Active,
}

/// What to do with an offer that says `a=setup:passive`, which RFC 6135 §4.2.2 forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassiveOfferHandling {
    /// Follow RFC 4145's model: the offerer waits, so we become active.
    #[default]
    BecomeActive,
    /// Refuse the offer with 488.
    Reject,
}

/// The room policy as far as SDP is concerned (RFC 7701 §4.1 knobs and local choices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerPolicy {
    /// Refuse `TCP/MSRP` offers ("force TLS").
    pub require_tls: bool,
    /// `a=accept-wrapped-types` to announce ("supported wrapped media types"); `None` omits it.
    pub accept_wrapped_types: Option<FormatList>,
    /// The chat-room tokens the room allows; announced as this ∩ what the switch supports.
    pub chatroom: ChatroomCaps,
    /// `a=max-size` to announce.
    pub max_size: Option<u64>,
    /// Whether to take part in CEMA (RFC 6714).
    pub cema: bool,
    /// Role to take when the offer says `actpass`.
    pub actpass: ActPassAnswer,
    /// Handling of a (non-compliant) `passive` offer.
    pub passive_offer: PassiveOfferHandling,
    /// Accept an offer whose accept-types only covers message/cpim through `*` or `message/*`.
    /// RFC 7701 §5.2 asks for `Message/CPIM` by name, so this is off by default.
    pub cpim_via_wildcard: bool,
    /// How to treat the RFC 6714 §4.3 address check when a name could not be resolved:
    /// `true` takes it as matching (do not refuse what cannot be shown to be rewritten).
    pub unresolved_address_matches: bool,
    /// The `o=` user name.
    pub origin_username: String,
}

impl Default for AnswerPolicy {
    fn default() -> Self {
        Self {
            require_tls: false,
            accept_wrapped_types: None,
            chatroom: ChatroomCaps {
                nicknames: true,
                private_messages: true,
                extensions: Vec::new(),
            },
            max_size: None,
            cema: true,
            actpass: ActPassAnswer::Passive,
            passive_offer: PassiveOfferHandling::BecomeActive,
            cpim_via_wildcard: false,
            unresolved_address_matches: true,
            origin_username: "-".into(),
        }
    }
}

/// Our MSRP endpoint for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMsrp {
    /// Address used in `c=`, `o=` and the authority of our URI.
    pub host: Host,
    /// Port of the plain-TCP listener (`msrp://`), if any.
    pub tcp_port: Option<u16>,
    /// Port of the TLS listener (`msrps://`), if any.
    pub tls_port: Option<u16>,
    /// Our session-id: unique and hard to guess (>= 64 random bits, RFC 4975 §14.1).
    pub session_id: String,
    /// Our certificate fingerprint to announce with TLS (self-signed certificates).
    pub fingerprint: Option<Fingerprint>,
}

impl LocalMsrp {
    /// The listening port for a proto, if we have one.
    pub fn port_for(&self, proto: MsrpProto) -> Option<u16> {
        match proto {
            MsrpProto::Tcp => self.tcp_port,
            MsrpProto::Tls => self.tls_port,
        }
    }

    /// Our session URI for a proto.
    pub fn uri(&self, proto: MsrpProto) -> Option<MsrpUri> {
        Some(MsrpUri {
            scheme: if proto.is_tls() {
                MsrpScheme::Msrps
            } else {
                MsrpScheme::Msrp
            },
            userinfo: None,
            host: self.host.clone(),
            port: Some(self.port_for(proto)?),
            session_id: Some(self.session_id.clone()),
            transport: "tcp".into(),
            params: Vec::new(),
        })
    }
}
