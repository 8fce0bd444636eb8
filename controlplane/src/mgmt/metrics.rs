//! Prometheus text exposition (format 0.0.4), written by hand: every family has its `# HELP`
//! and `# TYPE` lines, per-worker series carry a `worker` label. `README.md` lists them all.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

use dataplane::switch::RoomCounters;

use super::daemon_admin::WorkerSnapshot;
use super::MgmtState;

/// Reads one counter of a worker snapshot.
type Getter = dyn Fn(&WorkerSnapshot) -> u64;

/// A room family: name, type, help, value.
type RoomFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&RoomCounters) -> u64,
);

/// Builds the exposition text.
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// One family with one sample per worker.
    fn per_worker(
        &mut self,
        snaps: &[WorkerSnapshot],
        name: &str,
        kind: &str,
        help: &str,
        f: impl Fn(&WorkerSnapshot) -> u64,
    ) {
        self.family(name, kind, help);
        for w in snaps {
            let idx = w.index.to_string();
            self.sample(name, &[("worker", &idx)], f(w) as f64);
        }
    }

    /// One family with one sample per worker and value of an extra label.
    fn per_worker_by(
        &mut self,
        snaps: &[WorkerSnapshot],
        name: &str,
        kind: &str,
        help: &str,
        label: &str,
        values: &[(&str, &Getter)],
    ) {
        self.family(name, kind, help);
        for w in snaps {
            let idx = w.index.to_string();
            for (lv, f) in values {
                self.sample(name, &[("worker", &idx), (label, lv)], f(w) as f64);
            }
        }
    }
}

/// Label values escape backslash, quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole `/metrics` text.
pub fn render(state: &MgmtState, snaps: &[WorkerSnapshot]) -> String {
    let mut o = Out(String::with_capacity(8 * 1024));
    let cfg = state.config();
    o.family(
        "msrpd_info",
        "gauge",
        "Build and run information (always 1).",
    );
    o.sample(
        "msrpd_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("backend", &cfg.dataplane.backend),
            ("host", &cfg.msrp.host),
        ],
        1.0,
    );
    o.family(
        "msrpd_uptime_seconds",
        "gauge",
        "Seconds since msrpd started.",
    );
    o.sample("msrpd_uptime_seconds", &[], state.uptime_secs() as f64);
    o.family(
        "msrpd_draining",
        "gauge",
        "1 while a graceful stop is under way, else 0.",
    );
    o.sample("msrpd_draining", &[], f64::from(u8::from(state.draining())));
    o.family(
        "msrpd_config_reloads_total",
        "counter",
        "Configuration reloads (SIGHUP or POST /v1/reload), by result.",
    );
    o.sample(
        "msrpd_config_reloads_total",
        &[("result", "ok")],
        state.reloads.load(Ordering::Relaxed) as f64,
    );
    o.sample(
        "msrpd_config_reloads_total",
        &[("result", "failed")],
        state.reload_failures.load(Ordering::Relaxed) as f64,
    );
    o.family(
        "msrpd_mgmt_requests_total",
        "counter",
        "Management API requests answered, by status class.",
    );
    for (i, class) in ["2xx", "4xx", "5xx"].iter().enumerate() {
        o.sample(
            "msrpd_mgmt_requests_total",
            &[("class", class)],
            state.requests[i].load(Ordering::Relaxed) as f64,
        );
    }
    o.family("msrpd_workers", "gauge", "Dataplane workers.");
    o.sample("msrpd_workers", &[], snaps.len() as f64);

    o.per_worker(
        snaps,
        "msrpd_worker_up",
        "gauge",
        "1 when the worker answered this scrape.",
        |w| u64::from(w.answered),
    );
    o.per_worker(
        snaps,
        "msrpd_worker_connections",
        "gauge",
        "Open MSRP connections.",
        |w| w.relay.connections as u64,
    );
    o.per_worker(
        snaps,
        "msrpd_worker_relay_sessions",
        "gauge",
        "Live relay tokens (RFC 4976 authenticated sessions).",
        |w| w.relay.tokens as u64,
    );
    o.per_worker(
        snaps,
        "msrpd_worker_switch_sessions",
        "gauge",
        "Chat room sessions installed (RFC 7701).",
        |w| w.switch.sessions as u64,
    );
    o.per_worker(
        snaps,
        "msrpd_worker_frames_in_total",
        "counter",
        "MSRP frames (requests and responses) received.",
        |w| w.relay.frames_in,
    );
    o.per_worker(
        snaps,
        "msrpd_worker_requests_forwarded_total",
        "counter",
        "MSRP requests forwarded to a next hop by the relay.",
        |w| w.relay.forwarded,
    );
    o.per_worker(
        snaps,
        "msrpd_worker_room_messages_total",
        "counter",
        "Chat messages accepted for distribution by the switch.",
        |w| w.switch.messages,
    );
    o.per_worker(
        snaps,
        "msrpd_worker_room_deliveries_total",
        "counter",
        "Frames queued to chat room recipients.",
        |w| w.switch.deliveries,
    );
    o.per_worker_by(
        snaps,
        "msrpd_worker_bytes_total",
        "counter",
        "Plaintext bytes read from (in) and written to (out) connections.",
        "direction",
        &[
            ("in", &|w: &WorkerSnapshot| w.relay.io.bytes_in),
            ("out", &|w: &WorkerSnapshot| w.relay.io.bytes_out),
        ],
    );
    o.per_worker_by(
        snaps,
        "msrpd_worker_connections_total",
        "counter",
        "Connections accepted and closed.",
        "event",
        &[
            ("accepted", &|w: &WorkerSnapshot| w.relay.io.accepted),
            ("closed", &|w: &WorkerSnapshot| w.relay.io.closed),
        ],
    );
    o.per_worker_by(
        snaps,
        "msrpd_worker_auth_total",
        "counter",
        "Relay AUTH requests, by result.",
        "result",
        &[
            ("ok", &|w: &WorkerSnapshot| w.relay.auth_ok),
            ("failed", &|w: &WorkerSnapshot| w.relay.auth_failed),
        ],
    );
    o.per_worker_by(
        snaps,
        "msrpd_worker_drops_total",
        "counter",
        "Things refused or dropped, by cause.",
        "cause",
        &[
            ("rejected", &|w: &WorkerSnapshot| w.relay.rejected),
            ("connection_dropped", &|w: &WorkerSnapshot| {
                w.relay.dropped_connections
            }),
            ("failure_report", &|w: &WorkerSnapshot| w.relay.reports),
            ("congestion_skip", &|w: &WorkerSnapshot| {
                w.switch.congestion_skips
            }),
            ("type_skip", &|w: &WorkerSnapshot| w.switch.type_skips),
            ("abandoned", &|w: &WorkerSnapshot| w.switch.abandoned),
        ],
    );
    o.family(
        "msrpd_worker_switch_refused_total",
        "counter",
        "Chat switch requests refused, by MSRP status code.",
    );
    for w in snaps {
        let idx = w.index.to_string();
        for (code, n) in &w.switch.refused {
            let c = code.to_string();
            o.sample(
                "msrpd_worker_switch_refused_total",
                &[("worker", &idx), ("code", &c)],
                *n as f64,
            );
        }
    }
    o.per_worker(
        snaps,
        "msrpd_worker_pending_transactions",
        "gauge",
        "Forwarded chunks waiting for the next hop's response.",
        |w| w.relay.pending_transactions as u64,
    );
    o.per_worker(
        snaps,
        "msrpd_worker_in_frame_connections",
        "gauge",
        "Connections in the middle of a frame.",
        |w| w.relay.in_frame as u64,
    );
    o.per_worker(
        snaps,
        "msrpd_worker_queue_bytes",
        "gauge",
        "Bytes waiting in the send queues.",
        |w| w.relay.queue.bytes as u64,
    );
    o.per_worker(
        snaps,
        "msrpd_worker_queue_connections",
        "gauge",
        "Connections with something in their send queue.",
        |w| w.relay.queue.conns as u64,
    );
    o.per_worker(
        snaps,
        "msrpd_worker_queue_max_bytes",
        "gauge",
        "The largest send queue of one connection (bytes).",
        |w| w.relay.queue.max_bytes as u64,
    );
    o.per_worker_by(
        snaps,
        "msrpd_worker_ring_messages",
        "gauge",
        "Messages waiting in rings: the control ring into the worker, and the worker's rings towards other workers.",
        "ring",
        &[
            ("control", &|w: &WorkerSnapshot| w.control_ring as u64),
            ("peer_out", &|w: &WorkerSnapshot| w.relay.peer_ring as u64),
        ],
    );
    o.per_worker(
        snaps,
        "msrpd_worker_ring_capacity",
        "gauge",
        "Capacity of the control ring into the worker.",
        |w| w.control_ring_capacity as u64,
    );
    o.per_worker(
        snaps,
        "msrpd_worker_ring_backlog_total",
        "counter",
        "Switch messages that had to wait because a peer ring was full.",
        |w| w.switch.ring_backlog,
    );
    rooms(&mut o, snaps, &state.room_names());
    sip(&mut o, state);
    o.0
}

/// SIP series (only when the SIP server runs).
fn sip(o: &mut Out, state: &MgmtState) {
    let Some(core) = state.daemon.sip_core() else {
        return;
    };
    let c = core.counters.snapshot();
    o.family(
        "msrpd_sip_requests_total",
        "counter",
        "SIP requests received, by method (INVALID: unparsable start line).",
    );
    for (m, n) in &c.requests_in {
        o.sample("msrpd_sip_requests_total", &[("method", m)], *n as f64);
    }
    o.family(
        "msrpd_sip_responses_total",
        "counter",
        "SIP responses received (in) and sent (out), by class.",
    );
    for (dir, list) in [("in", &c.responses_in), ("out", &c.responses_out)] {
        for (class, n) in list {
            o.sample(
                "msrpd_sip_responses_total",
                &[("direction", dir), ("class", class)],
                *n as f64,
            );
        }
    }
    o.family(
        "msrpd_sip_requests_sent_total",
        "counter",
        "SIP requests sent (proxied, NOTIFY, BYE, ...).",
    );
    o.sample("msrpd_sip_requests_sent_total", &[], c.requests_out as f64);
    o.family(
        "msrpd_sip_keepalives_total",
        "counter",
        "RFC 5626 keepalives answered: CRLF pings on streams, STUN binding requests on UDP.",
    );
    o.sample(
        "msrpd_sip_keepalives_total",
        &[("kind", "crlf")],
        c.crlf_keepalives as f64,
    );
    o.sample(
        "msrpd_sip_keepalives_total",
        &[("kind", "stun")],
        c.stun_keepalives as f64,
    );
    o.family(
        "msrpd_sip_registrations",
        "gauge",
        "Registrar bindings (contacts) in force.",
    );
    o.sample(
        "msrpd_sip_registrations",
        &[],
        state.daemon.focus().registrations().len() as f64,
    );
    o.family(
        "msrpd_sip_flows",
        "gauge",
        "Open SIP stream flows (TCP and TLS connections).",
    );
    o.sample("msrpd_sip_flows", &[], core.flows.stream_count() as f64);
}

/// Per-room series: the workers' counters of each room summed; `room` is the room's URI when
/// the focus knows it, else its id.
fn rooms(o: &mut Out, snaps: &[WorkerSnapshot], names: &BTreeMap<u64, String>) {
    let mut sum: BTreeMap<u64, RoomCounters> = BTreeMap::new();
    for w in snaps {
        for r in &w.switch.per_room {
            let e = sum.entry(r.room).or_default();
            e.bound += r.bound;
            e.messages += r.messages;
            e.deliveries += r.deliveries;
            e.congestion_skips += r.congestion_skips;
        }
    }
    let label = |id: &u64| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let families: [RoomFamily; 4] = [
        (
            "msrpd_room_members",
            "gauge",
            "Sessions of the room bound to an MSRP connection.",
            |c| c.bound as u64,
        ),
        (
            "msrpd_room_messages_total",
            "counter",
            "Messages accepted for distribution in the room.",
            |c| c.messages,
        ),
        (
            "msrpd_room_deliveries_total",
            "counter",
            "Frames queued to the room's recipients.",
            |c| c.deliveries,
        ),
        (
            "msrpd_room_congestion_skips_total",
            "counter",
            "Recipients skipped because their connection was congested.",
            |c| c.congestion_skips,
        ),
    ];
    o.family("msrpd_rooms", "gauge", "Chat rooms known to the dataplane.");
    o.sample("msrpd_rooms", &[], sum.len() as f64);
    for (name, kind, help, f) in families {
        o.family(name, kind, help);
        for (id, c) in &sum {
            let l = label(id);
            o.sample(name, &[("room", &l)], f(c) as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_lines_well_formed() {
        let mut o = Out(String::new());
        o.family("x_total", "counter", "An x.");
        o.sample("x_total", &[("a", "q\"b\\c\nd")], 3.0);
        assert_eq!(
            o.0,
            "# HELP x_total An x.\n# TYPE x_total counter\nx_total{a=\"q\\\"b\\\\c\\nd\"} 3\n"
        );
    }
}
