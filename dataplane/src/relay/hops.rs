//! Connections this relay opens to next hops, reused per (scheme, host, port) as RFC 4976
//! §6.4.2 asks, and the names still being resolved (resolution runs on a helper thread so
//! that the worker never blocks).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::egress::StreamKey;
use crate::net::ConnId;

/// Where a next hop is: TLS or not, lower-case host, port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HopKey {
    pub tls: bool,
    pub host: Box<[u8]>,
    pub port: u16,
}

fn hash(tls: bool, host: &[u8], port: u16) -> u64 {
    let mut h = DefaultHasher::new();
    tls.hash(&mut h);
    for b in host {
        h.write_u8(b.to_ascii_lowercase());
    }
    port.hash(&mut h);
    h.finish()
}

/// A request waiting for its next hop's name to resolve.
pub struct Parked {
    pub key: StreamKey,
    pub hop: HopKey,
}

/// Next-hop connections and pending resolutions of one worker.
#[derive(Default)]
pub struct Hops {
    pool: HashMap<u64, Vec<(HopKey, ConnId)>>,
    resolving: HashMap<Box<[u8]>, Vec<Parked>>,
    cache: HashMap<Box<[u8]>, (IpAddr, Instant)>,
}

/// How long a resolved name is trusted.
const NAME_TTL: Duration = Duration::from_secs(60);

impl Hops {
    /// The open connection to `tls://host:port`, if any.
    pub fn get(&self, tls: bool, host: &[u8], port: u16) -> Option<ConnId> {
        self.pool
            .get(&hash(tls, host, port))?
            .iter()
            .find_map(|(k, c)| {
                (k.tls == tls && k.port == port && k.host.eq_ignore_ascii_case(host)).then_some(*c)
            })
    }

    /// Records a new connection to `key`.
    pub fn insert(&mut self, key: HopKey, conn: ConnId) {
        let h = hash(key.tls, &key.host, key.port);
        let v = self.pool.entry(h).or_default();
        v.retain(|(k, _)| *k != key);
        v.push((key, conn));
    }

    /// Forgets `conn` (it closed).
    pub fn forget(&mut self, key: &HopKey, conn: ConnId) {
        let h = hash(key.tls, &key.host, key.port);
        if let Some(v) = self.pool.get_mut(&h) {
            v.retain(|(_, c)| *c != conn);
            if v.is_empty() {
                self.pool.remove(&h);
            }
        }
    }

    /// A cached address for `host`.
    pub fn cached(&self, host: &[u8], now: Instant) -> Option<IpAddr> {
        let lower: Vec<u8> = host.to_ascii_lowercase();
        self.cache
            .get(lower.as_slice())
            .filter(|(_, t)| now.duration_since(*t) < NAME_TTL)
            .map(|(a, _)| *a)
    }

    /// Parks a request until `host` resolves; returns `true` if a resolution must be started.
    pub fn park(&mut self, host: &[u8], p: Parked) -> bool {
        let lower: Box<[u8]> = host.to_ascii_lowercase().into();
        let v = self.resolving.entry(lower).or_default();
        v.push(p);
        v.len() == 1
    }

    /// `host` resolved (or failed): the requests parked on it.
    pub fn resolved(&mut self, host: &[u8], addr: Option<IpAddr>, now: Instant) -> Vec<Parked> {
        let lower: Box<[u8]> = host.to_ascii_lowercase().into();
        if let Some(a) = addr {
            self.cache.insert(lower.clone(), (a, now));
        }
        self.resolving.remove(&lower).unwrap_or_default()
    }

    /// Drops parked requests of a source that went away.
    pub fn unpark(&mut self, key: StreamKey) {
        for v in self.resolving.values_mut() {
            v.retain(|p| p.key != key);
        }
    }
}
