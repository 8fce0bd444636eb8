//! Mounting SIP and the focus in `msrpd`: the control plane's tokio runtime, the SIP server
//! with the focus as its application, the configured (or demo) rooms, and the task feeding
//! dataplane events to the focus.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;

use dataplane::relay::RelayControl;
use dataplane::rings::RingTx;
use dataplane::switch::{EventSink, SwitchEvent};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use crate::config::Config;
use crate::sip::{SipApp, SipServer, TransportKind};

use super::config::SIP_PORT;
use super::room::RoomSettings;
use super::{Focus, FocusConfig, LocalMsrp};

/// Ports tried after 5060 when the default SIP listeners are taken.
const PORT_TRIES: u16 = 20;

/// The dataplane side of the event channel: give the sink to `Relay::with_switch`, the
/// receiver to [`mount`].
pub fn event_channel() -> (EventSink, UnboundedReceiver<SwitchEvent>) {
    let (tx, rx) = unbounded_channel();
    let sink: EventSink = Arc::new(move |e| {
        let _ = tx.send(e);
    });
    (sink, rx)
}

/// The SIP side of a running daemon.
pub struct Mounted {
    /// The control plane's runtime (SIP server, event task).
    pub runtime: tokio::runtime::Runtime,
    /// The SIP server (absent with `sip.enabled = false`).
    pub sip: Option<SipServer>,
    /// The focus.
    pub focus: Focus,
    /// SIP listeners as bound.
    pub sip_addrs: Vec<(TransportKind, SocketAddr)>,
}

/// Why SIP could not start.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The runtime could not be built.
    #[error("control plane runtime: {0}")]
    Runtime(std::io::Error),
    /// A listener could not be opened.
    #[error("sip: {0}")]
    Listen(String),
    /// A room could not be created.
    #[error("rooms: {0}")]
    Room(String),
}

/// The first port from 5060 on that is free for both UDP and TCP on `ip`.
fn free_sip_port(ip: std::net::IpAddr) -> Option<u16> {
    (0..PORT_TRIES).map(|i| SIP_PORT + i).find(|p| {
        let a = SocketAddr::new(ip, *p);
        TcpListener::bind(a).is_ok() && UdpSocket::bind(a).is_ok()
    })
}

/// The demo room's settings for a listener address.
pub fn demo_room(host: &str) -> RoomSettings {
    RoomSettings {
        uri: format!("sip:demo@{host}"),
        name: Some("msrpd demo room".into()),
        subject: Some("Welcome: this room exists because msrpd runs without [[rooms]]".into()),
        ..RoomSettings::default()
    }
}

/// The rooms a configuration asks for: its `[[rooms]]`, or the demo room on `demo_host`
/// when it has none (for [`Focus::reconcile`](super::Focus::reconcile) on reload).
pub fn configured_rooms(cfg: &Config, demo_host: &str) -> Result<Vec<RoomSettings>, MountError> {
    match &cfg.rooms {
        Some(r) => r
            .iter()
            .map(|r| r.settings().map_err(|e| MountError::Room(e.to_string())))
            .collect(),
        None => Ok(vec![demo_room(demo_host)]),
    }
}

/// Starts the runtime, the focus with its rooms and the SIP server.
pub fn mount(
    cfg: &Config,
    rings: Vec<RingTx<RelayControl>>,
    events: UnboundedReceiver<SwitchEvent>,
    msrp_tcp: Option<u16>,
    msrp_tls: Option<u16>,
) -> Result<Mounted, MountError> {
    let s = &cfg.sip;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(s.threads)
        .thread_name("msrpd-sip")
        .enable_all()
        .build()
        .map_err(MountError::Runtime)?;
    let mut sip_cfg;
    let rooms: Vec<RoomSettings> = match &cfg.rooms {
        Some(r) => r
            .iter()
            .map(|r| r.settings().map_err(|e| MountError::Room(e.to_string())))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let mut room_hosts: Vec<String> = rooms.iter().filter_map(RoomSettings::host).collect();
    sip_cfg = s.to_sip_config(&room_hosts);
    if s.default_listen() {
        let ip = s.udp[0].ip();
        let port = free_sip_port(ip).ok_or_else(|| {
            MountError::Listen(format!(
                "sip.udp/sip.tcp: ports {SIP_PORT}..{} on {ip} are all taken",
                SIP_PORT + PORT_TRIES - 1
            ))
        })?;
        sip_cfg.udp = vec![SocketAddr::new(ip, port)];
        sip_cfg.tcp = vec![SocketAddr::new(ip, port)];
    }
    let focus = Focus::new(
        FocusConfig {
            msrp: LocalMsrp {
                host: cfg.msrp.host.clone(),
                tcp_port: msrp_tcp,
                tls_port: msrp_tls,
            },
            realm: s.realm(),
            users: s
                .users
                .iter()
                .map(|u| (u.name.clone(), u.password.clone()))
                .collect(),
            hosts: cfg.relay.hosts.clone(),
            max_subscription_secs: 3600,
            domains: sip_cfg.core.domains.clone(),
        },
        rings,
    );
    if cfg.rooms.is_none() {
        let host = sip_cfg
            .udp
            .iter()
            .chain(&sip_cfg.tcp)
            .next()
            .map_or_else(|| "127.0.0.1".to_string(), |a| a.ip().to_string());
        room_hosts.push(host.clone());
        sip_cfg.core.domains.push(host.clone());
        focus
            .create_room(demo_room(&host))
            .map_err(|e| MountError::Room(e.to_string()))?;
    }
    for r in rooms {
        focus
            .create_room(r)
            .map_err(|e| MountError::Room(e.to_string()))?;
    }
    let mut events = events;
    let f = focus.clone();
    runtime.spawn(async move {
        while let Some(e) = events.recv().await {
            f.on_switch_event(e);
        }
    });
    let f = focus.clone();
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            f.housekeeping();
        }
    });
    if !s.enabled {
        return Ok(Mounted {
            runtime,
            sip: None,
            focus,
            sip_addrs: Vec::new(),
        });
    }
    if !sip_cfg.tls.is_empty() {
        sip_cfg.tls_cert = cfg.tls.cert.clone();
        sip_cfg.tls_key = cfg.tls.key.clone();
    }
    let app: Arc<dyn SipApp> = Arc::new(focus.clone());
    // Started from a plain thread: `Daemon::start` may itself run inside a tokio runtime
    // (tests, embedders), where blocking on another runtime is not allowed.
    let handle = runtime.handle().clone();
    let movable = s.default_listen();
    let server = std::thread::spawn(move || {
        let mut cfg = sip_cfg;
        let mut tries = 0;
        loop {
            match handle.block_on(SipServer::start(cfg.clone(), Some(app.clone()))) {
                // Another process took the probed default port meanwhile: move on.
                Err(e)
                    if movable
                        && tries < PORT_TRIES
                        && e.kind() == std::io::ErrorKind::AddrInUse =>
                {
                    tries += 1;
                    let next = |a: &SocketAddr| SocketAddr::new(a.ip(), a.port().saturating_add(1));
                    cfg.udp = cfg.udp.iter().map(next).collect();
                    cfg.tcp = cfg.tcp.iter().map(next).collect();
                }
                other => return other,
            }
        }
    })
    .join()
    .map_err(|_| MountError::Listen("the SIP server start panicked".into()))?
    .map_err(|e| MountError::Listen(e.to_string()))?;
    let sip_addrs = server.local_addrs().to_vec();
    focus.attach_sip(
        server.handle(),
        server.location(),
        sip_addrs.clone(),
        runtime.handle().clone(),
    );
    Ok(Mounted {
        runtime,
        sip: Some(server),
        focus,
        sip_addrs,
    })
}
