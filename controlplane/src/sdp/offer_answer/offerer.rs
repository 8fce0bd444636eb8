//! The participant side (test and chat clients): build an offer, read the room's answer, apply
//! the RFC 6714 §4.2 fallback rules and RFC 6135 roles.

use thiserror::Error;

use super::{ConnectTarget, ConnectionRole};
use crate::sdp::address::{matches_any, AddressMatch, Resolver};
use crate::sdp::error::{AttributeError, SdpError};
use crate::sdp::format_list::FormatList;
use crate::sdp::model::{
    Attribute, Connection, MediaDescription, MediaLine, Origin, SessionDescription,
};
use crate::sdp::msrp_media::{ChatroomCaps, Fingerprint, MsrpProto, SetupRole};
use crate::sdp::msrp_uri::{Host, MsrpUri};

use super::policy::LocalMsrp;

/// What the client offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferConfig {
    /// Our endpoint (the port for the chosen proto must be set).
    pub local: LocalMsrp,
    /// TCP/MSRP or TCP/TLS/MSRP.
    pub proto: MsrpProto,
    /// `actpass` when reachable, else `active` (RFC 6135 §4.2.2). Never `passive`.
    pub setup: SetupRole,
    /// Offer CEMA (RFC 6714).
    pub cema: bool,
    /// Our accept-types (must name message/cpim to join a room).
    pub accept_types: FormatList,
    /// Our accept-wrapped-types.
    pub accept_wrapped_types: Option<FormatList>,
    /// Our `a=chatroom` (`None` = a chat-unaware client).
    pub chatroom: Option<ChatroomCaps>,
    /// Our `a=max-size`.
    pub max_size: Option<u64>,
    /// Relay URIs in front of us, first hop first (RFC 4976); empty without relays.
    pub relays: Vec<MsrpUri>,
}

/// Why the client must send a new offer without `a=msrp-cema` (RFC 6714 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    /// c=/m= differ from the answer's path and we would be passive (criterion 1).
    MismatchWhilePassive,
    /// We use a relay, c=/m= differ, and we would be active (criterion 2).
    MismatchWithOurRelay,
    /// The answerer uses a relay, c=/m= differ, and we would be active (criterion 3).
    MismatchWithTheirRelay,
}

/// What a client does after reading the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferResult {
    /// The session is set up.
    Established(Box<EstablishedSession>),
    /// Send a new offer without CEMA ([`ChatOfferer::disable_cema`] then [`ChatOfferer::offer`]).
    Reoffer(FallbackReason),
    /// The answer refused the stream (port 0).
    Rejected,
}

/// The client's view of an established session with a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EstablishedSession {
    /// Our role; when active, connect and send a SEND at once.
    pub role: ConnectionRole,
    /// The room's `a=path`.
    pub peer_path: Vec<MsrpUri>,
    /// The To-Path of our requests: our relays, then the room's path.
    pub to_path: Vec<MsrpUri>,
    /// Our own URI (From-Path).
    pub local_uri: MsrpUri,
    /// Whether TLS is used.
    pub tls: bool,
    /// Whether CEMA is in effect.
    pub cema: bool,
    /// The room's declared chat features (`None`: not a chat room per RFC 7701 §8).
    pub room_chatroom: Option<ChatroomCaps>,
    /// The room's accept-types.
    pub room_accept_types: Option<FormatList>,
    /// The room's accept-wrapped-types (what may be wrapped in message/cpim).
    pub room_accept_wrapped_types: Option<FormatList>,
    /// The room's max-size.
    pub room_max_size: Option<u64>,
    /// The room's certificate fingerprints.
    pub room_fingerprints: Vec<Fingerprint>,
}

/// Why an answer is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AnswerError {
    /// The answer did not parse.
    #[error("malformed answer: {0}")]
    Malformed(#[from] SdpError),
    /// The answer has no media line for our offer.
    #[error("answer has no media line for the offer")]
    NoMedia,
    /// The answer changed the proto.
    #[error("answer proto differs from the offer")]
    ProtoMismatch,
    /// No `a=path`.
    #[error("answer has no a=path")]
    MissingPath,
    /// A path URI without port.
    #[error("answer a=path URI without port")]
    PathWithoutPort,
    /// A malformed attribute.
    #[error(transparent)]
    InvalidAttribute(#[from] AttributeError),
    /// The answer's `a=setup` is impossible (`actpass`, or `active` against our `active`).
    #[error("impossible a=setup in answer")]
    InvalidSetup,
    /// We must connect but have nowhere to go.
    #[error("no connect target in answer")]
    NoConnectTarget,
}

/// The client's offer/answer state.
#[derive(Debug, Clone)]
pub struct ChatOfferer {
    config: OfferConfig,
    cema: bool,
    origin: Origin,
    last_body: Option<String>,
}

impl ChatOfferer {
    /// A new offerer; `session_id` seeds `o=`.
    pub fn new(config: OfferConfig, session_id: u64) -> Self {
        let origin = Origin {
            username: "-".into(),
            session_id: session_id.to_string(),
            session_version: session_id.to_string(),
            net_type: "IN".into(),
            addr_type: config.local.host.sdp_addr_type().into(),
            address: config.local.host.to_sdp_string(),
        };
        Self {
            cema: config.cema,
            config,
            origin,
            last_body: None,
        }
    }

    /// Stops offering CEMA (after [`OfferResult::Reoffer`]).
    pub fn disable_cema(&mut self) {
        self.cema = false;
    }

    /// Our own URI.
    pub fn local_uri(&self) -> Option<MsrpUri> {
        self.config.local.uri(self.config.proto)
    }

    /// Builds the (re-)offer; an unchanged offer keeps its `o=` version.
    pub fn offer(&mut self) -> SessionDescription {
        let c = &self.config;
        let own = c.local.uri(c.proto);
        let own_port = own.as_ref().and_then(|u| u.port).unwrap_or(9);
        // RFC 6714 §4.2 rule 3: behind a relay, c=/m= carry the relay's address and setup is
        // actpass.
        let relay = c.relays.first().filter(|_| self.cema);
        let (c_host, m_port, setup) = match relay {
            Some(r) => (
                r.host.clone(),
                r.port.unwrap_or(own_port),
                SetupRole::ActPass,
            ),
            None => (c.local.host.clone(), own_port, c.setup),
        };
        let mut sdp = SessionDescription::new(self.origin.clone());
        sdp.connection = Some(Connection {
            net_type: "IN".into(),
            addr_type: c_host.sdp_addr_type().into(),
            address: c_host.to_sdp_string(),
        });
        let mut m = MediaDescription::new(MediaLine {
            media: "message".into(),
            port: m_port,
            port_count: None,
            proto: c.proto.as_str().into(),
            formats: vec!["*".into()],
        });
        let a = &mut m.attributes;
        a.push(Attribute::value("accept-types", c.accept_types.to_string()));
        if let Some(w) = &c.accept_wrapped_types {
            a.push(Attribute::value("accept-wrapped-types", w.to_string()));
        }
        if let Some(n) = c.max_size {
            a.push(Attribute::value("max-size", n.to_string()));
        }
        let path: Vec<String> = c
            .relays
            .iter()
            .chain(own.iter())
            .map(ToString::to_string)
            .collect();
        a.push(Attribute::value("path", path.join(" ")));
        a.push(setup.to_attribute());
        if self.cema {
            a.push(Attribute::property("msrp-cema"));
        }
        if let Some(ch) = &c.chatroom {
            a.push(ch.to_attribute());
        }
        if c.proto.is_tls() {
            if let Some(fp) = &c.local.fingerprint {
                a.push(fp.to_attribute());
            }
        }
        sdp.media.push(m);
        let body = sdp.body_without_origin();
        if self.last_body.as_deref() != Some(body.as_str()) {
            if self.last_body.is_some() {
                self.origin = self.origin.bumped();
            }
            self.last_body = Some(body);
        }
        sdp.origin = self.origin.clone();
        sdp
    }

    /// Reads the answer to the last offer.
    pub fn process_answer(
        &self,
        answer: &SessionDescription,
        resolver: &dyn Resolver,
    ) -> Result<OfferResult, AnswerError> {
        let view = answer.msrp_media(0).ok_or(AnswerError::NoMedia)?;
        if view.port() == 0 {
            return Ok(OfferResult::Rejected);
        }
        if view.proto() != Some(self.config.proto) {
            return Err(AnswerError::ProtoMismatch);
        }
        let path = view.path()?.ok_or(AnswerError::MissingPath)?;
        if path.iter().any(|u| u.port.is_none()) {
            return Err(AnswerError::PathWithoutPort);
        }
        let we_active = match (view.setup()?, self.offered_setup()) {
            (None | Some(SetupRole::Passive), _) => true,
            (Some(SetupRole::Active), SetupRole::Active) => return Err(AnswerError::InvalidSetup),
            (Some(SetupRole::Active), _) => false,
            (Some(SetupRole::ActPass), _) => return Err(AnswerError::InvalidSetup),
        };
        let c_host = view.connection_host();
        let answer_cema = view.cema();
        if self.cema && !answer_cema {
            let mismatch = c_host.as_ref().is_some_and(|h| {
                matches_any(h, view.port(), &path, resolver) == AddressMatch::NoMatch
            });
            if mismatch {
                if !we_active {
                    return Ok(OfferResult::Reoffer(FallbackReason::MismatchWhilePassive));
                }
                if !self.config.relays.is_empty() {
                    return Ok(OfferResult::Reoffer(FallbackReason::MismatchWithOurRelay));
                }
                if path.len() > 1 {
                    return Ok(OfferResult::Reoffer(FallbackReason::MismatchWithTheirRelay));
                }
            }
        }
        let cema = self.cema && answer_cema;
        let tls = self.config.proto.is_tls();
        let first = &path[0];
        let role = if we_active {
            // RFC 6135 §4.5: behind a relay we always connect to the relay.
            let target = if let Some(relay) = self.config.relays.first() {
                ConnectTarget {
                    host: relay.host.clone(),
                    port: relay.port.ok_or(AnswerError::NoConnectTarget)?,
                    tls: relay.scheme.is_tls(),
                    tls_name: relay.host.clone(),
                    via_cema: false,
                }
            } else if cema {
                ConnectTarget {
                    host: c_host.ok_or(AnswerError::NoConnectTarget)?,
                    port: view.port(),
                    tls,
                    tls_name: first.host.clone(),
                    via_cema: true,
                }
            } else {
                ConnectTarget {
                    host: first.host.clone(),
                    port: first.port.ok_or(AnswerError::NoConnectTarget)?,
                    tls,
                    tls_name: first.host.clone(),
                    via_cema: false,
                }
            };
            ConnectionRole::Active(target)
        } else {
            ConnectionRole::Passive
        };
        let local_uri = self.local_uri().ok_or(AnswerError::NoConnectTarget)?;
        let mut to_path = self.config.relays.clone();
        to_path.extend(path.iter().cloned());
        Ok(OfferResult::Established(Box::new(EstablishedSession {
            role,
            peer_path: path,
            to_path,
            local_uri,
            tls,
            cema,
            room_chatroom: view.chatroom()?,
            room_accept_types: view.accept_types()?,
            room_accept_wrapped_types: view.accept_wrapped_types()?,
            room_max_size: view.max_size()?,
            room_fingerprints: view.fingerprints()?,
        })))
    }

    fn offered_setup(&self) -> SetupRole {
        if self.cema && !self.config.relays.is_empty() {
            SetupRole::ActPass
        } else {
            self.config.setup
        }
    }

    /// The configured host (for tests and diagnostics).
    pub fn host(&self) -> &Host {
        &self.config.local.host
    }
}
