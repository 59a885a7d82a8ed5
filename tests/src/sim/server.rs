//! HTTP(S) front of the simulator: connection handling, bearer token, LDAP-style basic auth, fault injection,
//! request statistics, state persistence and the `/sim/` control routes.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::core::{Core, Req, Resp, NO_ANSWER};
use super::drbd::RoleError;
use super::rc::{
    entries_json, Entry, FAIL_ACC_DENIED_COMMAND, FAIL_INVLD_ENCRYPT_TYPE, FAIL_SIGN_IN,
    FAIL_SIGN_IN_MISSING_CREDENTIALS, FAIL_UNKNOWN_ERROR,
};
use super::routes::{match_route, RouteMatch};
use super::{FailKind, Fault};

/// Response body: complete, cut off after half of it (a `Truncated` fault), or one byte
/// followed by a stall (a `Drip` fault; the future ends the stall).
pub enum SimBody {
    Full(Option<Bytes>),
    Truncated(Option<Bytes>, u64, bool),
    Stall(Option<Bytes>, u64, Pin<Box<dyn Future<Output = ()> + Send>>),
}

impl std::fmt::Debug for SimBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimBody::Full(b) => f.debug_tuple("Full").field(b).finish(),
            SimBody::Truncated(b, n, x) => f
                .debug_tuple("Truncated")
                .field(b)
                .field(n)
                .field(x)
                .finish(),
            SimBody::Stall(b, n, _) => f.debug_tuple("Stall").field(b).field(n).finish(),
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        match this {
            SimBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            SimBody::Truncated(b, _, flushed) => match b.take() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None if !*flushed => {
                    *flushed = true;
                    let w = cx.waker().clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        w.wake();
                    });
                    Poll::Pending
                }
                None => Poll::Ready(Some(Err(io::Error::other("truncated by fault injection")))),
            },
            SimBody::Stall(b, _, until) => match b.take() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => match until.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(io::Error::other(
                        "stalled body dropped by fault injection",
                    )))),
                    Poll::Pending => Poll::Pending,
                },
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, SimBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            SimBody::Truncated(_, full, _) | SimBody::Stall(_, full, _) => {
                SizeHint::with_exact(*full)
            }
        }
    }
}

#[derive(Debug)]
struct Matching {
    method: String,
    path_contains: String,
    nth: u32,
    seen: u32,
    kind: FailKind,
    execute: bool,
}

/// Bound of the mutation log of a long-running simulator (the oldest half is dropped).
const MUTATION_LOG_MAX: usize = 100_000;

#[derive(Debug)]
struct PauseAt {
    method: String,
    path_contains: String,
    nth: u32,
    seen: u32,
    after_execute: bool,
}

/// What a request held by a pause does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    Hold,
    Proceed,
    Abandon,
}

#[derive(Debug, Default)]
pub struct Faults {
    latency: Duration,
    fail_next: Option<(u32, FailKind)>,
    matching: Vec<Matching>,
    pause: Option<PauseAt>,
    gate: Option<watch::Sender<Release>>,
    pub held: Option<String>,
    pub mutations: Vec<String>,
    hang: Option<NetFault>,
    drip: Option<NetFault>,
    blackhole: Option<Duration>,
    /// Wakes every connection a hang, drip or blackhole holds when the faults are cleared.
    cleared: Arc<tokio::sync::Notify>,
}

/// A hang or drip: which requests (all when both filters are `None`), and for how long.
#[derive(Debug, Clone)]
struct NetFault {
    method: Option<String>,
    path_contains: Option<String>,
    max: Duration,
}

impl NetFault {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

impl Faults {
    pub fn apply(&mut self, f: Fault) {
        match f {
            Fault::Latency(d) => self.latency = d,
            Fault::FailNext { count, kind } => {
                self.fail_next = (count > 0).then_some((count, kind))
            }
            Fault::FailMatching {
                method,
                path_contains,
                nth,
                kind,
                execute,
            } => self.matching.push(Matching {
                method,
                path_contains,
                nth: nth.max(1),
                seen: 0,
                kind,
                execute,
            }),
            Fault::Pause {
                method,
                path_contains,
                nth,
                after_execute,
            } => {
                self.release(true);
                self.held = None;
                self.pause = Some(PauseAt {
                    method,
                    path_contains,
                    nth: nth.max(1),
                    seen: 0,
                    after_execute,
                });
            }
            Fault::Hang {
                method,
                path_contains,
                max,
            } => {
                self.hang = Some(NetFault {
                    method,
                    path_contains,
                    max,
                })
            }
            Fault::Drip {
                method,
                path_contains,
                max,
            } => {
                self.drip = Some(NetFault {
                    method,
                    path_contains,
                    max,
                })
            }
            Fault::Blackhole { max } => self.blackhole = Some(max),
            Fault::Clear => {
                self.release(true);
                self.cleared.notify_waiters();
                let mutations = std::mem::take(&mut self.mutations);
                *self = Faults::default();
                self.mutations = mutations;
            }
        }
    }

    pub fn release(&mut self, proceed: bool) {
        if let Some(g) = self.gate.take() {
            let _ = g.send(if proceed {
                Release::Proceed
            } else {
                Release::Abandon
            });
        }
        self.pause = None;
    }

    /// Records a mutating request and decides whether it is held: `(after_execute, gate)`.
    fn check_pause(
        &mut self,
        method: &str,
        path: &str,
    ) -> Option<(bool, watch::Receiver<Release>)> {
        if method != "GET" && method != "HEAD" {
            if self.mutations.len() >= MUTATION_LOG_MAX {
                self.mutations.drain(..MUTATION_LOG_MAX / 2);
            }
            self.mutations.push(format!("{method} {path}"));
        }
        let p = self.pause.as_mut()?;
        if !(p.method.eq_ignore_ascii_case(method) && path.contains(&p.path_contains)) {
            return None;
        }
        p.seen += 1;
        if p.seen != p.nth {
            return None;
        }
        let after = p.after_execute;
        let (tx, rx) = watch::channel(Release::Hold);
        self.gate = Some(tx);
        Some((after, rx))
    }

    /// How long a matching request is held without an answer, if a hang applies.
    fn check_hang(&self, method: &str, path: &str) -> Option<Duration> {
        self.hang
            .as_ref()
            .filter(|h| h.matches(method, path))
            .map(|h| h.max)
    }

    /// How long a matching answer's body stalls, if a drip applies.
    fn check_drip(&self, method: &str, path: &str) -> Option<Duration> {
        self.drip
            .as_ref()
            .filter(|h| h.matches(method, path))
            .map(|h| h.max)
    }

    /// A future that ends after `max` or when the faults are cleared.
    fn hold(&self, max: Duration) -> impl Future<Output = ()> + Send + 'static {
        let n = self.cleared.clone();
        async move {
            let cleared = n.notified();
            tokio::select! {
                _ = tokio::time::sleep(max) => {}
                _ = cleared => {}
            }
        }
    }

    /// Decides whether this request fails; `(kind, execute_first)`.
    fn check(&mut self, method: &str, path: &str) -> Option<(FailKind, bool)> {
        let mut hit = None;
        for m in &mut self.matching {
            if m.method.eq_ignore_ascii_case(method) && path.contains(&m.path_contains) {
                m.seen += 1;
                if m.seen == m.nth && hit.is_none() {
                    hit = Some((m.kind, m.execute));
                }
            }
        }
        self.matching.retain(|m| m.seen < m.nth);
        if hit.is_some() {
            return hit;
        }
        if let Some((n, kind)) = self.fail_next {
            self.fail_next = (n > 1).then_some((n - 1, kind));
            return Some((kind, false));
        }
        None
    }
}

/// Bound of a hang, drip or blackhole set through `/sim/fault` without `max_ms`.
const DEFAULT_NET_FAULT_MS: u64 = 60_000;

/// How long a request the real controller would never answer is held before the
/// connection is closed (clients give up long before).
const NO_ANSWER_HOLD: Duration = Duration::from_secs(600);

/// State shared by all connections.
#[derive(Debug)]
pub struct Shared {
    pub core: Mutex<Core>,
    pub stats: Mutex<BTreeMap<String, u64>>,
    pub count: AtomicU64,
    /// Time in which at least one API request was being handled (routing to a serialized
    /// reply; requests handled at the same time count once), latency injection excluded.
    pub handling: Busy,
    /// Time in which at least one API request was held for its answer, latency injection
    /// included: what a client waits for the controller.
    pub holding: Busy,
    pub faults: Mutex<Faults>,
    pub token: Option<String>,
    /// `(user, password)` a controller with `[ldap] enabled` would accept.
    pub basic_auth: Option<(String, String)>,
    pub state_file: Option<PathBuf>,
    pub down: watch::Sender<bool>,
    pub stop: watch::Sender<bool>,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Time in which at least one of several overlapping activities was going on.
#[derive(Debug, Default)]
pub struct Busy {
    /// Activities going on now, and since when one has been.
    now: Mutex<(u32, Option<Instant>)>,
    /// Microseconds in total.
    us: AtomicU64,
}

impl Busy {
    /// One activity starts; it ends when the guard is dropped.
    fn enter(&self) -> BusyGuard<'_> {
        let mut n = lock(&self.now);
        if n.0 == 0 {
            n.1 = Some(Instant::now());
        }
        n.0 += 1;
        BusyGuard(self)
    }

    /// The total so far.
    pub fn total(&self) -> Duration {
        Duration::from_micros(self.us.load(Ordering::Relaxed))
    }

    /// Back to zero (activities going on keep counting from now).
    pub fn reset(&self) {
        self.us.store(0, Ordering::Relaxed);
        let mut n = lock(&self.now);
        if n.0 > 0 {
            n.1 = Some(Instant::now());
        }
    }
}

/// One activity of a [`Busy`]; adds to its total when the last one ends.
struct BusyGuard<'a>(&'a Busy);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        let mut n = lock(&self.0.now);
        n.0 = n.0.saturating_sub(1);
        if n.0 == 0 {
            if let Some(since) = n.1.take() {
                self.0
                    .us
                    .fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
            }
        }
    }
}

impl Shared {
    pub fn save(&self, core: &Core) {
        let Some(path) = &self.state_file else { return };
        let Ok(data) = serde_json::to_vec_pretty(&core.st) else {
            return;
        };
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, data).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

fn to_response(r: Resp) -> Response<SimBody> {
    let body = r
        .body
        .map(|v| Bytes::from(serde_json::to_vec(&v).unwrap_or_default()));
    let mut b = Response::builder().status(r.status);
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(SimBody::Full(body))
        .unwrap_or_else(|_| Response::new(SimBody::Full(None)))
}

fn fault_response(
    kind: FailKind,
    real: Option<Response<SimBody>>,
) -> Result<Response<SimBody>, io::Error> {
    let text = |status: u16, ct: &str, body: &str| {
        Response::builder()
            .status(status)
            .header("content-type", ct)
            .body(SimBody::Full(Some(Bytes::from(body.to_string()))))
            .unwrap_or_else(|_| Response::new(SimBody::Full(None)))
    };
    Ok(match kind {
        FailKind::Status500 => {
            let e = Entry::new(FAIL_UNKNOWN_ERROR, "(Node: 'simulated') Simulated satellite failure")
                .details("injected by the simulator");
            let mut v = entries_json(&[e]);
            v[0]["error_report_ids"] = json!(["SIM-000001"]);
            to_response(Resp { status: 500, body: Some(v), headers: vec![] })
        }
        FailKind::Garbage => text(200, "application/json", "\u{1}garbage{{[not json"),
        FailKind::Html => text(
            502,
            "text/html",
            "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
        ),
        FailKind::Truncated => {
            let full = real
                .and_then(|_| None::<Bytes>)
                .unwrap_or_else(|| Bytes::from_static(b"[{\"ret_code\": 20447233, \"message\": \"New resource definition created.\"}]"));
            let half = full.slice(..full.len() / 2);
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(SimBody::Truncated(Some(half), full.len() as u64, false))
                .unwrap_or_else(|_| Response::new(SimBody::Full(None)))
        }
        FailKind::Reset => return Err(io::Error::other("connection reset by fault injection")),
        FailKind::NotImplemented => text(501, "text/plain", ""),
        FailKind::OtherJson => text(200, "application/json", "{\"unexpected\": [1, 2]}"),
    })
}

/// LINSTOR's LDAP check (`RequestHelper.checkLDAPAuth`): no header is 401 with a `Basic`
/// challenge, another scheme or a header without `user:password` is 500, wrong credentials 403.
fn check_basic(expected: &(String, String), auth: Option<&str>) -> Option<Resp> {
    use base64::Engine as _;
    let fail = |status: u16, code: u64, msg: &str, challenge: bool| {
        let headers = if challenge {
            vec![("www-authenticate".into(), "Basic realm=\"Linstor\"".into())]
        } else {
            vec![]
        };
        Some(Resp {
            status,
            body: Some(entries_json(&[Entry::new(code, msg)])),
            headers,
        })
    };
    let Some(auth) = auth else {
        return fail(
            401,
            FAIL_SIGN_IN_MISSING_CREDENTIALS,
            "Login required but no 'Authorization' header given.",
            true,
        );
    };
    let Some(encoded) = auth
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, rest)| rest.trim())
    else {
        return fail(
            500,
            FAIL_INVLD_ENCRYPT_TYPE,
            "Invalid Authorization method, only 'Basic' supported.",
            false,
        );
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    match decoded.as_deref().and_then(|d| d.split_once(':')) {
        None => fail(
            500,
            FAIL_INVLD_ENCRYPT_TYPE,
            "Basic authentication doesn't contain credential token.",
            false,
        ),
        Some((user, password)) if user == expected.0 && password == expected.1 => None,
        Some(_) => fail(
            403,
            FAIL_SIGN_IN,
            "Sign in failed: invalid credentials.",
            false,
        ),
    }
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    q.unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(kv), String::new()),
        })
        .collect()
}

async fn handle(sh: Arc<Shared>, req: Request<Incoming>) -> Result<Response<SimBody>, io::Error> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let holding = (!path.starts_with("/sim/")).then(|| sh.holding.enter());
    let query = parse_query(req.uri().query());
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if path.starts_with("/sim/") {
        return Ok(to_response(control(&sh, &method, &path, &body).await));
    }
    sh.count.fetch_add(1, Ordering::Relaxed);
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let rm = match_route(&method, &segs);
    let stat_key = match &rm {
        RouteMatch::Found(p, _) | RouteMatch::WrongMethod(p) => format!("{method} {p}"),
        RouteMatch::NotFound if path == "/health" => format!("{method} /health"),
        RouteMatch::NotFound => format!("{method} <unknown>"),
    };
    *lock(&sh.stats).entry(stat_key).or_default() += 1;
    if path != "/health" {
        if let Some(r) = sh
            .basic_auth
            .as_ref()
            .and_then(|b| check_basic(b, auth.as_deref()))
        {
            return Ok(to_response(r));
        }
        if let Some(tok) = &sh.token {
            let ok = auth.as_deref().is_some_and(|a| {
                a.len() > 7 && a[..7].eq_ignore_ascii_case("bearer ") && a[7..].trim() == tok
            });
            if !ok {
                let e = Entry::new(
                    FAIL_ACC_DENIED_COMMAND,
                    "Unauthorized: token invalid or not provided",
                );
                return Ok(to_response(Resp {
                    status: 401,
                    body: Some(entries_json(&[e])),
                    headers: vec![(
                        "www-authenticate".into(),
                        "Bearer realm=\"linstor-controller\"".into(),
                    )],
                }));
            }
        }
    }
    let hang = {
        let f = lock(&sh.faults);
        f.check_hang(&method, &path).map(|max| f.hold(max))
    };
    if let Some(h) = hang {
        h.await;
        return Err(io::Error::other(
            "request held without answer by fault injection",
        ));
    }
    let (latency, fault, pause) = {
        let mut f = lock(&sh.faults);
        let pause = f.check_pause(&method, &path);
        (f.latency, f.check(&method, &path), pause)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some((false, rx)) = &pause {
        if held(&sh, format!("{method} {path}"), rx.clone()).await == Release::Abandon {
            return Err(io::Error::other(
                "held request abandoned by fault injection",
            ));
        }
    }
    let handling = sh.handling.enter();
    if let Some((kind, false)) = fault {
        return fault_response(kind, None);
    }
    let resp = match rm {
        RouteMatch::NotFound if path == "/health" => {
            if method == "GET" || method == "HEAD" {
                Resp::empty(200)
            } else {
                Resp::empty(405)
            }
        }
        RouteMatch::NotFound => Resp::entries(
            404,
            &[Entry::new(
                FAIL_UNKNOWN_ERROR,
                format!("Path '{path}' not found on server."),
            )],
        ),
        RouteMatch::WrongMethod(_) => Resp::empty(405),
        RouteMatch::Found(pat, params) => {
            let sh2 = sh.clone();
            let m2 = method.clone();
            tokio::task::spawn_blocking(move || {
                let mut core = lock(&sh2.core);
                let ticked = core.tick();
                let r = core.dispatch(
                    &m2,
                    pat,
                    &Req {
                        p: params,
                        query: &query,
                        body: &body,
                    },
                );
                if m2 != "GET" || ticked {
                    sh2.save(&core);
                }
                r
            })
            .await
            .unwrap_or_else(|_| {
                Resp::entries(
                    500,
                    &[Entry::new(FAIL_UNKNOWN_ERROR, "internal simulator error")],
                )
            })
        }
    };
    if resp.status == NO_ANSWER {
        drop(handling);
        drop(holding);
        tokio::time::sleep(NO_ANSWER_HOLD).await;
        return Err(io::Error::other(
            "request never answered, as the real controller",
        ));
    }
    let resp = to_response(resp);
    drop(handling);
    drop(holding);
    if let Some((true, rx)) = pause {
        if held(&sh, format!("{method} {path}"), rx).await == Release::Abandon {
            return Err(io::Error::other(
                "answer of a held request dropped by fault injection",
            ));
        }
    }
    if let Some((kind, true)) = fault {
        return fault_response(kind, Some(resp));
    }
    let drip = {
        let f = lock(&sh.faults);
        f.check_drip(&method, &path).map(|max| f.hold(max))
    };
    if let Some(until) = drip {
        return Ok(stall(resp, until).await);
    }
    Ok(resp)
}

/// The same answer, but its body stops after the first byte until `until` ends.
async fn stall(
    resp: Response<SimBody>,
    until: impl Future<Output = ()> + Send + 'static,
) -> Response<SimBody> {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        SimBody::Full(b) => b.unwrap_or_default(),
        SimBody::Truncated(b, _, _) | SimBody::Stall(b, _, _) => b.unwrap_or_default(),
    };
    let full = bytes.len() as u64;
    let first = (!bytes.is_empty()).then(|| bytes.slice(..1));
    Response::from_parts(parts, SimBody::Stall(first, full.max(1), Box::pin(until)))
}

/// Reports the request as held, then waits until the pause is released; a dropped gate
/// counts as proceed.
async fn held(sh: &Shared, what: String, mut rx: watch::Receiver<Release>) -> Release {
    lock(&sh.faults).held = Some(what);
    match rx.wait_for(|r| *r != Release::Hold).await {
        Ok(r) => *r,
        Err(_) => Release::Proceed,
    }
}

fn fault_from_json(v: &Value) -> Option<Fault> {
    let kind = |k: &Value| -> Option<FailKind> {
        match k.as_str()?.to_ascii_lowercase().as_str() {
            "status500" | "500" => Some(FailKind::Status500),
            "garbage" => Some(FailKind::Garbage),
            "html" => Some(FailKind::Html),
            "truncated" => Some(FailKind::Truncated),
            "reset" => Some(FailKind::Reset),
            "not_implemented" | "501" => Some(FailKind::NotImplemented),
            "other_json" => Some(FailKind::OtherJson),
            _ => None,
        }
    };
    if v.get("clear").and_then(Value::as_bool) == Some(true) {
        return Some(Fault::Clear);
    }
    if let Some(ms) = v.get("latency_ms").and_then(Value::as_u64) {
        return Some(Fault::Latency(Duration::from_millis(ms)));
    }
    if let Some(f) = v.get("fail_next") {
        return Some(Fault::FailNext {
            count: f.get("count").and_then(Value::as_u64).unwrap_or(1) as u32,
            kind: kind(f.get("kind")?)?,
        });
    }
    if let Some(f) = v.get("pause") {
        return Some(Fault::Pause {
            method: f.get("method")?.as_str()?.to_string(),
            path_contains: f.get("path_contains")?.as_str()?.to_string(),
            nth: f.get("nth").and_then(Value::as_u64).unwrap_or(1) as u32,
            after_execute: f
                .get("after_execute")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        });
    }
    let net = |f: &Value| {
        (
            f.get("method").and_then(Value::as_str).map(str::to_string),
            f.get("path_contains")
                .and_then(Value::as_str)
                .map(str::to_string),
            Duration::from_millis(
                f.get("max_ms")
                    .and_then(Value::as_u64)
                    .unwrap_or(DEFAULT_NET_FAULT_MS),
            ),
        )
    };
    if let Some(f) = v.get("hang") {
        let (method, path_contains, max) = net(f);
        return Some(Fault::Hang {
            method,
            path_contains,
            max,
        });
    }
    if let Some(f) = v.get("drip") {
        let (method, path_contains, max) = net(f);
        return Some(Fault::Drip {
            method,
            path_contains,
            max,
        });
    }
    if let Some(f) = v.get("blackhole") {
        return Some(Fault::Blackhole { max: net(f).2 });
    }
    if let Some(f) = v.get("fail_matching") {
        return Some(Fault::FailMatching {
            method: f.get("method")?.as_str()?.to_string(),
            path_contains: f.get("path_contains")?.as_str()?.to_string(),
            nth: f.get("nth").and_then(Value::as_u64).unwrap_or(1) as u32,
            kind: kind(f.get("kind")?)?,
            execute: f.get("execute").and_then(Value::as_bool).unwrap_or(false),
        });
    }
    None
}

async fn control(sh: &Arc<Shared>, method: &str, path: &str, body: &[u8]) -> Resp {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let bad = |m: &str| Resp {
        status: 400,
        body: Some(json!({"error": m})),
        headers: vec![],
    };
    let ok = Resp {
        status: 200,
        body: Some(json!({"ok": true})),
        headers: vec![],
    };
    match (method, path) {
        ("GET", "/sim/stats") => Resp {
            status: 200,
            body: Some(
                json!({"total": sh.count.load(Ordering::Relaxed), "routes": *lock(&sh.stats),
                       "server_us": sh.handling.total().as_micros() as u64,
                       "held_us": sh.holding.total().as_micros() as u64}),
            ),
            headers: vec![],
        },
        ("POST", "/sim/stats/reset") => {
            lock(&sh.stats).clear();
            sh.count.store(0, Ordering::Relaxed);
            sh.handling.reset();
            sh.holding.reset();
            ok
        }
        ("POST", "/sim/fault") => match fault_from_json(&v) {
            Some(f) => {
                lock(&sh.faults).apply(f);
                ok
            }
            None => bad("unrecognised fault"),
        },
        ("POST", "/sim/in-use") => {
            let (Some(r), Some(n), Some(u)) = (
                v.get("resource").and_then(Value::as_str),
                v.get("node").and_then(Value::as_str),
                v.get("in_use").and_then(Value::as_bool),
            ) else {
                return bad("need resource, node, in_use");
            };
            let mut core = lock(&sh.core);
            let res = if u {
                core.promote(r, n)
            } else if core.set_in_use(r, n, false) {
                Ok(())
            } else {
                Err(RoleError::NoResource)
            };
            match res {
                Ok(()) => {
                    sh.save(&core);
                    ok
                }
                Err(e) => Resp {
                    status: if e == RoleError::NoResource { 404 } else { 409 },
                    body: Some(json!({"error": e.to_string()})),
                    headers: vec![],
                },
            }
        }
        ("POST", "/sim/node-online") => {
            let (Some(n), Some(o)) = (
                v.get("node").and_then(Value::as_str),
                v.get("online").and_then(Value::as_bool),
            ) else {
                return bad("need node, online");
            };
            let mut core = lock(&sh.core);
            if core.set_node_online(n, o) {
                sh.save(&core);
                ok
            } else {
                Resp {
                    status: 404,
                    body: Some(json!({"error": "no such node"})),
                    headers: vec![],
                }
            }
        }
        ("GET", "/sim/pause") => Resp {
            status: 200,
            body: Some(json!({"held": lock(&sh.faults).held})),
            headers: vec![],
        },
        ("POST", "/sim/pause/release") => {
            let proceed = v.get("proceed").and_then(Value::as_bool).unwrap_or(true);
            lock(&sh.faults).release(proceed);
            ok
        }
        ("GET", "/sim/mutations") => Resp {
            status: 200,
            body: Some(json!(lock(&sh.faults).mutations)),
            headers: vec![],
        },
        ("GET", "/sim/routes") => Resp {
            status: 200,
            body: Some(Value::Array(
                super::routes::ROUTES
                    .iter()
                    .map(|r| json!({"method": r.method, "pattern": r.pattern}))
                    .collect(),
            )),
            headers: vec![],
        },
        ("GET", "/sim/state") => Resp {
            status: 200,
            body: Some(lock(&sh.core).snapshot_state()),
            headers: vec![],
        },
        _ => Resp {
            status: 404,
            body: Some(json!({"error": "unknown control route"})),
            headers: vec![],
        },
    }
}

async fn serve_conn<S>(sh: Arc<Shared>, io: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut down = sh.down.subscribe();
    let mut stop = sh.stop.subscribe();
    let svc = hyper::service::service_fn(move |req| handle(sh.clone(), req));
    let conn = hyper::server::conn::http1::Builder::new()
        .writev(false)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc);
    tokio::select! {
        _ = conn => {}
        _ = down.wait_for(|d| *d) => {}
        _ = stop.wait_for(|s| *s) => {}
    }
}

/// Accepts connections until stopped; drops the listener while "down".
pub async fn accept_loop(
    sh: Arc<Shared>,
    addr: SocketAddr,
    first: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut down = sh.down.subscribe();
    let mut stop = sh.stop.subscribe();
    let mut listener = Some(first);
    loop {
        if *stop.borrow() {
            break;
        }
        match &listener {
            Some(l) => {
                tokio::select! {
                    r = l.accept() => {
                        let Ok((s, _)) = r else { continue };
                        let _ = s.set_nodelay(true);
                        let hole = {
                            let f = lock(&sh.faults);
                            f.blackhole.map(|max| f.hold(max))
                        };
                        if let Some(h) = hole {
                            tokio::spawn(async move {
                                h.await;
                                drop(s);
                            });
                            continue;
                        }
                        let sh = sh.clone();
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            match tls {
                                Some(acc) => {
                                    if let Ok(t) = acc.accept(s).await {
                                        serve_conn(sh, t).await;
                                    }
                                }
                                None => serve_conn(sh, s).await,
                            }
                        });
                    }
                    r = down.changed() => {
                        if r.is_err() { break; }
                        if *down.borrow() { listener = None; }
                    }
                    _ = stop.changed() => break,
                }
            }
            None => {
                tokio::select! {
                    r = down.changed() => {
                        if r.is_err() { break; }
                        if !*down.borrow() {
                            for _ in 0..50 {
                                if let Ok(l) = TcpListener::bind(addr).await {
                                    listener = Some(l);
                                    break;
                                }
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        }
    }
}
