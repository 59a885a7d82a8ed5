//! HTTP transport: controller list tried in order, the last good controller remembered, TLS (CA,
//! client certificate), bearer token or basic auth, and a bound per [`CallKind`]: a read has a
//! short deadline per controller and moves on to the next one at once (a hung controller is then
//! tried after the healthy ones); a mutating call moves on only when it was certainly not
//! delivered, and its own bound ends in [`Error::Timeout`] saying it may have been carried out.
//! A controller that let its bound pass is remembered as silent ([`super::silent`]); while all
//! are, a data-plane read gets only [`ClientConfig::silent_grace`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;

use super::silent::{self, KnownSilent};
use crate::config::{BasicAuth, ClientConfig, ControllerUrl};
use crate::error::{Error, Result};

/// What a request does, which decides its bound and whether another controller may be tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Changes nothing (look-ups, lists, size info): [`ClientConfig::request_timeout`] per
    /// controller, then the next controller.
    Read,
    /// May change state: [`ClientConfig::mutate_timeout`] on the controller that took it; a
    /// request that may have been delivered is never sent to a second controller.
    Mutate,
}

/// An HTTP answer from one controller.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Body bytes, as received.
    pub body: bytes::Bytes,
    /// Base URL of the controller that answered.
    pub controller: String,
}

struct Inner {
    http: reqwest::Client,
    controllers: Vec<ControllerUrl>,
    preferred: AtomicUsize,
    token: Option<String>,
    basic_auth: Option<BasicAuth>,
    request_timeout: Duration,
    mutate_timeout: Duration,
    last_good_file: Option<PathBuf>,
    silent: KnownSilent,
    silent_grace: Duration,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("controllers", &self.controllers)
            .field("preferred", &self.preferred)
            .field(
                "token",
                &self.token.as_ref().map(|_| crate::config::REDACTED),
            )
            .field("basic_auth", &self.basic_auth)
            .field("request_timeout", &self.request_timeout)
            .field("mutate_timeout", &self.mutate_timeout)
            .field("last_good_file", &self.last_good_file)
            .field("silent", &self.silent)
            .field("silent_grace", &self.silent_grace)
            .finish_non_exhaustive()
    }
}

/// A request in flight on one controller; dropped before it finished (the caller gave up, e.g.
/// the data-plane budget ran out), that controller is tried after the next one from then on and
/// is known silent (unless it only had the known-silent grace).
struct InFlight<'a> {
    transport: &'a Transport,
    idx: usize,
    done: bool,
    grace: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.done {
            tracing::debug!(controller = %self.transport.inner.controllers[self.idx].base, "request abandoned before an answer; trying the next controller first from now on");
            self.transport.demote(self.idx);
            if !self.grace {
                self.transport.inner.silent.mark(self.idx);
            }
        }
    }
}

/// Failover transport over the configured controllers.
#[derive(Debug, Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

fn read_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::ConfigSource {
        what: format!("cannot read {what} {}", path.display()),
        source: e.into(),
    })
}

impl Transport {
    /// Build the HTTP client (TLS material is loaded here, so bad files fail early).
    pub fn new(config: ClientConfig) -> Result<Self> {
        if config.controllers.is_empty() {
            return Err(Error::Config("no LINSTOR controller configured".into()));
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("linstor-plugins/", env!("CARGO_PKG_VERSION")));
        if config.token.is_some() {
            if let Some(plain) = config.controllers.iter().find(|c| !c.is_https()) {
                return Err(Error::Config(format!(
                    "a bearer token is configured: refusing to send it to {} over plain HTTP; list the controller as https://host:3371 (or linstor+ssl://host)",
                    plain.base
                )));
            }
        }
        if config.basic_auth.is_some() {
            if let Some(plain) = config.controllers.iter().find(|c| !c.is_https()) {
                return Err(Error::Config(format!(
                    "basic authentication is configured: refusing to send the password to {} over plain HTTP; list the controller as https://host:3371 (or linstor+ssl://host)",
                    plain.base
                )));
            }
        }
        if !config.controllers.iter().any(ControllerUrl::is_https) {
            builder = builder.tls_built_in_root_certs(false);
        }
        if let Some(ca) = &config.ca_file {
            let pem = read_file(ca, "CA file")?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| Error::ConfigSource {
                    what: format!("CA file {} is not a PEM certificate", ca.display()),
                    source: e.into(),
                })?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "CA file {} holds no PEM certificate",
                    ca.display()
                )));
            }
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (&config.client_cert, &config.client_key) {
            (Some(cert), Some(key)) => {
                let mut pem = read_file(cert, "client certificate")?;
                pem.push(b'\n');
                pem.extend(read_file(key, "client key")?);
                let identity =
                    reqwest::Identity::from_pem(&pem).map_err(|e| Error::ConfigSource {
                        what: format!(
                            "client certificate {} / key {} unusable",
                            cert.display(),
                            key.display()
                        ),
                        source: e.into(),
                    })?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(Error::Config(
                    "a client certificate needs both a certificate and a key file".into(),
                ))
            }
        }
        if config.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| Error::ConfigSource {
            what: "cannot build HTTP client".into(),
            source: e.into(),
        })?;
        let last_good_file = config
            .state_dir
            .as_ref()
            .map(|d| d.join("last-good-controller"));
        let preferred = last_good_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|s| config.controllers.iter().position(|c| c.base == s.trim()))
            .unwrap_or(0);
        let silent = KnownSilent::load(
            config.controllers.iter().map(|c| c.base.clone()).collect(),
            config.state_dir.as_deref(),
            config.silent_hold_off,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                controllers: config.controllers,
                preferred: AtomicUsize::new(preferred),
                token: config.token,
                basic_auth: config.basic_auth,
                request_timeout: config.request_timeout,
                mutate_timeout: config.mutate_timeout,
                last_good_file,
                silent,
                silent_grace: config.silent_grace,
            }),
        })
    }

    /// Controller base URLs, in configured order.
    pub fn controllers(&self) -> Vec<String> {
        self.inner
            .controllers
            .iter()
            .map(|c| c.base.clone())
            .collect()
    }

    /// The controllers known silent now: each let its bound pass without an answer less than
    /// [`ClientConfig::silent_hold_off`] ago and has not answered since.
    pub fn known_silent(&self) -> Vec<String> {
        self.inner.silent.silent()
    }

    /// How long a data-plane read waits on the controllers now: the grace while every
    /// controller is known silent, `None` otherwise (the caller's budget applies).
    pub fn data_plane_wait(&self) -> Option<Duration> {
        self.inner
            .silent
            .all_silent()
            .then_some(self.inner.silent_grace)
    }

    fn remember(&self, idx: usize) {
        if self.inner.preferred.swap(idx, Ordering::Relaxed) != idx {
            if let Some(f) = &self.inner.last_good_file {
                let base = &self.inner.controllers[idx].base;
                if let Err(e) = crate::persist::write_atomic(f, base.as_bytes()) {
                    tracing::debug!(file = %f.display(), error = %e, "last good controller not recorded");
                }
            }
        }
    }

    /// After `idx` took a mutating call and did not answer, the next call starts at the
    /// controller after it (unless another one answered meanwhile).
    fn demote(&self, idx: usize) {
        let n = self.inner.controllers.len();
        if n > 1 {
            let _ = self.inner.preferred.compare_exchange(
                idx,
                (idx + 1) % n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// The bound of one call of this kind on one controller.
    pub fn bound(&self, kind: CallKind) -> Duration {
        match kind {
            CallKind::Read => self.inner.request_timeout,
            CallKind::Mutate => self.inner.mutate_timeout,
        }
    }

    /// A read on a known-silent controller: sent in a task of its own with the full read bound,
    /// waited for [`ClientConfig::silent_grace`]; `None` when the grace passed (the request goes
    /// on: an answer clears the controller's mark, the bound passing renews it).
    async fn probe(
        &self,
        req: reqwest::RequestBuilder,
        idx: usize,
    ) -> Option<reqwest::Result<(u16, reqwest::Result<bytes::Bytes>)>> {
        let transport = self.clone();
        let task = tokio::spawn(async move {
            let sent = match req.send().await {
                Ok(resp) => Ok((resp.status().as_u16(), resp.bytes().await)),
                Err(e) => Err(e),
            };
            match &sent {
                Ok((_, Ok(_))) => transport.inner.silent.clear(idx),
                Ok((_, Err(e))) | Err(e) if e.is_timeout() => transport.inner.silent.mark(idx),
                _ => {}
            }
            sent
        });
        match tokio::time::timeout(self.inner.silent_grace, task).await {
            Ok(Ok(sent)) => Some(sent),
            Ok(Err(_)) | Err(_) => None,
        }
    }

    /// Send one request, trying controllers from the last good one onwards. Connection
    /// failures move on to the next controller; so does a read that timed out or broke. An
    /// HTTP answer of any status is returned.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<serde_json::Value>,
        kind: CallKind,
    ) -> Result<RawResponse> {
        let n = self.inner.controllers.len();
        let start = self.inner.preferred.load(Ordering::Relaxed) % n;
        let read = kind == CallKind::Read;
        let grace = read && silent::in_data_plane() && self.inner.silent.all_silent();
        let bound = self.bound(kind);
        let timeout = if grace {
            silent::note_shortcut();
            tracing::info!(
                known_silent = true,
                grace_ms = self.inner.silent_grace.as_millis() as u64,
                "every controller is known silent: asking with a short grace only"
            );
            self.inner.silent_grace
        } else {
            bound
        };
        let silent_now = |idx: usize| {
            if !grace {
                self.inner.silent.mark(idx);
            }
        };
        let mut tried = Vec::with_capacity(n);
        let mut last_error: Option<reqwest::Error> = None;
        let mut tls_failure: Option<(String, String)> = None;
        let mut timed_out = false;
        for i in 0..n {
            let idx = (start + i) % n;
            let ctrl = &self.inner.controllers[idx];
            let url = format!("{}{}", ctrl.base, path_and_query);
            let mut req = self.inner.http.request(method.clone(), &url).timeout(bound);
            if let Some(b) = &self.inner.basic_auth {
                req = req.basic_auth(&b.username, Some(&b.password));
            } else if let Some(token) = &self.inner.token {
                req = req.bearer_auth(token);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            tried.push(ctrl.base.clone());
            let mut in_flight = InFlight {
                transport: self,
                idx,
                done: false,
                grace,
            };
            let sent = if grace {
                match self.probe(req, idx).await {
                    Some(sent) => sent,
                    None => {
                        in_flight.done = true;
                        tracing::debug!(controller = %ctrl.base, "no answer within the grace; an answer still clears its mark");
                        timed_out = true;
                        continue;
                    }
                }
            } else {
                match req.send().await {
                    Ok(resp) => Ok((resp.status().as_u16(), resp.bytes().await)),
                    Err(e) => Err(e),
                }
            };
            in_flight.done = true;
            match sent {
                Ok((status, read_body)) => {
                    let body = match read_body {
                        Ok(b) => b,
                        Err(e) if read && e.is_timeout() => {
                            tracing::debug!(controller = %ctrl.base, "answer not read in time; trying the next controller");
                            silent_now(idx);
                            timed_out = true;
                            last_error = Some(e);
                            continue;
                        }
                        Err(e) if e.is_timeout() => {
                            self.demote(idx);
                            silent_now(idx);
                            return Err(Error::Timeout {
                                tried,
                                seconds: timeout.as_secs_f64(),
                                may_have_been_carried_out: true,
                            });
                        }
                        Err(e) => {
                            return Err(Error::Protocol {
                                controller: ctrl.base.clone(),
                                request: format!("{method} {path_and_query}"),
                                status,
                                problem: "body could not be read".into(),
                                source: Some(e.into()),
                            })
                        }
                    };
                    self.inner.silent.clear(idx);
                    self.remember(idx);
                    return Ok(RawResponse {
                        status,
                        body,
                        controller: ctrl.base.clone(),
                    });
                }
                Err(e) if tls_problem(&error_chain(&e)).is_some() => {
                    let chain = error_chain(&e);
                    tracing::debug!(controller = %ctrl.base, error = %chain, "TLS handshake failed");
                    tls_failure = tls_problem(&chain).map(|p| (ctrl.base.clone(), p));
                    last_error = Some(e);
                }
                Err(e) if e.is_connect() => {
                    tracing::debug!(controller = %ctrl.base, error = %e, "controller unreachable");
                    if e.is_timeout() {
                        silent_now(idx);
                    }
                    last_error = Some(e);
                }
                Err(e) if e.is_timeout() && read => {
                    tracing::debug!(controller = %ctrl.base, "no answer in time; trying the next controller");
                    silent_now(idx);
                    timed_out = true;
                    last_error = Some(e);
                }
                Err(e) if e.is_timeout() => {
                    self.demote(idx);
                    silent_now(idx);
                    return Err(Error::Timeout {
                        tried,
                        seconds: timeout.as_secs_f64(),
                        may_have_been_carried_out: true,
                    });
                }
                Err(e) if read => {
                    tracing::debug!(controller = %ctrl.base, error = %e, "connection broke; GET is safe to retry elsewhere");
                    last_error = Some(e);
                }
                Err(e) => {
                    return Err(Error::Protocol {
                        controller: ctrl.base.clone(),
                        request: format!("{method} {path_and_query}"),
                        status: 0,
                        problem: "connection broke before a complete answer".into(),
                        source: Some(e.into()),
                    })
                }
            }
        }
        if timed_out {
            return Err(Error::Timeout {
                tried,
                seconds: timeout.as_secs_f64(),
                may_have_been_carried_out: false,
            });
        }
        if let Some((controller, problem)) = tls_failure {
            return Err(Error::Tls {
                controller,
                problem,
            });
        }
        Err(Error::Connection {
            tried,
            source: last_error,
        })
    }
}

/// What a TLS failure means for the user, from the rendered error chain; `None` when the error is
/// not about TLS. The fix names the setting generically; frontends add their option names.
pub(crate) fn tls_problem(chain: &str) -> Option<String> {
    let fix = if chain.contains("invalid peer certificate") {
        if chain.contains("UnknownIssuer") || chain.contains("BadSignature") {
            "the controller's certificate is not signed by a trusted CA; configure the CA file that signed it (the system CA store is used otherwise)"
        } else if chain.contains("NotValidForName") {
            "the controller's certificate is not valid for the host name used; list the controller by a name or address its certificate carries"
        } else if chain.contains("Expired") || chain.contains("NotValidYet") {
            "the controller's certificate is outside its validity period; renew it (or check this host's clock)"
        } else {
            "the controller's certificate was rejected; check the CA file and the controller's certificate"
        }
    } else if chain.contains("CertificateRequired") || chain.contains("HandshakeFailure") {
        "the controller requires a client certificate; configure a client certificate and key signed by a CA the controller trusts"
    } else if chain.contains("received fatal alert") {
        "the controller refused this client's certificate; configure a client certificate and key signed by a CA the controller trusts"
    } else if chain.contains("InvalidContentType") || chain.contains("corrupt message") {
        "the controller does not speak TLS on that port; use http:// (port 3370) or the controller's HTTPS port (3371)"
    } else {
        return None;
    };
    let detail = [
        "invalid peer certificate",
        "received fatal alert",
        "corrupt message",
    ]
    .iter()
    .find_map(|k| chain.find(k).map(|at| &chain[at..]))
    .unwrap_or(chain);
    Some(format!("{fix} ({detail})"))
}

use crate::error::chain as error_chain;

#[cfg(test)]
mod tests {
    use super::tls_problem;

    #[test]
    fn tls_failures_are_told_apart() {
        let cases = [
            ("error sending request: client error (Connect): invalid peer certificate: UnknownIssuer", "not signed by a trusted CA"),
            ("client error (Connect): invalid peer certificate: NotValidForName", "not valid for the host name"),
            ("client error (Connect): invalid peer certificate: Expired", "validity period"),
            ("connection error: received fatal alert: CertificateRequired", "requires a client certificate"),
            ("connection error: received fatal alert: UnknownCA", "refused this client's certificate"),
            ("client error (Connect): received corrupt message of type InvalidContentType", "does not speak TLS"),
        ];
        for (chain, needle) in cases {
            let p = tls_problem(chain).unwrap_or_default();
            assert!(p.contains(needle), "{chain} -> {p}");
        }
        assert_eq!(
            tls_problem("tcp connect error: Connection refused (os error 111)"),
            None
        );
    }
}
