//! Fuzzes the SDP parser, the serializer round trip, the typed MSRP accessors and the chat room
//! answerer/offerer on arbitrary input: no panic, and whatever parses re-serializes to itself.
#![no_main]

use controlplane::sdp::address::NoResolver;
use controlplane::sdp::offer_answer::{
    AnswerPolicy, ChatAnswerer, ChatOfferer, LocalMsrp, OfferConfig,
};
use controlplane::sdp::{self, ChatroomCaps, FormatList, Host, MsrpProto, SetupRole};
use libfuzzer_sys::fuzz_target;

fn local() -> LocalMsrp {
    LocalMsrp {
        host: Host::parse("192.0.2.1").expect("literal"),
        tcp_port: Some(2855),
        tls_port: Some(2856),
        session_id: "fuzzsession".into(),
        fingerprint: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(desc) = sdp::parse(data) else {
        return;
    };
    let text = desc.to_string();
    let again = sdp::parse(text.as_bytes()).expect("serialized SDP must parse");
    assert_eq!(again, desc);
    assert_eq!(again.to_string(), text);

    for i in 0..desc.media.len() {
        if let Some(m) = desc.msrp_media(i) {
            let _ = (
                m.proto(),
                m.path(),
                m.accept_types(),
                m.accept_wrapped_types(),
                m.max_size(),
                m.setup(),
                m.chatroom(),
                m.fingerprints(),
                m.direction(),
                m.connection_host(),
            );
        }
    }

    let mut answerer = ChatAnswerer::new(AnswerPolicy::default(), local(), 1);
    if let Ok(answer) = answerer.answer(&desc, &NoResolver) {
        let t = answer.sdp.to_string();
        let parsed = sdp::parse(t.as_bytes()).expect("our answer must parse");
        assert_eq!(parsed.media.len(), desc.media.len());
    }

    let offerer = ChatOfferer::new(
        OfferConfig {
            local: local(),
            proto: MsrpProto::Tcp,
            setup: SetupRole::ActPass,
            cema: true,
            accept_types: FormatList::parse("message/cpim", "accept-types").expect("literal"),
            accept_wrapped_types: None,
            chatroom: Some(ChatroomCaps::default()),
            max_size: None,
            relays: Vec::new(),
        },
        1,
    );
    let _ = offerer.process_answer(&desc, &NoResolver);
});
