//! Registrar (RFC 3261 §10.3) with Path (RFC 3327) and SIP Outbound (RFC 5626 §6), co-located
//! with the first-hop edge role (§5.1): when the REGISTER arrives directly from the UA with a
//! `reg-id`, the binding records the flow and a Path URI carrying our flow token with `ob`.
//! Pure logic over a [`LocationService`]: request in, response status and headers out.

use std::time::{Duration, Instant};

use super::flow::FlowKey;
use super::location::{Binding, BindingKey, LocationService};
use super::wire::{message::parse_decimal, HeaderName, Message, NameAddr, ParseError};

/// Registrar limits and outbound settings.
#[derive(Debug, Clone)]
pub struct RegistrarPolicy {
    /// Shortest accepted registration (423 below it).
    pub min_expires: u32,
    /// Longest granted registration (longer requests are shortened).
    pub max_expires: u32,
    /// Expiry when the request gives none.
    pub default_expires: u32,
    /// `Flow-Timer` returned with `Require: outbound` when we are the first hop.
    pub flow_timer: Option<u32>,
}

impl Default for RegistrarPolicy {
    fn default() -> Self {
        RegistrarPolicy {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            flow_timer: Some(120),
        }
    }
}

/// Context of one REGISTER.
pub struct RegisterInput<'a> {
    /// Canonical AOR (from To).
    pub aor: &'a str,
    /// The flow it arrived on.
    pub source: FlowKey,
    /// Builds our Path URI (with flow token and `ob`) for the source flow, used when we are
    /// the first hop and outbound applies.
    pub edge_path: &'a dyn Fn() -> String,
    /// Now.
    pub now: Instant,
}

/// The registrar's answer: status and the headers to add to the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterReply {
    /// Status code.
    pub code: u16,
    /// Extra header fields.
    pub headers: Vec<(&'static str, String)>,
}

impl RegisterReply {
    fn status(code: u16) -> RegisterReply {
        RegisterReply {
            code,
            headers: Vec::new(),
        }
    }
}

struct ContactReq {
    contact: String,
    uri: String,
    instance: Option<String>,
    reg_id: Option<u32>,
    expires: u32,
}

/// How the request relates to RFC 5626 (§6), computed before any binding changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundCheck {
    /// Outbound binding rules apply (reg-id + instance, and a good first hop).
    pub applied: bool,
    /// We are the first hop (single Via).
    pub first_hop: bool,
    /// The request had `Supported: outbound`.
    pub supported: bool,
}

fn reject(code: u16) -> RegisterReply {
    RegisterReply::status(code)
}

/// Processes a REGISTER for `input.aor` (already authenticated and authorised).
pub fn register(
    req: &Message,
    input: &RegisterInput<'_>,
    policy: &RegistrarPolicy,
    store: &dyn LocationService,
) -> RegisterReply {
    match register_inner(req, input, policy, store) {
        Ok(r) => r,
        Err(e) => reject(e.status()),
    }
}

fn register_inner(
    req: &Message,
    input: &RegisterInput<'_>,
    policy: &RegistrarPolicy,
    store: &dyn LocationService,
) -> Result<RegisterReply, ParseError> {
    let now = input.now;
    let header_expires = match req.value(HeaderName::Expires) {
        Some(v) => Some(
            parse_decimal(v, u64::from(u32::MAX)).ok_or(ParseError::BadHeader("Expires"))? as u32,
        ),
        None => None,
    };
    let supported = req.has_option(HeaderName::Supported, "outbound");
    let supports_path = req.has_option(HeaderName::Supported, "path");
    let first_hop = req.list(HeaderName::Via).count() == 1;
    let received_path: Vec<String> = req.list(HeaderName::Path).map(str::to_string).collect();
    let path_ob = match received_path.first() {
        Some(p) => NameAddr::parse(p)?.uri.params.has("ob"),
        None => false,
    };

    // Contacts.
    let elems: Vec<&str> = req.list(HeaderName::Contact).collect();
    let call_id = req.call_id().unwrap_or("").to_string();
    let cseq = req.cseq()?.seq;
    if elems.contains(&"*") {
        // RFC 3261 §10.3 step 6: "*" only alone and with Expires: 0.
        if elems.len() != 1 || header_expires != Some(0) {
            return Ok(reject(400));
        }
        let mut stale = false;
        store.update(input.aor, &mut |list| {
            if list.iter().any(|b| b.call_id == call_id && b.cseq >= cseq) {
                stale = true;
                return;
            }
            list.clear();
        });
        if stale {
            return Ok(reject(500));
        }
        return Ok(ok_reply(req, input, store, policy, None, &[]));
    }
    let mut contacts = Vec::with_capacity(elems.len());
    for e in &elems {
        let na = NameAddr::parse(e)?;
        let instance = na.params.get_unquoted("+sip.instance").map(str::to_string);
        let reg_id = match na.params.get("reg-id") {
            None => None,
            Some(v) => {
                // §10: 1..2^31-1.
                let n = v
                    .and_then(|v| parse_decimal(v, (1u64 << 31) - 1))
                    .filter(|n| *n >= 1)
                    .ok_or(ParseError::BadHeader("reg-id"))?;
                Some(n as u32)
            }
        };
        let expires = match na.params.get("expires").flatten() {
            Some(v) => parse_decimal(v, u64::from(u32::MAX))
                .map(|v| v as u32)
                .unwrap_or(policy.default_expires),
            None => header_expires.unwrap_or(policy.default_expires),
        };
        let mut contact = na.addr_raw.to_string();
        for p in na.params.iter() {
            if !p.name.eq_ignore_ascii_case("expires") {
                contact.push(';');
                contact.push_str(p.raw);
            }
        }
        contacts.push(ContactReq {
            contact,
            uri: na.uri.raw.to_string(),
            instance,
            reg_id,
            expires,
        });
    }

    // RFC 5626 §6: reg-id without instance is ignored; a bad first hop forbids outbound.
    for c in &mut contacts {
        if c.instance.is_none() {
            c.reg_id = None;
        }
    }
    let any_reg_id = contacts.iter().any(|c| c.reg_id.is_some());
    let good_first_hop = first_hop || path_ob;
    if any_reg_id && !good_first_hop {
        if supported {
            return Ok(reject(439));
        }
        for c in &mut contacts {
            c.reg_id = None;
        }
    }
    let applied = any_reg_id && good_first_hop;
    if applied && contacts.iter().filter(|c| c.expires != 0).count() > 1 {
        return Ok(reject(400));
    }
    for c in &contacts {
        if c.expires != 0 && c.expires < policy.min_expires {
            let mut r = reject(423);
            r.headers
                .push(("Min-Expires", policy.min_expires.to_string()));
            return Ok(r);
        }
    }

    // Path stored with the bindings: ours (with our flow token and `ob`) when we are the first
    // hop applying outbound, otherwise what the request carried.
    let our_path = (applied && first_hop).then(|| (input.edge_path)());
    let path: Vec<String> = match &our_path {
        Some(p) => vec![p.clone()],
        None => received_path.clone(),
    };
    let flow = first_hop.then_some(input.source);

    let mut stale = false;
    store.update(input.aor, &mut |list| {
        // Validate every contact first so that a stale CSeq aborts the whole request.
        for c in &contacts {
            let key = key_of(c);
            if let Some(b) = list.iter().find(|b| b.key() == key) {
                if b.call_id == call_id && cseq <= b.cseq {
                    stale = true;
                    return;
                }
            }
        }
        for c in &contacts {
            let key = key_of(c);
            let pos = list.iter().position(|b| b.key() == key);
            if c.expires == 0 {
                if let Some(p) = pos {
                    list.remove(p);
                }
                continue;
            }
            let granted = c.expires.min(policy.max_expires);
            let b = Binding {
                contact: c.contact.clone(),
                uri: c.uri.clone(),
                instance: c.instance.clone(),
                reg_id: c.reg_id,
                path: path.clone(),
                flow,
                call_id: call_id.clone(),
                cseq,
                expires: now + Duration::from_secs(u64::from(granted)),
                updated: now,
            };
            match pos {
                Some(p) => list[p] = b,
                None => list.push(b),
            }
        }
    });
    if stale {
        return Ok(reject(500));
    }
    let check = OutboundCheck {
        applied,
        first_hop,
        supported,
    };
    let echo_path = if supports_path || our_path.is_some() {
        path
    } else {
        Vec::new()
    };
    Ok(ok_reply(req, input, store, policy, Some(check), &echo_path))
}

fn key_of(c: &ContactReq) -> BindingKey {
    match (&c.instance, c.reg_id) {
        (Some(i), Some(r)) => BindingKey::Outbound(super::location::instance_key(i), r),
        (Some(i), None) => BindingKey::Instance(super::location::instance_key(i)),
        _ => BindingKey::Uri(c.uri.to_ascii_lowercase()),
    }
}

fn ok_reply(
    _req: &Message,
    input: &RegisterInput<'_>,
    store: &dyn LocationService,
    policy: &RegistrarPolicy,
    check: Option<OutboundCheck>,
    path: &[String],
) -> RegisterReply {
    let mut headers: Vec<(&'static str, String)> = Vec::new();
    for b in store.lookup(input.aor, input.now) {
        let left = b.expires.saturating_duration_since(input.now).as_secs();
        headers.push(("Contact", format!("{};expires={left}", b.contact)));
    }
    for p in path {
        headers.push(("Path", p.clone()));
    }
    headers.push(("Supported", "outbound, path".into()));
    if let Some(c) = check {
        // §6: Require: outbound iff the UA supports it and outbound was applied.
        if c.applied && c.supported {
            headers.push(("Require", "outbound".into()));
            if c.first_hop {
                if let Some(ft) = policy.flow_timer {
                    headers.push(("Flow-Timer", ft.to_string()));
                }
            }
        }
    }
    RegisterReply { code: 200, headers }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::flow::TransportKind;
    use crate::sip::location::MemoryLocation;
    use crate::sip::wire::{Framing, Limits};
    use bytes::Bytes;

    const INST: &str = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";

    struct Reg {
        vias: usize,
        supported: &'static str,
        contacts: Vec<String>,
        path: Option<&'static str>,
        expires: Option<u32>,
        call_id: &'static str,
        cseq: u32,
    }

    impl Default for Reg {
        fn default() -> Self {
            Reg {
                vias: 1,
                supported: "path, outbound",
                contacts: vec![ob_contact(1, 5001)],
                path: None,
                expires: None,
                call_id: "call-1",
                cseq: 1,
            }
        }
    }

    fn ob_contact(reg_id: u32, port: u16) -> String {
        format!("<sip:alice@192.0.2.5:{port};transport=tcp;ob>;+sip.instance=\"{INST}\";reg-id={reg_id}")
    }

    fn build(r: &Reg) -> Message {
        let mut s = String::from("REGISTER sip:example.com SIP/2.0\r\n");
        for i in 0..r.vias {
            s += &format!(
                "Via: SIP/2.0/TCP 192.0.2.{}:5060;branch=z9hG4bK{i}\r\n",
                i + 5
            );
        }
        if let Some(p) = r.path {
            s += &format!("Path: {p}\r\n");
        }
        s += "From: <sip:alice@example.com>;tag=f\r\nTo: <sip:alice@example.com>\r\n";
        s += &format!("Call-ID: {}\r\nCSeq: {} REGISTER\r\n", r.call_id, r.cseq);
        if !r.supported.is_empty() {
            s += &format!("Supported: {}\r\n", r.supported);
        }
        for c in &r.contacts {
            s += &format!("Contact: {c}\r\n");
        }
        if let Some(e) = r.expires {
            s += &format!("Expires: {e}\r\n");
        }
        s += "Content-Length: 0\r\n\r\n";
        let m = Message::parse(Bytes::from(s), Framing::Stream, &Limits::default()).unwrap();
        m.validate().unwrap();
        m
    }

    fn flow(port: u16) -> FlowKey {
        FlowKey {
            transport: TransportKind::Tcp,
            local: "192.0.2.1:5060".parse().unwrap(),
            remote: format!("192.0.2.5:{port}").parse().unwrap(),
        }
    }

    fn run(store: &MemoryLocation, r: &Reg, port: u16, now: Instant) -> RegisterReply {
        let m = build(r);
        let path = move || format!("<sip:TOKEN{port}@192.0.2.1:5060;transport=tcp;lr;ob>");
        let input = RegisterInput {
            aor: "sip:alice@example.com",
            source: flow(port),
            edge_path: &path,
            now,
        };
        register(&m, &input, &RegistrarPolicy::default(), store)
    }

    fn hdr<'r>(r: &'r RegisterReply, n: &str) -> Vec<&'r str> {
        r.headers
            .iter()
            .filter(|(k, _)| *k == n)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn first_hop_outbound_registration_stores_flow_and_path() {
        let s = MemoryLocation::new(4);
        let now = Instant::now();
        let r = run(&s, &Reg::default(), 5001, now);
        assert_eq!(r.code, 200);
        assert_eq!(hdr(&r, "Require"), ["outbound"]);
        assert_eq!(hdr(&r, "Flow-Timer"), ["120"]);
        assert_eq!(
            hdr(&r, "Path"),
            ["<sip:TOKEN5001@192.0.2.1:5060;transport=tcp;lr;ob>"]
        );
        assert_eq!(hdr(&r, "Supported"), ["outbound, path"]);
        // The Contact is echoed byte-exact, with the expiry appended.
        assert_eq!(
            hdr(&r, "Contact"),
            [format!("{};expires=3600", ob_contact(1, 5001))]
        );
        let b = s.lookup("sip:alice@example.com", now);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].reg_id, Some(1));
        assert_eq!(b[0].flow, Some(flow(5001)));
        assert_eq!(b[0].instance.as_deref(), Some(INST));
    }

    #[test]
    fn same_instance_and_reg_id_replaces_flow() {
        let s = MemoryLocation::new(4);
        let now = Instant::now();
        run(&s, &Reg::default(), 5001, now);
        // New flow (reconnect), new Call-ID, same instance + reg-id: replaces.
        let r2 = Reg {
            contacts: vec![ob_contact(1, 6001)],
            call_id: "call-2",
            ..Reg::default()
        };
        assert_eq!(run(&s, &r2, 6001, now).code, 200);
        let b = s.lookup("sip:alice@example.com", now);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].flow, Some(flow(6001)));
        assert!(b[0].uri.contains(":6001"));
        // The old flow dying no longer affects the binding.
        assert_eq!(s.remove_flow(&flow(5001)), 0);
    }

    #[test]
    fn different_reg_ids_coexist_as_two_flows() {
        let s = MemoryLocation::new(4);
        let now = Instant::now();
        run(&s, &Reg::default(), 5001, now);
        let r2 = Reg {
            contacts: vec![ob_contact(2, 5002)],
            call_id: "call-2",
            ..Reg::default()
        };
        let r = run(&s, &r2, 5002, now);
        assert_eq!(r.code, 200);
        assert_eq!(hdr(&r, "Contact").len(), 2);
        assert_eq!(s.lookup("sip:alice@example.com", now).len(), 2);
        assert_eq!(s.remove_flow(&flow(5001)), 1);
        let left = s.lookup("sip:alice@example.com", now);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].reg_id, Some(2));
    }

    #[test]
    fn not_first_hop_without_ob_path_gives_439_only_with_supported_outbound() {
        let s = MemoryLocation::new(4);
        let now = Instant::now();
        let r = Reg {
            vias: 2,
            path: Some("<sip:edge.example.net;lr>"),
            ..Reg::default()
        };
        assert_eq!(run(&s, &r, 5001, now).code, 439);
        let no_path = Reg {
            vias: 2,
            ..Reg::default()
        };
        assert_eq!(run(&s, &no_path, 5001, now).code, 439);
        // Without Supported: outbound, reg-id is ignored and a plain binding is made.
        let plain = Reg {
            vias: 2,
            supported: "path",
            ..Reg::default()
        };
        let rep = run(&s, &plain, 5001, now);
        assert_eq!(rep.code, 200);
        assert!(hdr(&rep, "Require").is_empty());
        let b = s.lookup("sip:alice@example.com", now);
        assert_eq!(b[0].reg_id, None);
        assert_eq!(b[0].flow, None, "not the first hop: no flow of ours");
    }

    #[test]
    fn not_first_hop_with_ob_path_applies_outbound_with_received_path() {
        let s = MemoryLocation::new(4);
        let now = Instant::now();
        let r = Reg {
            vias: 2,
            path: Some("<sip:tok@edge.example.net;lr;ob>"),
            ..Reg::default()
        };
        let rep = run(&s, &r, 5001, now);
        assert_eq!(rep.code, 200);
        assert_eq!(hdr(&rep, "Require"), ["outbound"]);
        assert!(
            hdr(&rep, "Flow-Timer").is_empty(),
            "Flow-Timer is the edge's to add"
        );
        assert_eq!(hdr(&rep, "Path"), ["<sip:tok@edge.example.net;lr;ob>"]);
        let b = s.lookup("sip:alice@example.com", now);
        assert_eq!(b[0].path, ["<sip:tok@edge.example.net;lr;ob>"]);
        assert_eq!(b[0].reg_id, Some(1));
    }

    #[test]
    fn outbound_without_supported_binds_but_no_require() {
        let s = MemoryLocation::new(4);
        let r = Reg {
            supported: "",
            ..Reg::default()
        };
        let rep = run(&s, &r, 5001, Instant::now());
        assert_eq!(rep.code, 200);
        assert!(hdr(&rep, "Require").is_empty());
        assert_eq!(
            s.lookup("sip:alice@example.com", Instant::now())[0].reg_id,
            Some(1)
        );
    }

    #[test]
    fn reg_id_without_instance_is_ignored() {
        let s = MemoryLocation::new(4);
        let r = Reg {
            contacts: vec!["<sip:alice@192.0.2.5:5001;transport=tcp>;reg-id=1".into()],
            ..Reg::default()
        };
        let rep = run(&s, &r, 5001, Instant::now());
        assert_eq!(rep.code, 200);
        assert!(hdr(&rep, "Require").is_empty());
        assert_eq!(
            s.lookup("sip:alice@example.com", Instant::now())[0].reg_id,
            None
        );
    }

    #[test]
    fn two_nonzero_contacts_with_reg_id_rejected() {
        let s = MemoryLocation::new(4);
        let r = Reg {
            contacts: vec![ob_contact(1, 5001), "<sip:alice@192.0.2.9>".into()],
            ..Reg::default()
        };
        assert_eq!(run(&s, &r, 5001, Instant::now()).code, 400);
        // A zero-expiry removal alongside is fine.
        let r = Reg {
            contacts: vec![
                ob_contact(1, 5001),
                "<sip:alice@192.0.2.9>;expires=0".into(),
            ],
            ..Reg::default()
        };
        assert_eq!(run(&s, &r, 5001, Instant::now()).code, 200);
    }

    #[test]
    fn invalid_reg_id_rejected() {
        let s = MemoryLocation::new(4);
        for bad in ["0", "2147483648", "x"] {
            let r = Reg {
                contacts: vec![format!(
                    "<sip:a@192.0.2.5>;+sip.instance=\"{INST}\";reg-id={bad}"
                )],
                ..Reg::default()
            };
            assert_eq!(run(&s, &r, 5001, Instant::now()).code, 400, "reg-id={bad}");
        }
    }

    #[test]
    fn expiry_rules() {
        let s = MemoryLocation::new(4);
        let now = Instant::now();
        let short = Reg {
            expires: Some(10),
            ..Reg::default()
        };
        let r = run(&s, &short, 5001, now);
        assert_eq!(r.code, 423);
        assert_eq!(hdr(&r, "Min-Expires"), ["60"]);
        let long = Reg {
            expires: Some(100_000),
            ..Reg::default()
        };
        let r = run(&s, &long, 5001, now);
        assert_eq!(r.code, 200);
        assert!(hdr(&r, "Contact")[0].ends_with(";expires=3600"));
        // Contact param wins over the header; 0 removes.
        let remove = Reg {
            contacts: vec![format!("{};expires=0", ob_contact(1, 5001))],
            expires: Some(600),
            cseq: 2,
            ..Reg::default()
        };
        let r = run(&s, &remove, 5001, now);
        assert_eq!(r.code, 200);
        assert!(hdr(&r, "Contact").is_empty());
        assert!(s.is_empty());
    }

    #[test]
    fn stale_cseq_same_call_id_rejected() {
        let s = MemoryLocation::new(4);
        let now = Instant::now();
        let r = Reg {
            cseq: 5,
            ..Reg::default()
        };
        assert_eq!(run(&s, &r, 5001, now).code, 200);
        let older = Reg {
            cseq: 4,
            ..Reg::default()
        };
        assert_eq!(run(&s, &older, 5001, now).code, 500);
        let newer = Reg {
            cseq: 6,
            ..Reg::default()
        };
        assert_eq!(run(&s, &newer, 5001, now).code, 200);
    }

    #[test]
    fn star_removes_all_only_with_expires_zero() {
        let s = MemoryLocation::new(4);
        let now = Instant::now();
        run(&s, &Reg::default(), 5001, now);
        let bad = Reg {
            contacts: vec!["*".into()],
            call_id: "other",
            ..Reg::default()
        };
        assert_eq!(run(&s, &bad, 5001, now).code, 400);
        let star = Reg {
            contacts: vec!["*".into()],
            expires: Some(0),
            call_id: "other",
            ..Reg::default()
        };
        assert_eq!(run(&s, &star, 5001, now).code, 200);
        assert!(s.is_empty());
    }

    #[test]
    fn plain_rfc3261_bindings_keyed_by_uri() {
        let s = MemoryLocation::new(4);
        let now = Instant::now();
        let r = Reg {
            contacts: vec!["<sip:alice@192.0.2.5:5070>".into()],
            supported: "",
            ..Reg::default()
        };
        let rep = run(&s, &r, 5001, now);
        assert_eq!(rep.code, 200);
        assert!(hdr(&rep, "Path").is_empty());
        let r2 = Reg {
            contacts: vec!["<sip:alice@192.0.2.5:5070>;expires=300".into()],
            supported: "",
            cseq: 2,
            ..Reg::default()
        };
        run(&s, &r2, 5001, now);
        let b = s.lookup("sip:alice@example.com", now);
        assert_eq!(b.len(), 1);
        assert_eq!(
            b[0].flow,
            Some(flow(5001)),
            "first hop: flow remembered for reuse"
        );
    }
}
