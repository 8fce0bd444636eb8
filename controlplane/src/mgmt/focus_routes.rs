//! Rooms, participants and SIP routes over the conference focus's admin API
//! ([`crate::focus::Focus`]): `/v1/rooms…` and `/v1/sip/…`. Room lists carry the dataplane's
//! per-room counters (members, messages, deliveries, congestion skips) summed over workers.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use dataplane::switch::RoomCounters;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::focus::{FocusError, RoomInfo, RoomSettings};

use super::server::{error, json as reply, Reply};
use super::MgmtState;

fn focus_error(e: FocusError) -> Reply {
    let status = match &e {
        FocusError::NoRoom(_) | FocusError::NoParticipant(_) => StatusCode::NOT_FOUND,
        FocusError::RoomExists(_) => StatusCode::CONFLICT,
        FocusError::Invalid { .. } => StatusCode::BAD_REQUEST,
    };
    error(status, e.to_string())
}

/// Percent-decodes a path segment (room URIs may be given whole).
fn decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The dataplane's counters of every room, summed over the workers.
async fn room_counters(state: &Arc<MgmtState>) -> BTreeMap<u64, RoomCounters> {
    let mut sum: BTreeMap<u64, RoomCounters> = BTreeMap::new();
    for w in super::routes::snapshots(state).await {
        for r in w.switch.per_room {
            let e = sum.entry(r.room).or_default();
            e.room = r.room;
            e.bound += r.bound;
            e.messages += r.messages;
            e.deliveries += r.deliveries;
            e.congestion_skips += r.congestion_skips;
        }
    }
    sum
}

fn room_json(r: &RoomInfo, c: Option<&RoomCounters>) -> Value {
    json!({
        "name": r.settings.user_part().unwrap_or_default(),
        "uri": r.settings.uri,
        "id": r.id,
        "members": r.sessions,
        "participants": r.participants,
        "subscriptions": r.subscriptions,
        "bound": c.map_or(0, |c| c.bound),
        "messages": c.map_or(0, |c| c.messages),
        "deliveries": c.map_or(0, |c| c.deliveries),
        "congestion_skips": c.map_or(0, |c| c.congestion_skips),
        "settings": serde_json::to_value(&r.settings).unwrap_or(Value::Null),
    })
}

/// Settings from a request body: every [`RoomSettings`] field, and `room` (a URI, or a user
/// part completed with the first SIP domain) instead of `uri`.
fn settings_from(
    state: &MgmtState,
    mut body: Value,
    base: Option<&RoomSettings>,
) -> Result<RoomSettings, Box<Reply>> {
    let Value::Object(ref mut m) = body else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object of room settings",
        )));
    };
    if let Some(room) = m.remove("room") {
        let Some(room) = room.as_str() else {
            return Err(Box::new(error(StatusCode::BAD_REQUEST, "room: a string")));
        };
        let uri = if room.contains(':') {
            room.to_string()
        } else {
            let cfg = state.config();
            let domain = cfg
                .sip
                .domains
                .first()
                .cloned()
                .unwrap_or_else(|| cfg.msrp.host.clone());
            format!("sip:{room}@{domain}")
        };
        m.insert("uri".into(), Value::String(uri));
    }
    let mut merged = match base {
        Some(b) => serde_json::to_value(b).unwrap_or(Value::Null),
        None => serde_json::to_value(RoomSettings::default()).unwrap_or(Value::Null),
    };
    if let Value::Object(t) = &mut merged {
        for (k, v) in m.iter() {
            if !t.contains_key(k) {
                return Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    format!("{k}: not a room setting"),
                )));
            }
            t.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(merged)
        .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, e.to_string())))
}

fn body_json(body: &Bytes) -> Result<Value, Box<Reply>> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, format!("body: {e}"))))
}

/// Answers `/v1/rooms…` and `/v1/sip/…`; `None` for other paths.
pub async fn route(
    state: &Arc<MgmtState>,
    method: &Method,
    segs: &[&str],
    body: &Bytes,
) -> Option<Reply> {
    let focus = state.daemon.focus().clone();
    let get = method == Method::GET;
    Some(match segs {
        ["v1", "rooms"] if get => {
            let counters = room_counters(state).await;
            let mut rooms = focus.rooms();
            rooms.sort_by(|a, b| a.settings.uri.cmp(&b.settings.uri));
            let list: Vec<Value> = rooms
                .iter()
                .map(|r| room_json(r, counters.get(&r.id)))
                .collect();
            reply(StatusCode::OK, &json!({ "rooms": list }))
        }
        ["v1", "rooms"] if method == Method::POST => {
            let settings = match body_json(body).and_then(|b| settings_from(state, b, None)) {
                Ok(s) => s,
                Err(r) => return Some(*r),
            };
            match focus.create_room(settings) {
                Ok(r) => reply(StatusCode::CREATED, &room_json(&r, None)),
                Err(e) => focus_error(e),
            }
        }
        ["v1", "rooms", room] => {
            let room = decode(room);
            match *method {
                Method::GET => match focus.room(&room) {
                    Ok(r) => {
                        let counters = room_counters(state).await;
                        let mut v = room_json(&r, counters.get(&r.id));
                        v["participants_list"] = focus
                            .participants(&room)
                            .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
                            .unwrap_or(Value::Null);
                        reply(StatusCode::OK, &v)
                    }
                    Err(e) => focus_error(e),
                },
                Method::PATCH | Method::PUT => {
                    let current = match focus.room(&room) {
                        Ok(r) => r.settings,
                        Err(e) => return Some(focus_error(e)),
                    };
                    let settings = match body_json(body)
                        .and_then(|b| settings_from(state, b, Some(&current)))
                    {
                        Ok(s) => s,
                        Err(r) => return Some(*r),
                    };
                    match focus.update_room(&room, settings) {
                        Ok(r) => reply(StatusCode::OK, &room_json(&r, None)),
                        Err(e) => focus_error(e),
                    }
                }
                Method::DELETE => match focus.delete_room(&room) {
                    Ok(()) => reply(StatusCode::OK, &json!({ "deleted": room })),
                    Err(e) => focus_error(e),
                },
                _ => error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("{method} is not allowed here"),
                ),
            }
        }
        ["v1", "rooms", room, "participants"] if get => match focus.participants(&decode(room)) {
            Ok(list) => {
                let rows: Vec<Value> = list
                    .iter()
                    .map(|p| {
                        json!({
                            "uri": p.uri,
                            "nickname": p.nickname,
                            "display_name": p.display_name,
                            "anonymous": p.anonymous,
                            "sessions": p.sessions.len(),
                            "bound": p.sessions.iter().filter(|s| s.bound).count(),
                        })
                    })
                    .collect();
                reply(StatusCode::OK, &json!({ "participants": rows }))
            }
            Err(e) => focus_error(e),
        },
        ["v1", "rooms", room, "participants", who] => {
            let (room, who) = (decode(room), decode(who));
            match *method {
                Method::GET => match focus.participants(&room) {
                    Ok(list) => {
                        let found = list.into_iter().find(|p| {
                            p.uri == who
                                || p.nickname.as_deref() == Some(who.as_str())
                                || p.sessions.iter().any(|s| s.session_id == who)
                        });
                        match found {
                            Some(p) => reply(
                                StatusCode::OK,
                                &serde_json::to_value(p).unwrap_or(Value::Null),
                            ),
                            None => error(
                                StatusCode::NOT_FOUND,
                                format!("no participant {who} in the room"),
                            ),
                        }
                    }
                    Err(e) => focus_error(e),
                },
                Method::DELETE => {
                    // A nickname names the participant too.
                    let target = focus
                        .participants(&room)
                        .ok()
                        .and_then(|l| {
                            l.into_iter()
                                .find(|p| p.nickname.as_deref() == Some(who.as_str()))
                        })
                        .map_or(who.clone(), |p| p.uri);
                    match focus.kick(&room, &target) {
                        Ok(n) => reply(
                            StatusCode::OK,
                            &json!({ "removed_sessions": n, "participant": target }),
                        ),
                        Err(e) => focus_error(e),
                    }
                }
                _ => error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("{method} is not allowed here"),
                ),
            }
        }
        ["v1", "sip", "registrations"] if get => reply(
            StatusCode::OK,
            &json!({ "registrations": serde_json::to_value(focus.registrations()).unwrap_or(Value::Null) }),
        ),
        ["v1", "sip", "flows"] if get => {
            let mut flows: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for r in focus.registrations() {
                if let Some(f) = r.flow {
                    flows.entry(f).or_default().push(r.aor);
                }
            }
            let list: Vec<Value> = flows
                .into_iter()
                .map(|(flow, mut aors)| {
                    aors.sort();
                    aors.dedup();
                    json!({ "flow": flow, "bindings": aors.len(), "aors": aors })
                })
                .collect();
            reply(
                StatusCode::OK,
                &json!({ "flows": list, "stream_flows": state.daemon.sip_stream_flows() }),
            )
        }
        ["v1", "sip", "listeners"] if get => reply(
            StatusCode::OK,
            &json!({ "listeners": serde_json::to_value(focus.sip_listeners()).unwrap_or(Value::Null) }),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(decode("sip%3Alobby%40example.com"), "sip:lobby@example.com");
        assert_eq!(decode("plain"), "plain");
        assert_eq!(decode("bad%zz%4"), "bad%zz%4");
    }
}
