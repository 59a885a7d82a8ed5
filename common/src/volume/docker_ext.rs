//! Docker-frontend additions to [`Storage`]: a cheap listing of owned definitions (one request,
//! filtered server-side by the ownership marker), the two reads a Mount needs, and attach with
//! a chosen diskless pool that reuses them.

use std::path::PathBuf;

use tracing::instrument;

use super::Storage;
use crate::api::{Resource, ResourceDefinition};
use crate::error::Result;
use crate::naming::{self, docker};

/// What a Mount reads before attaching: the definition (ownership, file-system props) and every
/// resource of it (this node's copy, and which nodes use the volume).
#[derive(Debug, Clone)]
pub struct MountView {
    /// The definition, owned by this platform.
    pub definition: ResourceDefinition,
    /// Its resources on all nodes.
    pub resources: Vec<Resource>,
}

impl MountView {
    /// Nodes other than `node` where the volume is Primary.
    pub fn in_use_elsewhere(&self, node: &str) -> Vec<&str> {
        self.resources
            .iter()
            .filter(|r| r.in_use() == Some(true) && !r.node_name.eq_ignore_ascii_case(node))
            .map(|r| r.node_name.as_str())
            .collect()
    }

    /// This node's resource, if any.
    pub fn on(&self, node: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|r| r.node_name.eq_ignore_ascii_case(node))
    }
}

impl Storage {
    /// Resource definitions the Docker frontend owns, without resources: one request whatever
    /// the cluster size (the marker is filtered by the controller, re-checked here).
    #[instrument(skip(self))]
    pub async fn docker_definitions(&self) -> Result<Vec<ResourceDefinition>> {
        let filter = docker::marker_filter();
        let mut defs = self.client.resource_definitions(&[filter.as_str()]).await?;
        defs.retain(|d| self.cfg.platform.owns(d));
        Ok(defs)
    }

    /// The definition and its resources: two requests (one when the volume does not exist).
    /// `NotOwned` when the definition belongs to someone else.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn mount_view(&self, rd: &str) -> Result<Option<MountView>> {
        let Some(definition) = self.lookup(rd).await? else {
            return Ok(None);
        };
        let resources = self.client.resources(rd).await?;
        Ok(Some(MountView {
            definition,
            resources,
        }))
    }

    /// Attach on this node using what [`Storage::mount_view`] read: no request when this node
    /// has a usable copy, else one (a diskless copy in `diskless_pool`, or `make-available`).
    /// Waits for the device and returns its path.
    #[instrument(skip(self, view), fields(volume = %view.definition.name))]
    pub async fn attach_viewed(
        &self,
        view: &MountView,
        diskless_pool: Option<&str>,
    ) -> Result<PathBuf> {
        let rd = view.definition.name.as_str();
        naming::validate_resource_name(rd)?;
        let node = self.cfg.node.clone();
        match view.on(&node) {
            Some(r) if !r.is_tiebreaker() && !r.is_deleting() => {}
            Some(_) => self.make_available(rd, &node).await?,
            None => match diskless_pool {
                Some(pool) => self.create_diskless_in(rd, &node, pool).await?,
                None => self.make_available(rd, &node).await?,
            },
        }
        let path = self.device_path(rd, 0);
        self.wait_device(path.clone()).await?;
        Ok(path)
    }

    /// [`Storage::attach`] on this node, except that a missing resource is created diskless in
    /// `diskless_pool` (the peer's `disklessstoragepool`) instead of by `make-available`.
    pub async fn attach_in_diskless_pool(
        &self,
        rd: &str,
        diskless_pool: Option<&str>,
    ) -> Result<PathBuf> {
        let node = self.cfg.node.clone();
        self.attach_to(rd, &node, diskless_pool).await
    }
}
