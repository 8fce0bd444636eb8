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
/// How long joining waits for the first roster and the nickname answer.
const SETTLE_WAIT: Duration = Duration::from_secs(3);
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
    /// An event was handled inside the pump; state may have changed.
    Idle,
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
}

mod join;
mod msrp_events;
mod sip_events;
mod talk;
