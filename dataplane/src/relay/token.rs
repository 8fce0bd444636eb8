//! Relay URIs handed out in `Use-Path` (RFC 4976 §6.3): capability tokens that name the worker
//! and connection they belong to, carry at least 64 random bits, and are sealed with an HMAC so
//! that any worker can reject a forged one before looking anything up.
//!
//! Layout before encoding (26 bytes, base64url without padding, 35 characters):
//! `worker u8 | conn idx u32 | conn gen u32 | expiry u32 (unix s) | random u64 | mac[5]`.
//! The random part makes every token unique and unguessable even with a leaked key; the MAC
//! makes a token worthless outside the relay that minted it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::net::ConnId;

const RAW_LEN: usize = 1 + 4 + 4 + 4 + 8 + MAC_LEN;
const MAC_LEN: usize = 5;
/// Length of an encoded token (the session-id part of a relay URI).
pub const TOKEN_LEN: usize = 35;

/// What a token says about itself once its MAC checked out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenInfo {
    /// Worker that owns the connection the token was minted for.
    pub worker: u8,
    /// That connection.
    pub conn: ConnId,
    /// Unix time (seconds) after which the token is void.
    pub expires: u32,
    /// The random part; with `conn` it is the key of the owner's token table.
    pub nonce: u64,
}

/// Mints and opens tokens with one secret key (per process; a farm would share it).
#[derive(Clone)]
pub struct TokenSealer {
    key: [u8; 32],
}

impl std::fmt::Debug for TokenSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSealer(..)")
    }
}

impl TokenSealer {
    /// A sealer with this secret key.
    pub fn new(key: [u8; 32]) -> Self {
        TokenSealer { key }
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC_LEN] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        m.update(body);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// Encodes a token.
    pub fn seal(&self, info: &TokenInfo) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = info.worker;
        raw[1..5].copy_from_slice(&info.conn.idx.to_be_bytes());
        raw[5..9].copy_from_slice(&info.conn.gen.to_be_bytes());
        raw[9..13].copy_from_slice(&info.expires.to_be_bytes());
        raw[13..21].copy_from_slice(&info.nonce.to_be_bytes());
        let mac = self.mac(&raw[..21]);
        raw[21..].copy_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Decodes and authenticates a token; `None` for anything not minted with this key.
    /// Expiry is the caller's business (it knows the time).
    pub fn open(&self, token: &[u8]) -> Option<TokenInfo> {
        if token.len() != TOKEN_LEN {
            return None;
        }
        let mut raw = [0u8; RAW_LEN + 1];
        let n = URL_SAFE_NO_PAD.decode_slice(token, &mut raw).ok()?;
        if n != RAW_LEN {
            return None;
        }
        let mac = self.mac(&raw[..21]);
        // Constant time: the MAC is the only secret-dependent comparison.
        if mac
            .iter()
            .zip(&raw[21..RAW_LEN])
            .fold(0u8, |a, (x, y)| a | (x ^ y))
            != 0
        {
            return None;
        }
        let u32_at = |i: usize| u32::from_be_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]);
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&raw[13..21]);
        Some(TokenInfo {
            worker: raw[0],
            conn: ConnId {
                idx: u32_at(1),
                gen: u32_at(5),
            },
            expires: u32_at(9),
            nonce: u64::from_be_bytes(nonce),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn info() -> TokenInfo {
        TokenInfo {
            worker: 3,
            conn: ConnId { idx: 77, gen: 9 },
            expires: 1_900_000_000,
            nonce: 0xdead_beef_0bad_f00d,
        }
    }

    #[test]
    fn roundtrip_and_shape() {
        let s = TokenSealer::new([7; 32]);
        let t = s.seal(&info());
        assert_eq!(t.len(), TOKEN_LEN);
        // RFC 4975 session-id characters only (unreserved).
        assert!(t
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(s.open(t.as_bytes()), Some(info()));
    }

    #[test]
    fn other_key_or_tampering_is_rejected() {
        let s = TokenSealer::new([7; 32]);
        let t = s.seal(&info());
        assert_eq!(TokenSealer::new([8; 32]).open(t.as_bytes()), None);
        let mut b = t.into_bytes();
        b[3] = if b[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(s.open(&b), None);
        assert_eq!(s.open(b"short"), None);
        assert_eq!(s.open(&[b'!'; TOKEN_LEN]), None);
    }

    proptest! {
        #[test]
        fn any_info_roundtrips(w: u8, idx: u32, gen: u32, exp: u32, nonce: u64) {
            let s = TokenSealer::new([1; 32]);
            let i = TokenInfo { worker: w, conn: ConnId { idx, gen }, expires: exp, nonce };
            prop_assert_eq!(s.open(s.seal(&i).as_bytes()), Some(i));
        }

        #[test]
        fn garbage_never_opens(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(TokenSealer::new([1; 32]).open(&v), None);
        }
    }
}
