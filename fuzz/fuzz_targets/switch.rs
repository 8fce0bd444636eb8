//! The relay + chat switch service (one worker, in-memory network) fed arbitrary bytes on three
//! connections: no input may panic it. The first byte of each step picks the connection and
//! how many bytes go; room 1 has sessions s1..s4 (see `MemSwitch`), so frames addressed to
//! `msrp://127.0.0.1:2855/sN;tcp` reach the switch.
#![no_main]

use dataplane::switch::testkit::MemSwitch;
use dataplane::switch::RoomPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let policy = RoomPolicy {
        chunk_timeout: std::time::Duration::ZERO,
        max_message_size: 4096,
        ..RoomPolicy::default()
    };
    let mut m = MemSwitch::new(policy);
    let conns: Vec<_> = (0..3).map(|_| m.net.accept()).collect();
    m.step();
    let mut rest = data;
    while let [ctl, tail @ ..] = rest {
        let conn = conns[(*ctl as usize) % 3];
        let n = (*ctl as usize / 3 % 64 + 1).min(tail.len());
        m.net.feed(conn, &tail[..n]);
        m.step();
        rest = &tail[n..];
    }
    for c in conns {
        m.net.hang_up(c);
    }
    m.step();
    let s = m.stats();
    assert_eq!(s.bound, 0);
});
