//! The application hook: requests for a local non-registrar target (a chat room) reach the
//! `SipApp`, which answers through the handle and sends an in-dialog NOTIFY back over the
//! flow the SUBSCRIBE came on.

mod sip_common;

use std::sync::{Arc, Mutex};

use controlplane::sip::dialog::Dialog;
use controlplane::sip::wire::{response_to, HeaderName, Uri};
use controlplane::sip::{IncomingRequest, SipApp, SipHandle, SipServer, TransportKind};
use sip_common::*;
use tokio::sync::oneshot;

struct Room {
    notify_result: Mutex<Option<oneshot::Sender<Option<u16>>>>,
}

impl SipApp for Room {
    fn is_local_target(&self, uri: &Uri<'_>) -> bool {
        uri.user.is_some_and(|u| u.starts_with("room"))
    }
    fn on_request(&self, req: IncomingRequest, handle: SipHandle) {
        let tag = handle.new_tag();
        let mut r = response_to(&req.msg, 200, None, Some(&tag), Some(req.source.remote));
        r.header("Contact", "<sip:room1@example.com>");
        r.header("Expires", "600");
        handle.respond(&req, 200, r.finish(None, b""));
        let mut d = Dialog::uas(&req.msg, &tag).unwrap();
        let mut n = d.request("NOTIFY");
        n.header("Subscription-State", "active;expires=600");
        n.header("Contact", "<sip:room1@example.com>");
        let rx = handle.send_request(n.finish(Some("text/plain"), b"hello"), req.source);
        let tx = self.notify_result.lock().unwrap().take();
        tokio::spawn(async move {
            let code = rx.await.ok().flatten().and_then(|m| m.status());
            if let Some(tx) = tx {
                let _ = tx.send(code);
            }
        });
    }
}

#[tokio::test]
async fn app_answers_subscribe_and_notifies_over_the_flow() {
    let (tx, rx) = oneshot::channel();
    let app = Arc::new(Room {
        notify_result: Mutex::new(Some(tx)),
    });
    let srv = SipServer::start(config(&[]), Some(app)).await.unwrap();
    let mut c = TcpClient::connect(srv.local_addr(TransportKind::Tcp).unwrap()).await;
    let l = c.local;
    let sub = format!(
        "SUBSCRIBE sip:room1@example.com SIP/2.0\r\nVia: SIP/2.0/TCP {l};branch=z9hG4bKsub1\r\n\
Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=b1\r\nTo: <sip:room1@example.com>\r\n\
Call-ID: sub-1\r\nCSeq: 1 SUBSCRIBE\r\nEvent: conference\r\nContact: <sip:bob@{l};transport=tcp;ob>\r\n\
Expires: 600\r\nContent-Length: 0\r\n\r\n"
    );
    c.send(&sub).await;
    let ok = c.msg().await;
    assert_eq!(ok.status(), Some(200));
    assert!(ok.to_hdr().unwrap().tag().is_some());
    let notify = c.msg().await;
    assert_eq!(notify.method_text(), "NOTIFY");
    assert_eq!(notify.value(HeaderName::Event), Some("conference"));
    assert_eq!(notify.to_hdr().unwrap().tag(), Some("b1"));
    assert_eq!(&notify.body()[..], b"hello");
    c.send(&answer(&notify, 200, "sip:bob@127.0.0.1")).await;
    assert_eq!(rx.await.unwrap(), Some(200), "the app saw the NOTIFY's 200");
}

struct SlowRoom {
    seen: Arc<Mutex<Vec<String>>>,
}

impl SipApp for SlowRoom {
    fn is_local_target(&self, uri: &Uri<'_>) -> bool {
        uri.user == Some("room2")
    }
    fn on_request(&self, req: IncomingRequest, handle: SipHandle) {
        self.seen
            .lock()
            .unwrap()
            .push(req.msg.method_text().to_string());
        if req.tx.is_some() && req.msg.method_text() == "INVITE" {
            let r = response_to(&req.msg, 180, None, Some("r2"), Some(req.source.remote));
            handle.respond(&req, 180, r.finish(None, b""));
        }
    }
}

#[tokio::test]
async fn cancel_of_an_app_invite_is_answered_and_reported() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Arc::new(SlowRoom { seen: seen.clone() });
    let srv = SipServer::start(config(&[]), Some(app)).await.unwrap();
    let mut c = TcpClient::connect(srv.local_addr(TransportKind::Tcp).unwrap()).await;
    let l = c.local;
    c.send(&invite(l, "room2", "appcancel", None)).await;
    assert_eq!(c.msg_skip_100().await.status(), Some(180));
    let cancel = format!(
        "CANCEL sip:room2@example.com SIP/2.0\r\nVia: SIP/2.0/TCP {l};branch=z9hG4bKappcancel1;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=bobappcancel\r\nTo: <sip:room2@example.com>\r\n\
Call-ID: appcancel\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n"
    );
    c.send(&cancel).await;
    let mut codes = [c.msg().await, c.msg().await];
    codes.sort_by_key(|m| m.status());
    assert_eq!(
        (codes[0].status(), codes[0].cseq().unwrap().method),
        (Some(200), "CANCEL")
    );
    assert_eq!(
        (codes[1].status(), codes[1].cseq().unwrap().method),
        (Some(487), "INVITE")
    );
    assert_eq!(*seen.lock().unwrap(), ["INVITE", "CANCEL"]);
}

/// Answers every INVITE with 200 at once (and nothing else).
struct Answering;

impl SipApp for Answering {
    fn is_local_target(&self, uri: &Uri<'_>) -> bool {
        uri.user.is_some_and(|u| u.starts_with("room"))
    }
    fn on_request(&self, req: IncomingRequest, handle: SipHandle) {
        if req.tx.is_none() || req.msg.method_text() != "INVITE" {
            return;
        }
        let tag = handle.new_tag();
        let mut r = response_to(&req.msg, 200, None, Some(&tag), Some(req.source.remote));
        r.header("Contact", "<sip:room3@example.com>");
        handle.respond(&req, 200, r.finish(None, b""));
    }
}

/// RFC 3261 §13.3.1.4 / §17.1.1.3: the ACK for a 2xx has a branch of its own, so it cannot be
/// matched to the INVITE's transaction by branch; it must still stop the 2xx retransmissions,
/// whatever internal shard its branch hashes to.
#[tokio::test]
async fn the_ack_of_a_2xx_stops_its_retransmissions() {
    let srv = SipServer::start(config(&[]), Some(Arc::new(Answering)))
        .await
        .unwrap();
    let mut c = TcpClient::connect(srv.local_addr(TransportKind::Tcp).unwrap()).await;
    let l = c.local;
    // Several calls, so that ACK branches land on other shards than their INVITEs.
    for i in 0..8 {
        let cid = format!("ack2xx{i}");
        c.send(&invite(l, "room3", &cid, None)).await;
        let ok = c.msg_skip_100().await;
        assert_eq!(ok.status(), Some(200));
        let to = ok.values_named("To").next().unwrap().to_string();
        let ack = format!(
            "ACK sip:room3@example.com SIP/2.0\r\nVia: SIP/2.0/TCP {l};branch=z9hG4bKack{i}x;rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:bob@example.com>;tag=bob{cid}\r\nTo: {to}\r\n\
Call-ID: {cid}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        );
        c.send(&ack).await;
    }
    // T1 is 500 ms: an unacknowledged 2xx would be sent again within a second and a half.
    let again = tokio::time::timeout(std::time::Duration::from_millis(1600), c.msg()).await;
    assert!(
        again.is_err(),
        "2xx retransmitted after its ACK: {:?}",
        again.map(|m| m.cseq().map(|c| c.seq).ok())
    );
}
