//! The conference event package (RFC 4575 over RFC 6665): SUBSCRIBE to a room URI creates a
//! dialog, a full NOTIFY follows at once and partial NOTIFYs on every roster change; refreshes
//! get a full NOTIFY; `Expires: 0` ends the subscription with a terminated NOTIFY.

use std::time::{Duration, Instant};

use crate::conference::Subscription;
use crate::sip::app::{IncomingRequest, SipHandle};
use crate::sip::dialog::Dialog;
use crate::sip::wire::{response_to, uri::unescape, HeaderName, Uri};

use super::auth::AuthOutcome;
use super::invite::{contact, reply};

use super::state::{DialogRef, Sub};
use super::Inner;

/// Subscription lifetime when SUBSCRIBE has no Expires (RFC 4575 §4.1 suggests one hour).
const DEFAULT_EXPIRES: u32 = 3600;

/// Most conference subscriptions one room keeps (each costs a dialog and a NOTIFY per change).
pub(crate) const MAX_SUBSCRIPTIONS: usize = 10_000;

pub(crate) fn on_subscribe(inner: &Inner, req: &IncomingRequest, handle: &SipHandle) {
    let msg = &req.msg;
    let event = msg.value(HeaderName::Event).map(|e| {
        e.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    if event.as_deref() != Some("conference") {
        return reply(
            req,
            handle,
            489,
            None,
            &[("Allow-Events", "conference".into())],
        );
    }
    let expires = msg
        .expires()
        .unwrap_or(DEFAULT_EXPIRES)
        .min(inner.cfg.max_subscription_secs);
    let mut st = inner.lock();
    let st = &mut *st;
    let in_dialog = msg.to_hdr().ok().and_then(|t| t.tag()).is_some();
    if in_dialog {
        let id = Dialog::id_of_request(msg);
        let found = id.as_ref().and_then(|id| st.dialogs.get(id).cloned());
        let (Some(id), Some(DialogRef::Sub(room_id))) = (id, found) else {
            return reply(req, handle, 481, None, &[]);
        };
        let Some(room) = st.rooms.get_mut(&room_id) else {
            return;
        };
        let Some(s) = room.subs.get_mut(&id) else {
            return reply(req, handle, 481, None, &[]);
        };
        if s.dialog.accept_remote_cseq(msg).is_err() {
            return reply(req, handle, 500, None, &[]);
        }
        s.expires = Instant::now() + Duration::from_secs(expires.into());
        let mut b = response_to(msg, 200, None, None, Some(req.source.remote));
        b.header("Expires", &expires.to_string());
        b.header("Contact", &s.contact);
        handle.respond(req, 200, b.finish(None, b""));
        let body = s.sub.full(&room.roster);
        inner.send_notify(room_id, s, body, (expires == 0).then_some(""));
        if expires == 0 {
            room.subs.remove(&id);
            st.dialogs.remove(&id);
        }
        return;
    }
    let ruri_text = msg.request_uri().to_string();
    let Some(room_id) = Uri::parse(&ruri_text)
        .ok()
        .and_then(|u| u.user.and_then(|u| st.room_by_user(u)))
    else {
        return reply(req, handle, 404, Some("No Such Room"), &[]);
    };
    let Some(room) = st.rooms.get_mut(&room_id) else {
        return;
    };
    if matches!(room.settings.join, super::room::JoinPolicy::AllowList(_)) {
        // The roster of a closed room is for its members only.
        let Ok(from) = msg.from_hdr() else {
            return reply(req, handle, 400, None, &[]);
        };
        match inner.auth.check(msg) {
            AuthOutcome::Challenge(c) => {
                return reply(req, handle, 401, None, &[("WWW-Authenticate", c)]);
            }
            AuthOutcome::User(u) => {
                let from_user = unescape(from.uri.user.unwrap_or("")).into_owned();
                if u != from_user || !room.settings.allows(&from.uri.aor()) {
                    return reply(req, handle, 403, Some("Not On The Allow List"), &[]);
                }
            }
        }
    }
    if expires > 0 && room.subs.len() >= MAX_SUBSCRIPTIONS {
        return reply(
            req,
            handle,
            503,
            Some("Too Many Subscriptions"),
            &[("Retry-After", "60".into())],
        );
    }
    let tag = handle.new_tag();
    let Ok(dialog) = Dialog::uas(msg, &tag) else {
        return reply(req, handle, 400, Some("Bad Dialog Headers"), &[]);
    };
    let our_contact = contact(&room.user, &req.source);
    let mut b = response_to(msg, 200, None, Some(&tag), Some(req.source.remote));
    super::invite::copy_record_route(msg, &mut b);
    b.header("Expires", &expires.to_string());
    b.header("Contact", &our_contact);
    handle.respond(req, 200, b.finish(None, b""));
    let mut s = Sub {
        dialog,
        flow: req.source,
        sub: Subscription::new(),
        expires: Instant::now() + Duration::from_secs(expires.into()),
        contact: our_contact,
    };
    let body = s.sub.full(&room.roster);
    inner.send_notify(room_id, &mut s, body, (expires == 0).then_some(""));
    if expires > 0 {
        st.dialogs
            .insert(s.dialog.id.clone(), DialogRef::Sub(room_id));
        room.subs.insert(s.dialog.id.clone(), s);
    }
}
