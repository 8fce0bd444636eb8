//! TCP echo/sink server and echo-checking client over a dataplane [`Backend`]: the DPDK
//! backend (EAL + one port, e.g. `net_af_packet` on a veth) or the kernel backend, driven by the
//! same code. The end-to-end tests (`tests/tests/dpdk_*.rs`) and the backend comparison
//! (`dpdk_bench`) spawn it; one EAL per process, so one process per run.
//!
//! ```text
//! dpdk_echo [--backend dpdk|kernel] [--mode echo|sink|client] [options]
//!   --vdev SPEC            DPDK vdev (default net_af_packet0,iface=$IFACE)
//!   --iface NAME           interface for the default vdev (default vd0)
//!   --ip A.B.C.D/N         port address (DPDK)        --ip6 ADDR/N
//!   --gw A.B.C.D           IPv4 gateway (DPDK)
//!   --listen ADDR:PORT     (default 0.0.0.0:7000; the kernel backend needs a real address)
//!   --connect ADDR:PORT    client mode: connect there, send, check the echo
//!   --conns N --bytes N    client mode: connections and bytes per connection
//!   --core N               pin to this core (DPDK -l and the worker)
//!   --cores N              DPDK: N queue pairs and workers on cores core..core+N (net_af_packet
//!                          gets qpairs=N); the server listens on every core, the client
//!                          spreads its connections
//!   --sockets-per-iface N  --max-conns N  --rx-buffer N  --tx-buffer N  --mbufs N
//!   --idle-sleep-us N      park when idle instead of busy polling
//!   --stats-ms N           print `STATS {json}` every N ms
//!   --close-after N        the server closes a connection once it has echoed N bytes
//!   --fanout K             server: write every received chunk back K times (one message in,
//!                          K out: a fan-out stand-in); load client: expect K bytes per byte
//!   --mode load|load-sink  load generator (after --mode, with --connect): --conns
//!                          connections writing --msg-byte messages (one send each), --window
//!                          of them in flight per connection (echo), for --secs seconds
//! ```
//! Prints `READY <addr>` once listening, `CLIENT_OK {json}` or `CLIENT_FAIL <why>` in client
//! mode (exit status 0/1).

use std::collections::HashMap;
use std::io::{self, IoSlice, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use dataplane::net::{Backend, ConnId, NetEvent};

/// Stop reading a connection while this much echo is waiting to be written.
const MAX_PENDING: usize = 512 * 1024;
const READ_CHUNK: usize = 64 * 1024;

#[derive(Clone)]
struct Opts {
    backend: String,
    mode: String,
    vdev: Option<String>,
    iface: String,
    ip: String,
    ip6: Option<String>,
    gw: Option<String>,
    listen: SocketAddr,
    connect: Option<SocketAddr>,
    conns: usize,
    bytes: usize,
    core: usize,
    sockets_per_iface: usize,
    max_conns: usize,
    rx_buffer: usize,
    tx_buffer: usize,
    mbufs: u32,
    idle_sleep_us: u64,
    stats_ms: u64,
    close_after: Option<u64>,
    window: usize,
    msg: usize,
    secs: f64,
    fanout: usize,
    cores: usize,
}

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        backend: "dpdk".into(),
        mode: "echo".into(),
        vdev: None,
        iface: "vd0".into(),
        ip: "198.18.0.2/24".into(),
        ip6: None,
        gw: None,
        listen: "0.0.0.0:7000".parse().map_err(|_| "default")?,
        connect: None,
        conns: 10,
        bytes: 100_000,
        core: 0,
        sockets_per_iface: 16,
        max_conns: 20_000,
        rx_buffer: 64 * 1024,
        tx_buffer: 64 * 1024,
        mbufs: 16383,
        idle_sleep_us: 0,
        stats_ms: 0,
        close_after: None,
        window: 16,
        msg: 100,
        secs: 5.0,
        fanout: 1,
        cores: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut v = || args.next().ok_or_else(|| format!("{a} needs a value"));
        fn num<T: std::str::FromStr>(s: String, a: &str) -> Result<T, String> {
            s.parse().map_err(|_| format!("{a}: bad number {s:?}"))
        }
        match a.as_str() {
            "--backend" => o.backend = v()?,
            "--mode" => o.mode = v()?,
            "--vdev" => o.vdev = Some(v()?),
            "--iface" => o.iface = v()?,
            "--ip" => o.ip = v()?,
            "--ip6" => o.ip6 = Some(v()?),
            "--gw" => o.gw = Some(v()?),
            "--listen" => o.listen = v()?.parse().map_err(|_| "--listen: bad address")?,
            "--connect" => {
                o.connect = Some(v()?.parse().map_err(|_| "--connect: bad address")?);
                if o.mode != "load" && o.mode != "load-sink" {
                    o.mode = "client".into();
                }
            }
            "--conns" => o.conns = num(v()?, &a)?,
            "--bytes" => o.bytes = num(v()?, &a)?,
            "--core" => o.core = num(v()?, &a)?,
            "--sockets-per-iface" => o.sockets_per_iface = num(v()?, &a)?,
            "--max-conns" => o.max_conns = num(v()?, &a)?,
            "--rx-buffer" => o.rx_buffer = num(v()?, &a)?,
            "--tx-buffer" => o.tx_buffer = num(v()?, &a)?,
            "--mbufs" => o.mbufs = num(v()?, &a)?,
            "--idle-sleep-us" => o.idle_sleep_us = num(v()?, &a)?,
            "--stats-ms" => o.stats_ms = num(v()?, &a)?,
            "--close-after" => o.close_after = Some(num(v()?, &a)?),
            "--window" => o.window = num(v()?, &a)?,
            "--msg" => o.msg = num(v()?, &a)?,
            "--secs" => o.secs = num(v()?, &a)?,
            "--cores" => o.cores = num::<usize>(v()?, &a)?.clamp(1, 64),
            "--fanout" => o.fanout = num::<usize>(v()?, &a)?.clamp(1, 1000),
            "-h" | "--help" => {
                println!("see the doc comment of dataplane/examples/dpdk_echo.rs");
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(o)
}

/// What the server does with what it reads.
#[derive(Clone, Copy)]
struct Policy {
    sink: bool,
    fanout: usize,
    close_after: Option<u64>,
}

/// Per-connection echo state.
#[derive(Default)]
struct Echo {
    out: BytesMut,
    eof: bool,
    /// Reading stopped early (output backlog); resume on `Writable`.
    paused: bool,
    echoed: u64,
}

struct Counters {
    t0: Instant,
    accepted: u64,
    closed: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// Listens and serves forever. With several workers, all listen before the first one says READY.
fn serve<B: Backend>(
    b: &mut B,
    o: &Opts,
    all_listening: Option<(&std::sync::Barrier, bool)>,
    stats: &mut dyn FnMut(&B, &Counters),
) -> io::Result<()> {
    let (_l, addr) = b.listen(o.listen)?;
    let announce = match all_listening {
        Some((barrier, first)) => {
            barrier.wait();
            first
        }
        None => true,
    };
    if announce {
        println!("READY {addr}");
        io::stdout().flush()?;
    }
    let policy = Policy {
        sink: o.mode == "sink",
        fanout: o.fanout,
        close_after: o.close_after,
    };
    let mut conns: HashMap<ConnId, Echo> = HashMap::new();
    let mut events = Vec::new();
    let mut scratch = BytesMut::with_capacity(READ_CHUNK);
    let mut c = Counters {
        t0: Instant::now(),
        accepted: 0,
        closed: 0,
        bytes_in: 0,
        bytes_out: 0,
    };
    let mut last_stats = Instant::now();
    // Connections whose pump stopped for its budget: no edge will come, so they are pumped again.
    let mut again: Vec<ConnId> = Vec::new();
    let mut retry: Vec<ConnId> = Vec::new();
    loop {
        events.clear();
        let wait = if again.is_empty() { 5 } else { 0 };
        b.poll(&mut events, Some(Duration::from_millis(wait)))?;
        std::mem::swap(&mut again, &mut retry);
        for ev in events.drain(..) {
            let conn = match ev {
                NetEvent::Accepted { conn, .. } => {
                    c.accepted += 1;
                    conns.insert(conn, Echo::default());
                    conn
                }
                NetEvent::Readable(conn) | NetEvent::Writable(conn) => conn,
                NetEvent::Connected { .. } => continue,
            };
            if !retry.contains(&conn) {
                retry.push(conn);
            }
        }
        for conn in retry.drain(..) {
            if pump(b, conn, &mut conns, &policy, &mut scratch, &mut c) {
                again.push(conn);
            }
        }
        if o.stats_ms > 0 && last_stats.elapsed() >= Duration::from_millis(o.stats_ms) {
            last_stats = Instant::now();
            stats(b, &c);
        }
    }
}

/// Reads what is there, echoes it (or drops it in sink mode), closes after EOF once drained.
/// Returns true when it stopped for its budget with more possibly waiting.
fn pump<B: Backend>(
    b: &mut B,
    conn: ConnId,
    conns: &mut HashMap<ConnId, Echo>,
    policy: &Policy,
    scratch: &mut BytesMut,
    c: &mut Counters,
) -> bool {
    const READ_BUDGET: usize = 16;
    let Some(st) = conns.get_mut(&conn) else {
        return false;
    };
    let mut reads = 0;
    let mut more = false;
    let Policy {
        sink,
        fanout,
        close_after,
    } = *policy;
    let mut dead = false;
    // Flush first: it may make room to read again.
    loop {
        while !st.out.is_empty() {
            match b.send(conn, &[IoSlice::new(&st.out)]) {
                Ok(0) => break,
                Ok(n) => {
                    c.bytes_out += n as u64;
                    st.echoed += n as u64;
                    st.out.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    dead = true;
                    break;
                }
            }
        }
        if dead || st.eof || st.out.len() >= MAX_PENDING {
            st.paused = !dead && !st.eof && st.out.len() >= MAX_PENDING;
            break;
        }
        st.paused = false;
        if reads == READ_BUDGET {
            more = true;
            break;
        }
        reads += 1;
        let direct = !sink && fanout == 1;
        let target = if direct { &mut st.out } else { &mut *scratch };
        match b.recv(conn, target, READ_CHUNK) {
            Ok(0) => st.eof = true,
            Ok(n) => {
                c.bytes_in += n as u64;
                if !sink && !direct {
                    for _ in 0..fanout {
                        st.out.extend_from_slice(scratch);
                    }
                }
                scratch.clear();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => dead = true,
        }
    }
    let quota_done = matches!(close_after, Some(n) if st.echoed >= n && st.out.is_empty());
    if dead || quota_done || (st.eof && st.out.is_empty()) {
        conns.remove(&conn);
        b.close(conn);
        c.closed += 1;
        return false;
    }
    more
}

/// The byte at offset `i` of connection `k`'s stream: distinct per connection and position.
fn pattern(k: usize, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ k.wrapping_mul(131) ^ (i >> 8)) as u8
}

struct ClientConn {
    sent: usize,
    got: usize,
    done: bool,
}

/// Opens `conns` connections to `to`, sends `bytes` on each, checks the echo, closes.
fn client<B: Backend>(b: &mut B, o: &Opts, base: usize) -> Result<String, String> {
    let to = o.connect.ok_or("no --connect")?;
    let start = Instant::now();
    let mut ids = HashMap::new();
    let mut st = Vec::new();
    for k in 0..o.conns {
        let id = b.connect(to).map_err(|e| format!("connect {k}: {e}"))?;
        ids.insert(id, k);
        st.push(ClientConn {
            sent: 0,
            got: 0,
            done: false,
        });
    }
    let mut open = 0usize;
    let mut finished = 0usize;
    let mut events = Vec::new();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut chunk = vec![0u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_secs(120);
    while finished < o.conns {
        if Instant::now() > deadline {
            return Err(format!("timeout: {finished}/{} done, {open} open", o.conns));
        }
        events.clear();
        b.poll(&mut events, Some(Duration::from_millis(5)))
            .map_err(|e| e.to_string())?;
        for ev in events.drain(..) {
            let id = match ev {
                NetEvent::Connected { conn, ok } => {
                    if !ok {
                        return Err(format!("connection {conn:?} failed"));
                    }
                    open += 1;
                    conn
                }
                NetEvent::Readable(c) | NetEvent::Writable(c) => c,
                NetEvent::Accepted { .. } => continue,
            };
            let Some(&k) = ids.get(&id) else { continue };
            let s = &mut st[k];
            if s.done {
                continue;
            }
            while s.sent < o.bytes {
                let n = (o.bytes - s.sent).min(chunk.len());
                for (j, byte) in chunk[..n].iter_mut().enumerate() {
                    *byte = pattern(base + k, s.sent + j);
                }
                match b.send(id, &[IoSlice::new(&chunk[..n])]) {
                    Ok(m) => s.sent += m,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("send {k}: {e}")),
                }
            }
            loop {
                buf.clear();
                match b.recv(id, &mut buf, READ_CHUNK) {
                    Ok(0) => return Err(format!("conn {k}: early EOF at {}", s.got)),
                    Ok(n) => {
                        for (j, &byte) in buf[..n].iter().enumerate() {
                            if byte != pattern(base + k, s.got + j) {
                                return Err(format!("conn {k}: bad byte at {}", s.got + j));
                            }
                        }
                        s.got += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("recv {k}: {e}")),
                }
            }
            if s.got >= o.bytes {
                s.done = true;
                finished += 1;
                b.close(id);
            }
        }
    }
    // Let the FINs go out.
    let end = Instant::now() + Duration::from_millis(200);
    while Instant::now() < end {
        events.clear();
        let _ = b.poll(&mut events, Some(Duration::from_millis(5)));
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(format!(
        "{{\"conns\":{},\"bytes_each\":{},\"secs\":{secs:.3}}}",
        o.conns, o.bytes
    ))
}

struct LoadConn {
    in_flight: usize,
    /// Received bytes not yet credited to the window (fan-out: K bytes per byte sent).
    partial: usize,
    open: bool,
}

/// Load generator: `conns` connections, `msg`-byte messages written one `send` each; with echo,
/// `window` messages in flight per connection. Counts what comes back (echo) or what was sent
/// (sink) over `secs` seconds once every connection is up.
fn load<B: Backend>(b: &mut B, o: &Opts) -> Result<String, String> {
    let to = o.connect.ok_or("no --connect")?;
    let sink = o.mode == "load-sink";
    let msg = vec![b'm'; o.msg.max(1)];
    let mut ids = HashMap::new();
    let mut st = Vec::new();
    for k in 0..o.conns {
        ids.insert(b.connect(to).map_err(|e| format!("connect {k}: {e}"))?, k);
        st.push(LoadConn {
            in_flight: 0,
            partial: 0,
            open: false,
        });
    }
    let mut events = Vec::new();
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut up = 0;
    let setup_deadline = Instant::now() + Duration::from_secs(60);
    let mut ready: Vec<ConnId> = Vec::new();
    while up < o.conns {
        if Instant::now() > setup_deadline {
            return Err(format!("only {up}/{} connected", o.conns));
        }
        events.clear();
        b.poll(&mut events, Some(Duration::from_millis(5)))
            .map_err(|e| e.to_string())?;
        for ev in &events {
            if let NetEvent::Connected { conn, ok } = *ev {
                if !ok {
                    return Err("connect failed".into());
                }
                if let Some(&k) = ids.get(&conn) {
                    st[k].open = true;
                    up += 1;
                    ready.push(conn);
                }
            }
        }
    }
    let window = o.window.max(1) * msg.len();
    let (mut sent, mut got) = (0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(o.secs);
    // Sends until the window is full or the backend pushes back, at most `SEND_BUDGET`
    // messages; true when it stopped for the budget (no edge will come: retry next round).
    const SEND_BUDGET: usize = 64;
    let fill = |b: &mut B, id: ConnId, c: &mut LoadConn, sent: &mut u64| -> bool {
        for _ in 0..SEND_BUDGET {
            if !sink && c.in_flight + msg.len() > window {
                return false;
            }
            match b.send(id, &[IoSlice::new(&msg)]) {
                Ok(n) => {
                    c.in_flight += n;
                    *sent += n as u64;
                    if n < msg.len() {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    };
    let mut again: Vec<ConnId> = Vec::new();
    for id in ready {
        if let Some(&k) = ids.get(&id) {
            if fill(b, id, &mut st[k], &mut sent) {
                again.push(id);
            }
        }
    }
    let mut retry: Vec<ConnId> = Vec::new();
    while Instant::now() < end {
        events.clear();
        let wait = if again.is_empty() {
            Duration::from_millis(1)
        } else {
            Duration::ZERO
        };
        b.poll(&mut events, Some(wait)).map_err(|e| e.to_string())?;
        std::mem::swap(&mut again, &mut retry);
        for id in retry.drain(..) {
            if let Some(&k) = ids.get(&id) {
                if fill(b, id, &mut st[k], &mut sent) {
                    again.push(id);
                }
            }
        }
        for ev in events.drain(..) {
            let (NetEvent::Readable(id) | NetEvent::Writable(id)) = ev else {
                continue;
            };
            let Some(&k) = ids.get(&id) else { continue };
            let c = &mut st[k];
            loop {
                buf.clear();
                match b.recv(id, &mut buf, READ_CHUNK) {
                    Ok(0) => return Err(format!("conn {k} closed by the server")),
                    Ok(n) => {
                        got += n as u64;
                        c.partial += n;
                        let credit = c.partial / o.fanout;
                        c.partial -= credit * o.fanout;
                        c.in_flight = c.in_flight.saturating_sub(credit);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("recv: {e}")),
                }
            }
            if fill(b, id, c, &mut sent) && !again.contains(&id) {
                again.push(id);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let counted = if sink { sent } else { got };
    Ok(format!(
        "{{\"mode\":\"{}\",\"conns\":{},\"msg\":{},\"window\":{},\"secs\":{secs:.3},\
         \"bytes\":{counted},\"msgs\":{},\"msgs_per_s\":{:.0},\"bytes_per_s\":{:.0}}}",
        o.mode,
        o.conns,
        msg.len(),
        o.window,
        counted / msg.len() as u64,
        counted as f64 / msg.len() as f64 / secs,
        counted as f64 / secs
    ))
}

fn run_client<B: Backend>(b: &mut B, o: &Opts) -> ! {
    if o.mode == "load" || o.mode == "load-sink" {
        match load(b, o) {
            Ok(j) => {
                println!("LOAD {j}");
                std::process::exit(0)
            }
            Err(e) => {
                println!("LOAD_FAIL {e}");
                std::process::exit(1)
            }
        }
    }
    match client(b, o, 0) {
        Ok(j) => {
            println!("CLIENT_OK {j}");
            std::process::exit(0)
        }
        Err(e) => {
            println!("CLIENT_FAIL {e}");
            std::process::exit(1)
        }
    }
}

fn kernel(o: &Opts) -> io::Result<()> {
    core_affinity::set_for_current(core_affinity::CoreId { id: o.core });
    let mut b = dataplane::net::kernel::KernelBackend::new(1024)?;
    if o.mode.starts_with("client") || o.mode.starts_with("load") {
        run_client(&mut b, o);
    }
    serve(&mut b, o, None, &mut |b, c| {
        println!(
            "STATS {{\"t_ms\":{},\"conns\":{},\"accepted\":{},\"closed\":{},\"bytes_in\":{},\"bytes_out\":{}}}",
            c.t0.elapsed().as_millis(),
            b.connections(),
            c.accepted,
            c.closed,
            c.bytes_in,
            c.bytes_out
        );
    })
}

#[cfg(feature = "dpdk")]
fn dpdk(o: &Opts) -> io::Result<()> {
    use dataplane::net::dpdk::{DpdkConfig, DpdkRuntime, Ipv4Cidr, Ipv6Cidr};
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    let mut vdev = o
        .vdev
        .clone()
        .unwrap_or_else(|| format!("net_af_packet0,iface={}", o.iface));
    if o.cores > 1 && vdev.starts_with("net_af_packet") && !vdev.contains("qpairs=") {
        vdev.push_str(&format!(",qpairs={}", o.cores));
    }
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let port = vdev.split(',').next().unwrap_or("").to_owned();
    let mut cfg = DpdkConfig {
        eal_args: vec![
            "-l".into(),
            o.core.to_string(),
            "--no-huge".into(),
            "-m".into(),
            "256".into(),
            "--no-pci".into(),
            "--no-shconf".into(),
            "--log-level=lib.eal:error".into(),
            format!("--vdev={vdev}"),
        ],
        port,
        cores: (0..o.cores).map(|i| (o.core + i) % ncpu).collect(),
        idle_sleep_us: o.idle_sleep_us,
        mbufs_per_queue: o.mbufs,
        ..DpdkConfig::default()
    };
    let (ip, prefix) = o.ip.split_once('/').ok_or_else(|| bad("--ip A.B.C.D/N"))?;
    cfg.ipv4 = Some(Ipv4Cidr {
        addr: ip.parse().map_err(|_| bad("--ip"))?,
        prefix: prefix.parse().map_err(|_| bad("--ip prefix"))?,
    });
    if let Some(ip6) = &o.ip6 {
        let (ip, prefix) = ip6.split_once('/').ok_or_else(|| bad("--ip6 ADDR/N"))?;
        cfg.ipv6 = Some(Ipv6Cidr {
            addr: ip.parse().map_err(|_| bad("--ip6"))?,
            prefix: prefix.parse().map_err(|_| bad("--ip6 prefix"))?,
        });
    }
    if let Some(gw) = &o.gw {
        cfg.ipv4_gateway = Some(gw.parse().map_err(|_| bad("--gw"))?);
    }
    cfg.tcp.sockets_per_interface = o.sockets_per_iface;
    cfg.tcp.max_connections = o.max_conns;
    cfg.tcp.rx_buffer = o.rx_buffer;
    cfg.tcp.tx_buffer = o.tx_buffer;
    let mut rt = DpdkRuntime::start(&cfg)?;
    eprintln!("dpdk port: {:?}", rt.port());
    let backends = rt.backends()?;
    if o.mode.starts_with("load") {
        let mut b = backends
            .into_iter()
            .next()
            .ok_or_else(|| bad("no backend"))?;
        run_client(&mut b, o);
    }
    if o.mode.starts_with("client") {
        // Each core opens its share of the connections.
        let n = backends.len();
        let share = o.conns.div_ceil(n);
        // A core that is done keeps polling until all are: frames of the others' flows may
        // land on its queue and must be handed over.
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let handles: Vec<_> = backends
            .into_iter()
            .enumerate()
            .map(|(i, mut b)| {
                let mut oi = o.clone();
                oi.conns = share.min(o.conns.saturating_sub(i * share));
                let done = done.clone();
                std::thread::spawn(move || {
                    let r = if oi.conns == 0 {
                        Ok(String::new())
                    } else {
                        client(&mut b, &oi, i * share)
                    };
                    done.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                    let mut events = Vec::new();
                    while r.is_ok() && done.load(std::sync::atomic::Ordering::Acquire) < n {
                        events.clear();
                        let _ = b.poll(&mut events, Some(Duration::from_millis(1)));
                    }
                    r
                })
            })
            .collect();
        let mut report = Vec::new();
        for h in handles {
            match h.join() {
                Ok(Ok(j)) => report.push(j),
                Ok(Err(e)) => {
                    println!("CLIENT_FAIL {e}");
                    std::process::exit(1);
                }
                Err(_) => {
                    println!("CLIENT_FAIL worker panicked");
                    std::process::exit(1);
                }
            }
        }
        println!("CLIENT_OK [{}]", report.join(","));
        std::process::exit(0);
    }
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(backends.len()));
    let mut threads = Vec::new();
    let mut first = None;
    for (i, b) in backends.into_iter().enumerate() {
        if i == 0 {
            first = Some(b);
            continue;
        }
        let (o, barrier) = (o.clone(), barrier.clone());
        threads.push(std::thread::spawn(move || {
            let mut b = b;
            let r = serve(&mut b, &o, Some((&barrier, false)), &mut |b, c| {
                dpdk_stats(b, c)
            });
            if let Err(e) = r {
                eprintln!("dpdk_echo: worker {i}: {e}");
                std::process::exit(1);
            }
        }));
    }
    let mut b = first.ok_or_else(|| bad("no backend"))?;
    serve(&mut b, o, Some((&barrier, true)), &mut |b, c| {
        dpdk_stats(b, c)
    })
}

#[cfg(feature = "dpdk")]
fn dpdk_stats(b: &dataplane::net::dpdk::DpdkBackend, c: &Counters) {
    let s = b.stats();
    println!(
        "STATS {{\"queue\":{},\"t_ms\":{},\"conns\":{},\"accepted\":{},\"closed\":{},\"bytes_in\":{},\
         \"bytes_out\":{},\"rx\":{},\"tx\":{},\"tx_dropped\":{},\"shards\":{},\"egress_polls\":{},\
         \"tx_copied\":{},\"rx_copied\":{},\"syn_dropped\":{},\"steered\":{}}}",
        b.queue(),
        c.t0.elapsed().as_millis(),
        b.connections(),
        c.accepted,
        c.closed,
        c.bytes_in,
        c.bytes_out,
        s.queue.rx,
        s.queue.tx,
        s.queue.tx_dropped,
        s.shards,
        s.egress_polls,
        s.tx_copied,
        s.rx_copied,
        s.syn_dropped,
        s.steered
    );
}

#[cfg(not(feature = "dpdk"))]
fn dpdk(_o: &Opts) -> io::Result<()> {
    Err(io::Error::other("built without the `dpdk` feature"))
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("dpdk_echo: {e}");
            std::process::exit(2);
        }
    };
    let r = match o.backend.as_str() {
        "kernel" => kernel(&o),
        "dpdk" => dpdk(&o),
        other => Err(io::Error::other(format!("unknown backend {other}"))),
    };
    if let Err(e) = r {
        eprintln!("dpdk_echo: {e}");
        std::process::exit(1);
    }
}
