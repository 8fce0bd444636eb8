//! Property tests: whatever the messages, chunk sizes, slices, input splits and pacing,
//! every message arrives exactly once and identical; chunks in any order reassemble.

use super::craft::*;
use super::pair::*;
use crate::session::*;
use crate::wire::{Continuation, SuccessReport};
use proptest::prelude::*;

fn chunk_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        1usize..64,
        64usize..2048,
        2048usize..2050,
        2050usize..40_000,
        Just(usize::MAX)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn pair_delivers_every_message_identically(
        lens in proptest::collection::vec((0usize..30_000, any::<bool>()), 1..5),
        back in proptest::collection::vec(0usize..10_000, 0..3),
        chunk in chunk_size(),
        slice in 2048usize..20_000,
        interleave in 2048usize..30_000,
        split_seed in any::<u64>(),
        split_max in 1usize..5000,
        budget in prop_oneof![Just(usize::MAX), 1usize..6],
    ) {
        let cfg = Config { chunk_size: chunk, transmit_slice: slice, interleave_after: interleave, ..Config::default() };
        let mut p = Pair::with_split(cfg.clone(), cfg, Split::Random { seed: split_seed, max: split_max });
        p.a.budget = budget;
        p.b.budget = budget;
        p.a.record = false;
        p.b.record = false;
        let (sa, sb) = p.connect();
        // Keep the number of frames bounded for tiny chunk sizes.
        let cap = chunk.saturating_mul(2000);
        let mut sent = Vec::new();
        for (i, (len, sr)) in lens.iter().enumerate() {
            let body = payload((*len).min(cap), i as u8);
            let sr = if *sr { SuccessReport::Yes } else { SuccessReport::No };
            let id = p.a.conn.send_message(sa, OutgoingMessage::new("text/plain", body.clone()).success_report(sr)).unwrap();
            sent.push((id, body, sr));
        }
        let mut sent_back = Vec::new();
        for (i, len) in back.iter().enumerate() {
            let body = payload((*len).min(cap), 100 + i as u8);
            let id = p.b.conn.send_message(sb, OutgoingMessage::new("text/plain", body.clone())).unwrap();
            sent_back.push((id, body));
        }
        p.drive();
        let got = p.b.messages();
        prop_assert_eq!(got.len(), sent.len());
        for (id, body, sr) in &sent {
            let m = got.iter().find(|m| m.message_id == *id).expect("delivered");
            prop_assert!(m.body == *body);
            let accepted = p.a.events.iter().any(|e| matches!(e, Event::MessageAccepted { message_id, .. } if message_id == id));
            prop_assert!(accepted, "no 200 for every chunk");
            if *sr == SuccessReport::Yes {
                let reported = p.a.events.iter().any(|e| matches!(e, Event::SuccessReport { message_id, complete: true, .. } if message_id == id));
                prop_assert!(reported, "no complete success report");
            }
        }
        let got_back = p.a.messages();
        prop_assert_eq!(got_back.len(), sent_back.len());
        for (id, body) in &sent_back {
            prop_assert!(got_back.iter().any(|m| m.message_id == *id && m.body == *body));
        }
        let failures = p.a.events.iter().filter(|e| matches!(e, Event::SendFailed(_))).count();
        prop_assert_eq!(failures, 0);
        prop_assert_eq!(p.a.conn.stats(), ConnectionStats::default());
        prop_assert_eq!(p.b.conn.stats(), ConnectionStats::default());
    }

    #[test]
    fn chunks_in_any_order_reassemble(
        len in 1usize..5000,
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
        order in any::<prop::sample::Index>(),
        resend in proptest::option::of((any::<prop::sample::Index>(), any::<prop::sample::Index>())),
        unknown_total in any::<bool>(),
        split in 1usize..300,
    ) {
        let body = payload(len, 7);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(len)).filter(|&c| c > 0).collect();
        points.push(0);
        points.push(len);
        points.sort_unstable();
        points.dedup();
        let mut pieces: Vec<(usize, usize)> = points.windows(2).map(|w| (w[0], w[1])).collect();
        // A repeated, overlapping range (same data) from a "relay" resend.
        if let Some((a, b)) = resend {
            let (x, y) = (a.index(len), b.index(len + 1));
            if x < y {
                pieces.push((x, y));
            }
        }
        // A deterministic permutation.
        let n = pieces.len();
        let mut idx: Vec<usize> = (0..n).collect();
        let mut k = order.index(usize::MAX / 2) | 1;
        for i in (1..n).rev() {
            k = k.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            idx.swap(i, (k >> 33) % (i + 1));
        }
        let mut p = Pair::with_split(Config::default(), Config::default(), Split::Fixed(split));
        p.connect();
        for (j, &i) in idx.iter().enumerate() {
            let (s, e) = pieces[i];
            let flag = if e == len { Continuation::Complete } else { Continuation::More };
            let tid = format!("tidprop{j:04}");
            let total = if unknown_total { None } else { Some(len as u64) };
            p.inject_to_b(&Chunk {
                tid: &tid,
                message_id: "msgprop1",
                range: Some((s as u64 + 1, Some(e as u64), total)),
                body: &body[s..e],
                flag,
                ..Chunk::default()
            }.bytes());
        }
        let got = p.b.messages();
        prop_assert_eq!(got.len(), 1);
        prop_assert!(got[0].body == body);
        prop_assert_eq!(p.b.conn.stats().incomplete_messages, 0);
        prop_assert_eq!(p.b.conn.stats().buffered_bytes, 0);
    }
}
