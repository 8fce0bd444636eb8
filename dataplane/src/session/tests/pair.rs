//! A deterministic two-endpoint harness in the style of quinn-proto's test `Pair`: two
//! [`Connection`]s joined by a lossless in-memory pipe that delivers bytes in configurable
//! splits, a fake clock, and a session table for the passive side.

use crate::session::*;
use crate::wire::{
    Continuation, Event as WireEvent, FrameHead, OwnedMsrpUri, Parser, ParserLimits,
};
use bytes::{Bytes, BytesMut};
use std::time::{Duration, Instant};

pub const A_URI: &str = "msrp://a.example.com:7001/alice1;tcp";
pub const B_URI: &str = "msrp://b.example.com:7002/bob1;tcp";

pub fn uri(s: &str) -> OwnedMsrpUri {
    OwnedMsrpUri::parse(Bytes::copy_from_slice(s.as_bytes())).unwrap()
}

/// SplitMix64: a deterministic random source.
pub fn rng(seed: u64) -> impl FnMut() -> u64 + Send + 'static {
    let mut s = seed;
    move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// How the pipe cuts the byte stream before handing it to the receiver.
#[derive(Clone, Debug)]
pub enum Split {
    /// Everything available at once.
    Whole,
    /// Pieces of exactly `n` bytes.
    Fixed(usize),
    /// Pseudo-random pieces: mostly tiny (1..8), sometimes up to `max`.
    Random { seed: u64, max: usize },
}

struct Splitter {
    split: Split,
    state: u64,
}

impl Splitter {
    fn next(&mut self) -> usize {
        match self.split {
            Split::Whole => usize::MAX,
            Split::Fixed(n) => n.max(1),
            Split::Random { max, .. } => {
                self.state ^= self.state << 13;
                self.state ^= self.state >> 7;
                self.state ^= self.state << 17;
                let r = self.state;
                if r & 3 == 0 {
                    1 + (r >> 8) as usize % max.max(1)
                } else {
                    1 + (r >> 8) as usize % 8
                }
            }
        }
    }
}

pub struct Side {
    pub conn: Connection,
    pub id: u64,
    /// Bytes received by this side, not yet given to the connection.
    pub read_buf: BytesMut,
    pub events: Vec<Event>,
    /// Everything this side sent (when recording).
    pub wire: BytesMut,
    pub record: bool,
    /// Outbound bytes in the pipe towards the other side.
    pub pipe: BytesMut,
    /// Bytes this side sent in total.
    pub sent: u64,
    /// Drop everything this side sends (a peer that never answers).
    pub mute: bool,
    /// Most transmits taken per step (`usize::MAX`: drain).
    pub budget: usize,
    splitter: Splitter,
}

impl Side {
    fn new(conn: Connection, id: u64, split: Split) -> Side {
        let state = match split {
            Split::Random { seed, .. } => seed | 1,
            _ => 1,
        };
        Side {
            conn,
            id,
            read_buf: BytesMut::new(),
            events: Vec::new(),
            wire: BytesMut::new(),
            record: true,
            pipe: BytesMut::new(),
            sent: 0,
            mute: false,
            budget: usize::MAX,
            splitter: Splitter { split, state },
        }
    }

    /// Takes the events collected so far.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The frames this side sent so far, parsed.
    pub fn frames(&self) -> Vec<Frame> {
        parse_frames(&self.wire)
    }

    pub fn messages(&self) -> Vec<&ReceivedMessage> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

/// A frame as seen on the wire.
#[derive(Debug, Clone)]
pub struct Frame {
    pub head: FrameHead,
    pub body: Vec<u8>,
    pub flag: Continuation,
}

impl Frame {
    pub fn method(&self) -> Option<&[u8]> {
        self.head.method_name()
    }
    pub fn is_method(&self, m: &str) -> bool {
        self.method() == Some(m.as_bytes())
    }
    pub fn code(&self) -> Option<u16> {
        self.head.status_code()
    }
}

pub fn parse_frames(bytes: &[u8]) -> Vec<Frame> {
    let mut p = Parser::new(ParserLimits {
        max_chunk_size: u64::MAX,
        ..ParserLimits::default()
    });
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    let mut cur: Option<(FrameHead, Vec<u8>)> = None;
    loop {
        match p.poll(&mut buf) {
            Ok(None) => return out,
            Ok(Some(WireEvent::Head(h))) => cur = Some((h, Vec::new())),
            Ok(Some(WireEvent::Body(b))) => {
                if let Some(c) = cur.as_mut() {
                    c.1.extend_from_slice(&b)
                }
            }
            Ok(Some(WireEvent::End { flag })) => {
                let (head, body) = cur.take().unwrap();
                out.push(Frame { head, body, flag });
            }
            Err(e) => panic!("engine wrote an unparsable stream: {e:?}"),
        }
    }
}

pub struct Pair {
    pub now: Instant,
    pub a: Side,
    pub b: Side,
    /// Sessions the passive side (b) binds on first request.
    pub table: SessionTable,
    /// Sessions the active side (a) would bind (normally empty).
    pub table_a: SessionTable,
}

impl Pair {
    pub fn new(cfg_a: Config, cfg_b: Config) -> Pair {
        Self::with_split(cfg_a, cfg_b, Split::Whole)
    }

    pub fn with_split(cfg_a: Config, cfg_b: Config, split: Split) -> Pair {
        let split_a = match &split {
            Split::Random { seed, max } => Split::Random {
                seed: seed.wrapping_mul(31).wrapping_add(7),
                max: *max,
            },
            s => s.clone(),
        };
        Pair {
            now: Instant::now(),
            a: Side::new(Connection::new(cfg_a, rng(1)), 1, split_a),
            b: Side::new(Connection::new(cfg_b, rng(2)), 2, split),
            table: SessionTable::new(),
            table_a: SessionTable::new(),
        }
    }

    /// a opens a session to b (b knows it in its table): returns (a's id, b's id).
    pub fn connect(&mut self) -> (SessionId, SessionId) {
        self.table
            .insert(SessionConfig::new(uri(B_URI), vec![uri(A_URI)]));
        let sa = self
            .a
            .conn
            .open_session(SessionConfig::new(uri(A_URI), vec![uri(B_URI)]))
            .unwrap();
        self.drive();
        let sb = self
            .b
            .events
            .iter()
            .find_map(|e| match e {
                Event::SessionBound { session } => Some(*session),
                _ => None,
            })
            .expect("b bound the session");
        self.a.events.clear();
        self.b.events.clear();
        (sa, sb)
    }

    /// Moves bytes until both sides are quiet.
    pub fn drive(&mut self) {
        while self.step() {}
    }

    /// One round: each side transmits (up to its budget), then each pipe is delivered.
    pub fn step(&mut self) -> bool {
        let mut progress = false;
        for side in [&mut self.a, &mut self.b] {
            let mut n = 0;
            while n < side.budget {
                let Some(t) = side.conn.poll_transmit(self.now) else {
                    break;
                };
                n += 1;
                progress = true;
                side.sent += t.len() as u64;
                if side.mute {
                    continue;
                }
                if side.record {
                    t.write_to(&mut side.wire);
                }
                t.write_to(&mut side.pipe);
            }
        }
        let now = self.now;
        progress |= deliver(now, &mut self.a, &mut self.b, &mut self.table);
        progress |= deliver(now, &mut self.b, &mut self.a, &mut self.table_a);
        for side in [&mut self.a, &mut self.b] {
            while let Some(e) = side.conn.poll_event() {
                side.events.push(e);
            }
        }
        progress
    }

    /// Advances the fake clock, fires due timers, and drives.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        for side in [&mut self.a, &mut self.b] {
            if side.conn.poll_timeout().is_some_and(|t| t <= self.now) {
                side.conn.handle_timeout(self.now);
            }
        }
        self.drive();
    }

    /// Advances the fake clock and fires due timers, without moving bytes.
    pub fn advance_without_drive(&mut self, d: Duration) {
        self.now += d;
        for side in [&mut self.a, &mut self.b] {
            if side.conn.poll_timeout().is_some_and(|t| t <= self.now) {
                side.conn.handle_timeout(self.now);
            }
            while let Some(e) = side.conn.poll_event() {
                side.events.push(e);
            }
        }
    }

    /// Feeds raw bytes to b as if a had sent them.
    pub fn inject_to_b(&mut self, bytes: &[u8]) {
        self.a.pipe.extend_from_slice(bytes);
        self.drive();
    }
}

fn deliver(now: Instant, from: &mut Side, to: &mut Side, table: &mut SessionTable) -> bool {
    if from.pipe.is_empty() {
        return false;
    }
    while !from.pipe.is_empty() {
        let n = to.splitter.next().min(from.pipe.len());
        let piece = from.pipe.split_to(n);
        to.read_buf.extend_from_slice(&piece);
        let mut dir = table.for_connection(to.id);
        to.conn
            .handle_input_with(now, &mut to.read_buf, &mut dir)
            .expect("engine output must parse");
    }
    true
}

/// A payload whose bytes depend on their position and a seed.
pub fn payload(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed)
        .collect::<Vec<u8>>()
        .into()
}
