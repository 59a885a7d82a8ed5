//! Snapshots: create, list, delete, rollback (to any snapshot where the controller allows it), restore into a new volume, clone.

use std::time::{Duration, Instant};

use tracing::instrument;

use super::{size_of, with_created, CreateOutcome, CreateSpec, Storage, VolumeInfo, CREATED_PROP};
use crate::api::*;
use crate::error::{Error, Result};
use crate::naming;

/// A snapshot as the frontends see it.
#[derive(Debug, Clone)]
pub struct SnapshotInfo {
    /// Snapshot name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_ms: Option<i64>,
    /// Size of volume 0 in KiB.
    pub size_kib: u64,
    /// Snapshot definition props.
    pub props: Props,
    /// Completed on every node.
    pub successful: bool,
}

fn not_found(what: String) -> Error {
    Error::NotFound {
        what,
        reports: Vec::new(),
    }
}

impl Storage {
    async fn require(&self, rd: &str) -> Result<ResourceDefinition> {
        self.lookup(rd)
            .await?
            .ok_or_else(|| not_found(format!("volume '{rd}'")))
    }

    /// Take a snapshot on every diskful replica.
    #[instrument(skip(self, props), fields(volume = %rd))]
    pub async fn snapshot_create(&self, rd: &str, snap: &str, props: Props) -> Result<()> {
        naming::validate_snapshot_name(snap)?;
        self.require(rd).await?;
        self.client
            .snapshot_create(
                rd,
                &SnapshotCreate {
                    name: snap.to_string(),
                    snapshot_definition_props: props,
                    ..Default::default()
                },
            )
            .await?;
        Ok(())
    }

    /// Snapshots of a volume, oldest first.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn snapshot_list(&self, rd: &str) -> Result<Vec<SnapshotInfo>> {
        self.require(rd).await?;
        let mut out: Vec<SnapshotInfo> = self
            .client
            .snapshots(rd)
            .await?
            .into_iter()
            .map(|s| SnapshotInfo {
                created_ms: s.created_ms(),
                size_kib: s
                    .volume_definitions
                    .iter()
                    .find(|v| v.volume_number.unwrap_or(0) == 0)
                    .map(|v| v.size_kib)
                    .unwrap_or(0),
                successful: s.flags.iter().any(|f| f == "SUCCESSFUL"),
                name: s.name,
                props: s.props,
            })
            .collect();
        out.sort_by(|a, b| (a.created_ms, &a.name).cmp(&(b.created_ms, &b.name)));
        Ok(out)
    }

    /// Delete a snapshot; missing is success.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn snapshot_delete(&self, rd: &str, snap: &str) -> Result<()> {
        naming::validate_snapshot_name(snap)?;
        if self.lookup(rd).await?.is_none() {
            return Ok(());
        }
        self.client.snapshot_delete(rd, snap).await?;
        Ok(())
    }

    /// The snapshots that keep `rd` from rolling back to `snap`: the newer ones on
    /// controllers before 1.31.2 (which roll back only to the newest), none on later ones
    /// (the controller version is read once per client).
    pub async fn snapshot_rollback_blockers(
        &self,
        rd: &str,
        snap: &str,
    ) -> Result<Vec<SnapshotInfo>> {
        naming::validate_snapshot_name(snap)?;
        let mut snaps = self.snapshot_list(rd).await?;
        let Some(pos) = snaps.iter().position(|s| s.name.eq_ignore_ascii_case(snap)) else {
            return Err(not_found(format!("snapshot '{snap}' of volume '{rd}'")));
        };
        if pos + 1 == snaps.len()
            || self
                .client
                .version_cached()
                .await?
                .rolls_back_to_any_snapshot()
        {
            return Ok(vec![]);
        }
        Ok(snaps.split_off(pos + 1))
    }

    /// Roll back to a snapshot. Controllers before 1.31.2 roll back only to the newest one;
    /// with those an older one is refused with the names of the newer snapshots.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn snapshot_rollback(&self, rd: &str, snap: &str) -> Result<()> {
        let newer = self.snapshot_rollback_blockers(rd, snap).await?;
        if !newer.is_empty() {
            let v = self.client.version_cached().await?;
            let names: Vec<&str> = newer.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Unsupported(format!(
                "cannot roll back volume '{rd}' to snapshot '{snap}': LINSTOR {} rolls back only to the newest snapshot (any snapshot since 1.31.2), and newer ones exist ({}); delete them first or upgrade the controller",
                v.version,
                names.join(", ")
            )));
        }
        self.client.snapshot_rollback(rd, snap).await?;
        Ok(())
    }

    /// True when `snap` is the newest snapshot of `rd`.
    pub async fn snapshot_is_newest(&self, rd: &str, snap: &str) -> Result<bool> {
        let snaps = self.snapshot_list(rd).await?;
        Ok(snaps
            .last()
            .is_some_and(|s| s.name.eq_ignore_ascii_case(snap)))
    }

    /// Restore a snapshot into a new volume (RD with the owner's props, VDs, resources). Each
    /// step is skipped when a previous run already did it.
    #[instrument(skip(self, spec), fields(volume = %src, target = %spec.name))]
    pub async fn restore(&self, src: &str, snap: &str, spec: &CreateSpec) -> Result<CreateOutcome> {
        naming::validate_snapshot_name(snap)?;
        naming::validate_resource_name(&spec.name)?;
        self.require(src).await?;
        let rg = spec
            .resource_group
            .clone()
            .unwrap_or_else(|| self.cfg.resource_group.clone());
        let mut outcome = CreateOutcome::Created;
        let create = self
            .client
            .resource_definition_create(&ResourceDefinitionCreate {
                resource_definition: ResourceDefinition {
                    name: spec.name.clone(),
                    resource_group_name: Some(rg),
                    props: with_created(&spec.props),
                    ..Default::default()
                },
                ..Default::default()
            })
            .await;
        let target = match create {
            Ok(_) => None,
            Err(Error::AlreadyExists { what, reports }) => {
                match self.definition_with_volumes(&spec.name).await? {
                    Some(def) if self.read_half_created_twin(&def, spec).await? => {
                        outcome = CreateOutcome::Completed;
                        Some(def)
                    }
                    _ => return Err(Error::AlreadyExists { what, reports }),
                }
            }
            Err(e) => return Err(e),
        };
        let req = SnapshotRestore {
            to_resource: spec.name.clone(),
            nodes: Vec::new(),
        };
        if target
            .as_ref()
            .is_none_or(|d| d.volume_definitions.is_empty())
        {
            self.client
                .snapshot_restore_volume_definition(src, snap, &req)
                .await?;
        }
        self.client
            .snapshot_restore_resource(src, snap, &req)
            .await?;
        Ok(outcome)
    }

    /// Clone a volume server-side (waiting for the copy), falling back to snapshot + restore
    /// where the controller has no clone. The clone carries `spec.props`; the source's other
    /// `Aux/` props are not copied.
    #[instrument(skip(self, spec), fields(volume = %src, target = %spec.name))]
    pub async fn clone_volume(&self, src: &str, spec: &CreateSpec) -> Result<CreateOutcome> {
        self.clone_grown(src, spec, 0).await
    }

    /// [`Storage::clone_volume`], then grow the clone to `min_size_kib` when it is smaller
    /// (0 keeps the source's size). The source's definition is read once, for ownership, the
    /// props to drop and the size, so growing needs no further read. A clone of the same
    /// owner and source left by an interrupted run is waited for and reported as
    /// [`CreateOutcome::Completed`]; another volume of this platform under that name is
    /// [`CreateOutcome::Existing`] (untouched); another platform's is `NotOwned`.
    #[instrument(skip(self, spec), fields(volume = %src, target = %spec.name))]
    pub async fn clone_grown(
        &self,
        src: &str,
        spec: &CreateSpec,
        min_size_kib: u64,
    ) -> Result<CreateOutcome> {
        naming::validate_resource_name(src)?;
        naming::validate_resource_name(&spec.name)?;
        if min_size_kib > 0 {
            naming::validate_size_kib(min_size_kib)?;
        }
        let def = self
            .definition_with_volumes(src)
            .await?
            .ok_or_else(|| not_found(format!("volume '{src}'")))?;
        self.check_owned(&def)?;
        let mut size_kib = size_of(&def);
        let delete_props: Vec<String> = def
            .props
            .keys()
            .filter(|k| k.starts_with("Aux/") && !spec.props.contains_key(*k) && *k != CREATED_PROP)
            .cloned()
            .collect();
        let req = ResourceDefinitionCloneRequest {
            name: spec.name.clone(),
            resource_group: spec.resource_group.clone(),
            override_props: with_created(&spec.props),
            delete_props,
            ..Default::default()
        };
        let mut outcome = CreateOutcome::Created;
        match self.client.clone_start(src, &req).await {
            Ok(_) => {}
            Err(Error::AlreadyExists { what, reports }) => {
                let existing = self.definition_with_volumes(&spec.name).await?;
                let Some(d) = existing else {
                    return Err(Error::AlreadyExists { what, reports });
                };
                self.check_owned(&d)?;
                let retry = spec.props.iter().all(|(k, v)| d.props.get(k) == Some(v))
                    && d.props
                        .get("cloned-from")
                        .is_some_and(|c| c.eq_ignore_ascii_case(src));
                if !retry {
                    let resources = self.client.resources(&d.name).await?;
                    return Ok(CreateOutcome::Existing(VolumeInfo::from_resources(
                        d, resources,
                    )));
                }
                size_kib = size_of(&d).max(size_kib);
                outcome = CreateOutcome::Completed;
            }
            Err(Error::NotFound { .. }) => {
                tracing::info!("controller has no clone API; using snapshot and restore");
                let snap = format!("clone-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
                self.client
                    .snapshot_create(
                        src,
                        &SnapshotCreate {
                            name: snap.clone(),
                            ..Default::default()
                        },
                    )
                    .await?;
                let restored = self.restore(src, &snap, spec).await;
                if let Err(e) = self.client.snapshot_delete(src, &snap).await {
                    tracing::warn!(error = %e, snapshot = %snap, "temporary clone snapshot kept");
                }
                let outcome = restored?;
                self.grow_clone(&spec.name, size_kib, min_size_kib).await?;
                return Ok(outcome);
            }
            Err(e) => return Err(e),
        }
        self.wait_clone(src, &spec.name).await?;
        self.grow_clone(&spec.name, size_kib, min_size_kib).await?;
        Ok(outcome)
    }

    async fn grow_clone(&self, rd: &str, size_kib: u64, min_size_kib: u64) -> Result<()> {
        if min_size_kib <= size_kib {
            return Ok(());
        }
        self.client
            .volume_definition_modify(
                rd,
                0,
                &VolumeDefinitionModify {
                    size_kib: Some(min_size_kib),
                    ..Default::default()
                },
            )
            .await?;
        Ok(())
    }

    async fn wait_clone(&self, src: &str, clone: &str) -> Result<()> {
        let deadline = Instant::now() + self.cfg.clone_timeout;
        let mut delay = Duration::from_millis(10);
        let mut missing_since: Option<Instant> = None;
        let mut polls = 0u32;
        loop {
            tokio::time::sleep(delay).await;
            if polls > 0 {
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            polls += 1;
            match self.client.clone_status(src, clone).await? {
                Some(s) if s.status == "COMPLETE" => return Ok(()),
                Some(s) if s.status == "FAILED" => {
                    return Err(Error::Api {
                        request: format!("clone of '{src}' into '{clone}'"),
                        status: 500,
                        reports: vec![ApiCallRc {
                            ret_code: MASK_ERROR as i64,
                            message: format!("LINSTOR reports the clone '{clone}' of '{src}' as FAILED"),
                            correction: Some(format!(
                                "check that every node of '{src}' is online, then delete '{clone}' and retry"
                            )),
                            ..Default::default()
                        }],
                    })
                }
                Some(_) => missing_since = None,
                None => {
                    let since = *missing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(30) {
                        return Err(not_found(format!("clone '{clone}' of '{src}'")));
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    tried: self.client.controllers(),
                    seconds: self.cfg.clone_timeout.as_secs_f64(),
                    may_have_been_carried_out: true,
                });
            }
        }
    }
}
