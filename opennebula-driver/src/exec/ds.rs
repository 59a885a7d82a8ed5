//! DS actions (`datastore/<driver>/<action>`): image import, datablocks, snapshots, export and
//! datastore monitoring.

use super::*;

impl Driver {
    pub(super) async fn ds(&self, kind: DsKind, id: u64, data: ActionData) -> R<String> {
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
                let props = on::image_props(Some(id), ds.id);
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
                let md5 = self.hosts.md5(&node, &rd, self.device_timeout)?;
                let dev = self.hosts.device(&node, &rd);
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

    pub(super) async fn snap_op(
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

    pub(super) async fn monitor(&self, st: &Storage, cfg: &DsConfig) -> R<String> {
        let cap = st
            .capacity_by(cfg.resource_group.as_deref(), cfg.capacity, CAPACITY_TTL)
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
    pub(super) async fn report_vm_disks(&self, st: &Storage, ds_id: u64) {
        let vms = match self.vm_disks(st, ds_id).await {
            Ok(v) => v,
            Err(e) => {
                self.warn(format!("VM disk sizes not reported: {}", chain(&e)));
                return;
            }
        };
        if vms.is_empty() {
            return;
        }
        let payload = crate::monitord::vm_payload(&vms);
        match self.monitord.send_vm_monitor(&payload) {
            Ok(()) => info!(vms = vms.len(), "VM disk sizes sent to monitord"),
            Err(e) => self.warn(format!("VM disk sizes not reported: {}", chain(&e))),
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

    /// Creates the volume of a new image. A volume of the same image (same props and size,
    /// with disks) left by an interrupted run is taken over, so oned's retry succeeds; its
    /// content is written again by the caller.
    pub(super) async fn create_image_volume(
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

    pub(super) async fn ds_cp(
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
        let props = on::image_props(Some(id), ds.id);
        self.create_image_volume(st, cfg, &name, mb_to_kib(size_mb.max(1)), props)
            .await?;
        let path = img.path.clone();
        let hosts = self.hosts.clone();
        let wait = self.device_timeout;
        let format = self
            .undo_if_failed(st, &name, true, "import", async {
                self.with_bridge(st, cfg, &name, |node| {
                    hosts.write_image(node, &name, &path, wait)
                })
                .await
            })
            .await?;
        Ok(format!("{} {format}", cfg.scheme.source(&name)))
    }

    pub(super) async fn ds_mkfs(
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
        let props = on::image_props(Some(id), ds.id);
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
            let steps = [
                Step::WaitDevice {
                    rd: name.clone(),
                    timeout: self.device_timeout,
                },
                Step::Mkfs {
                    rd: name.clone(),
                    fs,
                    size_mb,
                },
            ];
            self.undo_if_failed(st, &name, true, "mkfs", async {
                self.with_bridge(st, cfg, &name, |node| self.hosts.run(node, &steps))
                    .await
            })
            .await?;
        }
        Ok(source)
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
    let local_path = path.strip_prefix("file://").unwrap_or(path);
    let mut f =
        std::fs::File::open(local_path).map_err(local(format!("cannot open '{local_path}'")))?;
    let len = f
        .metadata()
        .map_err(local(format!("cannot stat '{local_path}'")))?
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
