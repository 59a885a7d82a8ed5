//! The storage semantics every frontend shares: create, delete, resize, list, ownership and
//! controller-VM exclusion. Snapshots, attach/migration, capacity and gc live in submodules.

mod attach;
mod capacity;
mod docker_ext;
mod gc;
mod owned;
mod snapshot;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::instrument;

use crate::api::*;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::host::HostOps;
use crate::naming::{self, Platform};

pub use attach::{bounded, within_budget, TwoPrimaries, DATA_PLANE_BUDGET};
pub use capacity::{Capacity, CapacityArithmetic};
pub use gc::GcReport;
pub use owned::OwnedVolume;
pub use snapshot::SnapshotInfo;

/// RD property that marks allow-two-primaries as set by a migration (value: the target node).
pub const MIGRATION_MARKER: &str = "Aux/linstor-plugins/migration-two-primaries";
/// RD property present while a multi-step create (local replica first) is not finished.
pub const INCOMPLETE_MARKER: &str = "Aux/linstor-plugins/incomplete";
/// RD property holding when the volume was made (ms since the epoch), set by every create,
/// restore and clone of this suite, so that [`Storage::list_in_group`] needs no resource list.
pub const CREATED_PROP: &str = "Aux/linstor-plugins/created";
/// At most this many names go into one filtered `GET /v1/view/resources` (its request line
/// stays a few KiB); more are read from the whole view.
const NAMED_VIEW_MAX: usize = 50;
/// The DRBD net option for dual-primary.
pub const ALLOW_TWO_PRIMARIES: &str = "DrbdOptions/Net/allow-two-primaries";

/// Per-frontend-instance settings of the storage layer.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The calling platform; decides ownership.
    pub platform: Platform,
    /// This node's LINSTOR node name.
    pub node: String,
    /// Resource group new volumes are spawned from.
    pub resource_group: String,
    /// Root of local device paths (`/dev`); `<dev_root>/drbd/by-res/<rd>/<vol>`.
    pub dev_root: PathBuf,
    /// Cache directory (capacity cache); `None` disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// VM id whose volumes are never deleted and are activated without the controller.
    pub controller_vm: Option<String>,
    /// Bound on waiting for a local device after attach.
    pub device_timeout: Duration,
    /// Bound on waiting for a Primary to go away before a diskless copy is removed.
    pub in_use_wait: Duration,
    /// Bound on waiting for a server-side clone.
    pub clone_timeout: Duration,
}

impl StorageConfig {
    /// Defaults for a platform and node.
    pub fn new(platform: Platform, node: impl Into<String>) -> Self {
        Self {
            platform,
            node: node.into(),
            resource_group: "DfltRscGrp".into(),
            dev_root: PathBuf::from("/dev"),
            cache_dir: None,
            controller_vm: None,
            device_timeout: Duration::from_secs(30),
            in_use_wait: Duration::from_secs(10),
            clone_timeout: Duration::from_secs(3600),
        }
    }
}

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct CreateSpec {
    /// LINSTOR resource definition name, chosen by the frontend's naming scheme.
    pub name: String,
    /// Size in KiB (volume 0).
    pub size_kib: u64,
    /// Resource group; the configured one when `None`.
    pub resource_group: Option<String>,
    /// RD props set atomically with the creation (ownership markers, filesystem, DRBD options).
    pub props: Props,
    /// Put one diskful replica on this node first (Proxmox `preferlocal`).
    pub local_replica: bool,
    /// Request-level placement overrides (Docker options).
    pub filter: Option<AutoSelectFilter>,
}

/// How [`Storage::create`] ended. A name held by another platform or by no one LINSTOR
/// admits to is an error (`NotOwned`, `AlreadyExists`), never an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Created now.
    Created,
    /// A half-created volume of the same owner (left by a crash) was completed.
    Completed,
    /// A finished volume of this platform already holds the name; it was not touched
    /// ([`Storage::create`], [`Storage::clone_grown`]).
    /// Whether it is the one the caller wanted is the caller's to say (e.g. with
    /// [`VolumeInfo::is_made_from`]).
    Existing(VolumeInfo),
}

impl CreateOutcome {
    /// `Ok` when the volume was created or completed now; `AlreadyExists` for a volume that
    /// was there already.
    pub fn fresh(self, name: &str) -> Result<Self> {
        match self {
            CreateOutcome::Existing(_) => Err(owned::taken(name)),
            other => Ok(other),
        }
    }

    /// [`CreateOutcome::fresh`], except that a volume that was there already is accepted when
    /// it is a retry of the same create ([`VolumeInfo::is_made_from`] `spec`).
    pub fn fresh_or_retry_of(self, spec: &CreateSpec) -> Result<Self> {
        match self {
            CreateOutcome::Existing(v) if v.is_made_from(spec) => Ok(CreateOutcome::Existing(v)),
            other => other.fresh(&spec.name),
        }
    }
}

/// One resource of a volume on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// Node name.
    pub node: String,
    /// Diskless (DRBD client or tie-breaker).
    pub diskless: bool,
    /// LINSTOR-managed tie-breaker.
    pub tiebreaker: bool,
    /// Primary there; `None` when unknown.
    pub in_use: Option<bool>,
    /// DRBD disk state of volume 0.
    pub disk_state: Option<String>,
}

impl Replica {
    /// A resource as a replica, with the DRBD disk state of its volume 0 where known.
    fn of(r: &Resource, disk_state: Option<String>) -> Self {
        Self {
            node: r.node_name.clone(),
            diskless: r.is_diskless(),
            tiebreaker: r.is_tiebreaker(),
            in_use: r.in_use(),
            disk_state,
        }
    }
}

/// A volume of [`Storage::list_in_group`]: its definition and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVolume {
    /// RD name.
    pub name: String,
    /// Size of volume 0 in KiB.
    pub size_kib: u64,
    /// RD props.
    pub props: Props,
    /// When it was made (ms since the epoch): [`CREATED_PROP`], else its earliest resource.
    pub created_ms: Option<i64>,
}

/// Size of volume 0 of a definition in KiB (0 without one).
fn size_of(def: &ResourceDefinition) -> u64 {
    def.volume_definitions
        .iter()
        .find(|v| v.volume_number.unwrap_or(0) == 0)
        .map(|v| v.size_kib)
        .unwrap_or(0)
}

/// The earlier of two optional times.
fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `props` with [`CREATED_PROP`] saying now.
fn with_created(props: &Props) -> Props {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut props = props.clone();
    props.insert(CREATED_PROP.into(), now.to_string());
    props
}

/// The replicas of a resource view and their earliest creation time, by lower-case definition
/// name.
fn by_definition(
    resources: Vec<ResourceBrief>,
) -> std::collections::HashMap<String, (Vec<Replica>, Option<i64>)> {
    let mut out: std::collections::HashMap<String, (Vec<Replica>, Option<i64>)> =
        std::collections::HashMap::with_capacity(resources.len());
    for r in resources {
        let disk_state = r
            .volumes
            .into_iter()
            .find(|v| v.volume_number.unwrap_or(0) == 0)
            .and_then(|v| v.state)
            .and_then(|s| s.disk_state);
        let mut res = Resource {
            name: r.name,
            node_name: r.node_name,
            flags: r.flags,
            state: r.state,
            create_timestamp: r.create_timestamp,
            ..Default::default()
        };
        res.name.make_ascii_lowercase();
        let entry = out.entry(std::mem::take(&mut res.name)).or_default();
        entry.0.push(Replica::of(&res, disk_state));
        entry.1 = earliest(entry.1, res.create_timestamp);
    }
    out
}

/// A volume as the frontends see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    /// RD name.
    pub name: String,
    /// Size of volume 0 in KiB.
    pub size_kib: u64,
    /// RD props.
    pub props: Props,
    /// Resource group.
    pub resource_group: Option<String>,
    /// RD flags.
    pub flags: Vec<String>,
    /// Resources, sorted by node.
    pub replicas: Vec<Replica>,
    /// Earliest resource creation time (ms since the epoch).
    pub created_ms: Option<i64>,
}

impl VolumeInfo {
    fn from_parts(rd: ResourceDefinition, resources: &[ResourceWithVolumes]) -> Self {
        let mine = resources
            .iter()
            .filter(|r| r.resource.name.eq_ignore_ascii_case(&rd.name));
        let created_ms = mine
            .clone()
            .filter_map(|r| r.resource.create_timestamp)
            .min();
        let replicas = mine
            .map(|r| {
                let disk_state = r
                    .volumes
                    .iter()
                    .find(|v| v.volume_number.unwrap_or(0) == 0)
                    .and_then(|v| v.state.as_ref())
                    .and_then(|s| s.disk_state.clone());
                Replica::of(&r.resource, disk_state)
            })
            .collect();
        Self::assemble(rd, replicas, created_ms)
    }

    /// A volume from its definition and its replicas (any order).
    fn assemble(
        rd: ResourceDefinition,
        mut replicas: Vec<Replica>,
        created_ms: Option<i64>,
    ) -> Self {
        replicas.sort_by(|a, b| a.node.cmp(&b.node));
        Self {
            size_kib: size_of(&rd),
            name: rd.name,
            props: rd.props,
            resource_group: rd.resource_group_name,
            flags: rd.flags,
            replicas,
            created_ms,
        }
    }

    /// From a definition and its resources without volume states (`GET rd/resources`).
    pub(crate) fn from_resources(rd: ResourceDefinition, resources: Vec<Resource>) -> Self {
        let rs: Vec<ResourceWithVolumes> = resources
            .into_iter()
            .map(|resource| ResourceWithVolumes {
                resource,
                ..Default::default()
            })
            .collect();
        Self::from_parts(rd, &rs)
    }

    /// Nodes holding a disk.
    pub fn diskful_nodes(&self) -> Vec<&str> {
        self.replicas
            .iter()
            .filter(|r| !r.diskless)
            .map(|r| r.node.as_str())
            .collect()
    }

    /// True when this volume could have been made from `spec`: same size, every prop of the
    /// spec carried, and a disk somewhere (a retry of the same create).
    pub fn is_made_from(&self, spec: &CreateSpec) -> bool {
        self.size_kib == spec.size_kib
            && spec.props.iter().all(|(k, v)| self.props.get(k) == Some(v))
            && self.replicas.iter().any(|r| !r.diskless)
    }

    /// True when `node` holds a diskless copy (not a tie-breaker) of this volume.
    pub fn has_diskless_copy_on(&self, node: &str) -> bool {
        self.replicas
            .iter()
            .any(|r| r.node.eq_ignore_ascii_case(node) && r.diskless && !r.tiebreaker)
    }

    /// Nodes where the volume is Primary (in use).
    pub fn in_use_nodes(&self) -> Vec<&str> {
        self.replicas
            .iter()
            .filter(|r| r.in_use == Some(true))
            .map(|r| r.node.as_str())
            .collect()
    }
}

/// The storage layer of one frontend instance.
#[derive(Debug, Clone)]
pub struct Storage {
    cfg: StorageConfig,
    client: Client,
    host: Arc<dyn HostOps>,
    list_hint: Arc<std::sync::Mutex<ListHint>>,
}

/// Which resources the last [`Storage::list_in_group`] of this layer needed, so that the next
/// one asks for them together with the definitions.
#[derive(Debug, Clone, Default)]
enum ListHint {
    /// None: every volume carried its creation time.
    #[default]
    Nothing,
    /// Those of these volumes.
    Named(Vec<String>),
    /// The whole resource view (more than [`NAMED_VIEW_MAX`] volumes).
    All,
}

impl ListHint {
    fn of(names: &[&str]) -> Self {
        match names.len() {
            0 => Self::Nothing,
            n if n <= NAMED_VIEW_MAX => Self::Named(names.iter().map(|n| n.to_string()).collect()),
            _ => Self::All,
        }
    }

    /// The `resources` filter of the view to ask for (empty: the whole view); `None`: nothing.
    fn query(&self) -> Option<Vec<&str>> {
        match self {
            Self::Nothing => None,
            Self::Named(names) => Some(names.iter().map(String::as_str).collect()),
            Self::All => Some(Vec::new()),
        }
    }

    fn covers(&self, name: &str) -> bool {
        match self {
            Self::Nothing => false,
            Self::Named(names) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
            Self::All => true,
        }
    }
}

impl Storage {
    /// Assemble the layer.
    pub fn new(cfg: StorageConfig, client: Client, host: Arc<dyn HostOps>) -> Self {
        Self {
            cfg,
            client,
            host,
            list_hint: Default::default(),
        }
    }

    /// The REST client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The settings.
    pub fn config(&self) -> &StorageConfig {
        &self.cfg
    }

    /// The host operations.
    pub fn host(&self) -> &Arc<dyn HostOps> {
        &self.host
    }

    /// Local device path of a volume; needs no network.
    pub fn device_path(&self, rd: &str, volume: u32) -> PathBuf {
        crate::naming::device_path(&self.cfg.dev_root, rd, volume)
    }

    /// True when `vm_id` is the configured controller VM, whose volumes are never deleted
    /// and are used without the controller. The one controller-VM rule: the frontends feed it
    /// the VM id they parsed from a volume name or a call.
    pub fn is_controller_vm_id(&self, vm_id: &str) -> bool {
        self.cfg.controller_vm.as_deref() == Some(vm_id)
    }

    /// True when the name (and, if known, the RD's props) belongs to the controller VM.
    pub fn is_controller_vm(&self, rd_name: &str, rd: Option<&ResourceDefinition>) -> bool {
        self.cfg.controller_vm.is_some()
            && self
                .cfg
                .platform
                .vm_id_of(rd_name, rd)
                .is_some_and(|vm| self.is_controller_vm_id(&vm))
    }

    fn check_owned(&self, rd: &ResourceDefinition) -> Result<()> {
        if self.cfg.platform.owns(rd) {
            Ok(())
        } else {
            Err(Error::NotOwned {
                name: rd.name.clone(),
                platform: self.cfg.platform.name(),
            })
        }
    }

    /// The RD if it exists; `NotOwned` when it exists but belongs to someone else.
    pub async fn lookup(&self, rd: &str) -> Result<Option<ResourceDefinition>> {
        naming::validate_resource_name(rd)?;
        match self.client.resource_definition(rd).await? {
            Some(def) => {
                self.check_owned(&def)?;
                Ok(Some(def))
            }
            None => Ok(None),
        }
    }

    /// The RD with its volume definitions, whoever owns it.
    pub(crate) async fn definition_with_volumes(
        &self,
        rd: &str,
    ) -> Result<Option<ResourceDefinition>> {
        Ok(self
            .client
            .resource_definitions_named(&[rd])
            .await?
            .into_iter()
            .find(|d| d.name.eq_ignore_ascii_case(rd)))
    }

    /// A volume with its replicas; `None` when absent, `NotOwned` when foreign.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn get(&self, rd: &str) -> Result<Option<VolumeInfo>> {
        naming::validate_resource_name(rd)?;
        let Some(def) = self.definition_with_volumes(rd).await? else {
            return Ok(None);
        };
        self.check_owned(&def)?;
        let resources = self.client.view_resources(&[rd], &[], &[]).await?;
        Ok(Some(VolumeInfo::from_parts(def, &resources)))
    }

    /// Where a volume's resources are, in one request (`GET rd/resources`), for a volume the
    /// caller has just created or read as its own (ownership is not checked again). Disk states
    /// are not part of this answer. Sorted by node; empty when the volume is absent.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn replicas(&self, rd: &str) -> Result<Vec<Replica>> {
        naming::validate_resource_name(rd)?;
        let mut out: Vec<Replica> = match self.client.resources(rd).await {
            Ok(rs) => rs.iter().map(|r| Replica::of(r, None)).collect(),
            Err(Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        out.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(out)
    }

    /// Every volume this platform owns, with replicas (two requests whatever the count, sent
    /// together).
    #[instrument(skip(self))]
    pub async fn list(&self) -> Result<Vec<VolumeInfo>> {
        let (defs, resources) = tokio::try_join!(
            self.client.resource_definitions_brief(&[]),
            self.client.view_resources_brief(&[], &[])
        )?;
        let mut by_rd = by_definition(resources);
        let mut out: Vec<VolumeInfo> = defs
            .into_iter()
            .map(ResourceDefinition::from)
            .filter(|d| self.cfg.platform.owns(d))
            .map(|d| {
                let (replicas, created_ms) = by_rd
                    .remove(&d.name.to_ascii_lowercase())
                    .unwrap_or_default();
                VolumeInfo::assemble(d, replicas, created_ms)
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Every volume of this platform in the storage's resource group that can be used: read
    /// from the definitions alone (one request) when each is complete and carries
    /// [`CREATED_PROP`]; the others (made by other tools or older versions, or unfinished)
    /// count only with a resource somewhere, read from the resource view filtered by their
    /// names (the whole view above 50 of them). The view is asked for together with
    /// the definitions when the last listing of this layer needed it, afterwards otherwise.
    /// Sorted by name.
    #[instrument(skip(self))]
    pub async fn list_in_group(&self) -> Result<Vec<ListedVolume>> {
        let hint = self
            .list_hint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let ahead = async {
            match hint.query() {
                Some(names) => self
                    .client
                    .view_resources_brief(&names, &[])
                    .await
                    .map(Some),
                None => Ok(None),
            }
        };
        let (defs, early) = tokio::try_join!(self.client.resource_definitions_brief(&[]), ahead)?;
        let rg = &self.cfg.resource_group;
        let mut listed = Vec::new();
        let mut unsure = Vec::new();
        for d in defs.into_iter().map(ResourceDefinition::from) {
            let in_group = d
                .resource_group_name
                .as_deref()
                .is_some_and(|g| g.eq_ignore_ascii_case(rg));
            if !in_group || !self.cfg.platform.owns(&d) {
                continue;
            }
            let created_ms = if d.props.contains_key(INCOMPLETE_MARKER) {
                None
            } else {
                d.props
                    .get(CREATED_PROP)
                    .and_then(|v| v.parse::<i64>().ok())
            };
            let v = ListedVolume {
                size_kib: size_of(&d),
                created_ms,
                name: d.name,
                props: d.props,
            };
            if created_ms.is_some() {
                listed.push(v);
            } else {
                unsure.push(v);
            }
        }
        let names: Vec<&str> = unsure.iter().map(|v| v.name.as_str()).collect();
        let next = ListHint::of(&names);
        let mut resources = early.unwrap_or_default();
        let missing: Vec<&str> = names.into_iter().filter(|n| !hint.covers(n)).collect();
        if !missing.is_empty() {
            let late = ListHint::of(&missing);
            let query = late.query().unwrap_or_default();
            resources.extend(self.client.view_resources_brief(&query, &[]).await?);
        }
        *self
            .list_hint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        if !unsure.is_empty() {
            let found = by_definition(resources);
            listed.extend(unsure.into_iter().filter_map(|mut v| {
                v.created_ms = found.get(&v.name.to_ascii_lowercase())?.1;
                Some(v)
            }));
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// Create a volume: one spawn carrying the ownership props, so no unowned RD can exist.
    /// With `local_replica`, spawn definitions only, put a disk here, then autoplace the rest.
    /// Re-running after a crash completes a half-created volume of the same owner.
    #[instrument(skip(self, spec), fields(volume = %spec.name))]
    pub async fn create(&self, spec: &CreateSpec) -> Result<CreateOutcome> {
        naming::validate_resource_name(&spec.name)?;
        naming::validate_size_kib(spec.size_kib)?;
        let rg = spec
            .resource_group
            .clone()
            .unwrap_or_else(|| self.cfg.resource_group.clone());
        naming::validate_resource_group_name(&rg)?;
        let probe = ResourceDefinition {
            name: spec.name.clone(),
            props: spec.props.clone(),
            ..Default::default()
        };
        if !self.cfg.platform.owns(&probe) {
            return Err(Error::InvalidInput(format!(
                "volume '{}' would not carry the {} ownership marker; refusing to create it",
                spec.name,
                self.cfg.platform.name()
            )));
        }
        let mut props = with_created(&spec.props);
        if spec.local_replica {
            props.insert(INCOMPLETE_MARKER.into(), "yes".into());
        }
        let req = ResourceGroupSpawn {
            resource_definition_name: spec.name.clone(),
            volume_sizes: vec![spec.size_kib],
            select_filter: spec.filter.clone(),
            definitions_only: spec.local_replica,
            resource_definition_props: props,
            ..Default::default()
        };
        match self.client.spawn(&rg, &req).await {
            Ok(_) => {
                if spec.local_replica {
                    self.place(spec).await?;
                    self.mark_complete(&spec.name).await?;
                }
                Ok(CreateOutcome::Created)
            }
            Err(Error::AlreadyExists { what, reports }) => {
                let Some(def) = self.definition_with_volumes(&spec.name).await? else {
                    return Err(Error::AlreadyExists { what, reports });
                };
                self.check_owned(&def)?;
                let resources = if def.props.contains_key(INCOMPLETE_MARKER) {
                    None
                } else {
                    Some(self.client.resources(&def.name).await?)
                };
                if !self.is_half_created_twin(&def, spec, resources.as_deref()) {
                    return Ok(CreateOutcome::Existing(VolumeInfo::from_resources(
                        def,
                        resources.unwrap_or_default(),
                    )));
                }
                tracing::info!("completing a half-created volume");
                if def.volume_definitions.is_empty() {
                    self.client
                        .volume_definition_create(
                            &spec.name,
                            &VolumeDefinitionCreate {
                                volume_definition: VolumeDefinition {
                                    size_kib: spec.size_kib,
                                    ..Default::default()
                                },
                                ..Default::default()
                            },
                        )
                        .await?;
                }
                self.place(spec).await?;
                if def.props.contains_key(INCOMPLETE_MARKER) {
                    self.mark_complete(&spec.name).await?;
                }
                Ok(CreateOutcome::Completed)
            }
            Err(e) => Err(e),
        }
    }

    /// Run `attempt` under fresh names from `generate` until one is not taken (16 attempts),
    /// returning the name used and what `attempt` returned. A name is taken when `attempt`
    /// fails with `AlreadyExists` (see [`CreateOutcome::fresh`]) or with `NotOwned` for that
    /// very name (another platform holds it).
    pub async fn with_unique_name<T, F, Fut>(
        &self,
        generate: impl Fn() -> String,
        mut attempt: F,
    ) -> Result<(String, T)>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut last = None;
        for _ in 0..16 {
            let name = generate();
            match attempt(name.clone()).await {
                Ok(t) => return Ok((name, t)),
                Err(e @ Error::AlreadyExists { .. }) => last = Some(e),
                Err(Error::NotOwned { name: held, .. }) if held.eq_ignore_ascii_case(&name) => {
                    last = Some(owned::taken(&name))
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidInput("no free volume name found".into())))
    }

    /// Create under a fresh name from `generate` until one is free (bounded attempts).
    pub async fn create_unique(
        &self,
        spec: CreateSpec,
        generate: impl Fn() -> String,
    ) -> Result<String> {
        let spec = &spec;
        let (name, _) = self
            .with_unique_name(generate, |name| async move {
                let spec = CreateSpec {
                    name: name.clone(),
                    ..spec.clone()
                };
                self.create(&spec).await?.fresh(&name)
            })
            .await?;
        Ok(name)
    }

    /// Wait a bounded time (`in_use_wait`) until no node uses the volume, polling
    /// [`Storage::get`]. Returns the last reading (still in use when the wait ran out), or
    /// `None` when the volume went away meanwhile.
    #[instrument(skip(self, info), fields(volume = %info.name))]
    pub async fn wait_unused(&self, mut info: VolumeInfo) -> Result<Option<VolumeInfo>> {
        let deadline = tokio::time::Instant::now() + self.cfg.in_use_wait;
        while !info.in_use_nodes().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            match self.get(&info.name).await? {
                Some(i) => info = i,
                None => return Ok(None),
            }
        }
        Ok(Some(info))
    }

    /// [`Storage::is_half_created_twin`], reading the resources only when they decide.
    async fn read_half_created_twin(
        &self,
        def: &ResourceDefinition,
        spec: &CreateSpec,
    ) -> Result<bool> {
        if !self.is_half_created_twin(def, spec, None) {
            return Ok(false);
        }
        if def.props.contains_key(INCOMPLETE_MARKER) {
            return Ok(true);
        }
        let resources = self.client.resources(&def.name).await?;
        Ok(self.is_half_created_twin(def, spec, Some(&resources)))
    }

    /// True when `def` is a half-created volume of `spec`'s owner: every spec prop carried and
    /// either the incomplete marker or no disk anywhere (`resources`, read when the marker is
    /// absent).
    fn is_half_created_twin(
        &self,
        def: &ResourceDefinition,
        spec: &CreateSpec,
        resources: Option<&[Resource]>,
    ) -> bool {
        if !self.cfg.platform.owns(def) {
            return false;
        }
        if spec
            .props
            .iter()
            .any(|(k, v)| !def.props.get(k).is_some_and(|d| d.eq_ignore_ascii_case(v)))
        {
            return false;
        }
        if def.props.contains_key(INCOMPLETE_MARKER) {
            return true;
        }
        !resources
            .unwrap_or_default()
            .iter()
            .any(|r| !r.is_diskless())
    }

    async fn mark_complete(&self, rd: &str) -> Result<()> {
        self.client
            .resource_definition_modify(
                rd,
                &ResourceDefinitionModify {
                    delete_props: vec![INCOMPLETE_MARKER.into()],
                    ..Default::default()
                },
            )
            .await?;
        Ok(())
    }

    async fn place(&self, spec: &CreateSpec) -> Result<()> {
        if spec.local_replica {
            let local = self
                .client
                .make_available(
                    &spec.name,
                    &self.cfg.node,
                    &ResourceMakeAvailable {
                        diskful: true,
                        ..Default::default()
                    },
                )
                .await;
            if let Err(e) = local {
                if e.is_controller_unreachable() {
                    return Err(e);
                }
                tracing::warn!(error = %e, node = %self.cfg.node, "no local replica; placing elsewhere");
            }
        }
        let filter = spec.filter.clone().unwrap_or_default();
        self.client.autoplace(&spec.name, &filter).await?;
        Ok(())
    }

    /// Delete a volume and its snapshots; missing is success. The controller VM's volumes are
    /// kept and success is reported.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn delete(&self, rd: &str) -> Result<()> {
        naming::validate_resource_name(rd)?;
        if self.is_controller_vm(rd, None) {
            tracing::warn!("volume of the controller VM: not deleting it");
            return Ok(());
        }
        let Some(def) = self.lookup(rd).await? else {
            return Ok(());
        };
        if self.is_controller_vm(rd, Some(&def)) {
            tracing::warn!("volume of the controller VM: not deleting it");
            return Ok(());
        }
        for snap in self.client.snapshots(rd).await? {
            self.client.snapshot_delete(rd, &snap.name).await?;
        }
        self.client.resource_definition_delete(rd).await?;
        Ok(())
    }

    /// Grow volume 0 to `new_size_kib`; shrinking is refused, the same size is a no-op.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn resize(&self, rd: &str, new_size_kib: u64) -> Result<()> {
        naming::validate_size_kib(new_size_kib)?;
        naming::validate_resource_name(rd)?;
        let Some(def) = self.definition_with_volumes(rd).await? else {
            return Err(Error::NotFound {
                what: format!("volume '{rd}'"),
                reports: Vec::new(),
            });
        };
        self.check_owned(&def)?;
        let info = VolumeInfo::from_parts(def, &[]);
        if new_size_kib < info.size_kib {
            return Err(Error::Unsupported(format!(
                "cannot shrink volume '{rd}' from {} KiB to {new_size_kib} KiB: DRBD volumes can only grow",
                info.size_kib
            )));
        }
        if new_size_kib == info.size_kib {
            return Ok(());
        }
        self.client
            .volume_definition_modify(
                rd,
                0,
                &VolumeDefinitionModify {
                    size_kib: Some(new_size_kib),
                    ..Default::default()
                },
            )
            .await?;
        Ok(())
    }

    /// Set and delete RD props of an owned volume.
    #[instrument(skip(self, set, delete), fields(volume = %rd))]
    pub async fn set_props(&self, rd: &str, set: Props, delete: Vec<String>) -> Result<()> {
        if self.lookup(rd).await?.is_none() {
            return Err(Error::NotFound {
                what: format!("volume '{rd}'"),
                reports: Vec::new(),
            });
        }
        self.client
            .resource_definition_modify(
                rd,
                &ResourceDefinitionModify {
                    override_props: set,
                    delete_props: delete,
                    ..Default::default()
                },
            )
            .await?;
        Ok(())
    }

    /// Node names known to LINSTOR.
    pub async fn nodes(&self) -> Result<Vec<Node>> {
        self.client.nodes().await
    }
}
