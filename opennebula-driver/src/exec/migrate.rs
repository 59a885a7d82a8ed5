//! Migration (`premigrate`, `postmigrate`, `failmigrate`): the second primary on the
//! destination and its release.

use super::*;

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn migrate(
        &self,
        step: MigrateStep,
        src: &str,
        dst: &str,
        dir: &str,
        vm: &Vm,
        sys_ds: u64,
        called_by_other: bool,
    ) -> R<String> {
        if src.eq_ignore_ascii_case(dst) {
            info!(host = %src, "source and destination are the same host: the disks stay as they are");
            return Ok(String::new());
        }
        let ours: Vec<&Disk> = vm
            .disks
            .iter()
            .filter(|d| d.tm_mad == self.driver_name || (d.tm_mad.is_empty() && d.is_volatile()))
            .collect();
        let links: Vec<String> = ours
            .iter()
            .map(|d| format!("{dir}/disk.{}", d.disk_id))
            .collect();
        if step == MigrateStep::Fail {
            let unlinks: Vec<Step> = links
                .iter()
                .map(|l| Step::Unlink { path: l.clone() })
                .collect();
            if let Err(e) = self.hosts.run(dst, &unlinks) {
                self.warn(chain(&e));
            }
        }
        let mut dst_steps = Vec::new();
        for (d, link) in ours.into_iter().zip(&links) {
            let ds_id = d.datastore_id.unwrap_or(sys_ds);
            let (st, cfg) = self.storage_of(ds_id)?;
            let (rd, _, def) = self.disk_rd_def(&st, &cfg, vm, d.disk_id).await?;
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
                        dst_steps.extend(self.wait_and_link(&rd, link));
                    }
                    MigrateStep::Post => {
                        st.migrate_commit(&rd, src, dst)
                            .await
                            .map_err(lin(format!("release '{rd}' on '{src}'")))?;
                    }
                    MigrateStep::Fail => {
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
        if step == MigrateStep::Pre && !called_by_other {
            // One connection to each host: the directory leaves `src` and arrives on `dst`
            // together with the links of the disks attached above.
            if let Some(e) = self.hosts.copy_dir(src, dir, dst, dir, &dst_steps)? {
                self.warn(format!(
                    "VM directory not copied from '{src}' ({}); created it empty",
                    chain(&e)
                ));
            }
        } else {
            self.hosts.run(dst, &dst_steps)?;
        }
        if step == MigrateStep::Post && !called_by_other {
            if let Err(e) = self.hosts.remove_dir(src, dir) {
                self.warn(chain(&e));
            }
        }
        Ok(String::new())
    }

    /// `migrate_other` of OpenNebula's `tm_common.sh`, for when this driver is the system
    /// datastore's TM: the same step of every other TM among the VM's disks, in disk order and
    /// once each, with the same five arguments (as received), this driver's name as the sixth (so the callee
    /// does not fan out again) and the template on stdin. The first failure is the step's.
    pub(super) fn migrate_other(
        &self,
        step: MigrateStep,
        args: &[String; 5],
        vm: &Vm,
        template: Option<&str>,
    ) -> R<()> {
        let mut others: Vec<&str> = Vec::new();
        for d in &vm.disks {
            let tm = d.tm_mad.as_str();
            if !tm.is_empty() && tm != self.driver_name && !others.contains(&tm) {
                others.push(tm);
            }
        }
        if others.is_empty() {
            return Ok(());
        }
        let (Some(tm_dir), Some(template)) = (&self.tm_dir, template) else {
            self.warn(format!(
                "disks of {} not {}: no TM directory or no VM template on stdin",
                others.join(", "),
                step.name()
            ));
            return Ok(());
        };
        for tm in others {
            if naming::validate_node_name(tm).is_err() || tm.contains('.') {
                return Err(usage(format!(
                    "VM {} names TM_MAD '{tm}', which is not a driver name",
                    vm.id
                )));
            }
            let script = tm_dir.join(tm).join(step.name());
            info!(tm, "migrate_other: {}", script.display());
            let mut child = std::process::Command::new(&script)
                .args(args)
                .arg(&self.driver_name)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .map_err(local(format!("cannot run {}", script.display())))?;
            if let Some(mut stdin) = child.stdin.take() {
                use std::io::Write as _;
                let _ = stdin.write_all(template.as_bytes());
            }
            let out = child.wait_with_output().map_err(local(format!(
                "cannot collect the output of {}",
                script.display()
            )))?;
            if !out.status.success() {
                return Err(DriverError::OtherTm {
                    tm: tm.to_string(),
                    step: step.name(),
                    message: format!(
                        "{}: {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                });
            }
        }
        Ok(())
    }
}
