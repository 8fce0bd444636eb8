//! The chat session: join (INVITE + SDP offer, digest, ACK, MSRP connection, SUBSCRIBE,
//! NICKNAME), then one loop over typed lines, SIP messages, MSRP events and timers, and the
//! way out (BYE, unsubscribe, close).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use dataplane::session::{Event as MsrpEvent, OutgoingMessage};
use dataplane::switch::cpim_uri_key;
use dataplane::wire::Ident;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::command::{self, Command, HELP};
use super::cpim;
use super::display::{self, Out};
use super::error::{rejection_hint, ChatError};
use super::msrp_link::MsrpLink;
use super::options::{split_host_port, user_part_from_nick, ChatOptions, OnOff, RoomAddress};
use super::people::{People, RosterUpdate};
use super::sip_ua::{random_hex, NewRequest, SipUa};
use super::transport::{start_input_reader, Net, SipLink, QUEUE};
use crate::sdp::address::NoResolver;
use crate::sdp::offer_answer::{
    ChatOfferer, EstablishedSession, LocalMsrp, OfferConfig, OfferResult,
};
use crate::sdp::{ChatroomCaps, FormatList, Host, MsrpProto, SetupRole};
use crate::sip::dialog::{Dialog, DialogId, DialogKind};
use crate::sip::transaction::{Output, TxKey};
use crate::sip::wire::{HeaderName, Message, Method, NameAddr};

/// How long a subscription to the roster asks to last (seconds).
const SUBSCRIBE_EXPIRES: u32 = 600;
/// How long leaving waits for the room's answers.
const LEAVE_WAIT: Duration = Duration::from_secs(3);
/// At most this many sent messages are remembered for failure reports.
const MAX_TRACKED: usize = 4096;

/// Runs one chat session: joins the room, relays between the user and the room until
/// `/quit` or end of input, then leaves. `input` gives typed lines, `output` gets what the
/// user should see. Errors are one-line explanations; the caller prints them and exits
/// non-zero.
pub async fn run<R, W>(opts: ChatOptions, input: R, output: W) -> Result<(), ChatError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send,
{
    let room = RoomAddress::parse(&opts.room).map_err(ChatError::Usage)?;
    let (host, port) = match &opts.proxy {
        Some(p) => split_host_port(p).map_err(ChatError::Usage)?,
        None => (room.host.clone(), room.port),
    };
    let remote = resolve(&host, port).await?;
    let (events_tx, events) = mpsc::channel(QUEUE);
    let wait = Duration::from_secs(opts.timeout.max(1));
    let unreachable = |reason: String| ChatError::Unreachable {
        addr: remote.to_string(),
        transport: opts.transport.via_token(),
        reason,
    };
    let link = match tokio::time::timeout(
        wait,
        SipLink::connect(opts.transport, remote, events_tx.clone()),
    )
    .await
    {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Err(_) => return Err(unreachable("timeout".into())),
    };
    start_input_reader(input, events_tx.clone());
    let aor = match &opts.user {
        Some(u) if u.contains(':') => u.clone(),
        Some(u) => format!("sip:{u}"),
        None => {
            let user = match opts.nick.as_deref() {
                Some(n) => user_part_from_nick(Some(n)),
                None => format!("guest-{}", random_hex(3)),
            };
            format!("sip:{user}@{}", room.host)
        }
    };
    let credentials = opts.password.clone().map(|p| {
        let user = crate::sip::wire::Uri::parse(&aor)
            .ok()
            .and_then(|u| u.user)
            .unwrap_or("anonymous")
            .to_string();
        (user, p)
    });
    let ua = SipUa::new(
        opts.transport,
        link.local,
        &aor,
        opts.nick.as_deref(),
        credentials,
    );
    let mut chat = Chat {
        out: Out::new(output, opts.line_mode),
        people: People::new(&aor),
        opts,
        room,
        link,
        ua,
        events,
        events_tx,
        wait,
        pending: HashMap::new(),
        ready: VecDeque::new(),
        invite: None,
        invite_ack: None,
        sub: None,
        msrp: None,
        room_caps: None,
        nick_requests: HashMap::new(),
        sent: HashMap::new(),
        joined: false,
        leaving: false,
    };
    let result = chat.session().await;
    let _ = chat.out.flush().await;
    result
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, ChatError> {
    let name = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut addrs =
        tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| ChatError::Resolve {
                host: host.to_string(),
                reason: e.to_string(),
            })?;
    addrs.next().ok_or_else(|| ChatError::Resolve {
        host: host.to_string(),
        reason: "no address".into(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Invite,
    Subscribe,
    Refresh,
    Unsubscribe,
    Bye,
}

struct Pending {
    purpose: Purpose,
    request: Message,
    auth_tries: u8,
}

/// Something the session logic waits for.
enum Happening {
    Final {
        purpose: Purpose,
        request: Message,
        response: Message,
    },
    TimedOut(Purpose),
    Input(String),
    InputEnd,
    Deadline,
}

struct SubState {
    call_id: String,
    from_tag: String,
    dialog: Option<Dialog>,
    refresh_at: Option<Instant>,
}

struct Sent {
    private_to: Option<String>,
}

struct Chat<W> {
    opts: ChatOptions,
    room: RoomAddress,
    link: SipLink,
    ua: SipUa,
    events: mpsc::Receiver<Net>,
    #[allow(dead_code)] // keeps the channel open while readers come and go
    events_tx: mpsc::Sender<Net>,
    out: Out<W>,
    people: People,
    wait: Duration,
    pending: HashMap<TxKey, Pending>,
    ready: VecDeque<Happening>,
    invite: Option<Dialog>,
    invite_ack: Option<bytes::Bytes>,
    sub: Option<SubState>,
    msrp: Option<MsrpLink>,
    room_caps: Option<ChatroomCaps>,
    nick_requests: HashMap<Ident, String>,
    sent: HashMap<Ident, Sent>,
    joined: bool,
    leaving: bool,
}

impl<W: AsyncWrite + Unpin + Send> Chat<W> {
    async fn session(&mut self) -> Result<(), ChatError> {
        let mut queued = VecDeque::new();
        self.join(&mut queued).await?;
        let result = self.talk(queued).await;
        match result {
            Ok(()) => {
                self.leave().await;
                Ok(())
            }
            Err(e) => {
                // Best effort: tell the room we are gone if SIP still works.
                if !matches!(e, ChatError::SipLost(_) | ChatError::Ended(_)) {
                    let _ = tokio::time::timeout(Duration::from_millis(500), self.leave()).await;
                }
                Err(e)
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // Joining

    async fn join(&mut self, queued: &mut VecDeque<Happening>) -> Result<(), ChatError> {
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
        self.out.lines(&lines).await?;
        self.subscribe().await?;
        if let Some(n) = self.opts.nick.clone() {
            if self.room_caps.as_ref().is_some_and(|c| c.nicknames) {
                self.request_nickname(&n).await?;
            }
        }
        self.out
            .set_prompt(format!("[{}]> ", self.opts.nick.as_deref().unwrap_or("")));
        Ok(())
    }

    fn read_answer(
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

    async fn subscribe(&mut self) -> Result<(), ChatError> {
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

    async fn request_nickname(&mut self, nick: &str) -> Result<(), ChatError> {
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

    // -----------------------------------------------------------------------------------
    // Talking

    async fn talk(&mut self, mut queued: VecDeque<Happening>) -> Result<(), ChatError> {
        self.out.show_prompt().await?;
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
                Happening::Deadline => {}
            }
        }
    }

    /// Runs one command; `false` means quit.
    async fn command(&mut self, line: &str) -> Result<bool, ChatError> {
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

    async fn send_text(
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

    async fn leave(&mut self) {
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
            let _ = self.out.line(format!("* left {}", self.room.uri)).await;
        }
    }

    async fn send_bye(&mut self) -> bool {
        let Some(mut d) = self.invite.take() else {
            return false;
        };
        let Ok(bye) = self.ua.in_dialog(&mut d, "BYE", &[]) else {
            return false;
        };
        self.start(Purpose::Bye, bye, 0).await.is_ok()
    }

    async fn unsubscribe(&mut self) -> bool {
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

    // -----------------------------------------------------------------------------------
    // Background SIP results

    async fn background_final(
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
                if let Some(s) = self.sub.as_mut() {
                    s.dialog = None;
                    s.refresh_at = None;
                }
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

    async fn background_timeout(&mut self, purpose: Purpose) -> Result<(), ChatError> {
        if matches!(purpose, Purpose::Subscribe | Purpose::Refresh) {
            self.out
                .line("! no answer to the roster subscription (408)")
                .await?;
        }
        Ok(())
    }

    async fn refresh_subscription(&mut self) -> Result<(), ChatError> {
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

    async fn start(
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

    async fn sip_send(&mut self, data: &[u8]) -> Result<(), ChatError> {
        self.link
            .send(data)
            .await
            .map_err(|e| ChatError::SipLost(e.to_string()))
    }

    /// Moves the transaction layer's output to the wire and its results to `ready`.
    async fn pump_sip(&mut self) -> Result<(), ChatError> {
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

    fn dialog_of(&mut self, req: &Message) -> Option<&mut Dialog> {
        let cid = req.call_id()?;
        if self.invite.as_ref().is_some_and(|d| d.id.call_id == cid) {
            return self.invite.as_mut();
        }
        self.sub
            .as_mut()
            .and_then(|s| s.dialog.as_mut())
            .filter(|d| d.id.call_id == cid)
    }

    fn next_deadline(&mut self, limit: Option<Instant>) -> Option<Instant> {
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

    /// Waits for the next thing the caller must act on, handling everything else (NOTIFYs,
    /// received messages, timers) on the way.
    async fn step(&mut self, limit: Option<Instant>) -> Result<Happening, ChatError> {
        loop {
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
        }
    }

    async fn on_sip(&mut self, msg: Message, now: Instant) -> Result<(), ChatError> {
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

    async fn on_notify(&mut self, msg: &Message, call_id: &str) -> Result<(), ChatError> {
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

    async fn msrp_events(&mut self) -> Result<(), ChatError> {
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

    fn show_incoming(&self, inc: &cpim::Incoming) -> Vec<String> {
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

fn format_list(s: &str) -> Result<FormatList, ChatError> {
    FormatList::parse(s, "accept-types").map_err(|e| ChatError::Usage(e.to_string()))
}

/// The subscription dialog as a NOTIFY that arrives before the 2xx establishes it.
fn notify_dialog(notify: &Message, our_tag: &str, room_uri: &str) -> Option<Dialog> {
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
