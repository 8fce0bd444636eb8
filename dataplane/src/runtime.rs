//! Starting and stopping the dataplane: one worker thread per configured core, each pinned with
//! `core_affinity`, with a control ring into each and a ring between every ordered pair of
//! workers.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use crate::net::{Backend, ListenerId};
use crate::rings::{ring, Doorbell, RingRx, RingTx};
use crate::worker::{Service, Worker, WorkerConfig};

/// How many workers, where they run, and how deep their rings are.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Number of workers (at least one).
    pub workers: usize,
    /// Cores to pin the workers to, one per worker in order; `None` leaves them unpinned.
    pub cores: Option<Vec<usize>>,
    /// Capacity of each control ring (control plane -> worker).
    pub control_ring: usize,
    /// Capacity of each worker -> worker ring.
    pub peer_ring: usize,
    /// Worker loop tunables.
    pub worker: WorkerConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: 1,
            cores: None,
            control_ring: 65536,
            peer_ring: 65536,
            worker: WorkerConfig::default(),
        }
    }
}

/// What a service gets when it is built on its worker thread.
pub struct WorkerContext<C, P> {
    /// This worker's index, `0..workers`.
    pub index: usize,
    /// Rings into every worker, by index (`None` at our own index).
    pub peers: Vec<Option<RingTx<P>>>,
    /// The worker's own control ring, for helper threads (name resolution, ...) that report
    /// back to it.
    pub own_control: RingTx<C>,
}

/// A running dataplane.
pub struct Runtime<C, P> {
    controls: Vec<RingTx<C>>,
    listen_addrs: Vec<Vec<SocketAddr>>,
    stop: Arc<AtomicBool>,
    bells: Vec<Arc<Doorbell>>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    _peer: std::marker::PhantomData<P>,
}

impl<C: Send + 'static, P: Send + 'static> Runtime<C, P> {
    /// Starts the workers. `backend(i)` and `service(ctx)` run on worker `i`'s own thread (a
    /// DPDK backend must be created on its core). Every worker listens on every address in
    /// `listen` (the kernel spreads connections with `SO_REUSEPORT`); a port 0 is resolved by
    /// the first worker and reused by the others.
    pub fn start<B, S, FB, FS>(
        config: &RuntimeConfig,
        listen: &[SocketAddr],
        backend: FB,
        service: FS,
    ) -> io::Result<Self>
    where
        B: Backend + 'static,
        S: Service<Control = C, Peer = P> + 'static,
        FB: Fn(usize) -> io::Result<B> + Send + Sync + 'static,
        FS: Fn(WorkerContext<C, P>) -> S + Send + Sync + 'static,
    {
        let n = config.workers.max(1);
        if let Some(cores) = &config.cores {
            if cores.len() < n {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{n} workers but only {} cores listed", cores.len()),
                ));
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let backend = Arc::new(backend);
        let service = Arc::new(service);

        // Each worker creates its backend first (its waker feeds its doorbell), then waits for
        // the rings of everybody else.
        type Setup<C, P> = (Vec<RingRx<P>>, Vec<Option<RingTx<P>>>, RingRx<C>, RingTx<C>);
        let mut setup_txs = Vec::new();
        let (bell_tx, bell_rx) = mpsc::channel::<(usize, io::Result<Arc<Doorbell>>)>();
        let (ready_tx, ready_rx) = mpsc::channel::<(usize, io::Result<Vec<SocketAddr>>)>();
        let mut threads = Vec::new();
        let mut resolved: Vec<SocketAddr> = listen.to_vec();
        let (addr_txs, addr_rxs): (Vec<_>, Vec<_>) =
            (0..n).map(|_| mpsc::channel::<Vec<SocketAddr>>()).unzip();
        for (i, addr_rx) in addr_rxs.into_iter().enumerate() {
            let (stx, srx) = mpsc::channel::<Setup<C, P>>();
            setup_txs.push(stx);
            let core = config.cores.as_ref().map(|c| c[i]);
            let backend = backend.clone();
            let service = service.clone();
            let stop = stop.clone();
            let wcfg = config.worker.clone();
            let bell_tx = bell_tx.clone();
            let ready_tx = ready_tx.clone();
            let t = std::thread::Builder::new()
                .name(format!("dp-worker-{i}"))
                .spawn(move || -> io::Result<()> {
                    if let Some(core) = core {
                        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                            tracing::warn!(
                                worker = i,
                                core,
                                "could not pin the worker to its core"
                            );
                        }
                    }
                    let b = match backend(i) {
                        Ok(b) => b,
                        Err(e) => {
                            let kind = e.kind();
                            let _ = bell_tx.send((i, Err(e)));
                            return Err(kind.into());
                        }
                    };
                    let bell = Doorbell::new(b.waker());
                    let _ = bell_tx.send((i, Ok(bell.clone())));
                    let Ok((peer_rxs, peer_txs, ctl_rx, own_control)) = srx.recv() else {
                        return Ok(());
                    };
                    let svc = service(WorkerContext {
                        index: i,
                        peers: peer_txs,
                        own_control,
                    });
                    let mut w = Worker::new(b, svc, ctl_rx, peer_rxs, bell, stop, wcfg);
                    let Ok(addrs) = addr_rx.recv() else {
                        return Ok(());
                    };
                    let mut bound = Vec::new();
                    for a in addrs {
                        match w.listen(a) {
                            Ok((_, got)) => bound.push(got),
                            Err(e) => {
                                let _ = ready_tx.send((
                                    i,
                                    Err(io::Error::new(e.kind(), format!("listen on {a}: {e}"))),
                                ));
                                return Ok(());
                            }
                        }
                    }
                    let _ = ready_tx.send((i, Ok(bound)));
                    w.run()
                })?;
            threads.push(t);
        }
        drop(bell_tx);
        drop(ready_tx);

        let mut bells: Vec<Option<Arc<Doorbell>>> = vec![None; n];
        let mut first_err = None;
        for _ in 0..n {
            match bell_rx.recv() {
                Ok((i, Ok(b))) => bells[i] = Some(b),
                Ok((_, Err(e))) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => break,
            }
        }
        if let Some(e) = first_err {
            stop.store(true, Ordering::SeqCst);
            drop(setup_txs);
            for t in threads {
                let _ = t.join();
            }
            return Err(e);
        }
        let bells: Vec<Arc<Doorbell>> = bells
            .into_iter()
            .map(|b| b.expect("every worker reported"))
            .collect();

        // Rings: control -> i, and j -> i for every j != i.
        let mut controls = Vec::new();
        let mut ctl_rxs = Vec::new();
        for bell in &bells {
            let (tx, rx) = ring::<C>(config.control_ring, bell.clone());
            controls.push(tx);
            ctl_rxs.push(rx);
        }
        let mut peer_rxs: Vec<Vec<RingRx<P>>> = (0..n).map(|_| Vec::new()).collect();
        let mut peer_txs: Vec<Vec<Option<RingTx<P>>>> =
            (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
        for (to, bell) in bells.iter().enumerate() {
            for (from, txs) in peer_txs.iter_mut().enumerate() {
                if from != to {
                    let (tx, rx) = ring::<P>(config.peer_ring, bell.clone());
                    txs[to] = Some(tx);
                    peer_rxs[to].push(rx);
                }
            }
        }
        for (i, ((stx, (rxs, txs)), ctl)) in setup_txs
            .into_iter()
            .zip(peer_rxs.into_iter().zip(peer_txs))
            .zip(ctl_rxs)
            .enumerate()
        {
            let _ = stx.send((rxs, txs, ctl, controls[i].clone()));
        }

        // Listen: worker 0 resolves port 0, the others bind what it got.
        let mut listen_addrs = vec![Vec::new(); n];
        let mut rt = Runtime {
            controls,
            listen_addrs: Vec::new(),
            stop,
            bells,
            threads,
            _peer: Default::default(),
        };
        let mut failure = None;
        for (i, tx) in addr_txs.iter().enumerate() {
            let _ = tx.send(resolved.clone());
            match ready_rx.recv() {
                Ok((w, Ok(bound))) => {
                    if i == 0 {
                        resolved = bound.clone();
                    }
                    listen_addrs[w] = bound;
                }
                Ok((_, Err(e))) => {
                    failure = Some(e);
                    break;
                }
                Err(_) => {
                    failure = Some(io::Error::other("a worker exited during start-up"));
                    break;
                }
            }
        }
        // Workers still waiting for their addresses see the channel close and exit.
        drop(addr_txs);
        if let Some(e) = failure {
            let _ = rt.shutdown();
            return Err(e);
        }
        rt.listen_addrs = listen_addrs;
        Ok(rt)
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.controls.len()
    }

    /// The control ring into worker `i`.
    pub fn control(&self, i: usize) -> &RingTx<C> {
        &self.controls[i]
    }

    /// All control rings, by worker index.
    pub fn controls(&self) -> &[RingTx<C>] {
        &self.controls
    }

    /// The addresses the workers listen on (the same on every worker), in the order requested.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        self.listen_addrs.first().map_or(&[], |v| v.as_slice())
    }

    /// Stops every worker and waits for the threads; returns the first worker error.
    pub fn shutdown(&mut self) -> io::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        for b in &self.bells {
            b.prepare_sleep();
            b.ring();
        }
        let mut first = Ok(());
        for t in self.threads.drain(..) {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    if first.is_ok() {
                        first = Err(e);
                    }
                }
                Err(_) => {
                    if first.is_ok() {
                        first = Err(io::Error::other("a dataplane worker panicked"));
                    }
                }
            }
        }
        first
    }
}

impl<C, P> Drop for Runtime<C, P> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for b in &self.bells {
            b.prepare_sleep();
            b.ring();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Listener ids are per worker; services that need to tell listeners apart get them in the
/// order of the `listen` slice, starting at 0.
pub fn listener_index(id: ListenerId) -> usize {
    id.0 as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::kernel::KernelBackend;
    use crate::net::ConnId;
    use crate::worker::{CloseCause, Io};
    use bytes::{Bytes, BytesMut};
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    /// Every line a client sends goes to every client on every worker, tagged with the index
    /// of the worker that delivers it.
    struct Chat {
        index: usize,
        peers: Vec<Option<RingTx<Bytes>>>,
        conns: Vec<ConnId>,
    }

    impl Chat {
        fn deliver<B: Backend>(&self, io: &mut Io<B>, line: &Bytes) {
            let tag = Bytes::from(format!("{}:", self.index));
            for &c in &self.conns {
                io.send_parts(c, [tag.clone(), line.clone()]);
            }
        }
    }

    impl Service for Chat {
        type Control = ();
        type Peer = Bytes;
        fn on_accept<B: Backend>(
            &mut self,
            _: &mut Io<B>,
            conn: ConnId,
            _: ListenerId,
            _: SocketAddr,
        ) {
            self.conns.push(conn);
        }
        fn on_connected<B: Backend>(&mut self, _: &mut Io<B>, _: ConnId, _: bool) {}
        fn on_data<B: Backend>(&mut self, io: &mut Io<B>, _conn: ConnId, buf: &mut BytesMut) {
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line = buf.split_to(nl + 1).freeze();
                self.deliver(io, &line);
                for p in self.peers.iter().flatten() {
                    p.push(line.clone()).unwrap();
                }
            }
        }
        fn on_closed<B: Backend>(&mut self, _: &mut Io<B>, conn: ConnId, _: CloseCause) {
            self.conns.retain(|c| *c != conn);
        }
        fn on_control<B: Backend>(&mut self, _: &mut Io<B>, _: ()) {}
        fn on_peer<B: Backend>(&mut self, io: &mut Io<B>, line: Bytes) {
            self.deliver(io, &line);
        }
        fn on_tick<B: Backend>(&mut self, _: &mut Io<B>) -> Option<Instant> {
            None
        }
    }

    #[test]
    fn workers_share_a_port_and_talk_over_rings() {
        let cfg = RuntimeConfig {
            workers: 2,
            ..RuntimeConfig::default()
        };
        let mut rt: Runtime<(), Bytes> = Runtime::start(
            &cfg,
            &["127.0.0.1:0".parse().unwrap()],
            |_| KernelBackend::new(256),
            |ctx| Chat {
                index: ctx.index,
                peers: ctx.peers,
                conns: Vec::new(),
            },
        )
        .unwrap();
        let addr = rt.listen_addrs()[0];
        assert_ne!(addr.port(), 0);
        let mut clients: Vec<std::net::TcpStream> = (0..16)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        // Let every accept land before the message goes out.
        let deadline = Instant::now() + Duration::from_secs(5);
        std::thread::sleep(Duration::from_millis(200));
        clients[0].write_all(b"hello\n").unwrap();
        let mut tags = std::collections::HashSet::new();
        for c in clients.iter_mut() {
            c.set_read_timeout(Some(deadline.saturating_duration_since(Instant::now())))
                .unwrap();
            let mut got = [0u8; 8];
            c.read_exact(&mut got).unwrap();
            assert_eq!(&got[1..], b":hello\n");
            tags.insert(got[0]);
        }
        assert!(tags.iter().all(|t| *t == b'0' || *t == b'1'));
        rt.shutdown().unwrap();
    }

    #[test]
    fn listen_failure_is_reported() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let cfg = RuntimeConfig {
            workers: 2,
            ..RuntimeConfig::default()
        };
        let r: io::Result<Runtime<(), Bytes>> = Runtime::start(
            &cfg,
            &[addr],
            |_| KernelBackend::new(16),
            |ctx| Chat {
                index: ctx.index,
                peers: ctx.peers,
                conns: Vec::new(),
            },
        );
        let err = r.err().expect("port in use without SO_REUSEPORT must fail");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
