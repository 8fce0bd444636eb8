//! Zero-copy MSRP wire codec (RFC 4975 §9): frames, URIs, writer, CPIM view. No I/O, no clock.
