//! What the user chooses on the command line: the room, the nickname, how to reach the room's
//! SIP server and who we are. `clap` derives the parser so that `msrpctl chat` can flatten
//! the same options into its own subcommand.

use std::fmt;

use crate::sip::wire::Uri;

/// The SIP transport towards the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SipTransportKind {
    /// SIP over TCP (the MSRP connection is TCP anyway).
    #[default]
    Tcp,
    /// SIP over UDP (with RFC 3261 retransmissions).
    Udp,
}

impl SipTransportKind {
    /// The Via transport token.
    pub fn via_token(self) -> &'static str {
        match self {
            SipTransportKind::Tcp => "TCP",
            SipTransportKind::Udp => "UDP",
        }
    }

    /// The `transport=` URI parameter.
    pub fn uri_param(self) -> &'static str {
        match self {
            SipTransportKind::Tcp => "tcp",
            SipTransportKind::Udp => "udp",
        }
    }
}

impl fmt::Display for SipTransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.via_token())
    }
}

/// `on` / `off` switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnOff {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Options of a chat client session.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatOptions {
    /// The chat room's SIP URI, e.g. sip:demo@127.0.0.1:5060 (the `sip:` may be left out).
    #[arg(value_name = "ROOM-URI")]
    pub room: String,
    /// Nickname to ask the room for (RFC 7701 §7); without it others see your SIP URI.
    #[arg(long, value_name = "NAME")]
    pub nick: Option<String>,
    /// Where to send SIP requests (default: the room URI's host and port, 5060 without one).
    #[arg(long, value_name = "HOST:PORT")]
    pub proxy: Option<String>,
    /// SIP transport.
    #[arg(long, value_enum, default_value_t = SipTransportKind::Tcp)]
    pub transport: SipTransportKind,
    /// Our SIP address of record (default: sip:<nick>@<room host>).
    #[arg(long, value_name = "AOR")]
    pub user: Option<String>,
    /// Password for SIP digest authentication (user name: the user part of the AOR).
    #[arg(long, value_name = "P")]
    pub password: Option<String>,
    /// Plain lines in, plain lines out, no prompt or terminal control codes (automatic when
    /// stdin is not a terminal).
    #[arg(long)]
    pub line_mode: bool,
    /// Whether we accept private messages (the `private-messages` token of a=chatroom).
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    pub private_messages: OnOff,
    /// Seconds to wait for the room at each step (SIP answer, MSRP connection).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
}

impl ChatOptions {
    /// Options with defaults for a room (tests and embedding).
    pub fn new(room: impl Into<String>) -> Self {
        ChatOptions {
            room: room.into(),
            nick: None,
            proxy: None,
            transport: SipTransportKind::Tcp,
            user: None,
            password: None,
            line_mode: true,
            private_messages: OnOff::On,
            timeout: 10,
        }
    }
}

/// The room URI split into what the client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomAddress {
    /// The URI as dialled (Request-URI and To of the INVITE and SUBSCRIBE).
    pub uri: String,
    /// Host part (brackets kept for IPv6).
    pub host: String,
    /// Port, 5060 when absent.
    pub port: u16,
}

impl RoomAddress {
    /// Parses `sip:room@host[:port]` (a missing `sip:` is added).
    pub fn parse(s: &str) -> Result<RoomAddress, String> {
        let s = s.trim();
        let full = if s.contains(':')
            && (s.to_ascii_lowercase().starts_with("sip:")
                || s.to_ascii_lowercase().starts_with("sips:"))
        {
            s.to_string()
        } else {
            format!("sip:{s}")
        };
        let uri = Uri::parse(&full).map_err(|_| format!("not a SIP URI: {s:?}"))?;
        if !uri.is_sip() || uri.host.is_empty() {
            return Err(format!("not a SIP URI: {s:?}"));
        }
        if uri.scheme.eq_ignore_ascii_case("sips") {
            return Err("sips: rooms (TLS) are not supported by this client".into());
        }
        Ok(RoomAddress {
            host: uri.host.to_string(),
            port: uri.port.unwrap_or(5060),
            uri: full,
        })
    }
}

/// Parses `HOST:PORT` (`[v6]:port` for IPv6); a missing port means 5060.
pub fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("expected HOST:PORT, got {s:?}");
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => 5060,
            None => return Err(bad()),
        };
        return Ok((format!("[{h}]"), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') => {
            Ok((h.to_string(), p.parse().map_err(|_| bad())?))
        }
        None if !s.is_empty() => Ok((s.to_string(), 5060)),
        _ => Err(bad()),
    }
}

/// A SIP user part made of the nickname's unreserved characters (`guest` when none are left).
pub fn user_part_from_nick(nick: Option<&str>) -> String {
    let u: String = nick
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '!' | '~'))
        .collect();
    if u.is_empty() {
        "guest".into()
    } else {
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_uris_get_a_scheme_and_a_default_port() {
        let r = RoomAddress::parse("demo@127.0.0.1").unwrap();
        assert_eq!(
            (r.uri.as_str(), r.host.as_str(), r.port),
            ("sip:demo@127.0.0.1", "127.0.0.1", 5060)
        );
        let r = RoomAddress::parse("sip:room@[::1]:5070").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("[::1]", 5070));
        assert!(RoomAddress::parse("sips:room@example.com").is_err());
        assert!(RoomAddress::parse("sip:").is_err());
        assert!(RoomAddress::parse("").is_err());
    }

    #[test]
    fn host_port_pairs() {
        assert_eq!(
            split_host_port("127.0.0.1:5070").unwrap(),
            ("127.0.0.1".into(), 5070)
        );
        assert_eq!(split_host_port("[::1]:1").unwrap(), ("[::1]".into(), 1));
        assert_eq!(
            split_host_port("example.com").unwrap(),
            ("example.com".into(), 5060)
        );
        assert!(split_host_port("host:notaport").is_err());
        assert!(split_host_port(":5060").is_err());
    }

    #[test]
    fn user_parts_keep_only_unreserved_characters() {
        assert_eq!(user_part_from_nick(Some("Zoë the 1st")), "Zothe1st");
        assert_eq!(user_part_from_nick(Some("@@")), "guest");
        assert_eq!(user_part_from_nick(None), "guest");
    }
}
