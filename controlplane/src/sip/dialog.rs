//! Dialog state (RFC 3261 §12) for INVITE and SUBSCRIBE dialogs (RFC 6665 §4.1.2): identity,
//! CSeq spaces, remote target and route set, and building in-dialog requests (BYE, NOTIFY, re-
//! INVITE). Sans-IO: the caller sends what it builds.

use super::wire::{Builder, HeaderName, Message, NameAddr, ParseError};

/// Dialog identifier: Call-ID plus local and remote tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// What created the dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogKind {
    /// INVITE dialog.
    Invite,
    /// SUBSCRIBE dialog (with its Event package).
    Subscribe,
}

/// One dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Identity.
    pub id: DialogId,
    /// What created it.
    pub kind: DialogKind,
    /// Our URI (with display name), as sent in From of our requests.
    pub local_uri: String,
    /// The peer's URI, as sent in To of our requests.
    pub remote_uri: String,
    /// Where in-dialog requests go (the peer's Contact URI).
    pub remote_target: String,
    /// Route set, in the order our requests carry it.
    pub route_set: Vec<String>,
    /// Last CSeq we used.
    pub local_seq: u32,
    /// Highest CSeq received from the peer.
    pub remote_seq: Option<u32>,
    /// Event header value for SUBSCRIBE dialogs.
    pub event: Option<String>,
}

/// Why an in-dialog request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// A header needed to build the dialog is missing or malformed.
    #[error("cannot build dialog: {0}")]
    Parse(#[from] ParseError),
    /// No Contact in a dialog-forming message.
    #[error("missing Contact")]
    NoContact,
    /// CSeq lower than or equal to one already seen (RFC 3261 §12.2.2 ⇒ 500).
    #[error("CSeq out of order")]
    CSeqOutOfOrder,
}

fn contact_uri(msg: &Message) -> Result<String, DialogError> {
    let c = msg
        .list(HeaderName::Contact)
        .next()
        .ok_or(DialogError::NoContact)?;
    Ok(NameAddr::parse(c)?.uri.raw.to_string())
}

fn strip_tag(na: &NameAddr<'_>) -> String {
    // Keep display name, URI and params except the tag (we re-add tags explicitly).
    let mut s = na.addr_raw.to_string();
    for p in na.params.iter() {
        if !p.name.eq_ignore_ascii_case("tag") {
            s.push(';');
            s.push_str(p.raw);
        }
    }
    s
}

impl Dialog {
    /// UAS side (§12.1.1): from a dialog-forming request we answer with a 2xx carrying
    /// `local_tag`. Record-Route is taken in order.
    pub fn uas(req: &Message, local_tag: &str) -> Result<Dialog, DialogError> {
        let from = req.from_hdr()?;
        let to = req.to_hdr()?;
        let cseq = req.cseq()?;
        let kind = if cseq.method == "SUBSCRIBE" {
            DialogKind::Subscribe
        } else {
            DialogKind::Invite
        };
        Ok(Dialog {
            id: DialogId {
                call_id: req.call_id().unwrap_or("").to_string(),
                local_tag: local_tag.to_string(),
                remote_tag: from.tag().unwrap_or("").to_string(),
            },
            kind,
            local_uri: strip_tag(&to),
            remote_uri: strip_tag(&from),
            remote_target: contact_uri(req)?,
            route_set: req
                .list(HeaderName::RecordRoute)
                .map(str::to_string)
                .collect(),
            local_seq: 0,
            remote_seq: Some(cseq.seq),
            event: req.value(HeaderName::Event).map(str::to_string),
        })
    }

    /// UAC side (§12.1.2): from our request and the 2xx (or NOTIFY-creating) response.
    /// Record-Route is reversed.
    pub fn uac(req: &Message, resp: &Message) -> Result<Dialog, DialogError> {
        let from = req.from_hdr()?;
        let to = resp.to_hdr()?;
        let cseq = req.cseq()?;
        let mut route_set: Vec<String> = resp
            .list(HeaderName::RecordRoute)
            .map(str::to_string)
            .collect();
        route_set.reverse();
        Ok(Dialog {
            id: DialogId {
                call_id: req.call_id().unwrap_or("").to_string(),
                local_tag: from.tag().unwrap_or("").to_string(),
                remote_tag: to.tag().unwrap_or("").to_string(),
            },
            kind: if cseq.method == "SUBSCRIBE" {
                DialogKind::Subscribe
            } else {
                DialogKind::Invite
            },
            local_uri: strip_tag(&from),
            remote_uri: strip_tag(&to),
            remote_target: contact_uri(resp)?,
            route_set,
            local_seq: cseq.seq,
            remote_seq: None,
            event: req.value(HeaderName::Event).map(str::to_string),
        })
    }

    /// The dialog id an incoming in-dialog request belongs to (from our point of view).
    pub fn id_of_request(req: &Message) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.call_id()?.to_string(),
            local_tag: req.to_hdr().ok()?.tag()?.to_string(),
            remote_tag: req.from_hdr().ok()?.tag().unwrap_or("").to_string(),
        })
    }

    /// Checks and records the CSeq of an incoming in-dialog request (ACK and CANCEL excluded).
    pub fn accept_remote_cseq(&mut self, req: &Message) -> Result<(), DialogError> {
        let seq = req.cseq()?.seq;
        if let Some(r) = self.remote_seq {
            if seq <= r {
                return Err(DialogError::CSeqOutOfOrder);
            }
        }
        self.remote_seq = Some(seq);
        // A target refresh (re-INVITE, UPDATE, SUBSCRIBE, NOTIFY) may change the remote target.
        if let Ok(t) = contact_uri(req) {
            self.remote_target = t;
        }
        Ok(())
    }

    /// Starts an in-dialog request (§12.2.1.1) with the next CSeq. The caller adds Via (with a
    /// new branch), Contact, method-specific headers, and finishes with a body. Loose routing
    /// only: the Request-URI is the remote target and the route set becomes Route.
    pub fn request(&mut self, method: &str) -> Builder {
        if method != "ACK" && method != "CANCEL" {
            self.local_seq = self.local_seq.wrapping_add(1);
        }
        let mut b = Builder::request(method, &self.remote_target);
        for r in &self.route_set {
            b.header("Route", r);
        }
        b.header_fmt(
            "From",
            format_args!("{};tag={}", self.local_uri, self.id.local_tag),
        );
        b.header_fmt(
            "To",
            format_args!("{};tag={}", self.remote_uri, self.id.remote_tag),
        );
        b.header("Call-ID", &self.id.call_id);
        b.header_fmt("CSeq", format_args!("{} {}", self.local_seq, method));
        b.header("Max-Forwards", "70");
        if let (DialogKind::Subscribe, Some(e)) = (self.kind, &self.event) {
            if method == "NOTIFY" {
                b.header("Event", e);
            }
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::wire::{response_to, Framing, Limits};
    use bytes::Bytes;

    fn parse(s: &str) -> Message {
        Message::parse(
            Bytes::from(s.to_string()),
            Framing::Datagram,
            &Limits::default(),
        )
        .unwrap()
    }

    const SUB: &str =
        "SUBSCRIBE sip:room@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKs\r\n\
Record-Route: <sip:p2.example.com;lr>\r\nRecord-Route: <sip:p1.example.com;lr>\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=ft\r\nTo: <sip:room@example.com>\r\nCall-ID: sub1\r\n\
CSeq: 10 SUBSCRIBE\r\nEvent: conference\r\nContact: <sip:alice@192.0.2.1;transport=tcp;ob>\r\n\
Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn uas_subscribe_dialog_builds_notify() {
        let req = parse(SUB);
        let mut d = Dialog::uas(&req, "tt").unwrap();
        assert_eq!(d.kind, DialogKind::Subscribe);
        assert_eq!(d.remote_target, "sip:alice@192.0.2.1;transport=tcp;ob");
        assert_eq!(
            d.route_set,
            ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
        );
        let mut b = d.request("NOTIFY");
        b.header("Via", "SIP/2.0/TCP 192.0.2.9;branch=z9hG4bKn");
        b.header("Subscription-State", "active;expires=600");
        let n = parse(std::str::from_utf8(&b.finish(None, b"")).unwrap());
        n.validate().unwrap();
        assert_eq!(n.request_uri(), "sip:alice@192.0.2.1;transport=tcp;ob");
        assert_eq!(n.to_hdr().unwrap().tag(), Some("ft"));
        assert_eq!(n.to_hdr().unwrap().display, Some("\"Alice\""));
        assert_eq!(n.from_hdr().unwrap().tag(), Some("tt"));
        assert_eq!(n.cseq().unwrap().seq, 1);
        assert_eq!(n.value(HeaderName::Event), Some("conference"));
        assert_eq!(n.list(HeaderName::Route).count(), 2);
        assert!(
            Dialog::id_of_request(&req).is_none(),
            "no To tag: not in a dialog"
        );
        let id = Dialog::id_of_request(&n).unwrap();
        assert_eq!(
            (id.local_tag.as_str(), id.remote_tag.as_str()),
            ("ft", "tt")
        );
    }

    #[test]
    fn uac_dialog_reverses_route_set_and_orders_cseq() {
        let req = parse(
            &SUB.replace("SUBSCRIBE", "INVITE")
                .replace("Record-Route", "X-RR"),
        );
        let mut resp = response_to(&req, 200, None, Some("rt"), None);
        resp.header(
            "Record-Route",
            "<sip:p2.example.com;lr>, <sip:p1.example.com;lr>",
        );
        resp.header("Contact", "<sip:bob@192.0.2.5>");
        let resp = parse(std::str::from_utf8(&resp.finish(None, b"")).unwrap());
        let mut d = Dialog::uac(&req, &resp).unwrap();
        assert_eq!(d.kind, DialogKind::Invite);
        assert_eq!(
            d.route_set,
            ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
        );
        assert_eq!(d.remote_target, "sip:bob@192.0.2.5");
        assert_eq!(d.id.remote_tag, "rt");
        let bye = d.request("BYE");
        let bye = parse(std::str::from_utf8(&bye.finish(None, b"")).unwrap());
        assert_eq!(bye.cseq().unwrap().seq, 11);
        // Remote CSeq ordering.
        let in1 = parse(&SUB.replace("CSeq: 10 SUBSCRIBE", "CSeq: 5 SUBSCRIBE"));
        assert!(d.accept_remote_cseq(&in1).is_ok());
        assert_eq!(d.accept_remote_cseq(&in1), Err(DialogError::CSeqOutOfOrder));
    }
}
