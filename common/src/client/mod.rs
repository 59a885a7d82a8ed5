//! Typed LINSTOR REST calls on top of the failover [`transport`], with ApiCallRc decoding.

pub mod silent;
pub mod transport;

use std::sync::Arc;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::*;
use crate::config::ClientConfig;
use crate::error::{Error, Result};
pub use silent::data_plane;
use transport::Transport;
pub use transport::{CallKind, RawResponse};

/// A LINSTOR REST client over a list of controllers.
#[derive(Debug, Clone)]
pub struct Client {
    transport: Transport,
    /// `GET /v1/controller/version`, read once and shared by the clones of this client.
    version: Arc<tokio::sync::OnceCell<ControllerVersion>>,
}

/// Percent-encode one path segment (no safe characters, as python-linstor does).
pub fn seg(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(&seg(k));
        out.push('=');
        out.push_str(&seg(v));
    }
    out
}

/// The entries of a successful mutating call (warnings and infos included).
#[derive(Debug, Clone, Default)]
pub struct Replies(pub Vec<ApiCallRc>);

impl Replies {
    /// True when an entry carries this warning code.
    pub fn has_warning(&self, code: u64) -> bool {
        self.0.iter().any(|rc| rc.is_warning_code(code))
    }
    /// True when LINSTOR says the satellite of `node` is offline (`WARN_NOT_CONNECTED` naming
    /// it): the change is stored, not carried out there.
    pub fn not_connected(&self, node: &str) -> bool {
        self.0.iter().any(|rc| {
            rc.is_warning_code(codes::WARN_NOT_CONNECTED)
                && (rc
                    .obj_refs
                    .get("Node")
                    .is_some_and(|n| n.eq_ignore_ascii_case(node))
                    || rc.message.contains(&format!("'{node}'")))
        })
    }
    /// True when an entry carries this info code.
    pub fn has_info(&self, code: u64) -> bool {
        self.0.iter().any(|rc| rc.is_info() && rc.code() == code)
    }
}

impl Client {
    /// Build a client from a configuration.
    pub fn new(config: ClientConfig) -> Result<Self> {
        Ok(Self {
            transport: Transport::new(config)?,
            version: Arc::default(),
        })
    }

    /// The controller URLs in the order they are tried.
    pub fn controllers(&self) -> Vec<String> {
        self.transport.controllers()
    }

    /// The controllers known silent now ([`Transport::known_silent`]).
    pub fn known_silent(&self) -> Vec<String> {
        self.transport.known_silent()
    }

    /// The underlying transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        kind: CallKind,
    ) -> Result<RawResponse> {
        tracing::debug!(%method, path, ?kind, "linstor request");
        let resp = self.transport.send(method, path, body, kind).await?;
        tracing::debug!(status = resp.status, controller = %resp.controller, "linstor response");
        Ok(resp)
    }

    fn protocol(
        resp: &RawResponse,
        request: &str,
        problem: impl std::fmt::Display,
        source: Option<crate::error::Cause>,
    ) -> Error {
        let head: String = String::from_utf8_lossy(&resp.body)
            .chars()
            .take(120)
            .collect();
        Error::Protocol {
            controller: resp.controller.clone(),
            request: request.to_string(),
            status: resp.status,
            problem: format!("{problem}; body starts with {head:?}"),
            source,
        }
    }

    fn decode<T: DeserializeOwned>(resp: &RawResponse, request: &str) -> Result<T> {
        serde_json::from_slice(&resp.body)
            .map_err(|e| Self::protocol(resp, request, "not the documented JSON", Some(e.into())))
    }

    /// Turn an error reply into a typed error.
    fn failure(resp: &RawResponse, request: &str, what: &str) -> Error {
        let reports: Vec<ApiCallRc> = serde_json::from_slice(&resp.body).unwrap_or_default();
        if reports.is_empty() && resp.status != 404 {
            return Self::protocol(resp, request, "error reply without ApiCallRc entries", None);
        }
        let first_error = reports.iter().find(|rc| rc.is_error());
        let what = what.to_string();
        if resp.status == 404 || first_error.is_some_and(ApiCallRc::is_not_found) {
            return Error::NotFound { what, reports };
        }
        if first_error.is_some_and(ApiCallRc::is_exists) {
            return Error::AlreadyExists { what, reports };
        }
        if first_error.is_some_and(|rc| {
            rc.is_error_code(codes::FAIL_IN_USE) || rc.is_error_code(codes::FAIL_RSC_BUSY)
        }) {
            return Error::InUse { what, reports };
        }
        Error::Api {
            request: request.to_string(),
            status: resp.status,
            reports,
        }
    }

    /// GET returning JSON.
    async fn get<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<T> {
        let request = format!("GET {path}");
        let resp = self.raw(Method::GET, path, None, CallKind::Read).await?;
        if resp.status >= 400 {
            return Err(Self::failure(&resp, &request, what));
        }
        Self::decode(&resp, &request)
    }

    /// GET of a single object; 404 becomes `None`.
    async fn get_opt<T: DeserializeOwned>(&self, path: &str, what: &str) -> Result<Option<T>> {
        match self.get(path, what).await {
            Ok(v) => Ok(Some(v)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A mutating call answered by an ApiCallRc list.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
        what: &str,
    ) -> Result<Replies> {
        let request = format!("{method} {path}");
        let resp = self.raw(method, path, body, CallKind::Mutate).await?;
        if resp.status >= 400 {
            return Err(Self::failure(&resp, &request, what));
        }
        let reports: Vec<ApiCallRc> = if resp.body.iter().all(u8::is_ascii_whitespace) {
            Vec::new()
        } else {
            Self::decode(&resp, &request)?
        };
        if reports.iter().any(ApiCallRc::is_error) {
            return Err(Self::failure(&resp, &request, what));
        }
        for rc in reports.iter().filter(|rc| rc.is_warning()) {
            tracing::warn!(code = rc.code(), message = %rc.message, "LINSTOR warning");
        }
        Ok(Replies(reports))
    }

    fn body<T: Serialize>(value: &T) -> Option<serde_json::Value> {
        serde_json::to_value(value).ok()
    }

    // ---- controller -------------------------------------------------------------------------

    /// `GET /v1/controller/version`.
    pub async fn version(&self) -> Result<ControllerVersion> {
        self.get("/v1/controller/version", "controller version")
            .await
    }

    /// The controller version, read on first use and then cached (behaviour that changed
    /// between releases follows it).
    pub async fn version_cached(&self) -> Result<&ControllerVersion> {
        self.version.get_or_try_init(|| self.version()).await
    }

    /// `POST /v1/controller/properties`.
    pub async fn controller_props_modify(&self, m: &PropsModify) -> Result<Replies> {
        self.call(
            Method::POST,
            "/v1/controller/properties",
            Self::body(m),
            "controller properties",
        )
        .await
    }

    // ---- nodes and pools --------------------------------------------------------------------

    /// `GET /v1/nodes`.
    pub async fn nodes(&self) -> Result<Vec<Node>> {
        self.get("/v1/nodes", "nodes").await
    }

    /// `GET /v1/nodes/{node}`; `None` when unknown.
    pub async fn node(&self, node: &str) -> Result<Option<Node>> {
        self.get_opt(
            &format!("/v1/nodes/{}", seg(node)),
            &format!("node '{node}'"),
        )
        .await
    }

    /// `POST /v1/nodes/{node}/net-interfaces`.
    pub async fn net_interface_create(&self, node: &str, nic: &NetInterface) -> Result<Replies> {
        self.call(
            Method::POST,
            &format!("/v1/nodes/{}/net-interfaces", seg(node)),
            Self::body(nic),
            &format!("net interface '{}' of node '{node}'", nic.name),
        )
        .await
    }

    /// `GET /v1/view/storage-pools`, optionally filtered by node and answered from cache.
    pub async fn storage_pools(&self, nodes: &[&str], cached: bool) -> Result<Vec<StoragePool>> {
        let mut q: Vec<(&str, &str)> = nodes.iter().map(|n| ("nodes", *n)).collect();
        if cached {
            q.push(("cached", "true"));
        }
        self.get(
            &format!("/v1/view/storage-pools{}", query(&q)),
            "storage pools",
        )
        .await
    }

    // ---- resource groups --------------------------------------------------------------------

    /// `GET /v1/resource-groups`.
    pub async fn resource_groups(&self) -> Result<Vec<ResourceGroup>> {
        self.get("/v1/resource-groups", "resource groups").await
    }

    /// `GET /v1/resource-groups/{rg}`; `None` when unknown.
    pub async fn resource_group(&self, rg: &str) -> Result<Option<ResourceGroup>> {
        self.get_opt(
            &format!("/v1/resource-groups/{}", seg(rg)),
            &format!("resource group '{rg}'"),
        )
        .await
    }

    /// `POST /v1/resource-groups`.
    pub async fn resource_group_create(&self, rg: &ResourceGroup) -> Result<Replies> {
        self.call(
            Method::POST,
            "/v1/resource-groups",
            Self::body(rg),
            &format!("resource group '{}'", rg.name),
        )
        .await
    }

    /// `PUT /v1/resource-groups/{rg}`.
    pub async fn resource_group_modify(
        &self,
        rg: &str,
        m: &ResourceGroupModify,
    ) -> Result<Replies> {
        self.call(
            Method::PUT,
            &format!("/v1/resource-groups/{}", seg(rg)),
            Self::body(m),
            &format!("resource group '{rg}'"),
        )
        .await
    }

    /// `DELETE /v1/resource-groups/{rg}`.
    pub async fn resource_group_delete(&self, rg: &str) -> Result<Replies> {
        self.call(
            Method::DELETE,
            &format!("/v1/resource-groups/{}", seg(rg)),
            None,
            &format!("resource group '{rg}'"),
        )
        .await
    }

    /// `POST /v1/resource-groups/{rg}/volume-groups`.
    pub async fn volume_group_create(&self, rg: &str, vg: &VolumeGroup) -> Result<Replies> {
        self.call(
            Method::POST,
            &format!("/v1/resource-groups/{}/volume-groups", seg(rg)),
            Self::body(vg),
            &format!("volume group of '{rg}'"),
        )
        .await
    }

    /// `POST /v1/resource-groups/{rg}/spawn`.
    pub async fn spawn(&self, rg: &str, req: &ResourceGroupSpawn) -> Result<Replies> {
        self.call(
            Method::POST,
            &format!("/v1/resource-groups/{}/spawn", seg(rg)),
            Self::body(req),
            &format!(
                "resource definition '{}' (spawned from resource group '{rg}')",
                req.resource_definition_name
            ),
        )
        .await
    }

    /// `POST /v1/resource-groups/{rg}/query-size-info` (always 200; failures in `reports`).
    pub async fn query_size_info(
        &self,
        rg: &str,
        req: &QuerySizeInfoRequest,
    ) -> Result<QuerySizeInfoResponse> {
        let path = format!("/v1/resource-groups/{}/query-size-info", seg(rg));
        let request = format!("POST {path}");
        let resp = self
            .raw(Method::POST, &path, Self::body(req), CallKind::Read)
            .await?;
        if resp.status >= 400 {
            return Err(Self::failure(
                &resp,
                &request,
                &format!("resource group '{rg}'"),
            ));
        }
        Self::decode(&resp, &request)
    }

    // ---- resource definitions ---------------------------------------------------------------

    /// `GET /v1/resource-definitions?with_volume_definitions=true[&props=..]`.
    pub async fn resource_definitions(&self, props: &[&str]) -> Result<Vec<ResourceDefinition>> {
        self.list_resource_definitions(props).await
    }

    async fn list_resource_definitions<T: DeserializeOwned>(&self, props: &[&str]) -> Result<T> {
        let mut q = vec![("with_volume_definitions", "true")];
        q.extend(props.iter().map(|p| ("props", *p)));
        self.get(
            &format!("/v1/resource-definitions{}", query(&q)),
            "resource definitions",
        )
        .await
    }

    /// `GET /v1/resource-definitions?resource_definitions=..&with_volume_definitions=true`.
    pub async fn resource_definitions_named(
        &self,
        names: &[&str],
    ) -> Result<Vec<ResourceDefinition>> {
        let mut q = vec![("with_volume_definitions", "true")];
        q.extend(names.iter().map(|n| ("resource_definitions", *n)));
        self.get(
            &format!("/v1/resource-definitions{}", query(&q)),
            "resource definitions",
        )
        .await
    }

    /// `GET /v1/resource-definitions/{rd}/resources/{node}`; `None` when absent.
    pub async fn resource(&self, rd: &str, node: &str) -> Result<Option<Resource>> {
        self.get_opt(
            &format!(
                "/v1/resource-definitions/{}/resources/{}",
                seg(rd),
                seg(node)
            ),
            &format!("resource '{rd}' on '{node}'"),
        )
        .await
    }

    /// `GET /v1/resource-definitions/{rd}`; `None` when unknown.
    pub async fn resource_definition(&self, rd: &str) -> Result<Option<ResourceDefinition>> {
        self.get_opt(
            &format!("/v1/resource-definitions/{}", seg(rd)),
            &format!("resource definition '{rd}'"),
        )
        .await
    }

    /// `POST /v1/resource-definitions`.
    pub async fn resource_definition_create(
        &self,
        rd: &ResourceDefinitionCreate,
    ) -> Result<Replies> {
        self.call(
            Method::POST,
            "/v1/resource-definitions",
            Self::body(rd),
            &format!("resource definition '{}'", rd.resource_definition.name),
        )
        .await
    }

    /// `PUT /v1/resource-definitions/{rd}`.
    pub async fn resource_definition_modify(
        &self,
        rd: &str,
        m: &ResourceDefinitionModify,
    ) -> Result<Replies> {
        self.call(
            Method::PUT,
            &format!("/v1/resource-definitions/{}", seg(rd)),
            Self::body(m),
            &format!("resource definition '{rd}'"),
        )
        .await
    }

    /// `DELETE /v1/resource-definitions/{rd}`; a missing RD is success (`WARN_NOT_FOUND`).
    pub async fn resource_definition_delete(&self, rd: &str) -> Result<Replies> {
        self.call(
            Method::DELETE,
            &format!("/v1/resource-definitions/{}", seg(rd)),
            None,
            &format!("resource definition '{rd}'"),
        )
        .await
    }

    /// `GET /v1/resource-definitions/{rd}/volume-definitions`.
    pub async fn volume_definitions(&self, rd: &str) -> Result<Vec<VolumeDefinition>> {
        self.get(
            &format!("/v1/resource-definitions/{}/volume-definitions", seg(rd)),
            &format!("volume definitions of '{rd}'"),
        )
        .await
    }

    /// `POST /v1/resource-definitions/{rd}/volume-definitions` (200 on the real server).
    pub async fn volume_definition_create(
        &self,
        rd: &str,
        vd: &VolumeDefinitionCreate,
    ) -> Result<Replies> {
        self.call(
            Method::POST,
            &format!("/v1/resource-definitions/{}/volume-definitions", seg(rd)),
            Self::body(vd),
            &format!("volume definition of '{rd}'"),
        )
        .await
    }

    /// `PUT /v1/resource-definitions/{rd}/volume-definitions/{nr}` (resize with `size_kib`).
    pub async fn volume_definition_modify(
        &self,
        rd: &str,
        nr: u32,
        m: &VolumeDefinitionModify,
    ) -> Result<Replies> {
        self.call(
            Method::PUT,
            &format!(
                "/v1/resource-definitions/{}/volume-definitions/{nr}",
                seg(rd)
            ),
            Self::body(m),
            &format!("volume {nr} of '{rd}'"),
        )
        .await
    }

    /// `GET /v1/resource-definitions/{rd}/resource-connections/{a}/{b}`; `None` when the
    /// connection (or one of its resources) does not exist. LINSTOR answers one object here,
    /// not the list its REST description shows.
    pub async fn resource_connection(
        &self,
        rd: &str,
        a: &str,
        b: &str,
    ) -> Result<Option<ResourceConnection>> {
        self.get_opt(
            &format!(
                "/v1/resource-definitions/{}/resource-connections/{}/{}",
                seg(rd),
                seg(a),
                seg(b)
            ),
            &format!("connection {a}-{b} of '{rd}'"),
        )
        .await
    }

    /// `PUT /v1/resource-definitions/{rd}/resource-connections/{a}/{b}`: props modify.
    pub async fn resource_connection_modify(
        &self,
        rd: &str,
        a: &str,
        b: &str,
        m: &PropsModify,
    ) -> Result<Replies> {
        self.call(
            Method::PUT,
            &format!(
                "/v1/resource-definitions/{}/resource-connections/{}/{}",
                seg(rd),
                seg(a),
                seg(b)
            ),
            Self::body(m),
            &format!("connection {a}-{b} of '{rd}'"),
        )
        .await
    }

    // ---- resources --------------------------------------------------------------------------

    /// `GET /v1/resource-definitions/{rd}/resources`.
    pub async fn resources(&self, rd: &str) -> Result<Vec<Resource>> {
        self.get(
            &format!("/v1/resource-definitions/{}/resources", seg(rd)),
            &format!("resources of '{rd}'"),
        )
        .await
    }

    /// `GET /v1/view/resources` filtered by resources, nodes and resource props.
    pub async fn view_resources(
        &self,
        resources: &[&str],
        nodes: &[&str],
        props: &[&str],
    ) -> Result<Vec<ResourceWithVolumes>> {
        self.list_view_resources(resources, nodes, props).await
    }

    async fn list_view_resources<T: DeserializeOwned>(
        &self,
        resources: &[&str],
        nodes: &[&str],
        props: &[&str],
    ) -> Result<T> {
        let mut q: Vec<(&str, &str)> = resources.iter().map(|r| ("resources", *r)).collect();
        q.extend(nodes.iter().map(|n| ("nodes", *n)));
        q.extend(props.iter().map(|p| ("props", *p)));
        self.get(&format!("/v1/view/resources{}", query(&q)), "resources")
            .await
    }

    /// [`Self::resource_definitions`] decoding only the fields a listing needs.
    pub async fn resource_definitions_brief(
        &self,
        props: &[&str],
    ) -> Result<Vec<ResourceDefinitionBrief>> {
        self.list_resource_definitions(props).await
    }

    /// [`Self::view_resources`] decoding only the fields a listing needs.
    pub async fn view_resources_brief(
        &self,
        resources: &[&str],
        nodes: &[&str],
    ) -> Result<Vec<ResourceBrief>> {
        self.list_view_resources(resources, nodes, &[]).await
    }

    /// `POST /v1/resource-definitions/{rd}/resources/{node}`.
    pub async fn resource_create(
        &self,
        rd: &str,
        node: &str,
        req: &ResourceCreate,
    ) -> Result<Replies> {
        self.call(
            Method::POST,
            &format!(
                "/v1/resource-definitions/{}/resources/{}",
                seg(rd),
                seg(node)
            ),
            Self::body(req),
            &format!("resource '{rd}' on '{node}'"),
        )
        .await
    }

    /// `POST /v1/resource-definitions/{rd}/resources/{node}/make-available`.
    pub async fn make_available(
        &self,
        rd: &str,
        node: &str,
        req: &ResourceMakeAvailable,
    ) -> Result<Replies> {
        self.call(
            Method::POST,
            &format!(
                "/v1/resource-definitions/{}/resources/{}/make-available",
                seg(rd),
                seg(node)
            ),
            Self::body(req),
            &format!("resource '{rd}' on '{node}'"),
        )
        .await
    }

    /// `PUT /v1/resource-definitions/{rd}/resources/{node}`.
    pub async fn resource_modify(
        &self,
        rd: &str,
        node: &str,
        m: &ResourceModify,
    ) -> Result<Replies> {
        self.call(
            Method::PUT,
            &format!(
                "/v1/resource-definitions/{}/resources/{}",
                seg(rd),
                seg(node)
            ),
            Self::body(m),
            &format!("resource '{rd}' on '{node}'"),
        )
        .await
    }

    /// `DELETE /v1/resource-definitions/{rd}/resources/{node}?keep_tiebreaker=true`.
    pub async fn resource_delete(&self, rd: &str, node: &str) -> Result<Replies> {
        self.call(
            Method::DELETE,
            &format!(
                "/v1/resource-definitions/{}/resources/{}?keep_tiebreaker=true",
                seg(rd),
                seg(node)
            ),
            None,
            &format!("resource '{rd}' on '{node}'"),
        )
        .await
    }

    /// `POST /v1/resource-definitions/{rd}/autoplace`.
    pub async fn autoplace(&self, rd: &str, filter: &AutoSelectFilter) -> Result<Replies> {
        self.call(
            Method::POST,
            &format!("/v1/resource-definitions/{}/autoplace", seg(rd)),
            Some(serde_json::json!({ "select_filter": filter })),
            &format!("placement of '{rd}'"),
        )
        .await
    }

    // ---- snapshots --------------------------------------------------------------------------

    /// `GET /v1/resource-definitions/{rd}/snapshots`.
    pub async fn snapshots(&self, rd: &str) -> Result<Vec<Snapshot>> {
        self.get(
            &format!("/v1/resource-definitions/{}/snapshots", seg(rd)),
            &format!("snapshots of '{rd}'"),
        )
        .await
    }

    /// `GET /v1/view/snapshots` for some resources (all when empty).
    pub async fn view_snapshots(&self, resources: &[&str]) -> Result<Vec<Snapshot>> {
        let q: Vec<(&str, &str)> = resources.iter().map(|r| ("resources", *r)).collect();
        self.get(&format!("/v1/view/snapshots{}", query(&q)), "snapshots")
            .await
    }

    /// `POST /v1/resource-definitions/{rd}/snapshots`.
    pub async fn snapshot_create(&self, rd: &str, req: &SnapshotCreate) -> Result<Replies> {
        self.call(
            Method::POST,
            &format!("/v1/resource-definitions/{}/snapshots", seg(rd)),
            Self::body(req),
            &format!("snapshot '{}' of '{rd}'", req.name),
        )
        .await
    }

    /// `DELETE /v1/resource-definitions/{rd}/snapshots/{snap}`; missing is success.
    pub async fn snapshot_delete(&self, rd: &str, snap: &str) -> Result<Replies> {
        self.call(
            Method::DELETE,
            &format!(
                "/v1/resource-definitions/{}/snapshots/{}",
                seg(rd),
                seg(snap)
            ),
            None,
            &format!("snapshot '{snap}' of '{rd}'"),
        )
        .await
    }

    /// `POST /v1/resource-definitions/{rd}/snapshot-rollback/{snap}`.
    pub async fn snapshot_rollback(&self, rd: &str, snap: &str) -> Result<Replies> {
        self.call(
            Method::POST,
            &format!(
                "/v1/resource-definitions/{}/snapshot-rollback/{}",
                seg(rd),
                seg(snap)
            ),
            None,
            &format!("snapshot '{snap}' of '{rd}'"),
        )
        .await
    }

    /// `POST .../snapshot-restore-volume-definition/{snap}`.
    pub async fn snapshot_restore_volume_definition(
        &self,
        rd: &str,
        snap: &str,
        req: &SnapshotRestore,
    ) -> Result<Replies> {
        self.call(
            Method::POST,
            &format!(
                "/v1/resource-definitions/{}/snapshot-restore-volume-definition/{}",
                seg(rd),
                seg(snap)
            ),
            Self::body(req),
            &format!("snapshot '{snap}' of '{rd}'"),
        )
        .await
    }

    /// `POST .../snapshot-restore-resource/{snap}`.
    pub async fn snapshot_restore_resource(
        &self,
        rd: &str,
        snap: &str,
        req: &SnapshotRestore,
    ) -> Result<Replies> {
        self.call(
            Method::POST,
            &format!(
                "/v1/resource-definitions/{}/snapshot-restore-resource/{}",
                seg(rd),
                seg(snap)
            ),
            Self::body(req),
            &format!("snapshot '{snap}' of '{rd}'"),
        )
        .await
    }

    // ---- clone ------------------------------------------------------------------------------

    /// `POST /v1/resource-definitions/{src}/clone` (201, or 500 with the same body shape).
    pub async fn clone_start(
        &self,
        src: &str,
        req: &ResourceDefinitionCloneRequest,
    ) -> Result<ResourceDefinitionCloneStarted> {
        let path = format!("/v1/resource-definitions/{}/clone", seg(src));
        let request = format!("POST {path}");
        let resp = self
            .raw(Method::POST, &path, Self::body(req), CallKind::Mutate)
            .await?;
        let what = format!("clone '{}' of '{src}'", req.name);
        match serde_json::from_slice::<ResourceDefinitionCloneStarted>(&resp.body) {
            Ok(started)
                if !started.messages.iter().any(ApiCallRc::is_error) && resp.status < 400 =>
            {
                Ok(started)
            }
            Ok(started) => {
                let body = serde_json::to_vec(&started.messages).unwrap_or_default();
                let as_list = RawResponse {
                    body: body.into(),
                    ..resp.clone()
                };
                Err(Self::failure(&as_list, &request, &what))
            }
            Err(_) if resp.status >= 400 => Err(Self::failure(&resp, &request, &what)),
            Err(e) => Err(Self::protocol(
                &resp,
                &request,
                "not the documented JSON",
                Some(e.into()),
            )),
        }
    }

    /// `GET /v1/resource-definitions/{src}/clone/{clone}`; `None` when the clone is unknown.
    pub async fn clone_status(
        &self,
        src: &str,
        clone: &str,
    ) -> Result<Option<ResourceDefinitionCloneStatus>> {
        self.get_opt(
            &format!("/v1/resource-definitions/{}/clone/{}", seg(src), seg(clone)),
            &format!("clone '{clone}'"),
        )
        .await
    }

    /// `GET /v1/resource-definitions/{rd}/sync-status`.
    pub async fn sync_status(&self, rd: &str) -> Result<ResourceDefinitionSyncStatus> {
        self.get(
            &format!("/v1/resource-definitions/{}/sync-status", seg(rd)),
            &format!("sync status of '{rd}'"),
        )
        .await
    }
}
