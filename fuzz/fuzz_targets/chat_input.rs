//! Fuzzes what the chat client reads from others and from its user: typed lines, room URIs,
//! HOST:PORT, received Message/CPIM bodies and roster NOTIFY bodies. No panic; what is shown
//! of a received message carries no control characters but line breaks.
#![no_main]

use controlplane::chat::command;
use controlplane::chat::cpim;
use controlplane::chat::options::{split_host_port, RoomAddress};
use controlplane::chat::people::People;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = command::parse(&text);
    let _ = RoomAddress::parse(&text);
    let _ = split_host_port(&text);
    for ct in [&b"message/cpim"[..], b"text/plain", b"application/octet-stream"] {
        let got = cpim::read(ct, data);
        let shown = cpim::sanitize(&got.text);
        assert!(shown.chars().all(|c| c == '\n' || !c.is_control()));
    }
    let mut people = People::new("sip:me@example.com");
    let _ = people.apply_notify(data);
    let _ = people.who();
    let _ = people.resolve(&text);
    let _ = people.name_of(&text, Some(&text));
});
