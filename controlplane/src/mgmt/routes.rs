//! The API routes under `/v1` (and `/metrics`): each takes the shared state and the request
//! parts and returns JSON. Calls into the workers block on their answers, so they run on
//! tokio's blocking pool.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::daemon_admin::WorkerSnapshot;
use super::server::{error, json as reply, text, Reply};
use super::MgmtState;

/// Routes one request.
pub async fn route(
    state: Arc<MgmtState>,
    method: &Method,
    path: &str,
    _query: &str,
    _body: Bytes,
) -> Reply {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let get = method == Method::GET;
    let post = method == Method::POST;
    let r = match segs.as_slice() {
        ["metrics"] | ["v1", "metrics"] if get => metrics(state.clone()).await,
        ["v1", "status"] if get => reply(StatusCode::OK, &status(&state)),
        ["v1", "config"] if get => {
            reply(StatusCode::OK, &super::redact::config_json(&state.config()))
        }
        ["v1", "workers"] if get => {
            let snaps = snapshots(&state).await;
            reply(
                StatusCode::OK,
                &json!({ "workers": snaps.iter().map(worker_json).collect::<Vec<_>>() }),
            )
        }
        ["v1", "counters"] if get => {
            let snaps = snapshots(&state).await;
            reply(StatusCode::OK, &counters_json(&state, &snaps))
        }
        ["v1", "relay", "sessions"] if get => relay_sessions(state.clone()).await,
        ["v1", "reload"] if post => reload(state.clone()).await,
        ["v1", "rooms", ..] | ["v1", "sip", ..] => {
            match super::focus_routes::route(&state, method, &segs, &_body).await {
                Some(r) => r,
                None => error(StatusCode::NOT_FOUND, format!("no such route: {path}")),
            }
        }
        ["metrics"]
        | ["v1", "metrics" | "status" | "config" | "workers" | "counters" | "reload"]
        | ["v1", "relay", "sessions"] => error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {path}"),
        ),
        _ => error(StatusCode::NOT_FOUND, format!("no such route: {path}")),
    };
    let class = match r.status().as_u16() {
        200..=399 => 0,
        400..=499 => 1,
        _ => 2,
    };
    state.requests[class].fetch_add(1, Ordering::Relaxed);
    r
}

/// Asks every worker for its counters (off the async threads).
pub async fn snapshots(state: &Arc<MgmtState>) -> Vec<WorkerSnapshot> {
    let d = state.daemon.clone();
    tokio::task::spawn_blocking(move || d.worker_snapshots())
        .await
        .unwrap_or_default()
}

fn status(state: &MgmtState) -> Value {
    let cfg = state.config();
    let bound = state.bound();
    let msrp: Vec<Value> = state
        .daemon
        .msrp_addrs
        .iter()
        .map(|(a, tls)| {
            let scheme = if *tls { "msrps" } else { "msrp" };
            json!({
                "uri": format!("{scheme}://{}:{};tcp", cfg.msrp.host, a.port()),
                "addr": a.to_string(),
                "tls": tls,
            })
        })
        .collect();
    json!({
        "name": "msrpd",
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uptime_secs": state.uptime_secs(),
        "started_unix": state.started_unix(),
        "backend": cfg.dataplane.backend,
        "workers": state.daemon.worker_count(),
        "host": cfg.msrp.host,
        "relay": cfg.relay.enabled,
        "draining": state.draining(),
        "config_file": state.config_path.as_ref().map(|p| p.display().to_string()),
        "listeners": {
            "msrp": msrp,
            "mgmt": {
                "tcp": bound.tcp.map(|a| a.to_string()),
                "unix": bound.unix.map(|p| p.display().to_string()),
            },
        },
    })
}

/// One worker as `/v1/workers` shows it.
pub fn worker_json(w: &WorkerSnapshot) -> Value {
    let r = &w.relay;
    let s = &w.switch;
    json!({
        "index": w.index,
        "answered": w.answered,
        "connections": r.connections,
        "relay_sessions": r.tokens,
        "switch_sessions": s.sessions,
        "switch_bound": s.bound,
        "rooms": s.rooms,
        "frames_in": r.frames_in,
        "requests_forwarded": r.forwarded,
        "messages": s.messages,
        "deliveries": s.deliveries,
        "bytes_in": r.io.bytes_in,
        "bytes_out": r.io.bytes_out,
        "accepted": r.io.accepted,
        "closed": r.io.closed,
        "auth_ok": r.auth_ok,
        "pending_transactions": r.pending_transactions,
        "in_frame": r.in_frame,
        "draining": r.draining,
        "queue": {
            "bytes": r.queue.bytes,
            "connections": r.queue.conns,
            "max_bytes": r.queue.max_bytes,
        },
        "drops": {
            "rejected": r.rejected,
            "auth_failed": r.auth_failed,
            "connections_dropped": r.dropped_connections,
            "failure_reports": r.reports,
            "congestion_skips": s.congestion_skips,
            "type_skips": s.type_skips,
            "abandoned": s.abandoned,
            "refused": s.refused.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        },
        "rings": {
            "control": w.control_ring,
            "control_capacity": w.control_ring_capacity,
            "peer_out": r.peer_ring,
            "switch_backlog": s.ring_backlog,
        },
    })
}

/// Sums over the workers, as `/v1/counters` shows them.
pub fn counters_json(state: &MgmtState, snaps: &[WorkerSnapshot]) -> Value {
    let sum = |f: &dyn Fn(&WorkerSnapshot) -> u64| snaps.iter().map(f).sum::<u64>();
    json!({
        "workers": snaps.len(),
        "workers_answered": snaps.iter().filter(|w| w.answered).count(),
        "connections": sum(&|w| w.relay.connections as u64),
        "relay_sessions": sum(&|w| w.relay.tokens as u64),
        // Every worker holds every room session (bound or not): the largest count, not a sum.
        "switch_sessions": snaps.iter().map(|w| w.switch.sessions).max().unwrap_or(0),
        "switch_sessions_bound": sum(&|w| w.switch.bound as u64),
        "rooms": snaps.iter().map(|w| w.switch.rooms).max().unwrap_or(0),
        "frames_in": sum(&|w| w.relay.frames_in),
        "requests_forwarded": sum(&|w| w.relay.forwarded),
        "bytes_in": sum(&|w| w.relay.io.bytes_in),
        "bytes_out": sum(&|w| w.relay.io.bytes_out),
        "connections_accepted": sum(&|w| w.relay.io.accepted),
        "connections_closed": sum(&|w| w.relay.io.closed),
        "auth_ok": sum(&|w| w.relay.auth_ok),
        "auth_failed": sum(&|w| w.relay.auth_failed),
        "rejected": sum(&|w| w.relay.rejected),
        "failure_reports": sum(&|w| w.relay.reports),
        "connections_dropped": sum(&|w| w.relay.dropped_connections),
        "pending_transactions": sum(&|w| w.relay.pending_transactions as u64),
        "queued_bytes": sum(&|w| w.relay.queue.bytes as u64),
        "messages": sum(&|w| w.switch.messages),
        "deliveries": sum(&|w| w.switch.deliveries),
        "congestion_skips": sum(&|w| w.switch.congestion_skips),
        "reloads": state.reloads.load(Ordering::Relaxed),
        "reload_failures": state.reload_failures.load(Ordering::Relaxed),
    })
}

async fn relay_sessions(state: Arc<MgmtState>) -> Reply {
    let d = state.daemon.clone();
    let list = tokio::task::spawn_blocking(move || d.relay_tokens())
        .await
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let sessions: Vec<Value> = list
        .iter()
        .map(|t| {
            json!({
                "worker": t.worker,
                "client": t.client,
                "expires_unix": t.expires,
                "expires_in_secs": u64::from(t.expires).saturating_sub(now),
                "peer": t.peer.map(|p| p.to_string()),
                "tls": t.tls,
            })
        })
        .collect();
    reply(StatusCode::OK, &json!({ "sessions": sessions }))
}

async fn reload(state: Arc<MgmtState>) -> Reply {
    let st = state.clone();
    match tokio::task::spawn_blocking(move || super::reload::reload(&st)).await {
        Ok(Ok(report)) => reply(
            StatusCode::OK,
            &serde_json::to_value(report).unwrap_or(Value::Null),
        ),
        Ok(Err(e @ super::reload::ReloadError::NoFile)) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Ok(Err(e)) => error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn metrics(state: Arc<MgmtState>) -> Reply {
    let snaps = snapshots(&state).await;
    text(super::metrics::render(&state, &snaps))
}
