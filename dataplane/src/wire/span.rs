//! A byte range inside a frame head or URI, kept as two `u32`s so views stay small and `Copy`.

/// Half-open byte range `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The "absent" marker: no real header value starts at offset 0 (the start line is there).
    pub const NONE: Span = Span { start: 0, end: 0 };

    #[inline]
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    #[inline]
    pub fn is_none(self) -> bool {
        self.start == 0 && self.end == 0
    }

    /// The bytes of `src` under this span; empty if the span does not fit (never panics).
    #[inline]
    pub fn get(self, src: &[u8]) -> &[u8] {
        src.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }

    #[inline]
    pub fn opt(self, src: &[u8]) -> Option<&[u8]> {
        if self.is_none() {
            None
        } else {
            Some(self.get(src))
        }
    }

    #[inline]
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}
