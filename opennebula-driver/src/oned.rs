//! Datastore and VM documents from oned, which TM actions need because they receive no XML:
//! [`XmlRpc`] calls `one.datastore.info` / `one.vm.info` at `ONE_XMLRPC` (default
//! `http://localhost:2633/RPC2`) with the `one_auth` credentials; [`Cli`] runs
//! `onedatastore show -x` / `onevm show -x` as the peers do. Documents are cached per run.

use std::collections::HashMap;
use std::fmt::Debug;
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use crate::xml::{self, Datastore, Vm, XmlError};

/// Why oned could not tell us about an object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnedError {
    /// oned could not be reached.
    #[error(
        "cannot reach oned at {endpoint}: {message}; set ONE_XMLRPC to oned's XML-RPC endpoint"
    )]
    Unreachable {
        /// Endpoint tried.
        endpoint: String,
        /// Transport error.
        message: String,
    },
    /// oned answered with an error (unknown object, authentication).
    #[error("oned refused {call}({id}): {message}")]
    Refused {
        /// Method.
        call: String,
        /// Object id.
        id: u64,
        /// oned's message.
        message: String,
    },
    /// The answer could not be read.
    #[error("oned's answer to {call}({id}) is unreadable: {source}")]
    Unreadable {
        /// Method.
        call: String,
        /// Object id.
        id: u64,
        /// Parser error.
        #[source]
        source: XmlError,
    },
    /// No credentials.
    #[error("no OpenNebula credentials: {0}")]
    Auth(String),
}

/// Source of datastore and VM documents.
pub trait OnedInfo: Send + Sync + Debug {
    /// `one.datastore.info(id)`.
    fn datastore(&self, id: u64) -> Result<Datastore, OnedError>;
    /// `one.vm.info(id)`.
    fn vm(&self, id: u64) -> Result<Vm, OnedError>;
}

/// XML-RPC client for oned (plain HTTP, as oned listens by default). Its `Debug` output never
/// shows the `one_auth` credentials.
pub struct XmlRpc {
    endpoint: String,
    auth: Option<String>,
    auth_error: Option<String>,
    timeout: Duration,
    ds_cache: Mutex<HashMap<u64, Datastore>>,
}

impl Debug for XmlRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmlRpc")
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("auth_error", &self.auth_error)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Where `one_auth` is read from: `$ONE_AUTH`, `~/.one/one_auth`, `/var/lib/one/.one/one_auth`.
pub fn auth_files() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("ONE_AUTH") {
        v.push(PathBuf::from(p));
    }
    if let Some(h) = std::env::var_os("HOME") {
        v.push(PathBuf::from(h).join(".one/one_auth"));
    }
    v.push(PathBuf::from("/var/lib/one/.one/one_auth"));
    v
}

impl XmlRpc {
    /// Client for `endpoint` (or `$ONE_XMLRPC`, or the default) with the first readable
    /// `one_auth`.
    pub fn from_env() -> Self {
        let endpoint = std::env::var("ONE_XMLRPC")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| "http://localhost:2633/RPC2".into());
        let mut auth = None;
        let mut tried = Vec::new();
        for f in auth_files() {
            match std::fs::read_to_string(&f) {
                Ok(t) if t.trim().contains(':') => {
                    auth = Some(t.trim().to_string());
                    break;
                }
                _ => tried.push(f.display().to_string()),
            }
        }
        Self {
            endpoint,
            auth,
            auth_error: Some(format!(
                "none of {} holds 'user:password'; set ONE_AUTH",
                tried.join(", ")
            )),
            timeout: Duration::from_secs(30),
            ds_cache: Mutex::new(HashMap::new()),
        }
    }

    fn call(&self, method: &str, id: u64) -> Result<String, OnedError> {
        let auth = self
            .auth
            .as_deref()
            .ok_or_else(|| OnedError::Auth(self.auth_error.clone().unwrap_or_default()))?;
        let mut params = format!(
            "<param><value><string>{}</string></value></param><param><value><int>{id}</int></value></param>",
            xml::escape(auth)
        );
        if method == "one.vm.info" {
            params.push_str("<param><value><boolean>0</boolean></value></param>");
        }
        let body = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>{params}</params></methodCall>"
        );
        let unreachable = |m: String| OnedError::Unreachable {
            endpoint: self.endpoint.clone(),
            message: m,
        };
        let rest = self
            .endpoint
            .strip_prefix("http://")
            .ok_or_else(|| unreachable("only http:// endpoints are supported".into()))?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/RPC2"),
        };
        let hostport = if hostport.contains(':') && !hostport.ends_with(']') {
            hostport.to_string()
        } else {
            format!("{hostport}:2633")
        };
        let addr = hostport
            .to_socket_addrs()
            .map_err(|e| unreachable(e.to_string()))?
            .next()
            .ok_or_else(|| unreachable("no address".into()))?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = s.set_read_timeout(Some(self.timeout));
        let _ = s.set_nodelay(true);
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes())
            .map_err(|e| unreachable(e.to_string()))?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)
            .map_err(|e| unreachable(e.to_string()))?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| unreachable("truncated HTTP answer".into()))?;
        let status_ok = head
            .lines()
            .next()
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("200"));
        if !status_ok {
            return Err(unreachable(format!(
                "HTTP answer '{}'",
                head.lines().next().unwrap_or("")
            )));
        }
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        match xml::parse_xmlrpc_response(&body) {
            Ok(Ok(doc)) => Ok(doc),
            Ok(Err(message)) => Err(OnedError::Refused {
                call: method.into(),
                id,
                message,
            }),
            Err(source) => Err(OnedError::Unreadable {
                call: method.into(),
                id,
                source,
            }),
        }
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

impl OnedInfo for XmlRpc {
    fn datastore(&self, id: u64) -> Result<Datastore, OnedError> {
        if let Some(d) = self
            .ds_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return Ok(d.clone());
        }
        let doc = self.call("one.datastore.info", id)?;
        let ds = xml::parse_datastore(&doc).map_err(|source| OnedError::Unreadable {
            call: "one.datastore.info".into(),
            id,
            source,
        })?;
        self.ds_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, ds.clone());
        Ok(ds)
    }

    fn vm(&self, id: u64) -> Result<Vm, OnedError> {
        let doc = self.call("one.vm.info", id)?;
        xml::parse_vm(&doc).map_err(|source| OnedError::Unreadable {
            call: "one.vm.info".into(),
            id,
            source,
        })
    }
}

/// The `onedatastore` / `onevm` command-line tools.
#[derive(Debug, Default)]
pub struct Cli;

impl Cli {
    fn show(tool: &str, id: u64) -> Result<String, OnedError> {
        let call = format!("{tool} show -x");
        let out = std::process::Command::new(tool)
            .args(["show", "-x", &id.to_string()])
            .output()
            .map_err(|e| OnedError::Unreachable {
                endpoint: tool.into(),
                message: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(OnedError::Refused {
                call,
                id,
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl OnedInfo for Cli {
    fn datastore(&self, id: u64) -> Result<Datastore, OnedError> {
        xml::parse_datastore(&Self::show("onedatastore", id)?).map_err(|source| {
            OnedError::Unreadable {
                call: "onedatastore show -x".into(),
                id,
                source,
            }
        })
    }

    fn vm(&self, id: u64) -> Result<Vm, OnedError> {
        xml::parse_vm(&Self::show("onevm", id)?).map_err(|source| OnedError::Unreadable {
            call: "onevm show -x".into(),
            id,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
