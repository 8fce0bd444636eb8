//! The HTTP/1.1 client `msrpctl` talks to msrpd's management API with, over TCP or a Unix
//! socket, one connection per request.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where the API is.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// `host:port`.
    Tcp(String),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "http://{a}"),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Why a call failed; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Nothing answers at the endpoint (daemon not running, wrong address).
    #[error("cannot connect to msrpd at {endpoint}: {reason} (is msrpd running? check --addr/--socket or MSRPCTL_ADDR)")]
    Connect {
        /// Where.
        endpoint: String,
        /// The system's reason.
        reason: String,
    },
    /// The daemon answered with an error status.
    #[error("{status}: {message}")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The `error` of the JSON body (or the body).
        message: String,
    },
    /// The answer is not what an msrpd sends.
    #[error("unexpected answer from {endpoint}: {reason}")]
    Protocol {
        /// Where.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
}

/// An API client.
#[derive(Clone, Debug)]
pub struct Client {
    /// Where the API is.
    pub endpoint: Endpoint,
    /// Bearer token, if any.
    pub token: Option<String>,
    /// Per-call time limit.
    pub timeout: Duration,
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("not JSON: {e}"))
    }
}

impl Client {
    /// Calls `method path` with an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, CallError> {
        match tokio::time::timeout(self.timeout, self.call_inner(method, path, body)).await {
            Ok(r) => r,
            Err(_) => Err(CallError::Protocol {
                endpoint: self.endpoint.to_string(),
                reason: format!("no answer within {:?}", self.timeout),
            }),
        }
    }

    async fn call_inner(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, CallError> {
        let connect_err = |e: std::io::Error| CallError::Connect {
            endpoint: self.endpoint.to_string(),
            reason: e.to_string(),
        };
        match &self.endpoint {
            Endpoint::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a.as_str())
                    .await
                    .map_err(connect_err)?;
                self.exchange(s, method, path, body).await
            }
            Endpoint::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(connect_err)?;
                self.exchange(s, method, path, body).await
            }
        }
    }

    async fn exchange<S>(
        &self,
        stream: S,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, CallError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let proto = |reason: String| CallError::Protocol {
            endpoint: self.endpoint.to_string(),
            reason,
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| proto(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let payload = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "msrpd");
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        if let Some(t) = &self.token {
            let v = HeaderValue::from_str(&format!("Bearer {t}")).map_err(|_| {
                proto("the token contains characters not allowed in a header".into())
            })?;
            req = req.header(AUTHORIZATION, v);
        }
        let req = req
            .body(Full::new(payload))
            .map_err(|e| proto(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| proto(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| proto(e.to_string()))?
            .to_bytes();
        if status.is_success() {
            return Ok(Answer { status, body });
        }
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
        Err(CallError::Api { status, message })
    }
}
