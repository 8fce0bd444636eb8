//! The management view of the focus: rooms (list, show, create, update, delete),
//! participants (list, kick) and the SIP registrar's bindings. Every method is synchronous,
//! short, callable from any thread, and returns serde-serialisable values.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use dataplane::switch::SwitchControl;
use serde::Serialize;

use super::room::RoomSettings;
use super::state::{Room, State};
use super::{Focus, Inner};

/// Why a management request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum FocusError {
    /// No room with that URI or user part.
    #[error("no room {0}")]
    NoRoom(String),
    /// A room with that user part exists.
    #[error("room {0} exists")]
    RoomExists(String),
    /// A setting is invalid.
    #[error("{key}: {message}")]
    Invalid {
        /// The setting.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// No participant or session matched.
    #[error("no participant {0} in the room")]
    NoParticipant(String),
}

/// One session of a participant.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SessionInfo {
    /// The MSRP session-id (our `a=path` URI's last segment).
    pub session_id: String,
    /// Our MSRP URI for it.
    pub local_uri: String,
    /// The worker owning its connection, once known.
    pub worker: Option<usize>,
    /// Whether the MSRP connection is bound.
    pub bound: bool,
    /// Join time, seconds since the Unix epoch.
    pub joined_at: u64,
    /// The participant's SIP Contact.
    pub contact: String,
    /// The SIP flow (transport:local->remote) its dialog runs over.
    pub flow: String,
}

/// A participant (one user, maybe on several devices).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// The URI the room knows it by (its AoR, or its anonymous URI).
    pub uri: String,
    /// Whether it asked for privacy.
    pub anonymous: bool,
    /// Display name from SIP From.
    pub display_name: Option<String>,
    /// Current nickname.
    pub nickname: Option<String>,
    /// Its sessions.
    pub sessions: Vec<SessionInfo>,
}

/// A room.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RoomInfo {
    /// The dataplane's room id.
    pub id: u64,
    /// Settings in force.
    pub settings: RoomSettings,
    /// Sessions in the room.
    pub sessions: usize,
    /// Distinct participants.
    pub participants: usize,
    /// Conference subscriptions.
    pub subscriptions: usize,
}

/// One registrar binding.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RegistrationInfo {
    /// Address of record.
    pub aor: String,
    /// Registered Contact URI.
    pub contact: String,
    /// `+sip.instance`.
    pub instance: Option<String>,
    /// RFC 5626 `reg-id` (outbound bindings).
    pub reg_id: Option<u32>,
    /// The flow it was registered over (`transport:local->remote`), when we are first hop.
    pub flow: Option<String>,
    /// Path vector.
    pub path: Vec<String>,
    /// Seconds until it expires.
    pub expires_in: u64,
}

/// What [`Focus::reconcile`] changed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Rooms created (URIs).
    pub created: Vec<String>,
    /// Rooms whose settings changed.
    pub updated: Vec<String>,
    /// Rooms deleted (their members got BYE).
    pub deleted: Vec<String>,
}

/// A SIP listener.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SipListenerInfo {
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    /// Bound address.
    pub addr: SocketAddr,
}

fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn room_info(r: &Room) -> RoomInfo {
    let mut aors: Vec<&str> = r.members.values().map(|m| m.aor.as_str()).collect();
    aors.sort_unstable();
    aors.dedup();
    RoomInfo {
        id: r.id,
        settings: r.settings.clone(),
        sessions: r.members.len(),
        participants: aors.len(),
        subscriptions: r.subs.len(),
    }
}

fn invalid((key, message): (&str, String)) -> FocusError {
    FocusError::Invalid {
        key: key.trim_start_matches("rooms.").to_string(),
        message,
    }
}

impl Inner {
    fn room_id(&self, st: &State, key: &str) -> Result<u64, FocusError> {
        st.room_by_key(key)
            .ok_or_else(|| FocusError::NoRoom(key.to_string()))
    }
}

impl Focus {
    /// Every room.
    pub fn rooms(&self) -> Vec<RoomInfo> {
        self.inner.lock().rooms.values().map(room_info).collect()
    }

    /// One room, by URI or user part.
    pub fn room(&self, key: &str) -> Result<RoomInfo, FocusError> {
        let st = self.inner.lock();
        let id = self.inner.room_id(&st, key)?;
        st.rooms
            .get(&id)
            .map(room_info)
            .ok_or_else(|| FocusError::NoRoom(key.into()))
    }

    /// Creates a room (on every worker, then reachable by INVITE/SUBSCRIBE).
    pub fn create_room(&self, settings: RoomSettings) -> Result<RoomInfo, FocusError> {
        settings.validate().map_err(invalid)?;
        self.check_host(&settings)?;
        let user = settings.user_part().unwrap_or_default();
        let mut st = self.inner.lock();
        if st.room_by_user(&user).is_some() {
            return Err(FocusError::RoomExists(settings.uri));
        }
        st.next_room += 1;
        let id = st.next_room;
        let room = Room::new(id, settings);
        self.inner
            .broadcast(SwitchControl::CreateRoom(room.spec.clone()));
        self.inner.sync_workers();
        let info = room_info(&room);
        tracing::info!(uri = %room.settings.uri, id, "room created");
        st.rooms.insert(id, room);
        Ok(info)
    }

    /// A room's host must be local to the SIP server, or nobody could reach it.
    fn check_host(&self, s: &RoomSettings) -> Result<(), FocusError> {
        let d = &self.inner.cfg.domains;
        let host = s.host().unwrap_or_default();
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok();
        if d.is_empty() || ip || d.iter().any(|x| x.eq_ignore_ascii_case(&host)) {
            return Ok(());
        }
        Err(FocusError::Invalid {
            key: "uri".into(),
            message: format!(
                "host {host} is not one of the SIP domains ({}) nor an address",
                d.join(", ")
            ),
        })
    }

    /// Replaces a room's settings (the URI cannot change). The switch gets the new policy at
    /// once; sessions already negotiated keep what their SDP said until they re-offer.
    pub fn update_room(
        &self,
        key: &str,
        mut settings: RoomSettings,
    ) -> Result<RoomInfo, FocusError> {
        let mut st = self.inner.lock();
        let id = self.inner.room_id(&st, key)?;
        let Some(r) = st.rooms.get_mut(&id) else {
            return Err(FocusError::NoRoom(key.into()));
        };
        settings.uri = r.settings.uri.clone();
        settings.validate().map_err(invalid)?;
        r.spec = r.spec.with_policy(settings.switch_policy());
        self.inner
            .broadcast(SwitchControl::UpdateRoom(r.spec.clone()));
        // In force on every worker when this returns.
        self.inner.sync_workers();
        r.settings = settings;
        Ok(room_info(r))
    }

    /// Deletes a room: every member gets a BYE, subscribers a final NOTIFY, the switch drops
    /// the room and its sessions.
    pub fn delete_room(&self, key: &str) -> Result<(), FocusError> {
        let mut st = self.inner.lock();
        let st = &mut *st;
        let id = self.inner.room_id(st, key)?;
        let sids: Vec<String> = st
            .rooms
            .get(&id)
            .map(|r| r.members.keys().cloned().collect())
            .unwrap_or_default();
        for sid in sids {
            self.inner.remove_member(st, id, &sid, true);
        }
        self.inner.broadcast(SwitchControl::DeleteRoom(id));
        if let Some(mut r) = st.rooms.remove(&id) {
            let ids: Vec<_> = r.subs.keys().cloned().collect();
            for d in ids {
                st.dialogs.remove(&d);
                if let Some(mut s) = r.subs.remove(&d) {
                    let body = s.sub.deleted(&r.roster);
                    self.inner.send_notify(id, &mut s, body, Some("noresource"));
                }
            }
            tracing::info!(uri = %r.settings.uri, "room deleted");
        }
        Ok(())
    }

    /// The participants of a room.
    pub fn participants(&self, key: &str) -> Result<Vec<ParticipantInfo>, FocusError> {
        let st = self.inner.lock();
        let id = self.inner.room_id(&st, key)?;
        let Some(r) = st.rooms.get(&id) else {
            return Err(FocusError::NoRoom(key.into()));
        };
        let mut out: Vec<ParticipantInfo> = Vec::new();
        for m in r.members.values() {
            let s = SessionInfo {
                session_id: m.sid.clone(),
                local_uri: String::from_utf8_lossy(m.spec.local_uri_raw()).into_owned(),
                worker: m.worker,
                bound: m.bound,
                joined_at: epoch(m.joined_at),
                contact: m.contact.clone(),
                flow: m.flow.to_string(),
            };
            let nick = st.nicknames.nickname_of(m.holder).map(str::to_string);
            match out.iter_mut().find(|p| p.uri == m.aor) {
                Some(p) => {
                    p.sessions.push(s);
                    if p.nickname.is_none() {
                        p.nickname = nick;
                    }
                }
                None => out.push(ParticipantInfo {
                    uri: m.aor.clone(),
                    anonymous: m.anonymous,
                    display_name: m.display.clone(),
                    nickname: nick,
                    sessions: vec![s],
                }),
            }
        }
        Ok(out)
    }

    /// Removes a participant: `who` is a session-id (that session) or a participant URI
    /// (all its sessions). Each removed session gets a BYE. Returns how many were removed.
    pub fn kick(&self, room: &str, who: &str) -> Result<usize, FocusError> {
        let mut st = self.inner.lock();
        let st = &mut *st;
        let id = self.inner.room_id(st, room)?;
        let sids: Vec<String> = st
            .rooms
            .get(&id)
            .map(|r| {
                r.members
                    .values()
                    .filter(|m| m.sid == who || super::room::same_aor(&m.aor, who))
                    .map(|m| m.sid.clone())
                    .collect()
            })
            .unwrap_or_default();
        if sids.is_empty() {
            return Err(FocusError::NoParticipant(who.into()));
        }
        for sid in &sids {
            self.inner.remove_member(st, id, sid, true);
        }
        Ok(sids.len())
    }

    /// Makes the rooms what a (reloaded) configuration says: rooms are matched by user part;
    /// missing ones are created, changed ones updated, others deleted. Everything is checked
    /// before anything changes.
    pub fn reconcile(&self, wanted: Vec<RoomSettings>) -> Result<ReconcileReport, FocusError> {
        let mut users = std::collections::HashSet::new();
        for w in &wanted {
            w.validate().map_err(invalid)?;
            if !users.insert(w.user_part().unwrap_or_default()) {
                return Err(FocusError::RoomExists(w.uri.clone()));
            }
        }
        let mut report = ReconcileReport::default();
        let existing = self.rooms();
        for r in &existing {
            let user = r.settings.user_part().unwrap_or_default();
            if !users.contains(&user) {
                self.delete_room(&r.settings.uri)?;
                report.deleted.push(r.settings.uri.clone());
            }
        }
        for w in wanted {
            let user = w.user_part().unwrap_or_default();
            match existing
                .iter()
                .find(|r| r.settings.user_part().as_deref() == Some(user.as_str()))
            {
                Some(r) if r.settings.uri != w.uri => {
                    // Same name, another URI: a different room.
                    self.delete_room(&r.settings.uri)?;
                    report.deleted.push(r.settings.uri.clone());
                    report.created.push(w.uri.clone());
                    self.create_room(w)?;
                }
                Some(r) if r.settings != w => {
                    report.updated.push(w.uri.clone());
                    self.update_room(&user, w)?;
                }
                Some(_) => {}
                None => {
                    report.created.push(w.uri.clone());
                    self.create_room(w)?;
                }
            }
        }
        Ok(report)
    }

    /// The registrar's bindings (every AoR).
    pub fn registrations(&self) -> Vec<RegistrationInfo> {
        let Some(link) = self.inner.sip.get() else {
            return Vec::new();
        };
        let now = Instant::now();
        let mut out = Vec::new();
        for (aor, bindings) in link.location.snapshot(now) {
            for b in bindings {
                out.push(RegistrationInfo {
                    aor: aor.clone(),
                    contact: b.uri.clone(),
                    instance: b.instance.clone(),
                    reg_id: b.reg_id,
                    flow: b.flow.map(|f| f.to_string()),
                    path: b.path.clone(),
                    expires_in: b.expires.saturating_duration_since(now).as_secs(),
                });
            }
        }
        out
    }

    /// The SIP listeners.
    pub fn sip_listeners(&self) -> Vec<SipListenerInfo> {
        self.inner
            .sip
            .get()
            .map(|l| {
                l.listeners
                    .iter()
                    .map(|(t, a)| SipListenerInfo {
                        transport: t.param().into(),
                        addr: *a,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
