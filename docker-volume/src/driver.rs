//! Executes parsed plugin calls through `linstor_common::volume::Storage` and the host
//! operations: create, remove, mount/unmount with per-ID reference counts, path, get, list,
//! and the reconciliation of local mounts at start.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linstor_common::error::chain;
use linstor_common::naming::docker;
use linstor_common::volume::{CreateSpec, Storage, VolumeInfo};
use linstor_common::Error;
use serde_json::{json, Map, Value};
use tracing::{info, instrument, warn};

use crate::options::{FileConfig, OptionError, RawOptions, VolumeOptions};
use crate::protocol::{Request, Response, Volume};
use crate::state::{KnownVolume, MountEntry, State, StateError, StateStore};

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
            | Failure::State(_) => chain(self),
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
        Error::Timeout { .. } => format!("{e}; the operation may still complete, retry later"),
        Error::NotFound { .. } => full,
        Error::AlreadyExists { .. } => full,
        Error::InUse { .. } => format!("{e}; stop the containers using it first"),
        Error::Api { .. } => full,
        Error::Protocol { .. } => full,
        Error::InvalidInput(_) => full,
        Error::Config(_) => full,
        Error::ConfigSource { .. } => full,
        Error::NotOwned { .. } => full,
        Error::Unsupported(_) => full,
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

/// Default of [`DriverConfig::list_cache_ttl`].
pub const DEFAULT_LIST_CACHE_TTL: Duration = Duration::from_secs(10);

/// When the volume cache (`State::known`) was last listed from the controller, and what this
/// daemon's own calls changed while a listing was in flight.
#[derive(Debug, Default)]
struct ListCache {
    fetched: Option<Instant>,
    refreshing: bool,
    changes: Vec<(String, Option<KnownVolume>)>,
}

impl ListCache {
    fn note(&mut self, name: &str, known: Option<&KnownVolume>) {
        if self.refreshing {
            self.changes.push((name.to_string(), known.cloned()));
        }
    }
}

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

    fn remember(&self, name: &str, mut known: KnownVolume) {
        let mut st = lock(&self.state);
        if known.created_at.is_none() {
            if let Some(old) = st.known.get(name).filter(|o| o.rd == known.rd) {
                known.created_at.clone_from(&old.created_at);
            }
        }
        lock(&self.cache).note(name, Some(&known));
        if st.known.get(name) != Some(&known) {
            st.known.insert(name.to_string(), known);
            if let Err(e) = self.store.save(&st) {
                warn!(error = %e, "cannot persist the volume cache");
            }
        }
    }

    fn forget(&self, name: &str) -> Result<(), Failure> {
        let mut st = lock(&self.state);
        lock(&self.cache).note(name, None);
        if st.known.remove(name).is_some() {
            self.save(&st)?;
        }
        Ok(())
    }

    /// Start a refresh of the volume cache; `None` when another finished within `max_age`.
    fn begin_refresh(&self, max_age: Option<Duration>) -> Option<Instant> {
        let mut c = lock(&self.cache);
        if let (Some(age), Some(at)) = (max_age, c.fetched) {
            if at.elapsed() <= age {
                return None;
            }
        }
        c.refreshing = true;
        c.changes.clear();
        Some(Instant::now())
    }

    /// Replace the volume cache by a listing started at `started` (Docker name, RD, creation
    /// time), keeping what this daemon's own calls changed while it was being fetched.
    fn finish_refresh(&self, started: Instant, listing: Option<Vec<(String, KnownVolume)>>) {
        let mut st = lock(&self.state);
        let mut c = lock(&self.cache);
        c.refreshing = false;
        let changes = std::mem::take(&mut c.changes);
        let Some(listing) = listing else {
            return;
        };
        let mut known = BTreeMap::new();
        for (name, mut k) in listing {
            if k.created_at.is_none() {
                if let Some(old) = st.known.get(&name).filter(|o| o.rd == k.rd) {
                    k.created_at.clone_from(&old.created_at);
                }
            }
            known.insert(name, k);
        }
        for (name, k) in changes {
            match k {
                Some(k) => known.insert(name, k),
                None => known.remove(&name),
            };
        }
        c.fetched = Some(started);
        if known != st.known {
            st.known = known;
            if let Err(e) = self.store.save(&st) {
                warn!(error = %e, "cannot persist the volume cache");
            }
        }
    }

    /// Fetch the definitions of ours into the volume cache (one request) unless a refresh
    /// finished within `max_age`. Refreshes run one at a time.
    pub async fn refresh_volumes(&self, max_age: Option<Duration>) -> Result<(), Error> {
        let _g = self.refresh_lock.lock().await;
        let Some(started) = self.begin_refresh(max_age) else {
            return Ok(());
        };
        match self.storage.docker_definitions().await {
            Ok(defs) => {
                let listing = defs
                    .into_iter()
                    .map(|d| {
                        let name = docker::docker_name(&d.name, &d.props).to_string();
                        (
                            name,
                            KnownVolume {
                                rd: d.name,
                                created_at: None,
                            },
                        )
                    })
                    .collect();
                self.finish_refresh(started, Some(listing));
                Ok(())
            }
            Err(e) => {
                self.finish_refresh(started, None);
                Err(e)
            }
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
        match self.storage.create(&spec).await {
            Ok(outcome) => {
                info!(rd = %rd, ?outcome, size_kib = spec.size_kib, "volume created");
            }
            Err(Error::AlreadyExists { what, reports }) => match self.storage.get(&rd).await? {
                Some(v) if docker::is_volume(&v.name, &v.props, name) => {
                    info!(rd = %rd, "volume exists already; options of this create are ignored");
                }
                Some(v) => {
                    return Err(Failure::NameClash {
                        volume: name.to_string(),
                        rd,
                        other: docker::docker_name(&v.name, &v.props).to_string(),
                    })
                }
                None => return Err(Error::AlreadyExists { what, reports }.into()),
            },
            Err(e) => return Err(e.into()),
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

    async fn host<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn linstor_common::host::HostOps) -> linstor_common::Result<T> + Send + 'static,
    ) -> Result<T, Failure> {
        let host = Arc::clone(self.storage.host());
        tokio::task::spawn_blocking(move || f(host.as_ref()))
            .await
            .map_err(|e| {
                Failure::from(Error::Host {
                    op: "host task".into(),
                    message: e.to_string(),
                })
            })?
            .map_err(Failure::from)
    }

    #[instrument(skip(self))]
    async fn mount(&self, name: &str, id: &str) -> Result<Response, Failure> {
        let lk = self.volume_lock(name);
        let _g = lk.lock().await;
        let existing = lock(&self.state).mounts.get(name).cloned();
        if let Some(e) = existing.filter(|e| e.total() > 0) {
            let target = e.target.clone();
            if self.host(move |h| h.is_mounted(&target)).await? {
                let mut st = lock(&self.state);
                let total = st.add_ref(name, &e.rd, &e.target, id);
                self.save(&st)?;
                info!(total, "already mounted here; reference added");
                return Ok(Response::Mountpoint(
                    Self::data_dir(&e.target).display().to_string(),
                ));
            }
            warn!(target = %e.target.display(), "recorded mount is gone; mounting again");
        }
        let rd = docker::resource_name(name)?;
        let view = self
            .storage
            .mount_view(&rd)
            .await?
            .filter(|v| docker::is_volume(&v.definition.name, &v.definition.props, name))
            .ok_or_else(|| Failure::NoSuchVolume(name.to_string()))?;
        let others = view.in_use_elsewhere(self.node());
        if !others.is_empty() {
            return Err(Failure::InUseElsewhere {
                volume: name.to_string(),
                nodes: others.join(", "),
            });
        }
        let rd = view.definition.name.clone();
        self.remember(
            name,
            KnownVolume {
                rd: rd.clone(),
                created_at: None,
            },
        );
        let props = &view.definition.props;
        let pool = props.get(docker::DISKLESS_POOL_PROP).cloned();
        let file = FileConfig::load(&self.cfg.config_file).unwrap_or_else(|e| {
            warn!(error = %e, "ignoring the configuration file");
            FileConfig::default()
        });
        let pool = pool.or_else(|| file.defaults.0.get("disklessstoragepool").cloned());
        let dev = self.storage.attach_viewed(&view, pool.as_deref()).await?;
        let target = self.target(&rd);
        let fs = props
            .get(docker::FS_TYPE_PROP)
            .cloned()
            .unwrap_or_else(|| "ext4".into());
        let mkfs_opts: Vec<String> = props
            .get(docker::FS_MKFS_PROP)
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let mount_opts: Vec<String> = props
            .get(docker::MOUNTOPTS_PROP)
            .or_else(|| file.defaults.0.get("mountopts"))
            .map(|s| {
                s.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let (d, t) = (dev.clone(), target.clone());
        let res = self
            .host(move |h| {
                let fstype = match h.filesystem_type(&d)? {
                    Some(found) => found,
                    None => {
                        tracing::info!(device = %d.display(), fs = %fs, "making the filesystem (first use)");
                        h.mkfs(&d, &fs, &mkfs_opts)?;
                        fs
                    }
                };
                if !h.is_mounted(&t)? {
                    h.mount(&d, &t, &fstype, &mount_opts)?;
                }
                if let Err(e) = h.grow_fs(&d, &t, &fstype) {
                    tracing::warn!(error = %e, "cannot grow the filesystem to the volume size");
                }
                std::fs::create_dir_all(t.join("data")).map_err(|e| Error::HostIo {
                    op: format!("mkdir {}", t.join("data").display()),
                    source: e,
                })
            })
            .await;
        if let Err(e) = res {
            if let Err(de) = self.storage.detach(&rd, self.node()).await {
                warn!(error = %de, "cannot detach after the failed mount");
            }
            return Err(e);
        }
        let mut st = lock(&self.state);
        let total = st.add_ref(name, &rd, &target, id);
        self.save(&st)?;
        info!(total, device = %dev.display(), target = %target.display(), "mounted");
        Ok(Response::Mountpoint(
            Self::data_dir(&target).display().to_string(),
        ))
    }

    #[instrument(skip(self))]
    async fn unmount(&self, name: &str, id: &str) -> Result<Response, Failure> {
        let lk = self.volume_lock(name);
        let _g = lk.lock().await;
        let (total, entry) = {
            let mut st = lock(&self.state);
            let Some(total) = st.drop_ref(name, id) else {
                info!("unmount of an ID that is not mounted: nothing to do");
                return Ok(Response::Empty);
            };
            let entry = st.mounts.get(name).cloned().unwrap_or_default();
            if total > 0 {
                self.save(&st)?;
            }
            (total, entry)
        };
        if total > 0 {
            info!(total, "other mounts remain");
            return Ok(Response::Empty);
        }
        self.release(name, &entry.rd, &entry.target).await?;
        Ok(Response::Empty)
    }

    /// Unmount, forget and detach (diskless copies only) one volume.
    async fn release(&self, name: &str, rd: &str, target: &Path) -> Result<(), Failure> {
        let t = target.to_path_buf();
        self.host(move |h| {
            if h.is_mounted(&t)? {
                h.umount(&t)?;
            }
            let _ = std::fs::remove_dir(t.join("data"));
            let _ = std::fs::remove_dir(&t);
            Ok(())
        })
        .await?;
        info!(rd = %rd, "unmounted");
        let node = self.node().to_string();
        if let Err(e) = self.storage.detach(rd, &node).await {
            warn!(error = %e, rd = %rd, "cannot detach (a diskless copy may remain until the next start)");
        }
        let mut st = lock(&self.state);
        st.mounts.remove(name);
        self.save(&st)?;
        Ok(())
    }

    /// Removes this node's diskless copies of our volumes that no recorded mount uses (left by
    /// a detach that failed or a plugin killed half-way). Diskful replicas and tie-breakers
    /// are never touched; each volume is checked again under its lock.
    async fn release_orphan_copies(&self) -> Result<(), Failure> {
        let me = self.node().to_string();
        let listed = {
            let _g = self.refresh_lock.lock().await;
            let started = self.begin_refresh(None).unwrap_or_else(Instant::now);
            let listed = self.storage.list().await;
            let listing = listed.as_ref().ok().map(|vs| {
                vs.iter()
                    .map(|v| {
                        (
                            docker::docker_name(&v.name, &v.props).to_string(),
                            KnownVolume {
                                rd: v.name.clone(),
                                created_at: Self::created_at(v),
                            },
                        )
                    })
                    .collect()
            });
            self.finish_refresh(started, listing);
            listed
        };
        let volumes = match listed {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %e, "cannot list volumes to release unused diskless copies");
                return Ok(());
            }
        };
        for v in volumes {
            let copy_here = v
                .replicas
                .iter()
                .any(|r| r.node.eq_ignore_ascii_case(&me) && r.diskless && !r.tiebreaker);
            if !copy_here {
                continue;
            }
            let name = docker::docker_name(&v.name, &v.props).to_string();
            let lk = self.volume_lock(&name);
            let _g = lk.lock().await;
            let used = lock(&self.state)
                .mounts
                .values()
                .any(|e| e.rd.eq_ignore_ascii_case(&v.name) && e.total() > 0);
            if used {
                continue;
            }
            info!(volume = %name, rd = %v.name, "releasing an unused diskless copy on this node");
            if let Err(e) = self.storage.detach(&v.name, &me).await {
                warn!(error = %e, rd = %v.name, "cannot release the unused diskless copy");
            }
        }
        Ok(())
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
        match self.lookup(name).await {
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
                        warn!(error = %source, "controller unreachable; answering from the local cache");
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

    #[instrument(skip(self))]
    async fn list(&self) -> Result<Response, Failure> {
        let ttl = self.cfg.list_cache_ttl;
        let fresh = !ttl.is_zero()
            && lock(&self.cache)
                .fetched
                .is_some_and(|t| t.elapsed() <= ttl);
        if !fresh {
            let max_age = (!ttl.is_zero()).then_some(ttl);
            match self.refresh_volumes(max_age).await {
                Ok(()) => {}
                Err(e) if controller_outage(&e) => {
                    warn!(error = %e, "controller unreachable; listing from the local cache");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let st = lock(&self.state);
        let vols = st
            .known
            .keys()
            .map(|name| Volume {
                mountpoint: st
                    .mounts
                    .get(name)
                    .filter(|e| e.total() > 0)
                    .map(|e| Self::data_dir(&e.target).display().to_string())
                    .unwrap_or_default(),
                name: name.clone(),
                created_at: None,
                status: None,
            })
            .collect();
        Ok(Response::Volumes(vols))
    }

    /// Bring the recorded mounts in line with reality at start: after a reboot every count is
    /// void; a recorded mount that is gone is dropped and detached; a mount under the mount
    /// root that is not recorded (a Mount that never answered) is unmounted and detached.
    pub async fn reconcile(&self) -> Result<(), Failure> {
        let boot = crate::state::boot_id(&self.cfg.boot_id_file);
        let mounts_text = std::fs::read_to_string(&self.cfg.mounts_file).unwrap_or_default();
        let mounted: Vec<PathBuf> = linstor_common::host::mount_points(&mounts_text);
        let (stale, recorded): (Vec<(String, MountEntry)>, Vec<PathBuf>) = {
            let mut st = lock(&self.state);
            let rebooted = st.boot_id != boot;
            if rebooted && !st.mounts.is_empty() {
                warn!(previous = %st.boot_id, current = %boot, "new boot: mount counts of the previous boot are void");
            }
            let mut stale = Vec::new();
            for (name, e) in &st.mounts {
                if rebooted || e.total() == 0 || !mounted.iter().any(|m| m == &e.target) {
                    stale.push((name.clone(), e.clone()));
                }
            }
            st.boot_id = boot;
            self.save(&st)?;
            let recorded = st
                .mounts
                .values()
                .filter(|e| !stale.iter().any(|(_, s)| s.target == e.target))
                .map(|e| e.target.clone())
                .collect();
            (stale, recorded)
        };
        for (name, entry) in stale {
            let lk = self.volume_lock(&name);
            let _g = lk.lock().await;
            if lock(&self.state).mounts.get(&name) != Some(&entry) {
                info!(volume = %name, "a Mount since the start renewed the record; keeping it");
                continue;
            }
            info!(volume = %name, "releasing a stale mount record");
            self.release(&name, &entry.rd, &entry.target).await?;
        }
        for m in mounted {
            if m.parent() != Some(self.cfg.mount_root.as_path()) || recorded.contains(&m) {
                continue;
            }
            let Some(rd) = m.file_name().and_then(|f| f.to_str()).map(str::to_string) else {
                continue;
            };
            let name = lock(&self.state)
                .known
                .iter()
                .find(|(_, k)| k.rd == rd)
                .map_or_else(|| rd.clone(), |(n, _)| n.clone());
            let lk = self.volume_lock(&name);
            let _g = lk.lock().await;
            if lock(&self.state).mounts.values().any(|e| e.target == m) {
                info!(target = %m.display(), "a Mount since the start recorded this mount; keeping it");
                continue;
            }
            warn!(target = %m.display(), "unrecorded mount under the mount root: unmounting");
            self.release(&format!("\u{0}unrecorded:{rd}"), &rd, &m)
                .await?;
        }
        self.release_orphan_copies().await
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
