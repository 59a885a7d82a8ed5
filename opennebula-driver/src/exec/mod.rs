//! Execution of a parsed [`Action`] through `linstor_common::volume::Storage`, with host steps
//! through [`HostSteps`] and oned documents through [`OnedInfo`]. Returns what goes to stdout.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use linstor_common::api::{AutoSelectFilter, Props, ResourceDefinition};
use linstor_common::config::{ClientConfig, Overlay, Sources};
use linstor_common::error::chain;
use linstor_common::host::{HostOps, RealHost};
use linstor_common::naming::opennebula::{
    self as on, image_id_of, rd_from_source, PROP_DS_ID, PROP_VM_ID,
};
use linstor_common::naming::{self, Platform};
use linstor_common::volume::{
    within_budget, CreateOutcome, CreateSpec, Storage, StorageConfig, TwoPrimaries,
};
use linstor_common::Client;
use tracing::{info, info_span, warn, Instrument as _};

use crate::attrs::DsConfig;
use crate::error::DriverError;
use crate::host::{HostSteps, Step};
use crate::input::{Action, DsKind, HostPath, MigrateStep, SnapOp};
use crate::monitord::{MonitorSender, UdpMonitor, VmDisks};
use crate::oned::OnedInfo;
use crate::xml::{ActionData, Datastore, Disk, Image, Vm};

mod ds;
mod migrate;
mod tm;

pub use ds::stat;

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
    /// The TM drivers' directory (`remotes/tm`), where `migrate_other` finds the other TMs.
    pub tm_dir: Option<PathBuf>,
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

fn local(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DriverError {
    let what = what.into();
    move |source| DriverError::Local { what, source }
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

/// The error of a step that failed after this run created `name`: when removing it failed
/// too, an error whose exit code says "nothing changed" becomes [`DriverError::Changed`].
fn after_undo(e: DriverError, name: &str, removed: Result<(), String>) -> DriverError {
    match removed {
        Err(why) if e.exit_code() == 2 => DriverError::Changed {
            context: format!("'{name}' was created and is left behind ({why})"),
            source: Box::new(e),
        },
        Ok(()) | Err(_) => e,
    }
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
            tm_dir: None,
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
            .map_err(local(format!(
                "cannot lock {}; check LINSTOR_ONE_LOCK_DIR (a directory oneadmin can write)",
                path.display()
            )))?;
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

    /// Attach `rd` on `host` and link it; a device already on `host` is linked without the
    /// controller once it stayed silent for the data-plane budget.
    async fn attach_linked(&self, st: &Storage, rd: &str, host: &str, link: &str) -> R<()> {
        let context = || format!("attach '{rd}' on '{host}'");
        if st
            .attach_unless_silent(rd, host)
            .await
            .map_err(lin(context()))?
            .is_some()
        {
            self.hosts.run(host, &self.wait_and_link(rd, link))?;
            return Ok(());
        }
        if self.hosts.wait_device(host, rd, Duration::ZERO).is_err() {
            return Err(lin(context())(st.silent()));
        }
        self.warn(format!(
            "no LINSTOR controller answered; '{rd}' is already on '{host}': linked without the controller"
        ));
        self.hosts.run(
            host,
            &[Step::Link {
                link: link.into(),
                rd: rd.into(),
            }],
        )?;
        Ok(())
    }

    /// The host steps that make `link` point at the device of `rd` once it exists.
    fn wait_and_link(&self, rd: &str, link: &str) -> [Step; 2] {
        [
            Step::WaitDevice {
                rd: rd.into(),
                timeout: self.device_timeout,
            },
            Step::Link {
                link: link.into(),
                rd: rd.into(),
            },
        ]
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
            return Ok(f(&node)?);
        }
        st.attach(rd, &node)
            .await
            .map_err(lin(format!("attach '{rd}' on bridge '{node}'")))?;
        let r = f(&node);
        if let Err(e) = st.detach(rd, &node).await {
            self.warn(format!(
                "temporary attachment of '{rd}' on '{node}' kept: {}",
                chain(&e)
            ));
        }
        Ok(r?)
    }

    /// The guard of every action that creates a volume and then runs host steps on it:
    /// `step` runs; when it fails and this run `created` the volume `name`, the volume is
    /// deleted again (a failed delete is a warning) and the step's error is returned.
    async fn undo_if_failed<T>(
        &self,
        st: &Storage,
        name: &str,
        created: bool,
        what: &str,
        step: impl std::future::Future<Output = R<T>>,
    ) -> R<T> {
        let e = match step.await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        if !created {
            return Err(e);
        }
        let removed = st.delete(name).await.map_err(|d| {
            let msg = format!(
                "could not remove '{name}' after the failed {what}: {}",
                chain(&d)
            );
            self.warn(msg.clone());
            msg
        });
        Err(after_undo(e, name, removed))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_changed_only_when_the_undo_succeeded() {
        let bad = || usage("IMAGE/PATH names no file");
        let e = after_undo(bad(), "one-image-3", Ok(()));
        assert_eq!(e.exit_code(), 2, "removed again: nothing changed");
        let e = after_undo(bad(), "one-image-3", Err("controller gone".into()));
        assert_eq!(e.exit_code(), 1, "left behind: something changed");
        assert!(e
            .summary("cp")
            .contains("'one-image-3' was created and is left behind"));
        assert!(e.summary("cp").contains("IMAGE/PATH names no file"));
        let host = DriverError::Host(crate::host::HostError {
            host: "n1".into(),
            op: "dd".into(),
            cause: crate::host::HostCause::Failed("short write".into()),
        });
        assert_eq!(after_undo(host, "x", Err("y".into())).exit_code(), 4);
    }

    #[test]
    fn an_unusable_lock_dir_keeps_the_io_error() {
        let d = tempfile::tempdir().unwrap();
        let hosts = crate::host::LocalHosts {
            root: d.path().join("hosts"),
            dev_dir: d.path().join("dev"),
        };
        let mut driver = Driver::new(
            Arc::new(hosts),
            Arc::new(crate::oned::Cli),
            Sources {
                ls_controllers: None,
                ls_username: None,
                ls_password: None,
                client_conf: d.path().join("linstor-client.conf"),
                auth_json: d.path().join("auth.json"),
            },
            "n1".into(),
        );
        let file = d.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        driver.lock_dir = file.clone();
        let e = driver.lock("one-image-3").unwrap_err();
        assert_eq!(e.exit_code(), 2, "nothing was changed");
        let io: &std::io::Error = linstor_tests::errors::source(&e);
        let shown = e.summary("cp");
        assert_eq!(
            linstor_tests::errors::names_once(&shown, io),
            format!(
                "cp: cannot lock {}/one-image-3.lock; check LINSTOR_ONE_LOCK_DIR (a directory oneadmin can write): {io}",
                file.display()
            )
        );
    }
}
