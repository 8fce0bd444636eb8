//! The demultiplexer's view of a received Ethernet frame: which TCP flow it belongs to, or
//! whether it is neighbour discovery (ARP/NDP, seen by every interface of the core), or other
//! IP traffic for the control interface. A bounds-checked header walk: any byte string is a
//! valid input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A TCP connection as seen from this host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Our address.
    pub local: IpAddr,
    /// The peer's address.
    pub remote: IpAddr,
    /// Our port.
    pub lport: u16,
    /// The peer's port.
    pub rport: u16,
}

/// What a frame is, for the demultiplexer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A TCP segment; `syn` is a connection request (SYN without ACK).
    Tcp {
        /// The flow, from our side.
        key: FlowKey,
        /// SYN set, ACK clear.
        syn: bool,
    },
    /// ARP, or ICMPv6 router/neighbour discovery: every interface learns from it.
    Neighbor,
    /// Other IP traffic (ICMP echo, fragments, extension headers): the control interface.
    Other,
    /// Nothing a TCP/IP stack would use.
    Drop,
}

const ETH_HDR: usize = 14;
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Classifies an Ethernet frame.
#[inline]
pub fn classify(frame: &[u8]) -> Class {
    let Some(ethertype) = be16(frame, 12) else {
        return Class::Drop;
    };
    let ip = &frame[ETH_HDR.min(frame.len())..];
    match ethertype {
        0x0806 => Class::Neighbor,
        0x0800 => ipv4(ip),
        0x86dd => ipv6(ip),
        _ => Class::Drop,
    }
}

fn ipv4(ip: &[u8]) -> Class {
    let Some(&vihl) = ip.first() else {
        return Class::Drop;
    };
    if vihl >> 4 != 4 {
        return Class::Drop;
    }
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < 20 || ip.len() < ihl {
        return Class::Drop;
    }
    let Some(frag) = be16(ip, 6) else {
        return Class::Drop;
    };
    // More-fragments or a non-zero offset: not a whole segment.
    if frag & 0x3fff != 0 {
        return Class::Other;
    }
    if ip[9] != 6 {
        return Class::Other;
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    tcp(&ip[ihl..], IpAddr::V4(dst), IpAddr::V4(src))
}

fn ipv6(ip: &[u8]) -> Class {
    if ip.len() < 40 || ip[0] >> 4 != 6 {
        return Class::Drop;
    }
    match ip[6] {
        6 => {
            let mut s = [0u8; 16];
            let mut d = [0u8; 16];
            s.copy_from_slice(&ip[8..24]);
            d.copy_from_slice(&ip[24..40]);
            tcp(
                &ip[40..],
                IpAddr::V6(Ipv6Addr::from(d)),
                IpAddr::V6(Ipv6Addr::from(s)),
            )
        }
        // ICMPv6: router solicitation/advertisement, neighbour solicitation/advertisement,
        // redirect.
        58 => match ip.get(40) {
            Some(133..=137) => Class::Neighbor,
            Some(_) => Class::Other,
            None => Class::Drop,
        },
        _ => Class::Other,
    }
}

fn tcp(seg: &[u8], local: IpAddr, remote: IpAddr) -> Class {
    let (Some(rport), Some(lport), Some(&flags)) = (be16(seg, 0), be16(seg, 2), seg.get(13)) else {
        return Class::Drop;
    };
    Class::Tcp {
        key: FlowKey {
            local,
            remote,
            lport,
            rport,
        },
        syn: flags & (TCP_SYN | TCP_ACK) == TCP_SYN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xff; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4_tcp(flags: u8, frag: u16) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 40, 0, 0];
        ip.extend_from_slice(&frag.to_be_bytes());
        ip.extend_from_slice(&[64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&2855u16.to_be_bytes());
        tcp[13] = flags;
        ip.extend_from_slice(&tcp);
        eth(0x0800, &ip)
    }

    #[test]
    fn ipv4_tcp_flow_is_seen_from_our_side() {
        let c = classify(&ipv4_tcp(TCP_SYN, 0));
        let key = FlowKey {
            local: "10.0.0.2".parse().unwrap(),
            remote: "10.0.0.1".parse().unwrap(),
            lport: 2855,
            rport: 40000,
        };
        assert_eq!(c, Class::Tcp { key, syn: true });
        assert_eq!(
            classify(&ipv4_tcp(TCP_SYN | TCP_ACK, 0)),
            Class::Tcp { key, syn: false }
        );
        assert_eq!(
            classify(&ipv4_tcp(TCP_ACK, 0)),
            Class::Tcp { key, syn: false }
        );
    }

    #[test]
    fn fragments_and_non_tcp_go_to_the_control_interface() {
        assert_eq!(classify(&ipv4_tcp(TCP_ACK, 0x2000)), Class::Other);
        assert_eq!(classify(&ipv4_tcp(TCP_ACK, 0x0010)), Class::Other);
        // Don't-fragment alone is a whole datagram.
        assert!(matches!(
            classify(&ipv4_tcp(TCP_ACK, 0x4000)),
            Class::Tcp { .. }
        ));
        let mut icmp = ipv4_tcp(0, 0);
        icmp[ETH_HDR + 9] = 1;
        assert_eq!(classify(&icmp), Class::Other);
    }

    #[test]
    fn ipv6_tcp_and_ndp() {
        let mut ip = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&dst.octets());
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&1234u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[13] = TCP_SYN;
        let mut t = ip.clone();
        t.extend_from_slice(&tcp);
        assert_eq!(
            classify(&eth(0x86dd, &t)),
            Class::Tcp {
                key: FlowKey {
                    local: IpAddr::V6(dst),
                    remote: IpAddr::V6(src),
                    lport: 80,
                    rport: 1234
                },
                syn: true
            }
        );
        let mut ns = ip.clone();
        ns[6] = 58;
        ns.extend_from_slice(&[135, 0, 0, 0]);
        assert_eq!(classify(&eth(0x86dd, &ns)), Class::Neighbor);
        let mut echo = ip;
        echo[6] = 58;
        echo.extend_from_slice(&[128, 0, 0, 0]);
        assert_eq!(classify(&eth(0x86dd, &echo)), Class::Other);
    }

    #[test]
    fn arp_is_neighbour_and_unknown_is_dropped() {
        assert_eq!(classify(&eth(0x0806, &[0; 28])), Class::Neighbor);
        assert_eq!(classify(&eth(0x88cc, &[0; 28])), Class::Drop);
        assert_eq!(classify(&[0u8; 5]), Class::Drop);
        // Truncated TCP header.
        let mut f = ipv4_tcp(TCP_SYN, 0);
        f.truncate(ETH_HDR + 20 + 10);
        assert_eq!(classify(&f), Class::Drop);
    }

    proptest! {
        #[test]
        fn any_bytes_classify_without_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = classify(&b);
        }

        #[test]
        fn mutated_valid_frames_classify_without_panic(
            flips in proptest::collection::vec((0usize..54, any::<u8>()), 0..8),
            cut in 0usize..60,
        ) {
            let mut f = ipv4_tcp(TCP_SYN, 0);
            for (i, v) in flips { if let Some(b) = f.get_mut(i) { *b = v; } }
            f.truncate(cut.min(f.len()));
            let _ = classify(&f);
        }
    }
}
