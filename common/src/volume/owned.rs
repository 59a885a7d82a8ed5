//! [`OwnedVolume`]: a volume whose ownership was checked by the read (or the create) that
//! produced it, so attaching and starting a migration need no second look-up.

use std::path::PathBuf;

use tracing::instrument;

use super::{CreateSpec, Storage, TwoPrimaries, VolumeInfo};
use crate::api::{codes, Props, Resource, ResourceDefinition};
use crate::error::{Error, Result};
use crate::naming;

/// A volume of this platform, checked once. Built by [`Storage::volume`],
/// [`Storage::volume_with_resources`], [`Storage::owned`] (a definition the caller read),
/// [`Storage::owned_info`] (a [`Storage::get`] answer) or [`Storage::created`] (a spec the
/// caller has just created).
#[derive(Debug, Clone)]
pub struct OwnedVolume<'a> {
    storage: &'a Storage,
    name: String,
    props: Props,
    resources: Option<Vec<Resource>>,
}

impl Storage {
    fn handle(
        &self,
        name: String,
        props: Props,
        resources: Option<Vec<Resource>>,
    ) -> OwnedVolume<'_> {
        OwnedVolume {
            storage: self,
            name,
            props,
            resources,
        }
    }

    /// The volume if it exists (one request); `NotOwned` when it belongs to someone else.
    pub async fn volume(&self, rd: &str) -> Result<Option<OwnedVolume<'_>>> {
        Ok(self
            .lookup(rd)
            .await?
            .map(|d| self.handle(d.name, d.props, None)))
    }

    /// The volume with its resources on every node (two requests, one when it does not
    /// exist); `NotOwned` when it belongs to someone else.
    #[instrument(skip(self), fields(volume = %rd))]
    pub async fn volume_with_resources(&self, rd: &str) -> Result<Option<OwnedVolume<'_>>> {
        let Some(def) = self.lookup(rd).await? else {
            return Ok(None);
        };
        let resources = self.client.resources(rd).await?;
        Ok(Some(self.handle(def.name, def.props, Some(resources))))
    }

    /// A definition the caller has just read, checked for ownership with no request.
    pub fn owned(&self, def: &ResourceDefinition) -> Result<OwnedVolume<'_>> {
        naming::validate_resource_name(&def.name)?;
        self.check_owned(def)?;
        Ok(self.handle(def.name.clone(), def.props.clone(), None))
    }

    /// A volume [`Storage::get`] or [`Storage::list`] returned (both checked ownership).
    pub fn owned_info(&self, info: &VolumeInfo) -> OwnedVolume<'_> {
        self.handle(info.name.clone(), info.props.clone(), None)
    }

    /// The volume the caller has just created (or cloned) from `spec`; the spec's name and
    /// props decide ownership, with no request.
    pub fn created(&self, spec: &CreateSpec) -> Result<OwnedVolume<'_>> {
        self.owned(&ResourceDefinition {
            name: spec.name.clone(),
            props: spec.props.clone(),
            ..Default::default()
        })
    }
}

impl OwnedVolume<'_> {
    /// RD name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// RD props as read.
    pub fn props(&self) -> &Props {
        &self.props
    }

    /// The resources, when the handle was read with them.
    pub fn resources(&self) -> Option<&[Resource]> {
        self.resources.as_deref()
    }

    /// This node's resource, when the handle was read with its resources.
    pub fn on(&self, node: &str) -> Option<&Resource> {
        self.resources
            .as_deref()?
            .iter()
            .find(|r| r.node_name.eq_ignore_ascii_case(node))
    }

    /// Nodes other than `node` where the volume is Primary (empty when resources were not read).
    pub fn in_use_elsewhere(&self, node: &str) -> Vec<&str> {
        self.resources
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|r| r.in_use() == Some(true) && !r.node_name.eq_ignore_ascii_case(node))
            .map(|r| r.node_name.as_str())
            .collect()
    }

    /// Make the volume usable on `node` and, on this node, wait for the device and return its
    /// path. With the resources read: no request when `node` has a usable copy, else one (a
    /// diskless copy in `diskless_pool`, or `make-available`). Without them: one
    /// `make-available` (a resource already there is kept; a tie-breaker becomes a diskless
    /// copy), or with `diskless_pool` a look at `node`'s resource first.
    #[instrument(skip(self), fields(volume = %self.name))]
    pub async fn attach(&self, node: &str, diskless_pool: Option<&str>) -> Result<PathBuf> {
        naming::validate_node_name(node)?;
        let st = self.storage;
        let rd = self.name.as_str();
        let fetched;
        let existing = match (&self.resources, diskless_pool) {
            (Some(_), _) => self.on(node),
            (None, Some(_)) => {
                fetched = st.client.resource(rd, node).await?;
                fetched.as_ref()
            }
            (None, None) => {
                st.make_available(rd, node).await?;
                return st.settle(rd, node).await;
            }
        };
        match existing {
            Some(r) if !r.is_tiebreaker() && !r.is_deleting() => {}
            Some(_) => st.make_available(rd, node).await?,
            None => match diskless_pool {
                Some(pool) => st.create_diskless_in(rd, node, pool).await?,
                None => st.make_available(rd, node).await?,
            },
        }
        st.settle(rd, node).await
    }

    /// Start a live migration: allow two primaries (when `mode` is migration-scoped and it is
    /// not set yet) and attach on the target while the source keeps the volume.
    #[instrument(skip(self), fields(volume = %self.name))]
    pub async fn migrate_begin(
        &self,
        source: &str,
        target: &str,
        mode: TwoPrimaries,
    ) -> Result<PathBuf> {
        naming::validate_node_name(source)?;
        self.storage
            .allow_two_primaries(&self.name, &self.props, target, mode)
            .await?;
        self.attach(target, None).await
    }

    /// Delete the volume whole: its resources on every node go with the definition. One
    /// request when it has no snapshots; when LINSTOR refuses because it has some
    /// (`FAIL_EXISTS_SNAPSHOT_DFN`), they are deleted and the definition again. The controller
    /// VM's volumes are kept and success is reported; missing is success.
    #[instrument(skip(self), fields(volume = %self.name))]
    pub async fn delete(&self) -> Result<()> {
        let st = self.storage;
        let rd = self.name.as_str();
        let def = ResourceDefinition {
            name: self.name.clone(),
            props: self.props.clone(),
            ..Default::default()
        };
        if st.is_controller_vm(rd, Some(&def)) {
            tracing::warn!("volume of the controller VM: not deleting it");
            return Ok(());
        }
        match st.client.resource_definition_delete(rd).await {
            Err(e)
                if e.reports()
                    .iter()
                    .any(|rc| rc.is_error_code(codes::FAIL_EXISTS_SNAPSHOT_DFN)) =>
            {
                for snap in st.client.snapshots(rd).await? {
                    st.client.snapshot_delete(rd, &snap.name).await?;
                }
                st.client.resource_definition_delete(rd).await?;
                Ok(())
            }
            Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
            Ok(_) => Ok(()),
        }
    }
}

impl Storage {
    /// The device path of `rd`; on this node, once the device is there.
    pub(crate) async fn settle(&self, rd: &str, node: &str) -> Result<PathBuf> {
        let path = self.device_path(rd, 0);
        if node == self.cfg.node {
            self.wait_device(path.clone()).await?;
        }
        Ok(path)
    }
}

/// The error for a name that is taken.
pub(crate) fn taken(name: &str) -> Error {
    Error::AlreadyExists {
        what: format!("volume '{name}'"),
        reports: Vec::new(),
    }
}
