//! The MSRP side: one TCP connection to the room's switch driven by the sans-IO session
//! engine. Connecting (or accepting, when the room answered `a=setup:active`) follows the
//! negotiated role (RFC 6135); the active side binds the connection with a bodiless SEND at
//! once (RFC 4975 §5.4).

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use dataplane::session::{Config, Connection, SessionConfig, SessionId};
use dataplane::wire::OwnedMsrpUri;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::error::ChatError;
use super::transport::{start_msrp_reader, Net};
use crate::sdp::offer_answer::{ConnectionRole, EstablishedSession};
use crate::sdp::MsrpUri;

/// The MSRP connection and its engine.
pub struct MsrpLink {
    /// The engine.
    pub conn: Connection,
    /// Our one session on it.
    pub session: SessionId,
    write: OwnedWriteHalf,
    read_buf: BytesMut,
    out: BytesMut,
}

fn engine_uri(u: &MsrpUri) -> Result<OwnedMsrpUri, ChatError> {
    OwnedMsrpUri::parse(Bytes::from(u.to_string()))
        .map_err(|e| ChatError::BadAnswer(format!("unusable MSRP URI {u}: {e:?}")))
}

impl MsrpLink {
    /// Sets up the connection for the negotiated session.
    pub async fn establish(
        session: &EstablishedSession,
        listener: TcpListener,
        wait: Duration,
        events: mpsc::Sender<Net>,
    ) -> Result<MsrpLink, ChatError> {
        let local = engine_uri(&session.local_uri)?;
        let path = session
            .to_path
            .iter()
            .map(engine_uri)
            .collect::<Result<Vec<_>, _>>()?;
        if session.tls {
            return Err(ChatError::MsrpSetup("TLS (msrps) is not supported".into()));
        }
        let stream = match &session.role {
            ConnectionRole::Active(t) => {
                let addr = format!("{}:{}", t.host, t.port);
                drop(listener);
                match tokio::time::timeout(wait, TcpStream::connect(&addr)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return Err(ChatError::MsrpSetup(format!("{addr}: {e}"))),
                    Err(_) => return Err(ChatError::MsrpSetup(format!("{addr}: timeout"))),
                }
            }
            ConnectionRole::Passive => match tokio::time::timeout(wait, listener.accept()).await {
                Ok(Ok((s, _))) => s,
                Ok(Err(e)) => return Err(ChatError::MsrpSetup(e.to_string())),
                Err(_) => {
                    return Err(ChatError::MsrpSetup(
                        "the room did not connect to us (a=setup:active) in time".into(),
                    ))
                }
            },
        };
        let write = start_msrp_reader(stream, events);
        let mut conn = Connection::new(Config::default(), rand::random::<u64>);
        let cfg = SessionConfig::new(local, path);
        let session_id = match &session.role {
            ConnectionRole::Active(_) => conn.open_session(cfg),
            ConnectionRole::Passive => conn.add_session(cfg),
        }
        .map_err(|e| ChatError::MsrpSetup(e.to_string()))?;
        let mut link = MsrpLink {
            conn,
            session: session_id,
            write,
            read_buf: BytesMut::new(),
            out: BytesMut::new(),
        };
        link.flush(Instant::now()).await?;
        Ok(link)
    }

    /// Feeds received bytes to the engine.
    pub fn input(&mut self, now: Instant, data: &[u8]) -> Result<(), ChatError> {
        self.read_buf.extend_from_slice(data);
        self.conn
            .handle_input(now, &mut self.read_buf)
            .map_err(|e| ChatError::MsrpLost(e.to_string()))
    }

    /// Writes everything the engine has to send.
    pub async fn flush(&mut self, now: Instant) -> Result<(), ChatError> {
        while let Some(t) = self.conn.poll_transmit(now) {
            t.write_to(&mut self.out);
        }
        if !self.out.is_empty() {
            let data = self.out.split();
            self.write
                .write_all(&data)
                .await
                .map_err(|e| ChatError::MsrpLost(e.to_string()))?;
        }
        Ok(())
    }

    /// Closes our side of the connection.
    pub async fn close(&mut self) {
        let _ = self.write.shutdown().await;
    }
}
