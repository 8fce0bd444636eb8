//! Sessions and how a connection finds them. A session is installed by its owner (the control
//! plane after SDP, or a client) with its local URI and the peer's path. A connection either
//! gets it directly ([`Connection::add_session`](super::Connection::add_session)) or asks a
//! [`SessionDirectory`] when a request names a URI it does not know (passive binding, RFC 4975
//! §5.4): the directory answers bind, unknown (481) or bound elsewhere (506).

use super::accept::AcceptTypes;
use crate::wire::{MsrpUri, OwnedMsrpUri};
use std::collections::HashMap;
use std::sync::Arc;

/// One MSRP session as the endpoint sees it.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// This endpoint's session URI (the last URI of its SDP a=path): requests must name it
    /// in To-Path; it is the From-Path of everything sent.
    pub local_uri: OwnedMsrpUri,
    /// The peer's SDP a=path, first hop first; the To-Path of requests (after any Use-Path
    /// from AUTH).
    pub peer_path: Vec<OwnedMsrpUri>,
    /// Accepted media types; `None` uses the connection's default.
    pub accept_types: Option<Arc<AcceptTypes>>,
}

impl SessionConfig {
    /// A session with the connection's default accept-types.
    pub fn new(local_uri: OwnedMsrpUri, peer_path: Vec<OwnedMsrpUri>) -> Self {
        SessionConfig {
            local_uri,
            peer_path,
            accept_types: None,
        }
    }
}

/// The answer of a [`SessionDirectory`].
#[derive(Debug, Clone)]
pub enum Binding {
    /// The URI names a session that is now bound to this connection.
    Bind(SessionConfig),
    /// No such session: 481.
    Unknown,
    /// The session is bound to another connection: 506.
    BoundElsewhere,
}

/// Resolves session URIs that a connection does not know yet. Implemented by the owner of
/// the session table (a worker), which knows which connection is asking.
pub trait SessionDirectory {
    /// A request on this connection names `local_uri` (its single To-Path URI). Binding is
    /// final: the session now belongs to this connection.
    fn bind(&mut self, local_uri: &MsrpUri<'_>) -> Binding;
}

/// A directory that knows nothing (every unknown URI gets 481).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDirectory;

impl SessionDirectory for NoDirectory {
    fn bind(&mut self, _: &MsrpUri<'_>) -> Binding {
        Binding::Unknown
    }
}

/// A simple session table shared by the connections of one owner: sessions waiting for
/// their connection, each bound to at most one connection (tests, clients, the traffic
/// generator). Use [`for_connection`](Self::for_connection) to get the directory of one
/// connection.
#[derive(Debug, Default)]
pub struct SessionTable {
    map: HashMap<Vec<u8>, (SessionConfig, Option<u64>)>,
    key: Vec<u8>,
}

impl SessionTable {
    /// An empty table.
    pub fn new() -> Self {
        SessionTable::default()
    }

    /// Installs a session (replacing one with the same URI).
    pub fn insert(&mut self, s: SessionConfig) {
        let k = s.local_uri.key().as_bytes().to_vec();
        self.map.insert(k, (s, None));
    }

    /// Removes a session.
    pub fn remove(&mut self, local_uri: &OwnedMsrpUri) -> Option<SessionConfig> {
        self.map.remove(local_uri.key().as_bytes()).map(|(s, _)| s)
    }

    /// The connection a session is bound to.
    pub fn bound_to(&self, local_uri: &OwnedMsrpUri) -> Option<u64> {
        self.map.get(local_uri.key().as_bytes()).and_then(|e| e.1)
    }

    /// Forgets the bindings of a closed connection (its sessions may bind again).
    pub fn connection_closed(&mut self, conn: u64) {
        for e in self.map.values_mut() {
            if e.1 == Some(conn) {
                e.1 = None;
            }
        }
    }

    /// The directory seen by connection `conn`.
    pub fn for_connection(&mut self, conn: u64) -> TableDirectory<'_> {
        TableDirectory { table: self, conn }
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A [`SessionTable`] seen from one connection.
pub struct TableDirectory<'a> {
    table: &'a mut SessionTable,
    conn: u64,
}

impl SessionDirectory for TableDirectory<'_> {
    fn bind(&mut self, local_uri: &MsrpUri<'_>) -> Binding {
        let t = &mut *self.table;
        t.key.clear();
        local_uri.write_key(&mut t.key);
        match t.map.get_mut(&t.key[..]) {
            None => Binding::Unknown,
            Some((_, Some(c))) if *c != self.conn => Binding::BoundElsewhere,
            Some((s, bound)) => {
                *bound = Some(self.conn);
                Binding::Bind(s.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn uri(s: &'static str) -> OwnedMsrpUri {
        OwnedMsrpUri::parse(Bytes::from_static(s.as_bytes())).unwrap()
    }

    #[test]
    fn binds_once_then_refuses_other_connections() {
        let mut t = SessionTable::new();
        t.insert(SessionConfig::new(
            uri("msrp://Host.example:1/abc;tcp"),
            vec![uri("msrp://peer:2/x;tcp")],
        ));
        // Compared per RFC 4975 §6.1: host case-insensitive.
        let asked = uri("msrp://host.EXAMPLE:1/abc;TCP");
        assert!(matches!(
            t.for_connection(1).bind(&asked.view()),
            Binding::Bind(_)
        ));
        assert!(matches!(
            t.for_connection(1).bind(&asked.view()),
            Binding::Bind(_)
        ));
        assert!(matches!(
            t.for_connection(2).bind(&asked.view()),
            Binding::BoundElsewhere
        ));
        // Session ids are case-sensitive.
        assert!(matches!(
            t.for_connection(2)
                .bind(&uri("msrp://host.example:1/ABC;tcp").view()),
            Binding::Unknown
        ));
        t.connection_closed(1);
        assert!(matches!(
            t.for_connection(2).bind(&asked.view()),
            Binding::Bind(_)
        ));
        assert_eq!(t.bound_to(&asked), Some(2));
    }
}
