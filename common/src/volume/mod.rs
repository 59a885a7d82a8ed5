//! The storage semantics every frontend shares: create, delete, resize, list, ownership and
//! controller-VM exclusion. Snapshots, attach/migration, capacity and gc live in submodules.

mod attach;
mod capacity;
mod docker_ext;
mod gc;
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

pub use attach::TwoPrimaries;
pub use capacity::Capacity;
pub use docker_ext::MountView;
pub use gc::GcReport;
pub use snapshot::SnapshotInfo;

/// RD property that marks allow-two-primaries as set by a migration (value: the target node).
pub const MIGRATION_MARKER: &str = "Aux/linstor-plugins/migration-two-primaries";
/// RD property present while a multi-step create (local replica first) is not finished.
pub const INCOMPLETE_MARKER: &str = "Aux/linstor-plugins/incomplete";
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

/// How [`Storage::create`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Created now.
    Created,
    /// A half-created volume of the same owner (left by a crash) was completed.
    Completed,
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
        let mut replicas: Vec<Replica> = resources
            .iter()
            .filter(|r| r.resource.name.eq_ignore_ascii_case(&rd.name))
            .map(|r| Replica {
                node: r.resource.node_name.clone(),
                diskless: r.resource.is_diskless(),
                tiebreaker: r.resource.is_tiebreaker(),
                in_use: r.resource.in_use(),
                disk_state: r
                    .volumes
                    .iter()
                    .find(|v| v.volume_number.unwrap_or(0) == 0)
                    .and_then(|v| v.state.as_ref())
                    .and_then(|s| s.disk_state.clone()),
            })
            .collect();
        replicas.sort_by(|a, b| a.node.cmp(&b.node));
        let created_ms = resources
            .iter()
            .filter(|r| r.resource.name.eq_ignore_ascii_case(&rd.name))
            .filter_map(|r| r.resource.create_timestamp)
            .min();
        Self {
            size_kib: rd
                .volume_definitions
                .iter()
                .find(|v| v.volume_number.unwrap_or(0) == 0)
                .map(|v| v.size_kib)
                .unwrap_or(0),
            name: rd.name,
            props: rd.props,
            resource_group: rd.resource_group_name,
            flags: rd.flags,
            replicas,
            created_ms,
        }
    }

    /// Nodes holding a disk.
    pub fn diskful_nodes(&self) -> Vec<&str> {
        self.replicas
            .iter()
            .filter(|r| !r.diskless)
            .map(|r| r.node.as_str())
            .collect()
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
}

impl Storage {
    /// Assemble the layer.
    pub fn new(cfg: StorageConfig, client: Client, host: Arc<dyn HostOps>) -> Self {
        Self { cfg, client, host }
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

    /// True when the name (and, if known, the RD's props) belongs to the controller VM.
    pub fn is_controller_vm(&self, rd_name: &str, rd: Option<&ResourceDefinition>) -> bool {
        match &self.cfg.controller_vm {
            Some(vm) => self.cfg.platform.vm_id_of(rd_name, rd).as_deref() == Some(vm.as_str()),
            None => false,
        }
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
            Ok(rs) => rs
                .iter()
                .map(|r| Replica {
                    node: r.node_name.clone(),
                    diskless: r.is_diskless(),
                    tiebreaker: r.is_tiebreaker(),
                    in_use: r.in_use(),
                    disk_state: None,
                })
                .collect(),
            Err(Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        out.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(out)
    }

    /// Every volume this platform owns, with replicas (two requests whatever the count).
    #[instrument(skip(self))]
    pub async fn list(&self) -> Result<Vec<VolumeInfo>> {
        let defs = self.client.resource_definitions_brief(&[]).await?;
        let resources = self.client.view_resources_brief(&[], &[]).await?;
        let mut by_rd: std::collections::HashMap<String, Vec<ResourceWithVolumes>> =
            std::collections::HashMap::with_capacity(resources.len());
        for r in resources {
            by_rd
                .entry(r.name.to_ascii_lowercase())
                .or_default()
                .push(r.into());
        }
        let mut out: Vec<VolumeInfo> = defs
            .into_iter()
            .map(ResourceDefinition::from)
            .filter(|d| self.cfg.platform.owns(d))
            .map(|d| {
                let rs = by_rd
                    .remove(&d.name.to_ascii_lowercase())
                    .unwrap_or_default();
                VolumeInfo::from_parts(d, &rs)
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
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
        let mut props = spec.props.clone();
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
                match self.definition_with_volumes(&spec.name).await? {
                    Some(def) if self.is_half_created_twin(&def, spec).await? => {
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
                    _ => Err(Error::AlreadyExists { what, reports }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Create under a fresh name from `generate` until one is free (bounded attempts).
    pub async fn create_unique(
        &self,
        mut spec: CreateSpec,
        generate: impl Fn() -> String,
    ) -> Result<String> {
        let mut last = None;
        for _ in 0..16 {
            spec.name = generate();
            match self.create(&spec).await {
                Ok(_) => return Ok(spec.name),
                Err(e @ Error::AlreadyExists { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::InvalidInput("no free volume name found".into())))
    }

    async fn is_half_created_twin(
        &self,
        def: &ResourceDefinition,
        spec: &CreateSpec,
    ) -> Result<bool> {
        if !self.cfg.platform.owns(def) {
            return Ok(false);
        }
        if spec
            .props
            .iter()
            .any(|(k, v)| !def.props.get(k).is_some_and(|d| d.eq_ignore_ascii_case(v)))
        {
            return Ok(false);
        }
        if def.props.contains_key(INCOMPLETE_MARKER) {
            return Ok(true);
        }
        let resources = self.client.resources(&def.name).await?;
        Ok(!resources.iter().any(|r| !r.is_diskless()))
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
        let Some(info) = self.get(rd).await? else {
            return Err(Error::NotFound {
                what: format!("volume '{rd}'"),
                reports: Vec::new(),
            });
        };
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
