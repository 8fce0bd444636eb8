//! Choosing the dataplane's network backend from the configuration: the kernel's sockets
//! (the default) or DPDK with a userspace TCP stack per core (`dataplane.backend = "dpdk"`,
//! the `[dpdk]` section, cargo feature `dpdk`). The workers and their services are the same
//! on both; only the backend each worker polls differs.

use std::io;
use std::net::SocketAddr;

use dataplane::net::kernel::KernelBackend;
use dataplane::runtime::{Runtime, RuntimeConfig, WorkerContext};
use dataplane::worker::Service;

use crate::config::Config;

/// Events the kernel backend's epoll returns per poll.
const KERNEL_EVENTS: usize = 1024;

/// Starts the dataplane workers on the backend `cfg.dataplane.backend` names, each listening on
/// every address of `listen` and running the service `service` builds on its thread.
///
/// With `"dpdk"` this initialises DPDK's EAL (once per process: a second call fails) and starts
/// the port with one queue pair per core of `dpdk.cores`; worker `i` polls queue `i` and is
/// pinned to `dpdk.cores[i]`. SIP and the management API stay on kernel sockets.
pub fn start_runtime<S, FS>(
    cfg: &Config,
    rt_cfg: &RuntimeConfig,
    listen: &[SocketAddr],
    service: FS,
) -> io::Result<Runtime<S::Control, S::Peer>>
where
    S: Service + 'static,
    S::Control: 'static,
    S::Peer: 'static,
    FS: Fn(WorkerContext<S::Control, S::Peer>) -> S + Send + Sync + 'static,
{
    match cfg.dataplane.backend.as_str() {
        "dpdk" => start_dpdk(cfg, rt_cfg, listen, service),
        _ => Runtime::start(
            rt_cfg,
            listen,
            |_| KernelBackend::new(KERNEL_EVENTS),
            service,
        ),
    }
}

#[cfg(not(feature = "dpdk"))]
fn start_dpdk<S, FS>(
    _: &Config,
    _: &RuntimeConfig,
    _: &[SocketAddr],
    _: FS,
) -> io::Result<Runtime<S::Control, S::Peer>>
where
    S: Service + 'static,
    FS: Fn(WorkerContext<S::Control, S::Peer>) -> S + Send + Sync + 'static,
{
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        crate::config::BUILT_WITHOUT_DPDK,
    ))
}

#[cfg(feature = "dpdk")]
fn start_dpdk<S, FS>(
    cfg: &Config,
    rt_cfg: &RuntimeConfig,
    listen: &[SocketAddr],
    service: FS,
) -> io::Result<Runtime<S::Control, S::Peer>>
where
    S: Service + 'static,
    S::Control: 'static,
    S::Peer: 'static,
    FS: Fn(WorkerContext<S::Control, S::Peer>) -> S + Send + Sync + 'static,
{
    use dataplane::net::dpdk::{DpdkBackend, DpdkRuntime};
    use std::sync::Mutex;

    let Some(dcfg) = &cfg.dpdk else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "dataplane.backend = \"dpdk\" needs a [dpdk] section",
        ));
    };
    // The EAL pins this (the calling) thread to its main lcore; the workers are pinned below.
    let mut dpdk = DpdkRuntime::start(dcfg).map_err(|e| io::Error::other(format!("dpdk: {e}")))?;
    let info = dpdk.port();
    tracing::info!(port = ?info, "DPDK port started");
    // Each backend holds its queue and, through it, the port and the EAL: they live as long as
    // the workers do.
    let backends: Vec<Option<DpdkBackend>> = dpdk
        .backends()
        .map_err(|e| io::Error::other(format!("dpdk: {e}")))?
        .into_iter()
        .map(Some)
        .collect();
    let slots = Mutex::new(backends);
    let rt_cfg = RuntimeConfig {
        workers: dcfg.cores.len(),
        cores: Some(dcfg.cores.clone()),
        ..rt_cfg.clone()
    };
    Runtime::start(
        &rt_cfg,
        listen,
        move |i| {
            let mut slots = slots
                .lock()
                .map_err(|_| io::Error::other("dpdk: backend table poisoned"))?;
            slots
                .get_mut(i)
                .and_then(Option::take)
                .ok_or_else(|| io::Error::other(format!("dpdk: no queue for worker {i}")))
        },
        service,
    )
}
