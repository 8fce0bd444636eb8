//! Who is in the room, as the conference event package tells it: the roster kept from full
//! and partial NOTIFYs, the names we show for URIs, and the join/leave/nickname lines that a
//! roster change produces.

use std::collections::BTreeMap;

use dataplane::switch::cpim_uri_key;

use crate::conference::{parse_conference_info, Applied, ClientRoster, RosterSyncError, User};

/// The roster plus what the client needs to talk about it.
#[derive(Debug, Default)]
pub struct People {
    roster: ClientRoster,
    own_key: Vec<u8>,
    known: bool,
    entity: Option<String>,
}

/// What a NOTIFY did, for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterUpdate {
    /// Lines to show (possibly none).
    Lines(Vec<String>),
    /// The roster is out of sync: refresh the subscription.
    NeedRefresh,
    /// The room is gone.
    Deleted,
}

impl People {
    /// An empty roster; `own_uri` is our AOR (we are not announced to ourselves).
    pub fn new(own_uri: &str) -> Self {
        People {
            roster: ClientRoster::new(),
            own_key: cpim_uri_key(own_uri.as_bytes()),
            known: false,
            entity: None,
        }
    }

    /// Whether a first full roster arrived.
    pub fn known(&self) -> bool {
        self.known
    }

    /// The room entity from the conference-info document, once known.
    pub fn room_entity(&self) -> Option<&str> {
        self.entity.as_deref()
    }

    /// Whether `uri` is us.
    pub fn is_self(&self, uri: &str) -> bool {
        cpim_uri_key(uri.as_bytes()) == self.own_key
    }

    /// The user with this URI (CPIM comparison: case-insensitive scheme and host).
    pub fn user_by_uri(&self, uri: &str) -> Option<&User> {
        let key = cpim_uri_key(uri.as_bytes());
        self.roster
            .users()
            .find(|u| cpim_uri_key(u.entity.as_bytes()) == key)
    }

    /// The name to show for a URI: nickname, else display text, else `fallback` if given,
    /// else the URI.
    pub fn name_of(&self, uri: &str, fallback: Option<&str>) -> String {
        match self.user_by_uri(uri) {
            Some(u) => show_name(u),
            None => fallback
                .filter(|f| !f.is_empty())
                .unwrap_or(uri)
                .to_string(),
        }
    }

    /// The URI to use as CPIM To for `who`: a participant by nickname (PRECIS comparison),
    /// else an exact nickname or display-name match, else a URI typed as such.
    pub fn resolve(&self, who: &str) -> Option<String> {
        if let Some(u) = self.roster.find_by_nickname(who) {
            return Some(u.entity.clone());
        }
        if let Some(u) = self
            .roster
            .users()
            .find(|u| u.display_text.as_deref() == Some(who))
        {
            return Some(u.entity.clone());
        }
        if who.contains(':') {
            return Some(who.to_string());
        }
        None
    }

    /// `/who` lines.
    pub fn who(&self) -> Vec<String> {
        if !self.known {
            return vec!["* the room has not sent its roster (yet)".into()];
        }
        let users: Vec<&User> = self.roster.users().collect();
        let mut out = vec![format!("* {} in the room:", users.len())];
        for u in users {
            let you = if self.is_self(&u.entity) {
                " (you)"
            } else {
                ""
            };
            out.push(format!("*   {} <{}>{you}", show_name(u), u.entity));
        }
        out
    }

    /// Applies a NOTIFY body and says what changed.
    pub fn apply_notify(&mut self, body: &[u8]) -> Result<RosterUpdate, String> {
        let doc = parse_conference_info(body).map_err(|e| e.to_string())?;
        let before: BTreeMap<String, User> = self
            .roster
            .users()
            .map(|u| (u.entity.clone(), u.clone()))
            .collect();
        match self.roster.apply(&doc) {
            Err(RosterSyncError::NeedFullState) => return Ok(RosterUpdate::NeedRefresh),
            Err(e) => return Err(e.to_string()),
            Ok(Applied::ConferenceDeleted) => return Ok(RosterUpdate::Deleted),
            Ok(Applied::Stale) => return Ok(RosterUpdate::Lines(Vec::new())),
            Ok(Applied::Updated) => {}
        }
        if !self.known {
            self.known = true;
            self.entity = Some(doc.entity.clone());
            let names: Vec<String> = self.roster.users().map(show_name).collect();
            return Ok(RosterUpdate::Lines(vec![format!(
                "* {} in the room: {}",
                names.len(),
                names.join(", ")
            )]));
        }
        let mut lines = Vec::new();
        for u in self.roster.users() {
            if self.is_self(&u.entity) {
                continue;
            }
            match before.get(&u.entity) {
                None => lines.push(format!("* {} joined", show_name(u))),
                Some(old) if old.nickname != u.nickname => match &u.nickname {
                    // A display name that was the nickname already: nothing visible changed.
                    Some(n) if show_name(old) == *n => {}
                    Some(n) => lines.push(format!("* {} is now known as {n}", show_name(old))),
                    None => lines.push(format!("* {} dropped their nickname", show_name(old))),
                },
                Some(_) => {}
            }
        }
        for (entity, old) in &before {
            if self.roster.user(entity).is_none() && !self.is_self(entity) {
                lines.push(format!("* {} left", show_name(old)));
            }
        }
        Ok(RosterUpdate::Lines(lines))
    }
}

fn show_name(u: &User) -> String {
    u.nickname
        .clone()
        .or_else(|| u.display_text.clone())
        .unwrap_or_else(|| u.entity.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conference::{EndpointStatus, Subscription};
    use crate::conference::{Participant, ParticipantEndpoint, RoomDescription, Roster};

    fn participant(aor: &str, nick: Option<&str>) -> Participant {
        Participant {
            aor: aor.into(),
            anonymous_uri: None,
            display_name: None,
            nickname: nick.map(Into::into),
            roles: vec!["participant".into()],
            endpoints: vec![ParticipantEndpoint {
                entity: format!("{aor};dev"),
                status: EndpointStatus::Connected,
                joining_method: None,
                media_id: "1".into(),
                media_status: None,
            }],
        }
    }

    #[test]
    fn roster_changes_become_lines() {
        let mut room = Roster::new(RoomDescription {
            entity: "sip:demo@example.com".into(),
            ..RoomDescription::default()
        });
        room.upsert(participant("sip:me@example.com", Some("me")));
        room.upsert(participant("sip:ann@example.com", Some("ann")));
        let mut sub = Subscription::new();
        let mut p = People::new("sip:me@EXAMPLE.com");
        assert_eq!(p.who().len(), 1, "unknown roster");
        let first = p.apply_notify(sub.full(&room).as_bytes()).unwrap();
        assert_eq!(
            first,
            RosterUpdate::Lines(vec!["* 2 in the room: ann, me".into()])
        );
        let ch = room.upsert(participant("sip:bob@example.com", None));
        let got = p.apply_notify(sub.partial(&room, &ch).as_bytes()).unwrap();
        assert_eq!(
            got,
            RosterUpdate::Lines(vec!["* sip:bob@example.com joined".into()])
        );
        let ch: Vec<_> = room
            .set_nickname("sip:bob@example.com", Some("bobby".into()))
            .into_iter()
            .collect();
        let got = p.apply_notify(sub.partial(&room, &ch).as_bytes()).unwrap();
        assert_eq!(
            got,
            RosterUpdate::Lines(vec!["* sip:bob@example.com is now known as bobby".into()])
        );
        assert_eq!(p.resolve("BOBBY").as_deref(), Some("sip:bob@example.com"));
        assert_eq!(p.resolve("nobody"), None);
        assert_eq!(p.name_of("sip:ann@Example.com", None), "ann");
        let ch: Vec<_> = room.remove("sip:ann@example.com").into_iter().collect();
        let got = p.apply_notify(sub.partial(&room, &ch).as_bytes()).unwrap();
        assert_eq!(got, RosterUpdate::Lines(vec!["* ann left".into()]));
        let who = p.who();
        assert_eq!(who[0], "* 2 in the room:");
        assert!(who
            .iter()
            .any(|l| l.contains("me <sip:me@example.com> (you)")));
        // A skipped version asks for a refresh.
        let ch = room.upsert(participant("sip:cy@example.com", None));
        let _lost = sub.partial(&room, &ch);
        let ch = room.upsert(participant("sip:di@example.com", None));
        let got = p.apply_notify(sub.partial(&room, &ch).as_bytes()).unwrap();
        assert_eq!(got, RosterUpdate::NeedRefresh);
        assert!(p.apply_notify(b"<not-xml").is_err());
    }
}
