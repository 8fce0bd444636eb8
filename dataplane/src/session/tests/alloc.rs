//! The hot path does not allocate per chunk: a counting allocator (per thread, so parallel
//! tests do not disturb it) measures a whole transfer between two connections.

use super::pair::*;
use crate::session::*;
use bytes::BytesMut;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the slot may be gone while a thread shuts down.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Moves everything between `a` and `b` until both are quiet; returns messages delivered.
fn pump(
    now: Instant,
    a: &mut Connection,
    b: &mut Connection,
    ab: &mut BytesMut,
    ba: &mut BytesMut,
) -> usize {
    let mut delivered = 0;
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now) {
            t.write_to(ab);
            moved = true;
        }
        if !ab.is_empty() {
            b.handle_input(now, ab).unwrap();
            moved = true;
        }
        while let Some(t) = b.poll_transmit(now) {
            t.write_to(ba);
            moved = true;
        }
        if !ba.is_empty() {
            a.handle_input(now, ba).unwrap();
            moved = true;
        }
        for c in [&mut *a, &mut *b] {
            while let Some(e) = c.poll_event() {
                if matches!(e, Event::Message(_)) {
                    delivered += 1;
                }
            }
        }
        if !moved {
            return delivered;
        }
    }
}

fn pair(chunk_size: usize) -> (Connection, Connection, SessionId) {
    let cfg = Config {
        chunk_size,
        ..Config::default()
    };
    let mut a = Connection::new(cfg.clone(), rng(1));
    let mut b = Connection::new(cfg, rng(2));
    let sa = a
        .add_session(SessionConfig::new(uri(A_URI), vec![uri(B_URI)]))
        .unwrap();
    b.add_session(SessionConfig::new(uri(B_URI), vec![uri(A_URI)]))
        .unwrap();
    (a, b, sa)
}

#[test]
fn a_chunked_transfer_allocates_per_message_not_per_chunk() {
    let (mut a, mut b, sa) = pair(1024);
    let now = Instant::now();
    let (mut ab, mut ba) = (
        BytesMut::with_capacity(1 << 16),
        BytesMut::with_capacity(1 << 16),
    );
    let body = payload(1 << 20, 1);
    // Warm up tables, queues and buffers with one transfer.
    a.send_message(
        sa,
        OutgoingMessage::new("application/octet-stream", body.clone()),
    )
    .unwrap();
    assert_eq!(pump(now, &mut a, &mut b, &mut ab, &mut ba), 1);
    let msg = OutgoingMessage::new("application/octet-stream", body.clone());
    let before = allocs();
    a.send_message(sa, msg).unwrap();
    assert_eq!(pump(now, &mut a, &mut b, &mut ab, &mut ba), 1);
    let n = allocs() - before;
    // 1024 chunks and 1024 responses. What allocates is per message (the reassembly
    // buffer) or a refill of a connection's scratch buffer while earlier frames still queue
    // (a few per burst), never per chunk. (Measured: 6.)
    assert!(n < 16, "{n} allocations for 1024 chunks");
}

#[test]
fn small_messages_do_not_allocate_once_warm() {
    let (mut a, mut b, sa) = pair(64 * 1024);
    let now = Instant::now();
    let (mut ab, mut ba) = (
        BytesMut::with_capacity(1 << 16),
        BytesMut::with_capacity(1 << 16),
    );
    let body = payload(100, 1);
    for _ in 0..300 {
        a.send_message(sa, OutgoingMessage::new("text/plain", body.clone()))
            .unwrap();
    }
    assert_eq!(pump(now, &mut a, &mut b, &mut ab, &mut ba), 300);
    let before = allocs();
    for _ in 0..1000 {
        a.send_message(sa, OutgoingMessage::new("text/plain", body.clone()))
            .unwrap();
        pump(now, &mut a, &mut b, &mut ab, &mut ba);
    }
    let n = allocs() - before;
    // Send, 200, receive and deliver reuse every buffer once warm. (Measured: 0.)
    assert!(n <= 10, "{n} allocations for 1000 messages");
}
