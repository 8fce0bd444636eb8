//! The focus's state: rooms, their members (one per SIP dialog / MSRP session), their
//! conference subscriptions, and the nickname registry; plus the bookkeeping shared by every
//! path that changes membership (install, remove, roster sync, NOTIFY fan-out).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use dataplane::relay::RelayControl;
use dataplane::switch::{broadcast, RoomId, RoomSpec, SessionSpec, SwitchControl};

use crate::conference::{
    EndpointStatus, JoiningMethod, MediaStatus, Participant as RosterParticipant,
    ParticipantEndpoint, RoomDescription, Roster, RosterChange, Subscription, UriEntry,
    CONTENT_TYPE,
};
use crate::nickname::{HolderId, NicknameRegistry};
use crate::sdp::offer_answer::ChatAnswerer;
use crate::sip::dialog::{Dialog, DialogId};
use crate::sip::FlowKey;

use super::room::RoomSettings;
use super::Inner;

/// One participant session.
pub(crate) struct Member {
    pub sid: String,
    /// The roster key: the AoR, or the anonymous URI for anonymous participants.
    pub aor: String,
    /// Set for anonymous participants.
    pub anonymous: bool,
    pub display: Option<String>,
    /// The participant's Contact (endpoint entity).
    pub contact: String,
    pub dialog: Dialog,
    pub flow: FlowKey,
    pub answerer: ChatAnswerer,
    pub last_answer: Vec<u8>,
    pub spec: Arc<SessionSpec>,
    pub holder: HolderId,
    pub worker: Option<usize>,
    pub bound: bool,
    pub joined_at: SystemTime,
    /// Since when the session waits for its MSRP connection (installed or re-installed).
    pub pending_since: Instant,
}

/// One conference subscription.
pub(crate) struct Sub {
    pub dialog: Dialog,
    pub flow: FlowKey,
    pub sub: Subscription,
    pub expires: Instant,
    /// Our Contact for this dialog.
    pub contact: String,
}

/// One room.
pub(crate) struct Room {
    pub id: RoomId,
    pub settings: RoomSettings,
    pub user: String,
    pub spec: Arc<RoomSpec>,
    pub members: BTreeMap<String, Member>,
    pub roster: Roster,
    pub subs: HashMap<DialogId, Sub>,
}

/// What an in-dialog request belongs to.
#[derive(Clone, Debug)]
pub(crate) enum DialogRef {
    Member(RoomId, String),
    Sub(RoomId),
}

#[derive(Default)]
pub(crate) struct State {
    pub rooms: BTreeMap<RoomId, Room>,
    pub dialogs: HashMap<DialogId, DialogRef>,
    pub sessions: HashMap<String, RoomId>,
    pub nicknames: NicknameRegistry,
    pub next_room: RoomId,
    pub next_holder: HolderId,
    pub next_worker: usize,
}

impl State {
    pub fn room_by_user(&self, user: &str) -> Option<RoomId> {
        self.rooms.values().find(|r| r.user == user).map(|r| r.id)
    }

    /// A room by URI or user part.
    pub fn room_by_key(&self, key: &str) -> Option<RoomId> {
        self.rooms
            .values()
            .find(|r| r.settings.uri == key || r.user == key)
            .map(|r| r.id)
    }
}

pub(crate) fn room_description(s: &RoomSettings) -> RoomDescription {
    RoomDescription {
        entity: s.uri.clone(),
        display_text: s.name.clone(),
        subject: s.subject.clone(),
        conf_uris: vec![UriEntry {
            uri: s.uri.clone(),
            display_text: None,
            purpose: Some("participation".into()),
        }],
        maximum_user_count: u32::try_from(s.max_members).ok(),
    }
}

impl Room {
    pub fn new(id: RoomId, settings: RoomSettings) -> Room {
        let spec = RoomSpec::new(id, &settings.uri, settings.switch_policy());
        Room {
            id,
            user: settings.user_part().unwrap_or_default(),
            roster: Roster::new(room_description(&settings)),
            settings,
            spec,
            members: BTreeMap::new(),
            subs: HashMap::new(),
        }
    }

    /// Rebuilds the roster entry of `aor` from its sessions; returns the changes.
    pub fn sync_roster(&mut self, aor: &str, nicks: &NicknameRegistry) -> Vec<RosterChange> {
        let sessions: Vec<&Member> = self.members.values().filter(|m| m.aor == aor).collect();
        let Some(first) = sessions.first() else {
            return self.roster.remove(aor).into_iter().collect();
        };
        let nickname = sessions
            .iter()
            .find_map(|m| nicks.nickname_of(m.holder).map(str::to_string));
        let p = RosterParticipant {
            aor: aor.to_string(),
            anonymous_uri: first.anonymous.then(|| aor.to_string()),
            display_name: first.display.clone(),
            nickname,
            roles: vec!["participant".into()],
            endpoints: sessions
                .iter()
                .map(|m| ParticipantEndpoint {
                    entity: m.contact.clone(),
                    status: if m.bound {
                        EndpointStatus::Connected
                    } else {
                        EndpointStatus::Pending
                    },
                    joining_method: Some(JoiningMethod::DialedIn),
                    // Never the session-id: it is what binds the MSRP session (RFC 4975
                    // §14.1), and the roster goes to every subscriber.
                    media_id: format!("msrp-{}", m.holder),
                    media_status: Some(MediaStatus::SendRecv),
                })
                .collect(),
        };
        self.roster.upsert(p)
    }
}

impl Inner {
    /// Pushes a switch control message to every worker.
    pub(crate) fn broadcast(&self, msg: SwitchControl) {
        let n = broadcast(&self.rings, &msg);
        if n != self.rings.len() {
            tracing::warn!("focus: {msg:?} reached {n} of {} workers", self.rings.len());
        }
    }

    /// Waits (up to a second per worker) until every worker has handled what was pushed to
    /// it so far: a session installed before the 200 leaves is known when its first request
    /// arrives, whichever worker gets the connection.
    pub(crate) fn sync_workers(&self) {
        let mut waits = Vec::new();
        for r in &self.rings {
            let (tx, rx) = std::sync::mpsc::channel();
            if dataplane::switch::push_patiently(r, RelayControl::Switch(SwitchControl::Stats(tx)))
            {
                waits.push(rx);
            }
        }
        for rx in waits {
            let _ = rx.recv_timeout(std::time::Duration::from_secs(1));
        }
    }

    /// Pushes to one worker.
    pub(crate) fn push_to(&self, worker: usize, msg: SwitchControl) {
        if let Some(r) = self.rings.get(worker) {
            if !dataplane::switch::push_patiently(r, RelayControl::Switch(msg)) {
                tracing::warn!("focus: worker {worker} ring stayed full");
            }
        }
    }

    /// Sends the changes to every subscriber of the room.
    pub(crate) fn notify(&self, room: &mut Room, changes: &[RosterChange]) {
        if changes.is_empty() {
            return;
        }
        let ids: Vec<DialogId> = room.subs.keys().cloned().collect();
        for id in ids {
            let Some(s) = room.subs.get_mut(&id) else {
                continue;
            };
            let body = s.sub.partial(&room.roster, changes);
            self.send_notify(room.id, s, body, None);
        }
    }

    /// Sends one NOTIFY on a subscription; `Some(reason)` ends it (RFC 6665 §4.1.3: `timeout`,
    /// `noresource`; `""` for an unsubscribe, which takes no reason).
    pub(crate) fn send_notify(
        &self,
        room: RoomId,
        s: &mut Sub,
        body: String,
        terminated: Option<&str>,
    ) {
        let mut b = s.dialog.request("NOTIFY");
        let left = s
            .expires
            .saturating_duration_since(Instant::now())
            .as_secs();
        if let Some(reason) = terminated {
            if reason.is_empty() {
                b.header("Subscription-State", "terminated");
            } else {
                b.header_fmt(
                    "Subscription-State",
                    format_args!("terminated;reason={reason}"),
                );
            }
        } else {
            b.header_fmt("Subscription-State", format_args!("active;expires={left}"));
        }
        b.header("Contact", &s.contact);
        let bytes = b.finish(Some(CONTENT_TYPE), body.as_bytes());
        let id = s.dialog.id.clone();
        let me = self.weak();
        self.send(
            bytes,
            s.flow,
            Some(Box::new(move |code| {
                // A subscriber that is gone (481, timeout, dead flow) is dropped (RFC 6665 §4.2.2).
                if matches!(code, None | Some(481) | Some(408)) {
                    if let Some(inner) = me.upgrade() {
                        let mut st = inner.lock();
                        st.dialogs.remove(&id);
                        if let Some(r) = st.rooms.get_mut(&room) {
                            r.subs.remove(&id);
                        }
                    }
                }
            })),
        );
    }

    /// Removes a member from the switch, the roster and the nickname registry; sends BYE when
    /// asked (the dataplane or the operator ended it, not the participant).
    pub(crate) fn remove_member(&self, st: &mut State, room: RoomId, sid: &str, send_bye: bool) {
        let Some(r) = st.rooms.get_mut(&room) else {
            return;
        };
        let Some(mut m) = r.members.remove(sid) else {
            return;
        };
        st.sessions.remove(sid);
        st.dialogs.remove(&m.dialog.id);
        self.broadcast(SwitchControl::RemoveSession {
            session_id: m.sid.clone(),
        });
        let quarantine = std::time::Duration::from_secs(r.settings.quarantine_secs);
        st.nicknames.leave(m.holder, quarantine, Instant::now());
        let Some(r) = st.rooms.get_mut(&room) else {
            return;
        };
        let changes = r.sync_roster(&m.aor, &st.nicknames);
        self.notify(r, &changes);
        if send_bye {
            let b = m.dialog.request("BYE");
            self.send(b.finish(None, b""), m.flow, None);
        }
        tracing::info!(room = %r.settings.uri, sid = %m.sid, aor = %m.aor, "left");
    }

    pub(crate) fn weak(&self) -> std::sync::Weak<Inner> {
        self.me.clone()
    }
}
