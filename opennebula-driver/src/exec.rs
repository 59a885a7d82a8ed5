//! Execution of a parsed [`Action`] through `linstor_common::volume::Storage`, with host steps
//! through [`HostSteps`] and oned documents through [`OnedInfo`]. Returns what goes to stdout.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use linstor_common::api::{AutoSelectFilter, Props, ResourceDefinition};
use linstor_common::config::{ClientConfig, Overlay, Sources};
use linstor_common::host::{HostOps, RealHost};
use linstor_common::naming::opennebula::{
    self as on, image_id_of, rd_from_source, PROP_DISK_ID, PROP_DS_ID, PROP_IMAGE_ID, PROP_VM_ID,
};
use linstor_common::naming::{self, Platform};
use linstor_common::volume::{CreateOutcome, CreateSpec, Storage, StorageConfig, TwoPrimaries};
use linstor_common::Client;
use tracing::{info, info_span, warn, Instrument as _};

use crate::attrs::DsConfig;
use crate::error::DriverError;
use crate::host::HostSteps;
use crate::input::{Action, DsKind, HostPath, MigrateStep, SnapOp};
use crate::monitord::{MonitorSender, UdpMonitor, VmDisks};
use crate::oned::OnedInfo;
use crate::xml::{ActionData, Datastore, Disk, Image, Vm};

/// How long a capacity answer is reused.
const CAPACITY_TTL: Duration = Duration::from_secs(30);

/// Everything an action needs besides its input.
#[derive(Debug)]
pub struct Driver {
    /// Host-side steps.
    pub hosts: Arc<dyn HostSteps>,
    /// oned documents.
    pub oned: Arc<dyn OnedInfo>,
    /// Controller discovery sources (LS_CONTROLLERS, linstor-client.conf, auth.json).
    pub sources: Sources,
    /// LINSTOR node name of the front-end (device waits for it happen locally).
    pub frontend_node: String,
    /// Cache / state directory (capacity cache, last good controller).
    pub state_dir: Option<PathBuf>,
    /// Lock directory (one lock file per resource).
    pub lock_dir: PathBuf,
    /// Bound on waiting for a device on a host.
    pub device_timeout: Duration,
    /// Driver name (TM_MAD) this binary was invoked as.
    pub driver_name: String,
    /// Where per-VM disk sizes go (oned's monitord).
    pub monitord: Arc<dyn MonitorSender>,
    storages: Mutex<HashMap<u64, (Storage, DsConfig)>>,
    /// Non-fatal problems, printed as `WARN:` lines.
    pub warnings: Mutex<Vec<String>>,
}

type R<T> = Result<T, DriverError>;

fn lin(context: impl Into<String>) -> impl FnOnce(linstor_common::Error) -> DriverError {
    let context = context.into();
    move |source| DriverError::Linstor { context, source }
}

fn usage(msg: impl Into<String>) -> DriverError {
    DriverError::Usage(msg.into())
}

fn valid_rd(name: &str) -> R<String> {
    naming::validate_resource_name(name).map_err(lin(format!("resource '{name}'")))?;
    Ok(name.to_string())
}

fn source_rd(source: &str) -> R<String> {
    let rd = rd_from_source(source).ok_or_else(|| {
        usage(format!(
            "SOURCE '{source}' is neither a LINSTOR device path (/dev/drbd/by-res/<name>/0) nor a resource name"
        ))
    })?;
    valid_rd(rd)
}

/// System DS id of a VM directory `.../<sys_ds>/<vmid>`.
fn system_ds_of(dir: &str) -> Option<u64> {
    let mut it = dir.rsplit('/');
    it.next()?;
    it.next()?.parse().ok()
}

/// The client configuration of a datastore: its attributes laid over discovery from `sources`,
/// remembering the last good controller in `state_dir`.
pub fn client_config(
    cfg: &DsConfig,
    sources: &Sources,
    state_dir: Option<PathBuf>,
) -> Result<ClientConfig, linstor_common::Error> {
    let overlay = Overlay {
        state_dir,
        ..cfg.client_overlay()
    };
    ClientConfig::discover(&overlay, sources)
}

fn mb_to_kib(mb: u64) -> u64 {
    mb.saturating_mul(1024)
}

impl Driver {
    /// A driver with the given collaborators.
    pub fn new(
        hosts: Arc<dyn HostSteps>,
        oned: Arc<dyn OnedInfo>,
        sources: Sources,
        frontend_node: String,
    ) -> Self {
        Self {
            hosts,
            oned,
            sources,
            frontend_node,
            state_dir: None,
            lock_dir: std::env::temp_dir().join("linstor-one-locks"),
            device_timeout: Duration::from_secs(60),
            driver_name: "linstor".into(),
            monitord: Arc::new(UdpMonitor::from_env()),
            storages: Mutex::new(HashMap::new()),
            warnings: Mutex::new(Vec::new()),
        }
    }

    fn warn(&self, msg: String) {
        warn!("{msg}");
        self.warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(msg);
    }

    /// Storage layer and settings of a datastore (built once per run).
    pub fn storage(&self, ds: &Datastore) -> R<(Storage, DsConfig)> {
        if let Some(s) = self
            .storages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ds.id)
        {
            return Ok(s.clone());
        }
        let cfg = DsConfig::from_template(&ds.template);
        for w in &cfg.warnings {
            self.warn(format!("datastore {}: {w}", ds.id));
        }
        let cc = client_config(&cfg, &self.sources, self.state_dir.clone())
            .map_err(lin(format!("controllers of datastore {}", ds.id)))?;
        let client = Client::new(cc).map_err(lin(format!("controllers of datastore {}", ds.id)))?;
        let mut sc = StorageConfig::new(Platform::OpenNebula, self.frontend_node.clone());
        if let Some(rg) = &cfg.resource_group {
            sc.resource_group = rg.clone();
        }
        sc.cache_dir = self.state_dir.clone();
        sc.controller_vm = cfg.controller_vm.clone();
        sc.device_timeout = self.device_timeout;
        let host: Arc<dyn HostOps> = Arc::new(RealHost);
        let storage = Storage::new(sc, client, host);
        self.storages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ds.id, (storage.clone(), cfg.clone()));
        Ok((storage, cfg))
    }

    fn storage_of(&self, ds_id: u64) -> R<(Storage, DsConfig)> {
        if let Some(s) = self
            .storages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ds_id)
        {
            return Ok(s.clone());
        }
        let ds = self.oned.datastore(ds_id)?;
        self.storage(&ds)
    }

    fn lock(&self, rd: &str) -> R<std::fs::File> {
        use fs2::FileExt as _;
        let path = self.lock_dir.join(format!("{rd}.lock"));
        let file = std::fs::create_dir_all(&self.lock_dir)
            .and_then(|_| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
            })
            .and_then(|f| f.lock_exclusive().map(|_| f))
            .map_err(|e| {
                usage(format!(
                    "cannot lock {}: {e}; check LINSTOR_ONE_LOCK_DIR",
                    path.display()
                ))
            })?;
        Ok(file)
    }

    fn spec(&self, cfg: &DsConfig, name: &str, size_kib: u64, props: Props) -> CreateSpec {
        let filter = (cfg.resource_group.is_none()
            && (cfg.replica_count.is_some()
                || !cfg.storage_pools.is_empty()
                || !cfg.node_list.is_empty()))
        .then(|| AutoSelectFilter {
            place_count: cfg
                .replica_count
                .map(|n| n as i32)
                .or((!cfg.node_list.is_empty()).then_some(cfg.node_list.len() as i32)),
            storage_pool_list: cfg.storage_pools.clone(),
            node_name_list: cfg.node_list.clone(),
            ..Default::default()
        });
        CreateSpec {
            name: name.to_string(),
            size_kib,
            resource_group: cfg.resource_group.clone(),
            props,
            local_replica: false,
            filter,
        }
    }

    async fn attach_linked(&self, st: &Storage, rd: &str, host: &str, link: &str) -> R<()> {
        st.attach(rd, host)
            .await
            .map_err(lin(format!("attach '{rd}' on '{host}'")))?;
        self.hosts.wait_device(host, rd, self.device_timeout)?;
        self.hosts.link(host, link, rd)?;
        Ok(())
    }

    /// A node that can read and write `rd` for a DS-side copy: a BRIDGE_LIST host holding a
    /// replica, else the first BRIDGE_LIST host, else the first diskful node; and whether it
    /// holds a disk there already (then it needs no attachment).
    async fn bridge(&self, st: &Storage, cfg: &DsConfig, rd: &str) -> R<(String, bool)> {
        let replicas = st
            .replicas(rd)
            .await
            .map_err(lin(format!("resource '{rd}'")))?;
        let diskful_on = |node: &str| {
            replicas
                .iter()
                .any(|r| !r.diskless && r.node.eq_ignore_ascii_case(node))
        };
        let node = cfg
            .bridge_list
            .iter()
            .find(|b| replicas.iter().any(|r| r.node.eq_ignore_ascii_case(b)))
            .or(cfg.bridge_list.first())
            .cloned()
            .or_else(|| {
                replicas
                    .iter()
                    .find(|r| !r.diskless)
                    .map(|r| r.node.clone())
            })
            .ok_or_else(|| {
                usage(format!(
                    "resource '{rd}' has no diskful replica to copy through"
                ))
            })?;
        let has_disk = diskful_on(&node);
        Ok((node, has_disk))
    }

    async fn with_bridge<T>(
        &self,
        st: &Storage,
        cfg: &DsConfig,
        rd: &str,
        f: impl FnOnce(&str) -> Result<T, crate::host::HostError>,
    ) -> R<T> {
        let (node, has_disk) = self.bridge(st, cfg, rd).await?;
        if has_disk {
            self.hosts.wait_device(&node, rd, self.device_timeout)?;
            return Ok(f(&node)?);
        }
        st.attach(rd, &node)
            .await
            .map_err(lin(format!("attach '{rd}' on bridge '{node}'")))?;
        let r = self
            .hosts
            .wait_device(&node, rd, self.device_timeout)
            .and_then(|_| f(&node));
        if let Err(e) = st.detach(rd, &node).await {
            self.warn(format!(
                "temporary attachment of '{rd}' on '{node}' kept: {e}"
            ));
        }
        Ok(r?)
    }

    /// Run one action; the result is the exact stdout.
    pub async fn run(&self, action: Action) -> R<String> {
        match action {
            Action::Ds { kind, id, data } => {
                let span = info_span!("ds", action = kind.name(), id);
                self.ds(kind, id, *data).instrument(span).await
            }
            other => self.tm(other).await,
        }
    }

    async fn ds(&self, kind: DsKind, id: u64, data: ActionData) -> R<String> {
        let img = data.image.clone().unwrap_or_default();
        if kind == DsKind::Stat {
            return stat(&img.path).map(|mb| mb.to_string());
        }
        let ds = data
            .datastore
            .clone()
            .ok_or_else(|| usage("the driver message has no <DATASTORE>"))?;
        let (st, cfg) = self.storage(&ds)?;
        match kind {
            DsKind::Stat => unreachable_stat(),
            DsKind::Monitor => {
                let out = self.monitor(&st, &cfg).await?;
                if ds.ds_type == Some(1) && data.monitor_vm_disks {
                    self.report_vm_disks(&st, ds.id).await;
                }
                Ok(out)
            }
            DsKind::Cp => self.ds_cp(&st, &cfg, id, &img, &ds).await,
            DsKind::Mkfs => self.ds_mkfs(&st, &cfg, id, &img, &ds).await,
            DsKind::Rm => {
                if img.source.is_empty() {
                    return Ok(String::new());
                }
                let rd = source_rd(&img.source)?;
                let _l = self.lock(&rd)?;
                st.delete(&rd)
                    .await
                    .map_err(lin(format!("delete '{rd}'")))?;
                Ok(String::new())
            }
            DsKind::Clone => {
                let src = source_rd(&img.path)?;
                let name = cfg.scheme.image(id);
                let _l = self.lock(&name)?;
                let mut props = Props::new();
                props.insert(PROP_IMAGE_ID.into(), id.to_string());
                props.insert(PROP_DS_ID.into(), ds.id.to_string());
                let spec = self.spec(&cfg, &name, 0, props);
                st.clone_volume(&src, &spec)
                    .await
                    .and_then(|o| o.fresh(&name))
                    .map_err(lin(format!("clone '{src}' into '{name}'")))?;
                let source = cfg.scheme.source(&name);
                Ok(if img.format.is_empty() {
                    source
                } else {
                    format!("{source} {}", img.format)
                })
            }
            DsKind::SnapDelete | DsKind::SnapRevert | DsKind::SnapFlatten => {
                let rd = source_rd(&img.source)?;
                let snap = img.target_snapshot.ok_or_else(|| {
                    usage("IMAGE/TARGET_SNAPSHOT is missing; oned sends the snapshot id there")
                })?;
                let _l = self.lock(&rd)?;
                self.snap_op(&st, &cfg, &rd, snap, kind).await?;
                Ok(String::new())
            }
            DsKind::Export => {
                let rd = source_rd(&img.source)?;
                let info = st
                    .get(&rd)
                    .await
                    .map_err(lin(format!("resource '{rd}'")))?
                    .ok_or_else(|| usage(format!("image resource '{rd}' does not exist")))?;
                let node = info
                    .diskful_nodes()
                    .first()
                    .map(|s| s.to_string())
                    .ok_or_else(|| usage(format!("resource '{rd}' has no diskful replica")))?;
                let dev = self.hosts.wait_device(&node, &rd, self.device_timeout)?;
                let md5 = self.hosts.md5(&node, &rd)?;
                let format = if img.format.is_empty() {
                    "raw"
                } else {
                    &img.format
                };
                Ok(format!(
                    "<IMPORT_INFO><IMPORT_SOURCE>{}</IMPORT_SOURCE><MD5>{md5}</MD5><SIZE>{}</SIZE><FORMAT>{}</FORMAT><DISPOSE>NO</DISPOSE></IMPORT_INFO>",
                    crate::xml::escape(&format!("ssh://{node}:{}", dev.display())),
                    info.size_kib / 1024,
                    crate::xml::escape(format),
                ))
            }
        }
    }

    async fn snap_op(
        &self,
        st: &Storage,
        cfg: &DsConfig,
        rd: &str,
        snap: u64,
        kind: DsKind,
    ) -> R<()> {
        let snaps = st
            .snapshot_list(rd)
            .await
            .map_err(lin(format!("snapshots of '{rd}'")))?;
        let cands = on::snapshot_candidates(cfg.scheme, snap);
        let found = snaps
            .iter()
            .find(|s| cands.iter().any(|c| c.eq_ignore_ascii_case(&s.name)))
            .map(|s| s.name.clone());
        match kind {
            DsKind::SnapDelete => {
                if let Some(name) = found {
                    st.snapshot_delete(rd, &name)
                        .await
                        .map_err(lin(format!("delete snapshot '{name}' of '{rd}'")))?;
                }
                Ok(())
            }
            DsKind::SnapRevert => {
                let name = found.ok_or_else(|| {
                    usage(format!(
                        "snapshot {snap} of '{rd}' does not exist in LINSTOR (looked for {})",
                        cands.join(", ")
                    ))
                })?;
                st.snapshot_rollback(rd, &name)
                    .await
                    .map_err(lin(format!("revert '{rd}' to snapshot '{name}'")))
            }
            _ => {
                if let Some(name) = &found {
                    st.snapshot_rollback(rd, name)
                        .await
                        .map_err(lin(format!("revert '{rd}' to snapshot '{name}'")))?;
                }
                for s in snaps.iter().rev() {
                    st.snapshot_delete(rd, &s.name)
                        .await
                        .map_err(lin(format!("delete snapshot '{}' of '{rd}'", s.name)))?;
                }
                Ok(())
            }
        }
    }

    async fn monitor(&self, st: &Storage, cfg: &DsConfig) -> R<String> {
        let cap = st
            .capacity(cfg.resource_group.as_deref(), CAPACITY_TTL)
            .await
            .map_err(lin("capacity"))?;
        if cap.stale {
            self.warn("no controller answered; capacity is from the cache".into());
        }
        let total = cap.total_kib / 1024;
        let free = cap.free_kib / 1024;
        Ok(format!(
            "USED_MB={}\nTOTAL_MB={total}\nFREE_MB={free}",
            total.saturating_sub(free)
        ))
    }

    /// Push `DISK_SIZE`/`SNAPSHOT_SIZE` of every VM disk charged to system DS `ds_id` to
    /// monitord. Failures are warnings: capacity is still reported.
    async fn report_vm_disks(&self, st: &Storage, ds_id: u64) {
        let vms = match self.vm_disks(st, ds_id).await {
            Ok(v) => v,
            Err(e) => {
                self.warn(format!("VM disk sizes not reported: {e}"));
                return;
            }
        };
        if vms.is_empty() {
            return;
        }
        let payload = crate::monitord::vm_payload(&vms);
        match self.monitord.send_vm_monitor(&payload) {
            Ok(()) => info!(vms = vms.len(), "VM disk sizes sent to monitord"),
            Err(e) => self.warn(format!("VM disk sizes not reported: {e}")),
        }
    }

    /// Disk and snapshot sizes (MB) per VM of every VM disk this platform owns whose
    /// `Aux/one/DS_ID` is `ds_id` or unset (LINBIT names carry no DS). Two requests for the
    /// volumes, one for all snapshots.
    pub async fn vm_disks(&self, st: &Storage, ds_id: u64) -> R<Vec<VmDisks>> {
        let vols = st.list().await.map_err(lin("volume list"))?;
        let snaps = st
            .client()
            .view_snapshots(&[])
            .await
            .map_err(lin("snapshot list"))?;
        let ds = ds_id.to_string();
        let mut by_vm: std::collections::BTreeMap<u64, VmDisks> = Default::default();
        for v in &vols {
            let Some((vm_id, disk_id)) = on::disk_of(&v.name, &v.props) else {
                continue;
            };
            if v.props.get(PROP_DS_ID).is_some_and(|d| d.trim() != ds) {
                continue;
            }
            let entry = by_vm.entry(vm_id).or_insert_with(|| VmDisks {
                vm_id,
                ..Default::default()
            });
            entry.disks.push((disk_id, v.size_kib.div_ceil(1024)));
            for s in snaps
                .iter()
                .filter(|s| s.resource_name.eq_ignore_ascii_case(&v.name))
            {
                let Some(snap_id) = on::snapshot_id_of(&s.name) else {
                    continue;
                };
                let kib = on::recorded_snapshot_kib(&v.props, snap_id).unwrap_or_else(|| {
                    s.volume_definitions
                        .iter()
                        .find(|vd| vd.volume_number.unwrap_or(0) == 0)
                        .map(|vd| vd.size_kib)
                        .unwrap_or(0)
                });
                entry.snapshots.push((snap_id, disk_id, kib.div_ceil(1024)));
            }
        }
        let mut out: Vec<VmDisks> = by_vm.into_values().collect();
        for vm in &mut out {
            vm.disks.sort_unstable();
            vm.snapshots.sort_unstable_by_key(|&(s, d, _)| (d, s));
        }
        Ok(out)
    }

    /// For the controller VM: link the device when it is already on `host`, with no LINSTOR
    /// call. `Ok(true)` when that was enough.
    fn controller_vm_link(&self, st: &Storage, vm_id: u64, rd: &str, dst: &HostPath) -> R<bool> {
        if !st.is_controller_vm_id(&vm_id.to_string())
            || self
                .hosts
                .wait_device(&dst.host, rd, Duration::ZERO)
                .is_err()
        {
            return Ok(false);
        }
        info!(volume = %rd, "disk of the controller VM is present on '{}'; linked without the controller", dst.host);
        self.hosts.link(&dst.host, &dst.path, rd)?;
        Ok(true)
    }

    /// Creates the volume of a new image. A volume of the same image (same props and size,
    /// with disks) left by an interrupted run is taken over, so oned's retry succeeds; its
    /// content is written again by the caller.
    async fn create_image_volume(
        &self,
        st: &Storage,
        cfg: &DsConfig,
        name: &str,
        size_kib: u64,
        props: Props,
    ) -> R<()> {
        let spec = self.spec(cfg, name, size_kib, props);
        let outcome = st
            .create(&spec)
            .await
            .and_then(|o| o.fresh_or_retry_of(&spec))
            .map_err(lin(format!("create '{name}'")))?;
        if matches!(outcome, CreateOutcome::Existing(_)) {
            info!(volume = %name, "already created for this image by an interrupted run");
        }
        Ok(())
    }

    async fn ds_cp(
        &self,
        st: &Storage,
        cfg: &DsConfig,
        id: u64,
        img: &Image,
        ds: &Datastore,
    ) -> R<String> {
        if img.path.is_empty() {
            return Err(usage("IMAGE/PATH is empty; nothing to import"));
        }
        let size_mb = match img.size_mb.filter(|s| *s > 0) {
            Some(s) => s,
            None => stat(&img.path)?,
        };
        let name = cfg.scheme.image(id);
        let _l = self.lock(&name)?;
        let mut props = Props::new();
        props.insert(PROP_IMAGE_ID.into(), id.to_string());
        props.insert(PROP_DS_ID.into(), ds.id.to_string());
        self.create_image_volume(st, cfg, &name, mb_to_kib(size_mb.max(1)), props)
            .await?;
        let path = img.path.clone();
        let hosts = self.hosts.clone();
        let copied = self
            .with_bridge(st, cfg, &name, |node| hosts.write_image(node, &name, &path))
            .await;
        match copied {
            Ok(format) => Ok(format!("{} {format}", cfg.scheme.source(&name))),
            Err(e) => {
                if let Err(d) = st.delete(&name).await {
                    self.warn(format!(
                        "could not remove '{name}' after the failed import: {d}"
                    ));
                }
                Err(e)
            }
        }
    }

    async fn ds_mkfs(
        &self,
        st: &Storage,
        cfg: &DsConfig,
        id: u64,
        img: &Image,
        ds: &Datastore,
    ) -> R<String> {
        let name = cfg.scheme.image(id);
        let source = cfg.scheme.source(&name);
        if img.format == "save_as" {
            return Ok(source);
        }
        let size_mb = img
            .size_mb
            .filter(|s| *s > 0)
            .ok_or_else(|| usage("IMAGE/SIZE is missing or 0; give the datablock a size"))?;
        let _l = self.lock(&name)?;
        let mut props = Props::new();
        props.insert(PROP_IMAGE_ID.into(), id.to_string());
        props.insert(PROP_DS_ID.into(), ds.id.to_string());
        self.create_image_volume(st, cfg, &name, mb_to_kib(size_mb), props)
            .await?;
        let fs = if !img.fs.is_empty() {
            Some(img.fs.clone())
        } else if img.format == "qcow2" {
            Some("qcow2".to_string())
        } else {
            None
        };
        if let Some(fs) = fs {
            let hosts = self.hosts.clone();
            let r = self
                .with_bridge(st, cfg, &name, |node| hosts.mkfs(node, &name, &fs, size_mb))
                .await;
            if let Err(e) = r {
                if let Err(d) = st.delete(&name).await {
                    self.warn(format!(
                        "could not remove '{name}' after the failed mkfs: {d}"
                    ));
                }
                return Err(e);
            }
        }
        Ok(source)
    }

    /// The RD of disk `disk_id` of a VM, and whether it belongs to the VM alone.
    async fn disk_rd(
        &self,
        st: &Storage,
        cfg: &DsConfig,
        vm: &Vm,
        disk_id: u64,
    ) -> R<(String, bool)> {
        let (rd, own, _) = self.disk_rd_def(st, cfg, vm, disk_id).await?;
        Ok((rd, own))
    }

    /// [`Self::disk_rd`] with the definition when finding the RD read it already.
    async fn disk_rd_def(
        &self,
        st: &Storage,
        cfg: &DsConfig,
        vm: &Vm,
        disk_id: u64,
    ) -> R<(String, bool, Option<ResourceDefinition>)> {
        let disk: &Disk = vm
            .disk(disk_id)
            .ok_or_else(|| usage(format!("VM {} has no DISK with DISK_ID={disk_id}", vm.id)))?;
        let cands: Vec<String> = if disk.is_volatile() {
            on::volatile_candidates(cfg.scheme, vm.id, disk_id).to_vec()
        } else if disk.clone {
            let src = source_rd(&disk.source)?;
            on::vm_disk_candidates(cfg.scheme, &src, vm.id, disk_id).to_vec()
        } else {
            return Ok((source_rd(&disk.source)?, false, None));
        };
        for c in &cands {
            if valid_rd(c).is_ok() {
                if let Some(def) = st.lookup(c).await.map_err(lin(format!("resource '{c}'")))? {
                    return Ok((c.clone(), true, Some(def)));
                }
            }
        }
        Ok((valid_rd(&cands[0])?, true, None))
    }

    async fn vm_disk(
        &self,
        st: &Storage,
        cfg: &DsConfig,
        vm_id: u64,
        disk: &HostPath,
    ) -> R<(String, bool)> {
        let vm = self.oned.vm(vm_id)?;
        let id = disk
            .disk_id()
            .ok_or_else(|| usage(format!("'{}' is not a disk path", disk.path)))?;
        self.disk_rd(st, cfg, &vm, id).await
    }

    async fn is_node(&self, st: &Storage, host: &str) -> R<bool> {
        let nodes = st.nodes().await.map_err(lin("node list"))?;
        Ok(nodes.iter().any(|n| n.name.eq_ignore_ascii_case(host)))
    }

    async fn tm(&self, action: Action) -> R<String> {
        match action {
            Action::Ds { .. } => Err(usage("internal: DS action on the TM path")),
            Action::Clone {
                src,
                dst,
                vm_id,
                ds_id,
            } => {
                let span = info_span!("tm_clone", vm = vm_id, volume = %src.path);
                async {
                    let (st, cfg) = self.storage_of(ds_id)?;
                    let src_rd = source_rd(&src.path)?;
                    let disk_id = dst.disk_id().unwrap_or(0);
                    let name = valid_rd(&cfg.scheme.vm_disk(&src_rd, vm_id, disk_id))?;
                    if self.controller_vm_link(&st, vm_id, &name, &dst)? {
                        return Ok(String::new());
                    }
                    let vm = self.oned.vm(vm_id)?;
                    let _l = self.lock(&name)?;
                    let mut props = Props::new();
                    props.insert(PROP_VM_ID.into(), vm_id.to_string());
                    props.insert(PROP_DISK_ID.into(), disk_id.to_string());
                    props.insert(
                        PROP_DS_ID.into(),
                        system_ds_of(dst.dir()).unwrap_or(ds_id).to_string(),
                    );
                    let want_kib = vm.disk(disk_id).and_then(|d| d.size_mb).map(mb_to_kib);
                    let spec = self.spec(&cfg, &name, 0, props);
                    let cloned = st.clone_grown(&src_rd, &spec, want_kib.unwrap_or(0)).await;
                    let (created, r) = match cloned {
                        Ok(CreateOutcome::Existing(info)) => {
                            let r = async {
                                if let Some(kib) = want_kib.filter(|k| info.size_kib < *k) {
                                    st.resize(&name, kib)
                                        .await
                                        .map_err(lin(format!("resize '{name}'")))?;
                                }
                                self.attach_linked(&st, &name, &dst.host, &dst.path).await
                            }
                            .await;
                            (false, r)
                        }
                        Ok(outcome) => (
                            outcome == CreateOutcome::Created,
                            async { st.created(&spec)?.attach(&dst.host, None).await }
                                .await
                                .map_err(lin(format!("attach '{name}' on '{}'", dst.host)))
                                .and_then(|_| {
                                    self.hosts.wait_device(
                                        &dst.host,
                                        &name,
                                        self.device_timeout,
                                    )?;
                                    self.hosts.link(&dst.host, &dst.path, &name)?;
                                    Ok(())
                                }),
                        ),
                        Err(e) => return Err(lin(format!("clone '{src_rd}' into '{name}'"))(e)),
                    };
                    if r.is_err() && created {
                        if let Err(d) = st.delete(&name).await {
                            self.warn(format!(
                                "could not remove '{name}' after the failed clone: {d}"
                            ));
                        }
                    }
                    r.map(|_| String::new())
                }
                .instrument(span)
                .await
            }
            Action::Ln {
                src,
                dst,
                vm_id,
                ds_id,
            } => {
                let (st, _) = self.storage_of(ds_id)?;
                let rd = source_rd(&src.path)?;
                let _s = info_span!("tm_ln", vm = vm_id, volume = %rd).entered();
                if self.controller_vm_link(&st, vm_id, &rd, &dst)? {
                    return Ok(String::new());
                }
                let _l = self.lock(&rd)?;
                self.attach_linked(&st, &rd, &dst.host, &dst.path).await?;
                Ok(String::new())
            }
            Action::Mvds {
                disk,
                source,
                vm_id,
                ds_id,
            } => {
                let (st, _) = self.storage_of(ds_id)?;
                let rd = source_rd(&source)?;
                let _s = info_span!("tm_mvds", vm = vm_id, volume = %rd).entered();
                let _l = self.lock(&rd)?;
                if let Err(e) = self.hosts.unlink(&disk.host, &disk.path) {
                    self.warn(e.to_string());
                }
                st.detach(&rd, &disk.host)
                    .await
                    .map_err(lin(format!("detach '{rd}' from '{}'", disk.host)))?;
                Ok(String::new())
            }
            Action::Mv {
                src,
                dst,
                vm_id,
                ds_id,
            } => self.tm_mv(src, dst, vm_id, ds_id).await,
            Action::Cpds {
                disk,
                new_source,
                snap_id,
                vm_id,
                ds_id,
            } => {
                let (st, cfg) = self.storage_of(ds_id)?;
                let (rd, _) = self.vm_disk(&st, &cfg, vm_id, &disk).await?;
                let new = source_rd(&new_source)?;
                let _s = info_span!("tm_cpds", vm = vm_id, volume = %rd, target = %new).entered();
                let _l = self.lock(&new)?;
                let mut props = Props::new();
                if let Some(id) = image_id_of(&new) {
                    props.insert(PROP_IMAGE_ID.into(), id.to_string());
                }
                props.insert(PROP_DS_ID.into(), ds_id.to_string());
                let spec = self.spec(&cfg, &new, 0, props);
                match snap_id {
                    None => {
                        st.clone_volume(&rd, &spec)
                            .await
                            .and_then(|o| o.fresh(&new))
                            .map_err(lin(format!("copy '{rd}' into '{new}'")))?;
                    }
                    Some(s) => {
                        let snaps = st
                            .snapshot_list(&rd)
                            .await
                            .map_err(lin(format!("snapshots of '{rd}'")))?;
                        let cands = on::snapshot_candidates(cfg.scheme, s);
                        let name = snaps
                            .iter()
                            .find(|x| cands.iter().any(|c| c.eq_ignore_ascii_case(&x.name)))
                            .map(|x| x.name.clone())
                            .ok_or_else(|| {
                                usage(format!("snapshot {s} of '{rd}' does not exist in LINSTOR"))
                            })?;
                        st.restore(&rd, &name, &spec).await.map_err(lin(format!(
                            "restore snapshot '{name}' of '{rd}' into '{new}'"
                        )))?;
                    }
                }
                Ok(String::new())
            }
            Action::Delete {
                target,
                vm_id,
                ds_id,
            } => {
                let Some(_) = target.disk_id() else {
                    self.hosts.remove_dir(&target.host, &target.path)?;
                    return Ok(String::new());
                };
                let (st, cfg) = self.storage_of(ds_id)?;
                if st.is_controller_vm_id(&vm_id.to_string()) {
                    self.warn(format!(
                        "disk {} of VM {vm_id} (LINSTOR_CONTROLLER_VM) kept in LINSTOR and attached",
                        target.path
                    ));
                    return Ok(String::new());
                }
                let (rd, own) = self.vm_disk(&st, &cfg, vm_id, &target).await?;
                let _s = info_span!("tm_delete", vm = vm_id, volume = %rd).entered();
                let _l = self.lock(&rd)?;
                if let Err(e) = self.hosts.unlink(&target.host, &target.path) {
                    self.warn(e.to_string());
                }
                let def = st
                    .lookup(&rd)
                    .await
                    .map_err(lin(format!("resource '{rd}'")))?;
                let Some(def) = def else {
                    return Ok(String::new());
                };
                let vm_owned = own
                    && def
                        .props
                        .get(PROP_VM_ID)
                        .is_none_or(|v| v == &vm_id.to_string());
                if vm_owned {
                    if let Err(e) = st.detach(&rd, &target.host).await {
                        self.warn(format!("detach '{rd}' from '{}': {e}", target.host));
                    }
                    st.delete(&rd)
                        .await
                        .map_err(lin(format!("delete '{rd}'")))?;
                } else {
                    st.detach(&rd, &target.host)
                        .await
                        .map_err(lin(format!("detach '{rd}' from '{}'", target.host)))?;
                }
                Ok(String::new())
            }
            Action::Migrate {
                step,
                src_host,
                dst_host,
                dir,
                vm_id,
                ds_id,
                caller,
                vm,
            } => {
                let vm = match vm {
                    Some(v) => *v,
                    None => self.oned.vm(vm_id)?,
                };
                self.migrate(
                    step,
                    &src_host,
                    &dst_host,
                    &dir,
                    &vm,
                    ds_id,
                    caller.is_some(),
                )
                .await
            }
            Action::Context { files, dst, .. } => {
                self.hosts.context(&files, &dst.host, &dst.path)?;
                Ok(String::new())
            }
            Action::MkImage {
                size_mb,
                format,
                dst,
                vm_id,
                ds_id,
            } => {
                let (st, cfg) = self.storage_of(ds_id)?;
                let disk_id = dst.disk_id().unwrap_or(0);
                let name = valid_rd(&cfg.scheme.volatile(vm_id, disk_id))?;
                let _s = info_span!("tm_mkimage", vm = vm_id, volume = %name).entered();
                let _l = self.lock(&name)?;
                let mut props = Props::new();
                props.insert(PROP_VM_ID.into(), vm_id.to_string());
                props.insert(PROP_DISK_ID.into(), disk_id.to_string());
                props.insert(PROP_DS_ID.into(), ds_id.to_string());
                st.create(&self.spec(&cfg, &name, mb_to_kib(size_mb.max(1)), props))
                    .await
                    .and_then(|outcome| outcome.fresh(&name))
                    .map_err(lin(format!("create '{name}'")))?;
                let r = async {
                    st.attach(&name, &dst.host)
                        .await
                        .map_err(lin(format!("attach '{name}' on '{}'", dst.host)))?;
                    self.hosts
                        .wait_device(&dst.host, &name, self.device_timeout)?;
                    if format != "raw" {
                        self.hosts.mkfs(&dst.host, &name, &format, size_mb)?;
                    }
                    self.hosts.link(&dst.host, &dst.path, &name)?;
                    Ok::<_, DriverError>(())
                }
                .await;
                if r.is_err() {
                    if let Err(d) = st.delete(&name).await {
                        self.warn(format!(
                            "could not remove '{name}' after the failed mkimage: {d}"
                        ));
                    }
                }
                r.map(|_| String::new())
            }
            Action::Snap {
                op,
                disk,
                snap_id,
                vm_id,
                ds_id,
            } => {
                let (st, cfg) = self.storage_of(ds_id)?;
                let (rd, _) = self.vm_disk(&st, &cfg, vm_id, &disk).await?;
                let _s = info_span!("tm_snap", vm = vm_id, volume = %rd, snap = snap_id).entered();
                let _l = self.lock(&rd)?;
                match op {
                    SnapOp::Create | SnapOp::CreateLive => {
                        if op == SnapOp::CreateLive {
                            info!("live snapshot: crash-consistent (no guest freeze)");
                        }
                        let name = cfg.scheme.snapshot(snap_id);
                        let existing = st
                            .snapshot_list(&rd)
                            .await
                            .map_err(lin(format!("snapshots of '{rd}'")))?;
                        if !existing.iter().any(|s| s.name.eq_ignore_ascii_case(&name)) {
                            st.snapshot_create(&rd, &name, Props::new())
                                .await
                                .map_err(lin(format!("snapshot '{rd}' as '{name}'")))?;
                        }
                    }
                    SnapOp::Delete => {
                        self.snap_op(&st, &cfg, &rd, snap_id, DsKind::SnapDelete)
                            .await?
                    }
                    SnapOp::Revert => {
                        self.snap_op(&st, &cfg, &rd, snap_id, DsKind::SnapRevert)
                            .await?
                    }
                }
                Ok(String::new())
            }
            Action::Resize {
                disk,
                size_mb,
                vm_id,
                ds_id,
            } => {
                let (st, cfg) = self.storage_of(ds_id)?;
                let (rd, _) = self.vm_disk(&st, &cfg, vm_id, &disk).await?;
                let _s = info_span!("tm_resize", vm = vm_id, volume = %rd).entered();
                let _l = self.lock(&rd)?;
                st.resize(&rd, mb_to_kib(size_mb))
                    .await
                    .map_err(lin(format!("resize '{rd}' to {size_mb} MB")))?;
                Ok(String::new())
            }
        }
    }

    async fn tm_mv(&self, src: HostPath, dst: HostPath, vm_id: u64, ds_id: u64) -> R<String> {
        let Some(disk_id) = src.disk_id() else {
            if src == dst {
                return Ok(String::new());
            }
            if src.host != dst.host || src.path != dst.path {
                if let Err(e) = self
                    .hosts
                    .copy_dir(&src.host, &src.path, &dst.host, &dst.path)
                {
                    self.warn(format!(
                        "VM directory not copied from '{}' ({e}); recreating it empty",
                        src.host
                    ));
                    self.hosts.make_dir(&dst.host, &dst.path)?;
                }
                if let Err(e) = self.hosts.remove_dir(&src.host, &src.path) {
                    self.warn(e.to_string());
                }
            }
            return Ok(String::new());
        };
        let (st, cfg) = self.storage_of(ds_id)?;
        let vm = self.oned.vm(vm_id)?;
        let (rd, _) = self.disk_rd(&st, &cfg, &vm, disk_id).await?;
        let _s = info_span!("tm_mv", vm = vm_id, volume = %rd).entered();
        let _l = self.lock(&rd)?;
        let dst_is_node = self.is_node(&st, &dst.host).await?;
        if dst_is_node {
            self.attach_linked(&st, &rd, &dst.host, &dst.path).await?;
        }
        if src.host != dst.host {
            if let Err(e) = self.hosts.unlink(&src.host, &src.path) {
                self.warn(e.to_string());
            }
            if self.is_node(&st, &src.host).await? {
                if let Err(e) = st.detach(&rd, &src.host).await {
                    self.warn(format!("detach '{rd}' from '{}': {e}", src.host));
                }
            }
        }
        Ok(String::new())
    }

    #[allow(clippy::too_many_arguments)]
    async fn migrate(
        &self,
        step: MigrateStep,
        src: &str,
        dst: &str,
        dir: &str,
        vm: &Vm,
        sys_ds: u64,
        called_by_other: bool,
    ) -> R<String> {
        let ours: Vec<&Disk> = vm
            .disks
            .iter()
            .filter(|d| d.tm_mad == self.driver_name || (d.tm_mad.is_empty() && d.is_volatile()))
            .collect();
        if step == MigrateStep::Pre && !called_by_other {
            if let Err(e) = self.hosts.copy_dir(src, dir, dst, dir) {
                self.warn(format!(
                    "VM directory not copied from '{src}' ({e}); creating it"
                ));
                self.hosts.make_dir(dst, dir)?;
            }
        }
        for d in ours {
            let ds_id = d.datastore_id.unwrap_or(sys_ds);
            let (st, cfg) = self.storage_of(ds_id)?;
            let (rd, _, def) = self.disk_rd_def(&st, &cfg, vm, d.disk_id).await?;
            let link = format!("{dir}/disk.{}", d.disk_id);
            let span = info_span!("migrate", vm = vm.id, volume = %rd);
            async {
                let _l = self.lock(&rd)?;
                match step {
                    MigrateStep::Pre => {
                        let def = match def {
                            Some(d) => d,
                            None => st
                                .lookup(&rd)
                                .await
                                .map_err(lin(format!("resource '{rd}'")))?
                                .ok_or_else(|| {
                                    lin(format!("prepare '{rd}' on '{dst}'"))(
                                        linstor_common::Error::NotFound {
                                            what: format!("volume '{rd}'"),
                                            reports: Vec::new(),
                                        },
                                    )
                                })?,
                        };
                        st.owned(&def)
                            .map_err(lin(format!("prepare '{rd}' on '{dst}'")))?
                            .migrate_begin(src, dst, TwoPrimaries::Migration)
                            .await
                            .map_err(lin(format!("prepare '{rd}' on '{dst}'")))?;
                        self.hosts.wait_device(dst, &rd, self.device_timeout)?;
                        self.hosts.link(dst, &link, &rd)?;
                    }
                    MigrateStep::Post => {
                        st.migrate_commit(&rd, src, dst)
                            .await
                            .map_err(lin(format!("release '{rd}' on '{src}'")))?;
                    }
                    MigrateStep::Fail => {
                        if let Err(e) = self.hosts.unlink(dst, &link) {
                            self.warn(e.to_string());
                        }
                        st.migrate_abort(&rd, src, dst)
                            .await
                            .map_err(lin(format!("release '{rd}' on '{dst}'")))?;
                    }
                }
                Ok::<_, DriverError>(())
            }
            .instrument(span)
            .await?;
        }
        if step == MigrateStep::Post && !called_by_other {
            if let Err(e) = self.hosts.remove_dir(src, dir) {
                self.warn(e.to_string());
            }
        }
        Ok(String::new())
    }
}

fn unreachable_stat() -> R<String> {
    Err(usage(
        "internal: stat is answered before the datastore is read",
    ))
}

/// Size in MB (rounded up) of an image to import; qcow2 reports its virtual size.
pub fn stat(path: &str) -> R<u64> {
    use std::io::Read as _;
    if path.is_empty() {
        return Err(usage("IMAGE/PATH is empty; nothing to size"));
    }
    if path.contains("://") && !path.starts_with("file://") {
        return Err(usage(format!(
            "cannot size '{path}': only local files are supported by this driver's stat; upload the image to the front-end first"
        )));
    }
    let local = path.strip_prefix("file://").unwrap_or(path);
    let mut f =
        std::fs::File::open(local).map_err(|e| usage(format!("cannot open '{local}': {e}")))?;
    let len = f
        .metadata()
        .map_err(|e| usage(format!("cannot stat '{local}': {e}")))?
        .len();
    let mut head = [0u8; 32];
    let n = f.read(&mut head).unwrap_or(0);
    let bytes = if n >= 32 && head.starts_with(b"QFI\xfb") {
        u64::from_be_bytes(head[24..32].try_into().unwrap_or([0; 8]))
    } else {
        len
    };
    Ok(bytes.div_ceil(1 << 20).max(1))
}
