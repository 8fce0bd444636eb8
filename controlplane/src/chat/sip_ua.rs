//! The SIP user agent of the chat client: builds the requests a participant sends (INVITE with
//! the SDP offer, ACK, SUBSCRIBE to the conference event package, BYE), retries them with
//! digest credentials after 401/407, and answers the requests the focus sends (NOTIFY, BYE).
//! Retransmissions and timeouts come from the shared sans-IO transaction layer.

use std::time::Instant;

use bytes::Bytes;
use dataplane::digest::{Challenge, Credentials};

use super::options::SipTransportKind;
use super::transport::SIP_LIMITS;
use crate::sip::dialog::Dialog;
use crate::sip::transaction::{client_key, new_branch, TransactionLayer, TxKey};
use crate::sip::wire::{response_to, Builder, Framing, HeaderName, Message};

/// Methods we accept from the room.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY";

/// A request to build outside any dialog.
pub struct NewRequest<'a> {
    /// Method.
    pub method: &'a str,
    /// Request-URI and To.
    pub target: &'a str,
    /// Call-ID.
    pub call_id: &'a str,
    /// Our From tag.
    pub from_tag: &'a str,
    /// CSeq number.
    pub cseq: u32,
    /// Extra headers.
    pub headers: &'a [(&'a str, String)],
    /// Content type and body.
    pub body: Option<(&'a str, &'a [u8])>,
}

/// The user agent's identity and transaction state.
pub struct SipUa {
    /// RFC 3261 transaction layer (one destination: the room's server).
    pub tx: TransactionLayer<()>,
    reliable: bool,
    transport: SipTransportKind,
    sent_by: String,
    contact: String,
    /// Our address of record (From, CPIM From).
    pub aor: String,
    from: String,
    credentials: Option<(String, String)>,
    counter: u64,
}

/// Random lower-case hex.
pub fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

impl SipUa {
    /// A user agent sending from `local` over `transport`.
    pub fn new(
        transport: SipTransportKind,
        local: std::net::SocketAddr,
        aor: &str,
        display: Option<&str>,
        credentials: Option<(String, String)>,
    ) -> SipUa {
        let user = crate::sip::wire::Uri::parse(aor)
            .ok()
            .and_then(|u| u.user)
            .unwrap_or("chat")
            .to_string();
        let from = match display {
            Some(d) if !d.is_empty() => format!("\"{}\" <{aor}>", quote_escape(d)),
            _ => format!("<{aor}>"),
        };
        SipUa {
            tx: TransactionLayer::new(Default::default()),
            reliable: transport == SipTransportKind::Tcp,
            transport,
            sent_by: local.to_string(),
            contact: format!("<sip:{user}@{local};transport={}>", transport.uri_param()),
            aor: aor.to_string(),
            from,
            credentials,
            counter: 0,
        }
    }

    /// Our Contact header value.
    pub fn contact(&self) -> &str {
        &self.contact
    }

    /// A fresh From tag.
    pub fn new_tag(&self) -> String {
        random_hex(6)
    }

    /// A fresh Call-ID.
    pub fn new_call_id(&self) -> String {
        format!("{}@msrp-chat", random_hex(12))
    }

    fn via(&mut self) -> String {
        self.counter += 1;
        let branch = new_branch(self.counter, rand::random::<u32>().into());
        format!(
            "SIP/2.0/{} {};branch={branch};rport",
            self.transport.via_token(),
            self.sent_by
        )
    }

    /// Builds a request outside a dialog (INVITE, initial SUBSCRIBE).
    pub fn request(&mut self, r: &NewRequest<'_>) -> Result<Message, String> {
        let mut b = Builder::request(r.method, r.target);
        b.header("Via", &self.via());
        b.header("Max-Forwards", "70");
        b.header_fmt("From", format_args!("{};tag={}", self.from, r.from_tag));
        b.header_fmt("To", format_args!("<{}>", r.target));
        b.header("Call-ID", r.call_id);
        b.header_fmt("CSeq", format_args!("{} {}", r.cseq, r.method));
        b.header("Contact", &self.contact);
        b.header("Allow", ALLOW);
        b.header("User-Agent", "msrp-chat");
        for (n, v) in r.headers {
            b.header(n, v);
        }
        finish(b, r.body)
    }

    /// Builds an in-dialog request (ACK for a 2xx, BYE, SUBSCRIBE refresh).
    pub fn in_dialog(
        &mut self,
        dialog: &mut Dialog,
        method: &str,
        headers: &[(&str, String)],
    ) -> Result<Message, String> {
        let mut b = dialog.request(method);
        b.header("Via", &self.via());
        if method != "BYE" {
            b.header("Contact", &self.contact);
        }
        for (n, v) in headers {
            b.header(n, v);
        }
        finish(b, None)
    }

    /// Starts a client transaction for `req`; returns its key. Sending happens through
    /// [`TransactionLayer::poll_output`].
    pub fn start(&mut self, req: Message, now: Instant) -> Result<TxKey, String> {
        let via = req.top_via().map_err(|e| e.to_string())?;
        let branch = via.branch().ok_or("no branch")?.to_string();
        let method = req.method_text().to_string();
        let key = client_key(&branch, &method);
        self.tx
            .send_request(key.clone(), req, (), self.reliable, now);
        Ok(key)
    }

    /// The same request with credentials answering the 401/407 `resp`, a new branch and
    /// the next CSeq. `Err` says why we cannot (no password, unsupported challenge).
    pub fn authorize(&mut self, req: &Message, resp: &Message) -> Result<Message, String> {
        let code = resp.status().unwrap_or(0);
        let (challenge_hdr, answer_hdr) = if code == 407 {
            (HeaderName::ProxyAuthenticate, "Proxy-Authorization")
        } else {
            (HeaderName::WwwAuthenticate, "Authorization")
        };
        let Some((user, password)) = self.credentials.clone() else {
            return Err(format!(
                "the room asks for authentication ({code}): give --password (and --user)"
            ));
        };
        let challenge = resp
            .values(challenge_hdr)
            .find_map(|v| Challenge::parse(v).ok())
            .ok_or_else(|| format!("unsupported authentication challenge in {code}"))?;
        let method = req.method_text();
        let creds = Credentials::answer(
            &challenge,
            &user,
            &password,
            method,
            req.request_uri(),
            &random_hex(8),
            1,
        );
        let seq = req.cseq().map_err(|e| e.to_string())?.seq.wrapping_add(1);
        let mut b = Builder::request(method, req.request_uri());
        b.header("Via", &self.via());
        for h in req.headers() {
            match h.name {
                HeaderName::Via
                | HeaderName::CSeq
                | HeaderName::ContentLength
                | HeaderName::ContentType
                | HeaderName::Authorization
                | HeaderName::ProxyAuthorization => {}
                _ => {
                    b.raw_line(req.text(h.line));
                }
            }
        }
        b.header_fmt("CSeq", format_args!("{seq} {method}"));
        b.header(answer_hdr, &creds.render());
        let ct = req.value(HeaderName::ContentType).map(str::to_string);
        let body = req.body();
        finish(b, ct.as_deref().map(|c| (c, &body[..])))
    }

    /// A response to a request from the room, with our Contact on 2xx when `contact`.
    pub fn response(&self, req: &Message, code: u16, contact: bool) -> Bytes {
        let mut b = response_to(req, code, None, None, None);
        if contact && (200..300).contains(&code) {
            b.header("Contact", &self.contact);
        }
        if code == 405 {
            b.header("Allow", ALLOW);
        }
        b.finish(None, b"")
    }
}

fn finish(b: Builder, body: Option<(&str, &[u8])>) -> Result<Message, String> {
    let bytes = match body {
        Some((ct, data)) => b.finish(Some(ct), data),
        None => b.finish(None, b""),
    };
    Message::parse(bytes, Framing::Stream, &SIP_LIMITS)
        .map_err(|e| format!("built a bad request: {e}"))
}

fn quote_escape(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::digest::{self, Algorithm};

    fn ua(creds: Option<(&str, &str)>) -> SipUa {
        SipUa::new(
            SipTransportKind::Tcp,
            "127.0.0.1:40000".parse().unwrap(),
            "sip:alice@example.com",
            Some("Al \"A\""),
            creds.map(|(u, p)| (u.to_string(), p.to_string())),
        )
    }

    fn invite(ua: &mut SipUa) -> Message {
        ua.request(&NewRequest {
            method: "INVITE",
            target: "sip:room@example.com",
            call_id: "c1@x",
            from_tag: "ft",
            cseq: 1,
            headers: &[("Accept", "application/sdp".into())],
            body: Some(("application/sdp", b"v=0\r\n")),
        })
        .unwrap()
    }

    #[test]
    fn invite_has_what_a_uas_needs() {
        let mut u = ua(None);
        let m = invite(&mut u);
        m.validate().unwrap();
        assert_eq!(m.request_uri(), "sip:room@example.com");
        assert_eq!(m.from_hdr().unwrap().tag(), Some("ft"));
        assert_eq!(m.from_hdr().unwrap().display, Some("\"Al \\\"A\\\"\""));
        assert!(m
            .top_via()
            .unwrap()
            .branch()
            .unwrap()
            .starts_with("z9hG4bK"));
        assert_eq!(
            m.value(HeaderName::Contact),
            Some("<sip:alice@127.0.0.1:40000;transport=tcp>")
        );
        assert_eq!(&m.body()[..], b"v=0\r\n");
        // Without a password a challenge is a clear error.
        let resp = response_to(&m, 401, None, Some("tt"), None);
        let mut resp = resp;
        resp.header("WWW-Authenticate", "Digest realm=\"r\", nonce=\"n\"");
        let resp = Message::parse(resp.finish(None, b""), Framing::Stream, &SIP_LIMITS).unwrap();
        assert!(u.authorize(&m, &resp).unwrap_err().contains("--password"));
    }

    #[test]
    fn challenge_is_answered_with_a_verifiable_response_and_next_cseq() {
        let mut u = ua(Some(("alice", "secret")));
        let m = invite(&mut u);
        let mut resp = response_to(&m, 407, None, Some("tt"), None);
        resp.header(
            "Proxy-Authenticate",
            "Digest realm=\"chat\", nonce=\"abc\", qop=\"auth\", algorithm=MD5",
        );
        let resp = Message::parse(resp.finish(None, b""), Framing::Stream, &SIP_LIMITS).unwrap();
        let again = u.authorize(&m, &resp).unwrap();
        again.validate().unwrap();
        assert_eq!(again.cseq().unwrap().seq, 2);
        assert_ne!(
            again.top_via().unwrap().branch(),
            m.top_via().unwrap().branch()
        );
        assert_eq!(again.call_id(), m.call_id());
        assert_eq!(&again.body()[..], b"v=0\r\n");
        let c = Credentials::parse(again.value(HeaderName::ProxyAuthorization).unwrap()).unwrap();
        let ha1 = digest::ha1(Algorithm::Md5, "alice", "chat", "secret");
        assert_eq!(c.expected_response(&ha1, "INVITE"), c.response);
        assert_eq!(c.uri, "sip:room@example.com");
    }
}
