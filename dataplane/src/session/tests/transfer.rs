//! Large transfers in every chunk size and input split, with success reports and 200s.

use super::pair::*;
use crate::session::*;
use crate::wire::{FailureReport, SuccessReport};

const MIB: usize = 1024 * 1024;

fn transfer(chunk_size: usize, len: usize, split: Split) {
    let cfg = Config {
        chunk_size,
        ..Config::default()
    };
    let mut p = Pair::with_split(cfg.clone(), cfg, split);
    p.a.record = false;
    p.b.record = false;
    let (sa, sb) = p.connect();
    let body = payload(len, chunk_size as u8);
    let id =
        p.a.conn
            .send_message(
                sa,
                OutgoingMessage::new("application/octet-stream", body.clone())
                    .success_report(SuccessReport::Yes),
            )
            .unwrap();
    p.drive();
    let msgs = p.b.messages();
    assert_eq!(msgs.len(), 1, "chunk size {chunk_size}");
    let m = msgs[0];
    assert_eq!(m.session, sb);
    assert_eq!(m.message_id, id);
    assert_eq!(&m.content_type[..], b"application/octet-stream");
    assert!(m.body == body, "body differs (chunk size {chunk_size})");
    assert_eq!(m.chunks as usize, Chunker::new(chunk_size).count(len));
    let ev = p.a.take_events();
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::MessageAccepted { message_id, .. } if *message_id == id)),
        "every chunk got its 200 (chunk size {chunk_size})"
    );
    let last_report = ev.iter().rev().find_map(|e| match e {
        Event::SuccessReport { complete, .. } => Some(*complete),
        _ => None,
    });
    assert_eq!(last_report, Some(true), "success report covers the message");
    assert_eq!(
        p.a.conn.stats(),
        ConnectionStats::default(),
        "nothing left tracked"
    );
    assert_eq!(p.b.conn.stats().incomplete_messages, 0);
}

/// 10 MiB for chunk sizes of 1 KiB and up. 1-byte and tiny chunks make one frame (with a
/// ~150-byte head and a transaction) per byte or so, so they move a smaller message that still
/// has tens of thousands of chunks; all use pseudo-random input splits (mostly 1..8 bytes).
#[test]
fn ten_mib_in_every_chunk_size() {
    for (chunk, len) in [
        (1, 20_000),
        (7, 100_000),
        (100, 1_000_000),
        (1024, 10 * MIB),
        (2048, 10 * MIB),
        (2049, 10 * MIB),
        (16 * 1024, 10 * MIB),
        (64 * 1024, 10 * MIB),
    ] {
        let split = Split::Random {
            seed: chunk as u64 + 3,
            max: 128 * 1024,
        };
        transfer(chunk, len, split);
    }
}

/// The whole 10 MiB message as a single chunk: interruptible, handed out in slices.
#[test]
fn ten_mib_as_one_chunk() {
    transfer(usize::MAX, 10 * MIB, Split::Fixed(65_536));
}

/// Every byte of the stream delivered on its own: every frame boundary, end-line and header
/// split is exercised. 256 KiB in 1 KiB and 4 KiB chunks keeps this at a few hundred
/// thousand `handle_input` calls.
#[test]
fn one_byte_input_splits() {
    transfer(1024, 256 * 1024, Split::Fixed(1));
    transfer(4096, 256 * 1024, Split::Fixed(1));
}

#[test]
fn empty_and_tiny_messages() {
    for len in [0, 1, 2, 2048, 2049] {
        transfer(1024, len, Split::Fixed(3));
    }
}

#[test]
fn failure_report_no_and_partial_leave_no_state() {
    for fr in [FailureReport::No, FailureReport::Partial] {
        let mut p = Pair::new(Config::default(), Config::default());
        let (sa, _) = p.connect();
        p.a.conn
            .send_message(
                sa,
                OutgoingMessage::new("text/plain", payload(5000, 1)).failure_report(fr),
            )
            .unwrap();
        p.drive();
        assert_eq!(p.b.messages().len(), 1);
        // The receiver sent no 200 (only the bind SEND's).
        let oks =
            p.b.frames()
                .iter()
                .filter(|f| f.code() == Some(200))
                .count();
        assert_eq!(oks, 1, "{fr:?}: only the binding SEND was answered");
        let st = p.a.conn.stats();
        assert_eq!(st.transactions, if fr == FailureReport::No { 0 } else { 1 });
        assert!(p
            .a
            .events
            .iter()
            .all(|e| !matches!(e, Event::MessageAccepted { .. })));
    }
}
