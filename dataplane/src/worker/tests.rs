//! Worker loop tests with a toy service over kernel sockets.

use super::*;
use crate::net::kernel::KernelBackend;
use crate::rings::{ring, RingTx};
use bytes::Bytes;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;

/// Echoes bytes back; control messages broadcast to every connection; records closes.
#[derive(Default)]
struct Echo {
    conns: Vec<ConnId>,
    closed: Vec<CloseCause>,
    hold: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
}

enum Ctl {
    Broadcast(Bytes),
    Hold(bool),
}

impl Service for Echo {
    type Control = Ctl;
    type Peer = ();
    fn on_accept<B: Backend>(
        &mut self,
        io: &mut Io<B>,
        conn: ConnId,
        _l: ListenerId,
        _p: SocketAddr,
    ) {
        if let Some(cfg) = &self.tls {
            let tls = rustls::ServerConnection::new(cfg.clone()).unwrap();
            io.start_tls(conn, tls.into());
        }
        self.conns.push(conn);
    }
    fn on_connected<B: Backend>(&mut self, _io: &mut Io<B>, _conn: ConnId, _ok: bool) {}
    fn on_data<B: Backend>(&mut self, io: &mut Io<B>, conn: ConnId, buf: &mut BytesMut) {
        if self.hold {
            io.pause_read(conn);
            return;
        }
        let b = buf.split().freeze();
        io.send(conn, b);
    }
    fn on_closed<B: Backend>(&mut self, _io: &mut Io<B>, conn: ConnId, cause: CloseCause) {
        self.conns.retain(|c| *c != conn);
        self.closed.push(cause);
    }
    fn on_control<B: Backend>(&mut self, io: &mut Io<B>, msg: Ctl) {
        match msg {
            Ctl::Broadcast(b) => {
                for &c in &self.conns {
                    io.send_parts(
                        c,
                        [
                            Bytes::from_static(b"<"),
                            b.clone(),
                            Bytes::from_static(b">"),
                        ],
                    );
                }
            }
            Ctl::Hold(h) => {
                self.hold = h;
                if !h {
                    for &c in &self.conns {
                        io.resume_read(c);
                    }
                }
            }
        }
    }
    fn on_peer<B: Backend>(&mut self, _io: &mut Io<B>, _msg: ()) {}
    fn on_tick<B: Backend>(&mut self, _io: &mut Io<B>) -> Option<Instant> {
        None
    }
}

struct Running {
    addr: SocketAddr,
    ctl: RingTx<Ctl>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<CloseCause>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.ctl.push(Ctl::Hold(false));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start() -> Running {
    start_with(None)
}

fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Running {
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let thread = std::thread::spawn(move || {
        let backend = KernelBackend::new(256).unwrap();
        let bell = Doorbell::new(backend.waker());
        let (ctl_tx, ctl_rx) = ring(64, bell.clone());
        let mut w = Worker::new(
            backend,
            Echo {
                tls,
                ..Echo::default()
            },
            ctl_rx,
            vec![],
            bell,
            stop2,
            WorkerConfig::default(),
        );
        let (_, addr) = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
        tx.send((addr, ctl_tx)).unwrap();
        w.run().unwrap();
        w.service().closed.clone()
    });
    let (addr, ctl) = rx.recv().unwrap();
    Running {
        addr,
        ctl,
        stop,
        thread: Some(thread),
    }
}

fn read_exact_timeout(s: &mut TcpStream, n: usize) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut v = vec![0; n];
    s.read_exact(&mut v).unwrap();
    v
}

#[test]
fn echoes_large_transfers_intact() {
    let w = start();
    let mut s = TcpStream::connect(w.addr).unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut r = s.try_clone().unwrap();
    let n = data.len();
    let reader = std::thread::spawn(move || read_exact_timeout(&mut r, n));
    s.write_all(&data).unwrap();
    assert!(reader.join().unwrap() == data);
}

#[test]
fn control_ring_reaches_sleeping_worker() {
    let w = start();
    let mut a = TcpStream::connect(w.addr).unwrap();
    let mut b = TcpStream::connect(w.addr).unwrap();
    // Make sure both are accepted (the echo proves it), then let the worker fall asleep.
    a.write_all(b"x").unwrap();
    b.write_all(b"y").unwrap();
    assert_eq!(read_exact_timeout(&mut a, 1), b"x");
    assert_eq!(read_exact_timeout(&mut b, 1), b"y");
    std::thread::sleep(Duration::from_millis(100));
    w.ctl
        .push(Ctl::Broadcast(Bytes::from_static(b"hi")))
        .map_err(|_| ())
        .unwrap();
    assert_eq!(read_exact_timeout(&mut a, 4), b"<hi>");
    assert_eq!(read_exact_timeout(&mut b, 4), b"<hi>");
}

#[test]
fn paused_reads_resume_without_new_readiness() {
    let w = start();
    let mut a = TcpStream::connect(w.addr).unwrap();
    a.write_all(b"1").unwrap();
    assert_eq!(read_exact_timeout(&mut a, 1), b"1");
    w.ctl.push(Ctl::Hold(true)).map_err(|_| ()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    a.write_all(b"held").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Nothing comes back while held.
    a.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut one = [0u8; 1];
    assert!(a.read(&mut one).is_err());
    // Resuming re-reads what arrived meanwhile, though epoll reports no new edge.
    w.ctl.push(Ctl::Hold(false)).map_err(|_| ()).unwrap();
    assert_eq!(read_exact_timeout(&mut a, 4), b"held");
}

#[test]
fn peer_close_is_reported() {
    let mut w = start();
    let mut a = TcpStream::connect(w.addr).unwrap();
    a.write_all(b"z").unwrap();
    assert_eq!(read_exact_timeout(&mut a, 1), b"z");
    drop(a);
    std::thread::sleep(Duration::from_millis(100));
    w.stop.store(true, Ordering::SeqCst);
    let _ = w.ctl.push(Ctl::Hold(false));
    let closed = w.thread.take().unwrap().join().unwrap();
    assert_eq!(closed, vec![CloseCause::PeerClosed]);
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[test]
fn tls_echo_and_broadcast() {
    let key = rcgen::generate_simple_self_signed(vec!["relay.test".to_string()]).unwrap();
    let cert = key.cert.der().clone();
    let pkey = rustls::pki_types::PrivateKeyDer::try_from(key.key_pair.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], pkey)
        .unwrap();
    let w = start_with(Some(Arc::new(server)));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("relay.test").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
    let sock = TcpStream::connect(w.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    tls.write_all(&data).unwrap();
    let mut back = vec![0; data.len()];
    tls.read_exact(&mut back).unwrap();
    assert!(back == data);
    w.ctl
        .push(Ctl::Broadcast(Bytes::from_static(b"all")))
        .map_err(|_| ())
        .unwrap();
    let mut b = [0u8; 5];
    tls.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"<all>");
}

#[test]
fn idle_read_buffers_do_not_keep_a_read_chunk() {
    let mut b = BytesMut::with_capacity(64 * 1024);
    assert_eq!(shrink_kept(b.clone()).capacity(), 0);
    b.extend_from_slice(b"MSRP abcd SEND\r\nTo-");
    let kept = shrink_kept(b.clone());
    assert_eq!(&kept[..], &b[..]);
    assert!(kept.capacity() < 4096, "kept {} bytes", kept.capacity());
    // A buffer mostly full stays as it is (no copy on the busy path).
    let mut full = BytesMut::with_capacity(8192);
    full.extend_from_slice(&[7u8; 6000]);
    let cap = full.capacity();
    assert_eq!(shrink_kept(full).capacity(), cap);
}

/// A listen-only connection must not keep a read buffer (chat members: thousands of them),
/// and a busy one gives its buffer back once it goes quiet.
#[test]
fn read_buffers_adapt_and_idle_ones_are_released() {
    let backend = KernelBackend::new(256).unwrap();
    let bell = Doorbell::new(backend.waker());
    let (_ctl_tx, ctl_rx) = ring::<Ctl>(4, bell.clone());
    let mut w = Worker::new(
        backend,
        Echo::default(),
        ctl_rx,
        vec![],
        bell,
        Arc::new(AtomicBool::new(false)),
        WorkerConfig::default(),
    );
    let (_, addr) = w.listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let mut small = TcpStream::connect(addr).unwrap();
    let mut big = TcpStream::connect(addr).unwrap();
    small.write_all(b"hello").unwrap();
    let payload = vec![7u8; 4 << 20];
    let writer = {
        let mut big = big.try_clone().unwrap();
        let p = payload.clone();
        std::thread::spawn(move || big.write_all(&p).unwrap())
    };
    // The reader hands the socket back: the connection must stay open.
    let reader = std::thread::spawn(move || (read_exact_timeout(&mut big, 4 << 20), big));
    let start = Instant::now();
    let mut got = Vec::new();
    small
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    while got.len() < 5 || !reader.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(20));
        w.run_once(Some(Duration::from_millis(5))).unwrap();
        let mut b = [0u8; 16];
        if let Ok(n) = small.read(&mut b) {
            got.extend_from_slice(&b[..n]);
        }
    }
    writer.join().unwrap();
    let (echoed, _big) = reader.join().unwrap();
    assert!(echoed == payload);
    assert_eq!(got, b"hello");
    let conns = w.service().conns.clone();
    assert_eq!(conns.len(), 2);
    let cap = |w: &Worker<KernelBackend, Echo>, c: ConnId| w.rbufs[c.idx as usize].capacity();
    let hint = |w: &mut Worker<KernelBackend, Echo>, c: ConnId| w.io.slot(c).unwrap().read_hint;
    // The first accepted connection is `small`: one small read, no buffer kept.
    let (s, b) = (conns[0], conns[1]);
    assert_eq!(cap(&w, s), 0, "a small reader keeps no buffer");
    assert!(
        hint(&mut w, b) as usize > WorkerConfig::default().read_min,
        "reads grew"
    );
    // Idle for a sweep: everything goes back.
    let quiet = Instant::now();
    while quiet.elapsed() < BUFFER_SWEEP * 2 + Duration::from_millis(100) {
        w.run_once(Some(Duration::from_millis(50))).unwrap();
    }
    assert_eq!(cap(&w, b), 0, "an idle connection's buffer is released");
    assert_eq!(
        hint(&mut w, b) as usize,
        0,
        "and its read size starts small again"
    );
}
