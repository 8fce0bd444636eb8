//! msrpd on the DPDK backend (issue #9): the `msrpd` binary, built with `--features
//! controlplane/dpdk` and configured with `dataplane.backend = "dpdk"` and a `[dpdk]` section
//! (EAL `--no-huge -m 256 --no-pci --no-shconf --vdev=net_af_packet0,iface=<veth>`), runs in a
//! network namespace; kernel-socket MSRP clients in another namespace drive the same relay
//! exchanges as the kernel-backend tests (`relay_paths.rs`, `relay_tokens.rs`) over the veth,
//! and participants join a room by SIP INVITE (SIP on kernel sockets inside the daemon's
//! namespace) and chat over MSRP through the DPDK port.
//! Needs root; says SKIPPED and passes otherwise (fails with `DPDK_TESTS_REQUIRED=1`).

#![cfg(feature = "dpdk")]

mod dpdk_support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use dataplane::wire::Continuation;
use dpdk_support::{Netns, CLI_IP, SRV_IP};
use e2e::procs::TempDir;
use e2e::scenario::{failure_report, path_to, transfer};
use e2e::{pattern, MsrpClient, ALICE, BOB};

const HOST: &str = "relay.test";
const PORT: u16 = 2855;

/// The msrpd binary: `$MSRPD`, else the one next to this test (what `scripts/test.sh` builds
/// with the dpdk feature for the whole workspace).
fn msrpd() -> PathBuf {
    msrp_bench::targets::msrpd_binary()
        .expect("the msrpd binary (build it with --features controlplane/dpdk, or set MSRPD)")
}

/// msrpd's configuration for the DPDK port on `iface`.
fn config(iface: &str) -> String {
    format!(
        r#"[dataplane]
backend = "dpdk"
workers = 1

[msrp]
host = "{HOST}"
listen = ["0.0.0.0:{PORT}"]

[relay]
require_auth = true
[[relay.users]]
name = "alice"
password = "alicepw"
[[relay.users]]
name = "bob"
password = "bobpw"

[log]
level = "warn"

[dpdk]
eal_args = ["-l", "0", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
            "--vdev=net_af_packet0,iface={iface}"]
port = "net_af_packet0"
cores = [0]
ipv4 = {{ addr = "{SRV_IP}", prefix = 24 }}
mbufs_per_queue = 4095
# Two cores shared with the clients: park when idle instead of spinning.
idle_sleep_us = 20

[dpdk.tcp]
rx_buffer = 65536
tx_buffer = 65536
sockets_per_interface = 64
"#
    )
}

/// The topology with msrpd running on the DPDK side.
fn start() -> (Netns, TempDir) {
    start_with("")
}

/// The same with `extra` appended to msrpd's configuration.
fn start_with(extra: &str) -> (Netns, TempDir) {
    let dir = TempDir::new("dpdk-msrpd");
    let mut ns = Netns::create().expect("namespaces");
    let path = dir.join("msrpd.toml");
    std::fs::write(&path, format!("{}{extra}", config(&ns.srv_if))).expect("write config");
    let args = vec!["--config".to_string(), path.display().to_string()];
    let line = ns
        .spawn_server_until(&msrpd(), &args, "msrpd: MSRP on")
        .expect("msrpd on DPDK ready");
    assert!(line.contains(&format!(":{PORT}")), "{line}");
    (ns, dir)
}

fn addr() -> SocketAddr {
    SocketAddr::new(SRV_IP.parse().expect("address"), PORT)
}

fn relay_uri() -> String {
    format!("msrp://{HOST}:{PORT};tcp")
}

fn client(name: &str) -> MsrpClient {
    let c = MsrpClient::connect(addr(), &format!("msrp://{name}.invalid:2855/{name}-s;tcp"))
        .expect("connect to msrpd over the veth");
    c.set_read_timeout(Some(Duration::from_secs(20)));
    c
}

fn send_code(c: &mut MsrpClient, to: &[String], mid: &str) -> Option<u16> {
    let tid = c.send_chunk(to, mid, 1, Some(2), b"hi", Continuation::Complete, &[]);
    c.response_to(&tid).code()
}

#[test]
fn msrpd_relays_over_dpdk_like_over_the_kernel() {
    if dpdk_support::skip() {
        return;
    }
    let (ns, _dir) = start();
    let outcome = ns.in_client(|| {
        let relay = relay_uri();
        // AUTH with digest (401 challenge, then 200 with Use-Path).
        let mut a = client("alice");
        let mut b = client("bob");
        let ua = a.auth(&[&relay], &ALICE).use_path;
        let ub = b.auth(&[&relay], &BOB).use_path;
        assert_eq!(ua.len(), 1, "one relay, one Use-Path URI: {ua:?}");
        assert!(
            ua[0].starts_with(&format!("msrp://{HOST}:{PORT}/")),
            "{ua:?}"
        );
        let to = path_to(&ua, &ub, &b.uri);

        // A one-chunk SEND through the relay, with its 200s and success REPORT.
        let t = transfer(&mut a, &to, &mut b, b"hello over dpdk", 1024, "small-1");
        assert_eq!(t.chunks_sent, 1);
        assert_eq!(
            t.path_at_b,
            format!("{} {} {}", ub[0], ua[0], a.uri),
            "From-Path at B"
        );

        // A 1 MiB message in 16 KiB chunks (more than the TCP windows on either side).
        let body = pattern(1024 * 1024, 7);
        let t = transfer(&mut a, &to, &mut b, &body, 16 * 1024, "chunked-1");
        assert_eq!(t.chunks_sent, 64);
        assert!(t.chunks_received >= 64, "{t:?}");

        // B's error comes back to A as a failure REPORT from the relay.
        let rep = failure_report(&mut a, &to, &mut b, 415, "fail-1");
        assert_eq!(rep.from_path(), ua[0], "the relay reports as itself");

        // 481: a token the relay never minted, and a token with no hop after it.
        let fake = format!("msrp://{HOST}:{PORT}/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA;tcp");
        assert_eq!(
            send_code(&mut a, &[fake, b.uri.clone()], "fake-token"),
            Some(481)
        );
        assert_eq!(send_code(&mut a, &ua, "no-next-hop"), Some(481));

        // 481: towards a client whose connection (and so its token) is gone.
        let to_a = path_to(&ub, &ua, &a.uri);
        drop(a);
        std::thread::sleep(Duration::from_millis(1000));
        assert_eq!(send_code(&mut b, &to_a, "to-gone"), Some(481));

        // And the relay still works for a fresh client after all that.
        let mut c = client("carol");
        let uc = c.auth(&[&relay], &ALICE).use_path;
        let t = transfer(
            &mut c,
            &path_to(&uc, &ub, &b.uri),
            &mut b,
            &pattern(40_000, 3),
            8192,
            "after-1",
        );
        assert_eq!(t.chunks_sent, 5);
    });
    if let Err(e) = outcome {
        panic!("{e}\n{}", ns.diagnostics());
    }
}

/// Smoke run of `msrp-bench backends` (kernel, then DPDK af_packet) on its own veth pair:
/// counts only. Every message sent through either backend arrived intact and in order.
#[test]
fn bench_backends_smoke_run() {
    use msrp_bench::scenarios::backends::{run, Args};
    if dpdk_support::skip() {
        return;
    }
    // The scenario finds msrpd the same way.
    let _ = msrpd();
    let args = Args {
        backends: vec!["kernel".into(), "af_packet".into()],
        sessions: 2,
        size: 100,
        window: 4,
        duration: 0.5,
        warmup: 0.2,
        alternations: 1,
        idle_sleep_us: 20,
        target_core: None,
        common: msrp_bench::CommonArgs {
            no_pin: true,
            ..Default::default()
        },
    };
    let r = run(&args);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let runs = r.results["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{runs:?}");
    for v in runs {
        let c = &v["results"]["counts"];
        let sent = c["sent"].as_u64().unwrap_or(0);
        assert!(sent > 0, "{v}");
        assert_eq!(c["received"].as_u64(), Some(sent), "{v}");
        assert_eq!(c["ok_200"].as_u64(), Some(sent), "{v}");
        assert_eq!(c["corrupt"].as_u64(), Some(0), "{v}");
        assert_eq!(c["out_of_order"].as_u64(), Some(0), "{v}");
    }
}

const ROOM: &str = "sip:chat@example.com";

/// The room part of msrpd's configuration: SIP on the server namespace's loopback (kernel
/// sockets, the daemon's tokio side), one room.
fn room_config() -> String {
    format!(
        "\n[sip]\ntcp = [\"127.0.0.1:5060\"]\nudp = [\"127.0.0.1:5060\"]\ndomains = [\"example.com\"]\n\n\
         [[rooms]]\nuri = {ROOM:?}\nname = \"DPDK room\"\n"
    )
}

/// An SDP offer from a participant in the client namespace (active or passive: actpass).
fn offer(sid: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {CLI_IP}\r\ns=-\r\nc=IN IP4 {CLI_IP}\r\nt=0 0\r\n\
m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\n\
a=accept-wrapped-types:text/plain *\r\na=path:msrp://{CLI_IP}:9/{sid};tcp\r\n\
a=setup:actpass\r\na=chatroom:nickname private-messages\r\n"
    )
}

/// Runs `f` on a thread inside network namespace `ns`.
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(&path).expect("namespace file");
        // SAFETY: setns on a valid namespace fd; it only affects this thread.
        assert_eq!(
            unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
            0,
            "setns"
        );
        f()
    })
}

/// Two participants join a room by SIP INVITE (SIP over the kernel in the daemon's
/// namespace), then bind and talk over MSRP through the DPDK port: the switch behind the
/// DPDK backend delivers, refuses a spoofed sender, and handles a NICKNAME.
#[test]
fn a_room_joined_by_sip_invite_talks_over_dpdk() {
    use dataplane::switch::testkit::ChatClient;
    use e2e::sipua::SipUa;
    if dpdk_support::skip() {
        return;
    }
    let (ns, _dir) = start_with(&room_config());
    let (paths_tx, paths_rx) = std::sync::mpsc::channel::<(String, String)>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let sip = in_netns(&ns.srv, move || {
        let server: SocketAddr = "127.0.0.1:5060".parse().expect("address");
        // msrpd announces MSRP before SIP: give SIP a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(server).is_err() {
            assert!(std::time::Instant::now() < deadline, "SIP never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut alice = SipUa::tcp(server, "alice", "example.com");
        let mut bob = SipUa::tcp(server, "bob", "example.com");
        let a = alice.invite(ROOM, &offer("alicedpdk1"), "", None);
        assert_eq!(a.code(), 200, "alice joins: {}", a.sdp);
        assert_eq!(a.attr("setup").as_deref(), Some("passive"));
        let b = bob.invite(ROOM, &offer("bobdpdk1"), "", None);
        assert_eq!(b.code(), 200, "bob joins: {}", b.sdp);
        paths_tx.send((a.path(), b.path())).expect("paths");
        // The dialogs stay up until the MSRP side is done.
        let _ = done_rx.recv_timeout(Duration::from_secs(120));
        drop((alice, bob));
    });
    let (a_path, b_path) = paths_rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("joins failed\n{}", ns.diagnostics()));
    assert!(a_path.contains(&format!(":{PORT}/")), "{a_path}");
    let outcome = ns.in_client(move || {
        let mut a = ChatClient::connect(
            addr(),
            &a_path,
            &format!("msrp://{CLI_IP}:9/alicedpdk1;tcp"),
        );
        assert_eq!(a.bind().code(), Some(200), "alice binds over DPDK");
        let mut b =
            ChatClient::connect(addr(), &b_path, &format!("msrp://{CLI_IP}:9/bobdpdk1;tcp"));
        assert_eq!(b.bind().code(), Some(200), "bob binds over DPDK");
        let v = "\"Bobby\"";
        let tid = b.request("NICKNAME", &[("Use-Nickname", v)]);
        assert_eq!(b.response_to(&tid), 200, "NICKNAME");
        for i in 0..20 {
            let text = format!("hello room {i}");
            assert_eq!(
                a.say(
                    &format!("dmsg-{i:03}"),
                    "sip:alice@example.com",
                    ROOM,
                    &text
                ),
                200
            );
            let got = b.next_send();
            assert_eq!(got.payload(), text.as_bytes());
            assert_eq!(got.cpim("From").as_deref(), Some("<sip:alice@example.com>"));
        }
        assert_eq!(b.say("spoof-1", "sip:alice@example.com", ROOM, "fake"), 403);
    });
    let _ = done_tx.send(());
    let sip_ok = sip.join();
    if let Err(e) = outcome {
        panic!("{e}\n{}", ns.diagnostics());
    }
    assert!(sip_ok.is_ok(), "SIP side failed\n{}", ns.diagnostics());
}
