//! The focus side of the conference event package: the room roster and per-subscription
//! notifications (RFC 4575 §4.6 versions, full and partial documents).
//!
//! Partial notifications carry each changed user as a complete `<user state="full">` (or
//! `state="deleted"`), which every RFC 4575 subscriber can merge and which keeps anonymous users
//! free of any per-endpoint key that could identify them.

use std::collections::BTreeMap;

use super::model::*;
use super::write::to_xml;

/// What the room publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomDescription {
    /// The room URI (`conference-info/@entity`, the CPIM To of regular messages).
    pub entity: String,
    /// Human-readable name.
    pub display_text: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// `<conf-uris>`: how to join (the room URI with purpose `participation`, typically).
    pub conf_uris: Vec<UriEntry>,
    /// Maximum number of participants.
    pub maximum_user_count: Option<u32>,
}

/// One session (device) of a participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantEndpoint {
    /// The endpoint's entity (e.g. its Contact or GRUU). Never published for anonymous users.
    pub entity: String,
    /// Connection status.
    pub status: EndpointStatus,
    /// How it joined.
    pub joining_method: Option<JoiningMethod>,
    /// `<media id>` of its message stream.
    pub media_id: String,
    /// Direction of its message stream from the participant's point of view.
    pub media_status: Option<MediaStatus>,
}

/// A participant (one user / AoR) of the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// The authenticated identity (SIP AoR, tel or im URI). Published unless anonymous.
    pub aor: String,
    /// Set for anonymous participants: published instead of the AoR, and nothing else that
    /// could identify the user is published (RFC 7701 §5.2).
    pub anonymous_uri: Option<String>,
    /// Display name (not published for anonymous participants).
    pub display_name: Option<String>,
    /// Current nickname (RFC 7701 §7.4), published as `xcon:nickname`.
    pub nickname: Option<String>,
    /// Roles (`participant`, `moderator`, ...).
    pub roles: Vec<String>,
    /// Sessions of this user in the room.
    pub endpoints: Vec<ParticipantEndpoint>,
}

impl Participant {
    /// The `user/@entity` others see: the anonymous URI if any, else the AoR.
    pub fn published_entity(&self) -> &str {
        self.anonymous_uri.as_deref().unwrap_or(&self.aor)
    }

    fn to_user(&self) -> User {
        let anonymous = self.anonymous_uri.is_some();
        User {
            entity: self.published_entity().to_owned(),
            state: ElementState::Full,
            nickname: self.nickname.clone(),
            display_text: if anonymous {
                None
            } else {
                self.display_name.clone()
            },
            roles: self.roles.clone(),
            endpoints: self
                .endpoints
                .iter()
                .map(|e| Endpoint {
                    entity: (!anonymous).then(|| e.entity.clone()),
                    state: ElementState::Full,
                    display_text: None,
                    status: Some(e.status.clone()),
                    joining_method: e.joining_method.clone(),
                    disconnection_method: None,
                    media: vec![Media {
                        id: e.media_id.clone(),
                        media_type: Some("message".into()),
                        status: e.media_status.clone(),
                        ..Media::default()
                    }],
                })
                .collect(),
        }
    }
}

/// A roster change to notify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterChange {
    /// The participant (by AoR) joined or changed (nickname, endpoints, ...).
    Upserted(String),
    /// A participant left; the published entity it had.
    Left(String),
}

/// The room's roster: the state the focus publishes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Roster {
    room: RoomDescription,
    participants: BTreeMap<String, Participant>,
}

impl Roster {
    /// An empty roster for a room.
    pub fn new(room: RoomDescription) -> Self {
        Self {
            room,
            participants: BTreeMap::new(),
        }
    }

    /// The room description.
    pub fn room(&self) -> &RoomDescription {
        &self.room
    }

    /// Adds or replaces a participant (keyed by AoR).
    pub fn upsert(&mut self, p: Participant) -> Vec<RosterChange> {
        let mut changes = Vec::new();
        if let Some(old) = self.participants.get(&p.aor) {
            if old == &p {
                return changes;
            }
            // Becoming anonymous (or changing the anonymous URI) changes the published key.
            if old.published_entity() != p.published_entity() {
                changes.push(RosterChange::Left(old.published_entity().to_owned()));
            }
        }
        changes.push(RosterChange::Upserted(p.aor.clone()));
        self.participants.insert(p.aor.clone(), p);
        changes
    }

    /// Removes a participant.
    pub fn remove(&mut self, aor: &str) -> Option<RosterChange> {
        self.participants
            .remove(aor)
            .map(|p| RosterChange::Left(p.published_entity().to_owned()))
    }

    /// Sets or clears a participant's nickname.
    pub fn set_nickname(&mut self, aor: &str, nickname: Option<String>) -> Option<RosterChange> {
        let p = self.participants.get_mut(aor)?;
        if p.nickname == nickname {
            return None;
        }
        p.nickname = nickname;
        Some(RosterChange::Upserted(aor.to_owned()))
    }

    /// Sets an endpoint's status.
    pub fn set_endpoint_status(
        &mut self,
        aor: &str,
        endpoint: &str,
        status: EndpointStatus,
    ) -> Option<RosterChange> {
        let p = self.participants.get_mut(aor)?;
        let e = p.endpoints.iter_mut().find(|e| e.entity == endpoint)?;
        if e.status == status {
            return None;
        }
        e.status = status;
        Some(RosterChange::Upserted(aor.to_owned()))
    }

    /// A participant by AoR.
    pub fn participant(&self, aor: &str) -> Option<&Participant> {
        self.participants.get(aor)
    }

    /// Participants in AoR order.
    pub fn participants(&self) -> impl Iterator<Item = &Participant> {
        self.participants.values()
    }

    fn state_info(&self) -> ConferenceStateInfo {
        ConferenceStateInfo {
            user_count: Some(u32::try_from(self.participants.len()).unwrap_or(u32::MAX)),
            active: Some(true),
            locked: None,
        }
    }

    /// The full document (RFC 4575 §4.6: at least conference-description and users).
    pub fn full_document(&self, version: u32) -> ConferenceInfo {
        ConferenceInfo {
            entity: self.room.entity.clone(),
            state: ElementState::Full,
            version: Some(version),
            description: Some(ConferenceDescription {
                display_text: self.room.display_text.clone(),
                subject: self.room.subject.clone(),
                conf_uris: self.room.conf_uris.clone(),
                maximum_user_count: self.room.maximum_user_count,
                available_media: vec![AvailableMedia {
                    label: "chat".into(),
                    display_text: None,
                    media_type: "message".into(),
                    status: Some(MediaStatus::SendRecv),
                }],
                ..ConferenceDescription::default()
            }),
            conference_state: Some(self.state_info()),
            users: Some(Users {
                state: ElementState::Full,
                users: self
                    .participants
                    .values()
                    .map(Participant::to_user)
                    .collect(),
            }),
        }
    }

    /// A partial document for these changes.
    pub fn partial_document(&self, changes: &[RosterChange], version: u32) -> ConferenceInfo {
        let mut users: Vec<User> = Vec::new();
        for c in changes {
            let user = match c {
                RosterChange::Upserted(aor) => match self.participants.get(aor) {
                    Some(p) => p.to_user(),
                    None => continue,
                },
                RosterChange::Left(entity) => User {
                    entity: entity.clone(),
                    state: ElementState::Deleted,
                    ..User::default()
                },
            };
            // The last change to a user wins.
            users.retain(|u| u.entity != user.entity);
            users.push(user);
        }
        ConferenceInfo {
            entity: self.room.entity.clone(),
            state: ElementState::Partial,
            version: Some(version),
            description: None,
            conference_state: Some(self.state_info()),
            users: Some(Users {
                state: ElementState::Partial,
                users,
            }),
        }
    }
}

/// One subscriber's notification state: the version counter (RFC 4575 §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Subscription {
    version: u32,
}

impl Subscription {
    /// A new subscription; its first document gets version 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// The version of the last document produced (0 before the first).
    pub fn version(&self) -> u32 {
        self.version
    }

    fn next(&mut self) -> u32 {
        // unsignedInt; a subscription would need 4 billion notifications to wrap.
        self.version = self.version.wrapping_add(1);
        self.version
    }

    /// The full state (first NOTIFY, or after a refresh); version + 1.
    pub fn full(&mut self, roster: &Roster) -> String {
        let v = self.next();
        to_xml(&roster.full_document(v))
    }

    /// A partial notification; version + 1 exactly, as RFC 4575 §4.6 requires.
    pub fn partial(&mut self, roster: &Roster, changes: &[RosterChange]) -> String {
        let v = self.next();
        to_xml(&roster.partial_document(changes, v))
    }

    /// The room was deleted (`state="deleted"`); the subscriber should unsubscribe.
    pub fn deleted(&mut self, roster: &Roster) -> String {
        let v = self.next();
        to_xml(&ConferenceInfo {
            entity: roster.room.entity.clone(),
            state: ElementState::Deleted,
            version: Some(v),
            ..ConferenceInfo::default()
        })
    }
}
