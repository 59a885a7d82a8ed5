//! Mount and Unmount with a reference count per container ID: the first mount attaches and
//! mounts, the last unmount unmounts and detaches. A volume whose device is already on this
//! node mounts without the controller once [`DATA_PLANE_BUDGET`] has passed, and a detach
//! the controller does not answer is left to the next start or gc.

use std::path::Path;
use std::sync::Arc;

use linstor_common::error::chain;
use linstor_common::naming::docker;
use linstor_common::volume::{within_budget, DATA_PLANE_BUDGET};
use linstor_common::Error;
use tracing::{info, instrument, warn};

use super::{lock, Driver, Failure};
use crate::options::FileConfig;
use crate::protocol::Response;
use crate::state::KnownVolume;

impl Driver {
    pub(super) async fn host<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn linstor_common::host::HostOps) -> linstor_common::Result<T> + Send + 'static,
    ) -> Result<T, Failure> {
        let host = Arc::clone(self.storage.host());
        tokio::task::spawn_blocking(move || f(host.as_ref()))
            .await
            .map_err(|e| {
                Failure::from(Error::HostIo {
                    op: "host task".into(),
                    source: std::io::Error::other(e),
                })
            })?
            .map_err(Failure::from)
    }

    #[instrument(skip(self))]
    pub(super) async fn mount(&self, name: &str, id: &str) -> Result<Response, Failure> {
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
        let local = self.storage.local_device(&rd)?;
        let looked = match &local {
            Some(_) => within_budget(self.storage.volume_with_resources(&rd)).await?,
            None => Some(self.storage.volume_with_resources(&rd).await?),
        };
        let file = FileConfig::load(&self.cfg.config_file).unwrap_or_else(|e| {
            warn!(error = %chain(&e), "ignoring the configuration file");
            FileConfig::default()
        });
        let (rd, dev, props, attached) = match looked {
            Some(view) => {
                let view = view
                    .filter(|v| docker::is_volume(v.name(), v.props(), name))
                    .ok_or_else(|| Failure::NoSuchVolume(name.to_string()))?;
                let others = view.in_use_elsewhere(self.node());
                if !others.is_empty() {
                    return Err(Failure::InUseElsewhere {
                        volume: name.to_string(),
                        nodes: others.join(", "),
                    });
                }
                let rd = view.name().to_string();
                self.remember(
                    name,
                    KnownVolume {
                        rd: rd.clone(),
                        created_at: None,
                    },
                );
                let props = view.props().clone();
                let pool = props
                    .get(docker::DISKLESS_POOL_PROP)
                    .cloned()
                    .or_else(|| file.defaults.0.get("disklessstoragepool").cloned());
                let dev = view.attach(self.node(), pool.as_deref()).await?;
                (rd, dev, props, true)
            }
            None => {
                let dev = local.unwrap_or_else(|| self.storage.device_path(&rd, 0));
                let known = lock(&self.state)
                    .known
                    .get(name)
                    .filter(|k| k.rd.eq_ignore_ascii_case(&rd))
                    .cloned();
                let Some(known) = known else {
                    return Err(Failure::UnknownOffline {
                        volume: name.to_string(),
                        controllers: self.storage.client().controllers().join(", "),
                    });
                };
                info!(device = %dev.display(), "controller silent; mounting the device already on this node");
                (known.rd, dev, Default::default(), false)
            }
        };
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
                    None if !attached => {
                        return Err(Error::Host {
                            op: format!("mount {}", d.display()),
                            message: "the device holds no filesystem yet and the controller did not answer (its filesystem options are unknown); retry once a controller answers".into(),
                        })
                    }
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
                    tracing::warn!(error = %chain(&e), "cannot grow the filesystem to the volume size");
                }
                std::fs::create_dir_all(t.join("data")).map_err(|e| Error::HostIo {
                    op: format!("mkdir {}", t.join("data").display()),
                    source: e,
                })
            })
            .await;
        if let Err(e) = res {
            if attached {
                self.detach_bounded(&rd).await;
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
    pub(super) async fn unmount(&self, name: &str, id: &str) -> Result<Response, Failure> {
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
    pub(super) async fn release(&self, name: &str, rd: &str, target: &Path) -> Result<(), Failure> {
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
        self.detach_bounded(rd).await;
        let mut st = lock(&self.state);
        st.mounts.remove(name);
        self.save(&st)?;
        Ok(())
    }

    /// Detach this node's diskless copy, waiting at most [`DATA_PLANE_BUDGET`] for the
    /// controller; what is not done now is done by the next start or `gc` (both release the
    /// unused diskless copies of this node).
    pub(super) async fn detach_bounded(&self, rd: &str) {
        let node = self.node().to_string();
        match within_budget(self.storage.detach(rd, &node)).await {
            Ok(Some(())) => {}
            Ok(None) => warn!(
                rd = %rd,
                budget_ms = DATA_PLANE_BUDGET.as_millis() as u64,
                "controller silent: the detach is deferred to the next start or gc"
            ),
            Err(e) => {
                warn!(error = %chain(&e), rd = %rd, "cannot detach (a diskless copy may remain until the next start or gc)")
            }
        }
    }
}
