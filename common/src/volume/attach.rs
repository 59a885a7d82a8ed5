//! Diskless attach on demand, detach of diskless copies only, live-migration handover, and the
//! local-first data plane: a volume whose device is already on this node is used after at most
//! [`DATA_PLANE_BUDGET`] of waiting on the controller, whatever the controller does, and after
//! only the client's known-silent grace once every controller is known silent.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::instrument;

use super::{Storage, ALLOW_TWO_PRIMARIES, MIGRATION_MARKER};
use crate::api::*;
use crate::client::data_plane;
use crate::error::{Error, Result};
use crate::naming;

/// How long a data-plane call (activate, mount, path, inspect of a volume present on this node)
/// waits for the controller before it goes on with what this node has: well inside the 3 s a
/// user may wait, whatever the per-controller read bound and the number of controllers.
pub const DATA_PLANE_BUDGET: Duration = Duration::from_millis(1500);

/// A data-plane call given at most [`DATA_PLANE_BUDGET`], its reads only the client's
/// known-silent grace while every controller is known silent ([`crate::client::silent`]):
/// `None` when the budget ran out.
pub async fn bounded<F: std::future::Future>(call: F) -> Option<F::Output> {
    let (out, known_silent) = data_plane(tokio::time::timeout(DATA_PLANE_BUDGET, call)).await;
    if known_silent {
        tracing::debug!(
            known_silent,
            "data-plane call took the known-silent shortcut"
        );
    }
    out.ok()
}

/// The result of a controller call given [`DATA_PLANE_BUDGET`] (see [`bounded`]): `None` when
/// the controller did not answer in time or could not be reached (the caller goes on locally),
/// the error otherwise.
pub async fn within_budget<T>(
    call: impl std::future::Future<Output = Result<T>>,
) -> Result<Option<T>> {
    let (out, known_silent) = data_plane(tokio::time::timeout(DATA_PLANE_BUDGET, call)).await;
    match out {
        Ok(Ok(v)) => Ok(Some(v)),
        Ok(Err(e)) if e.is_controller_unreachable() => {
            tracing::warn!(error = %e, known_silent, "controller unreachable; going on with this node's state");
            Ok(None)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => {
            tracing::warn!(
                budget_ms = DATA_PLANE_BUDGET.as_millis() as u64,
                known_silent,
                "no controller answered within the data-plane budget; going on with this node's state"
            );
            Ok(None)
        }
    }
}

/// [`Error::SatelliteOffline`] when LINSTOR stored an attach of `rd` on `node` without
/// carrying it out.
fn offline_check(replies: &crate::client::Replies, rd: &str, node: &str) -> Result<()> {
    if replies.not_connected(node) {
        return Err(Error::SatelliteOffline {
            node: node.to_string(),
            what: format!(
                "the attach of '{rd}' is stored by the controller and carried out when the satellite reconnects"
            ),
        });
    }
    Ok(())
}

/// How allow-two-primaries is handled around a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoPrimaries {
    /// Set at creation and never touched (linstor-proxmox default).
    Permanent,
    /// Set when the migration begins, cleared when only one node still uses the volume.
    Migration,
}

impl Storage {
    /// Make the volume usable on `node`: use an existing resource (one request), convert a
    /// tie-breaker, or create a diskless copy with `make-available`. On this node, wait for the
    /// device and return its path. A volume already read as owned attaches through
    /// [`super::OwnedVolume::attach`] instead, without the look-ups.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn attach(&self, rd: &str, node: &str) -> Result<PathBuf> {
        naming::validate_resource_name(rd)?;
        naming::validate_node_name(node)?;
        let found = self.client.resource(rd, node).await?;
        self.attach_given(rd, node, found).await
    }

    /// [`Storage::attach`] once `node`'s resource (`found`) was read.
    async fn attach_given(&self, rd: &str, node: &str, found: Option<Resource>) -> Result<PathBuf> {
        match found {
            Some(r) if !r.is_tiebreaker() && !r.is_deleting() => {}
            Some(_) => {
                self.lookup(rd).await?;
                self.make_available(rd, node).await?;
            }
            None => {
                if self.lookup(rd).await?.is_none() {
                    return Err(Error::NotFound {
                        what: format!("volume '{rd}'"),
                        reports: Vec::new(),
                    });
                }
                self.make_available(rd, node).await?;
            }
        }
        self.settle(rd, node).await
    }

    /// [`Storage::attach`] for a frontend that can look at `node` itself: when no controller
    /// answers within [`DATA_PLANE_BUDGET`] whether `node` holds the volume, `None`, and the
    /// caller uses the device if `node` has it. A resource already on `node` needs no change.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn attach_unless_silent(&self, rd: &str, node: &str) -> Result<Option<PathBuf>> {
        naming::validate_resource_name(rd)?;
        naming::validate_node_name(node)?;
        match within_budget(self.client.resource(rd, node)).await? {
            None => Ok(None),
            Some(found) => self.attach_given(rd, node, found).await.map(Some),
        }
    }

    /// The error of a call that needed the controller when none answered within
    /// [`DATA_PLANE_BUDGET`] (or the known-silent grace).
    pub fn silent(&self) -> Error {
        let waited = self
            .client
            .transport()
            .data_plane_wait()
            .unwrap_or(DATA_PLANE_BUDGET);
        Error::Timeout {
            tried: self.client.controllers(),
            seconds: waited.as_secs_f64(),
            may_have_been_carried_out: false,
        }
    }

    pub(crate) async fn create_diskless_in(&self, rd: &str, node: &str, pool: &str) -> Result<()> {
        let mut props = Props::new();
        props.insert("StorPoolName".into(), pool.to_string());
        let req = ResourceCreate {
            resource: Resource {
                name: rd.to_string(),
                node_name: node.to_string(),
                props,
                flags: vec!["DISKLESS".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        match self.client.resource_create(rd, node, &req).await {
            Ok(replies) => offline_check(&replies, rd, node),
            Err(Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn make_available(&self, rd: &str, node: &str) -> Result<()> {
        match self
            .client
            .make_available(rd, node, &ResourceMakeAvailable::default())
            .await
        {
            Ok(replies) => offline_check(&replies, rd, node),
            Err(e @ Error::NotFound { .. }) => match self.client.node(node).await {
                Ok(Some(n)) if !n.is_online() => Err(Error::SatelliteOffline {
                    node: node.to_string(),
                    what: format!("'{rd}' cannot be attached there now"),
                }),
                _ => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn wait_device(&self, path: PathBuf) -> Result<()> {
        if self.host.device_exists(&path) {
            return Ok(());
        }
        let host = Arc::clone(&self.host);
        let timeout = self.cfg.device_timeout;
        tokio::task::spawn_blocking(move || host.wait_for_device(&path, timeout))
            .await
            .map_err(|e| Error::Host {
                op: "wait for device".into(),
                message: e.to_string(),
            })?
    }

    /// This node's device of the volume when it is here (disk or diskless); needs no network.
    pub fn local_device(&self, rd: &str) -> Result<Option<PathBuf>> {
        naming::validate_resource_name(rd)?;
        let path = self.device_path(rd, 0);
        Ok(self.host.device_exists(&path).then_some(path))
    }

    /// Activate on this node. The controller VM's volumes work with no controller at all; a
    /// volume whose device is already here waits at most [`DATA_PLANE_BUDGET`] for the
    /// controller (DRBD itself still refuses a second Primary); otherwise this is
    /// [`Storage::attach`], bounded per call.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn activate_local(&self, rd: &str) -> Result<PathBuf> {
        let Some(path) = self.local_device(rd)? else {
            return self.attach(rd, &self.cfg.node).await;
        };
        if self.is_controller_vm(rd, None) {
            return Ok(path);
        }
        Ok(within_budget(self.attach(rd, &self.cfg.node))
            .await?
            .unwrap_or(path))
    }

    /// Remove the diskless copy on `node` if it is not in use (waiting a bounded time for a
    /// Primary to let go); diskful replicas and tie-breakers stay. Clears a migration's
    /// allow-two-primaries once at most one node uses the volume.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn detach(&self, rd: &str, node: &str) -> Result<()> {
        naming::validate_resource_name(rd)?;
        naming::validate_node_name(node)?;
        if self.is_controller_vm(rd, None) {
            return Ok(());
        }
        let deadline = Instant::now() + self.cfg.in_use_wait;
        let mut resources = self.client.resources(rd).await?;
        let mine = |rs: &[Resource]| {
            rs.iter()
                .find(|r| r.node_name.eq_ignore_ascii_case(node))
                .cloned()
        };
        let Some(mut here) = mine(&resources) else {
            return self.clear_migration(rd, &resources, None).await;
        };
        let removable = here.is_diskless() && !here.is_tiebreaker();
        let mut def = None;
        if removable {
            let d = self.lookup(rd).await?;
            if self.is_controller_vm(rd, d.as_ref()) {
                return Ok(());
            }
            def = d;
            while here.in_use() == Some(true) {
                if Instant::now() >= deadline {
                    return Err(Error::InUse {
                        what: format!("volume '{rd}' on node '{node}'"),
                        reports: Vec::new(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                resources = self.client.resources(rd).await?;
                match mine(&resources) {
                    Some(r) => here = r,
                    None => return self.clear_migration(rd, &resources, def.as_ref()).await,
                }
            }
            self.client.resource_delete(rd, node).await?;
            resources.retain(|r| !r.node_name.eq_ignore_ascii_case(node));
        }
        self.clear_migration(rd, &resources, def.as_ref()).await
    }

    async fn clear_migration(
        &self,
        rd: &str,
        remaining: &[Resource],
        def: Option<&ResourceDefinition>,
    ) -> Result<()> {
        let fetched;
        let def = match def {
            Some(d) => d,
            None => {
                if remaining.len() < 2 {
                    return Ok(());
                }
                match self.client.resource_definition(rd).await? {
                    Some(d) => {
                        fetched = d;
                        &fetched
                    }
                    None => return Ok(()),
                }
            }
        };
        if !def.props.contains_key(MIGRATION_MARKER) {
            return Ok(());
        }
        let users = remaining
            .iter()
            .filter(|r| r.in_use() == Some(true))
            .count();
        if users > 1 {
            return Ok(());
        }
        self.client
            .resource_definition_modify(
                rd,
                &ResourceDefinitionModify {
                    delete_props: vec![ALLOW_TWO_PRIMARIES.into(), MIGRATION_MARKER.into()],
                    ..Default::default()
                },
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn allow_two_primaries(
        &self,
        rd: &str,
        props: &Props,
        target: &str,
        mode: TwoPrimaries,
    ) -> Result<()> {
        if mode == TwoPrimaries::Migration
            && props.get(ALLOW_TWO_PRIMARIES).map(String::as_str) != Some("yes")
        {
            let mut set = Props::new();
            set.insert(ALLOW_TWO_PRIMARIES.into(), "yes".into());
            set.insert(MIGRATION_MARKER.into(), target.into());
            self.client
                .resource_definition_modify(
                    rd,
                    &ResourceDefinitionModify {
                        override_props: set,
                        ..Default::default()
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Finish a migration: the source lets go (its diskless copy is removed) and a
    /// migration-scoped allow-two-primaries is cleared.
    pub async fn migrate_commit(&self, rd: &str, source: &str, _target: &str) -> Result<()> {
        self.detach(rd, source).await
    }

    /// Undo a failed migration: the target's diskless copy is removed and a migration-scoped
    /// allow-two-primaries is cleared.
    pub async fn migrate_abort(&self, rd: &str, _source: &str, target: &str) -> Result<()> {
        self.detach(rd, target).await
    }
}
