//! The MSRP side: received chat messages (regular or private, named from the roster),
//! nickname answers and delivery failures.

use super::*;

impl<W: AsyncWrite + Unpin + Send> Chat<W> {
    pub(super) async fn msrp_events(&mut self) -> Result<(), ChatError> {
        let Some(m) = self.msrp.as_mut() else {
            return Ok(());
        };
        let events: Vec<MsrpEvent> = std::iter::from_fn(|| m.conn.poll_event()).collect();
        let mut lines: Vec<String> = Vec::new();
        let mut lost = None;
        for ev in events {
            match ev {
                MsrpEvent::Message(msg) => {
                    let inc = cpim::read(&msg.content_type, &msg.body);
                    lines.extend(self.show_incoming(&inc));
                }
                MsrpEvent::NicknameResult {
                    transaction_id,
                    code,
                    ..
                } => {
                    let nick = self
                        .nick_requests
                        .remove(&transaction_id)
                        .unwrap_or_default();
                    if code == 200 {
                        self.out.set_prompt(format!("[{nick}]> "));
                    }
                    lines.push(display::nickname_result(&nick, code));
                }
                MsrpEvent::MessageAccepted { message_id, .. } => {
                    self.sent.remove(&message_id);
                }
                MsrpEvent::SendFailed(f) => {
                    let Some(id) = f.message_id else { continue };
                    if let Some(s) = self.sent.remove(&id) {
                        lines.push(display::send_failure(s.private_to.as_deref(), f.code));
                    }
                }
                MsrpEvent::SessionRefused { code, .. } => {
                    lost = Some(format!("the room refused our MSRP session ({code})"));
                }
                _ => {}
            }
        }
        if let Some(m) = self.msrp.as_mut() {
            m.flush(Instant::now()).await?;
        }
        self.out.lines(&lines).await?;
        match lost {
            Some(why) => Err(ChatError::MsrpLost(why)),
            None => Ok(()),
        }
    }

    pub(super) fn show_incoming(&self, inc: &cpim::Incoming) -> Vec<String> {
        let name = if inc.from.is_empty() {
            "?".to_string()
        } else {
            self.people.name_of(&inc.from, inc.from_name.as_deref())
        };
        let room_keys = [
            Some(cpim_uri_key(self.room.uri.as_bytes())),
            self.people
                .room_entity()
                .map(|e| cpim_uri_key(e.as_bytes())),
        ];
        let private = !inc.to.is_empty()
            && !inc.to.iter().any(|t| {
                let k = cpim_uri_key(t.as_bytes());
                room_keys.iter().flatten().any(|r| *r == k)
            });
        let prefix = if private { "[private] " } else { "" };
        cpim::sanitize(&inc.text)
            .split('\n')
            .map(|l| format!("{prefix}<{}> {l}", cpim::sanitize(&name)))
            .collect()
    }
}
