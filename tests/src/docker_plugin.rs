//! Calling a Docker volume plugin on its unix socket the way dockerd does: one POST per
//! connection, a JSON answer.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// A plugin's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

/// Waits until the plugin socket `sock` accepts a connection, polling every 20 ms: true when it
/// did within `within`.
pub fn socket_opens(sock: &Path, within: Duration) -> bool {
    let t = std::time::Instant::now();
    while UnixStream::connect(sock).is_err() {
        if t.elapsed() >= within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// POSTs `body` to `path` (e.g. `/VolumeDriver.Create`) on the plugin socket `sock`, waiting at
/// most `timeout` for the answer.
pub fn post(sock: &Path, path: &str, body: &str, timeout: Duration) -> std::io::Result<Answer> {
    let mut s = UnixStream::connect(sock)?;
    s.set_read_timeout(Some(timeout))?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: plugin.moby.localhost\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status: u16 = out
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {out:?}")))?;
    let (_, json) = out
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no body"))?;
    Ok(Answer {
        status,
        body: serde_json::from_str(json).map_err(std::io::Error::other)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_opens_once_something_listens_on_it() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("plugin.sock");
        assert!(!socket_opens(&sock, Duration::from_millis(60)));
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        assert!(socket_opens(&sock, Duration::from_millis(60)));
    }
}
