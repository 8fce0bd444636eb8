//! The location service: bindings per address-of-record behind a trait (a cluster store comes
//! later), and the in-memory implementation, sharded by AOR so that registrations for different
//! users never contend on one lock. A reverse index per shard maps flows to AORs so that a dead
//! flow invalidates every binding using it (RFC 5626 §7).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Instant;

use super::flow::FlowKey;

/// One registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact element as registered, without any `expires` parameter; its other
    /// parameters (`+sip.instance`, `reg-id`, ...) are kept byte for byte.
    pub contact: String,
    /// The Contact URI.
    pub uri: String,
    /// `+sip.instance` value without quotes (`<urn:uuid:...>`).
    pub instance: Option<String>,
    /// `reg-id`, only when outbound was applied.
    pub reg_id: Option<u32>,
    /// Path vector stored with the binding (first element = first hop towards the UA).
    pub path: Vec<String>,
    /// The flow the REGISTER arrived on, when we were its first hop.
    pub flow: Option<FlowKey>,
    /// Call-ID of the registration.
    pub call_id: String,
    /// CSeq of the registration.
    pub cseq: u32,
    /// When the binding expires.
    pub expires: Instant,
    /// When the binding was last refreshed (newest first in target sets).
    pub updated: Instant,
}

/// How bindings are matched for replacement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BindingKey {
    /// RFC 5626: (instance, reg-id) within the AOR.
    Outbound(String, u32),
    /// RFC 5627 style: instance without reg-id.
    Instance(String),
    /// RFC 3261: the Contact URI.
    Uri(String),
}

impl Binding {
    /// The key this binding is matched by.
    pub fn key(&self) -> BindingKey {
        match (&self.instance, self.reg_id) {
            (Some(i), Some(r)) => BindingKey::Outbound(instance_key(i), r),
            (Some(i), None) => BindingKey::Instance(instance_key(i)),
            _ => BindingKey::Uri(self.uri.to_ascii_lowercase()),
        }
    }
}

/// Instance IDs compare by URN rules: for `urn:uuid:` the whole value is case-insensitive
/// (RFC 4122 §3); for other URNs we use lexical equivalence with a case-insensitive NID
/// (RFC 2141), approximated here by lowercasing the `urn:NID:` prefix only.
pub fn instance_key(instance: &str) -> String {
    let inner = instance.trim_start_matches('<').trim_end_matches('>');
    let lower = inner.to_ascii_lowercase();
    if lower.starts_with("urn:uuid:") {
        return lower;
    }
    match inner.splitn(3, ':').collect::<Vec<_>>()[..] {
        [u, nid, nss] => format!(
            "{}:{}:{}",
            u.to_ascii_lowercase(),
            nid.to_ascii_lowercase(),
            nss
        ),
        _ => inner.to_string(),
    }
}

/// Storage for bindings. Implementations must make `update` atomic per AOR.
pub trait LocationService: Send + Sync {
    /// Runs `f` on the AOR's binding list under the AOR's lock; empty lists are dropped.
    fn update(&self, aor: &str, f: &mut dyn FnMut(&mut Vec<Binding>));
    /// Unexpired bindings of an AOR.
    fn lookup(&self, aor: &str, now: Instant) -> Vec<Binding>;
    /// A flow died: removes every outbound binding using it and forgets it on the others.
    /// Returns how many bindings were removed.
    fn remove_flow(&self, flow: &FlowKey) -> usize;
    /// Removes expired bindings; returns how many.
    fn purge_expired(&self, now: Instant) -> usize;
    /// Number of bindings stored.
    fn len(&self) -> usize;
    /// True if no bindings are stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Every AOR with its unexpired bindings, AOR order (for management views; copies all).
    /// Stores that cannot enumerate return nothing.
    fn snapshot(&self, now: Instant) -> Vec<(String, Vec<Binding>)> {
        let _ = now;
        Vec::new()
    }
}

#[derive(Debug, Default)]
struct Shard {
    aors: HashMap<String, Vec<Binding>>,
    by_flow: HashMap<FlowKey, Vec<String>>,
    count: usize,
}

impl Shard {
    fn unindex(&mut self, flow: &FlowKey, aor: &str) {
        if let Some(v) = self.by_flow.get_mut(flow) {
            if let Some(p) = v.iter().position(|a| a == aor) {
                v.swap_remove(p);
            }
            if v.is_empty() {
                self.by_flow.remove(flow);
            }
        }
    }
}

/// In-memory location service with `shards` independently locked shards.
#[derive(Debug)]
pub struct MemoryLocation {
    shards: Vec<Mutex<Shard>>,
}

impl MemoryLocation {
    /// A store with this many shards (rounded up to at least 1).
    pub fn new(shards: usize) -> MemoryLocation {
        MemoryLocation {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::default()))
                .collect(),
        }
    }

    fn shard(&self, aor: &str) -> &Mutex<Shard> {
        let mut h = DefaultHasher::new();
        aor.hash(&mut h);
        &self.shards[(h.finish() as usize) % self.shards.len()]
    }
}

impl Default for MemoryLocation {
    fn default() -> Self {
        MemoryLocation::new(64)
    }
}

fn lock(m: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    // A panic while holding the lock cannot leave a shard half-updated in a way that
    // matters more than losing it; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl LocationService for MemoryLocation {
    fn update(&self, aor: &str, f: &mut dyn FnMut(&mut Vec<Binding>)) {
        let mut s = lock(self.shard(aor));
        let mut list = s.aors.remove(aor).unwrap_or_default();
        let before: Vec<FlowKey> = list.iter().filter_map(|b| b.flow).collect();
        let n_before = list.len();
        f(&mut list);
        let after: Vec<FlowKey> = list.iter().filter_map(|b| b.flow).collect();
        for fl in &before {
            if !after.contains(fl) {
                s.unindex(fl, aor);
            }
        }
        for fl in &after {
            let v = s.by_flow.entry(*fl).or_default();
            if !v.iter().any(|a| a == aor) {
                v.push(aor.to_string());
            }
        }
        s.count = s.count + list.len() - n_before;
        if !list.is_empty() {
            s.aors.insert(aor.to_string(), list);
        }
    }

    fn snapshot(&self, now: Instant) -> Vec<(String, Vec<Binding>)> {
        let mut out: Vec<(String, Vec<Binding>)> = Vec::new();
        for m in &self.shards {
            let s = lock(m);
            for (aor, list) in &s.aors {
                let live: Vec<Binding> = list.iter().filter(|b| b.expires > now).cloned().collect();
                if !live.is_empty() {
                    out.push((aor.clone(), live));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn lookup(&self, aor: &str, now: Instant) -> Vec<Binding> {
        let s = lock(self.shard(aor));
        s.aors
            .get(aor)
            .map(|l| l.iter().filter(|b| b.expires > now).cloned().collect())
            .unwrap_or_default()
    }

    fn remove_flow(&self, flow: &FlowKey) -> usize {
        let mut removed = 0;
        for m in &self.shards {
            let mut s = lock(m);
            let Some(aors) = s.by_flow.remove(flow) else {
                continue;
            };
            for aor in aors {
                if let Some(list) = s.aors.get_mut(&aor) {
                    let n = list.len();
                    list.retain(|b| !(b.flow == Some(*flow) && b.reg_id.is_some()));
                    for b in list.iter_mut() {
                        if b.flow == Some(*flow) {
                            b.flow = None;
                        }
                    }
                    let gone = n - list.len();
                    removed += gone;
                    let empty = list.is_empty();
                    s.count -= gone;
                    if empty {
                        s.aors.remove(&aor);
                    }
                }
            }
        }
        removed
    }

    fn purge_expired(&self, now: Instant) -> usize {
        let mut removed = 0;
        for m in &self.shards {
            let mut s = lock(m);
            let mut dead_flows = Vec::new();
            let mut gone_total = 0;
            s.aors.retain(|aor, list| {
                let n = list.len();
                list.retain(|b| {
                    let keep = b.expires > now;
                    if !keep {
                        if let Some(f) = b.flow {
                            dead_flows.push((f, aor.clone()));
                        }
                    }
                    keep
                });
                gone_total += n - list.len();
                !list.is_empty()
            });
            s.count -= gone_total;
            removed += gone_total;
            for (f, aor) in dead_flows {
                let still = s
                    .aors
                    .get(&aor)
                    .is_some_and(|l| l.iter().any(|b| b.flow == Some(f)));
                if !still {
                    s.unindex(&f, &aor);
                }
            }
        }
        removed
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|m| lock(m).count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::flow::TransportKind;
    use std::time::Duration;

    fn b(
        uri: &str,
        inst: Option<&str>,
        reg: Option<u32>,
        flow: Option<FlowKey>,
        exp: Instant,
    ) -> Binding {
        Binding {
            contact: format!("<{uri}>"),
            uri: uri.into(),
            instance: inst.map(Into::into),
            reg_id: reg,
            path: vec![],
            flow,
            call_id: "c".into(),
            cseq: 1,
            expires: exp,
            updated: exp,
        }
    }

    fn fk(port: u16) -> FlowKey {
        FlowKey {
            transport: TransportKind::Tcp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: SocketAddrExt::v4(port),
        }
    }
    struct SocketAddrExt;
    impl SocketAddrExt {
        fn v4(p: u16) -> std::net::SocketAddr {
            format!("127.0.0.1:{p}").parse().unwrap()
        }
    }

    #[test]
    fn flow_death_removes_outbound_bindings_across_aors() {
        let loc = MemoryLocation::new(4);
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let f1 = fk(1000);
        let f2 = fk(2000);
        loc.update("sip:a@x", &mut |l| {
            l.push(b("sip:a@1", Some("<urn:uuid:1>"), Some(1), Some(f1), later));
            l.push(b("sip:a@2", Some("<urn:uuid:1>"), Some(2), Some(f2), later));
        });
        loc.update("sip:b@x", &mut |l| {
            l.push(b("sip:b@1", Some("<urn:uuid:2>"), Some(1), Some(f1), later));
            l.push(b("sip:b@plain", None, None, Some(f1), later));
        });
        assert_eq!(loc.len(), 4);
        assert_eq!(loc.remove_flow(&f1), 2);
        assert_eq!(loc.len(), 2);
        let a = loc.lookup("sip:a@x", now);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].flow, Some(f2));
        let bb = loc.lookup("sip:b@x", now);
        assert_eq!(bb.len(), 1);
        assert_eq!(
            bb[0].flow, None,
            "plain binding survives but forgets the flow"
        );
        assert_eq!(loc.remove_flow(&f1), 0);
    }

    #[test]
    fn expiry_purges_and_lookup_hides_expired() {
        let loc = MemoryLocation::new(2);
        let now = Instant::now();
        loc.update("sip:a@x", &mut |l| {
            l.push(b(
                "sip:a@1",
                None,
                None,
                Some(fk(1)),
                now + Duration::from_secs(10),
            ));
            l.push(b(
                "sip:a@2",
                None,
                None,
                None,
                now + Duration::from_secs(100),
            ));
        });
        assert_eq!(
            loc.lookup("sip:a@x", now + Duration::from_secs(20)).len(),
            1
        );
        assert_eq!(loc.purge_expired(now + Duration::from_secs(20)), 1);
        assert_eq!(loc.len(), 1);
        assert_eq!(loc.remove_flow(&fk(1)), 0, "index cleaned on expiry");
        assert_eq!(loc.purge_expired(now + Duration::from_secs(200)), 1);
        assert!(loc.is_empty());
    }

    #[test]
    fn instance_ids_compare_by_urn_rules() {
        assert_eq!(
            instance_key("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"),
            instance_key("<URN:UUID:00000000-0000-1000-8000-000a95a0e128>")
        );
        assert_ne!(instance_key("<urn:foo:ABC>"), instance_key("<urn:foo:abc>"));
        assert_eq!(instance_key("<urn:foo:ABC>"), instance_key("<URN:FOO:ABC>"));
    }
}
