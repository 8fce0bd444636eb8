//! What the dataplane reports: a session bound to its connection (endpoint `connected`), a
//! session closed by the dataplane (connection lost, connect failed: the member leaves and we
//! send its BYE), and NICKNAME requests decided with the registry (RFC 7701 §7) and answered
//! to the worker that asked.

use std::time::Instant;

use dataplane::switch::{CloseReason, SwitchControl, SwitchEvent};

use super::Inner;

pub(crate) fn handle(inner: &Inner, e: SwitchEvent) {
    let mut st = inner.lock();
    let st = &mut *st;
    match e {
        SwitchEvent::SessionBound {
            session_id,
            room,
            worker,
        } => {
            let Some(r) = st.rooms.get_mut(&room) else {
                return;
            };
            let Some(m) = r.members.get_mut(&session_id) else {
                return;
            };
            m.bound = true;
            m.worker = Some(worker);
            let aor = m.aor.clone();
            let changes = r.sync_roster(&aor, &st.nicknames);
            inner.notify(r, &changes);
        }
        SwitchEvent::SessionClosed {
            session_id,
            room,
            reason,
            ..
        } => match reason {
            CloseReason::Removed | CloseReason::RoomDeleted => {}
            CloseReason::ConnectionLost
            | CloseReason::ConnectFailed
            | CloseReason::BindRefused(_) => {
                tracing::info!(sid = %session_id, ?reason, "dataplane closed the session");
                inner.remove_member(st, room, &session_id, true);
            }
        },
        SwitchEvent::Nickname(req) => {
            let verdict = |code| SwitchControl::NicknameVerdict {
                session_id: req.session_id.clone(),
                transaction_id: req.transaction_id,
                code,
            };
            let Some(r) = st.rooms.get_mut(&req.room) else {
                return inner.push_to(req.worker, verdict(403));
            };
            let Some(m) = r.members.get(&req.session_id) else {
                return inner.push_to(req.worker, verdict(403));
            };
            let (holder, aor) = (m.holder, m.aor.clone());
            let policy = r.settings.nickname_policy();
            let scope = r.settings.nickname_scope();
            let res = st.nicknames.handle_use_nickname(
                &policy,
                &scope,
                holder,
                &aor,
                &req.raw,
                Instant::now(),
            );
            let code = match &res {
                Ok(_) => 200,
                Err(e) => e.status_code(),
            };
            tracing::debug!(sid = %req.session_id, code, "NICKNAME");
            inner.push_to(req.worker, verdict(code));
            if res.is_ok() {
                let changes = r.sync_roster(&aor, &st.nicknames);
                inner.notify(r, &changes);
            }
        }
    }
}
