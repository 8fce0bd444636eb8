//! Feeds arbitrary bytes to a session engine (in input-chosen splits, with timers firing and
//! an outgoing message in flight) and checks that it never panics, that everything it writes
//! parses as MSRP, and that its buffers stay within the configured limits.
#![no_main]

use bytes::{Bytes, BytesMut};
use dataplane::session::{
    Binding, Config, Connection, OutgoingMessage, ReassemblyLimits, SessionConfig,
    SessionDirectory, SuccessReportMode,
};
use dataplane::wire::{Event, MsrpUri, OwnedMsrpUri, Parser, ParserLimits};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

const LOCAL: &str = "msrp://b.example.com:7002/bob1;tcp";
const PEER: &str = "msrp://a.example.com:7001/alice1;tcp";

fn uri(s: &str) -> OwnedMsrpUri {
    OwnedMsrpUri::parse(Bytes::copy_from_slice(s.as_bytes())).unwrap()
}

/// Binds session ids starting with `s`, says "bound elsewhere" for `x`, unknown otherwise.
struct Dir;

impl SessionDirectory for Dir {
    fn bind(&mut self, u: &MsrpUri<'_>) -> Binding {
        match u.session_id().and_then(|s| s.first()) {
            Some(b's') => Binding::Bind(SessionConfig::new(u.to_owned_uri(), vec![uri(PEER)])),
            Some(b'x') => Binding::BoundElsewhere,
            _ => Binding::Unknown,
        }
    }
}

fn check_output(out: &mut Parser, wire: &mut BytesMut) {
    loop {
        match out.poll(wire) {
            Ok(None) => return,
            Ok(Some(Event::Head(_) | Event::Body(_) | Event::End { .. })) => {}
            Err(e) => panic!("engine wrote malformed MSRP: {e:?}"),
        }
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let (flags, seed, data) = (input[0], input[1], &input[2..]);
    let cfg = Config {
        parser: ParserLimits {
            max_start_line: 200,
            max_header_bytes: 800,
            max_headers: 16,
            max_chunk_size: 4000,
        },
        chunk_size: if flags & 1 == 0 { 700 } else { 3000 },
        transmit_slice: 2048,
        interleave_after: 2048,
        reassembly: ReassemblyLimits {
            max_message_size: 6000,
            max_buffered_bytes: 9000,
            max_messages: 4,
            max_fragments: 8,
            timeout: Duration::from_secs(5),
        },
        success_reports: if flags & 2 == 0 {
            SuccessReportMode::WholeMessage
        } else {
            SuccessReportMode::PerChunk
        },
        strict_from_path: flags & 4 != 0,
        progress_events: true,
        ..Config::default()
    };
    let mut n = u64::from(seed) + 1;
    let mut conn = Connection::new(cfg, move || {
        n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        n
    });
    let s = conn
        .add_session(SessionConfig::new(uri(LOCAL), vec![uri(PEER)]))
        .unwrap();
    if flags & 8 != 0 {
        let body: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let _ = conn.send_message(s, OutgoingMessage::new("text/plain", body));
    }
    let mut now = Instant::now();
    let mut out_parser = Parser::new(ParserLimits {
        max_chunk_size: u64::MAX,
        ..ParserLimits::default()
    });
    let mut wire = BytesMut::new();
    let mut buf = BytesMut::new();
    let mut pos = 0;
    let mut state = u32::from(seed) | 1;
    while pos < data.len() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (1 + state as usize % 97).min(data.len() - pos);
        buf.extend_from_slice(&data[pos..pos + n]);
        pos += n;
        if conn.handle_input_with(now, &mut buf, &mut Dir).is_err() {
            break;
        }
        if state & 3 == 0 {
            // Pace the output: the engine may interrupt chunks between pieces.
            if let Some(t) = conn.poll_transmit(now) {
                t.write_to(&mut wire);
            }
        }
        if state & 31 == 0 {
            now += Duration::from_secs(3);
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                conn.handle_timeout(now);
            }
        }
        while conn.poll_event().is_some() {}
        let st = conn.stats();
        assert!(st.buffered_bytes <= 9000);
        assert!(st.incomplete_messages <= 4);
    }
    now += Duration::from_secs(60);
    conn.handle_timeout(now);
    while let Some(t) = conn.poll_transmit(now) {
        t.write_to(&mut wire);
    }
    while conn.poll_event().is_some() {}
    check_output(&mut out_parser, &mut wire);
    // A failed connection is closed, so a chunk it was writing may stay unfinished.
    if !conn.is_failed() {
        assert!(out_parser.is_idle(), "engine left a frame unfinished");
    }
});
