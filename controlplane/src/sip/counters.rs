//! Counters of the SIP server for `/metrics`: requests received by method, responses received
//! and sent by class, keepalives. Relaxed atomic increments on paths that already parse a
//! whole SIP message (the control plane, not the MSRP hot path).

use std::sync::atomic::{AtomicU64, Ordering};

use super::wire::Method;

/// Methods in the order of [`SipCounters::METHODS`].
const N_METHODS: usize = 16;

/// SIP counters, shared by every transport task through the core.
#[derive(Debug, Default)]
pub struct SipCounters {
    requests_in: [AtomicU64; N_METHODS],
    responses_in: [AtomicU64; 6],
    responses_out: [AtomicU64; 6],
    requests_out: AtomicU64,
    crlf_keepalives: AtomicU64,
    stun_keepalives: AtomicU64,
}

/// A copy of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SipCountersSnapshot {
    /// Requests received, by method name (`OTHER` for unknown ones).
    pub requests_in: Vec<(&'static str, u64)>,
    /// Responses received, by class (`1xx` … `6xx`).
    pub responses_in: Vec<(&'static str, u64)>,
    /// Responses sent, by class.
    pub responses_out: Vec<(&'static str, u64)>,
    /// Requests sent (proxied or generated).
    pub requests_out: u64,
    /// Double-CRLF pings answered on stream flows (RFC 5626 §4.4.1).
    pub crlf_keepalives: u64,
    /// STUN binding requests answered on UDP (RFC 5626 §4.4.2).
    pub stun_keepalives: u64,
}

const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx"];

impl SipCounters {
    /// Method names by counter index.
    pub const METHODS: [&'static str; N_METHODS] = [
        "REGISTER",
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "MESSAGE",
        "SUBSCRIBE",
        "NOTIFY",
        "REFER",
        "INFO",
        "UPDATE",
        "PRACK",
        "PUBLISH",
        "OTHER",
        "INVALID",
    ];

    fn method_index(m: Method) -> usize {
        match m {
            Method::Register => 0,
            Method::Invite => 1,
            Method::Ack => 2,
            Method::Bye => 3,
            Method::Cancel => 4,
            Method::Options => 5,
            Method::Message => 6,
            Method::Subscribe => 7,
            Method::Notify => 8,
            Method::Refer => 9,
            Method::Info => 10,
            Method::Update => 11,
            Method::Prack => 12,
            Method::Publish => 13,
            Method::Other => 14,
        }
    }

    /// A request arrived (`None`: its method could not be read).
    pub fn request_in(&self, m: Option<Method>) {
        let i = m.map_or(N_METHODS - 1, Self::method_index);
        self.requests_in[i].fetch_add(1, Ordering::Relaxed);
    }

    /// A response with `code` arrived.
    pub fn response_in(&self, code: u16) {
        if let Some(c) = class(code) {
            self.responses_in[c].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Bytes of one outgoing message: a response (counted by class) or a request.
    pub fn sent(&self, data: &[u8]) {
        match data.strip_prefix(b"SIP/2.0 ") {
            Some(rest) => {
                let code = rest
                    .get(..3)
                    .and_then(|d| std::str::from_utf8(d).ok())
                    .and_then(|d| d.parse::<u16>().ok());
                if let Some(c) = code.and_then(class) {
                    self.responses_out[c].fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                self.requests_out.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A CRLF ping was answered.
    pub fn crlf_keepalive(&self) {
        self.crlf_keepalives.fetch_add(1, Ordering::Relaxed);
    }

    /// A STUN binding request was answered.
    pub fn stun_keepalive(&self) {
        self.stun_keepalives.fetch_add(1, Ordering::Relaxed);
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> SipCountersSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SipCountersSnapshot {
            requests_in: Self::METHODS
                .iter()
                .zip(&self.requests_in)
                .map(|(m, a)| (*m, load(a)))
                .collect(),
            responses_in: CLASSES
                .iter()
                .zip(&self.responses_in)
                .map(|(c, a)| (*c, load(a)))
                .collect(),
            responses_out: CLASSES
                .iter()
                .zip(&self.responses_out)
                .map(|(c, a)| (*c, load(a)))
                .collect(),
            requests_out: load(&self.requests_out),
            crlf_keepalives: load(&self.crlf_keepalives),
            stun_keepalives: load(&self.stun_keepalives),
        }
    }
}

fn class(code: u16) -> Option<usize> {
    (100..700)
        .contains(&code)
        .then(|| usize::from(code / 100 - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_method_and_class() {
        let c = SipCounters::default();
        c.request_in(Some(Method::Register));
        c.request_in(Some(Method::Register));
        c.request_in(None);
        c.response_in(180);
        c.response_in(999);
        c.sent(b"SIP/2.0 200 OK\r\n");
        c.sent(b"SIP/2.0 4");
        c.sent(b"NOTIFY sip:a@b SIP/2.0\r\n");
        let s = c.snapshot();
        assert_eq!(s.requests_in[0], ("REGISTER", 2));
        assert_eq!(s.requests_in[15], ("INVALID", 1));
        assert_eq!(s.responses_in[0], ("1xx", 1));
        assert_eq!(s.responses_in.iter().map(|x| x.1).sum::<u64>(), 1);
        assert_eq!(s.responses_out[1], ("2xx", 1));
        assert_eq!(s.responses_out.iter().map(|x| x.1).sum::<u64>(), 1);
        assert_eq!(s.requests_out, 1);
    }
}
