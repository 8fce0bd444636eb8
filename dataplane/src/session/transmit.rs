//! What the engine hands to the transport: one piece of the outgoing byte stream as up to
//! three slices (head, shared body, end-line), ready for a vectored write without copying.

use crate::wire::{EndLine, OutFrame};
use bytes::{BufMut, Bytes, BytesMut};
use std::io::IoSlice;

/// Bytes to write, in order: `head`, `body`, then `tail`. Any part may be empty: a long chunk
/// goes out as its head with a first body slice, further body slices, and finally its
/// end-line (`+` when interrupted, `#` when aborted, `$` when the message ends).
#[derive(Clone, Debug, Default)]
pub struct Transmit {
    /// Start line and headers (for a chunk: up to the blank line), or a whole bodiless frame.
    pub head: Bytes,
    /// A slice of the message body (shared with the user's `Bytes`, never copied).
    pub body: Bytes,
    /// The end-line, with its leading CRLF when it follows a body.
    pub tail: Option<EndLine>,
}

impl Transmit {
    /// A piece that is one contiguous buffer (responses, REPORTs).
    pub fn from_bytes(head: Bytes) -> Self {
        Transmit {
            head,
            body: Bytes::new(),
            tail: None,
        }
    }

    /// The three slices for `write_vectored` (empty slices are harmless).
    pub fn io_slices(&self) -> [IoSlice<'_>; 3] {
        [
            IoSlice::new(&self.head),
            IoSlice::new(&self.body),
            IoSlice::new(self.tail.as_ref().map_or(&[][..], EndLine::as_bytes)),
        ]
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len() + self.tail.as_ref().map_or(0, |t| t.as_bytes().len())
    }

    /// `true` when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the bytes into `out` (tests, transports without vectored writes).
    pub fn write_to(&self, out: &mut BytesMut) {
        out.reserve(self.len());
        out.put_slice(&self.head);
        out.put_slice(&self.body);
        if let Some(t) = &self.tail {
            out.put_slice(t.as_bytes());
        }
    }
}

impl From<OutFrame> for Transmit {
    fn from(f: OutFrame) -> Self {
        Transmit {
            head: f.head,
            body: f.body,
            tail: Some(f.tail),
        }
    }
}
