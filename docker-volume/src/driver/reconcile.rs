//! Start-up reconciliation: recorded mounts brought in line with the mount table and the boot,
//! and this node's unused diskless copies released.

use std::path::PathBuf;
use std::time::Instant;

use linstor_common::error::chain;
use linstor_common::naming::docker;
use tracing::{info, warn};

use super::{lock, Driver, Failure};
use crate::state::{KnownVolume, MountEntry};

impl Driver {
    /// Removes this node's diskless copies of our volumes that no recorded mount uses (left by
    /// a detach that failed or a plugin killed half-way). Diskful replicas and tie-breakers
    /// are never touched; each volume is checked again under its lock.
    pub(super) async fn release_orphan_copies(&self) -> Result<(), Failure> {
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
                warn!(error = %chain(&e), "cannot list volumes to release unused diskless copies");
                return Ok(());
            }
        };
        for v in self.storage.diskless_copies_here(&volumes) {
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
                warn!(error = %chain(&e), rd = %v.name, "cannot release the unused diskless copy");
            }
        }
        Ok(())
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
