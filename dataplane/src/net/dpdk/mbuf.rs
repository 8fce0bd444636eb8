//! Packet buffers: an RAII mempool and an RAII mbuf. The fast-path calls go through the C shim
//! (they are `static inline` in DPDK); nothing here allocates on the Rust heap.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use super::eal::{DpdkError, Eal};
use super::sys;

/// A pool of packet buffers (`rte_pktmbuf_pool_create`), freed when dropped.
pub struct Mempool {
    raw: NonNull<sys::rte_mempool>,
    // Freed before the EAL is cleaned up.
    _eal: Arc<Eal>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; the pointer is only used
// through the pool API.
unsafe impl Send for Mempool {}
// SAFETY: as above.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `n` mbufs of `data_room` bytes (headroom included) with a per-lcore
    /// cache of `cache` on NUMA `socket` (-1: any).
    pub fn new(
        eal: &Arc<Eal>,
        name: &str,
        n: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Self, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::BadArgument(name.into()))?;
        // SAFETY: the name is a valid C string; DPDK copies it.
        let raw =
            unsafe { sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, socket) };
        match NonNull::new(raw) {
            Some(raw) => Ok(Mempool {
                raw,
                _eal: eal.clone(),
            }),
            None => Err(super::eal::call_error("rte_pktmbuf_pool_create", -1)),
        }
    }

    /// The raw pool, for queue setup.
    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.raw.as_ptr()
    }

    /// Takes one mbuf, or `None` when the pool is empty.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is valid for the life of `self`.
        NonNull::new(unsafe { sys::shim_pktmbuf_alloc(self.raw.as_ptr()) }).map(Mbuf)
    }

    /// Free mbufs in the pool (walks the per-lcore caches: not for the fast path).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid.
        unsafe { sys::shim_mempool_avail_count(self.raw.as_ptr()) }
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: every queue using the pool has been stopped (ports hold an Arc of their pools).
        unsafe { sys::rte_mempool_free(self.raw.as_ptr()) };
    }
}

/// One owned packet buffer (possibly the head of a chain), returned to its pool on drop.
pub struct Mbuf(NonNull<sys::rte_mbuf>);

// SAFETY: an mbuf may be freed or used from any thread as long as one thread owns it, which
// the ownership of `Mbuf` guarantees.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf (e.g. from an rx burst).
    ///
    /// # Safety
    /// `raw` must be a valid mbuf that nothing else owns.
    #[inline]
    pub unsafe fn from_raw(raw: NonNull<sys::rte_mbuf>) -> Self {
        Mbuf(raw)
    }

    /// Gives up ownership (e.g. to a tx burst).
    #[inline]
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let p = self.0;
        std::mem::forget(self);
        p
    }

    /// Bytes in the first segment.
    #[inline]
    pub fn data_len(&self) -> usize {
        // SAFETY: valid mbuf.
        usize::from(unsafe { sys::shim_pktmbuf_data_len(self.0.as_ptr()) })
    }

    /// Bytes in the whole chain.
    #[inline]
    pub fn pkt_len(&self) -> usize {
        // SAFETY: valid mbuf.
        unsafe { sys::shim_pktmbuf_pkt_len(self.0.as_ptr()) as usize }
    }

    /// Segments in the chain.
    #[inline]
    pub fn segments(&self) -> u16 {
        // SAFETY: valid mbuf.
        unsafe { sys::shim_pktmbuf_nb_segs(self.0.as_ptr()) }
    }

    /// The first segment's bytes.
    #[inline]
    pub fn data(&self) -> &[u8] {
        // SAFETY: mtod points at data_len initialised bytes owned by this mbuf.
        unsafe {
            std::slice::from_raw_parts(
                sys::shim_pktmbuf_mtod(self.0.as_ptr()).cast::<u8>(),
                self.data_len(),
            )
        }
    }

    /// Copies the whole chain into `out` (for the rare multi-segment frame).
    pub fn copy_to(&self, out: &mut Vec<u8>) {
        out.clear();
        let mut seg = self.0.as_ptr();
        while !seg.is_null() {
            // SAFETY: every segment of an owned chain is valid; next is NULL at the end.
            unsafe {
                let len = usize::from(sys::shim_pktmbuf_data_len(seg));
                let p = sys::shim_pktmbuf_mtod(seg).cast::<u8>();
                out.extend_from_slice(std::slice::from_raw_parts(p, len));
                seg = sys::shim_pktmbuf_next(seg);
            }
        }
    }

    /// Grows the last segment by `len` bytes and returns them, or `None` without change if the
    /// tailroom is too small. The bytes hold whatever the buffer held before (an earlier packet
    /// or the zeroed pages the pool was mapped from): callers overwrite them.
    #[inline]
    pub fn append(&mut self, len: usize) -> Option<&mut [u8]> {
        let len16 = u16::try_from(len).ok()?;
        // SAFETY: valid mbuf; append returns NULL if there is not enough tailroom.
        let p = unsafe { sys::shim_pktmbuf_append(self.0.as_ptr(), len16) };
        if p.is_null() {
            return None;
        }
        // SAFETY: `len` bytes at `p` now belong to this packet and nothing else aliases them;
        // mempool memory is mapped, initialised memory (never Rust-uninitialised).
        Some(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) })
    }

    /// Bytes that can still be appended to the last segment.
    #[inline]
    pub fn tailroom(&self) -> usize {
        // SAFETY: valid mbuf.
        usize::from(unsafe { sys::shim_pktmbuf_tailroom(self.0.as_ptr()) })
    }

    /// Appends `tail` as further segments (zero-copy gather for header + shared body).
    pub fn chain(&mut self, tail: Mbuf) -> Result<(), Mbuf> {
        let t = tail.into_raw();
        // SAFETY: both are valid owned chains; on success the head owns the tail.
        let ret = unsafe { sys::shim_pktmbuf_chain(self.0.as_ptr(), t.as_ptr()) };
        if ret == 0 {
            Ok(())
        } else {
            // SAFETY: on failure the tail was not linked and is still ours.
            Err(unsafe { Mbuf::from_raw(t) })
        }
    }

    /// Receive offload flags (checksum status and so on).
    #[inline]
    pub fn ol_flags(&self) -> u64 {
        // SAFETY: valid mbuf.
        unsafe { sys::shim_pktmbuf_ol_flags(self.0.as_ptr()) }
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (and its chain).
        unsafe { sys::shim_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl Mbuf {
    /// Whether the NIC checked this frame's L4 checksum (and, for IPv4, its IP checksum) and
    /// found it good. Only meaningful with RX checksum offload on.
    #[inline]
    pub fn rx_checksum_good(&self, ipv4: bool) -> bool {
        // SAFETY: valid mbuf.
        unsafe { sys::shim_rx_cksum_good(self.0.as_ptr(), i32::from(ipv4)) != 0 }
    }
}
