//! Feeds the input through the MSRP parser twice, whole and in input-chosen splits (1-byte
//! feeds included), runs every accessor on each head, and checks that both feeds give the same
//! frames and errors.
#![no_main]

use bytes::BytesMut;
use dataplane::wire::{CpimView, Event, Parser, ParserLimits, WireError};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
enum Item {
    Frame(Vec<u8>, Vec<u8>, u8),
    Error(dataplane::wire::ErrorKind, bool),
}

fn limits() -> ParserLimits {
    ParserLimits {
        max_start_line: 200,
        max_header_bytes: 600,
        max_headers: 12,
        max_chunk_size: 3000,
    }
}

fn touch(head: &dataplane::wire::FrameHead) {
    let _ = head.to_path().count();
    let _ = head.from_path().count();
    let _ = head.to_path_last_owned();
    if let Some(p) = head.use_path() {
        let _ = p.count();
    }
    let _ = head.status();
    let _ = head.expires();
    let _ = head.min_expires();
    let _ = head.max_expires();
    if let Some(Ok(ct)) = head.content_type() {
        let _ = ct.params().count();
        let _ = ct.param("charset");
    }
    let _ = head.use_nickname();
    for d in [head.www_authenticate(), head.authorization(), head.authentication_info()]
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = d.get("nonce");
        for p in d.params().flatten() {
            let _ = p.unquoted();
        }
    }
    let _ = head.extension_headers().count();
    let _ = head.headers().count();
    let _ = head.header("X-Foo");
}

fn run(data: &[u8], mut next_len: impl FnMut() -> usize) -> Vec<Item> {
    let mut p = Parser::new(limits());
    let mut buf = BytesMut::new();
    let mut pos = 0;
    let mut out = Vec::new();
    let mut cur: Option<(Vec<u8>, Vec<u8>)> = None;
    let handle_err = |e: WireError, cur: &mut Option<(Vec<u8>, Vec<u8>)>, out: &mut Vec<Item>| {
        *cur = None;
        out.push(Item::Error(e.kind(), e.is_fatal()));
        e.is_fatal()
    };
    loop {
        loop {
            match p.poll(&mut buf) {
                Ok(None) => break,
                Ok(Some(Event::Head(h))) => {
                    touch(&h);
                    cur = Some((h.as_bytes().to_vec(), Vec::new()));
                }
                Ok(Some(Event::Body(b))) => {
                    if let Some(c) = cur.as_mut() {
                        c.1.extend_from_slice(&b);
                    }
                }
                Ok(Some(Event::End { flag })) => {
                    if let Some((h, b)) = cur.take() {
                        if let Ok(v) = CpimView::parse(&b) {
                            let _ = v.to().count();
                            let _ = v.from();
                        }
                        out.push(Item::Frame(h, b, flag.as_byte()));
                    }
                }
                Err(e) => {
                    if handle_err(e, &mut cur, &mut out) {
                        return out;
                    }
                }
            }
        }
        if pos >= data.len() {
            return out;
        }
        let n = next_len().min(data.len() - pos);
        buf.extend_from_slice(&data[pos..pos + n]);
        pos += n;
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 2 {
        return;
    }
    let (seed, data) = (u16::from_le_bytes([input[0], input[1]]), &input[2..]);
    let whole = run(data, || usize::MAX);
    let mut state = u32::from(seed) | 1;
    let split = run(data, || {
        // xorshift: mostly tiny reads, sometimes larger ones.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        if seed & 1 == 0 {
            1
        } else {
            1 + (state % 64) as usize
        }
    });
    assert_eq!(whole, split, "split feeding changed the result");
});
