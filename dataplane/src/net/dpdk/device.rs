//! smoltcp's `phy::Device` over one queue pair, for one interface at a time.
//!
//! The backend demultiplexes received frames itself, so a [`StagedDevice`] is made per call into
//! an interface and carries at most the one frame chosen for it. Receive is zero-copy: smoltcp
//! parses the frame in place in the mbuf. Transmit is zero-copy at the frame level: smoltcp
//! writes headers and payload straight into a fresh mbuf, which joins the queue's tx burst.

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use super::mbuf::Mbuf;
use super::port::QueueIo;

/// The frame given to an interface for one ingress step.
pub enum Staged<'f> {
    /// A received mbuf (consumed: freed after processing).
    Mbuf(Mbuf),
    /// A copy shared by several interfaces (neighbour discovery fan-in).
    Slice(&'f [u8]),
}

/// A device view for one interface call.
pub struct StagedDevice<'io, 'f> {
    pub(crate) io: &'io mut QueueIo,
    pub(crate) rx: Option<Staged<'f>>,
    /// Replies produced while processing the staged frame are discarded (an interface other than
    /// the one answering neighbour discovery must stay silent).
    pub(crate) mute: bool,
    pub(crate) caps: &'io DeviceCapabilities,
    /// Scratch for linearising multi-segment frames and for frames that cannot be sent.
    pub(crate) scratch: &'io mut Vec<u8>,
}

/// Receive token: the frame, handed to smoltcp in place.
pub struct RxTok<'a, 'f> {
    frame: Staged<'f>,
    scratch: &'a mut Vec<u8>,
}

/// Transmit token: an mbuf reserved by `transmit`, or allocated on use (the reply path of a
/// received frame, rarely used).
pub struct TxTok<'a> {
    io: &'a mut QueueIo,
    mbuf: Option<Mbuf>,
    mute: bool,
    drop_buf: Option<&'a mut Vec<u8>>,
}

impl<'io, 'f> phy::Device for StagedDevice<'io, 'f> {
    type RxToken<'a>
        = RxTok<'a, 'f>
    where
        Self: 'a;
    type TxToken<'a>
        = TxTok<'a>
    where
        Self: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.rx.take()?;
        // The reply token never needs the scratch: rx owns it for linearising; a reply that
        // cannot get an mbuf is dropped into a small local buffer instead (see TxTok).
        Some((
            RxTok {
                frame,
                scratch: self.scratch,
            },
            TxTok {
                io: self.io,
                mbuf: None,
                mute: self.mute,
                drop_buf: None,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
        if self.mute {
            return Some(TxTok {
                io: self.io,
                mbuf: None,
                mute: true,
                drop_buf: Some(self.scratch),
            });
        }
        if !self.io.tx_room() {
            self.io.flush();
            if !self.io.tx_room() {
                return None;
            }
        }
        let m = self.io.pool.alloc()?;
        Some(TxTok {
            io: self.io,
            mbuf: Some(m),
            mute: false,
            drop_buf: Some(self.scratch),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}

impl phy::RxToken for RxTok<'_, '_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        match self.frame {
            Staged::Slice(s) => f(s),
            Staged::Mbuf(m) => {
                if m.segments() == 1 {
                    f(m.data())
                } else {
                    m.copy_to(self.scratch);
                    f(self.scratch)
                }
            }
        }
    }
}

impl phy::TxToken for TxTok<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let TxTok {
            io,
            mbuf,
            mute,
            drop_buf,
        } = self;
        let mbuf = if mute {
            None
        } else {
            mbuf.or_else(|| io.pool.alloc())
        };
        if let Some(mut m) = mbuf {
            if let Some(buf) = m.append(len) {
                let r = f(buf);
                io.push_tx(m);
                return r;
            }
        }
        // Muted, out of mbufs, or longer than an mbuf: smoltcp still needs somewhere to write.
        if !mute {
            io.stats.tx_dropped += 1;
        }
        let mut local = Vec::new();
        let buf = drop_buf.unwrap_or(&mut local);
        buf.clear();
        buf.resize(len, 0);
        f(buf)
    }
}

/// What the interfaces of one port queue can assume about it.
pub fn capabilities(ip_mtu: usize, rx_checksum_offload: bool) -> DeviceCapabilities {
    let mut caps = DeviceCapabilities::default();
    caps.medium = Medium::Ethernet;
    caps.max_transmission_unit = ip_mtu + 14;
    caps.max_burst_size = None;
    if rx_checksum_offload {
        // The NIC verified IPv4 and TCP checksums; frames it flagged bad never reach smoltcp.
        caps.checksum.ipv4 = phy::Checksum::Tx;
        caps.checksum.tcp = phy::Checksum::Tx;
    }
    caps
}
