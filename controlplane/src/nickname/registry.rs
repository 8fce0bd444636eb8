//! Who holds which nickname, per uniqueness scope, and the RFC 7701 §7 decisions.
//!
//! Rules implemented:
//! - nicknames disabled by the room ⇒ 403 (checked before anything else, §7.1);
//! - malformed value or PRECIS failure ⇒ 424;
//! - reserved word, or held (or quarantined) by another user (AoR) ⇒ 425;
//! - the same user (same AoR) may use one nickname from several sessions (§7.1, SHOULD), unless
//!   the policy turns sharing off; a user can reclaim its own quarantined nickname;
//! - a change keeps the old nickname until the new one is granted (§7.2);
//! - `""` releases at once; a session that ends releases with the room's quarantine period, so
//!   a disconnected holder can come back to it (§4.1, §11).
//!
//! Scopes are opaque strings chosen by the focus: the room URI for per-room uniqueness, or a
//! shared key (domain, server) for rooms that share their nicknames.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use super::error::NicknameError;
use super::header::{parse_use_nickname, NicknameRequest};
use super::prepare::PreparedNickname;

/// Identifies one participant session (one MSRP session of one device); chosen by the focus.
pub type HolderId = u64;

/// A room's nickname policy (RFC 7701 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicknamePolicy {
    /// Whether nicknames may be used at all.
    pub enabled: bool,
    /// How long a nickname stays reserved for its user after the user's last session ends.
    pub quarantine: Duration,
    /// Whether several sessions of the same AoR may share a nickname.
    pub same_user_sharing: bool,
    reserved: HashSet<String>,
}

impl Default for NicknamePolicy {
    /// Nicknames on, no quarantine, same-user sharing on, nothing reserved.
    fn default() -> Self {
        Self::new(true, Duration::ZERO, true)
    }
}

impl NicknamePolicy {
    /// A policy without reserved words (add them with [`NicknamePolicy::with_reserved`]).
    pub fn new(enabled: bool, quarantine: Duration, same_user_sharing: bool) -> Self {
        Self {
            enabled,
            quarantine,
            same_user_sharing,
            reserved: HashSet::new(),
        }
    }

    /// Adds reserved words (compared by PRECIS key, so "Admin" also blocks "ＡＤＭＩＮ").
    /// Words that are not valid nicknames could never be requested and are skipped.
    pub fn with_reserved<'a>(mut self, words: impl IntoIterator<Item = &'a str>) -> Self {
        for w in words {
            if let Ok(p) = PreparedNickname::new(w) {
                self.reserved.insert(p.key().to_owned());
            }
        }
        self
    }

    fn is_reserved(&self, p: &PreparedNickname) -> bool {
        self.reserved.contains(p.key())
    }
}

/// The outcome of an accepted NICKNAME request (respond 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicknameGrant {
    /// The session now uses `nickname` (enforced form); `previous` was released by the change.
    Granted {
        /// The nickname as published.
        nickname: String,
        /// The nickname this session held before, if it was a different one.
        previous: Option<String>,
    },
    /// The session no longer uses a nickname.
    Released {
        /// What it held.
        previous: Option<String>,
    },
}

/// A nickname's holder, for lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicknameOwner {
    /// The owning user's AoR.
    pub aor: String,
    /// The nickname as published.
    pub nickname: String,
    /// Sessions using it (empty while quarantined).
    pub holders: Vec<HolderId>,
    /// Set while the nickname waits for its owner to come back.
    pub quarantined_until: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Entry {
    owner: String,
    display: String,
    holders: BTreeSet<HolderId>,
    quarantined_until: Option<Instant>,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        self.holders.is_empty() && self.quarantined_until.is_none_or(|t| t <= now)
    }
}

/// Nickname bookkeeping for any number of scopes.
#[derive(Debug, Clone, Default)]
pub struct NicknameRegistry {
    scopes: HashMap<String, HashMap<String, Entry>>,
    holders: HashMap<HolderId, (String, String)>,
}

impl NicknameRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles a NICKNAME request from its raw Use-Nickname value: policy first (403), then
    /// syntax (424), then the registry (425 / 200).
    pub fn handle_use_nickname(
        &mut self,
        policy: &NicknamePolicy,
        scope: &str,
        holder: HolderId,
        aor: &str,
        value: &[u8],
        now: Instant,
    ) -> Result<NicknameGrant, NicknameError> {
        if !policy.enabled {
            return Err(NicknameError::Disabled);
        }
        let req = parse_use_nickname(value)?;
        self.request(policy, scope, holder, aor, &req, now)
    }

    /// Applies a parsed request for session `holder` of user `aor` in `scope`.
    pub fn request(
        &mut self,
        policy: &NicknamePolicy,
        scope: &str,
        holder: HolderId,
        aor: &str,
        req: &NicknameRequest,
        now: Instant,
    ) -> Result<NicknameGrant, NicknameError> {
        if !policy.enabled {
            return Err(NicknameError::Disabled);
        }
        let candidate = match req {
            NicknameRequest::Release => {
                let previous = self.drop_holder(holder, None);
                return Ok(NicknameGrant::Released { previous });
            }
            NicknameRequest::Set(c) => c,
        };
        let prepared = PreparedNickname::new(candidate)?;
        if policy.is_reserved(&prepared) {
            return Err(NicknameError::Reserved);
        }
        let table = self.scopes.entry(scope.to_owned()).or_default();
        if let Some(e) = table.get(prepared.key()) {
            if e.expired(now) {
                table.remove(prepared.key());
            } else {
                let other_user = e.owner != aor;
                let unshared = !policy.same_user_sharing && e.holders.iter().any(|h| *h != holder);
                if other_user || unshared {
                    return Err(NicknameError::InUse);
                }
            }
        }
        let entry = table
            .entry(prepared.key().to_owned())
            .or_insert_with(|| Entry {
                owner: aor.to_owned(),
                display: prepared.display().to_owned(),
                holders: BTreeSet::new(),
                quarantined_until: None,
            });
        entry.quarantined_until = None;
        entry.holders.insert(holder);
        if entry.holders.len() == 1 {
            // The sole holder chooses how the nickname is written.
            entry.display = prepared.display().to_owned();
        }
        let nickname = entry.display.clone();

        // Only now that the new nickname is held is the old one released (§7.2).
        let new_slot = (scope.to_owned(), prepared.key().to_owned());
        let previous = match self.holders.get(&holder) {
            Some(old) if *old == new_slot => None,
            Some(_) => self.drop_holder(holder, None),
            None => None,
        };
        self.holders.insert(holder, new_slot);
        Ok(NicknameGrant::Granted { nickname, previous })
    }

    /// The session ended: release its nickname, keeping it for its user for `quarantine`
    /// (the room policy's value). Returns the released nickname.
    pub fn leave(
        &mut self,
        holder: HolderId,
        quarantine: Duration,
        now: Instant,
    ) -> Option<String> {
        let until = (!quarantine.is_zero())
            .then(|| now.checked_add(quarantine))
            .flatten();
        self.drop_holder(holder, until)
    }

    fn drop_holder(
        &mut self,
        holder: HolderId,
        quarantine_until: Option<Instant>,
    ) -> Option<String> {
        let (scope, key) = self.holders.remove(&holder)?;
        let table = self.scopes.get_mut(&scope)?;
        let entry = table.get_mut(&key)?;
        entry.holders.remove(&holder);
        let display = entry.display.clone();
        if entry.holders.is_empty() {
            match quarantine_until {
                Some(t) => entry.quarantined_until = Some(t),
                None => {
                    table.remove(&key);
                }
            }
        }
        if table.is_empty() {
            self.scopes.remove(&scope);
        }
        Some(display)
    }

    /// The nickname session `holder` uses.
    pub fn nickname_of(&self, holder: HolderId) -> Option<&str> {
        let (scope, key) = self.holders.get(&holder)?;
        self.scopes.get(scope)?.get(key).map(|e| e.display.as_str())
    }

    /// Who holds `nickname` (compared by PRECIS key) in `scope`.
    pub fn lookup(&self, scope: &str, nickname: &str, now: Instant) -> Option<NicknameOwner> {
        let p = PreparedNickname::new(nickname).ok()?;
        let e = self.scopes.get(scope)?.get(p.key())?;
        if e.expired(now) {
            return None;
        }
        Some(NicknameOwner {
            aor: e.owner.clone(),
            nickname: e.display.clone(),
            holders: e.holders.iter().copied().collect(),
            quarantined_until: e.quarantined_until,
        })
    }

    /// Drops quarantines that ended; call now and then to bound memory.
    pub fn expire(&mut self, now: Instant) {
        for table in self.scopes.values_mut() {
            table.retain(|_, e| !e.expired(now));
        }
        self.scopes.retain(|_, t| !t.is_empty());
    }

    /// Number of nicknames in use or quarantined in `scope`.
    pub fn len(&self, scope: &str) -> usize {
        self.scopes.get(scope).map_or(0, HashMap::len)
    }

    /// Whether no nickname is held or quarantined anywhere.
    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }
}

#[cfg(test)]
mod tests;
