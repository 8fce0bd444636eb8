//! The hook for applications living behind the SIP server (the chat-room focus): requests
//! addressed to local targets that are not registered users (room URIs) are handed to a
//! [`SipApp`], which answers through a [`SipHandle`] and can send its own requests (NOTIFY,
//! BYE) over a chosen flow.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::core::Core;
use super::flow::FlowKey;
use super::transaction::TxKey;
use super::wire::{Message, Uri};

/// A request handed to the application.
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    /// The request as received.
    pub msg: Message,
    /// Its server transaction (`None` for ACK, which has none).
    pub tx: Option<TxKey>,
    /// The flow it arrived on: send in-dialog requests back over it (RFC 5626 §4.3, `ob`).
    pub source: FlowKey,
}

/// An application behind the server (the focus).
pub trait SipApp: Send + Sync + 'static {
    /// True if this Request-URI (in one of our domains) belongs to the application, e.g. a
    /// chat room. Called for every request not routed by Route or to a registered user.
    fn is_local_target(&self, uri: &Uri<'_>) -> bool;
    /// A request for a local target. With `tx: Some(_)` the application must eventually
    /// respond with [`SipHandle::respond`] (it may do so later, from another task). Requests
    /// with `tx: None` are information only: the ACK for its 2xx, or a CANCEL for one of its
    /// pending INVITEs, which the server has already answered (200 to the CANCEL, 487 to the
    /// INVITE).
    fn on_request(&self, req: IncomingRequest, handle: SipHandle);
}

/// What an application uses to talk SIP.
#[derive(Clone)]
pub struct SipHandle {
    pub(crate) core: Arc<Core>,
}

impl std::fmt::Debug for SipHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SipHandle")
    }
}

impl SipHandle {
    /// Sends a response on the request's server transaction (UAS semantics: a 2xx to INVITE
    /// is retransmitted until the ACK). Build it with [`super::wire::response_to`].
    pub fn respond(&self, req: &IncomingRequest, code: u16, response: Bytes) {
        self.core.app_respond(req, code, response);
    }

    /// Sends a request over `flow` with a new client transaction. `request` must carry no Via:
    /// ours is added. Resolves with the final response, or `None` on timeout/transport error.
    pub fn send_request(
        &self,
        request: Bytes,
        flow: FlowKey,
    ) -> oneshot::Receiver<Option<Message>> {
        self.core.app_send_request(request, flow)
    }

    /// A fresh tag for To/From.
    pub fn new_tag(&self) -> String {
        self.core.new_tag()
    }
}
