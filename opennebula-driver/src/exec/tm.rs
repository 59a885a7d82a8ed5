//! TM actions (`tm/<driver>/<action>`) other than migration: links, clones, moves, deletes,
//! volatile disks, snapshots and resizes of VM disks.

use super::*;
use std::path::Path;

impl Driver {
    /// For the controller VM: link the device when it is already on `host`, with no LINSTOR
    /// call. `Ok(true)` when that was enough.
    pub(super) fn controller_vm_link(
        &self,
        st: &Storage,
        vm_id: u64,
        rd: &str,
        dst: &HostPath,
    ) -> R<bool> {
        if !st.is_controller_vm_id(&vm_id.to_string())
            || self
                .hosts
                .wait_device(&dst.host, rd, Duration::ZERO)
                .is_err()
        {
            return Ok(false);
        }
        info!(volume = %rd, "disk of the controller VM is present on '{}'; linked without the controller", dst.host);
        self.hosts.run(
            &dst.host,
            &[Step::Link {
                link: dst.path.clone(),
                rd: rd.into(),
            }],
        )?;
        Ok(true)
    }

    /// The RD of disk `disk_id` of a VM, and whether it belongs to the VM alone.
    pub(super) async fn disk_rd(
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
    pub(super) async fn disk_rd_def(
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

    pub(super) async fn vm_disk(
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

    pub(super) async fn tm(&self, action: Action) -> R<String> {
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
                    let props =
                        on::vm_disk_props(vm_id, disk_id, system_ds_of(dst.dir()).unwrap_or(ds_id));
                    let want_kib = vm.disk(disk_id).and_then(|d| d.size_mb).map(mb_to_kib);
                    let spec = self.spec(&cfg, &name, 0, props);
                    let cloned = st.clone_grown(&src_rd, &spec, want_kib.unwrap_or(0)).await;
                    match cloned {
                        Ok(CreateOutcome::Existing(info)) => {
                            if let Some(kib) = want_kib.filter(|k| info.size_kib < *k) {
                                st.resize(&name, kib)
                                    .await
                                    .map_err(lin(format!("resize '{name}'")))?;
                            }
                            self.attach_linked(&st, &name, &dst.host, &dst.path).await?;
                        }
                        Ok(outcome) => {
                            let created = outcome == CreateOutcome::Created;
                            self.undo_if_failed(&st, &name, created, "clone", async {
                                async { st.created(&spec)?.attach(&dst.host, None).await }
                                    .await
                                    .map_err(lin(format!("attach '{name}' on '{}'", dst.host)))?;
                                self.hosts
                                    .run(&dst.host, &self.wait_and_link(&name, &dst.path))?;
                                Ok(())
                            })
                            .await?;
                        }
                        Err(e) => return Err(lin(format!("clone '{src_rd}' into '{name}'"))(e)),
                    }
                    Ok(String::new())
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
                    self.warn(chain(&e));
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
                let props = on::image_props(image_id_of(&new), ds_id);
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
                // Like linstor_un: the system datastore the VM runs on (from the path) names
                // the controllers and group, not the image datastore of the argument.
                let sys_ds = system_ds_of(target.dir()).unwrap_or(ds_id);
                let (st, cfg) = self.storage_of(sys_ds)?;
                if st.is_controller_vm_id(&vm_id.to_string()) {
                    self.warn(format!(
                        "disk {} of VM {vm_id} (LINSTOR_CONTROLLER_VM) kept in LINSTOR and attached",
                        target.path
                    ));
                    return Ok(String::new());
                }
                let vm = self.oned.vm(vm_id)?;
                let disk_id = target
                    .disk_id()
                    .ok_or_else(|| usage(format!("'{}' is not a disk path", target.path)))?;
                let (rd, own, def) = self.disk_rd_def(&st, &cfg, &vm, disk_id).await?;
                let _s = info_span!("tm_delete", vm = vm_id, volume = %rd).entered();
                let _l = self.lock(&rd)?;
                if let Err(e) = self.hosts.unlink(&target.host, &target.path) {
                    self.warn(chain(&e));
                }
                if !own {
                    // Persistent or shared (CDROM, immutable) image: only this host's copy goes.
                    if st
                        .lookup(&rd)
                        .await
                        .map_err(lin(format!("resource '{rd}'")))?
                        .is_some()
                    {
                        st.detach(&rd, &target.host)
                            .await
                            .map_err(lin(format!("detach '{rd}' from '{}'", target.host)))?;
                    }
                    return Ok(String::new());
                }
                // The VM's own disk, read once by `disk_rd_def`: deleting the definition removes
                // every node's copy with it.
                let Some(def) = def else {
                    return Ok(String::new());
                };
                if def
                    .props
                    .get(PROP_VM_ID)
                    .is_some_and(|v| v != &vm_id.to_string())
                {
                    st.detach(&rd, &target.host)
                        .await
                        .map_err(lin(format!("detach '{rd}' from '{}'", target.host)))?;
                    return Ok(String::new());
                }
                st.owned(&def)
                    .map_err(lin(format!("delete '{rd}'")))?
                    .delete()
                    .await
                    .map_err(lin(format!("delete '{rd}'")))?;
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
                template_b64,
                dir_arg,
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
                .await?;
                if caller.is_none() {
                    let args = [
                        src_host,
                        dst_host,
                        dir_arg,
                        vm_id.to_string(),
                        ds_id.to_string(),
                    ];
                    self.migrate_other(step, &args, &vm, template_b64.as_deref())?;
                }
                Ok(String::new())
            }
            Action::MonitorDs { dir } => monitor_ds(Path::new(&dir)),
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
                let props = on::vm_disk_props(vm_id, disk_id, ds_id);
                st.create(&self.spec(&cfg, &name, mb_to_kib(size_mb.max(1)), props))
                    .await
                    .and_then(|outcome| outcome.fresh(&name))
                    .map_err(lin(format!("create '{name}'")))?;
                self.undo_if_failed(&st, &name, true, "mkimage", async {
                    st.attach(&name, &dst.host)
                        .await
                        .map_err(lin(format!("attach '{name}' on '{}'", dst.host)))?;
                    let [wait, link] = self.wait_and_link(&name, &dst.path);
                    let mut steps = vec![wait];
                    if format != "raw" {
                        steps.push(Step::Mkfs {
                            rd: name.clone(),
                            fs: format.clone(),
                            size_mb,
                        });
                    }
                    steps.push(link);
                    self.hosts.run(&dst.host, &steps)?;
                    Ok(())
                })
                .await?;
                Ok(String::new())
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

    pub(super) async fn tm_mv(
        &self,
        src: HostPath,
        dst: HostPath,
        vm_id: u64,
        ds_id: u64,
    ) -> R<String> {
        let Some(disk_id) = src.disk_id() else {
            if src == dst {
                return Ok(String::new());
            }
            if src.host != dst.host || src.path != dst.path {
                if let Some(e) =
                    self.hosts
                        .copy_dir(&src.host, &src.path, &dst.host, &dst.path, &[])?
                {
                    self.warn(format!(
                        "VM directory not copied from '{}' ({}); recreated it empty",
                        src.host,
                        chain(&e)
                    ));
                }
                if let Err(e) = self.hosts.remove_dir(&src.host, &src.path) {
                    self.warn(chain(&e));
                }
            }
            return Ok(String::new());
        };
        let (st, cfg) = self.storage_of(ds_id)?;
        let vm = self.oned.vm(vm_id)?;
        let (rd, _) = self.disk_rd(&st, &cfg, &vm, disk_id).await?;
        let _s = info_span!("tm_mv", vm = vm_id, volume = %rd).entered();
        let _l = self.lock(&rd)?;
        let Some(nodes) = within_budget(st.nodes()).await.map_err(lin("node list"))? else {
            if self
                .hosts
                .wait_device(&dst.host, &rd, Duration::ZERO)
                .is_err()
            {
                return Err(lin(format!("attach '{rd}' on '{}'", dst.host))(st.silent()));
            }
            self.warn(format!(
                "no LINSTOR controller answered; '{rd}' is already on '{}': linked without the controller",
                dst.host
            ));
            self.hosts.run(
                &dst.host,
                &[Step::Link {
                    link: dst.path.clone(),
                    rd: rd.clone(),
                }],
            )?;
            if src.host != dst.host {
                if let Err(e) = self.hosts.unlink(&src.host, &src.path) {
                    self.warn(chain(&e));
                }
                self.warn(format!(
                    "'{rd}' stays attached on '{}' until the controller answers (linstor-plugins gc releases it)",
                    src.host
                ));
            }
            return Ok(String::new());
        };
        let is_node = |h: &str| nodes.iter().any(|n| n.name.eq_ignore_ascii_case(h));
        let (dst_is_node, src_is_node) = (is_node(&dst.host), is_node(&src.host));
        if dst_is_node {
            self.attach_linked(&st, &rd, &dst.host, &dst.path).await?;
        }
        if src.host != dst.host {
            if let Err(e) = self.hosts.unlink(&src.host, &src.path) {
                self.warn(chain(&e));
            }
            if src_is_node {
                if let Err(e) = st.detach(&rd, &src.host).await {
                    self.warn(format!("detach '{rd}' from '{}': {}", src.host, chain(&e)));
                }
            }
        }
        Ok(String::new())
    }
}

/// `monitor_ds <ds_path>` on a host: for every VM directory (`<ds_path>/<vmid>`) with disks,
/// `VM = [ ID = <vmid>, MONITOR = "<base64>" ]`, the base64 text holding one
/// `DISK_SIZE = [ ID=<disk>, SIZE=<MB>]` line per `disk.<n>`, as OpenNebula's own
/// `tm/ssh/monitor_ds` prints it. A disk's size is its device's (LINSTOR volumes are block
/// devices) or, for a file, the space it takes; local only, no controller is asked. Snapshot
/// sizes of LINSTOR volumes are not known on the host and not reported.
pub fn monitor_ds(dir: &Path) -> R<String> {
    use base64::Engine as _;
    let entries = std::fs::read_dir(dir).map_err(local(format!(
        "cannot read datastore directory {}",
        dir.display()
    )))?;
    let mut vms: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let id = e.file_name().to_str()?.parse::<u64>().ok()?;
            Some((id, e.path()))
        })
        .collect();
    vms.sort();
    let mut out = Vec::new();
    for (vm, vm_dir) in vms {
        let mut disks: Vec<(u64, u64)> = std::fs::read_dir(&vm_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name();
                let id = name.to_str()?.strip_prefix("disk.")?.parse::<u64>().ok()?;
                Some((id, disk_mb(&e.path())?))
            })
            .collect();
        if disks.is_empty() {
            continue;
        }
        disks.sort();
        let text: String = disks
            .iter()
            .map(|(id, mb)| format!("DISK_SIZE = [ ID={id}, SIZE={mb}]\n"))
            .collect();
        out.push(format!(
            "VM = [ ID = {vm}, MONITOR = \"{}\" ]",
            base64::engine::general_purpose::STANDARD.encode(text)
        ));
    }
    Ok(out.join("\n"))
}

/// Size in MB (rounded up) of a disk: a block device's size, a file's allocated space.
fn disk_mb(path: &Path) -> Option<u64> {
    use std::io::{Seek as _, SeekFrom};
    use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
    let meta = std::fs::metadata(path).ok()?;
    let bytes = if meta.file_type().is_block_device() {
        std::fs::File::open(path)
            .ok()?
            .seek(SeekFrom::End(0))
            .ok()?
    } else if meta.is_file() {
        meta.blocks() * 512
    } else {
        return None;
    };
    Some(bytes.div_ceil(1 << 20))
}
