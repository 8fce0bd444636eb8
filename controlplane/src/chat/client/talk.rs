//! Talking and leaving: typed lines become commands and CPIM messages; leaving sends BYE and
//! ends the roster subscription.

use super::*;

impl<W: AsyncWrite + Unpin + Send> Chat<W> {
    // -----------------------------------------------------------------------------------
    // Talking

    pub(super) async fn talk(&mut self, mut queued: VecDeque<Happening>) -> Result<(), ChatError> {
        loop {
            let h = match queued.pop_front() {
                Some(h) => h,
                None => self.step(None).await?,
            };
            match h {
                Happening::Input(line) => {
                    if !self.command(&line).await? {
                        return Ok(());
                    }
                }
                Happening::InputEnd => return Ok(()),
                Happening::Final {
                    purpose,
                    request,
                    response,
                } => self.background_final(purpose, &request, &response).await?,
                Happening::TimedOut(p) => self.background_timeout(p).await?,
                Happening::Deadline | Happening::Idle => {}
            }
        }
    }

    /// Runs one command; `false` means quit.
    pub(super) async fn command(&mut self, line: &str) -> Result<bool, ChatError> {
        match command::parse(line) {
            Command::Nothing => self.out.show_prompt().await?,
            Command::Quit => return Ok(false),
            Command::Help => self.out.lines(HELP).await?,
            Command::Who => {
                let lines = self.people.who();
                self.out.lines(&lines).await?
            }
            Command::Invalid(why) => self.out.line(format!("! {why}")).await?,
            Command::Nick(n) => {
                if self.room_caps.as_ref().is_some_and(|c| c.nicknames) {
                    self.request_nickname(&n).await?;
                } else {
                    self.out
                        .line("! the room does not support nicknames")
                        .await?;
                }
            }
            Command::Say(text) => {
                let to = self
                    .people
                    .room_entity()
                    .unwrap_or(&self.room.uri)
                    .to_string();
                self.send_text(&to, &text, None).await?;
            }
            Command::Private { to, text } => {
                if !self.room_caps.as_ref().is_some_and(|c| c.private_messages) {
                    self.out
                        .line("! the room does not allow private messages")
                        .await?;
                } else if let Some(uri) = self.people.resolve(&to) {
                    self.send_text(&uri, &text, Some(to)).await?;
                } else {
                    self.out
                        .line(format!("! nobody called {to} in the room (see /who)"))
                        .await?;
                }
            }
        }
        Ok(true)
    }

    pub(super) async fn send_text(
        &mut self,
        to: &str,
        text: &str,
        private_to: Option<String>,
    ) -> Result<(), ChatError> {
        let body = cpim::build(&self.ua.aor, to, text, SystemTime::now());
        let Some(m) = self.msrp.as_mut() else {
            return Ok(());
        };
        match m
            .conn
            .send_message(m.session, OutgoingMessage::new(cpim::CPIM, body))
        {
            Ok(id) => {
                if self.sent.len() >= MAX_TRACKED {
                    self.sent.clear();
                }
                self.sent.insert(id, Sent { private_to });
                m.flush(Instant::now()).await?;
                self.out.show_prompt().await?;
            }
            Err(e) => self.out.line(format!("! cannot send: {e}")).await?,
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // Leaving

    pub(super) async fn leave(&mut self) {
        // Messages typed just before leaving (scripts) get their 200 first.
        let deadline = Instant::now() + LEAVE_WAIT;
        while !self.sent.is_empty() && self.msrp.is_some() {
            match self.step(Some(deadline)).await {
                Ok(Happening::Deadline) | Err(_) => break,
                Ok(Happening::Final {
                    purpose,
                    request,
                    response,
                }) => {
                    let _ = self.background_final(purpose, &request, &response).await;
                }
                Ok(_) => {}
            }
        }
        self.leaving = true;
        let mut waiting = 0;
        if self.send_bye().await {
            waiting += 1;
        }
        if self.unsubscribe().await {
            waiting += 1;
        }
        let deadline = Instant::now() + LEAVE_WAIT;
        while waiting > 0 {
            match self.step(Some(deadline)).await {
                Ok(Happening::Final {
                    purpose: Purpose::Bye | Purpose::Unsubscribe,
                    ..
                })
                | Ok(Happening::TimedOut(Purpose::Bye | Purpose::Unsubscribe)) => waiting -= 1,
                Ok(Happening::Deadline) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Some(m) = self.msrp.as_mut() {
            m.close().await;
        }
        if self.joined {
            self.out.set_prompt(String::new());
            let _ = self.out.line(format!("* left {}", self.room.uri)).await;
        }
    }

    pub(super) async fn send_bye(&mut self) -> bool {
        let Some(mut d) = self.invite.take() else {
            return false;
        };
        let Ok(bye) = self.ua.in_dialog(&mut d, "BYE", &[]) else {
            return false;
        };
        self.start(Purpose::Bye, bye, 0).await.is_ok()
    }

    pub(super) async fn unsubscribe(&mut self) -> bool {
        let Some(mut d) = self.sub.as_mut().and_then(|s| s.dialog.take()) else {
            return false;
        };
        let Ok(req) = self.ua.in_dialog(
            &mut d,
            "SUBSCRIBE",
            &[("Event", "conference".into()), ("Expires", "0".into())],
        ) else {
            return false;
        };
        self.start(Purpose::Unsubscribe, req, 0).await.is_ok()
    }
}
