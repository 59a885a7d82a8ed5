//! Datastore and VM documents from oned, which TM actions need because they receive no XML:
//! [`XmlRpc`] calls `one.datastore.info` / `one.vm.info` at `ONE_XMLRPC` (default
//! `http://localhost:2633/RPC2`) with the `one_auth` credentials; [`Cli`] runs
//! `onedatastore show -x` / `onevm show -x` as the peers do. Documents are cached per run.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::xml::{self, Datastore, Vm, XmlError};

/// Why oned could not tell us about an object.
#[derive(Debug, thiserror::Error)]
pub enum OnedError {
    /// oned could not be reached.
    #[error("cannot reach oned at {endpoint} (set ONE_XMLRPC to oned's XML-RPC endpoint)")]
    Unreachable {
        /// Endpoint tried.
        endpoint: String,
        /// Why.
        #[source]
        source: Transport,
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
    #[error("oned's answer to {call}({id}) is unreadable")]
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

/// Why an exchange with oned failed.
#[derive(Debug, thiserror::Error)]
pub enum Transport {
    /// The endpoint is not `http://…`.
    #[error("only http:// endpoints are supported")]
    Scheme,
    /// The host name resolves to no address.
    #[error("no address")]
    NoAddress,
    /// Resolving, connecting, running the command or the client's runtime failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The HTTP exchange failed.
    #[error(transparent)]
    Http(#[from] hyper::Error),
    /// The request could not be built.
    #[error(transparent)]
    Request(#[from] hyper::http::Error),
    /// No connection in time.
    #[error("no connection within {0} s")]
    ConnectTimeout(u64),
    /// No answer in time.
    #[error("no answer within {0} s")]
    AnswerTimeout(u64),
    /// oned answered with another HTTP status than 200.
    #[error("HTTP answer '{0}'")]
    Status(hyper::StatusCode),
    /// The client thread panicked.
    #[error("the HTTP exchange panicked")]
    Panicked,
}

/// Bound on connecting to oned.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

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
        let unreachable = |source: Transport| OnedError::Unreachable {
            endpoint: self.endpoint.clone(),
            source,
        };
        let rest = self
            .endpoint
            .strip_prefix("http://")
            .ok_or_else(|| unreachable(Transport::Scheme))?;
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
            .map_err(|e| unreachable(e.into()))?
            .next()
            .ok_or_else(|| unreachable(Transport::NoAddress))?;
        let (status, body) =
            post_xml(addr, &hostport, path, body, self.timeout).map_err(unreachable)?;
        if status != hyper::StatusCode::OK {
            return Err(unreachable(Transport::Status(status)));
        }
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

/// One HTTP/1.1 POST of an XML-RPC `body` to oned with hyper: status and body text. Runs on
/// its own thread and runtime, since [`OnedInfo`] is called from inside the driver's runtime.
fn post_xml(
    addr: SocketAddr,
    host: &str,
    path: &str,
    body: String,
    timeout: Duration,
) -> Result<(hyper::StatusCode, String), Transport> {
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::CONTENT_TYPE, "text/xml")
        .body(Full::new(Bytes::from(body)))?;
    let exchange = async move {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| Transport::ConnectTimeout(CONNECT_TIMEOUT.as_secs()))??;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let answer = sender.send_request(request).await?;
        let status = answer.status();
        let bytes = answer.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                tokio::time::timeout(timeout, exchange)
                    .await
                    .map_err(|_| Transport::AnswerTimeout(timeout.as_secs()))?
            })
        })
        .join()
        .unwrap_or(Err(Transport::Panicked))
    })
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
                source: e.into(),
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
    fn unreachable_oned_keeps_the_transport_error_as_source() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let rpc = XmlRpc {
            endpoint: format!("http://127.0.0.1:{port}/RPC2"),
            auth: Some("oneadmin:pw".into()),
            auth_error: None,
            timeout: Duration::from_secs(5),
            ds_cache: Mutex::new(HashMap::new()),
        };
        let e = rpc.datastore(1).unwrap_err();
        assert!(
            matches!(
                &e,
                OnedError::Unreachable {
                    source: Transport::Io(_),
                    ..
                }
            ),
            "{e:?}"
        );
        let text = linstor_common::error::chain(&e);
        assert!(
            text.starts_with(&format!(
                "cannot reach oned at http://127.0.0.1:{port}/RPC2"
            )) && text.to_lowercase().contains("refused"),
            "{text}"
        );
    }

    #[test]
    fn chunked_answers_are_read() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains("</methodCall>") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "request ended early");
                got.extend_from_slice(&buf[..n]);
            }
            let doc = "<methodResponse><params><param><value><array><data><value><boolean>1</boolean></value><value><string>&lt;DATASTORE/&gt;</string></value></data></array></value></param></params></methodResponse>";
            let (a, b) = doc.split_at(40);
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                a.len(),
                b.len()
            )
            .unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        let (status, body) = post_xml(
            addr,
            &addr.to_string(),
            "/RPC2",
            "<methodCall></methodCall>".into(),
            Duration::from_secs(10),
        )
        .unwrap();
        let request = server.join().unwrap();
        assert_eq!(status, hyper::StatusCode::OK);
        assert_eq!(
            xml::parse_xmlrpc_response(&body).unwrap(),
            Ok("<DATASTORE/>".to_string())
        );
        assert!(request.starts_with("POST /RPC2 HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("content-type: text/xml"), "{request}");
    }
}
