//! Executes parsed plugin calls through `linstor_common::volume::Storage` and the host
//! operations: create, remove, path and get here; mount reference counting in `driver/mount.rs`,
//! the list cache in `driver/cache.rs`, the reconciliation of local mounts at start in
//! `driver/reconcile.rs`.

mod cache;
mod mount;
mod reconcile;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use linstor_common::error::chain;
use linstor_common::naming::docker;
use linstor_common::volume::{
    bounded, CreateOutcome, CreateSpec, Storage, VolumeInfo, DATA_PLANE_BUDGET,
};
use linstor_common::Error;
use serde_json::{json, Map, Value};
use tracing::{info, instrument, warn};

use crate::options::{FileConfig, OptionError, RawOptions, VolumeOptions};
use crate::protocol::{Request, Response, Volume};
use crate::state::{KnownVolume, State, StateError, StateStore};

use cache::ListCache;

/// Everything a plugin call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A LINSTOR or host error from `linstor-common`; [`Failure::message`] adds Docker's
    /// advice.
    #[error(transparent)]
    Linstor {
        /// The error.
        source: Error,
    },
    /// A bad option or configuration value.
    #[error(transparent)]
    Option(#[from] OptionError),
    /// The volume does not exist (or belongs to another Docker name).
    #[error("no such volume '{0}'")]
    NoSuchVolume(String),
    /// The volume is in use on other nodes.
    #[error("volume '{volume}' is in use on node {nodes}; stop the container using it there first (DRBD allows one writer at a time)")]
    InUseElsewhere {
        /// Docker name.
        volume: String,
        /// Node names.
        nodes: String,
    },
    /// Remove while mounted.
    #[error("volume '{volume}' is mounted {place}; stop the containers using it first")]
    Mounted {
        /// Docker name.
        volume: String,
        /// "on this node by N container mount(s)" or "on node X".
        place: String,
    },
    /// The LINSTOR name is taken by a different Docker volume.
    #[error("cannot create volume '{volume}': its LINSTOR resource '{rd}' already holds Docker volume '{other}' (LINSTOR names are case-insensitive); choose another name")]
    NameClash {
        /// Docker name asked for.
        volume: String,
        /// LINSTOR name.
        rd: String,
        /// Docker name using it.
        other: String,
    },
    /// The state file failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// Mount of a volume whose device is here while no controller answers, but this plugin
    /// never saw the volume (its ownership cannot be checked).
    #[error("volume '{volume}': no LINSTOR controller answered (tried {controllers}) and this plugin has no record of the volume; retry once a controller answers")]
    UnknownOffline {
        /// Docker name.
        volume: String,
        /// The controllers tried.
        controllers: String,
    },
    /// The whole call did not finish within its bound, kept under dockerd's own limit.
    #[error("{call} of volume '{volume}' did not finish within {seconds} s (no answer from LINSTOR controller {controllers}); a change may have been carried out: retrying converges")]
    Deadline {
        /// The plugin call.
        call: &'static str,
        /// Docker name.
        volume: String,
        /// The bound.
        seconds: u64,
        /// The controllers tried.
        controllers: String,
    },
}

impl From<Error> for Failure {
    fn from(source: Error) -> Self {
        Failure::Linstor { source }
    }
}

impl Failure {
    /// The text Docker shows (`{"Err": …}`): the error with its sources, plus advice.
    pub fn message(&self) -> String {
        match self {
            Failure::Linstor { source } => linstor_message(source),
            Failure::Option(_)
            | Failure::NoSuchVolume(_)
            | Failure::InUseElsewhere { .. }
            | Failure::Mounted { .. }
            | Failure::NameClash { .. }
            | Failure::State(_)
            | Failure::UnknownOffline { .. }
            | Failure::Deadline { .. } => chain(self),
        }
    }
}

/// The text Docker shows for a `linstor-common` error: one match over every variant.
pub fn linstor_message(e: &Error) -> String {
    let full = chain(e);
    match e {
        Error::Connection { .. } => format!(
            "{e}; check the controllers setting (--controllers, LS_CONTROLLERS or controllers= in {})",
            crate::options::CONFIG_FILE
        ),
        Error::Tls { .. } => format!(
            "{e}; set cafile, certfile and keyfile in {} (or LS_CAFILE, LS_CERTFILE, LS_KEYFILE)",
            crate::options::CONFIG_FILE
        ),
        Error::Timeout {
            may_have_been_carried_out,
            ..
        } => {
            let advice = if *may_have_been_carried_out {
                "the operation may still complete, retry later"
            } else {
                "retry later"
            };
            match crate::options::BOUND_NAMES.timeout_hint(e) {
                Some(hint) => format!("{e}; {advice}; {hint}"),
                None => format!("{e}; {advice}"),
            }
        }
        Error::NotFound { .. } => full,
        Error::AlreadyExists { .. } => full,
        Error::InUse { .. } => format!("{e}; stop the containers using it first"),
        Error::Api {
            status: 401 | 403, ..
        } => format!(
            "{full}; check username and password in {} (or LS_USERNAME, LS_PASSWORD)",
            crate::options::CONFIG_FILE
        ),
        Error::Api { .. } => full,
        Error::Protocol { .. } => full,
        Error::InvalidInput(_) => full,
        Error::Config(_) => full,
        Error::ConfigSource { .. } => full,
        Error::NotOwned { .. } => full,
        Error::Unsupported(_) => full,
        Error::SatelliteOffline { .. } => full,
        Error::Host { .. } => full,
        Error::HostIo { .. } => full,
        Error::DeviceTimeout { .. } => format!(
            "{e}; the volume was attached but its device did not show up (is DRBD running on this node?)"
        ),
        Error::State { .. } => full,
    }
}

/// True when the error means no controller answered: unreachable, timed out, or the
/// connection broke before any answer (HTTP status 0), as when a controller goes down.
pub fn controller_outage(e: &Error) -> bool {
    e.is_controller_unreachable() || matches!(e, Error::Protocol { status: 0, .. })
}

/// Settings of one plugin instance.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Where filesystems are mounted: `<mount_root>/<rd>`, Docker gets `<…>/data`.
    pub mount_root: PathBuf,
    /// docker-volume.conf (re-read at each Create, as the peer does).
    pub config_file: PathBuf,
    /// Where the boot id is read.
    pub boot_id_file: PathBuf,
    /// The mount table read at reconciliation.
    pub mounts_file: PathBuf,
    /// How old the volume cache may be for `List` to answer from it; zero lists from the
    /// controller every time.
    pub list_cache_ttl: Duration,
}

/// Bound of a whole Get, List, Path or Capabilities call (dockerd gives up after 1 minute).
pub const QUICK_CALL_BOUND: Duration = Duration::from_secs(30);
/// Bound of a whole Create, Remove, Mount or Unmount call (dockerd gives up after 2 minutes).
pub const CALL_BOUND: Duration = Duration::from_secs(90);

/// Default of [`DriverConfig::list_cache_ttl`].
pub const DEFAULT_LIST_CACHE_TTL: Duration = Duration::from_secs(10);

impl DriverConfig {
    /// Production paths under `mount_root`.
    pub fn new(mount_root: PathBuf, config_file: PathBuf) -> Self {
        Self {
            mount_root,
            config_file,
            boot_id_file: PathBuf::from("/proc/sys/kernel/random/boot_id"),
            mounts_file: PathBuf::from("/proc/self/mounts"),
            list_cache_ttl: DEFAULT_LIST_CACHE_TTL,
        }
    }
}

/// The plugin: one per socket.
#[derive(Debug)]
pub struct Driver {
    storage: Storage,
    cfg: DriverConfig,
    store: StateStore,
    state: Mutex<State>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    cache: Mutex<ListCache>,
    refresh_lock: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn rfc3339_ms(ms: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn human_kib(kib: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = kib as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl Driver {
    /// A driver over `storage`, with its state in `state_dir`.
    pub fn new(storage: Storage, cfg: DriverConfig, state_dir: &Path) -> Result<Self, Failure> {
        let store = StateStore::new(state_dir)?;
        let mut state = store.load()?;
        if state.mounts.is_empty() {
            state.boot_id = crate::state::boot_id(&cfg.boot_id_file);
        }
        Ok(Self {
            storage,
            cfg,
            store,
            state: Mutex::new(state),
            locks: Mutex::new(HashMap::new()),
            cache: Mutex::new(ListCache::default()),
            refresh_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The settings.
    pub fn config(&self) -> &DriverConfig {
        &self.cfg
    }

    /// The storage layer.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// A copy of the current state.
    pub fn state(&self) -> State {
        lock(&self.state).clone()
    }

    fn node(&self) -> &str {
        &self.storage.config().node
    }

    fn volume_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.locks)
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    fn save(&self, st: &State) -> Result<(), Failure> {
        self.store.save(st).map_err(Failure::from)
    }

    fn target(&self, rd: &str) -> PathBuf {
        self.cfg.mount_root.join(rd)
    }

    fn data_dir(target: &Path) -> PathBuf {
        target.join("data")
    }

    /// The Mountpoint to report: `<target>/data` when mounted by this plugin, else `""`.
    fn mountpoint_of(&self, name: &str) -> String {
        lock(&self.state)
            .mounts
            .get(name)
            .filter(|e| e.total() > 0)
            .map(|e| Self::data_dir(&e.target).display().to_string())
            .unwrap_or_default()
    }

    /// Handle one call; never panics, every failure becomes `{"Err": …}`.
    pub async fn handle(&self, req: Request) -> Response {
        let volume = req.volume().unwrap_or_default().to_string();
        let span = tracing::info_span!("call", volume = %volume);
        let result = tracing::Instrument::instrument(self.dispatch(req), span.clone()).await;
        result.unwrap_or_else(|e| {
            let message = e.message();
            span.in_scope(|| warn!(error = %message, "call failed"));
            Response::Err(message)
        })
    }

    async fn dispatch(&self, req: Request) -> Result<Response, Failure> {
        let (call, bound) = match &req {
            Request::Activate => ("Activate", QUICK_CALL_BOUND),
            Request::Capabilities => ("Capabilities", QUICK_CALL_BOUND),
            Request::Get { .. } => ("Get", QUICK_CALL_BOUND),
            Request::List => ("List", QUICK_CALL_BOUND),
            Request::Path { .. } => ("Path", QUICK_CALL_BOUND),
            Request::Create { .. } => ("Create", CALL_BOUND),
            Request::Remove { .. } => ("Remove", CALL_BOUND),
            Request::Mount { .. } => ("Mount", CALL_BOUND),
            Request::Unmount { .. } => ("Unmount", CALL_BOUND),
        };
        let volume = req.volume().unwrap_or_default().to_string();
        tokio::time::timeout(bound, self.run(req))
            .await
            .unwrap_or_else(|_| {
                Err(Failure::Deadline {
                    call,
                    volume,
                    seconds: bound.as_secs(),
                    controllers: self.storage.client().controllers().join(", "),
                })
            })
    }

    async fn run(&self, req: Request) -> Result<Response, Failure> {
        match req {
            Request::Activate => Ok(Response::Implements),
            Request::Capabilities => Ok(Response::Capabilities),
            Request::Create { name, opts } => self.create(&name, opts.as_ref()).await,
            Request::Remove { name } => self.remove(&name).await,
            Request::Mount { name, id } => self.mount(&name, &id).await,
            Request::Unmount { name, id } => self.unmount(&name, &id).await,
            Request::Path { name } => Ok(Response::Mountpoint(self.mountpoint_of(&name))),
            Request::Get { name } => self.get(&name).await,
            Request::List => self.list().await,
        }
    }

    /// The volume of this Docker name, or `None` (absent, or the RD holds another name).
    async fn lookup(&self, name: &str) -> Result<Option<VolumeInfo>, Failure> {
        let rd = docker::resource_name(name)?;
        Ok(self
            .storage
            .get(&rd)
            .await?
            .filter(|v| docker::is_volume(&v.name, &v.props, name)))
    }

    #[instrument(skip(self, opts))]
    async fn create(
        &self,
        name: &str,
        opts: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Result<Response, Failure> {
        let rd = docker::resource_name(name)?;
        let raw = match opts {
            Some(o) => RawOptions::from_opts(o)?,
            None => RawOptions::default(),
        };
        let file = FileConfig::load(&self.cfg.config_file)?;
        let vo = VolumeOptions::resolve(&file.defaults, &raw)?;
        let lk = self.volume_lock(name);
        let _g = lk.lock().await;
        let spec = CreateSpec {
            name: rd.clone(),
            size_kib: vo.size_kib(),
            resource_group: vo.resource_group.clone(),
            props: vo.props(name),
            local_replica: false,
            filter: Some(vo.filter()),
        };
        match self.storage.create(&spec).await? {
            CreateOutcome::Existing(v) if !docker::is_volume(&v.name, &v.props, name) => {
                return Err(Failure::NameClash {
                    volume: name.to_string(),
                    rd,
                    other: docker::docker_name(&v.name, &v.props).to_string(),
                })
            }
            CreateOutcome::Existing(_) => {
                info!(rd = %rd, "volume exists already; options of this create are ignored");
            }
            outcome => {
                info!(rd = %rd, ?outcome, size_kib = spec.size_kib, "volume created");
            }
        }
        self.remember(
            name,
            KnownVolume {
                rd,
                created_at: None,
            },
        );
        Ok(Response::Empty)
    }

    #[instrument(skip(self))]
    async fn remove(&self, name: &str) -> Result<Response, Failure> {
        let lk = self.volume_lock(name);
        let _g = lk.lock().await;
        if let Some(e) = lock(&self.state).mounts.get(name).filter(|e| e.total() > 0) {
            return Err(Failure::Mounted {
                volume: name.to_string(),
                place: format!(
                    "on this node ({}) by {} container mount(s)",
                    self.node(),
                    e.total()
                ),
            });
        }
        let Some(info) = self.lookup(name).await? else {
            self.forget(name)?;
            return Ok(Response::Empty);
        };
        let users = info.in_use_nodes();
        if !users.is_empty() {
            return Err(Failure::Mounted {
                volume: name.to_string(),
                place: format!("on node {}", users.join(", ")),
            });
        }
        let snaps = self.storage.snapshot_list(&info.name).await?;
        if !snaps.is_empty() {
            warn!(
                snapshots = %snaps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
                "removing the volume deletes its snapshots"
            );
        }
        self.storage.delete(&info.name).await?;
        self.forget(name)?;
        info!(rd = %info.name, "volume removed");
        Ok(Response::Empty)
    }

    fn status(&self, info: &VolumeInfo) -> Map<String, Value> {
        let me = self.node();
        let mut s = Map::new();
        s.insert("size".into(), json!(human_kib(info.size_kib)));
        s.insert("size_kib".into(), json!(info.size_kib));
        s.insert("linstor_resource".into(), json!(info.name));
        if let Some(rg) = &info.resource_group {
            s.insert("resource_group".into(), json!(rg));
        }
        if let Some(fs) = info.props.get(docker::FS_TYPE_PROP) {
            s.insert("fs".into(), json!(fs));
        }
        let diskful = info.diskful_nodes();
        s.insert("replicas".into(), json!(diskful.len()));
        s.insert("diskful_nodes".into(), json!(diskful));
        let diskless: Vec<&str> = info
            .replicas
            .iter()
            .filter(|r| r.diskless && !r.tiebreaker)
            .map(|r| r.node.as_str())
            .collect();
        s.insert("diskless_nodes".into(), json!(diskless));
        let here = info
            .replicas
            .iter()
            .find(|r| r.node.eq_ignore_ascii_case(me));
        s.insert(
            "this_node".into(),
            json!(format!(
                "{me}: {}",
                match here {
                    Some(r) if r.tiebreaker => "tie-breaker",
                    Some(r) if r.diskless => "diskless",
                    Some(_) => "diskful",
                    None => "not attached",
                }
            )),
        );
        s.insert("in_use_on".into(), json!(info.in_use_nodes()));
        let states: Map<String, Value> = info
            .replicas
            .iter()
            .filter_map(|r| r.disk_state.as_ref().map(|d| (r.node.clone(), json!(d))))
            .collect();
        if !states.is_empty() {
            s.insert("disk_states".into(), Value::Object(states));
        }
        s
    }

    fn created_at(info: &VolumeInfo) -> Option<String> {
        info.created_ms.and_then(rfc3339_ms)
    }

    #[instrument(skip(self))]
    async fn get(&self, name: &str) -> Result<Response, Failure> {
        let looked = bounded(self.lookup(name)).await.unwrap_or_else(|| {
            Err(Failure::Linstor {
                source: Error::Timeout {
                    tried: self.storage.client().controllers(),
                    seconds: DATA_PLANE_BUDGET.as_secs_f64(),
                    may_have_been_carried_out: false,
                },
            })
        });
        match looked {
            Ok(Some(info)) => {
                let created_at = Self::created_at(&info);
                self.remember(
                    name,
                    KnownVolume {
                        rd: info.name.clone(),
                        created_at: created_at.clone(),
                    },
                );
                Ok(Response::Volume(Volume {
                    name: name.to_string(),
                    mountpoint: self.mountpoint_of(name),
                    created_at,
                    status: Some(self.status(&info)),
                }))
            }
            Ok(None) => {
                self.forget(name)?;
                Err(Failure::NoSuchVolume(name.to_string()))
            }
            Err(Failure::Linstor { source }) if controller_outage(&source) => {
                let known = lock(&self.state).known.get(name).cloned();
                match known {
                    Some(k) => {
                        warn!(error = %chain(&source), "controller unreachable; answering from the local cache");
                        let mut status = Map::new();
                        status.insert("linstor_resource".into(), json!(k.rd));
                        status.insert(
                            "warning".into(),
                            json!(format!(
                                "LINSTOR controller unreachable, cached answer: {source}"
                            )),
                        );
                        Ok(Response::Volume(Volume {
                            name: name.to_string(),
                            mountpoint: self.mountpoint_of(name),
                            created_at: k.created_at,
                            status: Some(status),
                        }))
                    }
                    None => Err(Failure::Linstor { source }),
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(human_kib(10 << 20), "10 GiB");
        assert_eq!(human_kib(1536), "1.5 MiB");
        assert_eq!(
            rfc3339_ms(1_785_578_400_000).as_deref(),
            Some("2026-08-01T10:00:00Z")
        );
    }

    #[test]
    fn every_error_gets_a_message_with_advice() {
        let e = Error::Connection {
            tried: vec!["http://c:3370".into()],
            source: None,
        };
        let m = linstor_message(&e);
        assert!(
            m.contains("http://c:3370") && m.contains("LS_CONTROLLERS"),
            "{m}"
        );
        let f = Failure::InUseElsewhere {
            volume: "v".into(),
            nodes: "n1".into(),
        };
        assert!(f.to_string().contains("in use on node n1"));
    }
}
