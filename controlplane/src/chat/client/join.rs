//! Joining: the INVITE with our offer (digest when challenged), the ACK, the answer, the MSRP
//! connection, the roster subscription and the first NICKNAME.

use super::*;

impl<W: AsyncWrite + Unpin + Send> Chat<W> {
    // -----------------------------------------------------------------------------------
    // Joining

    pub(super) async fn join(&mut self, queued: &mut VecDeque<Happening>) -> Result<(), ChatError> {
        let ip = self.link.local.ip();
        let listener = TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(|e| ChatError::MsrpSetup(format!("cannot listen on {ip}: {e}")))?;
        let msrp_port = listener.local_addr()?.port();
        let mut offerer = ChatOfferer::new(
            OfferConfig {
                local: LocalMsrp {
                    host: Host::Ip(ip),
                    tcp_port: Some(msrp_port),
                    tls_port: None,
                    session_id: random_hex(10),
                    fingerprint: None,
                },
                proto: MsrpProto::Tcp,
                setup: SetupRole::ActPass,
                cema: false,
                accept_types: format_list("message/cpim")?,
                accept_wrapped_types: Some(format_list("text/plain *")?),
                chatroom: Some(ChatroomCaps {
                    nicknames: true,
                    private_messages: self.opts.private_messages == OnOff::On,
                    extensions: Vec::new(),
                }),
                max_size: None,
                relays: Vec::new(),
            },
            u64::from(rand::random::<u32>()),
        );
        let sdp = offerer.offer().to_bytes();
        let call_id = self.ua.new_call_id();
        let tag = self.ua.new_tag();
        let invite = self
            .ua
            .request(&NewRequest {
                method: "INVITE",
                target: &self.room.uri,
                call_id: &call_id,
                from_tag: &tag,
                cseq: 1,
                headers: &[
                    ("Accept", "application/sdp".into()),
                    ("Supported", "timer".into()),
                ],
                body: Some(("application/sdp", &sdp)),
            })
            .map_err(ChatError::Usage)?;
        self.start(Purpose::Invite, invite, 0).await?;
        let deadline = Instant::now() + self.wait;
        let (request, response) = loop {
            match self.step(Some(deadline)).await {
                Ok(Happening::Final {
                    purpose: Purpose::Invite,
                    request,
                    response,
                }) => break (request, response),
                Ok(Happening::TimedOut(Purpose::Invite)) | Ok(Happening::Deadline) => {
                    return Err(ChatError::NoAnswer {
                        method: "INVITE",
                        addr: self.link.remote.to_string(),
                    })
                }
                Ok(Happening::Idle) => {}
                Ok(h) => queued.push_back(h),
                Err(ChatError::SipLost(reason)) => {
                    return Err(ChatError::Unreachable {
                        addr: self.link.remote.to_string(),
                        transport: self.opts.transport.via_token(),
                        reason,
                    })
                }
                Err(e) => return Err(e),
            }
        };
        let code = response.status().unwrap_or(0);
        if code == 401 || code == 407 {
            return Err(ChatError::Auth(
                match self.ua.authorize(&request, &response) {
                    Err(why) => why,
                    Ok(_) => format!(
                        "authentication failed ({code} {}): check --user and --password",
                        response.reason()
                    ),
                },
            ));
        }
        if code >= 300 {
            return Err(ChatError::Rejected {
                code,
                reason: response.reason().to_string(),
                hint: rejection_hint(code),
            });
        }
        let mut dialog = Dialog::uac(&request, &response)
            .map_err(|e| ChatError::BadAnswer(format!("2xx without a usable dialog: {e}")))?;
        let ack = self
            .ua
            .in_dialog(&mut dialog, "ACK", &[])
            .map_err(ChatError::Usage)?;
        let ack = ack.as_bytes().clone();
        self.sip_send(&ack).await?;
        self.invite_ack = Some(ack);
        self.invite = Some(dialog);
        let session = match self.read_answer(&offerer, &response) {
            Ok(s) => s,
            Err(e) => {
                self.send_bye().await;
                return Err(e);
            }
        };
        self.room_caps = session.room_chatroom.clone();
        let link = match MsrpLink::establish(&session, listener, self.wait, self.events_tx.clone())
            .await
        {
            Ok(l) => l,
            Err(e) => {
                self.send_bye().await;
                return Err(e);
            }
        };
        self.msrp = Some(link);
        self.joined = true;
        let mut lines = vec![format!("* joined {} as {}", self.room.uri, self.ua.aor)];
        match &self.room_caps {
            None => lines.push(
                "! the room did not declare a=chatroom: nicknames and private messages are off"
                    .into(),
            ),
            Some(c) if !c.nicknames && self.opts.nick.is_some() => lines.push(format!(
                "! the room does not support nicknames; others see you as {}",
                self.ua.aor
            )),
            _ => {}
        }
        self.out.set_prompt(match &self.opts.nick {
            Some(n) => format!("[{n}]> "),
            None => "> ".into(),
        });
        self.out.lines(&lines).await?;
        self.subscribe().await?;
        if let Some(n) = self.opts.nick.clone() {
            if self.room_caps.as_ref().is_some_and(|c| c.nicknames) {
                self.request_nickname(&n).await?;
            }
        }
        // Let the roster and the nickname answer arrive before queued input runs: a script
        // that types `/msg bob ...` at once needs bob's URI from the roster.
        let deadline = Instant::now() + SETTLE_WAIT;
        while (self.sub.is_some() && !self.people.known()) || !self.nick_requests.is_empty() {
            match self.step(Some(deadline)).await? {
                Happening::Deadline => break,
                Happening::Idle => {}
                Happening::Final {
                    purpose,
                    request,
                    response,
                } => self.background_final(purpose, &request, &response).await?,
                Happening::TimedOut(p) => self.background_timeout(p).await?,
                h => queued.push_back(h),
            }
        }
        Ok(())
    }

    pub(super) fn read_answer(
        &self,
        offerer: &ChatOfferer,
        response: &Message,
    ) -> Result<EstablishedSession, ChatError> {
        let body = response.body();
        if body.is_empty() {
            return Err(ChatError::BadAnswer("the 2xx carries no SDP".into()));
        }
        let answer = crate::sdp::parse(&body).map_err(|e| ChatError::BadAnswer(e.to_string()))?;
        match offerer.process_answer(&answer, &NoResolver) {
            Ok(OfferResult::Established(s)) => Ok(*s),
            Ok(OfferResult::Rejected) => Err(ChatError::BadAnswer(
                "the room refused the message stream (port 0)".into(),
            )),
            Ok(OfferResult::Reoffer(r)) => Err(ChatError::BadAnswer(format!(
                "the room wants a new offer ({r:?})"
            ))),
            Err(e) => Err(ChatError::BadAnswer(e.to_string())),
        }
    }

    pub(super) async fn subscribe(&mut self) -> Result<(), ChatError> {
        let call_id = self.ua.new_call_id();
        let tag = self.ua.new_tag();
        let req = self
            .ua
            .request(&NewRequest {
                method: "SUBSCRIBE",
                target: &self.room.uri,
                call_id: &call_id,
                from_tag: &tag,
                cseq: 1,
                headers: &[
                    ("Event", "conference".into()),
                    ("Expires", SUBSCRIBE_EXPIRES.to_string()),
                    ("Accept", "application/conference-info+xml".into()),
                ],
                body: None,
            })
            .map_err(ChatError::Usage)?;
        self.sub = Some(SubState {
            call_id,
            from_tag: tag,
            dialog: None,
            refresh_at: None,
        });
        self.start(Purpose::Subscribe, req, 0).await
    }

    pub(super) async fn request_nickname(&mut self, nick: &str) -> Result<(), ChatError> {
        let Some(m) = self.msrp.as_mut() else {
            return Ok(());
        };
        match m.conn.send_nickname(m.session, nick) {
            Ok(tid) => {
                if self.nick_requests.len() < MAX_TRACKED {
                    self.nick_requests.insert(tid, nick.to_string());
                }
                m.flush(Instant::now()).await
            }
            Err(e) => {
                self.out
                    .line(format!("! cannot ask for nickname \"{nick}\": {e}"))
                    .await?;
                Ok(())
            }
        }
    }
}

pub(super) fn format_list(s: &str) -> Result<FormatList, ChatError> {
    FormatList::parse(s, "accept-types").map_err(|e| ChatError::Usage(e.to_string()))
}
