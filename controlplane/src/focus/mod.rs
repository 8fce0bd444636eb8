//! The conference focus of RFC 7701 chat rooms: the SIP user agent behind each room URI.
//!
//! It owns room membership. An INVITE to a room URI is checked (allow list with digest, room
//! size, the SDP offer through [`ChatAnswerer`](crate::sdp::offer_answer::ChatAnswerer)), a
//! session-id is minted and the participant's [`SessionSpec`](dataplane::switch::SessionSpec)
//! is installed on every dataplane worker before the 200 (with `a=path`, `a=chatroom`,
//! `a=setup`, `a=msrp-cema` as negotiated and a Contact with `;isfocus`) leaves. BYE, a
//! re-INVITE taking the stream away, a dataplane `SessionClosed` (then we send the BYE), a
//! kick or a room deletion remove the member everywhere. NICKNAME requests punted by the
//! switch are decided with the [`nickname`](crate::nickname) registry and answered over the
//! ring. SUBSCRIBE `Event: conference` gets a dialog, a full NOTIFY and then partial NOTIFYs
//! on every join, leave and nickname change (RFC 4575), anonymous participants appearing only
//! under their anonymous URI.
//!
//! State lives behind one mutex; every entry point is synchronous and short (SIP sends and
//! ring pushes never wait for an answer), so the management API can call the [`Focus`]
//! methods from any thread. Outgoing requests need the SIP server: attach it with
//! [`Focus::attach_sip`].
//!
//! Module map: [`room`] (settings and their translation), [`config`] (the `[sip]` and
//! `[[rooms]]` sections), `state` (rooms, members, roster bookkeeping), `invite` (INVITE,
//! re-INVITE, UPDATE, BYE), `subscribe` (conference event package), `events` (dataplane
//! events, nicknames), `auth` (digest for allow-list rooms), `admin` (the management view).

pub mod config;
pub mod room;

mod admin;
mod auth;
mod events;
mod invite;
pub mod mount;
mod state;
mod subscribe;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use dataplane::relay::RelayControl;
use dataplane::rings::RingTx;
use dataplane::switch::SwitchEvent;

use crate::sip::app::{IncomingRequest, SipApp, SipHandle};
use crate::sip::location::LocationService;
use crate::sip::wire::{Method, Uri};
use crate::sip::TransportKind;

pub use admin::{
    FocusError, ParticipantInfo, ReconcileReport, RegistrationInfo, RoomInfo, SessionInfo,
    SipListenerInfo,
};
pub use room::{JoinPolicy, NicknameMode, RoomSettings};

/// How long a joined participant has to open (or accept) its MSRP connection.
pub const BIND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Where our MSRP listeners are, for the `a=path` we answer.
#[derive(Clone, Debug)]
pub struct LocalMsrp {
    /// Host in our MSRP URIs (`msrp.host`).
    pub host: String,
    /// Plain TCP listener port.
    pub tcp_port: Option<u16>,
    /// TLS listener port.
    pub tls_port: Option<u16>,
}

/// What the focus needs besides its rooms.
#[derive(Clone, Debug)]
pub struct FocusConfig {
    /// Our MSRP listeners.
    pub msrp: LocalMsrp,
    /// Digest realm for allow-list rooms (the SIP realm).
    pub realm: String,
    /// Users (name, password) for digest.
    pub users: Vec<(String, String)>,
    /// Names resolved without DNS (`relay.hosts`), for CEMA address checks and active connects.
    pub hosts: BTreeMap<String, IpAddr>,
    /// Longest SUBSCRIBE granted (seconds).
    pub max_subscription_secs: u32,
    /// Domains the SIP server takes as local: a room's host must be one of them or an IP
    /// address (empty: no check).
    pub domains: Vec<String>,
}

struct SipLink {
    handle: SipHandle,
    location: Arc<dyn LocationService>,
    listeners: Vec<(TransportKind, SocketAddr)>,
}

pub(crate) struct Inner {
    me: std::sync::Weak<Inner>,
    state: Mutex<state::State>,
    rings: Vec<RingTx<RelayControl>>,
    cfg: FocusConfig,
    auth: auth::DigestAuth,
    sip: OnceLock<SipLink>,
    rt: OnceLock<tokio::runtime::Handle>,
}

/// The focus; cheap to clone (all clones share one state).
#[derive(Clone)]
pub struct Focus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Focus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Focus").finish_non_exhaustive()
    }
}

impl Focus {
    /// A focus driving the workers behind `rings` (one control ring per worker).
    pub fn new(cfg: FocusConfig, rings: Vec<RingTx<RelayControl>>) -> Focus {
        let auth = auth::DigestAuth::new(&cfg.realm, &cfg.users);
        Focus {
            inner: Arc::new_cyclic(|me| Inner {
                me: me.clone(),
                state: Mutex::new(state::State::default()),
                rings,
                cfg,
                auth,
                sip: OnceLock::new(),
                rt: OnceLock::new(),
            }),
        }
    }

    /// Connects the focus to the running SIP server (for BYE and NOTIFY it originates, and
    /// the registrations view) and to the tokio runtime that awaits their answers. Only the
    /// first call has an effect.
    pub fn attach_sip(
        &self,
        handle: SipHandle,
        location: Arc<dyn LocationService>,
        listeners: Vec<(TransportKind, SocketAddr)>,
        rt: tokio::runtime::Handle,
    ) {
        let _ = self.inner.sip.set(SipLink {
            handle,
            location,
            listeners,
        });
        let _ = self.inner.rt.set(rt);
    }

    /// Handles one dataplane event (session bound or closed, NICKNAME to decide).
    pub fn on_switch_event(&self, e: SwitchEvent) {
        events::handle(&self.inner, e);
    }

    /// Periodic upkeep (the daemon calls it every few seconds): subscriptions past their
    /// expiry get a terminated NOTIFY and are dropped (RFC 6665 §4.2.2), ended nickname
    /// quarantines are forgotten.
    pub fn housekeeping(&self) {
        let now = std::time::Instant::now();
        let mut st = self.inner.lock();
        let st = &mut *st;
        st.nicknames.expire(now);
        for room in st.rooms.values_mut() {
            let expired: Vec<_> = room
                .subs
                .iter()
                .filter(|(_, s)| s.expires <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for id in expired {
                st.dialogs.remove(&id);
                if let Some(mut s) = room.subs.remove(&id) {
                    let body = s.sub.full(&room.roster);
                    self.inner
                        .send_notify(room.id, &mut s, body, Some("timeout"));
                }
            }
        }
        // A participant that never connected (passive sessions have no connect failure to
        // report) is taken out after BIND_TIMEOUT, with a BYE.
        let stale: Vec<(u64, String)> = st
            .rooms
            .values()
            .flat_map(|r| {
                r.members
                    .values()
                    .filter(|m| !m.bound && now.duration_since(m.pending_since) > BIND_TIMEOUT)
                    .map(|m| (r.id, m.sid.clone()))
            })
            .collect();
        for (room, sid) in stale {
            tracing::info!(%sid, "no MSRP connection: removed");
            self.inner.remove_member(st, room, &sid, true);
        }
    }

    /// Whether a room has this user part.
    pub fn has_room_user(&self, user: &str) -> bool {
        self.inner.lock().room_by_user(user).is_some()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, state::State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self) -> Option<&SipHandle> {
        self.sip.get().map(|s| &s.handle)
    }

    /// Sends a request we originate; the answer is awaited (and `then` called with its status)
    /// on the runtime when there is one.
    fn send(
        &self,
        bytes: bytes::Bytes,
        flow: crate::sip::FlowKey,
        then: Option<Box<dyn FnOnce(Option<u16>) + Send>>,
    ) {
        let Some(h) = self.handle() else { return };
        let rx = h.send_request(bytes, flow);
        if let (Some(then), Some(rt)) = (then, self.rt.get()) {
            rt.spawn(async move {
                let code = rx.await.ok().flatten().and_then(|m| m.status());
                then(code);
            });
        }
    }
}

impl SipApp for Focus {
    fn is_local_target(&self, uri: &Uri<'_>) -> bool {
        uri.user.is_some_and(|u| self.has_room_user(u))
    }

    fn on_request(&self, req: IncomingRequest, handle: SipHandle) {
        if self.inner.sip.get().is_none() {
            // Started without attach_sip (tests): keep the handle for our own requests.
            let location = handle.core.location().clone();
            let _ = self.inner.sip.set(SipLink {
                handle: handle.clone(),
                location,
                listeners: Vec::new(),
            });
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let _ = self.inner.rt.set(rt);
            }
        }
        let in_dialog = req.msg.to_hdr().ok().and_then(|t| t.tag()).is_some();
        match (req.msg.method(), in_dialog) {
            (Some(Method::Ack), _) | (Some(Method::Cancel), _) => {}
            (Some(Method::Invite), false) => invite::on_invite(&self.inner, &req, &handle),
            (Some(Method::Invite), true) => invite::on_reinvite(&self.inner, &req, &handle),
            (Some(Method::Bye), _) => invite::on_bye(&self.inner, &req, &handle),
            (Some(Method::Subscribe), _) => subscribe::on_subscribe(&self.inner, &req, &handle),
            (Some(Method::Update), _) => invite::on_reinvite(&self.inner, &req, &handle),
            (Some(Method::Options), _) => invite::on_options(&self.inner, &req, &handle),
            _ => invite::reply(&req, &handle, 405, None, &[("Allow", invite::ALLOW.into())]),
        }
    }
}
