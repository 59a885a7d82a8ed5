//! Carries out a parsed [`Request`] through [`linstor_common::volume::Storage`] and answers the
//! JSON document the Perl module expects for that method.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use linstor_common::api::Props;
use linstor_common::config::{read_token_file, ClientConfig, Sources};
use linstor_common::host::RealHost;
use linstor_common::naming::proxmox::{
    self, NameKind, Volname, BASE_PROP, SNAPNAME_PROP, VMID_PROP,
};
use linstor_common::naming::{kib_from_bytes, Platform};
use linstor_common::volume::{
    within_budget, CreateOutcome, CreateSpec, Storage, StorageConfig, TwoPrimaries,
    ALLOW_TWO_PRIMARIES,
};
use linstor_common::{Client, Error};
use serde_json::{json, Value};
use tracing::Instrument;

use crate::error::PveError;
use crate::options::{StoreOptions, TwoPrimariesMode};
use crate::request::{Action, Context, Request};

/// Default directory of the status cache and the last good controller.
pub const CACHE_DIR: &str = "/var/cache/linstor-pve";
/// Total time `status` may spend refreshing from the controller before it serves stale data.
pub const STATUS_BUDGET: Duration = Duration::from_millis(1500);
const EXACT_SIZE: &str = "DrbdOptions/ExactSize";
const IN_USE_WAIT: Duration = Duration::from_secs(10);

fn cache_dir() -> PathBuf {
    std::env::var_os("LINSTOR_PVE_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(CACHE_DIR))
}

/// Where the helper discovers controllers and finds the token file: the system's, with
/// `LINSTOR_PVE_AUTH_JSON` naming another token file.
pub fn sources() -> Sources {
    let mut s = Sources::system();
    if let Some(p) = std::env::var_os("LINSTOR_PVE_AUTH_JSON") {
        s.auth_json = PathBuf::from(p);
    }
    s
}

/// The client configuration of a storage: its options laid over discovery from `src`. A bearer
/// token is never sent over plain HTTP; with a token or basic-auth credentials (`LS_USERNAME`),
/// bare controller hosts are reached over HTTPS.
pub fn client_config(o: &StoreOptions, src: &Sources) -> Result<ClientConfig, PveError> {
    let basic = src
        .ls_username
        .as_deref()
        .is_some_and(|u| !u.trim().is_empty());
    let overlay = o.client_overlay(read_token_file(&src.auth_json)?, basic)?;
    let cc = ClientConfig::discover(&overlay, src)?;
    if cc.token.is_some() {
        if let Some(plain) = cc.controllers.iter().find(|c| !c.is_https()) {
            return Err(PveError::Input(format!(
                "refusing to send the token of {} to {} over plain http: list the controller as https:// (or drop the scheme so https on port 3371 is used)",
                src.auth_json.display(),
                plain.base
            )));
        }
    }
    Ok(cc)
}

/// Build the storage layer for a request. `quick` shortens connect and request timeouts (status,
/// whatever `readtimeout` says); otherwise the storage's read and change bounds apply, each at
/// most 4/5 of the method's timeout so the helper answers before the Perl module stops it.
pub fn storage(ctx: &Context, quick: bool) -> Result<Storage, PveError> {
    let o = &ctx.options;
    let mut cc = client_config(o, &sources())?;
    let dir = cache_dir();
    if quick {
        cc.connect_timeout = Duration::from_millis(500);
        cc.request_timeout = STATUS_BUDGET;
    } else {
        let cap = method_bound_cap(ctx.timeout_secs);
        cc.connect_timeout = Duration::from_secs(1);
        cc.request_timeout = cc.request_timeout.min(cap);
        cc.mutate_timeout = cc.mutate_timeout.min(cap);
    }
    cc.state_dir = Some(dir.clone());
    let client = Client::new(cc)?;
    let mut sc = StorageConfig::new(Platform::Proxmox, ctx.node.clone());
    sc.resource_group = o.resource_group.clone();
    sc.dev_root = ctx.dev_root.clone();
    sc.cache_dir = Some(dir);
    sc.controller_vm = o.controller_vm.clone();
    sc.device_timeout = Duration::from_secs(ctx.timeout_secs.clamp(2, 30) - 1);
    sc.in_use_wait = IN_USE_WAIT;
    Ok(Storage::new(sc, client, Arc::new(RealHost)))
}

/// The longest bound of one controller call inside a method the Perl module stops after
/// `timeout_secs`: 4/5 of it (of 30 s at most).
pub fn method_bound_cap(timeout_secs: u64) -> Duration {
    Duration::from_secs(timeout_secs.clamp(1, 30)) * 4 / 5
}

fn not_found(what: String) -> PveError {
    PveError::Linstor(Error::NotFound {
        what,
        reports: Vec::new(),
    })
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn vmid_value(vmid: &str) -> Value {
    vmid.parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(vmid))
}

fn creation_props(ctx: &Context, vmid: &str) -> Props {
    let mut props = Props::new();
    props.insert(VMID_PROP.into(), vmid.into());
    let exact = if ctx.options.exact_size {
        "True"
    } else {
        "False"
    };
    props.insert(EXACT_SIZE.into(), exact.into());
    match ctx.options.two_primaries {
        TwoPrimariesMode::Permanent => {
            props.insert(ALLOW_TWO_PRIMARIES.into(), "yes".into());
        }
        TwoPrimariesMode::Off => {
            props.insert(ALLOW_TWO_PRIMARIES.into(), "no".into());
        }
        TwoPrimariesMode::Migration => {}
    }
    props
}

/// The storage layers a long-lived helper (`linstor-pve --serve`) keeps between requests, one
/// per storage configuration, so the client and its connections are built once.
#[derive(Default)]
pub struct Storages {
    by_config: Mutex<HashMap<String, Arc<Storage>>>,
}

impl std::fmt::Debug for Storages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.by_config.lock().map(|m| m.len()).unwrap_or_default();
        f.debug_struct("Storages").field("configs", &n).finish()
    }
}

impl Storages {
    /// The storage layer of a request's configuration, built on first use.
    pub fn get(&self, ctx: &Context, quick: bool) -> Result<Arc<Storage>, PveError> {
        let key = format!(
            "{:?}|{}|{}|{}|{quick}",
            ctx.options,
            ctx.node,
            ctx.dev_root.display(),
            ctx.timeout_secs
        );
        let mut map = self
            .by_config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(st) = map.get(&key) {
            return Ok(st.clone());
        }
        let st = Arc::new(storage(ctx, quick)?);
        map.insert(key, st.clone());
        Ok(st)
    }
}

/// Run the request within its time budget (a little less than the Perl side's hard timeout).
pub async fn execute(req: &Request) -> Result<Value, PveError> {
    execute_with(req, &Storages::default()).await
}

/// [`execute`] with storage layers kept in `storages` (the long-lived helper).
pub async fn execute_with(req: &Request, storages: &Storages) -> Result<Value, PveError> {
    let ctx = &req.ctx;
    if req.action == Action::Status {
        return status(&*storages.get(ctx, true)?, ctx).await;
    }
    let st = storages.get(ctx, false)?;
    let st = &*st;
    let secs = ctx.timeout_secs;
    let budget = Duration::from_secs(secs.saturating_sub((secs / 10).max(1)).max(1));
    let volume = match &req.action {
        Action::Free(v) | Action::SizeInfo(v) | Action::SnapshotInfo(v) | Action::CreateBase(v) => {
            v.rd.clone()
        }
        Action::Activate { vol, .. }
        | Action::Deactivate { vol, .. }
        | Action::Resize { vol, .. }
        | Action::Snapshot { vol, .. }
        | Action::Rollback { vol, .. }
        | Action::RollbackPossible { vol, .. }
        | Action::SnapshotDelete { vol, .. }
        | Action::Clone { vol, .. }
        | Action::Rename { vol, .. } => vol.rd.clone(),
        Action::Alloc { name, .. } => name.as_ref().map(|n| n.rd.clone()).unwrap_or_default(),
        Action::List { .. } | Action::Status | Action::Check => String::new(),
    };
    let span = tracing::info_span!("pve", storage = %ctx.storeid, volume = %volume);
    match tokio::time::timeout(budget, run(st, ctx, &req.action).instrument(span)).await {
        Ok(r) => r,
        Err(_) => Err(PveError::Deadline {
            seconds: budget.as_secs(),
        }),
    }
}

async fn run(st: &Storage, ctx: &Context, action: &Action) -> Result<Value, PveError> {
    match action {
        Action::Alloc {
            vmid,
            name,
            size_kib,
        } => alloc(st, ctx, vmid, name.as_ref(), *size_kib).await,
        Action::Free(v) => free(st, v).await,
        Action::List { vmid, vollist } => list(st, ctx, vmid.as_deref(), vollist.as_deref()).await,
        Action::Status => status(st, ctx).await,
        Action::Check => check(st, ctx).await,
        Action::Activate { vol, snap } => activate(st, ctx, vol, snap.as_deref()).await,
        Action::Deactivate { vol, snap } => deactivate(st, ctx, vol, snap.as_deref()).await,
        Action::SizeInfo(v) => {
            let info = st
                .get(&v.rd)
                .await?
                .ok_or_else(|| not_found(format!("volume '{}'", v.volname())))?;
            let size = info.size_kib * 1024;
            Ok(json!({"size": size, "format": "raw", "used": size,
                      "ctime": info.created_ms.map(|ms| ms / 1000)}))
        }
        Action::Resize { vol, size_bytes } => {
            let kib = kib_from_bytes(*size_bytes);
            st.resize(&vol.rd, kib).await?;
            Ok(json!({"size": kib * 1024}))
        }
        Action::Snapshot { vol, snap } => {
            let mut props = Props::new();
            props.insert(SNAPNAME_PROP.into(), snap.clone());
            st.snapshot_create(&vol.rd, &proxmox::snapshot_name(&vol.rd, snap), props)
                .await?;
            Ok(json!({}))
        }
        Action::Rollback { vol, snap } => {
            st.snapshot_rollback(&vol.rd, &proxmox::snapshot_name(&vol.rd, snap))
                .await?;
            Ok(json!({}))
        }
        Action::RollbackPossible { vol, snap } => rollback_blockers(st, vol, snap).await,
        Action::SnapshotDelete { vol, snap } => {
            let name = proxmox::snapshot_name(&vol.rd, snap);
            st.delete(&name).await?;
            st.snapshot_delete(&vol.rd, &name).await?;
            Ok(json!({}))
        }
        Action::SnapshotInfo(v) => {
            let mut out = serde_json::Map::new();
            for s in st.snapshot_list(&v.rd).await? {
                let prop = s.props.get(SNAPNAME_PROP).map(String::as_str);
                if let Some(pve) = proxmox::pve_snapshot_of(&v.rd, &s.name, prop) {
                    out.insert(
                        pve,
                        json!({"id": snapshot_id(&s.name, s.created_ms),
                               "timestamp": s.created_ms.map(|ms| ms / 1000),
                               "virtual-size": s.size_kib * 1024}),
                    );
                }
            }
            Ok(json!({"snapshots": out}))
        }
        Action::Clone { vol, vmid, snap } => clone(st, ctx, vol, vmid, snap.as_deref()).await,
        Action::CreateBase(v) => {
            if !v.is_base {
                let mut set = Props::new();
                set.insert(BASE_PROP.into(), "yes".into());
                st.set_props(&v.rd, set, Vec::new()).await?;
            }
            Ok(json!({"volname": v.as_base().volname()}))
        }
        Action::Rename {
            vol,
            target_vmid,
            target_volname,
        } => rename(st, ctx, vol, target_vmid, target_volname.as_deref()).await,
    }
}

async fn alloc(
    st: &Storage,
    ctx: &Context,
    vmid: &str,
    name: Option<&Volname>,
    size_kib: u64,
) -> Result<Value, PveError> {
    if st.is_controller_vm_id(vmid) {
        let refuse = |source: Error| {
            PveError::ControllerVm {
            vmid: vmid.to_string(),
            hint: "its existing disks keep working without a controller, but a new volume needs one; start the controller (from its existing disks) and allocate again".into(),
            source,
        }
        };
        let existing = controller_vm_volume(st, vmid, name, size_kib)
            .await
            .map_err(refuse)?;
        if let Some(existing) = existing {
            tracing::info!(volume = %existing, "controller VM: the requested volume is its existing one");
            return Ok(json!({"volname": existing}));
        }
        return match create(st, ctx, vmid, name, size_kib).await {
            Err(PveError::Linstor(e)) if e.is_controller_unreachable() => Err(refuse(e)),
            r => r,
        };
    }
    create(st, ctx, vmid, name, size_kib).await
}

async fn create(
    st: &Storage,
    ctx: &Context,
    vmid: &str,
    name: Option<&Volname>,
    size_kib: u64,
) -> Result<Value, PveError> {
    let mut spec = CreateSpec {
        name: String::new(),
        size_kib,
        resource_group: None,
        props: creation_props(ctx, vmid),
        local_replica: ctx.options.prefer_local,
        filter: None,
    };
    let Some(v) = name else {
        let rd = st.create_unique(spec, proxmox::new_resource_name).await?;
        return Ok(json!({"volname": format!("{rd}_{vmid}")}));
    };
    spec.name = v.rd.clone();
    let exists = || {
        PveError::Linstor(Error::AlreadyExists {
            what: format!("volume '{}'", v.volname()),
            reports: Vec::new(),
        })
    };
    match st.create(&spec).await {
        Ok(CreateOutcome::Created | CreateOutcome::Completed) => {
            Ok(json!({"volname": v.volname()}))
        }
        Ok(CreateOutcome::Existing(_)) if v.kind == NameKind::CloudInit => {
            Ok(json!({"volname": v.volname()}))
        }
        Ok(CreateOutcome::Existing(_)) => Err(exists()),
        Err(e @ Error::NotOwned { .. }) if v.kind == NameKind::CloudInit => Err(e.into()),
        Err(Error::AlreadyExists { .. } | Error::NotOwned { .. }) => Err(exists()),
        Err(e) => Err(e.into()),
    }
}

/// The controller VM's existing volume an allocation asks for: the one of that name, or (no
/// name) the VM's only disk when it has the requested size. Anything else is a new volume.
async fn controller_vm_volume(
    st: &Storage,
    vmid: &str,
    name: Option<&Volname>,
    size_kib: u64,
) -> Result<Option<String>, Error> {
    if let Some(v) = name {
        return Ok(st.lookup(&v.rd).await?.map(|_| v.volname()));
    }
    let disks: Vec<(String, u64)> = st
        .list()
        .await?
        .iter()
        .filter_map(|i| Some((proxmox::volname_from(&i.name, &i.props)?, i.size_kib)))
        .filter(|(v, _)| v.vmid == vmid && matches!(v.kind, NameKind::Pm | NameKind::Disk))
        .map(|(v, size)| (v.volname(), size))
        .collect();
    Ok(match disks.as_slice() {
        [(only, size)] if *size == size_kib => Some(only.clone()),
        _ => None,
    })
}

/// A snapshot id PVE can rely on to be unique: a re-created snapshot of the same name gets a
/// new one (the LINSTOR name plus its creation time).
fn snapshot_id(name: &str, created_ms: Option<i64>) -> String {
    match created_ms {
        Some(ms) => format!("{name}@{ms}"),
        None => name.to_string(),
    }
}

async fn check(st: &Storage, ctx: &Context) -> Result<Value, PveError> {
    let rg = &ctx.options.resource_group;
    match st.client().resource_group(rg).await? {
        Some(_) => Ok(json!({"controllers": st.client().controllers()})),
        None => Err(PveError::Input(format!(
            "resource group '{rg}' does not exist on the LINSTOR controller; create it (linstor resource-group create {rg} --place-count 2 --storage-pool <pool>) or set 'resourcegroup' to an existing one"
        ))),
    }
}

async fn free(st: &Storage, v: &Volname) -> Result<Value, PveError> {
    let Some(info) = st.get(&v.rd).await? else {
        return Ok(json!({}));
    };
    let Some(info) = st.wait_unused(info).await? else {
        return Ok(json!({}));
    };
    if !info.in_use_nodes().is_empty() {
        tracing::warn!(nodes = ?info.in_use_nodes(), "volume still in use; trying to delete it anyway");
    }
    for s in st.snapshot_list(&v.rd).await? {
        if linstor_common::naming::validate_resource_name(&s.name).is_ok() {
            st.delete(&s.name).await?;
        }
    }
    st.delete(&v.rd).await?;
    Ok(json!({}))
}

async fn list(
    st: &Storage,
    ctx: &Context,
    vmid: Option<&str>,
    vollist: Option<&[String]>,
) -> Result<Value, PveError> {
    let mut images = Vec::new();
    for info in st.list_in_group().await? {
        let Some(v) = proxmox::volname_from(&info.name, &info.props) else {
            continue;
        };
        if vmid.is_some_and(|id| id != v.vmid) {
            continue;
        }
        let volid = format!("{}:{}", ctx.storeid, v.volname());
        if vollist.is_some_and(|l| !l.contains(&volid)) {
            continue;
        }
        let mut image = json!({
            "volid": volid,
            "format": "raw",
            "size": info.size_kib * 1024,
            "vmid": vmid_value(&v.vmid),
        });
        if let Some(ms) = info.created_ms {
            image["ctime"] = json!(ms / 1000);
        }
        images.push(image);
    }
    Ok(json!({"images": images}))
}

/// Where `status` leaves its answer for the Perl module, which serves it without starting
/// anything while it is younger than `statuscache`.
fn status_file(storeid: &str) -> PathBuf {
    cache_dir().join(format!("pve-status-{storeid}.json"))
}

fn write_status_file(ctx: &Context, c: &linstor_common::volume::Capacity) {
    let Some(key) = &ctx.status_key else {
        return;
    };
    let file = status_file(&ctx.storeid);
    let total = c.total_kib * 1024;
    let avail = c.free_kib * 1024;
    let body = json!({"key": key, "fetched_at": c.fetched_at, "total": total, "avail": avail,
                      "used": total.saturating_sub(avail)});
    if let Err(e) =
        linstor_common::persist::write_cache(file.clone(), body.to_string().into_bytes())
    {
        tracing::warn!(file = %file.display(), error = %e, "status file not written");
    }
}

fn remove_status_file(ctx: &Context) {
    if ctx.status_key.is_some() {
        let _ = std::fs::remove_file(status_file(&ctx.storeid));
    }
}

async fn status(st: &Storage, ctx: &Context) -> Result<Value, PveError> {
    let ttl = ctx.options.status_cache;
    let cached = st.cached_capacity(None);
    let answer = |c: &linstor_common::volume::Capacity, stale: bool| {
        let total = c.total_kib * 1024;
        let avail = c.free_kib * 1024;
        json!({"total": total, "avail": avail, "used": total.saturating_sub(avail),
               "active": 1, "stale": stale, "fetched_at": c.fetched_at})
    };
    if let Some(c) = &cached {
        if now_secs().saturating_sub(c.fetched_at) < ttl {
            write_status_file(ctx, c);
            return Ok(answer(c, false));
        }
    }
    let inactive = json!({"total": 0, "avail": 0, "used": 0, "active": 0});
    let refreshed =
        tokio::time::timeout(STATUS_BUDGET, st.capacity(None, Duration::from_secs(ttl))).await;
    match refreshed {
        Ok(Ok(c)) => {
            if !c.stale {
                write_status_file(ctx, &c);
            }
            Ok(answer(&c, c.stale))
        }
        Ok(Err(Error::NotFound { .. })) => {
            tracing::warn!(resource_group = %ctx.options.resource_group, "resource group not found; storage inactive");
            remove_status_file(ctx);
            Ok(inactive)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "capacity not refreshed");
            Ok(cached.map(|c| answer(&c, true)).unwrap_or(inactive))
        }
        Err(_) => {
            tracing::warn!("capacity refresh exceeded {STATUS_BUDGET:?}");
            Ok(cached.map(|c| answer(&c, true)).unwrap_or(inactive))
        }
    }
}

async fn snapshot_rd(
    st: &Storage,
    vol: &Volname,
    snap: &str,
    node: &str,
) -> Result<String, PveError> {
    let name = proxmox::snapshot_name(&vol.rd, snap);
    if st.lookup(&name).await?.is_none() {
        let mut props = Props::new();
        props.insert(VMID_PROP.into(), vol.vmid.clone());
        props.insert("Aux/pm/snapshot-of".into(), vol.rd.clone());
        let spec = CreateSpec {
            name: name.clone(),
            props,
            ..Default::default()
        };
        tracing::info!(snapshot = %name, node, "restoring snapshot into a temporary resource");
        st.restore(&vol.rd, &name, &spec).await?;
    }
    Ok(name)
}

async fn activate(
    st: &Storage,
    ctx: &Context,
    vol: &Volname,
    snap: Option<&str>,
) -> Result<Value, PveError> {
    let rd = match snap {
        Some(s) => snapshot_rd(st, vol, s, &ctx.node).await?,
        None => vol.rd.clone(),
    };
    let path = if ctx.options.two_primaries == TwoPrimariesMode::Migration && snap.is_none() {
        let here = st.local_device(&rd)?;
        let looked = match &here {
            Some(_) => within_budget(st.get(&rd)).await,
            None => st.get(&rd).await.map(Some),
        };
        match looked.map(|l| l.ok_or(here)) {
            Ok(Err(Some(local))) => local,
            Ok(Err(None)) => st.activate_local(&rd).await?,
            Ok(Ok(Some(info))) => {
                let source = info
                    .in_use_nodes()
                    .into_iter()
                    .find(|n| !n.eq_ignore_ascii_case(&ctx.node))
                    .map(str::to_string);
                match source {
                    Some(src) => {
                        tracing::info!(source = %src, target = %ctx.node, "live migration: allowing two primaries");
                        st.owned_info(&info)
                            .migrate_begin(&src, &ctx.node, TwoPrimaries::Migration)
                            .await?
                    }
                    None => st.activate_local(&rd).await?,
                }
            }
            Ok(Ok(None)) => return Err(not_found(format!("volume '{}'", vol.volname()))),
            Err(e) if e.is_controller_unreachable() => st.activate_local(&rd).await?,
            Err(e) => return Err(e.into()),
        }
    } else {
        st.activate_local(&rd).await?
    };
    Ok(json!({"path": path.to_string_lossy()}))
}

async fn deactivate(
    st: &Storage,
    ctx: &Context,
    vol: &Volname,
    snap: Option<&str>,
) -> Result<Value, PveError> {
    let rd = match snap {
        Some(s) => proxmox::snapshot_name(&vol.rd, s),
        None => vol.rd.clone(),
    };
    match st.detach(&rd, &ctx.node).await {
        Ok(()) => Ok(json!({})),
        Err(e) if e.is_controller_unreachable() => {
            tracing::warn!(error = %e, "controller unreachable: the local diskless copy stays until the next deactivation");
            Ok(json!({"warnings": [format!(
                "No LINSTOR controller answered, so the diskless copy of {} on this node stays until the next deactivation.",
                vol.volname()
            )]}))
        }
        Err(Error::NotFound { .. }) => Ok(json!({})),
        Err(e) => Err(e.into()),
    }
}

async fn rollback_blockers(st: &Storage, vol: &Volname, snap: &str) -> Result<Value, PveError> {
    let name = proxmox::snapshot_name(&vol.rd, snap);
    let newer = match st.snapshot_rollback_blockers(&vol.rd, &name).await {
        Err(Error::NotFound { .. }) => {
            return Err(not_found(format!(
                "snapshot '{snap}' of volume '{}'",
                vol.volname()
            )))
        }
        r => r?,
    };
    let blockers: Vec<String> = newer
        .iter()
        .map(|s| {
            let prop = s.props.get(SNAPNAME_PROP).map(String::as_str);
            proxmox::pve_snapshot_of(&vol.rd, &s.name, prop).unwrap_or_else(|| s.name.clone())
        })
        .collect();
    Ok(json!({"blockers": blockers}))
}

async fn clone(
    st: &Storage,
    ctx: &Context,
    vol: &Volname,
    vmid: &str,
    snap: Option<&str>,
) -> Result<Value, PveError> {
    let spec = &CreateSpec {
        props: creation_props(ctx, vmid),
        ..Default::default()
    };
    let (rd, _) = st
        .with_unique_name(proxmox::new_resource_name, |name| async move {
            let spec = CreateSpec {
                name,
                ..spec.clone()
            };
            match snap {
                Some(s) => {
                    st.restore(&vol.rd, &proxmox::snapshot_name(&vol.rd, s), &spec)
                        .await
                }
                None => st
                    .clone_volume(&vol.rd, &spec)
                    .await
                    .and_then(|o| o.fresh(&spec.name)),
            }
        })
        .await?;
    Ok(json!({"volname": format!("{rd}_{vmid}")}))
}

async fn rename(
    st: &Storage,
    ctx: &Context,
    vol: &Volname,
    target_vmid: &str,
    target_volname: Option<&str>,
) -> Result<Value, PveError> {
    if vol.kind != NameKind::Pm {
        return Err(PveError::Linstor(Error::Unsupported(format!(
            "cannot reassign '{}' to VM {target_vmid}: LINSTOR cannot rename resources, so only pm-XXXXXXXX volumes can change owner; move the disk instead",
            vol.volname()
        ))));
    }
    let new = Volname {
        vmid: target_vmid.to_string(),
        ..vol.clone()
    };
    if let Some(t) = target_volname {
        let wanted = proxmox::parse_volname(t)?;
        if wanted.rd != vol.rd || wanted.vmid != target_vmid {
            return Err(PveError::Input(format!(
                "cannot rename '{}' to '{t}': drbd storage keeps the LINSTOR name, so the new name must be '{}' (or left empty)",
                vol.volname(),
                new.volname()
            )));
        }
    }
    let mut set = Props::new();
    set.insert(VMID_PROP.into(), target_vmid.into());
    st.set_props(&vol.rd, set, Vec::new()).await?;
    Ok(json!({"volid": format!("{}:{}", ctx.storeid, new.volname())}))
}
