//! Why an offer is refused, with the SIP status and RFC 3261 §20.43 Warning code to send.

use thiserror::Error;

use crate::sdp::error::{AttributeError, SdpError};

/// Why the focus refuses an offer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RejectReason {
    /// The body is not a valid session description.
    #[error("malformed SDP: {0}")]
    Malformed(#[from] SdpError),
    /// No `m=message` line at all.
    #[error("no message media stream")]
    NoMessageStream,
    /// `m=message` with a proto other than TCP/MSRP or TCP/TLS/MSRP.
    #[error("unsupported proto {0}")]
    UnsupportedProto(String),
    /// Every MSRP stream was offered with port 0.
    #[error("all MSRP streams are disabled (port 0)")]
    StreamDisabled,
    /// The room forces TLS and the offer is TCP/MSRP.
    #[error("TLS required by room policy")]
    TlsRequired,
    /// The offer wants a transport we have no listener for.
    #[error("{0} not available")]
    TransportUnavailable(&'static str),
    /// The first path URI's scheme contradicts the proto (msrps with TCP/MSRP or the reverse).
    #[error("path URI scheme does not match the m= proto")]
    SchemeMismatch,
    /// No `a=accept-types`.
    #[error("missing a=accept-types")]
    MissingAcceptTypes,
    /// `a=accept-types` without Message/CPIM (RFC 7701 §5.2).
    #[error("Message/CPIM not in a=accept-types")]
    NoCpim,
    /// No `a=path`.
    #[error("missing a=path")]
    MissingPath,
    /// A path URI has no port (RFC 4975 §6: URIs in SDP carry one).
    #[error("a=path URI without port")]
    PathWithoutPort,
    /// An attribute we rely on is malformed.
    #[error(transparent)]
    InvalidAttribute(#[from] AttributeError),
    /// RFC 6714 §4.3: no `a=msrp-cema` and `c=`/`m=` differ from every path URI, so a non-CEMA
    /// middlebox rewrote the addresses without acting as MSRP B2BUA.
    #[error("c=/m= do not match a=path and the offer has no a=msrp-cema")]
    CemaAddressMismatch,
    /// The offer says `a=setup:passive` and policy refuses it.
    #[error("offer says a=setup:passive")]
    PassiveOffer,
    /// We would have to connect, but there is nothing we can connect to (no `c=` under CEMA, or a
    /// first hop whose transport is not TCP).
    #[error("no reachable connect target: {0}")]
    NoConnectTarget(&'static str),
}

impl RejectReason {
    /// SIP status for the INVITE/UPDATE: 400 for unparseable bodies, 488 otherwise.
    pub fn sip_status(&self) -> u16 {
        match self {
            RejectReason::Malformed(_) => 400,
            _ => 488,
        }
    }

    /// RFC 3261 §20.43 warning code for a `Warning:` header.
    pub fn warning_code(&self) -> u16 {
        match self {
            RejectReason::Malformed(_) => 399,
            RejectReason::NoMessageStream | RejectReason::StreamDisabled => 304,
            RejectReason::UnsupportedProto(_)
            | RejectReason::TlsRequired
            | RejectReason::TransportUnavailable(_)
            | RejectReason::SchemeMismatch => 302,
            RejectReason::MissingAcceptTypes | RejectReason::NoCpim => 305,
            RejectReason::InvalidAttribute(_) => 306,
            RejectReason::MissingPath
            | RejectReason::PathWithoutPort
            | RejectReason::CemaAddressMismatch
            | RejectReason::PassiveOffer
            | RejectReason::NoConnectTarget(_) => 399,
        }
    }
}

/// A refused offer: send `sip_status` (with a Warning carrying `warning_code` and the reason
/// text); the answerer's state is unchanged, so a refused re-offer keeps the old session.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{reason}")]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
}

impl Rejection {
    /// SIP status code.
    pub fn sip_status(&self) -> u16 {
        self.reason.sip_status()
    }

    /// RFC 3261 warning code.
    pub fn warning_code(&self) -> u16 {
        self.reason.warning_code()
    }
}

impl From<RejectReason> for Rejection {
    fn from(reason: RejectReason) -> Self {
        Rejection { reason }
    }
}
