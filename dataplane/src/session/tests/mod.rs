//! Engine tests: two connections driven against each other through the `Pair` harness, and
//! hand-written frames for what a compliant peer would never send.

mod alloc;
mod auth;
mod craft;
mod errors;
mod nickname;
mod pair;
mod props;
mod receive;
mod send;
mod transfer;
