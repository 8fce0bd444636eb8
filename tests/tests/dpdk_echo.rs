//! End-to-end tests of the DPDK backend: the `dpdk_echo` example (EAL with
//! `--no-huge --no-pci --no-shconf --vdev=net_af_packet0,iface=<veth>`, smoltcp, the sharded
//! backend) runs in a network namespace and is driven over a veth pair by kernel sockets from
//! another. Needs root and `--features dpdk`; says SKIPPED and passes otherwise.

#![cfg(feature = "dpdk")]

mod dpdk_support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use dpdk_support::{pattern, Netns, CLI_IP, SRV_IP, SRV_IP6};

/// Starts the echo server with `extra` arguments; returns the topology (kept alive by the test).
fn echo_server(extra: &[&str]) -> Netns {
    let bin = dpdk_support::echo_binary().expect("dpdk_echo example");
    let mut ns = Netns::create().expect("namespaces");
    let mut args: Vec<String> = [
        "--backend",
        "dpdk",
        "--iface",
        &ns.srv_if,
        "--ip",
        &format!("{SRV_IP}/24"),
        "--listen",
        "0.0.0.0:7000",
        // Two cores are shared with the client: park when idle instead of spinning.
        "--idle-sleep-us",
        "20",
        "--sockets-per-iface",
        "64",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    ns.spawn_server(&bin, &args).expect("server ready");
    ns
}

struct Client {
    s: TcpStream,
    k: usize,
    total: usize,
    sent: usize,
    got: usize,
    shut: bool,
    eof: bool,
}

/// Opens `n` connections to `to`; connection `k` sends `size(k)` pattern bytes and checks the
/// echo byte for byte. With `half_close` the client shuts down its side after sending and
/// expects the server to close after echoing; without it the server must close by itself once
/// it has echoed everything (`--close-after`). Returns the bytes echoed.
fn drive(
    to: SocketAddr,
    n: usize,
    size: impl Fn(usize) -> usize,
    half_close: bool,
) -> Result<usize, String> {
    let mut cs = Vec::with_capacity(n);
    for k in 0..n {
        let s = TcpStream::connect_timeout(&to, Duration::from_secs(10))
            .map_err(|e| format!("connect {k}: {e}"))?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        cs.push(Client {
            s,
            k,
            total: size(k),
            sent: 0,
            got: 0,
            shut: false,
            eof: false,
        });
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = vec![0u8; 16 * 1024];
    let mut left = n;
    while left > 0 {
        if Instant::now() > deadline {
            let stuck: Vec<_> = cs
                .iter()
                .filter(|c| !c.eof)
                .take(5)
                .map(|c| (c.k, c.total, c.sent, c.got))
                .collect();
            return Err(format!("timeout, {left} unfinished, e.g. {stuck:?}"));
        }
        let mut progress = false;
        for c in cs.iter_mut().filter(|c| !c.eof) {
            while c.sent < c.total {
                let m = (c.total - c.sent).min(out.len());
                for (j, b) in out[..m].iter_mut().enumerate() {
                    *b = pattern(c.k, c.sent + j);
                }
                match c.s.write(&out[..m]) {
                    Ok(w) => {
                        c.sent += w;
                        progress = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("conn {}: write: {e}", c.k)),
                }
            }
            if half_close && c.sent == c.total && !c.shut {
                c.s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
                c.shut = true;
            }
            loop {
                match c.s.read(&mut buf) {
                    Ok(0) => {
                        if c.got != c.total {
                            return Err(format!(
                                "conn {}: EOF after {} of {} bytes",
                                c.k, c.got, c.total
                            ));
                        }
                        c.eof = true;
                        left -= 1;
                        progress = true;
                        break;
                    }
                    Ok(r) => {
                        for (j, &b) in buf[..r].iter().enumerate() {
                            if b != pattern(c.k, c.got + j) {
                                return Err(format!("conn {}: wrong byte at {}", c.k, c.got + j));
                            }
                        }
                        c.got += r;
                        if c.got > c.total {
                            return Err(format!("conn {}: more bytes than sent", c.k));
                        }
                        progress = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("conn {}: read: {e}", c.k)),
                }
            }
        }
        if !progress {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    Ok(cs.iter().map(|c| c.got).sum())
}

#[test]
fn thousand_concurrent_connections_echo_intact_and_close_on_client_eof() {
    if dpdk_support::skip() {
        return;
    }
    let ns = echo_server(&[]);
    let to: SocketAddr = format!("{SRV_IP}:7000").parse().unwrap();
    // Mixed sizes: most small, every 97th a multi-megabyte stream that needs the window to
    // open and close many times.
    let size = |k: usize| {
        if k.is_multiple_of(97) {
            2_000_000 + k
        } else {
            100 + (k * 37) % 5000
        }
    };
    let r = ns.in_client(move || drive(to, 1000, size, true)).unwrap();
    let echoed = r.unwrap_or_else(|e| panic!("{e}\n{}", ns.diagnostics()));
    let expected: usize = (0..1000).map(size).sum();
    assert_eq!(echoed, expected);
}

#[test]
fn server_initiated_close_is_seen_after_all_data() {
    if dpdk_support::skip() {
        return;
    }
    let ns = echo_server(&["--close-after", "30000"]);
    let to: SocketAddr = format!("{SRV_IP}:7000").parse().unwrap();
    let r = ns
        .in_client(move || drive(to, 50, |_| 30000, false))
        .unwrap();
    assert_eq!(
        r.unwrap_or_else(|e| panic!("{e}\n{}", ns.diagnostics())),
        50 * 30000
    );
}

#[test]
fn resets_and_reconnects_leave_the_server_working() {
    if dpdk_support::skip() {
        return;
    }
    let ns = echo_server(&[]);
    let to: SocketAddr = format!("{SRV_IP}:7000").parse().unwrap();
    let r = ns
        .in_client(move || -> Result<usize, String> {
            // Abort connections in the middle of a transfer (RST via SO_LINGER 0).
            for round in 0..3 {
                let mut v = Vec::new();
                for _ in 0..100 {
                    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(10))
                        .map_err(|e| format!("round {round}: {e}"))?;
                    s.write_all(&[7u8; 3000]).map_err(|e| e.to_string())?;
                    v.push(s);
                }
                for s in v {
                    set_linger_zero(&s);
                    drop(s);
                }
            }
            drive(to, 200, |k| 1000 + k, true)
        })
        .unwrap();
    assert_eq!(
        r.unwrap_or_else(|e| panic!("{e}\n{}", ns.diagnostics())),
        (0..200).map(|k| 1000 + k).sum::<usize>()
    );
}

fn set_linger_zero(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid socket and option struct.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

#[test]
fn ipv6_echo_over_ndp() {
    if dpdk_support::skip() {
        return;
    }
    let ns = echo_server(&["--ip6", &format!("{SRV_IP6}/64"), "--listen", "[::]:7000"]);
    let to: SocketAddr = format!("[{SRV_IP6}]:7000").parse().unwrap();
    let r = ns
        .in_client(move || drive(to, 40, |k| 5000 + k * 100, true))
        .unwrap();
    assert_eq!(
        r.unwrap_or_else(|e| panic!("{e}\n{}", ns.diagnostics())),
        (0..40).map(|k| 5000 + k * 100).sum::<usize>()
    );
}

#[test]
fn dpdk_side_connects_out_to_a_kernel_server() {
    if dpdk_support::skip() {
        return;
    }
    connect_out(1);
}

/// Two queue pairs (net_af_packet qpairs=2: the kernel spreads flows by hash); each core opens
/// half the connections, and replies that land on the other core's queue are handed over.
#[test]
fn two_cores_connect_out_with_replies_steered_to_their_owner() {
    if dpdk_support::skip() {
        return;
    }
    connect_out(2);
}

#[test]
fn two_cores_share_incoming_connections() {
    if dpdk_support::skip() {
        return;
    }
    let ns = echo_server(&["--cores", "2"]);
    let to: SocketAddr = format!("{SRV_IP}:7000").parse().unwrap();
    let size = |k: usize| 1000 + (k * 53) % 20_000;
    let r = ns.in_client(move || drive(to, 400, size, true)).unwrap();
    assert_eq!(
        r.unwrap_or_else(|e| panic!("{e}\n{}", ns.diagnostics())),
        (0..400).map(size).sum::<usize>()
    );
}

fn connect_out(cores: usize) {
    let bin = dpdk_support::echo_binary().expect("dpdk_echo example");
    let mut ns = Netns::create().expect("namespaces");
    // A kernel echo server in the client namespace, one thread per connection.
    let listener = ns
        .in_client(|| TcpListener::bind(format!("{CLI_IP}:9000")))
        .unwrap()
        .expect("bind in client namespace");
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { break };
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    let args: Vec<String> = [
        "--backend",
        "dpdk",
        "--iface",
        &ns.srv_if,
        "--ip",
        &format!("{SRV_IP}/24"),
        "--idle-sleep-us",
        "20",
        "--connect",
        &format!("{CLI_IP}:9000"),
        "--conns",
        "200",
        "--bytes",
        "50000",
        "--cores",
        &cores.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The client mode prints no READY line: start it and wait for its verdict.
    let stderr = std::env::temp_dir().join(format!("dpdk-e2e-connect-{}", std::process::id()));
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &ns.srv])
        .arg(&bin)
        .args(&args)
        .stderr(std::fs::File::create(&stderr).unwrap())
        .output()
        .expect("run client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    let _ = std::fs::remove_file(&stderr);
    assert!(
        out.status.success() && stdout.contains("CLIENT_OK"),
        "stdout: {stdout}\nstderr: {err}"
    );
    let _ = ns.server_alive();
}
