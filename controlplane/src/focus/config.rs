//! The `[sip]` and `[[rooms]]` sections of `msrpd`'s configuration, their defaults and checks,
//! and their translation into [`SipConfig`] and [`RoomSettings`].

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, User};
use crate::sip::SipConfig;

use super::room::{JoinPolicy, NicknameMode, RoomSettings};

/// The default SIP port (RFC 3261 §19.1.2).
pub const SIP_PORT: u16 = 5060;

/// `[sip]`
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SipSection {
    /// Serve SIP (registrar, outbound edge, room focus).
    pub enabled: bool,
    /// UDP listen addresses. The default `127.0.0.1:5060` (with TCP on the same port) moves
    /// to the next port free for both when 5060 is taken; explicit addresses never move.
    pub udp: Vec<SocketAddr>,
    /// TCP listen addresses.
    pub tcp: Vec<SocketAddr>,
    /// TLS listen addresses (use `[tls]` cert and key).
    pub tls: Vec<SocketAddr>,
    /// Domains we are registrar for; room URI hosts are added automatically.
    pub domains: Vec<String>,
    /// Digest realm (default: the first domain).
    pub realm: Option<String>,
    /// Users of the registrar and of allow-list rooms (digest).
    pub users: Vec<User>,
    /// Challenge REGISTER with 401 (when users are configured).
    pub auth_register: bool,
    /// Challenge INVITEs from our own users with 407 before proxying them.
    pub auth_invite: bool,
    /// Shortest registration accepted (seconds; 423 below it).
    pub min_expires: u32,
    /// Longest registration granted (seconds).
    pub max_expires: u32,
    /// Registration lifetime when the REGISTER has none (seconds).
    pub default_expires: u32,
    /// RFC 5626 `Flow-Timer` sent to outbound clients when we are their first hop (seconds;
    /// 0 sends none).
    pub flow_timer_secs: u32,
    /// Close SIP stream connections idle for this long (seconds; must exceed the flow timer).
    pub idle_timeout_secs: u64,
    /// Most SIP stream connections.
    pub max_connections: usize,
    /// Worker threads of the control plane's tokio runtime.
    pub threads: usize,
}

impl Default for SipSection {
    fn default() -> Self {
        let local: SocketAddr = SocketAddr::from(([127, 0, 0, 1], SIP_PORT));
        SipSection {
            enabled: true,
            udp: vec![local],
            tcp: vec![local],
            tls: Vec::new(),
            domains: vec!["localhost".into()],
            realm: None,
            users: Vec::new(),
            auth_register: true,
            auth_invite: false,
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            flow_timer_secs: 120,
            idle_timeout_secs: 300,
            max_connections: 200_000,
            threads: 1,
        }
    }
}

impl SipSection {
    /// Whether the listeners are the defaults (which may move to a free port).
    pub fn default_listen(&self) -> bool {
        let d = SipSection::default();
        self.udp == d.udp && self.tcp == d.tcp
    }

    /// The digest realm in use.
    pub fn realm(&self) -> String {
        self.realm
            .clone()
            .or_else(|| self.domains.first().cloned())
            .unwrap_or_else(|| "localhost".into())
    }

    /// Checks values the types do not.
    pub fn validate(&self, has_tls_cert: bool) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if self.udp.is_empty() && self.tcp.is_empty() && self.tls.is_empty() {
            return Err(invalid(
                "sip.udp",
                "no SIP listener: give udp, tcp or tls addresses, or set sip.enabled = false",
            ));
        }
        if !self.tls.is_empty() && !has_tls_cert {
            return Err(invalid(
                "sip.tls",
                "SIP over TLS needs tls.cert and tls.key",
            ));
        }
        if self.domains.iter().any(|d| {
            d.is_empty() || d.contains(|c: char| c.is_whitespace() || c == '@' || c == ';')
        }) {
            return Err(invalid(
                "sip.domains",
                "a domain is empty or contains spaces, '@' or ';'",
            ));
        }
        if self.min_expires == 0 || self.min_expires > self.max_expires {
            return Err(invalid(
                "sip.min_expires",
                format!(
                    "{} must be at least 1 and at most max_expires {}",
                    self.min_expires, self.max_expires
                ),
            ));
        }
        if !(self.min_expires..=self.max_expires).contains(&self.default_expires) {
            return Err(invalid(
                "sip.default_expires",
                format!(
                    "{} is outside min_expires..max_expires ({}..{})",
                    self.default_expires, self.min_expires, self.max_expires
                ),
            ));
        }
        if self.idle_timeout_secs <= u64::from(self.flow_timer_secs) {
            return Err(invalid(
                "sip.idle_timeout_secs",
                format!("{} must exceed sip.flow_timer_secs ({}), or outbound clients get cut off between keep-alives", self.idle_timeout_secs, self.flow_timer_secs),
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid("sip.max_connections", "must be at least 1"));
        }
        if self.threads == 0 || self.threads > 16 {
            return Err(invalid(
                "sip.threads",
                format!("{}: use 1 to 16", self.threads),
            ));
        }
        if self.users.iter().any(|u| u.name.is_empty()) {
            return Err(invalid("sip.users", "a user has an empty name"));
        }
        Ok(())
    }

    /// The server configuration (listen addresses as configured, before any port move).
    pub fn to_sip_config(&self, room_hosts: &[String]) -> SipConfig {
        let mut c = SipConfig {
            udp: self.udp.clone(),
            tcp: self.tcp.clone(),
            tls: self.tls.clone(),
            ..SipConfig::default()
        };
        c.core.domains = self.domains.clone();
        for h in room_hosts {
            if !c.core.domains.iter().any(|d| d.eq_ignore_ascii_case(h)) {
                c.core.domains.push(h.clone());
            }
        }
        c.core.realm = self.realm();
        c.core.auth_register = self.auth_register;
        c.core.auth_invite = self.auth_invite;
        c.core.policy.min_expires = self.min_expires;
        c.core.policy.max_expires = self.max_expires;
        c.core.policy.default_expires = self.default_expires;
        c.core.policy.flow_timer = (self.flow_timer_secs > 0).then_some(self.flow_timer_secs);
        c.streams.idle_timeout = std::time::Duration::from_secs(self.idle_timeout_secs);
        c.streams.max_connections = self.max_connections;
        c.users = self
            .users
            .iter()
            .map(|u| (u.name.clone(), u.password.clone()))
            .collect();
        c
    }
}

/// `[[rooms]]`: one chat room.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RoomSection {
    /// The room's SIP URI (`sip:name@host`); its user part must be unique among rooms.
    pub uri: String,
    /// Display name published in the conference event package.
    pub name: Option<String>,
    /// Subject published in the conference event package.
    pub subject: Option<String>,
    /// Private messages allowed (else 428).
    pub private_messages: bool,
    /// `optional` (default), `required` (a session must hold a nickname before it may send: 403)
    /// or `off` (NICKNAME gets 403).
    pub nicknames: String,
    /// Nickname uniqueness: `room` (default) or `server` (shared by every room with `server`).
    pub nickname_scope: String,
    /// Whether one user (AoR) may use its nickname from several devices at once.
    pub nickname_sharing: bool,
    /// Seconds a nickname stays reserved for its user after the user left.
    pub quarantine_secs: u64,
    /// Most sessions in the room (486 beyond it).
    pub max_members: usize,
    /// Refuse TCP/MSRP offers (488) and plain connections.
    pub tls_required: bool,
    /// Largest message (octets, all chunks); larger ones get 413.
    pub max_message_size: u64,
    /// Payload types accepted inside Message/CPIM, e.g. `["text/plain", "*"]`.
    pub accept_wrapped_types: Vec<String>,
    /// `open`, or `allow-list` (only the `allow` AoRs, authenticated by digest).
    pub join: String,
    /// AoRs allowed to join an `allow-list` room.
    pub allow: Vec<String>,
    /// Take part in CEMA (RFC 6714) when offered.
    pub cema: bool,
    /// Role answered to `a=setup:actpass`: `passive` (the participant connects; default) or
    /// `active` (the switch connects).
    pub setup: String,
}

impl Default for RoomSection {
    fn default() -> Self {
        let s = RoomSettings::default();
        RoomSection {
            uri: String::new(),
            name: None,
            subject: None,
            private_messages: s.private_messages,
            nicknames: "optional".into(),
            nickname_scope: "room".into(),
            nickname_sharing: s.nickname_sharing,
            quarantine_secs: s.quarantine_secs,
            max_members: s.max_members,
            tls_required: s.tls_required,
            max_message_size: s.max_message_size,
            accept_wrapped_types: s.accept_wrapped_types.clone(),
            join: "open".into(),
            allow: Vec::new(),
            cema: s.cema,
            setup: "passive".into(),
        }
    }
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.into(),
    }
}

impl RoomSection {
    /// The validated settings (the URI is checked with the SIP parser).
    pub fn settings(&self) -> Result<RoomSettings, ConfigError> {
        let nicknames = match self.nicknames.as_str() {
            "optional" => NicknameMode::Optional,
            "required" => NicknameMode::Required,
            "off" => NicknameMode::Off,
            o => {
                return Err(invalid(
                    "rooms.nicknames",
                    format!("\"{o}\": use \"optional\", \"required\" or \"off\""),
                ))
            }
        };
        let server_scope = match self.nickname_scope.as_str() {
            "room" => false,
            "server" => true,
            o => {
                return Err(invalid(
                    "rooms.nickname_scope",
                    format!("\"{o}\": use \"room\" or \"server\""),
                ))
            }
        };
        let join = match self.join.as_str() {
            "open" => JoinPolicy::Open,
            "allow-list" => JoinPolicy::AllowList(self.allow.clone()),
            o => {
                return Err(invalid(
                    "rooms.join",
                    format!("\"{o}\": use \"open\" or \"allow-list\""),
                ))
            }
        };
        if !self.allow.is_empty() && matches!(join, JoinPolicy::Open) {
            return Err(invalid(
                "rooms.allow",
                "an allow list needs join = \"allow-list\"",
            ));
        }
        let active = match self.setup.as_str() {
            "passive" => false,
            "active" => true,
            o => {
                return Err(invalid(
                    "rooms.setup",
                    format!("\"{o}\": use \"passive\" or \"active\""),
                ))
            }
        };
        let s = RoomSettings {
            uri: self.uri.clone(),
            name: self.name.clone(),
            subject: self.subject.clone(),
            private_messages: self.private_messages,
            nicknames,
            nickname_server_scope: server_scope,
            nickname_sharing: self.nickname_sharing,
            quarantine_secs: self.quarantine_secs,
            max_members: self.max_members,
            tls_required: self.tls_required,
            max_message_size: self.max_message_size,
            accept_wrapped_types: self.accept_wrapped_types.clone(),
            join,
            cema: self.cema,
            setup_active: active,
        };
        s.validate().map_err(|(key, m)| invalid(key, m))?;
        Ok(s)
    }
}

/// Checks every room and that their user parts are unique.
pub fn validate_rooms(rooms: &[RoomSection]) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for r in rooms {
        let s = r.settings()?;
        if !seen.insert(s.user_part().unwrap_or_default()) {
            return Err(invalid(
                "rooms.uri",
                format!("{}: another room has the same user part", r.uri),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::focus::room::{JoinPolicy, NicknameMode};

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn defaults_serve_sip_on_loopback_with_a_demo_room() {
        let c = Config::parse("").unwrap();
        assert!(c.sip.enabled);
        assert!(c.sip.default_listen());
        assert_eq!(c.sip.udp, vec!["127.0.0.1:5060".parse().unwrap()]);
        assert!(c.rooms.is_none(), "no [[rooms]]: the demo room");
        assert_eq!(c.sip.realm(), "localhost");
        let c = Config::parse("rooms = []\n").unwrap();
        assert_eq!(c.rooms.as_deref().map(<[_]>::len), Some(0));
    }

    #[test]
    fn rooms_parse_into_settings() {
        let c = Config::parse(
            "[[rooms]]\nuri = \"sip:a@example.com\"\nnicknames = \"off\"\nmax_members = 3\n\
             join = \"allow-list\"\nallow = [\"sip:alice@example.com\"]\nsetup = \"active\"\n\
             accept_wrapped_types = [\"text/plain\"]\n[[rooms]]\nuri = \"sip:b@example.com\"\n\
             nicknames = \"required\"\n",
        )
        .unwrap();
        let rooms = c.rooms.unwrap();
        let s = rooms[0].settings().unwrap();
        assert_eq!(s.nicknames, NicknameMode::Off);
        assert!(!s.switch_policy().nicknames);
        assert!(!s.switch_policy().nicknames_required);
        let required = rooms[1].settings().unwrap().switch_policy();
        assert!(required.nicknames && required.nicknames_required);
        assert!(!s.answer_policy().chatroom.nicknames);
        assert_eq!(s.max_members, 3);
        assert!(s.setup_active);
        assert_eq!(
            s.join,
            JoinPolicy::AllowList(vec!["sip:alice@example.com".into()])
        );
        assert!(s.allows("sip:alice@EXAMPLE.com"));
        assert!(!s.allows("sip:bob@example.com"));
        assert!(rooms[1].settings().unwrap().allows("sip:anyone@x"));
    }

    #[test]
    fn every_bad_sip_or_room_value_names_its_key() {
        for (text, key) in [
            ("[sip]\nudp = []\ntcp = []\n", "sip.udp"),
            ("[sip]\ntls = [\"127.0.0.1:5061\"]\n", "sip.tls"),
            ("[sip]\ndomains = [\"a b\"]\n", "sip.domains"),
            ("[sip]\nmin_expires = 0\n", "sip.min_expires"),
            ("[sip]\ndefault_expires = 10\n", "sip.default_expires"),
            ("[sip]\nidle_timeout_secs = 60\n", "sip.idle_timeout_secs"),
            ("[sip]\nthreads = 0\n", "sip.threads"),
            ("[[rooms]]\nuri = \"demo\"\n", "rooms.uri"),
            ("[[rooms]]\nuri = \"sip:example.com\"\n", "rooms.uri"),
            (
                "[[rooms]]\nuri = \"sip:a@x\"\nnicknames = \"maybe\"\n",
                "rooms.nicknames",
            ),
            (
                "[[rooms]]\nuri = \"sip:a@x\"\njoin = \"closed\"\n",
                "rooms.join",
            ),
            (
                "[[rooms]]\nuri = \"sip:a@x\"\njoin = \"allow-list\"\n",
                "rooms.allow",
            ),
            (
                "[[rooms]]\nuri = \"sip:a@x\"\nallow = [\"sip:b@x\"]\n",
                "rooms.allow",
            ),
            (
                "[[rooms]]\nuri = \"sip:a@x\"\nmax_members = 0\n",
                "rooms.max_members",
            ),
            (
                "[[rooms]]\nuri = \"sip:a@x\"\nsetup = \"sideways\"\n",
                "rooms.setup",
            ),
            (
                "[[rooms]]\nuri = \"sip:a@x\"\naccept_wrapped_types = []\n",
                "rooms.accept_wrapped_types",
            ),
            (
                "[[rooms]]\nuri = \"sip:a@x\"\nnickname_scope = \"galaxy\"\n",
                "rooms.nickname_scope",
            ),
            (
                "[[rooms]]\nuri = \"sip:a@x\"\n[[rooms]]\nuri = \"sip:a@y\"\n",
                "rooms.uri",
            ),
        ] {
            let e = err(text);
            assert!(e.starts_with(key), "{text:?} gave {e}");
        }
        let e = err("[[rooms]]\nuri = \"sip:a@x\"\ncolour = \"red\"\n");
        assert!(e.contains("colour"), "{e}");
    }
}
