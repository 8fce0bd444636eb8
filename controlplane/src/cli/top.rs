//! `msrpctl top`: samples `/v1/workers` (and `/v1/rooms` when the focus runs) every interval
//! and shows rates per worker and per room.

use std::time::{Duration, Instant};

use hyper::Method;
use serde_json::{json, Value};

use super::client::Client;
use super::{render, Failure};

/// Counters of one worker that `top` turns into rates.
const RATES: [(&str, &str); 7] = [
    ("FRAMES/s", "frames_in"),
    ("FWD/s", "requests_forwarded"),
    ("MSGS/s", "messages"),
    ("DELIV/s", "deliveries"),
    ("IN/s", "bytes_in"),
    ("OUT/s", "bytes_out"),
    ("DROPS/s", "drops"),
];

fn counter(w: &Value, key: &str) -> f64 {
    if key == "drops" {
        return w["drops"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_f64).sum())
            .unwrap_or(0.0);
    }
    w[key].as_f64().unwrap_or(0.0)
}

async fn sample(client: &Client) -> Result<(Instant, Value, Option<Value>), Failure> {
    let w = client.call(Method::GET, "/v1/workers", None).await?;
    let at = Instant::now();
    let workers = w.json().map_err(|e| super::bad_answer(client, e))?;
    // Rooms exist only when the focus runs: their absence is not an error here.
    let rooms = match client.call(Method::GET, "/v1/rooms", None).await {
        Ok(a) => a.json().ok(),
        Err(_) => None,
    };
    Ok((at, workers, rooms))
}

/// Rates between two samples of `/v1/workers`, one object per worker.
pub fn rates(prev: &Value, cur: &Value, secs: f64) -> Vec<Value> {
    let empty = Vec::new();
    let p = prev["workers"].as_array().unwrap_or(&empty);
    let c = cur["workers"].as_array().unwrap_or(&empty);
    c.iter()
        .map(|w| {
            let before = p.iter().find(|x| x["index"] == w["index"]);
            let mut o = json!({
                "worker": w["index"],
                "connections": w["connections"],
                "queued_bytes": w["queue"]["bytes"],
                "pending": w["pending_transactions"],
            });
            for (_, key) in RATES {
                let d = before.map_or(0.0, |b| (counter(w, key) - counter(b, key)).max(0.0));
                o[format!("{key}_per_sec")] = json!(if secs > 0.0 { d / secs } else { 0.0 });
            }
            o
        })
        .collect()
}

fn room_rates(prev: Option<&Value>, cur: Option<&Value>, secs: f64) -> Vec<Value> {
    let (Some(p), Some(c)) = (prev, cur) else {
        return Vec::new();
    };
    let empty = Vec::new();
    let plist = p["rooms"].as_array().unwrap_or(&empty);
    c["rooms"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|r| {
            let id = r
                .get("name")
                .or_else(|| r.get("id"))
                .cloned()
                .unwrap_or(Value::Null);
            let before = plist
                .iter()
                .find(|x| x.get("name").or_else(|| x.get("id")) == Some(&id));
            let rate = |k: &str| {
                let d = before.map_or(0.0, |b| {
                    (r[k].as_f64().unwrap_or(0.0) - b[k].as_f64().unwrap_or(0.0)).max(0.0)
                });
                if secs > 0.0 {
                    d / secs
                } else {
                    0.0
                }
            };
            json!({
                "room": id,
                "members": r.get("members").cloned().unwrap_or(Value::Null),
                "messages_per_sec": rate("messages"),
                "deliveries_per_sec": rate("deliveries"),
            })
        })
        .collect()
}

fn screen(workers: &[Value], rooms: &[Value]) -> String {
    let mut headers = vec!["WORKER", "CONNS"];
    headers.extend(RATES.iter().map(|(h, _)| *h));
    headers.extend(["QUEUED", "PENDING"]);
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            let mut r = vec![render::cell(&w["worker"]), render::cell(&w["connections"])];
            for (_, key) in RATES {
                let v = w[format!("{key}_per_sec")].as_f64().unwrap_or(0.0);
                r.push(if key.starts_with("bytes") {
                    render::bytes(v)
                } else {
                    format!("{v:.1}")
                });
            }
            r.push(render::bytes(w["queued_bytes"].as_f64().unwrap_or(0.0)));
            r.push(render::cell(&w["pending"]));
            r
        })
        .collect();
    let mut out = render::table(&headers, &rows);
    if !rooms.is_empty() {
        out.push('\n');
        let rows: Vec<Vec<String>> = rooms
            .iter()
            .map(|r| {
                vec![
                    render::cell(&r["room"]),
                    render::cell(&r["members"]),
                    format!("{:.1}", r["messages_per_sec"].as_f64().unwrap_or(0.0)),
                    format!("{:.1}", r["deliveries_per_sec"].as_f64().unwrap_or(0.0)),
                ]
            })
            .collect();
        out.push_str(&render::table(
            &["ROOM", "MEMBERS", "MSGS/s", "DELIV/s"],
            &rows,
        ));
    }
    out
}

/// Samples every `interval`; prints `iterations` screens (0: forever). `clear` redraws in
/// place. With `json`, one JSON object per line and screen.
pub async fn run(
    client: &Client,
    interval: Duration,
    iterations: u64,
    clear: bool,
    json_out: bool,
) -> Result<String, Failure> {
    use std::io::Write;
    let (mut at, mut prev, mut prev_rooms) = sample(client).await?;
    let mut shown = 0u64;
    loop {
        tokio::time::sleep(interval).await;
        let (now, cur, rooms) = sample(client).await?;
        let secs = now.duration_since(at).as_secs_f64();
        let w = rates(&prev, &cur, secs);
        let r = room_rates(prev_rooms.as_ref(), rooms.as_ref(), secs);
        let text = if json_out {
            format!(
                "{}\n",
                json!({ "interval_secs": secs, "workers": w, "rooms": r })
            )
        } else {
            screen(&w, &r)
        };
        let mut out = std::io::stdout().lock();
        if clear {
            let _ = write!(out, "\x1b[2J\x1b[H");
        }
        let _ = write!(out, "{text}");
        if !json_out && (iterations == 0 || shown + 1 < iterations) {
            let _ = writeln!(out);
        }
        let _ = out.flush();
        shown += 1;
        if iterations != 0 && shown >= iterations {
            return Ok(String::new());
        }
        (at, prev, prev_rooms) = (now, cur, rooms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_deltas_over_time() {
        let a = json!({"workers": [{"index": 0, "connections": 2, "frames_in": 10, "bytes_in": 100,
            "drops": {"rejected": 1, "abandoned": 0}, "queue": {"bytes": 0}, "pending_transactions": 0}]});
        let b = json!({"workers": [{"index": 0, "connections": 3, "frames_in": 30, "bytes_in": 500,
            "drops": {"rejected": 3, "abandoned": 2}, "queue": {"bytes": 7}, "pending_transactions": 1}]});
        let r = rates(&a, &b, 2.0);
        assert_eq!(r[0]["frames_in_per_sec"], 10.0);
        assert_eq!(r[0]["bytes_in_per_sec"], 200.0);
        assert_eq!(r[0]["drops_per_sec"], 2.0);
        assert_eq!(r[0]["connections"], 3);
        let s = screen(&r, &[]);
        assert!(s.starts_with("WORKER"), "{s}");
    }
}
