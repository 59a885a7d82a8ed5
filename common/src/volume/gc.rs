//! Garbage collection of what this suite owns: half-created volumes (no disk anywhere) and
//! orphan diskless copies (not in use). Never anything diskful, foreign or of the controller VM.

use tracing::instrument;

use super::{Storage, VolumeInfo};
use crate::error::Result;

/// What gc found (and removed, when applied).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Owned RDs without any diskful resource, snapshot or clone in progress.
    pub half_created: Vec<String>,
    /// Owned diskless (non tie-breaker) resources known not to be in use: (RD, node).
    pub orphan_diskless: Vec<(String, String)>,
    /// True when the findings were removed.
    pub applied: bool,
}

impl GcReport {
    /// Nothing found.
    pub fn is_empty(&self) -> bool {
        self.half_created.is_empty() && self.orphan_diskless.is_empty()
    }
}

impl Storage {
    /// Find (and with `apply`, remove) half-created volumes and orphan diskless resources.
    /// `keep_diskless` names (RD, node) pairs the frontend knows to be wanted (e.g. mounted).
    #[instrument(skip(self, keep_diskless))]
    pub async fn gc(&self, apply: bool, keep_diskless: &[(String, String)]) -> Result<GcReport> {
        let defs = self.client.resource_definitions(&[]).await?;
        let resources = self.client.view_resources(&[], &[], &[]).await?;
        let snapshots = self.client.view_snapshots(&[]).await?;
        let mut report = GcReport {
            applied: apply,
            ..Default::default()
        };
        for def in defs.iter().filter(|d| self.cfg.platform.owns(d)) {
            if self.is_controller_vm(&def.name, Some(def)) {
                continue;
            }
            let mine: Vec<_> = resources
                .iter()
                .filter(|r| r.resource.name.eq_ignore_ascii_case(&def.name))
                .collect();
            let has_disk = mine.iter().any(|r| !r.resource.is_diskless());
            let busy = def.flags.iter().any(|f| f == "CLONING" || f == "DELETE");
            let has_snaps = snapshots
                .iter()
                .any(|s| s.resource_name.eq_ignore_ascii_case(&def.name));
            if !has_disk
                && !busy
                && !has_snaps
                && !mine.iter().any(|r| r.resource.in_use() == Some(true))
            {
                report.half_created.push(def.name.clone());
                continue;
            }
            for r in mine {
                let res = &r.resource;
                let wanted = keep_diskless
                    .iter()
                    .any(|(rd, node)| rd.eq_ignore_ascii_case(&def.name) && node == &res.node_name);
                if res.is_diskless()
                    && !res.is_tiebreaker()
                    && res.in_use() == Some(false)
                    && has_disk
                    && !wanted
                {
                    report
                        .orphan_diskless
                        .push((def.name.clone(), res.node_name.clone()));
                }
            }
        }
        if apply {
            for rd in &report.half_created {
                self.client.resource_definition_delete(rd).await?;
            }
            for (rd, node) in &report.orphan_diskless {
                self.client.resource_delete(rd, node).await?;
            }
        }
        Ok(report)
    }
}

impl Storage {
    /// The volumes among `volumes` with a diskless copy (not a tie-breaker) on this node: the
    /// candidates a frontend releases with [`Storage::detach`] when no local user of its own
    /// needs them (orphans of a failed detach or a frontend killed half-way).
    pub fn diskless_copies_here<'v>(&self, volumes: &'v [VolumeInfo]) -> Vec<&'v VolumeInfo> {
        volumes
            .iter()
            .filter(|v| v.has_diskless_copy_on(&self.cfg.node))
            .collect()
    }
}
