//! Docker-frontend addition to [`Storage`]: a cheap listing of owned definitions (one request,
//! filtered server-side by the ownership marker).

use tracing::instrument;

use super::Storage;
use crate::api::ResourceDefinition;
use crate::error::Result;
use crate::naming::docker;

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
}
