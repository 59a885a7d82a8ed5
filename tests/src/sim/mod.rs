//! LINSTOR controller simulator: an independent implementation of the REST routes the
//! plugins use, with device backing, fault injection and request statistics for tests.

pub mod backing;
pub mod core;
pub mod drbd;
mod handlers;
pub mod lenient;
pub mod model;
pub mod placement;
pub mod rc;
pub mod render;
pub mod routes;
pub mod server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use backing::Backend;
pub use backing::Backing;
use core::Core;
use server::{lock, Faults, Shared};

/// TLS material for the HTTPS listener.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub nodes: Vec<String>,
    pub backing: Backing,
    pub dev_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub state_file: Option<PathBuf>,
    pub pool_name: String,
    pub pool_size_gib: u64,
    pub tls: Option<TlsConfig>,
    pub token: Option<String>,
    /// Require HTTP basic auth with this `(user, password)`, as LINSTOR does with LDAP enabled.
    pub basic_auth: Option<(String, String)>,
    pub clone_delay: Duration,
    pub latency: Duration,
    /// Node properties (e.g. `Aux/site`) for `replicas_on_same` / `replicas_on_different`.
    pub node_props: BTreeMap<String, BTreeMap<String, String>>,
    /// Controller version to report and emulate (behaviour that changed between releases
    /// follows it), e.g. `1.31.1`.
    pub version: String,
    /// Time a replica added to a definition that already has data stays `SyncTarget`.
    pub resync: Duration,
    /// Time a satellite takes to deploy a new resource (its disk is `Inconsistent` until then).
    pub deploy_delay: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            nodes: vec!["n1".into(), "n2".into(), "n3".into()],
            backing: Backing::None,
            dev_dir: None,
            data_dir: None,
            state_file: None,
            pool_name: "DfltStorPool".into(),
            pool_size_gib: 100,
            tls: None,
            token: None,
            basic_auth: None,
            clone_delay: Duration::from_millis(200),
            latency: Duration::ZERO,
            node_props: BTreeMap::new(),
            version: core::DEFAULT_VERSION.into(),
            resync: Duration::from_millis(core::DEFAULT_RESYNC_MS),
            deploy_delay: Duration::ZERO,
        }
    }
}

/// How an injected failure answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// 500 with a satellite-style `FAIL_UNKNOWN_ERROR` entry and `error_report_ids`.
    Status500,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 502 with an HTML body, as a proxy would answer.
    Html,
    /// Content-Length of a full body, half of it sent, then the connection closes.
    Truncated,
    /// The connection closes without any answer.
    Reset,
    /// 501 with an empty body: an endpoint this controller does not have (e.g.
    /// `query-size-info` on an old LINSTOR).
    NotImplemented,
    /// 200 with a JSON object that is none of the documented answers.
    OtherJson,
}

/// A fault to inject.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Delay every answer by this much (zero turns it off).
    Latency(Duration),
    /// Fail the next `count` API requests without executing them.
    FailNext { count: u32, kind: FailKind },
    /// Fail only the `nth` (1-based) request whose method matches and whose path contains
    /// `path_contains`. With `execute` the request is carried out first and only the reply
    /// is broken (the "committed but answer lost" case).
    FailMatching {
        method: String,
        path_contains: String,
        nth: u32,
        kind: FailKind,
        execute: bool,
    },
    /// Hold the `nth` (1-based) request whose method matches and whose path contains
    /// `path_contains` until [`Sim::release_pause`]; with `after_execute` it is carried out
    /// first and only its answer is held. [`Sim::paused`] reports the hit, so a test can kill
    /// the client exactly at that step.
    Pause {
        method: String,
        path_contains: String,
        nth: u32,
        after_execute: bool,
    },
    /// Accept the connection, read the request, never answer: matching requests (all when
    /// both filters are `None`) are held until the fault is cleared or `max` has passed,
    /// then the connection closes.
    Hang {
        method: Option<String>,
        path_contains: Option<String>,
        max: Duration,
    },
    /// New connections never complete: accepted by the kernel, then nothing is read or
    /// written (no TLS handshake either) until cleared or `max` has passed.
    Blackhole { max: Duration },
    /// Matching answers send their headers (with the full `Content-Length`) and the first
    /// byte of the body, then stall until cleared or `max` has passed, then the connection
    /// closes.
    Drip {
        method: Option<String>,
        path_contains: Option<String>,
        max: Duration,
    },
    /// Remove all faults (the log of mutating requests is kept); held connections close.
    Clear,
}

/// A running simulator.
#[derive(Debug)]
pub struct Sim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: bool,
    task: Option<tokio::task::JoinHandle<()>>,
    dev_dir: PathBuf,
    data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    stopped: bool,
}

fn load_tls(t: &TlsConfig) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(&t.cert).with_context(|| format!("open {}", t.cert.display()))?,
    ))
    .collect::<Result<_, _>>()?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(&t.key).with_context(|| format!("open {}", t.key.display()))?,
    ))?
    .context("no private key found")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)?;
    let cfg = match &t.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in rustls_pemfile::certs(&mut std::io::BufReader::new(
                std::fs::File::open(ca).with_context(|| format!("open {}", ca.display()))?,
            )) {
                roots.add(c?)?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()?;
            builder
                .with_client_cert_verifier(v)
                .with_single_cert(certs, key)?
        }
        None => builder.with_no_client_auth().with_single_cert(certs, key)?,
    };
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

impl Sim {
    /// Starts the simulator on the current tokio runtime.
    pub async fn start(cfg: SimConfig) -> anyhow::Result<Sim> {
        let mut tmp = None;
        let base = match (&cfg.data_dir, &cfg.state_file) {
            (Some(d), _) => d.clone(),
            (None, Some(s)) => s
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
                .join("linstor-sim-data"),
            (None, None) => {
                let t = tempfile::Builder::new().prefix("linstor-sim").tempdir()?;
                let p = t.path().to_path_buf();
                tmp = Some(t);
                p
            }
        };
        let data_dir = base.clone();
        let dev_dir = cfg.dev_dir.clone().unwrap_or_else(|| base.join("dev"));
        std::fs::create_dir_all(&data_dir)?;
        std::fs::create_dir_all(&dev_dir)?;
        let be = Backend {
            mode: cfg.backing,
            dev_dir: dev_dir.clone(),
            data_dir: data_dir.clone(),
        };
        if be.mode == Backing::Loop {
            be.detach_stale();
        }
        let mut core = Core::new(
            be,
            &cfg.nodes,
            &cfg.pool_name,
            cfg.pool_size_gib * 1024 * 1024,
            cfg.clone_delay.as_millis() as u64,
        );
        if core::parse_version(&cfg.version).is_none() {
            anyhow::bail!(
                "invalid controller version '{}': give major.minor.patch, e.g. 1.31.1",
                cfg.version
            );
        }
        core.version = cfg.version.clone();
        core.resync_ms = cfg.resync.as_millis() as u64;
        core.deploy_delay_ms = cfg.deploy_delay.as_millis() as u64;
        if let Some(sf) = &cfg.state_file {
            if sf.exists() {
                let data = std::fs::read(sf).with_context(|| format!("read {}", sf.display()))?;
                core.st = serde_json::from_slice(&data)
                    .with_context(|| format!("parse {}", sf.display()))?;
                core.normalize();
                core.reattach_all();
            }
        }
        for n in core.st.nodes.values_mut() {
            if let Some(p) = cfg.node_props.get(&n.name) {
                n.props.extend(p.clone());
            }
        }
        for n in &cfg.nodes {
            std::fs::create_dir_all(dev_dir.join(n))?;
        }
        let tls = cfg.tls.as_ref().map(load_tls).transpose()?;
        let listener = TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("bind {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        let (down, _) = watch::channel(false);
        let (stop, _) = watch::channel(false);
        let mut faults = Faults::default();
        faults.apply(Fault::Latency(cfg.latency));
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            stats: Mutex::new(BTreeMap::new()),
            count: AtomicU64::new(0),
            handling: Default::default(),
            holding: Default::default(),
            faults: Mutex::new(faults),
            token: cfg.token.clone(),
            basic_auth: cfg.basic_auth.clone(),
            state_file: cfg.state_file.clone(),
            down,
            stop,
        });
        shared.save(&lock(&shared.core));
        let tls_on = tls.is_some();
        let task = tokio::spawn(server::accept_loop(shared.clone(), addr, listener, tls));
        Ok(Sim {
            shared,
            addr,
            tls: tls_on,
            task: Some(task),
            dev_dir,
            data_dir,
            _tmp: tmp,
            stopped: false,
        })
    }

    /// Starts the simulator on its own runtime, for synchronous tests.
    pub fn start_blocking(cfg: SimConfig) -> anyhow::Result<BlockingSim> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let sim = rt.block_on(Sim::start(cfg))?;
        Ok(BlockingSim { rt, sim: Some(sim) })
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Device root of a node: its volumes appear at `<root>/drbd/by-res/<rsc>/<vlmnr>`.
    pub fn dev_root(&self, node: &str) -> PathBuf {
        self.dev_dir.join(node)
    }

    pub fn dev_dir(&self) -> &Path {
        &self.dev_dir
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Number of API requests (everything but `/sim/`) since start or the last reset.
    pub fn request_count(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// Per-route counts keyed `"METHOD /route/{pattern}"`.
    pub fn stats(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.stats).clone()
    }

    pub fn reset_stats(&self) {
        lock(&self.shared.stats).clear();
        self.shared.count.store(0, Ordering::Relaxed);
        self.shared.handling.reset();
        self.shared.holding.reset();
    }

    /// Time the simulator spent handling API requests since start or the last reset
    /// (injected latency excluded; overlapping requests count once).
    pub fn server_time(&self) -> Duration {
        self.shared.handling.total()
    }

    /// Time in which the simulator held at least one API request for its answer since start or
    /// the last reset, injected latency included: what its clients waited for it.
    pub fn held_time(&self) -> Duration {
        self.shared.holding.total()
    }

    /// Carries out one API request in-process (no HTTP, not counted in the statistics), e.g.
    /// to seed thousands of volumes quickly. Returns the status and the JSON reply.
    pub fn call(&self, method: &str, path: &str, body: &[u8]) -> (u16, Option<serde_json::Value>) {
        let segs: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(str::to_string)
            .collect();
        let routes::RouteMatch::Found(pat, params) = routes::match_route(method, &segs) else {
            return (404, None);
        };
        let mut core = lock(&self.shared.core);
        core.tick();
        let r = core.dispatch(
            method,
            pat,
            &core::Req {
                p: params,
                query: &[],
                body,
            },
        );
        if method != "GET" {
            self.shared.save(&core);
        }
        (r.status, r.body)
    }

    pub fn inject(&self, f: Fault) {
        lock(&self.shared.faults).apply(f);
    }

    pub fn clear_faults(&self) {
        self.inject(Fault::Clear);
    }

    /// Every mutating API request (not GET/HEAD) since start or the last
    /// [`Sim::clear_mutations`], in arrival order, as `"METHOD /path"`.
    pub fn mutations(&self) -> Vec<String> {
        lock(&self.shared.faults).mutations.clone()
    }

    pub fn clear_mutations(&self) {
        lock(&self.shared.faults).mutations.clear();
    }

    /// The request held by a [`Fault::Pause`], as `"METHOD /path"`, once it arrived.
    pub fn paused(&self) -> Option<String> {
        lock(&self.shared.faults).held.clone()
    }

    /// Lets a held request go on (`proceed`) or drops it: before execution it is then never
    /// carried out, after execution its answer is lost (the connection resets).
    pub fn release_pause(&self, proceed: bool) {
        lock(&self.shared.faults).release(proceed);
    }

    /// Going down refuses new connections and closes open ones; coming up re-binds the port.
    pub fn set_down(&self, down: bool) {
        let _ = self.shared.down.send(down);
    }

    /// Forces `state.in_use` of a resource; returns false when the resource does not exist.
    pub fn set_in_use(&self, rsc: &str, node: &str, in_use: bool) -> bool {
        let mut core = lock(&self.shared.core);
        let r = core.set_in_use(rsc, node, in_use);
        self.shared.save(&core);
        r
    }

    pub fn set_node_online(&self, node: &str, online: bool) -> bool {
        let mut core = lock(&self.shared.core);
        let r = core.set_node_online(node, online);
        self.shared.save(&core);
        r
    }

    /// RDs, resources with flags, snapshots and props, for assertions.
    pub fn state(&self) -> serde_json::Value {
        let mut core = lock(&self.shared.core);
        core.tick();
        core.snapshot_state()
    }

    fn shutdown_sync(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let _ = self.shared.stop.send(true);
        let mut core = lock(&self.shared.core);
        self.shared.save(&core);
        core.detach_all();
    }

    /// Stops listening and detaches loop devices (files are kept when a state file is used).
    pub async fn stop(mut self) {
        let _ = self.shared.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.shutdown_sync();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown_sync();
    }
}

/// A simulator with its own runtime; dereferences to [`Sim`].
#[derive(Debug)]
pub struct BlockingSim {
    rt: tokio::runtime::Runtime,
    sim: Option<Sim>,
}

impl std::ops::Deref for BlockingSim {
    type Target = Sim;

    fn deref(&self) -> &Sim {
        self.sim.as_ref().expect("simulator present until drop")
    }
}

impl BlockingSim {
    pub fn stop(mut self) {
        if let Some(s) = self.sim.take() {
            self.rt.block_on(s.stop());
        }
    }
}

impl Drop for BlockingSim {
    fn drop(&mut self) {
        if let Some(s) = self.sim.take() {
            self.rt.block_on(s.stop());
        }
    }
}
