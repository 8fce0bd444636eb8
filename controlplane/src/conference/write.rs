//! Serializes a [`ConferenceInfo`] to XML.
//!
//! Written by hand rather than through a writer crate: the document shape is fixed, the element
//! order must follow the RFC 4575 schema sequences, and escaping is the only subtle part, which
//! [`escape_text`] / [`escape_attr`] handle in one place. Characters XML 1.0 cannot carry at all
//! (most C0 controls, U+FFFE, U+FFFF) are replaced by U+FFFD.

use std::fmt::Write as _;

use super::model::*;

/// Serializes the document, with an XML declaration, UTF-8.
pub fn to_xml(doc: &ConferenceInfo) -> String {
    let mut w = Writer {
        out: String::with_capacity(512),
        depth: 0,
    };
    w.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut attrs = vec![
        ("xmlns", NS_CONFERENCE_INFO.to_owned()),
        ("xmlns:xcon", NS_XCON.to_owned()),
        ("entity", doc.entity.clone()),
        ("state", doc.state.as_str().to_owned()),
    ];
    if let Some(v) = doc.version {
        attrs.push(("version", v.to_string()));
    }
    w.open("conference-info", &attrs);
    if let Some(d) = &doc.description {
        w.description(d);
    }
    if let Some(s) = &doc.conference_state {
        w.open("conference-state", &[]);
        w.leaf_opt("user-count", s.user_count.map(|n| n.to_string()).as_deref());
        w.leaf_opt("active", s.active.map(bool_str));
        w.leaf_opt("locked", s.locked.map(bool_str));
        w.close("conference-state");
    }
    if let Some(u) = &doc.users {
        w.users(u);
    }
    w.close("conference-info");
    w.out
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

struct Writer {
    out: String,
    depth: usize,
}

impl Writer {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            let _ = write!(self.out, " {k}=\"{}\"", escape_attr(v));
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.start_tag(name, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        let _ = writeln!(self.out, "</{name}>");
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.start_tag(name, attrs);
        self.out.push_str("/>\n");
    }

    fn leaf(&mut self, name: &str, text: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{name}>{}</{name}>", escape_text(text));
    }

    fn leaf_opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.leaf(name, t);
        }
    }

    fn uris(&mut self, name: &str, entries: &[UriEntry]) {
        if entries.is_empty() {
            return;
        }
        self.open(name, &[]);
        for e in entries {
            self.open("entry", &[]);
            self.leaf("uri", &e.uri);
            self.leaf_opt("display-text", e.display_text.as_deref());
            self.leaf_opt("purpose", e.purpose.as_deref());
            self.close("entry");
        }
        self.close(name);
    }

    fn description(&mut self, d: &ConferenceDescription) {
        self.open("conference-description", &[]);
        self.leaf_opt("display-text", d.display_text.as_deref());
        self.leaf_opt("subject", d.subject.as_deref());
        self.leaf_opt("free-text", d.free_text.as_deref());
        self.uris("conf-uris", &d.conf_uris);
        self.uris("service-uris", &d.service_uris);
        self.leaf_opt(
            "maximum-user-count",
            d.maximum_user_count.map(|n| n.to_string()).as_deref(),
        );
        if !d.available_media.is_empty() {
            self.open("available-media", &[]);
            for m in &d.available_media {
                self.open("entry", &[("label", m.label.clone())]);
                self.leaf_opt("display-text", m.display_text.as_deref());
                self.leaf("type", &m.media_type);
                self.leaf_opt("status", m.status.as_ref().map(MediaStatus::as_str));
                self.close("entry");
            }
            self.close("available-media");
        }
        self.close("conference-description");
    }

    fn users(&mut self, u: &Users) {
        let attrs = [("state", u.state.as_str().to_owned())];
        if u.users.is_empty() {
            self.empty("users", &attrs);
            return;
        }
        self.open("users", &attrs);
        for user in &u.users {
            self.user(user);
        }
        self.close("users");
    }

    fn user(&mut self, u: &User) {
        let mut attrs = vec![
            ("entity", u.entity.clone()),
            ("state", u.state.as_str().to_owned()),
        ];
        if let Some(n) = &u.nickname {
            attrs.push(("xcon:nickname", n.clone()));
        }
        let has_children =
            u.display_text.is_some() || !u.roles.is_empty() || !u.endpoints.is_empty();
        if !has_children {
            self.empty("user", &attrs);
            return;
        }
        self.open("user", &attrs);
        self.leaf_opt("display-text", u.display_text.as_deref());
        if !u.roles.is_empty() {
            self.open("roles", &[]);
            for r in &u.roles {
                self.leaf("entry", r);
            }
            self.close("roles");
        }
        for e in &u.endpoints {
            self.endpoint(e);
        }
        self.close("user");
    }

    fn endpoint(&mut self, e: &Endpoint) {
        let mut attrs = Vec::new();
        if let Some(ent) = &e.entity {
            attrs.push(("entity", ent.clone()));
        }
        attrs.push(("state", e.state.as_str().to_owned()));
        self.open("endpoint", &attrs);
        self.leaf_opt("display-text", e.display_text.as_deref());
        self.leaf_opt("status", e.status.as_ref().map(EndpointStatus::as_str));
        self.leaf_opt(
            "joining-method",
            e.joining_method.as_ref().map(JoiningMethod::as_str),
        );
        self.leaf_opt(
            "disconnection-method",
            e.disconnection_method
                .as_ref()
                .map(DisconnectionMethod::as_str),
        );
        for m in &e.media {
            self.open("media", &[("id", m.id.clone())]);
            self.leaf_opt("display-text", m.display_text.as_deref());
            self.leaf_opt("type", m.media_type.as_deref());
            self.leaf_opt("label", m.label.as_deref());
            self.leaf_opt("src-id", m.src_id.as_deref());
            self.leaf_opt("status", m.status.as_ref().map(MediaStatus::as_str));
            self.close("media");
        }
        self.close("endpoint");
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escapes character data.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A raw CR would be normalised to LF by the reader.
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Escapes an attribute value (double-quoted); whitespace controls become character references
/// so that attribute-value normalisation does not turn them into spaces.
pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}
