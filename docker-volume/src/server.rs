//! HTTP/1.1 over the plugin's unix socket (hyper): every POST body is parsed into a
//! [`crate::protocol::Request`] and answered by the [`crate::driver::Driver`]. Also the socket
//! setup: binding (replacing a stale socket, refusing a live one) and systemd socket activation.

use std::convert::Infallible;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request as HttpRequest, Response as HttpResponse, StatusCode};
use hyper_util::rt::TokioIo;
use linstor_common::error::chain;
use tokio::net::UnixListener;
use tracing::{debug, warn};

use crate::driver::Driver;
use crate::protocol::{parse_request, Response, CONTENT_TYPE, MAX_BODY};

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Another process serves the socket.
    #[error("{} is served by another running plugin; stop it first or choose another --socket", .0.display())]
    InUse(PathBuf),
    /// Binding failed.
    #[error("cannot bind {}", .path.display())]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// systemd passed something that is not a usable unix socket.
    #[error("systemd socket activation: fd 3 is not a listening unix socket ({problem}); check ListenStream= in linstor-docker-volume.socket (a socket path)")]
    Activation {
        /// What was found wrong.
        problem: &'static str,
        /// The I/O error behind it, if any.
        #[source]
        source: Option<std::io::Error>,
    },
}

/// Permission bits of the plugin socket: only its owner (root, like dockerd) may connect.
pub const SOCKET_MODE: u32 = 0o600;

/// Bind `path`, creating its directory; a stale socket file (nobody listening) is replaced. The
/// socket is bound under a temporary name, set to [`SOCKET_MODE`] and then renamed into place, so
/// it never exists at `path` with other permissions, whatever the umask.
pub fn bind(path: &Path) -> Result<UnixListener, SocketError> {
    let err = |source| SocketError::Bind {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(SocketError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(err)?;
        }
    }
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp).map_err(err)?;
    let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(SOCKET_MODE))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(listener)
}

/// The socket systemd passed (`LISTEN_PID` = our pid, `LISTEN_FDS` ≥ 1, fd 3), if any.
pub fn systemd_listener() -> Result<Option<UnixListener>, SocketError> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        == Some(std::process::id());
    let fds = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    if !pid_ok || fds == 0 {
        return Ok(None);
    }
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    let activation = |problem| {
        move |e| SocketError::Activation {
            problem,
            source: Some(e),
        }
    };
    let meta = std::fs::metadata("/proc/self/fd/3").map_err(activation("cannot inspect it"))?;
    if !meta.file_type().is_socket() {
        return Err(SocketError::Activation {
            problem: "not a socket",
            source: None,
        });
    }
    let std_listener = adopt_fd3();
    std_listener
        .set_nonblocking(true)
        .map_err(activation("cannot make it non-blocking"))?;
    UnixListener::from_std(std_listener)
        .map_err(activation("cannot listen on it"))
        .map(Some)
}

#[allow(unsafe_code)]
fn adopt_fd3() -> std::os::unix::net::UnixListener {
    use std::os::fd::FromRawFd;
    // SAFETY: systemd's protocol hands fd 3 to the process named by LISTEN_PID (checked by the
    // caller, which also clears the variables so this runs once); nothing else in this process
    // owns fd 3, and it was checked to be a socket.
    unsafe { std::os::unix::net::UnixListener::from_raw_fd(3) }
}

fn reply(r: &Response) -> HttpResponse<Full<Bytes>> {
    let body = serde_json::to_vec(&r.to_json()).unwrap_or_else(|_| b"{}".to_vec());
    let mut resp = HttpResponse::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::OK);
    if let Ok(v) = CONTENT_TYPE.parse() {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Answer one HTTP request.
pub async fn serve_request(
    driver: Arc<Driver>,
    req: HttpRequest<Incoming>,
) -> Result<HttpResponse<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    if req.method() != hyper::Method::POST {
        return Ok(reply(&Response::Err(format!(
            "{} {path}: the plugin API takes POST requests only",
            req.method()
        ))));
    }
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    let body = match limited.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(reply(&Response::Err(format!(
                "{path}: cannot read the request body: {}",
                chain(e.as_ref())
            ))))
        }
    };
    debug!(path = %path, body = %String::from_utf8_lossy(&body), "request");
    let resp = match parse_request(&path, &body) {
        Ok(r) => driver.handle(r).await,
        Err(e) => {
            warn!(path = %path, error = %chain(&e), "bad request");
            Response::Err(chain(&e))
        }
    };
    Ok(reply(&resp))
}

/// Serve connections until `shutdown` resolves.
pub async fn serve(
    listener: UnixListener,
    driver: Arc<Driver>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            acc = listener.accept() => match acc {
                Ok((stream, _)) => {
                    let d = driver.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| serve_request(d.clone(), req));
                        if let Err(e) = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await
                        {
                            debug!(error = %chain(&e), "connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    warn!(error = %chain(&e), "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}
