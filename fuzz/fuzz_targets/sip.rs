//! Fuzzes the SIP wire module: datagram parse + validation + typed views + rewrite, the
//! stream framer fed in two pieces, and the other parsers on the SIP port: the STUN responder
//! and the flow-token decoder.
#![no_main]

use bytes::Bytes;
use controlplane::sip::wire::{
    rewrite, Edit, Framing, HeaderName, Limits, Message, NameAddr, StreamFramer, Uri,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let peer = "192.0.2.1:5060".parse().expect("literal");
    let _ = controlplane::sip::stun::binding_response(data, peer);
    let _ = controlplane::sip::stun::parse_xor_mapped(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = controlplane::sip::flow::FlowTokens::new([7; 20]).decode(s);
    }
    let b = Bytes::copy_from_slice(data);
    if let Ok(m) = Message::parse(b.clone(), Framing::Datagram, &limits) {
        let valid = m.validate().is_ok();
        for c in m.list(HeaderName::Contact) {
            if let Ok(na) = NameAddr::parse(c) {
                let _ = na.params.get_unquoted("+sip.instance");
                let _ = na.uri.aor();
                let _ = na.params.iter().count();
            }
        }
        for r in m.list(HeaderName::Route) {
            let _ = NameAddr::parse(r);
        }
        let _ = Uri::parse(m.request_uri());
        let _ = m.vias().count();
        let edit = Edit {
            prepend: vec![("Via", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKf".into())],
            pop_routes: 1,
            decrement_max_forwards: true,
            ..Edit::default()
        };
        let out = rewrite(&m, &edit);
        if valid {
            // What we write must parse again.
            let again = Message::parse(out, Framing::Datagram, &limits);
            assert!(again.is_ok(), "rewrite produced an unparsable message");
        }
    }
    let split = data.first().map(|&x| x as usize % (data.len() + 1)).unwrap_or(0);
    let mut f = StreamFramer::new(limits);
    f.push(&data[..split]);
    for _ in 0..8 {
        match f.next_frame() {
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    f.push(&data[split..]);
    for _ in 0..64 {
        match f.next_frame() {
            Ok(Some(_)) => {}
            _ => break,
        }
    }
});
