//! Configuration reload (SIGHUP, `POST /v1/reload`): re-read the file, apply what can change
//! under running sessions, and name the changed keys that only a restart applies.
//!
//! Applied live: `[[rooms]]` (rooms added, changed and removed through the focus; members of
//! a changed room stay), `relay.users` (the relay's credential store is swapped; tokens already
//! granted stay valid), `log.level` (unless `MSRPD_LOG`/`RUST_LOG` set it), `mgmt.token`,
//! `mgmt.token_file`, `mgmt.drain_timeout_secs`. Everything else needs a restart.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::config::Config;

use super::MgmtState;

/// Keys (and key prefixes, ending in `.`) a reload applies without a restart.
const LIVE: &[&str] = &[
    "rooms",
    "relay.users",
    "log.level",
    "mgmt.token",
    "mgmt.token_file",
    "mgmt.drain_timeout_secs",
];

/// What a reload did.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ReloadReport {
    /// The file read.
    pub file: Option<String>,
    /// Changed keys now in force.
    pub applied: Vec<String>,
    /// Changed keys that take effect only after a restart (the old value stays in force).
    pub restart_required: Vec<String>,
    /// Things that could not be applied, with the reason.
    pub warnings: Vec<String>,
}

/// Why a reload did nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// msrpd was started without `--config`.
    #[error("msrpd runs without a configuration file: nothing to reload")]
    NoFile,
    /// The new file is unreadable or invalid; the old configuration stays.
    #[error("{0}; the configuration in force is unchanged")]
    Config(#[from] crate::config::ConfigError),
}

/// Flattens a JSON tree into dotted keys; arrays and scalars are leaves.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, val, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// The dotted keys whose values differ between `a` and `b`.
pub fn changed_keys(a: &Config, b: &Config) -> Vec<String> {
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &serde_json::to_value(a).unwrap_or(Value::Null), &mut fa);
    flatten("", &serde_json::to_value(b).unwrap_or(Value::Null), &mut fb);
    let mut keys: Vec<String> = fa
        .keys()
        .chain(fb.keys())
        .filter(|k| fa.get(*k) != fb.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn live(key: &str) -> bool {
    LIVE.iter().any(|l| {
        key == *l || (l.ends_with('.') && key.starts_with(l)) || key.starts_with(&format!("{l}."))
    })
}

/// Re-reads the file and applies what can change live.
pub fn reload(state: &MgmtState) -> Result<ReloadReport, ReloadError> {
    let _one = state.reload_lock.lock().unwrap_or_else(|p| p.into_inner());
    let Some(path) = state.config_path.clone() else {
        state
            .reload_failures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(ReloadError::NoFile);
    };
    let new = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            state
                .reload_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(e.into());
        }
    };
    let old = state.config();
    let mut report = ReloadReport {
        file: Some(path.display().to_string()),
        ..ReloadReport::default()
    };
    let mut in_force = old.clone();
    for key in changed_keys(&old, &new) {
        if live(&key) {
            report.applied.push(key);
        } else {
            report.restart_required.push(key);
        }
    }
    let touched = |k: &str| report.applied.iter().any(|a| a == k);
    if touched("relay.users") {
        in_force.relay.users = new.relay.users.clone();
        state.daemon.credentials.replace(&in_force);
    }
    if touched("log.level") {
        match &state.log {
            Some(h) if h.from_env.is_none() => match h.set_level(&new.log.level) {
                Ok(()) => in_force.log.level = new.log.level.clone(),
                Err(e) => report.warnings.push(format!("log.level: {e}")),
            },
            Some(h) => report.warnings.push(format!(
                "log.level: {} is set and wins over the file",
                h.from_env.unwrap_or("the environment")
            )),
            None => report
                .warnings
                .push("log.level: no reloadable logger installed".into()),
        }
    }
    if touched("mgmt.token") || touched("mgmt.token_file") {
        // Validated by Config::load, so the token resolves.
        match new.mgmt.resolve_token() {
            Ok(t) => {
                *super::write(&state.token) = t;
                in_force.mgmt.token = new.mgmt.token.clone();
                in_force.mgmt.token_file = new.mgmt.token_file.clone();
            }
            Err(e) => report.warnings.push(e.to_string()),
        }
    }
    if touched("rooms") {
        match apply_rooms(state, old.rooms.as_deref(), new.rooms.as_deref()) {
            Ok(()) => in_force.rooms = new.rooms.clone(),
            Err(e) => report.warnings.push(format!("rooms: {e}")),
        }
    }
    if touched("mgmt.drain_timeout_secs") {
        in_force.mgmt.drain_timeout_secs = new.mgmt.drain_timeout_secs;
    }
    // Keys a warning kept from applying are not "applied".
    report
        .applied
        .retain(|k| !report.warnings.iter().any(|w| w.starts_with(k.as_str())));
    *super::write(&state.in_force) = in_force;
    state
        .reloads
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    for k in &report.applied {
        tracing::info!(key = %k, "reload: applied");
    }
    for k in &report.restart_required {
        tracing::warn!(key = %k, "reload: changed, needs a restart to take effect");
    }
    for w in &report.warnings {
        tracing::warn!("reload: {w}");
    }
    Ok(report)
}

/// Brings the focus's rooms from the `old` configuration to the `new` one: rooms only in `new`
/// are created, rooms in both with other settings updated, rooms only in `old` deleted. Rooms
/// created over the API are left alone. Without `[[rooms]]` (the demo room) there is nothing
/// to compare with, so switching to or from it needs a restart.
fn apply_rooms(
    state: &MgmtState,
    old: Option<&[crate::focus::config::RoomSection]>,
    new: Option<&[crate::focus::config::RoomSection]>,
) -> Result<(), String> {
    let (Some(old), Some(new)) = (old, new) else {
        return Err("switching between the demo room and [[rooms]] needs a restart".into());
    };
    let focus = state.daemon.focus();
    let mut problems = Vec::new();
    let mut wanted = Vec::new();
    for r in new {
        let s = r.settings().map_err(|e| e.to_string())?;
        wanted.push(s.uri.clone());
        let res = match focus.room(&s.uri) {
            Ok(cur) if cur.settings == s => Ok(()),
            Ok(_) => focus.update_room(&s.uri, s.clone()).map(|_| ()),
            Err(_) => focus.create_room(s.clone()).map(|_| ()),
        };
        if let Err(e) = res {
            problems.push(format!("{}: {e}", s.uri));
        } else {
            tracing::info!(room = %s.uri, "reload: room in force");
        }
    }
    for r in old {
        if !wanted.iter().any(|u| u == &r.uri) {
            match focus.delete_room(&r.uri) {
                Ok(()) => tracing::info!(room = %r.uri, "reload: room deleted"),
                Err(e) => problems.push(format!("{}: {e}", r.uri)),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_are_dotted_and_classified() {
        let a = Config::parse("[[relay.users]]\nname = \"a\"\npassword = \"1\"\n").unwrap();
        let b = Config::parse(
            "[[relay.users]]\nname = \"a\"\npassword = \"2\"\n[dataplane]\nworkers = 2\n[log]\nlevel = \"debug\"\n",
        )
        .unwrap();
        let k = changed_keys(&a, &b);
        assert_eq!(k, vec!["dataplane.workers", "log.level", "relay.users"]);
        assert!(live("relay.users"));
        assert!(live("log.level"));
        assert!(!live("dataplane.workers"));
        assert!(!live("log.format"));
        assert!(changed_keys(&a, &a).is_empty());
    }
}
