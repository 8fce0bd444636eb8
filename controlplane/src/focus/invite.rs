//! Joining and leaving: INVITE to a room URI (policy, offer, session install, 200 with the
//! answer), re-INVITE/UPDATE (new offers on the same session), BYE, OPTIONS.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::SystemTime;

use dataplane::switch::{
    AcceptTypes, ActiveSetup, ChatCaps, Participant, SessionSpec, Setup, SwitchControl,
};
use rand::distributions::Alphanumeric;
use rand::Rng;

use crate::sdp::address::Resolver;
use crate::sdp::offer_answer::{
    ChatAnswerer, ConnectTarget, ConnectionRole, LocalMsrp, NegotiatedSession,
};
use crate::sdp::Host;
use crate::sip::app::{IncomingRequest, SipHandle};
use crate::sip::dialog::Dialog;
use crate::sip::wire::{response_to, uri::unescape, HeaderName, Message, Uri};
use crate::sip::FlowKey;

use super::auth::AuthOutcome;
use super::state::{DialogRef, Member};
use super::Inner;

/// Methods the focus handles.
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, UPDATE, OPTIONS, SUBSCRIBE";

/// Sends a final response without body.
pub(crate) fn reply(
    req: &IncomingRequest,
    handle: &SipHandle,
    code: u16,
    reason: Option<&str>,
    hdrs: &[(&str, String)],
) {
    let tag = handle.new_tag();
    let mut b = response_to(&req.msg, code, reason, Some(&tag), Some(req.source.remote));
    for (n, v) in hdrs {
        b.header(n, v);
    }
    handle.respond(req, code, b.finish(None, b""));
}

/// Copies Record-Route into a 2xx to a dialog-creating request (RFC 3261 §12.1.1), so that
/// proxies on the way stay in the dialog's route set.
pub(crate) fn copy_record_route(msg: &Message, b: &mut crate::sip::wire::Builder) {
    for v in msg.values(HeaderName::RecordRoute) {
        b.header("Record-Route", v);
    }
}

/// Our Contact for a room on the flow a request came in on.
pub(crate) fn contact(user: &str, flow: &FlowKey) -> String {
    format!(
        "<sip:{user}@{}:{};transport={}>;isfocus",
        host_text(flow.local.ip()),
        flow.local.port(),
        flow.transport.param()
    )
}

fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v) => v.to_string(),
        IpAddr::V6(v) => format!("[{v}]"),
    }
}

/// Names from `relay.hosts` and `localhost`; nothing else is resolved for the CEMA check
/// (an unresolved name counts as matching, so nothing is refused on a guess).
pub(crate) struct HostResolver<'a>(pub &'a BTreeMap<String, IpAddr>);

impl Resolver for HostResolver<'_> {
    fn resolve(&self, name: &str) -> Option<Vec<IpAddr>> {
        let n = name.to_ascii_lowercase();
        if let Some(ip) = self.0.get(&n) {
            return Some(vec![*ip]);
        }
        (n == "localhost").then(|| vec![IpAddr::from([127, 0, 0, 1])])
    }
}

fn connect_addr(t: &ConnectTarget, hosts: &BTreeMap<String, IpAddr>) -> Option<SocketAddr> {
    let ip = match &t.host {
        Host::Ip(ip) => *ip,
        Host::Name(n) => match HostResolver(hosts).resolve(n) {
            Some(v) => *v.first()?,
            None => (n.as_str(), t.port).to_socket_addrs().ok()?.next()?.ip(),
        },
    };
    Some(SocketAddr::new(ip, t.port))
}

fn new_session_id() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// Whether the participant asked for privacy (RFC 3323 Privacy header, or an anonymous From).
fn wants_privacy(msg: &Message, from_host: &str) -> bool {
    from_host.eq_ignore_ascii_case("anonymous.invalid")
        || msg.values_named("Privacy").any(|v| {
            v.split(';').any(|t| {
                matches!(
                    t.trim().to_ascii_lowercase().as_str(),
                    "id" | "user" | "header"
                )
            })
        })
}

fn warning(code: u16, reason: &str) -> (&'static str, String) {
    (
        "Warning",
        format!("{code} msrpd \"{}\"", reason.replace('"', "'")),
    )
}

/// Builds the dataplane session for a negotiated session.
pub(crate) fn session_spec(
    inner: &Inner,
    room: dataplane::switch::RoomId,
    s: &NegotiatedSession,
    participant: Arc<Participant>,
    worker: usize,
) -> Result<SessionSpec, String> {
    let peer_path: Vec<String> = s.peer_path.iter().map(ToString::to_string).collect();
    let mut spec = SessionSpec::new(
        room,
        &s.local_uri.to_string(),
        &peer_path.join(" "),
        participant,
    )
    .map_err(|e| e.to_string())?;
    let mut types = s.peer_accept_types.to_string();
    if let Some(w) = &s.peer_accept_wrapped_types {
        types.push(' ');
        types.push_str(&w.to_string());
    }
    spec.accept_wrapped_types = AcceptTypes::parse(&types);
    spec.caps = ChatCaps {
        chat_aware: s.chat_aware(),
        private_messages: s.private_messages(),
        nicknames: s.nicknames(),
    };
    spec.setup = match &s.role {
        ConnectionRole::Passive => Setup::Passive,
        ConnectionRole::Active(t) => {
            let addr = connect_addr(t, &inner.cfg.hosts)
                .ok_or_else(|| format!("cannot resolve {}", t.host))?;
            Setup::Active(Box::new(ActiveSetup {
                worker,
                addr,
                tls_server_name: t.tls.then(|| t.tls_name.to_string()),
            }))
        }
    };
    Ok(spec)
}

pub(crate) fn on_invite(inner: &Inner, req: &IncomingRequest, handle: &SipHandle) {
    let msg = &req.msg;
    let ruri_text = msg.request_uri().to_string();
    let Ok(ruri) = Uri::parse(&ruri_text) else {
        return reply(req, handle, 416, None, &[]);
    };
    let Ok(from) = msg.from_hdr() else {
        return reply(req, handle, 400, Some("Bad From"), &[]);
    };
    let aor = from.uri.aor();
    let from_user = unescape(from.uri.user.unwrap_or("")).into_owned();
    let display = from
        .display
        .map(|d| d.trim().trim_matches('"').to_string())
        .filter(|d| !d.is_empty());
    let privacy = wants_privacy(msg, from.uri.host);

    let mut st = inner.lock();
    let Some(room_id) = ruri.user.and_then(|u| st.room_by_user(u)) else {
        drop(st);
        return reply(req, handle, 404, Some("No Such Room"), &[]);
    };
    let Some(room) = st.rooms.get(&room_id) else {
        return;
    };
    let settings = room.settings.clone();
    if matches!(settings.join, super::room::JoinPolicy::AllowList(_)) {
        match inner.auth.check(msg) {
            AuthOutcome::Challenge(c) => {
                drop(st);
                return reply(req, handle, 401, None, &[("WWW-Authenticate", c)]);
            }
            AuthOutcome::User(u) => {
                if u != from_user || !settings.allows(&aor) {
                    drop(st);
                    return reply(req, handle, 403, Some("Not On The Allow List"), &[]);
                }
            }
        }
    }
    if room.members.len() >= settings.max_members {
        drop(st);
        return reply(req, handle, 486, Some("Room Full"), &[]);
    }
    let body = msg.body();
    if body.is_empty() {
        drop(st);
        return reply(
            req,
            handle,
            488,
            None,
            &[warning(
                304,
                "an SDP offer with a message stream is required",
            )],
        );
    }

    let sid = new_session_id();
    let local = LocalMsrp {
        host: Host::parse(&inner.cfg.msrp.host).unwrap_or(Host::Name(inner.cfg.msrp.host.clone())),
        tcp_port: inner.cfg.msrp.tcp_port,
        tls_port: inner.cfg.msrp.tls_port,
        session_id: sid.clone(),
        fingerprint: None,
    };
    let mut answerer = ChatAnswerer::new(
        settings.answer_policy(),
        local,
        rand::random::<u32>().into(),
    );
    let answer = match answerer.answer_bytes(&body, &HostResolver(&inner.cfg.hosts)) {
        Ok(a) => a,
        Err(rej) => {
            drop(st);
            let r = rej.to_string();
            return reply(
                req,
                handle,
                rej.sip_status(),
                None,
                &[warning(rej.warning_code(), &r)],
            );
        }
    };
    let Some(session) = answer.session.clone() else {
        drop(st);
        return reply(
            req,
            handle,
            488,
            None,
            &[warning(304, "no usable message stream")],
        );
    };
    // A UA that hides its identity itself (RFC 3323 anonymous From with a user part of its
    // own) is known by that URI, which it can use as CPIM From; one that asks the focus for
    // privacy gets an anonymous URI minted per session.
    let self_anonymous = from.uri.host.eq_ignore_ascii_case("anonymous.invalid")
        && !from_user.is_empty()
        && !from_user.eq_ignore_ascii_case("anonymous");
    let published = if self_anonymous {
        aor.clone()
    } else if privacy {
        format!(
            "sip:anonymous-{}@anonymous.invalid",
            sid.get(..10).unwrap_or(&sid)
        )
    } else {
        aor.clone()
    };
    let participant = Participant::new(&published, &[&published]);
    let worker = st.next_worker % inner.rings.len().max(1);
    st.next_worker = st.next_worker.wrapping_add(1);
    let spec = match session_spec(inner, room_id, &session, participant, worker) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            drop(st);
            return reply(req, handle, 488, None, &[warning(399, &e)]);
        }
    };
    let tag = handle.new_tag();
    let dialog = match Dialog::uas(msg, &tag) {
        Ok(d) => d,
        Err(e) => {
            drop(st);
            return reply(req, handle, 400, Some(&e.to_string()), &[]);
        }
    };
    let sdp = answer.sdp.to_bytes();
    let peer_contact = msg
        .list(HeaderName::Contact)
        .next()
        .unwrap_or_default()
        .to_string();
    inner.broadcast(SwitchControl::AddSession(spec.clone()));
    inner.sync_workers();
    let holder = st.next_holder;
    st.next_holder += 1;
    st.dialogs
        .insert(dialog.id.clone(), DialogRef::Member(room_id, sid.clone()));
    st.sessions.insert(sid.clone(), room_id);
    let user = settings.user_part().unwrap_or_default();
    let member = Member {
        sid: sid.clone(),
        aor: published.clone(),
        anonymous: privacy,
        display,
        contact: peer_contact,
        dialog,
        flow: req.source,
        answerer,
        last_answer: sdp.clone(),
        spec,
        holder,
        worker: session.role.is_active().then_some(worker),
        bound: false,
        joined_at: SystemTime::now(),
        pending_since: std::time::Instant::now(),
    };
    let mut b = response_to(msg, 200, None, Some(&tag), Some(req.source.remote));
    copy_record_route(msg, &mut b);
    b.header("Contact", &contact(&user, &req.source));
    b.header("Allow", ALLOW);
    b.header("Allow-Events", "conference");
    handle.respond(req, 200, b.finish(Some("application/sdp"), &sdp));
    tracing::info!(room = %settings.uri, %sid, aor = %published, "joined");
    let st = &mut *st;
    let Some(room) = st.rooms.get_mut(&room_id) else {
        return;
    };
    room.members.insert(sid, member);
    let changes = room.sync_roster(&published, &st.nicknames);
    inner.notify(room, &changes);
}

pub(crate) fn on_reinvite(inner: &Inner, req: &IncomingRequest, handle: &SipHandle) {
    let msg = &req.msg;
    let mut st = inner.lock();
    let found = Dialog::id_of_request(msg).and_then(|id| st.dialogs.get(&id).cloned());
    let Some(DialogRef::Member(room_id, sid)) = found else {
        drop(st);
        return reply(req, handle, 481, None, &[]);
    };
    let st = &mut *st;
    let Some(room) = st.rooms.get_mut(&room_id) else {
        return;
    };
    let user = room.user.clone();
    let Some(m) = room.members.get_mut(&sid) else {
        return;
    };
    if m.dialog.accept_remote_cseq(msg).is_err() {
        return reply(req, handle, 500, Some("CSeq Out Of Order"), &[]);
    }
    let is_invite = msg.method_text() == "INVITE";
    let body = msg.body();
    let mut remove = false;
    let sdp: Vec<u8> = if body.is_empty() {
        // A session refresh: the current answer stands (INVITE without offer would want an
        // offer from us; the last answer is the closest valid one).
        if is_invite {
            m.last_answer.clone()
        } else {
            Vec::new()
        }
    } else {
        match m
            .answerer
            .answer_bytes(&body, &HostResolver(&inner.cfg.hosts))
        {
            Err(rej) => {
                let r = rej.to_string();
                return reply(
                    req,
                    handle,
                    rej.sip_status(),
                    None,
                    &[warning(rej.warning_code(), &r)],
                );
            }
            Ok(a) => {
                match (&a.session, a.changes) {
                    (None, _) => remove = true,
                    (Some(s), Some(c)) if c.any() => {
                        let worker = m.worker.unwrap_or(0);
                        match session_spec(inner, room_id, s, m.spec.participant.clone(), worker) {
                            Ok(spec) => {
                                // The switch keys sessions by session-id: replace the spec.
                                inner.broadcast(SwitchControl::RemoveSession {
                                    session_id: m.sid.clone(),
                                });
                                let spec = Arc::new(spec);
                                inner.broadcast(SwitchControl::AddSession(spec.clone()));
                                inner.sync_workers();
                                m.spec = spec;
                                m.bound = false;
                                m.pending_since = std::time::Instant::now();
                            }
                            Err(e) => return reply(req, handle, 488, None, &[warning(399, &e)]),
                        }
                    }
                    _ => {}
                }
                let b = a.sdp.to_bytes();
                m.last_answer = b.clone();
                b
            }
        }
    };
    let mut b = response_to(msg, 200, None, None, Some(req.source.remote));
    b.header("Contact", &contact(&user, &req.source));
    b.header("Allow", ALLOW);
    let ct = (!sdp.is_empty()).then_some("application/sdp");
    handle.respond(req, 200, b.finish(ct, &sdp));
    if remove {
        inner.remove_member(st, room_id, &sid, false);
    }
}

pub(crate) fn on_bye(inner: &Inner, req: &IncomingRequest, handle: &SipHandle) {
    let mut st = inner.lock();
    let found = Dialog::id_of_request(&req.msg).and_then(|id| st.dialogs.get(&id).cloned());
    match found {
        Some(DialogRef::Member(room, sid)) => {
            inner.remove_member(&mut st, room, &sid, false);
            drop(st);
            reply(req, handle, 200, None, &[]);
        }
        _ => {
            drop(st);
            reply(req, handle, 481, None, &[]);
        }
    }
}

pub(crate) fn on_options(_inner: &Inner, req: &IncomingRequest, handle: &SipHandle) {
    reply(
        req,
        handle,
        200,
        None,
        &[
            ("Allow", ALLOW.into()),
            (
                "Accept",
                "application/sdp, application/conference-info+xml".into(),
            ),
            ("Allow-Events", "conference".into()),
        ],
    );
}
