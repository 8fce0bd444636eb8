//! Hand-written frames from a peer (what a relay or a misbehaving sender may produce).

use super::pair::*;
use crate::wire::{ByteRange, Continuation, FailureReport, Ident, RequestWriter, SuccessReport};
use bytes::BytesMut;

/// A SEND chunk from a to b's session.
pub struct Chunk<'a> {
    pub tid: &'a str,
    pub message_id: &'a str,
    pub range: Option<(u64, Option<u64>, Option<u64>)>,
    pub body: &'a [u8],
    pub flag: Continuation,
    pub content_type: &'a str,
    pub failure_report: Option<FailureReport>,
    pub success_report: Option<SuccessReport>,
    pub to: &'a str,
}

impl Default for Chunk<'_> {
    fn default() -> Self {
        Chunk {
            tid: "tid00001",
            message_id: "msg00001",
            range: None,
            body: b"",
            flag: Continuation::Complete,
            content_type: "text/plain",
            failure_report: None,
            success_report: None,
            to: B_URI,
        }
    }
}

impl Chunk<'_> {
    pub fn bytes(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut w = RequestWriter::new(
            &mut buf,
            Ident::new(self.tid.as_bytes()).unwrap(),
            "SEND",
            &[self.to],
            &[A_URI],
        )
        .message_id(self.message_id.as_bytes());
        if let Some((start, end, total)) = self.range {
            w = w.byte_range(ByteRange { start, end, total });
        }
        if let Some(fr) = self.failure_report {
            w = w.failure_report(fr);
        }
        if let Some(sr) = self.success_report {
            w = w.success_report(sr);
        }
        w.content_type(self.content_type.as_bytes())
            .body(self.body, self.flag);
        buf.to_vec()
    }
}

/// Any text frame with CRLF line ends (`\n` in `s` becomes CRLF).
pub fn raw(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}
