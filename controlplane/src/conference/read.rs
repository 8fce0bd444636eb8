//! Parses conference-info documents (for test and chat clients building a roster).
//!
//! quick-xml tokenizes and resolves namespaces; a small bounded tree is built first and then
//! mapped onto the model. Elements and attributes of unknown namespaces are ignored (RFC 4575
//! `##other` extensibility); DTDs and unknown entities are refused.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use thiserror::Error;

use super::model::*;

/// Resource limits for parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Maximum document size in octets.
    pub max_bytes: usize,
    /// Maximum element nesting.
    pub max_depth: usize,
    /// Maximum number of elements.
    pub max_elements: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            max_depth: 32,
            max_elements: 100_000,
        }
    }
}

/// Why a conference-info document was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConferenceParseError {
    /// Larger than the limit.
    #[error("document larger than {0} octets")]
    TooLarge(usize),
    /// Nested deeper than the limit.
    #[error("elements nested deeper than {0}")]
    TooDeep(usize),
    /// More elements than the limit.
    #[error("more than {0} elements")]
    TooManyElements(usize),
    /// Not UTF-8 (or declares another encoding).
    #[error("document is not UTF-8")]
    NotUtf8,
    /// A `<!DOCTYPE>`.
    #[error("DTDs are not accepted")]
    DocType,
    /// An entity reference other than the XML predefined ones.
    #[error("unknown entity reference")]
    UnknownEntity,
    /// Not well-formed.
    #[error("malformed XML: {0}")]
    Xml(String),
    /// The root is not `<conference-info>` in the RFC 4575 namespace.
    #[error("root element is not conference-info")]
    WrongRoot,
    /// A required attribute is missing.
    #[error("<{element}> lacks attribute {attribute}")]
    MissingAttribute {
        /// Element name.
        element: &'static str,
        /// Attribute name.
        attribute: &'static str,
    },
    /// A value does not follow the schema.
    #[error("<{element}>: {reason}")]
    InvalidValue {
        /// Element name.
        element: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

fn xml_err(e: impl std::fmt::Display) -> ConferenceParseError {
    ConferenceParseError::Xml(e.to_string())
}

#[derive(Debug, Default)]
struct Node {
    ns: Option<String>,
    name: String,
    attrs: Vec<(Option<String>, String, String)>,
    children: Vec<Node>,
    text: String,
}

impl Node {
    fn is(&self, name: &str) -> bool {
        self.ns.as_deref() == Some(NS_CONFERENCE_INFO) && self.name == name
    }

    fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> {
        self.children.iter().filter(move |c| c.is(name))
    }

    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.is(name))
    }

    fn child_text(&self, name: &str) -> Option<String> {
        self.child(name).map(|c| c.text.clone())
    }

    /// An unqualified attribute (RFC 4575 attributes are unqualified).
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(ns, n, _)| ns.is_none() && n == name)
            .map(|(_, _, v)| v.as_str())
    }

    fn attr_ns(&self, ns: &str, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(a_ns, n, _)| a_ns.as_deref() == Some(ns) && n == name)
            .map(|(_, _, v)| v.as_str())
    }

    fn state(&self, element: &'static str) -> Result<ElementState, ConferenceParseError> {
        match self.attr("state") {
            None => Ok(ElementState::Full),
            Some(s) => ElementState::parse(s).ok_or(ConferenceParseError::InvalidValue {
                element,
                reason: "bad state",
            }),
        }
    }
}

fn resolved(ns: ResolveResult<'_>) -> Option<String> {
    match ns {
        ResolveResult::Bound(n) => Some(String::from_utf8_lossy(n.as_ref()).into_owned()),
        _ => None,
    }
}

fn build_tree(input: &str, limits: &XmlLimits) -> Result<Node, ConferenceParseError> {
    let mut reader = NsReader::from_str(input);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<Node> = None;
    let mut elements = 0usize;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(xml_err)?;
        let ns = resolved(ns);
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(xml_err("content after the root element"));
                }
                if stack.len() >= limits.max_depth {
                    return Err(ConferenceParseError::TooDeep(limits.max_depth));
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(ConferenceParseError::TooManyElements(limits.max_elements));
                }
                let mut node = Node {
                    ns,
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                };
                for a in e.attributes() {
                    let a = a.map_err(xml_err)?;
                    let key = a.key;
                    if key.as_ref() == b"xmlns" || key.as_ref().starts_with(b"xmlns:") {
                        continue;
                    }
                    let (a_ns, local) = reader.resolver().resolve_attribute(key);
                    let a_ns = resolved(a_ns);
                    let local = String::from_utf8_lossy(local.as_ref()).into_owned();
                    let value = a
                        .unescape_value()
                        .map_err(|_| ConferenceParseError::UnknownEntity)?
                        .into_owned();
                    node.attrs.push((a_ns, local, value));
                }
                if matches!(event, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => root = Some(node),
                    }
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(|| xml_err("unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content().map_err(xml_err)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(xml_err("text outside the root element")),
                }
            }
            Event::CData(c) => {
                let text = c.decode().map_err(xml_err)?;
                let top = stack
                    .last_mut()
                    .ok_or_else(|| xml_err("CDATA outside the root element"))?;
                top.text.push_str(&text);
            }
            Event::GeneralRef(r) => {
                let top = stack
                    .last_mut()
                    .ok_or_else(|| xml_err("reference outside the root element"))?;
                if r.is_char_ref() {
                    let c = r
                        .resolve_char_ref()
                        .map_err(xml_err)?
                        .ok_or(ConferenceParseError::UnknownEntity)?;
                    top.text.push(c);
                } else {
                    let name = r.decode().map_err(xml_err)?;
                    let v = resolve_predefined_entity(&name)
                        .ok_or(ConferenceParseError::UnknownEntity)?;
                    top.text.push_str(v);
                }
            }
            Event::Decl(d) => {
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(xml_err)?;
                    if !enc.eq_ignore_ascii_case(b"utf-8") {
                        return Err(ConferenceParseError::NotUtf8);
                    }
                }
            }
            Event::DocType(_) => return Err(ConferenceParseError::DocType),
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(xml_err("unclosed element"));
    }
    root.ok_or_else(|| xml_err("no root element"))
}

/// Parses a conference-info document with default limits.
pub fn parse_conference_info(input: &[u8]) -> Result<ConferenceInfo, ConferenceParseError> {
    parse_conference_info_with_limits(input, &XmlLimits::default())
}

/// Parses a conference-info document.
pub fn parse_conference_info_with_limits(
    input: &[u8],
    limits: &XmlLimits,
) -> Result<ConferenceInfo, ConferenceParseError> {
    if input.len() > limits.max_bytes {
        return Err(ConferenceParseError::TooLarge(limits.max_bytes));
    }
    let text = std::str::from_utf8(input).map_err(|_| ConferenceParseError::NotUtf8)?;
    let root = build_tree(text, limits)?;
    if !root.is("conference-info") {
        return Err(ConferenceParseError::WrongRoot);
    }
    let entity = root
        .attr("entity")
        .ok_or(ConferenceParseError::MissingAttribute {
            element: "conference-info",
            attribute: "entity",
        })?
        .to_owned();
    let version = match root.attr("version") {
        None => None,
        Some(v) => Some(
            v.trim()
                .parse()
                .map_err(|_| ConferenceParseError::InvalidValue {
                    element: "conference-info",
                    reason: "version is not a 32-bit unsigned integer",
                })?,
        ),
    };
    Ok(ConferenceInfo {
        entity,
        state: root.state("conference-info")?,
        version,
        description: root
            .child("conference-description")
            .map(description)
            .transpose()?,
        conference_state: root
            .child("conference-state")
            .map(conference_state)
            .transpose()?,
        users: root.child("users").map(users).transpose()?,
    })
}

fn number(n: &Node, element: &'static str) -> Result<u32, ConferenceParseError> {
    n.text
        .trim()
        .parse()
        .map_err(|_| ConferenceParseError::InvalidValue {
            element,
            reason: "not an unsigned integer",
        })
}

fn boolean(n: &Node, element: &'static str) -> Result<bool, ConferenceParseError> {
    match n.text.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ConferenceParseError::InvalidValue {
            element,
            reason: "not a boolean",
        }),
    }
}

fn uri_entries(n: Option<&Node>) -> Result<Vec<UriEntry>, ConferenceParseError> {
    let Some(n) = n else {
        return Ok(Vec::new());
    };
    n.children("entry")
        .map(|e| {
            Ok(UriEntry {
                uri: e
                    .child_text("uri")
                    .ok_or(ConferenceParseError::InvalidValue {
                        element: "entry",
                        reason: "missing <uri>",
                    })?
                    .trim()
                    .to_owned(),
                display_text: e.child_text("display-text"),
                purpose: e.child_text("purpose").map(|p| p.trim().to_owned()),
            })
        })
        .collect()
}

fn description(n: &Node) -> Result<ConferenceDescription, ConferenceParseError> {
    let available_media = match n.child("available-media") {
        Some(am) => am
            .children("entry")
            .map(|e| {
                Ok(AvailableMedia {
                    label: e
                        .attr("label")
                        .ok_or(ConferenceParseError::MissingAttribute {
                            element: "entry",
                            attribute: "label",
                        })?
                        .to_owned(),
                    display_text: e.child_text("display-text"),
                    media_type: e.child_text("type").unwrap_or_default().trim().to_owned(),
                    status: e.child("status").map(|s| MediaStatus::parse(&s.text)),
                })
            })
            .collect::<Result<_, ConferenceParseError>>()?,
        None => Vec::new(),
    };
    Ok(ConferenceDescription {
        display_text: n.child_text("display-text"),
        subject: n.child_text("subject"),
        free_text: n.child_text("free-text"),
        conf_uris: uri_entries(n.child("conf-uris"))?,
        service_uris: uri_entries(n.child("service-uris"))?,
        maximum_user_count: n
            .child("maximum-user-count")
            .map(|c| number(c, "maximum-user-count"))
            .transpose()?,
        available_media,
    })
}

fn conference_state(n: &Node) -> Result<ConferenceStateInfo, ConferenceParseError> {
    Ok(ConferenceStateInfo {
        user_count: n
            .child("user-count")
            .map(|c| number(c, "user-count"))
            .transpose()?,
        active: n
            .child("active")
            .map(|c| boolean(c, "active"))
            .transpose()?,
        locked: n
            .child("locked")
            .map(|c| boolean(c, "locked"))
            .transpose()?,
    })
}

fn users(n: &Node) -> Result<Users, ConferenceParseError> {
    Ok(Users {
        state: n.state("users")?,
        users: n.children("user").map(user).collect::<Result<_, _>>()?,
    })
}

fn user(n: &Node) -> Result<User, ConferenceParseError> {
    let entity = n
        .attr("entity")
        .ok_or(ConferenceParseError::MissingAttribute {
            element: "user",
            attribute: "entity",
        })?
        .trim()
        .to_owned();
    // RFC 7701 §9.6 writes xcon:nickname; an unqualified nickname is tolerated on input.
    let nickname = n
        .attr_ns(NS_XCON, "nickname")
        .or_else(|| n.attr("nickname"))
        .map(str::to_owned);
    Ok(User {
        entity,
        state: n.state("user")?,
        nickname,
        display_text: n.child_text("display-text"),
        roles: n
            .child("roles")
            .map(|r| {
                r.children("entry")
                    .map(|e| e.text.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default(),
        endpoints: n
            .children("endpoint")
            .map(endpoint)
            .collect::<Result<_, _>>()?,
    })
}

fn endpoint(n: &Node) -> Result<Endpoint, ConferenceParseError> {
    Ok(Endpoint {
        entity: n.attr("entity").map(|e| e.trim().to_owned()),
        state: n.state("endpoint")?,
        display_text: n.child_text("display-text"),
        status: n.child("status").map(|s| EndpointStatus::parse(&s.text)),
        joining_method: n
            .child("joining-method")
            .map(|s| JoiningMethod::parse(&s.text)),
        disconnection_method: n
            .child("disconnection-method")
            .map(|s| DisconnectionMethod::parse(&s.text)),
        media: n
            .children("media")
            .map(|m| {
                Ok(Media {
                    id: m
                        .attr("id")
                        .ok_or(ConferenceParseError::MissingAttribute {
                            element: "media",
                            attribute: "id",
                        })?
                        .to_owned(),
                    display_text: m.child_text("display-text"),
                    media_type: m.child_text("type").map(|t| t.trim().to_owned()),
                    label: m.child_text("label"),
                    src_id: m.child_text("src-id"),
                    status: m.child("status").map(|s| MediaStatus::parse(&s.text)),
                })
            })
            .collect::<Result<_, ConferenceParseError>>()?,
    })
}
