//! What a relay is told at start-up (and on reload): its names, its AUTH policy, its bounds.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::digest::CredentialStore;
use crate::wire::ParserLimits;

/// One listening socket of the relay, in the order given to the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerRole {
    /// Port it listens on (after port 0 was resolved).
    pub port: u16,
    /// Whether connections accepted there run TLS (`msrps`).
    pub tls: bool,
}

/// Relay configuration.
#[derive(Clone)]
pub struct RelayConfig {
    /// Host names this relay answers to in To-Path; the first is used in the URIs it mints
    /// (RFC 4976 §6.3 wants an FQDN, never an address).
    pub hosts: Vec<String>,
    /// The listeners, by listener index.
    pub listeners: Vec<ListenerRole>,
    /// Digest realm for AUTH challenges.
    pub realm: String,
    /// `false`: AUTH succeeds without credentials (tokens are still required to forward).
    pub require_auth: bool,
    /// Where user secrets come from.
    pub credentials: Arc<dyn CredentialStore>,
    /// Key for stateless nonces.
    pub nonce_key: [u8; 32],
    /// Key sealing the tokens handed out in Use-Path.
    pub token_key: [u8; 32],
    /// Seconds a nonce stays fresh.
    pub nonce_lifetime: u64,
    /// Smallest Expires accepted in AUTH (423 with Min-Expires below).
    pub min_expires: u32,
    /// Largest Expires accepted in AUTH (423 with Max-Expires above).
    pub max_expires: u32,
    /// Lifetime granted when AUTH has no Expires.
    pub default_expires: u32,
    /// Refuse (403) AUTH over plain TCP: RFC 4976 §5.1/§9.2 has clients AUTH over TLS only.
    pub auth_requires_tls: bool,
    /// Check that requests from a client carry the From-Path it authenticated with.
    pub strict_from_path: bool,
    /// Time a new connection has to send a successful request (RFC 4976 §6.1: 30 s).
    pub probation: Duration,
    /// Failed AUTHs after which a client connection is closed.
    pub max_auth_failures: u32,
    /// Time the next hop has to answer a forwarded request (RFC 4976 §6.4.1: 30 s).
    pub transaction_timeout: Duration,
    /// Connections idle this long are closed (RFC 4976 §6.5 allows it after an hour).
    pub idle_timeout: Duration,
    /// Bytes queued towards one connection before its sources are paused.
    pub high_water: usize,
    /// Most connections per worker; further ones are closed at once.
    pub max_connections: usize,
    /// Refuse to forward methods the relay does not know (RFC 4976 §6.4.2 allows it).
    pub block_unknown_methods: bool,
    /// Frame parser limits.
    pub parser: ParserLimits,
    /// TLS for `msrps` listeners.
    pub tls_server: Option<Arc<rustls::ServerConfig>>,
    /// TLS for connections this relay opens to `msrps` next hops (with a client certificate
    /// for relay-to-relay mutual TLS).
    pub tls_client: Option<Arc<rustls::ClientConfig>>,
    /// Names resolved without DNS (tests, and relays named in config).
    pub static_hosts: HashMap<String, IpAddr>,
}

impl RelayConfig {
    /// A relay answering to `host` with no listeners yet (the runtime fills them in), open to
    /// users of `credentials`.
    pub fn new(host: &str, credentials: Arc<dyn CredentialStore>, keys: [[u8; 32]; 2]) -> Self {
        RelayConfig {
            hosts: vec![host.to_string()],
            listeners: Vec::new(),
            realm: host.to_string(),
            require_auth: true,
            credentials,
            nonce_key: keys[0],
            token_key: keys[1],
            nonce_lifetime: 300,
            min_expires: 60,
            max_expires: 86_400,
            default_expires: 3_600,
            auth_requires_tls: false,
            strict_from_path: true,
            probation: Duration::from_secs(30),
            max_auth_failures: 3,
            transaction_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(3_600),
            high_water: 1 << 20,
            max_connections: 19_000,
            block_unknown_methods: false,
            parser: ParserLimits::default(),
            tls_server: None,
            tls_client: None,
            static_hosts: HashMap::new(),
        }
    }

    /// Whether `host:port` names this relay.
    pub fn is_us(&self, host: &[u8], port: Option<u16>) -> bool {
        self.hosts
            .iter()
            .any(|h| h.as_bytes().eq_ignore_ascii_case(host))
            && port.is_none_or(|p| self.listeners.iter().any(|l| l.port == p))
    }
}
