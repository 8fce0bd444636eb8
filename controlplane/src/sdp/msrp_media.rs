//! Typed MSRP views over a media description: RFC 4975 §8 attributes, RFC 6135/4145
//! `a=setup`, RFC 6714 `a=msrp-cema`, RFC 7701 §8 `a=chatroom`, RFC 8122 `a=fingerprint` and the
//! RFC 8866 direction attributes.

use std::fmt;

use super::error::AttributeError;
use super::format_list::FormatList;
use super::model::{Attribute, Connection, MediaDescription, SessionDescription};
use super::msrp_uri::{Host, MsrpUri};

/// The two SDP protos that carry MSRP (RFC 4975 §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsrpProto {
    /// `TCP/MSRP`.
    Tcp,
    /// `TCP/TLS/MSRP`.
    Tls,
}

impl MsrpProto {
    /// Recognises the proto field (ASCII case-insensitive).
    pub fn parse(proto: &str) -> Option<MsrpProto> {
        if proto.eq_ignore_ascii_case("TCP/MSRP") {
            Some(MsrpProto::Tcp)
        } else if proto.eq_ignore_ascii_case("TCP/TLS/MSRP") {
            Some(MsrpProto::Tls)
        } else {
            None
        }
    }

    /// The proto as written on the `m=` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MsrpProto::Tcp => "TCP/MSRP",
            MsrpProto::Tls => "TCP/TLS/MSRP",
        }
    }

    /// Whether the stream runs over TLS.
    pub fn is_tls(self) -> bool {
        self == MsrpProto::Tls
    }
}

/// RFC 4145 `a=setup` roles usable by MSRP (`holdconn` is read as "absent", RFC 6135 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetupRole {
    /// Will open the connection.
    Active,
    /// Will accept the connection.
    Passive,
    /// Either; the answerer decides.
    ActPass,
}

impl SetupRole {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            SetupRole::Active => "active",
            SetupRole::Passive => "passive",
            SetupRole::ActPass => "actpass",
        }
    }

    /// `a=setup:<role>`.
    pub fn to_attribute(self) -> Attribute {
        Attribute::value("setup", self.as_str())
    }
}

/// RFC 7701 §8 `a=chatroom` capabilities: a declaration of support ∩ policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatroomCaps {
    /// `nickname` (RFC 7701 §7); the prose's `nicknames` is accepted too.
    pub nicknames: bool,
    /// `private-messages` (RFC 7701 §6.2).
    pub private_messages: bool,
    /// Other tokens (IETF `standard-token` or vendor `private-token`), in order, no duplicates.
    pub extensions: Vec<String>,
}

impl ChatroomCaps {
    /// Parses the attribute value (`None` for a bare `a=chatroom`).
    pub fn parse(value: Option<&str>) -> Result<Self, AttributeError> {
        let mut caps = ChatroomCaps::default();
        for tok in value
            .unwrap_or("")
            .split([' ', '\t'])
            .filter(|t| !t.is_empty())
        {
            if !is_sip_token(tok) {
                return Err(AttributeError::new("chatroom", "bad chat-token"));
            }
            if tok.eq_ignore_ascii_case("nickname") || tok.eq_ignore_ascii_case("nicknames") {
                caps.nicknames = true;
            } else if tok.eq_ignore_ascii_case("private-messages") {
                caps.private_messages = true;
            } else if !caps.extensions.iter().any(|e| e.eq_ignore_ascii_case(tok)) {
                // A token "MUST NOT appear more than once"; a repeat carries no information, so
                // it is dropped rather than failing the whole offer.
                caps.extensions.push(tok.to_owned());
            }
        }
        Ok(caps)
    }

    /// The tokens both sides allow: `self` ∩ `other` (for support ∩ policy).
    pub fn intersect(&self, other: &ChatroomCaps) -> ChatroomCaps {
        ChatroomCaps {
            nicknames: self.nicknames && other.nicknames,
            private_messages: self.private_messages && other.private_messages,
            extensions: self
                .extensions
                .iter()
                .filter(|e| other.extensions.iter().any(|o| o.eq_ignore_ascii_case(e)))
                .cloned()
                .collect(),
        }
    }

    /// `a=chatroom[:tokens]`, emitting the ABNF's singular `nickname`.
    pub fn to_attribute(&self) -> Attribute {
        let mut toks: Vec<&str> = Vec::new();
        if self.nicknames {
            toks.push("nickname");
        }
        if self.private_messages {
            toks.push("private-messages");
        }
        toks.extend(self.extensions.iter().map(String::as_str));
        if toks.is_empty() {
            Attribute::property("chatroom")
        } else {
            Attribute::value("chatroom", toks.join(" "))
        }
    }
}

/// RFC 3261 `token`, which RFC 7701's chat-token builds on.
fn is_sip_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
                )
        })
}

/// RFC 8122 `a=fingerprint:<hash-func> <XX:XX:...>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hash function name, lower case (`sha-256`, ...).
    pub hash: String,
    /// Digest bytes.
    pub digest: Vec<u8>,
}

impl Fingerprint {
    /// Parses the attribute value.
    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let err = |r| AttributeError::new("fingerprint", r);
        let (hash, fp) = value
            .trim()
            .split_once([' ', '\t'])
            .ok_or(err("expected <hash-func> <fingerprint>"))?;
        if !is_sip_token(hash) {
            return Err(err("bad hash function"));
        }
        let mut digest = Vec::new();
        for pair in fp.trim().split(':') {
            let b = pair.as_bytes();
            if b.len() != 2 || !b.iter().all(u8::is_ascii_hexdigit) {
                return Err(err("fingerprint must be colon-separated hex pairs"));
            }
            let v = u8::from_str_radix(pair, 16).map_err(|_| err("bad hex"))?;
            digest.push(v);
        }
        Ok(Fingerprint {
            hash: hash.to_ascii_lowercase(),
            digest,
        })
    }

    /// `a=fingerprint:...` with upper-case hex (RFC 8122 §5).
    pub fn to_attribute(&self) -> Attribute {
        Attribute::value("fingerprint", self.to_string())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.hash)?;
        for (i, b) in self.digest.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// RFC 8866 §6.7 media direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `sendrecv` (the default).
    #[default]
    SendRecv,
    /// `sendonly`.
    SendOnly,
    /// `recvonly`.
    RecvOnly,
    /// `inactive`.
    Inactive,
}

impl Direction {
    fn from_name(name: &str) -> Option<Direction> {
        [
            ("sendrecv", Direction::SendRecv),
            ("sendonly", Direction::SendOnly),
            ("recvonly", Direction::RecvOnly),
            ("inactive", Direction::Inactive),
        ]
        .into_iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n))
        .map(|(_, d)| d)
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer takes for this offered direction (RFC 3264 §6.1).
    pub fn answer_to(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

fn direction_of(attrs: &[Attribute]) -> Option<Direction> {
    attrs
        .iter()
        .filter(|a| a.value.is_none())
        .find_map(|a| Direction::from_name(&a.name))
}

/// A typed view of one `m=` line of a session description, with session-level fallbacks where
/// the attribute may appear at either level.
#[derive(Debug, Clone, Copy)]
pub struct MsrpMedia<'a> {
    sdp: &'a SessionDescription,
    /// Index of the media description.
    pub index: usize,
    /// The media description itself.
    pub media: &'a MediaDescription,
}

impl SessionDescription {
    /// A typed MSRP view of media description `index` (any media; see [`MsrpMedia::proto`]).
    pub fn msrp_media(&self, index: usize) -> Option<MsrpMedia<'_>> {
        self.media.get(index).map(|media| MsrpMedia {
            sdp: self,
            index,
            media,
        })
    }
}

impl<'a> MsrpMedia<'a> {
    /// `Some` when the line is `m=message <port> TCP/MSRP|TCP/TLS/MSRP ...`.
    pub fn proto(&self) -> Option<MsrpProto> {
        if !self.media.line.media.eq_ignore_ascii_case("message") {
            return None;
        }
        MsrpProto::parse(&self.media.line.proto)
    }

    /// The `m=` port (0 = stream rejected or removed).
    pub fn port(&self) -> u16 {
        self.media.line.port
    }

    fn single(&self, name: &'static str) -> Result<Option<&'a Attribute>, AttributeError> {
        let mut it = self.media.attributes_named(name);
        let first = it.next();
        if it.next().is_some() {
            return Err(AttributeError::new(name, "appears more than once"));
        }
        Ok(first)
    }

    fn single_value(&self, name: &'static str) -> Result<Option<&'a str>, AttributeError> {
        match self.single(name)? {
            Some(Attribute { value: Some(v), .. }) => Ok(Some(v.as_str())),
            Some(_) => Err(AttributeError::new(name, "missing value")),
            None => Ok(None),
        }
    }

    /// `a=path` URIs, first hop first. Two `a=path` lines are an error: hop order would be a guess.
    pub fn path(&self) -> Result<Option<Vec<MsrpUri>>, AttributeError> {
        self.single_value("path")?
            .map(MsrpUri::parse_list)
            .transpose()
    }

    /// `a=accept-types`.
    pub fn accept_types(&self) -> Result<Option<FormatList>, AttributeError> {
        self.single_value("accept-types")?
            .map(|v| FormatList::parse(v, "accept-types"))
            .transpose()
    }

    /// `a=accept-wrapped-types`.
    pub fn accept_wrapped_types(&self) -> Result<Option<FormatList>, AttributeError> {
        self.single_value("accept-wrapped-types")?
            .map(|v| FormatList::parse(v, "accept-wrapped-types"))
            .transpose()
    }

    /// `a=max-size` in octets.
    pub fn max_size(&self) -> Result<Option<u64>, AttributeError> {
        match self.single_value("max-size")? {
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v
                .parse()
                .map(Some)
                .map_err(|_| AttributeError::new("max-size", "out of range")),
            Some(_) => Err(AttributeError::new("max-size", "must be digits")),
            None => Ok(None),
        }
    }

    /// `a=setup` (media level, else session level); `holdconn` reads as absent (RFC 6135).
    pub fn setup(&self) -> Result<Option<SetupRole>, AttributeError> {
        let media = self.single_value("setup")?;
        let value = match media {
            Some(v) => Some(v),
            None => self
                .sdp
                .attribute("setup")
                .map(|a| a.value.as_deref().unwrap_or("")),
        };
        match value.map(str::trim) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("active") => Ok(Some(SetupRole::Active)),
            Some(v) if v.eq_ignore_ascii_case("passive") => Ok(Some(SetupRole::Passive)),
            Some(v) if v.eq_ignore_ascii_case("actpass") => Ok(Some(SetupRole::ActPass)),
            Some(v) if v.eq_ignore_ascii_case("holdconn") => Ok(None),
            Some(_) => Err(AttributeError::new("setup", "unknown role")),
        }
    }

    /// Whether `a=msrp-cema` is present (RFC 6714 §5: media level).
    pub fn cema(&self) -> bool {
        self.media.has_attribute("msrp-cema")
    }

    /// `a=chatroom`; `None` when absent (the peer is not chat-room aware, RFC 7701 §8).
    pub fn chatroom(&self) -> Result<Option<ChatroomCaps>, AttributeError> {
        match self.single("chatroom")? {
            Some(a) => ChatroomCaps::parse(a.value.as_deref()).map(Some),
            None => Ok(None),
        }
    }

    /// `a=fingerprint` lines (media level, else session level).
    pub fn fingerprints(&self) -> Result<Vec<Fingerprint>, AttributeError> {
        let media: Vec<&Attribute> = self.media.attributes_named("fingerprint").collect();
        let attrs: Vec<&Attribute> = if media.is_empty() {
            self.sdp
                .attributes
                .iter()
                .filter(|a| a.is("fingerprint"))
                .collect()
        } else {
            media
        };
        attrs
            .into_iter()
            .map(|a| {
                Fingerprint::parse(
                    a.value
                        .as_deref()
                        .ok_or(AttributeError::new("fingerprint", "missing value"))?,
                )
            })
            .collect()
    }

    /// Direction (media level, else session level, else `sendrecv`).
    pub fn direction(&self) -> Direction {
        direction_of(&self.media.attributes)
            .or_else(|| direction_of(&self.sdp.attributes))
            .unwrap_or_default()
    }

    /// The effective `c=` line: the first media-level one, else the session-level one.
    pub fn connection(&self) -> Option<&'a Connection> {
        self.media
            .connections
            .first()
            .or(self.sdp.connection.as_ref())
    }

    /// The host of the effective `c=` line (multicast `/ttl` suffixes removed).
    pub fn connection_host(&self) -> Option<Host> {
        let c = self.connection()?;
        let addr = c.address.split('/').next().unwrap_or_default();
        Host::parse(addr)
    }
}

impl MediaDescription {
    /// Replaces every attribute named like `attr` by `attr` (appends when absent).
    pub fn set_attribute(&mut self, attr: Attribute) {
        match self.attributes.iter().position(|a| a.is(&attr.name)) {
            Some(i) => {
                let name = attr.name.clone();
                self.attributes[i] = attr;
                let mut seen = 0usize;
                self.attributes.retain(|a| {
                    if a.is(&name) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.attributes.push(attr),
        }
    }

    /// Removes every attribute with this name.
    pub fn remove_attribute(&mut self, name: &str) {
        self.attributes.retain(|a| !a.is(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatroom_tokens() {
        let c =
            ChatroomCaps::parse(Some("nickname private-messages com.example.chat.foo")).unwrap();
        assert!(c.nicknames && c.private_messages);
        assert_eq!(c.extensions, vec!["com.example.chat.foo".to_string()]);
        assert_eq!(
            c.to_attribute().to_string(),
            "chatroom:nickname private-messages com.example.chat.foo"
        );
        let plural = ChatroomCaps::parse(Some("nicknames")).unwrap();
        assert!(plural.nicknames && !plural.private_messages);
        let bare = ChatroomCaps::parse(None).unwrap();
        assert_eq!(bare, ChatroomCaps::default());
        assert_eq!(bare.to_attribute().to_string(), "chatroom");
        assert!(ChatroomCaps::parse(Some("nick\"name")).is_err());
        let dup = ChatroomCaps::parse(Some("x.y x.y nickname nickname")).unwrap();
        assert_eq!(dup.extensions.len(), 1);
    }

    #[test]
    fn chatroom_intersection() {
        let ours = ChatroomCaps {
            nicknames: true,
            private_messages: true,
            extensions: vec!["a.b".into(), "c".into()],
        };
        let policy = ChatroomCaps {
            nicknames: true,
            private_messages: false,
            extensions: vec!["C".into()],
        };
        let i = ours.intersect(&policy);
        assert!(i.nicknames && !i.private_messages);
        assert_eq!(i.extensions, vec!["c".to_string()]);
    }

    #[test]
    fn fingerprint_roundtrip() {
        let f = Fingerprint::parse("SHA-256 4a:AD:B9").unwrap();
        assert_eq!(f.hash, "sha-256");
        assert_eq!(f.digest, vec![0x4a, 0xad, 0xb9]);
        assert_eq!(f.to_string(), "sha-256 4A:AD:B9");
        assert!(Fingerprint::parse("sha-256").is_err());
        assert!(Fingerprint::parse("sha-256 4A:A").is_err());
        assert!(Fingerprint::parse("sha-256 4A::AD").is_err());
    }

    #[test]
    fn direction_answers() {
        assert_eq!(Direction::SendOnly.answer_to(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.answer_to(), Direction::SendOnly);
        assert_eq!(Direction::Inactive.answer_to(), Direction::Inactive);
    }
}
