//! Minimal STUN server for RFC 5626 keep-alives on the SIP UDP port (RFC 5626 §8, RFC 5389):
//! answers Binding requests with XOR-MAPPED-ADDRESS. Sans-IO.

use std::net::{IpAddr, SocketAddr};

const MAGIC: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;

/// True if a datagram looks like STUN rather than SIP: the first two bits are zero (SIP
/// always starts with a letter) and the magic cookie is present.
pub fn is_stun(d: &[u8]) -> bool {
    d.len() >= 20 && d[0] & 0xC0 == 0 && d[4..8] == MAGIC.to_be_bytes()
}

/// The Binding success response to a Binding request from `peer`, or `None` if the datagram is
/// not a well-formed Binding request.
pub fn binding_response(req: &[u8], peer: SocketAddr) -> Option<Vec<u8>> {
    if !is_stun(req) {
        return None;
    }
    let mtype = u16::from_be_bytes([req[0], req[1]]);
    let len = usize::from(u16::from_be_bytes([req[2], req[3]]));
    if mtype != BINDING_REQUEST || len % 4 != 0 || 20 + len != req.len() {
        return None;
    }
    let txid = &req[8..20];
    let mut attr = Vec::with_capacity(24);
    let xport = peer.port() ^ (MAGIC >> 16) as u16;
    match peer.ip() {
        IpAddr::V4(v4) => {
            attr.extend_from_slice(&[0, 0x01]);
            attr.extend_from_slice(&xport.to_be_bytes());
            let x = u32::from_be_bytes(v4.octets()) ^ MAGIC;
            attr.extend_from_slice(&x.to_be_bytes());
        }
        IpAddr::V6(v6) => {
            attr.extend_from_slice(&[0, 0x02]);
            attr.extend_from_slice(&xport.to_be_bytes());
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&MAGIC.to_be_bytes());
            key[4..].copy_from_slice(txid);
            for (o, k) in v6.octets().iter().zip(key) {
                attr.push(o ^ k);
            }
        }
    }
    let mut out = Vec::with_capacity(20 + 4 + attr.len());
    out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
    out.extend_from_slice(&((4 + attr.len()) as u16).to_be_bytes());
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(txid);
    out.extend_from_slice(&XOR_MAPPED_ADDRESS.to_be_bytes());
    out.extend_from_slice(&(attr.len() as u16).to_be_bytes());
    out.extend_from_slice(&attr);
    Some(out)
}

/// Decodes XOR-MAPPED-ADDRESS from a Binding success response (used by tests and clients).
pub fn parse_xor_mapped(resp: &[u8]) -> Option<SocketAddr> {
    if resp.len() < 20 || u16::from_be_bytes([resp[0], resp[1]]) != BINDING_SUCCESS {
        return None;
    }
    let txid: [u8; 12] = resp[8..20].try_into().ok()?;
    let mut i = 20;
    while i + 4 <= resp.len() {
        let t = u16::from_be_bytes([resp[i], resp[i + 1]]);
        let l = usize::from(u16::from_be_bytes([resp[i + 2], resp[i + 3]]));
        let v = resp.get(i + 4..i + 4 + l)?;
        if t == XOR_MAPPED_ADDRESS && l >= 8 {
            let port = u16::from_be_bytes([v[2], v[3]]) ^ (MAGIC >> 16) as u16;
            return match v[1] {
                1 => {
                    let x = u32::from_be_bytes(v[4..8].try_into().ok()?) ^ MAGIC;
                    Some(SocketAddr::new(IpAddr::V4(x.to_be_bytes().into()), port))
                }
                2 if l >= 20 => {
                    let mut key = [0u8; 16];
                    key[..4].copy_from_slice(&MAGIC.to_be_bytes());
                    key[4..].copy_from_slice(&txid);
                    let mut o = [0u8; 16];
                    for (k, (a, b)) in v[4..20].iter().zip(key).enumerate() {
                        o[k] = a ^ b;
                    }
                    Some(SocketAddr::new(IpAddr::V6(o.into()), port))
                }
                _ => None,
            };
        }
        i += 4 + l.div_ceil(4) * 4;
    }
    None
}

/// A Binding request with this transaction id (client side, for tests).
pub fn binding_request(txid: [u8; 12]) -> Vec<u8> {
    let mut r = Vec::with_capacity(20);
    r.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    r.extend_from_slice(&0u16.to_be_bytes());
    r.extend_from_slice(&MAGIC.to_be_bytes());
    r.extend_from_slice(&txid);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn binding_roundtrip_v4_and_v6() {
        for peer in ["192.0.2.33:40000", "[2001:db8::77]:5062"] {
            let peer: SocketAddr = peer.parse().unwrap();
            let req = binding_request([9; 12]);
            assert!(is_stun(&req));
            let resp = binding_response(&req, peer).unwrap();
            assert_eq!(&resp[8..20], &[9; 12]);
            assert_eq!(parse_xor_mapped(&resp), Some(peer));
        }
    }

    #[test]
    fn sip_is_not_stun() {
        let sip = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n";
        assert!(!is_stun(sip));
        assert!(binding_response(b"\r\n\r\n", "127.0.0.1:1".parse().unwrap()).is_none());
        let mut bad = binding_request([1; 12]);
        bad[1] = 0x11; // not a Binding request
        assert!(binding_response(&bad, "127.0.0.1:1".parse().unwrap()).is_none());
    }

    proptest! {
        #[test]
        fn never_panics(d in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = binding_response(&d, "127.0.0.1:9".parse().unwrap());
            let _ = parse_xor_mapped(&d);
        }
    }
}
