//! The management listener: HTTP/1.1 on TCP and/or a Unix socket (hyper), bearer-token check,
//! JSON error bodies, and the hand-off of each request to [`super::routes`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use super::config::MgmtSection;
use super::MgmtState;

/// Largest request body accepted (room policies are small).
const MAX_BODY: usize = 64 * 1024;
/// Ports tried after 2880 when the default listener is taken.
const PORT_TRIES: u16 = 20;

/// A response as the routes build it.
pub type Reply = Response<Full<Bytes>>;

/// A JSON response.
pub fn json(status: StatusCode, v: &serde_json::Value) -> Reply {
    let mut body = serde_json::to_vec_pretty(v).unwrap_or_default();
    body.push(b'\n');
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    json(status, &serde_json::json!({ "error": message.into() }))
}

/// A plain-text response (Prometheus exposition format 0.0.4).
pub fn text(body: String) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

/// Where the API ended up listening.
#[derive(Clone, Debug, Default)]
pub struct Bound {
    /// TCP address.
    pub tcp: Option<SocketAddr>,
    /// Unix socket path.
    pub unix: Option<PathBuf>,
}

/// The bound listeners, not yet serving.
pub struct Listeners {
    tcp: Option<tokio::net::TcpListener>,
    unix: Option<tokio::net::UnixListener>,
    /// Their addresses.
    pub bound: Bound,
}

/// Binds the listeners `cfg` asks for (inside a tokio runtime). The default TCP address moves
/// up from 2880 when taken (and is left out, with a warning, when all are); an explicit one
/// that cannot be bound is an error.
pub fn bind(cfg: &MgmtSection) -> Result<Listeners, String> {
    let mut out = Listeners {
        tcp: None,
        unix: None,
        bound: Bound::default(),
    };
    if let Some(addr) = cfg.listen_addr() {
        let tries = if cfg.default_listen() { PORT_TRIES } else { 1 };
        let mut last = None;
        for i in 0..tries {
            let cand = SocketAddr::new(addr.ip(), addr.port().saturating_add(i));
            match std::net::TcpListener::bind(cand) {
                Ok(l) => {
                    l.set_nonblocking(true).map_err(|e| e.to_string())?;
                    out.bound.tcp = Some(l.local_addr().map_err(|e| e.to_string())?);
                    out.tcp =
                        Some(tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if out.tcp.is_none() {
            let e = last.map_or_else(String::new, |e| e.to_string());
            if !cfg.default_listen() {
                return Err(format!("mgmt.listen: cannot listen on {addr}: {e}"));
            }
            // The default is a convenience: another msrpd on this host must not stop this
            // one from starting.
            tracing::warn!(
                "mgmt.listen: ports {}..{} are taken ({e}); the management API is not served on TCP",
                addr.port(),
                addr.port().saturating_add(PORT_TRIES - 1)
            );
        }
    }
    if let Some(p) = &cfg.socket {
        out.unix = Some(bind_unix(p)?);
        out.bound.unix = Some(p.clone());
    }
    Ok(out)
}

fn bind_unix(p: &Path) -> Result<tokio::net::UnixListener, String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(m) = std::fs::symlink_metadata(p) {
        if m.file_type().is_socket() {
            // A stale socket of an earlier run.
            let _ = std::fs::remove_file(p);
        } else {
            return Err(format!(
                "mgmt.socket: {} exists and is not a socket",
                p.display()
            ));
        }
    }
    let l = std::os::unix::net::UnixListener::bind(p)
        .map_err(|e| format!("mgmt.socket: cannot listen on {}: {e}", p.display()))?;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600));
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    tokio::net::UnixListener::from_std(l).map_err(|e| e.to_string())
}

/// Serves until the process ends (spawns one task per listener).
pub fn spawn(listeners: Listeners, state: Arc<MgmtState>) {
    if let Some(l) = listeners.tcp {
        let st = state.clone();
        tokio::spawn(async move {
            loop {
                match l.accept().await {
                    Ok((s, _)) => {
                        let _ = s.set_nodelay(true);
                        serve_conn(s, st.clone());
                    }
                    Err(e) => {
                        tracing::warn!("mgmt accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
    if let Some(l) = listeners.unix {
        tokio::spawn(async move {
            loop {
                match l.accept().await {
                    Ok((s, _)) => serve_conn(s, state.clone()),
                    Err(e) => {
                        tracing::warn!("mgmt accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
    }
}

fn serve_conn<S>(stream: S, state: Arc<MgmtState>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| {
        let st = state.clone();
        async move { Ok::<_, Infallible>(handle(st, req).await) }
    });
    tokio::spawn(async move {
        let _ = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .serve_connection(TokioIo::new(stream), svc)
            .await;
    });
}

/// Constant-time comparison (the token must not leak through timing).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorised(state: &MgmtState, req: &Request<Incoming>) -> bool {
    let Some(want) = state.token() else {
        return true;
    };
    let Some(got) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(tok) = got
        .strip_prefix("Bearer ")
        .or_else(|| got.strip_prefix("bearer "))
    else {
        return false;
    };
    same(tok.trim().as_bytes(), want.as_bytes())
}

async fn handle(state: Arc<MgmtState>, req: Request<Incoming>) -> Reply {
    if !authorised(&state, &req) {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer ...)",
        );
        r.headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        return r;
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body over {MAX_BODY} bytes or unreadable"),
            )
        }
    };
    let query = parts.uri.query().unwrap_or("").to_string();
    super::routes::route(state, &parts.method, parts.uri.path(), &query, body).await
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn token_comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
    }
}
