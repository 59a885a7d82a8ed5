//! Docker-frontend additions to [`Storage`]: a cheap listing of owned definitions (one request,
//! filtered server-side by the ownership marker) and attach with a chosen diskless pool.

use std::path::PathBuf;
use std::sync::Arc;

use tracing::instrument;

use super::Storage;
use crate::api::*;
use crate::error::{Error, Result};
use crate::naming::{self, docker};

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

    /// [`Storage::attach`] on this node, except that a missing resource is created diskless in
    /// `diskless_pool` (the peer's `disklessstoragepool`) instead of by `make-available`.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn attach_in_diskless_pool(
        &self,
        rd: &str,
        diskless_pool: Option<&str>,
    ) -> Result<PathBuf> {
        let node = self.cfg.node.clone();
        let Some(pool) = diskless_pool else {
            return self.attach(rd, &node).await;
        };
        naming::validate_resource_name(rd)?;
        if self.client.resource(rd, &node).await?.is_some() {
            return self.attach(rd, &node).await;
        }
        if self.lookup(rd).await?.is_none() {
            return Err(Error::NotFound {
                what: format!("volume '{rd}'"),
                reports: Vec::new(),
            });
        }
        let mut props = Props::new();
        props.insert("StorPoolName".into(), pool.to_string());
        let req = ResourceCreate {
            resource: Resource {
                name: rd.to_string(),
                node_name: node.clone(),
                props,
                flags: vec!["DISKLESS".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        match self.client.resource_create(rd, &node, &req).await {
            Ok(_) | Err(Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
        let path = self.device_path(rd, 0);
        let host = Arc::clone(&self.host);
        let timeout = self.cfg.device_timeout;
        let wait = path.clone();
        tokio::task::spawn_blocking(move || host.wait_for_device(&wait, timeout))
            .await
            .map_err(|e| Error::Host {
                op: "wait for device".into(),
                message: e.to_string(),
            })??;
        Ok(path)
    }
}
