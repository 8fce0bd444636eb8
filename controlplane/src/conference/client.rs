//! The subscriber side: keep a roster from full and partial notifications (RFC 4575 §4.6, §5).

use std::collections::BTreeMap;

use thiserror::Error;

use super::model::*;
use crate::nickname::PreparedNickname;

/// What applying a document did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The roster changed (or was confirmed).
    Updated,
    /// The document was not newer than what we have and was ignored.
    Stale,
    /// The conference is gone (`state="deleted"`): unsubscribe.
    ConferenceDeleted,
}

/// The roster cannot follow the notifications.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RosterSyncError {
    /// A partial document arrived before any full one, or versions skipped: refresh the
    /// subscription to get the full state.
    #[error("missed notifications: refresh the subscription")]
    NeedFullState,
    /// The document is about another conference.
    #[error("document for another conference")]
    WrongConference,
}

/// A roster built from notifications.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientRoster {
    entity: Option<String>,
    version: Option<u32>,
    description: Option<ConferenceDescription>,
    state: Option<ConferenceStateInfo>,
    users: BTreeMap<String, User>,
}

impl ClientRoster {
    /// An empty roster, waiting for its first full document.
    pub fn new() -> Self {
        Self::default()
    }

    /// The version of the last applied document.
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// The room description, if received.
    pub fn description(&self) -> Option<&ConferenceDescription> {
        self.description.as_ref()
    }

    /// The conference state, if received.
    pub fn conference_state(&self) -> Option<&ConferenceStateInfo> {
        self.state.as_ref()
    }

    /// The users, by entity.
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// A user by entity (the CPIM To for a private message).
    pub fn user(&self, entity: &str) -> Option<&User> {
        self.users.get(entity)
    }

    /// The user whose nickname matches (PRECIS comparison, RFC 8266).
    pub fn find_by_nickname(&self, nickname: &str) -> Option<&User> {
        let key = PreparedNickname::new(nickname).ok()?;
        self.users.values().find(|u| {
            u.nickname
                .as_deref()
                .and_then(|n| PreparedNickname::new(n).ok())
                .is_some_and(|p| p.key() == key.key())
        })
    }

    /// Applies a notification.
    pub fn apply(&mut self, doc: &ConferenceInfo) -> Result<Applied, RosterSyncError> {
        if let Some(e) = &self.entity {
            if *e != doc.entity {
                return Err(RosterSyncError::WrongConference);
            }
        }
        if let (Some(have), Some(got)) = (self.version, doc.version) {
            if got <= have {
                return Ok(Applied::Stale);
            }
        }
        match doc.state {
            ElementState::Deleted => {
                *self = ClientRoster::default();
                return Ok(Applied::ConferenceDeleted);
            }
            ElementState::Full => {
                self.entity = Some(doc.entity.clone());
                self.description = doc.description.clone();
                self.state = doc.conference_state;
                self.users = doc
                    .users
                    .iter()
                    .flat_map(|u| u.users.iter())
                    .filter(|u| u.state != ElementState::Deleted)
                    .map(|u| (u.entity.clone(), u.clone()))
                    .collect();
            }
            ElementState::Partial => {
                let in_sequence = match (self.version, doc.version) {
                    (Some(have), Some(got)) => have.checked_add(1) == Some(got),
                    _ => false,
                };
                if self.entity.is_none() || !in_sequence {
                    return Err(RosterSyncError::NeedFullState);
                }
                if let Some(d) = &doc.description {
                    self.description = Some(d.clone());
                }
                if let Some(s) = doc.conference_state {
                    self.state = Some(s);
                }
                if let Some(users) = &doc.users {
                    self.merge_users(users);
                }
            }
        }
        self.version = doc.version;
        Ok(Applied::Updated)
    }

    fn merge_users(&mut self, users: &Users) {
        if users.state == ElementState::Full {
            self.users.clear();
        }
        for u in &users.users {
            match u.state {
                ElementState::Deleted => {
                    self.users.remove(&u.entity);
                }
                ElementState::Full => {
                    self.users.insert(u.entity.clone(), u.clone());
                }
                ElementState::Partial => match self.users.get_mut(&u.entity) {
                    Some(have) => merge_user(have, u),
                    None => {
                        self.users.insert(u.entity.clone(), u.clone());
                    }
                },
            }
        }
    }
}

fn merge_user(have: &mut User, u: &User) {
    if u.nickname.is_some() {
        have.nickname = u.nickname.clone();
    }
    if u.display_text.is_some() {
        have.display_text = u.display_text.clone();
    }
    if !u.roles.is_empty() {
        have.roles = u.roles.clone();
    }
    for e in &u.endpoints {
        let pos = have
            .endpoints
            .iter()
            .position(|h| h.entity.is_some() && h.entity == e.entity);
        match (e.state, pos) {
            (ElementState::Deleted, Some(i)) => {
                have.endpoints.remove(i);
            }
            (ElementState::Deleted, None) => {}
            (ElementState::Full, Some(i)) => have.endpoints[i] = e.clone(),
            (ElementState::Partial, Some(i)) => merge_endpoint(&mut have.endpoints[i], e),
            (_, None) => have.endpoints.push(e.clone()),
        }
    }
}

fn merge_endpoint(have: &mut Endpoint, e: &Endpoint) {
    if e.display_text.is_some() {
        have.display_text = e.display_text.clone();
    }
    if e.status.is_some() {
        have.status = e.status.clone();
    }
    if e.joining_method.is_some() {
        have.joining_method = e.joining_method.clone();
    }
    if e.disconnection_method.is_some() {
        have.disconnection_method = e.disconnection_method.clone();
    }
    for m in &e.media {
        match have.media.iter_mut().find(|h| h.id == m.id) {
            Some(h) => *h = m.clone(),
            None => have.media.push(m.clone()),
        }
    }
}
