//! The focus as SDP answerer: checks, role and CEMA decisions, answer construction, re-offers.

use super::policy::{ActPassAnswer, AnswerPolicy, LocalMsrp, PassiveOfferHandling};
use super::reject::{RejectReason, Rejection};
use super::{ConnectTarget, ConnectionRole, NegotiatedSession};
use crate::sdp::address::{hosts_match, matches_any, AddressMatch, Resolver};
use crate::sdp::model::{
    Attribute, Connection, MediaDescription, MediaLine, Origin, SessionDescription,
};
use crate::sdp::msrp_media::{ChatroomCaps, Direction, MsrpMedia, MsrpProto, SetupRole};
use crate::sdp::parse::parse;

/// Chat-room features this implementation supports (RFC 7701 §8); announced ∩ room policy.
fn supported_chatroom() -> ChatroomCaps {
    ChatroomCaps {
        nicknames: true,
        private_messages: true,
        extensions: Vec::new(),
    }
}

/// The answer to send and what to do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer SDP (send in the 200 OK / reliable provisional response).
    pub sdp: SessionDescription,
    /// The session to run; `None` when a re-offer disabled the chat stream (port 0): the
    /// participant has left the room's media and the focus should end its membership.
    pub session: Option<NegotiatedSession>,
    /// On a re-offer, what changed compared with the previous session.
    pub changes: Option<SessionChanges>,
}

/// What a re-offer changed (RFC 4975 §8.4: either side may re-offer; paths may change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionChanges {
    /// The peer's `a=path` changed: To-Path of our requests changes.
    pub peer_path: bool,
    /// Our own URI changed (e.g. TCP ↔ TLS): the session must be re-registered.
    pub local_uri: bool,
    /// The transport (TCP/TLS) changed.
    pub tls: bool,
    /// Who connects, or where, changed.
    pub connection: bool,
    /// Declared capabilities changed: accept-types, accept-wrapped-types, max-size, chatroom.
    pub capabilities: bool,
    /// The answered direction changed.
    pub direction: bool,
}

impl SessionChanges {
    fn between(old: &NegotiatedSession, new: &NegotiatedSession) -> Self {
        SessionChanges {
            peer_path: old.peer_path != new.peer_path,
            local_uri: old.local_uri != new.local_uri,
            tls: old.proto != new.proto,
            connection: old.role != new.role || old.cema != new.cema,
            capabilities: old.peer_accept_types != new.peer_accept_types
                || old.peer_accept_wrapped_types != new.peer_accept_wrapped_types
                || old.peer_max_size != new.peer_max_size
                || old.peer_chatroom != new.peer_chatroom
                || old.announced_chatroom != new.announced_chatroom,
            direction: old.direction != new.direction,
        }
    }

    /// Whether the MSRP connection must be set up again (new transport, role, target or peer
    /// path). A re-offer that only changes capabilities keeps the connection.
    pub fn needs_new_connection(&self) -> bool {
        self.peer_path || self.local_uri || self.tls || self.connection
    }

    /// Whether anything changed.
    pub fn any(&self) -> bool {
        *self != SessionChanges::default()
    }
}

/// The focus's offer/answer state for one dialog.
#[derive(Debug, Clone)]
pub struct ChatAnswerer {
    policy: AnswerPolicy,
    local: LocalMsrp,
    origin: Origin,
    last_body: Option<String>,
    current: Option<NegotiatedSession>,
}

impl ChatAnswerer {
    /// A new answerer; `session_id` seeds the `o=` session id and first version (RFC 8866
    /// suggests an NTP timestamp; any number unique enough for the host works).
    pub fn new(policy: AnswerPolicy, local: LocalMsrp, session_id: u64) -> Self {
        let origin = Origin {
            username: policy.origin_username.clone(),
            session_id: session_id.to_string(),
            session_version: session_id.to_string(),
            net_type: "IN".into(),
            addr_type: local.host.sdp_addr_type().into(),
            address: local.host.to_sdp_string(),
        };
        Self {
            policy,
            local,
            origin,
            last_body: None,
            current: None,
        }
    }

    /// The session negotiated last, if any.
    pub fn current(&self) -> Option<&NegotiatedSession> {
        self.current.as_ref()
    }

    /// The room policy in force.
    pub fn policy(&self) -> &AnswerPolicy {
        &self.policy
    }

    /// Changes the policy; the next answer reflects it (and gets a new `o=` version).
    pub fn set_policy(&mut self, policy: AnswerPolicy) {
        self.policy = policy;
    }

    /// Parses and answers an offer body (`400` when it does not parse).
    pub fn answer_bytes(
        &mut self,
        body: &[u8],
        resolver: &dyn Resolver,
    ) -> Result<Answer, Rejection> {
        let offer = parse(body).map_err(|e| Rejection::from(RejectReason::from(e)))?;
        self.answer(&offer, resolver)
    }

    /// Answers an offer (initial or re-offer). On rejection nothing changes.
    pub fn answer(
        &mut self,
        offer: &SessionDescription,
        resolver: &dyn Resolver,
    ) -> Result<Answer, Rejection> {
        let mut first_err: Option<RejectReason> = None;
        let mut saw_disabled = false;
        let mut chosen = None;
        for (i, m) in offer.media.iter().enumerate() {
            if !m.line.media.eq_ignore_ascii_case("message") {
                continue;
            }
            let Some(view) = offer.msrp_media(i) else {
                continue;
            };
            let Some(proto) = view.proto() else {
                first_err.get_or_insert(RejectReason::UnsupportedProto(m.line.proto.clone()));
                continue;
            };
            if view.port() == 0 {
                saw_disabled = true;
                continue;
            }
            match self.evaluate(&view, proto, resolver) {
                Ok(s) => {
                    chosen = Some(s);
                    break;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }

        let session = match chosen {
            Some(s) => Some(s),
            // A re-offer may take the chat stream away by setting its port to 0.
            None if self.last_body.is_some() && saw_disabled && first_err.is_none() => None,
            None => {
                let reason = first_err.unwrap_or(if saw_disabled {
                    RejectReason::StreamDisabled
                } else {
                    RejectReason::NoMessageStream
                });
                return Err(reason.into());
            }
        };

        let mut sdp = self.build(offer, session.as_ref());
        let body = sdp.body_without_origin();
        if self.last_body.as_deref() != Some(body.as_str()) {
            if self.last_body.is_some() {
                self.origin = self.origin.bumped();
            }
            self.last_body = Some(body);
        }
        sdp.origin = self.origin.clone();

        let changes = match (&self.current, &session) {
            (Some(old), Some(new)) => Some(SessionChanges::between(old, new)),
            _ => None,
        };
        self.current = session.clone();
        Ok(Answer {
            sdp,
            session,
            changes,
        })
    }

    fn evaluate(
        &self,
        view: &MsrpMedia<'_>,
        proto: MsrpProto,
        resolver: &dyn Resolver,
    ) -> Result<NegotiatedSession, RejectReason> {
        let policy = &self.policy;
        if !proto.is_tls() && policy.require_tls {
            return Err(RejectReason::TlsRequired);
        }
        let local_uri = self
            .local
            .uri(proto)
            .ok_or(RejectReason::TransportUnavailable(if proto.is_tls() {
                "TLS"
            } else {
                "TCP"
            }))?;

        let accept_types = view
            .accept_types()?
            .ok_or(RejectReason::MissingAcceptTypes)?;
        let has_cpim = accept_types.lists("message", "cpim")
            || (policy.cpim_via_wildcard && accept_types.permits("message", "cpim"));
        if !has_cpim {
            return Err(RejectReason::NoCpim);
        }

        let path = view.path()?.ok_or(RejectReason::MissingPath)?;
        if path.iter().any(|u| u.port.is_none()) {
            return Err(RejectReason::PathWithoutPort);
        }
        let first = &path[0];
        if first.scheme.is_tls() != proto.is_tls() {
            return Err(RejectReason::SchemeMismatch);
        }
        let wrapped = view.accept_wrapped_types()?;
        let max_size = view.max_size()?;
        let chatroom = view.chatroom()?;
        let fingerprints = view.fingerprints()?;
        let setup = view.setup()?;

        let offered_cema = view.cema();
        let offerer_uses_relay = path.len() > 1;
        // RFC 6135 / RFC 4145: absent (or holdconn) and active mean the offerer connects.
        let we_active = match setup {
            None | Some(SetupRole::Active) => false,
            // A CEMA offerer behind a relay offers actpass so that the answerer can be the
            // active side (RFC 6714 §4.2 rule 3, §4.5); answering passive would force the
            // §4.3 criterion 2 fallback, so take the active role to keep CEMA.
            Some(SetupRole::ActPass) if policy.cema && offered_cema && offerer_uses_relay => true,
            Some(SetupRole::ActPass) => policy.actpass == ActPassAnswer::Active,
            Some(SetupRole::Passive) => match policy.passive_offer {
                PassiveOfferHandling::BecomeActive => true,
                PassiveOfferHandling::Reject => return Err(RejectReason::PassiveOffer),
            },
        };

        let c_host = view.connection_host();
        if !offered_cema {
            if let Some(host) = &c_host {
                // An active offerer may announce the discard port 9 (RFC 4145 §4, RFC 6135
                // §4.2.2); its c=/m= port then means "no port" and only the address is compared.
                let discard = setup == Some(SetupRole::Active) && view.port() == 9;
                let m = if discard {
                    let results: Vec<AddressMatch> = path
                        .iter()
                        .map(|u| hosts_match(host, &u.host, resolver))
                        .collect();
                    if results.contains(&AddressMatch::Match) {
                        AddressMatch::Match
                    } else if results.contains(&AddressMatch::Unknown) {
                        AddressMatch::Unknown
                    } else {
                        AddressMatch::NoMatch
                    }
                } else {
                    matches_any(host, view.port(), &path, resolver)
                };
                let ok = match m {
                    AddressMatch::Match => true,
                    AddressMatch::NoMatch => false,
                    AddressMatch::Unknown => policy.unresolved_address_matches,
                };
                if !ok {
                    return Err(RejectReason::CemaAddressMismatch);
                }
            }
        }

        // RFC 6714 §4.3 fallback rules. Rules 1 and 3 need a relay on our side, which the focus
        // never uses; rule 2: the offerer uses a relay (more than one path URI) and is active.
        let fallback = offerer_uses_relay && !we_active;
        let cema = policy.cema && offered_cema && !fallback;

        let role = if we_active {
            let target = if cema {
                let host = c_host.ok_or(RejectReason::NoConnectTarget("no c= line"))?;
                ConnectTarget {
                    host,
                    port: view.port(),
                    tls: proto.is_tls(),
                    tls_name: first.host.clone(),
                    via_cema: true,
                }
            } else {
                if !first.is_tcp() {
                    return Err(RejectReason::NoConnectTarget(
                        "first path hop is not a TCP URI",
                    ));
                }
                ConnectTarget {
                    host: first.host.clone(),
                    port: first.port.unwrap_or_default(),
                    tls: proto.is_tls(),
                    tls_name: first.host.clone(),
                    via_cema: false,
                }
            };
            ConnectionRole::Active(target)
        } else {
            ConnectionRole::Passive
        };

        Ok(NegotiatedSession {
            media_index: view.index,
            proto,
            local_uri,
            peer_path: path,
            peer_accept_types: accept_types,
            peer_accept_wrapped_types: wrapped,
            peer_max_size: max_size,
            peer_chatroom: chatroom,
            announced_chatroom: supported_chatroom().intersect(&policy.chatroom),
            role,
            cema,
            peer_fingerprints: fingerprints,
            direction: view.direction().answer_to(),
        })
    }

    fn build(
        &self,
        offer: &SessionDescription,
        session: Option<&NegotiatedSession>,
    ) -> SessionDescription {
        let mut sdp = SessionDescription::new(self.origin.clone());
        sdp.connection = Some(Connection {
            net_type: "IN".into(),
            addr_type: self.local.host.sdp_addr_type().into(),
            address: self.local.host.to_sdp_string(),
        });
        for (i, m) in offer.media.iter().enumerate() {
            let desc = match session {
                Some(s) if s.media_index == i => self.chat_media(s),
                _ => MediaDescription::new(MediaLine {
                    media: m.line.media.clone(),
                    port: 0,
                    port_count: None,
                    proto: m.line.proto.clone(),
                    formats: m.line.formats.clone(),
                }),
            };
            sdp.media.push(desc);
        }
        sdp
    }

    fn chat_media(&self, s: &NegotiatedSession) -> MediaDescription {
        let policy = &self.policy;
        let mut d = MediaDescription::new(MediaLine {
            media: "message".into(),
            // Our URI's port even when we are active: RFC 4975 §8.1 ties m= to the path port,
            // and a discard port 9 here would look like a rewritten c=/m= to a CEMA offerer
            // (RFC 6714 §4.2 fallback criterion 1).
            port: s.local_uri.port.unwrap_or_default(),
            port_count: None,
            proto: s.proto.as_str().into(),
            formats: vec!["*".into()],
        });
        let a = &mut d.attributes;
        // Same order as the RFC 7701 §9.1 example answer.
        a.push(Attribute::value("accept-types", "message/cpim"));
        if let Some(w) = &policy.accept_wrapped_types {
            a.push(Attribute::value("accept-wrapped-types", w.to_string()));
        }
        if let Some(n) = policy.max_size {
            a.push(Attribute::value("max-size", n.to_string()));
        }
        a.push(Attribute::value("path", s.local_uri.to_string()));
        a.push(
            if s.role.is_active() {
                SetupRole::Active
            } else {
                SetupRole::Passive
            }
            .to_attribute(),
        );
        if s.cema {
            a.push(Attribute::property("msrp-cema"));
        }
        a.push(s.announced_chatroom.to_attribute());
        if s.proto.is_tls() {
            if let Some(fp) = &self.local.fingerprint {
                a.push(fp.to_attribute());
            }
        }
        if s.direction != Direction::SendRecv {
            a.push(Attribute::property(s.direction.as_str()));
        }
        d
    }
}
