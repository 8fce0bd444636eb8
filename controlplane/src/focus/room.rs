//! A room's settings (the RFC 7701 §4.1 policy knobs, serialisable for the management API)
//! and their translation into what each part enforces: the switch's [`RoomPolicy`], the SDP
//! answerer's [`AnswerPolicy`] and the nickname registry's [`NicknamePolicy`].

use std::time::Duration;

use dataplane::switch::{AcceptTypes, RoomPolicy};
use serde::{Deserialize, Serialize};

use crate::nickname::NicknamePolicy;
use crate::sdp::offer_answer::{ActPassAnswer, AnswerPolicy};
use crate::sdp::{ChatroomCaps, FormatList};
use crate::sip::wire::Uri;

/// Whether and how nicknames are used in a room.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NicknameMode {
    /// NICKNAME allowed, not needed.
    Optional,
    /// Announced like `Optional`; the switch does not (yet) refuse messages from sessions
    /// without a nickname.
    Required,
    /// NICKNAME refused with 403; `nickname` is not announced in `a=chatroom`.
    Off,
}

/// Who may join.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case", tag = "mode", content = "allow")]
pub enum JoinPolicy {
    /// Anybody who reaches the room URI.
    Open,
    /// Only these AoRs, authenticated with SIP digest (401, then 403 for others).
    AllowList(Vec<String>),
}

/// A room's settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct RoomSettings {
    /// The room URI (`sip:user@host`); the CPIM To of regular messages.
    pub uri: String,
    /// Display name.
    pub name: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// Private messages allowed.
    pub private_messages: bool,
    /// Nickname use.
    pub nicknames: NicknameMode,
    /// Nicknames unique across every server-scoped room instead of this room only.
    pub nickname_server_scope: bool,
    /// One user may hold its nickname from several devices.
    pub nickname_sharing: bool,
    /// Seconds a left user's nickname stays reserved for it.
    pub quarantine_secs: u64,
    /// Most sessions in the room.
    pub max_members: usize,
    /// TLS only.
    pub tls_required: bool,
    /// Largest message in octets.
    pub max_message_size: u64,
    /// Accepted payload types inside Message/CPIM.
    pub accept_wrapped_types: Vec<String>,
    /// Who may join.
    pub join: JoinPolicy,
    /// CEMA (RFC 6714) when offered.
    pub cema: bool,
    /// Answer `a=setup:actpass` offers with `active` (the switch connects).
    pub setup_active: bool,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            uri: String::new(),
            name: None,
            subject: None,
            private_messages: true,
            nicknames: NicknameMode::Optional,
            nickname_server_scope: false,
            nickname_sharing: true,
            quarantine_secs: 0,
            max_members: 1000,
            tls_required: false,
            max_message_size: 1 << 20,
            accept_wrapped_types: vec!["*".into()],
            join: JoinPolicy::Open,
            cema: true,
            setup_active: false,
        }
    }
}

impl RoomSettings {
    /// The URI's user part, which names the room among ours.
    pub fn user_part(&self) -> Option<String> {
        let u = Uri::parse(&self.uri).ok()?;
        u.user.map(str::to_string)
    }

    /// The URI's host.
    pub fn host(&self) -> Option<String> {
        Uri::parse(&self.uri).ok().map(|u| u.host.to_string())
    }

    /// Checks the values; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        match Uri::parse(&self.uri) {
            Ok(u) if u.is_sip() && u.user.is_some_and(|s| !s.is_empty()) => {}
            _ => {
                return Err((
                    "rooms.uri",
                    format!(
                        "\"{}\" is not a sip: URI with a user part (sip:room@host)",
                        self.uri
                    ),
                ))
            }
        }
        if self.max_members == 0 {
            return Err(("rooms.max_members", "must be at least 1".into()));
        }
        if self.max_message_size < 1024 {
            return Err(("rooms.max_message_size", "must be at least 1024".into()));
        }
        if self.accept_wrapped_types.is_empty() {
            return Err((
                "rooms.accept_wrapped_types",
                "empty: list at least one type, or \"*\"".into(),
            ));
        }
        if FormatList::parse(&self.accept_wrapped_types.join(" "), "accept-wrapped-types").is_err()
        {
            return Err((
                "rooms.accept_wrapped_types",
                format!(
                    "{:?} is not a list of media types",
                    self.accept_wrapped_types
                ),
            ));
        }
        if let JoinPolicy::AllowList(l) = &self.join {
            if l.is_empty() {
                return Err((
                    "rooms.allow",
                    "join = \"allow-list\" with an empty allow list admits nobody".into(),
                ));
            }
            if let Some(bad) = l.iter().find(|a| Uri::parse(a).is_err()) {
                return Err(("rooms.allow", format!("\"{bad}\" is not a URI")));
            }
        }
        Ok(())
    }

    /// Whether nicknames are usable.
    pub fn nicknames_on(&self) -> bool {
        self.nicknames != NicknameMode::Off
    }

    /// The switch's policy for this room.
    pub fn switch_policy(&self) -> RoomPolicy {
        RoomPolicy {
            private_messages: self.private_messages,
            nicknames: self.nicknames_on(),
            nicknames_required: self.nicknames == NicknameMode::Required,
            require_tls: self.tls_required,
            max_message_size: self.max_message_size,
            accept_wrapped_types: AcceptTypes::parse(&self.accept_wrapped_types.join(" ")),
            ..RoomPolicy::default()
        }
    }

    /// The SDP answerer's policy.
    pub fn answer_policy(&self) -> AnswerPolicy {
        AnswerPolicy {
            require_tls: self.tls_required,
            accept_wrapped_types: FormatList::parse(
                &self.accept_wrapped_types.join(" "),
                "accept-wrapped-types",
            )
            .ok(),
            chatroom: ChatroomCaps {
                nicknames: self.nicknames_on(),
                private_messages: self.private_messages,
                extensions: Vec::new(),
            },
            max_size: Some(self.max_message_size),
            cema: self.cema,
            actpass: if self.setup_active {
                ActPassAnswer::Active
            } else {
                ActPassAnswer::Passive
            },
            ..AnswerPolicy::default()
        }
    }

    /// The nickname registry's policy.
    pub fn nickname_policy(&self) -> NicknamePolicy {
        NicknamePolicy::new(
            self.nicknames_on(),
            Duration::from_secs(self.quarantine_secs),
            self.nickname_sharing,
        )
    }

    /// The nickname uniqueness scope key.
    pub fn nickname_scope(&self) -> String {
        if self.nickname_server_scope {
            "*server*".into()
        } else {
            self.uri.clone()
        }
    }

    /// Whether `aor` may join (`true` for open rooms).
    pub fn allows(&self, aor: &str) -> bool {
        match &self.join {
            JoinPolicy::Open => true,
            JoinPolicy::AllowList(l) => l.iter().any(|a| same_aor(a, aor)),
        }
    }
}

/// Compares two AoRs: scheme and host case-insensitively, user exactly, parameters ignored.
pub fn same_aor(a: &str, b: &str) -> bool {
    match (Uri::parse(a), Uri::parse(b)) {
        (Ok(x), Ok(y)) => x.aor() == y.aor(),
        _ => a == b,
    }
}
