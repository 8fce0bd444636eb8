//! The SIP side of the event pump: client transactions and their results (digest retries,
//! subscription refreshes), and the requests the room sends us (NOTIFY, BYE, OPTIONS).

use super::*;

impl<W: AsyncWrite + Unpin + Send> Chat<W> {
    // -----------------------------------------------------------------------------------
    // Background SIP results

    pub(super) async fn background_final(
        &mut self,
        purpose: Purpose,
        request: &Message,
        response: &Message,
    ) -> Result<(), ChatError> {
        let code = response.status().unwrap_or(0);
        match purpose {
            Purpose::Subscribe | Purpose::Refresh if (200..300).contains(&code) => {
                let expires = response
                    .expires()
                    .unwrap_or(SUBSCRIBE_EXPIRES)
                    .clamp(10, 86_400);
                let refresh_at = Instant::now() + Duration::from_secs(u64::from(expires) * 4 / 5);
                if let Some(s) = self.sub.as_mut() {
                    if s.dialog.is_none() {
                        s.dialog = Dialog::uac(request, response).ok();
                    }
                    s.refresh_at = Some(refresh_at);
                }
            }
            Purpose::Subscribe | Purpose::Refresh => {
                self.sub = None;
                self.out
                    .line(format!(
                        "! the room's roster is not available ({code} {}); /who and /msg will not know names",
                        response.reason()
                    ))
                    .await?;
            }
            Purpose::Invite | Purpose::Bye | Purpose::Unsubscribe => {}
        }
        Ok(())
    }

    pub(super) async fn background_timeout(&mut self, purpose: Purpose) -> Result<(), ChatError> {
        if matches!(purpose, Purpose::Subscribe | Purpose::Refresh) {
            self.sub = None;
            self.out
                .line("! no answer to the roster subscription (408)")
                .await?;
        }
        Ok(())
    }

    pub(super) async fn refresh_subscription(&mut self) -> Result<(), ChatError> {
        let Some(s) = self.sub.as_mut() else {
            return Ok(());
        };
        s.refresh_at = None;
        let Some(d) = s.dialog.as_mut() else {
            return Ok(());
        };
        let req = self
            .ua
            .in_dialog(
                d,
                "SUBSCRIBE",
                &[
                    ("Event", "conference".into()),
                    ("Expires", SUBSCRIBE_EXPIRES.to_string()),
                    ("Accept", "application/conference-info+xml".into()),
                ],
            )
            .map_err(ChatError::Usage)?;
        self.start(Purpose::Refresh, req, 0).await
    }

    // -----------------------------------------------------------------------------------
    // The event pump

    pub(super) async fn start(
        &mut self,
        purpose: Purpose,
        req: Message,
        auth_tries: u8,
    ) -> Result<(), ChatError> {
        let key = self
            .ua
            .start(req.clone(), Instant::now())
            .map_err(ChatError::Usage)?;
        self.pending.insert(
            key,
            Pending {
                purpose,
                request: req,
                auth_tries,
            },
        );
        self.pump_sip().await
    }

    pub(super) async fn sip_send(&mut self, data: &[u8]) -> Result<(), ChatError> {
        self.link
            .send(data)
            .await
            .map_err(|e| ChatError::SipLost(e.to_string()))
    }

    /// Moves the transaction layer's output to the wire and its results to `ready`.
    pub(super) async fn pump_sip(&mut self) -> Result<(), ChatError> {
        while let Some(o) = self.ua.tx.poll_output() {
            match o {
                Output::Send { data, .. } => self.sip_send(&data).await?,
                Output::Response { key, msg } => {
                    if msg.status().is_some_and(|c| c < 200) {
                        continue;
                    }
                    let Some(p) = self.pending.remove(&key) else {
                        continue;
                    };
                    let code = msg.status().unwrap_or(0);
                    if (code == 401 || code == 407) && p.auth_tries < 2 {
                        if let Ok(again) = self.ua.authorize(&p.request, &msg) {
                            if let Some(d) = self.dialog_of(&again) {
                                d.local_seq = again.cseq().map_or(d.local_seq, |c| c.seq);
                            }
                            let key = self
                                .ua
                                .start(again.clone(), Instant::now())
                                .map_err(ChatError::Usage)?;
                            self.pending.insert(
                                key,
                                Pending {
                                    purpose: p.purpose,
                                    request: again,
                                    auth_tries: p.auth_tries + 1,
                                },
                            );
                            continue;
                        }
                    }
                    self.ready.push_back(Happening::Final {
                        purpose: p.purpose,
                        request: p.request,
                        response: msg,
                    });
                }
                Output::ClientTimeout { key } => {
                    if let Some(p) = self.pending.remove(&key) {
                        self.ready.push_back(Happening::TimedOut(p.purpose));
                    }
                }
                Output::ServerAckTimeout { .. } => {}
            }
        }
        Ok(())
    }

    pub(super) fn dialog_of(&mut self, req: &Message) -> Option<&mut Dialog> {
        let cid = req.call_id()?;
        if self.invite.as_ref().is_some_and(|d| d.id.call_id == cid) {
            return self.invite.as_mut();
        }
        self.sub
            .as_mut()
            .and_then(|s| s.dialog.as_mut())
            .filter(|d| d.id.call_id == cid)
    }

    pub(super) fn next_deadline(&mut self, limit: Option<Instant>) -> Option<Instant> {
        [
            self.ua.tx.poll_timeout(),
            self.msrp.as_mut().and_then(|m| m.conn.poll_timeout()),
            self.sub.as_ref().and_then(|s| s.refresh_at),
            limit,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Waits for one event and handles it (NOTIFYs, received messages, timers);
    /// returns what the caller must act on, or [`Happening::Idle`] when the event was
    /// handled here (callers waiting for a state change look again).
    pub(super) async fn step(&mut self, limit: Option<Instant>) -> Result<Happening, ChatError> {
        if let Some(h) = self.ready.pop_front() {
            return Ok(h);
        }
        let deadline = self.next_deadline(limit);
        let got = match deadline {
            Some(d) => {
                tokio::select! {
                    n = self.events.recv() => n,
                    _ = tokio::time::sleep_until(d.into()) => None,
                }
            }
            None => self.events.recv().await,
        };
        let now = Instant::now();
        match got {
            None => {
                self.ua.tx.handle_timeout(now);
                self.pump_sip().await?;
                if let Some(m) = self.msrp.as_mut() {
                    m.conn.handle_timeout(now);
                }
                self.msrp_events().await?;
                if self
                    .sub
                    .as_ref()
                    .and_then(|s| s.refresh_at)
                    .is_some_and(|t| t <= now)
                    && !self.leaving
                {
                    self.refresh_subscription().await?;
                }
                if limit.is_some_and(|l| l <= now) && self.ready.is_empty() {
                    return Ok(Happening::Deadline);
                }
            }
            Some(Net::Input(line)) => return Ok(Happening::Input(line)),
            Some(Net::InputEnd) => return Ok(Happening::InputEnd),
            Some(Net::SipPing) => self.sip_send(b"\r\n").await?,
            Some(Net::SipClosed(reason)) => return Err(ChatError::SipLost(reason)),
            Some(Net::Sip(msg)) => self.on_sip(msg, now).await?,
            Some(Net::Msrp(data)) => {
                if let Some(m) = self.msrp.as_mut() {
                    m.input(now, &data)?;
                }
                self.msrp_events().await?;
            }
            Some(Net::MsrpClosed(reason)) => {
                if self.msrp.is_some() && !self.leaving {
                    return Err(ChatError::MsrpLost(reason));
                }
            }
        }
        Ok(self.ready.pop_front().unwrap_or(Happening::Idle))
    }

    pub(super) async fn on_sip(&mut self, msg: Message, now: Instant) -> Result<(), ChatError> {
        if !msg.is_request() {
            let is_2xx_invite = msg.status().is_some_and(|c| (200..300).contains(&c))
                && msg.cseq().is_ok_and(|c| c.method == "INVITE");
            if !self.ua.tx.on_response(msg, now) && is_2xx_invite {
                // A retransmitted 2xx (UDP): our ACK was lost.
                if let Some(ack) = self.invite_ack.clone() {
                    self.sip_send(&ack).await?;
                }
            }
            return self.pump_sip().await;
        }
        let method = msg.method();
        let call_id = msg.call_id().unwrap_or("").to_string();
        match method {
            Some(Method::Ack) | Some(Method::Cancel) => Ok(()),
            Some(Method::Notify) => self.on_notify(&msg, &call_id).await,
            Some(Method::Bye) => {
                let ours = self
                    .invite
                    .as_ref()
                    .is_some_and(|d| d.id.call_id == call_id);
                let code = if ours { 200 } else { 481 };
                let resp = self.ua.response(&msg, code, false);
                self.sip_send(&resp).await?;
                if ours {
                    self.invite = None;
                    return Err(ChatError::Ended("the room sent BYE".into()));
                }
                Ok(())
            }
            Some(Method::Options) => {
                let resp = self.ua.response(&msg, 200, true);
                self.sip_send(&resp).await
            }
            Some(Method::Invite) => {
                // Re-INVITEs (session changes) are not supported by this simple client.
                let resp = self.ua.response(&msg, 488, false);
                self.sip_send(&resp).await
            }
            _ => {
                let resp = self.ua.response(&msg, 405, false);
                self.sip_send(&resp).await
            }
        }
    }

    pub(super) async fn on_notify(
        &mut self,
        msg: &Message,
        call_id: &str,
    ) -> Result<(), ChatError> {
        let Some(sub) = self.sub.as_mut().filter(|s| s.call_id == call_id) else {
            let resp = self.ua.response(msg, 481, false);
            return self.sip_send(&resp).await;
        };
        if sub.dialog.is_none() {
            // The NOTIFY overtook the 2xx to SUBSCRIBE (RFC 6665 §4.1.2.4): it makes the dialog.
            sub.dialog = notify_dialog(msg, &sub.from_tag, &self.room.uri);
        }
        if let Some(d) = sub.dialog.as_mut() {
            let _ = d.accept_remote_cseq(msg);
        }
        let state = msg.value(HeaderName::SubscriptionState).unwrap_or("");
        let terminated = state
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("terminated");
        if let Some(exp) = state
            .split(';')
            .find_map(|p| p.trim().strip_prefix("expires="))
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            if sub.refresh_at.is_some() {
                sub.refresh_at = Some(Instant::now() + Duration::from_secs(exp.max(10) * 4 / 5));
            }
        }
        if terminated {
            self.sub = None;
        }
        let resp = self.ua.response(msg, 200, true);
        self.sip_send(&resp).await?;
        let body = msg.body();
        let mut lines = Vec::new();
        if !body.is_empty() {
            match self.people.apply_notify(&body) {
                Ok(RosterUpdate::Lines(l)) => lines = l,
                Ok(RosterUpdate::NeedRefresh) => {
                    if !terminated {
                        self.refresh_subscription().await?;
                    }
                }
                Ok(RosterUpdate::Deleted) => lines.push("! the room was deleted".into()),
                Err(e) => lines.push(format!("! unreadable roster from the room: {e}")),
            }
        }
        if terminated && !self.leaving {
            lines.push("! the room ended the roster subscription".into());
        }
        self.out.lines(&lines).await?;
        Ok(())
    }
}

/// The subscription dialog as a NOTIFY that arrives before the 2xx establishes it.
pub(super) fn notify_dialog(notify: &Message, our_tag: &str, room_uri: &str) -> Option<Dialog> {
    let from = notify.from_hdr().ok()?;
    let to = notify.to_hdr().ok()?;
    if to.tag() != Some(our_tag) {
        return None;
    }
    let contact = notify.list(HeaderName::Contact).next()?;
    let target = NameAddr::parse(contact).ok()?.uri.raw.to_string();
    Some(Dialog {
        id: DialogId {
            call_id: notify.call_id()?.to_string(),
            local_tag: our_tag.to_string(),
            remote_tag: from.tag()?.to_string(),
        },
        kind: DialogKind::Subscribe,
        local_uri: to.addr_raw.to_string(),
        remote_uri: format!("<{room_uri}>"),
        remote_target: target,
        route_set: notify
            .list(HeaderName::RecordRoute)
            .map(str::to_string)
            .collect(),
        local_seq: 1,
        remote_seq: None,
        event: Some("conference".into()),
    })
}
