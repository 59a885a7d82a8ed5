//! Serde wire types of the LINSTOR REST API (no IO), named as in `rest_v1_openapi.yaml`.
//!
//! Response types accept missing fields (the server omits empty values) and ignore unknown ones;
//! request types serialize only the fields that are set, because the controller rejects fields it
//! does not know.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Property map (`Properties` in the spec).
pub type Props = BTreeMap<String, String>;

/// ApiCallRc type mask: both bits set means error.
pub const MASK_ERROR: u64 = 0xC000_0000_0000_0000;
/// ApiCallRc type mask: warning.
pub const MASK_WARN: u64 = 0x8000_0000_0000_0000;
/// ApiCallRc type mask: info.
pub const MASK_INFO: u64 = 0x4000_0000_0000_0000;
/// Bits carrying the code proper.
pub const MASK_BITS_CODE: u64 = 0x7FFF;

/// Codes this suite acts upon (`ret_code & MASK_BITS_CODE`).
pub mod codes {
    /// `WARN_NOT_CONNECTED`: the satellite of a node is offline; the controller stored the
    /// change and applies it when the satellite reconnects.
    pub const WARN_NOT_CONNECTED: u64 = 1002;
    /// `WARN_NOT_FOUND`: deleting something that is already gone.
    pub const WARN_NOT_FOUND: u64 = 3000;
    /// `WARN_VLMDFN_RESIZE_SAME_SIZE`.
    pub const WARN_VLMDFN_RESIZE_SAME_SIZE: u64 = 1023;
    /// `INFO_RSC_ALREADY_EXISTS`.
    pub const INFO_RSC_ALREADY_EXISTS: u64 = 10008;
    /// `FAIL_INVLD_VLM_SIZE`.
    pub const FAIL_INVLD_VLM_SIZE: u64 = 206;
    /// `FAIL_IN_USE`.
    pub const FAIL_IN_USE: u64 = 997;
    /// `FAIL_RSC_BUSY`.
    pub const FAIL_RSC_BUSY: u64 = 992;
    /// `FAIL_EXISTS_SNAPSHOT_DFN`.
    pub const FAIL_EXISTS_SNAPSHOT_DFN: u64 = 514;
}

/// One entry of the answer list of every mutating call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiCallRc {
    /// Composite code: type bits, operation, object and code.
    pub ret_code: i64,
    /// Human-readable message.
    pub message: String,
    /// Why it happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// More detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// What the user can do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correction: Option<String>,
    /// Error report ids on the controller or satellite.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_report_ids: Vec<String>,
    /// Objects the entry refers to (`RscDfn`, `Node`, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub obj_refs: BTreeMap<String, String>,
    /// ISO-8601 timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl ApiCallRc {
    fn bits(&self) -> u64 {
        self.ret_code as u64
    }
    /// Both type bits set.
    pub fn is_error(&self) -> bool {
        self.bits() & MASK_ERROR == MASK_ERROR
    }
    /// Warning (and not error).
    pub fn is_warning(&self) -> bool {
        self.bits() & MASK_ERROR == MASK_WARN
    }
    /// Info (and not error).
    pub fn is_info(&self) -> bool {
        self.bits() & MASK_ERROR == MASK_INFO
    }
    /// The code field, without type, operation and object bits.
    pub fn code(&self) -> u64 {
        self.bits() & MASK_BITS_CODE
    }
    /// True when this is an error entry with the given code (golinstor's `Is`).
    pub fn is_error_code(&self, code: u64) -> bool {
        self.is_error() && self.code() == code
    }
    /// True when this is a warning entry with the given code.
    pub fn is_warning_code(&self, code: u64) -> bool {
        self.is_warning() && self.code() == code
    }
    /// Not found range 300-399.
    pub fn is_not_found(&self) -> bool {
        self.is_error() && (300..400).contains(&self.code())
    }
    /// Already-exists range 500-599.
    pub fn is_exists(&self) -> bool {
        self.is_error() && (500..600).contains(&self.code())
    }
}

/// `GET /v1/controller/version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ControllerVersion {
    /// Controller version, e.g. `1.34.0`.
    pub version: String,
    /// Git hash.
    pub git_hash: String,
    /// Build time.
    pub build_time: String,
    /// REST API version, e.g. `1.28.0`.
    pub rest_api_version: String,
}

impl ControllerVersion {
    /// `major.minor.patch` of [`ControllerVersion::version`] (`1.34.0-rc.1` counts as 1.34.0).
    pub fn triple(&self) -> Option<(u32, u32, u32)> {
        let core = self.version.split(['-', '+']).next()?;
        let mut it = core.split('.').map(|p| p.trim().parse::<u32>().ok());
        Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
    }

    /// True when the controller is at least `major.minor.patch`; false when its version
    /// cannot be read.
    pub fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.triple().is_some_and(|v| v >= (major, minor, patch))
    }

    /// Rollback to any snapshot, not only the newest: LINSTOR 1.31.2 and later.
    pub fn rolls_back_to_any_snapshot(&self) -> bool {
        self.at_least(1, 31, 2)
    }
}

/// A network interface of a node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetInterface {
    /// Interface name.
    pub name: String,
    /// IP address.
    pub address: String,
    /// Satellite port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satellite_port: Option<i32>,
    /// Encryption type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satellite_encryption_type: Option<String>,
    /// Active satellite connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
}

/// `Node`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Node {
    /// Node name.
    pub name: String,
    /// `SATELLITE`, `COMBINED`, ... (upper case on the real server).
    #[serde(rename = "type")]
    pub node_type: String,
    /// Flags.
    pub flags: Vec<String>,
    /// Properties.
    pub props: Props,
    /// Network interfaces.
    pub net_interfaces: Vec<NetInterface>,
    /// `ONLINE` when usable.
    pub connection_status: Option<String>,
}

impl Node {
    /// True when the satellite is connected.
    pub fn is_online(&self) -> bool {
        self.connection_status.as_deref() == Some("ONLINE")
    }
}

/// `StoragePool`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StoragePool {
    /// Pool name.
    pub storage_pool_name: String,
    /// Node name.
    pub node_name: String,
    /// `LVM_THIN`, `DISKLESS`, ... (unknown values kept as strings).
    pub provider_kind: String,
    /// Properties.
    pub props: Props,
    /// Static traits (`Provisioning`, `SupportsSnapshots`, ...).
    pub static_traits: Props,
    /// Free KiB, absent while unknown.
    pub free_capacity: Option<i64>,
    /// Total KiB, absent while unknown.
    pub total_capacity: Option<i64>,
    /// Snapshot support.
    pub supports_snapshots: Option<bool>,
}

impl StoragePool {
    /// True for `DISKLESS` pools (whose capacities are `Long.MAX_VALUE`).
    pub fn is_diskless(&self) -> bool {
        self.provider_kind == "DISKLESS"
    }
}

/// `AutoSelectFilter`: where autoplace may put replicas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoSelectFilter {
    /// Total number of diskful replicas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place_count: Option<i32>,
    /// Replicas on top of existing ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_place_count: Option<i32>,
    /// Only these nodes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub node_name_list: Vec<String>,
    /// Single storage pool (becomes `storage_pool_list`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_pool: Option<String>,
    /// Storage pools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub storage_pool_list: Vec<String>,
    /// Diskless storage pools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub storage_pool_diskless_list: Vec<String>,
    /// Avoid nodes holding these resources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_place_with_rsc: Vec<String>,
    /// Avoid nodes holding resources matching this regex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_place_with_rsc_regex: Option<String>,
    /// Node property keys that must be equal among replicas.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas_on_same: Vec<String>,
    /// Node property keys that must differ among replicas.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub replicas_on_different: Vec<String>,
    /// Layer stack.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layer_stack: Vec<String>,
    /// Provider kinds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub provider_list: Vec<String>,
    /// Diskless resources on all remaining nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diskless_on_remaining: Option<bool>,
    /// `DRBD_DISKLESS` or `NVME_INITIATOR`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diskless_type: Option<String>,
}

/// `ResourceGroup`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceGroup {
    /// Group name.
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Properties (ignored by the server on create).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
    /// Placement filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_filter: Option<AutoSelectFilter>,
}

/// `ResourceGroupModify`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceGroupModify {
    /// Props to set.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub override_props: Props,
    /// Props to delete.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delete_props: Vec<String>,
    /// Filter fields to overwrite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_filter: Option<AutoSelectFilter>,
}

/// `VolumeGroup`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeGroup {
    /// Volume number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_number: Option<i32>,
    /// Properties.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
}

/// `ResourceGroupSpawn`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceGroupSpawn {
    /// Name of the new resource definition.
    pub resource_definition_name: String,
    /// Sizes in KiB, one per volume.
    pub volume_sizes: Vec<u64>,
    /// Request-level filter, merged over the group's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_filter: Option<AutoSelectFilter>,
    /// Allow size count to differ from the volume group count.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Create definitions only, no autoplace.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub definitions_only: bool,
    /// Props of the new RD (API >= 1.22.0).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub resource_definition_props: Props,
}

/// Layer data of a resource definition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceDefinitionLayer {
    /// `DRBD`, `STORAGE`, ...
    #[serde(rename = "type")]
    pub layer_type: String,
    /// Layer-specific data.
    pub data: Option<serde_json::Value>,
}

/// `VolumeDefinition`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeDefinition {
    /// Volume number.
    pub volume_number: Option<i32>,
    /// Size in KiB.
    pub size_kib: u64,
    /// Properties.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
    /// Flags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Layer data (`DRBD`: `{resource_name_suffix, volume_number, minor_number}`); read only.
    #[serde(skip_serializing)]
    pub layer_data: Vec<ResourceDefinitionLayer>,
}

impl VolumeDefinition {
    /// The DRBD minor number from the layer data.
    pub fn drbd_minor(&self) -> Option<i64> {
        self.layer_data
            .iter()
            .find(|l| l.layer_type == "DRBD")
            .and_then(|l| l.data.as_ref()?.get("minor_number")?.as_i64())
    }
}

/// `VolumeDefinitionCreate`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VolumeDefinitionCreate {
    /// The definition.
    pub volume_definition: VolumeDefinition,
    /// DRBD minor number to use instead of an allocated one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drbd_minor_number: Option<i32>,
}

/// `VolumeDefinitionModify` (resize).
#[derive(Debug, Clone, Default, Serialize)]
pub struct VolumeDefinitionModify {
    /// New size in KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_kib: Option<u64>,
    /// Props to set.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub override_props: Props,
}

/// `ResourceDefinition`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceDefinition {
    /// Name.
    pub name: String,
    /// External name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
    /// Properties.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
    /// Flags (`DELETE`, `CLONING`, `FAILED`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Layer data.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layer_data: Vec<ResourceDefinitionLayer>,
    /// Resource group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group_name: Option<String>,
    /// Volume definitions (with `with_volume_definitions=true`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volume_definitions: Vec<VolumeDefinition>,
}

/// `ResourceDefinitionCreate`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceDefinitionCreate {
    /// The definition (name, group, props).
    pub resource_definition: ResourceDefinition,
    /// Preferred DRBD TCP port (used on each node where it is free).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drbd_port: Option<i32>,
    /// DRBD peer slots of the definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drbd_peer_slots: Option<i32>,
}

/// `ResourceDefinitionModify`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceDefinitionModify {
    /// Props to set.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub override_props: Props,
    /// Props to delete.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delete_props: Vec<String>,
    /// Move to another resource group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
}

/// `ResourceState`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceState {
    /// Primary on this node; absent means unknown.
    pub in_use: Option<bool>,
}

/// `Resource` (also the `resource` of `ResourceCreate`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Resource {
    /// Resource name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Node name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// Properties.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub props: Props,
    /// Flags (`DISKLESS`, `DRBD_DISKLESS`, `TIE_BREAKER`, `DELETE`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// Satellite-reported state; absent until reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ResourceState>,
    /// Layer tree (kept raw).
    #[serde(skip_serializing)]
    pub layer_object: Option<serde_json::Value>,
    /// Creation time in ms since the epoch.
    #[serde(skip_serializing)]
    pub create_timestamp: Option<i64>,
}

impl Resource {
    /// Has the flag.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
    /// Diskless (DRBD client or tie-breaker).
    pub fn is_diskless(&self) -> bool {
        self.has_flag("DISKLESS") || self.has_flag("DRBD_DISKLESS")
    }
    /// Linstor-managed tie-breaker.
    pub fn is_tiebreaker(&self) -> bool {
        self.has_flag("TIE_BREAKER")
    }
    /// Marked for deletion.
    pub fn is_deleting(&self) -> bool {
        self.has_flag("DELETE") || self.has_flag("DRBD_DELETE")
    }
    /// `Some(true)` when Primary on its node, `None` when unknown.
    pub fn in_use(&self) -> Option<bool> {
        self.state.as_ref().and_then(|s| s.in_use)
    }
}

/// `ResourceCreate`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceCreate {
    /// The resource (flags, props).
    pub resource: Resource,
    /// Layer list.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layer_list: Vec<String>,
    /// DRBD node id to use instead of an allocated one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drbd_node_id: Option<i32>,
    /// DRBD TCP ports to use instead of allocated ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drbd_tcp_ports: Vec<i32>,
}

/// `ResourceMakeAvailable`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceMakeAvailable {
    /// Want a disk on that node.
    pub diskful: bool,
    /// Layer list.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layer_list: Vec<String>,
}

/// `ResourceModify` (only the props fields are used).
pub type ResourceModify = PropsModify;

/// Per-peer replication state of a volume.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplicationState {
    /// `Established`, `SyncTarget`, ...
    pub replication_state: Option<String>,
    /// Sync progress.
    pub done_percentage: Option<f64>,
}

/// `VolumeState`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeState {
    /// `UpToDate`, `Diskless`, ...
    pub disk_state: Option<String>,
    /// Per peer.
    pub replication_states: BTreeMap<String, ReplicationState>,
}

/// `Volume` of `/v1/view/resources`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Volume {
    /// Volume number.
    pub volume_number: Option<i32>,
    /// Storage pool.
    pub storage_pool_name: Option<String>,
    /// Provider kind.
    pub provider_kind: Option<String>,
    /// `/dev/drbd<minor>`.
    pub device_path: Option<String>,
    /// Allocated KiB.
    pub allocated_size_kib: Option<i64>,
    /// Properties (incl. `Satellite/Device/Symlinks/<i>`).
    pub props: Props,
    /// Flags.
    pub flags: Vec<String>,
    /// DRBD state.
    pub state: Option<VolumeState>,
}

/// `ResourceWithVolumes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceWithVolumes {
    /// The resource.
    #[serde(flatten)]
    pub resource: Resource,
    /// Its volumes.
    pub volumes: Vec<Volume>,
}

/// The fields of a `ResourceDefinition` a listing needs; the layer data is skipped unparsed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResourceDefinitionBrief {
    /// Name.
    pub name: String,
    /// Properties.
    pub props: Props,
    /// Flags.
    pub flags: Vec<String>,
    /// Resource group.
    pub resource_group_name: Option<String>,
    /// Volume definitions: number and size only.
    pub volume_definitions: Vec<VolumeDefinitionBrief>,
}

/// The fields of a `VolumeDefinition` a listing needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VolumeDefinitionBrief {
    /// Volume number.
    pub volume_number: Option<i32>,
    /// Size in KiB.
    pub size_kib: u64,
}

impl From<ResourceDefinitionBrief> for ResourceDefinition {
    fn from(d: ResourceDefinitionBrief) -> Self {
        Self {
            name: d.name,
            props: d.props,
            flags: d.flags,
            resource_group_name: d.resource_group_name,
            volume_definitions: d
                .volume_definitions
                .into_iter()
                .map(|v| VolumeDefinition {
                    volume_number: v.volume_number,
                    size_kib: v.size_kib,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// The fields of a `ResourceWithVolumes` a listing needs, decoded without `flatten` (which
/// buffers every field) and without the layer tree, props and per-peer states.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResourceBrief {
    /// Resource name.
    pub name: String,
    /// Node name.
    pub node_name: String,
    /// Flags.
    pub flags: Vec<String>,
    /// Satellite-reported state.
    pub state: Option<ResourceState>,
    /// Creation time in ms since the epoch.
    pub create_timestamp: Option<i64>,
    /// Its volumes: number and disk state only.
    pub volumes: Vec<VolumeBrief>,
}

/// The fields of a `Volume` a listing needs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct VolumeBrief {
    /// Volume number.
    pub volume_number: Option<i32>,
    /// DRBD state.
    pub state: Option<DiskStateBrief>,
}

/// The disk state of a `VolumeState`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DiskStateBrief {
    /// `UpToDate`, `Diskless`, ...
    pub disk_state: Option<String>,
}

/// `SnapshotNode`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotNode {
    /// Snapshot name.
    pub snapshot_name: String,
    /// Node.
    pub node_name: String,
    /// Creation time, ms since the epoch.
    pub create_timestamp: Option<i64>,
    /// Flags.
    pub flags: Vec<String>,
}

/// `SnapshotVolumeDefinition`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapshotVolumeDefinition {
    /// Volume number.
    pub volume_number: Option<i32>,
    /// Size in KiB.
    pub size_kib: u64,
}

/// `Snapshot`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Snapshot {
    /// Snapshot name.
    pub name: String,
    /// Resource name.
    pub resource_name: String,
    /// Nodes holding it.
    pub nodes: Vec<String>,
    /// Snapshot definition props.
    pub props: Props,
    /// Flags (`SUCCESSFUL`, `FAILED_DEPLOYMENT`, ...).
    pub flags: Vec<String>,
    /// Volume definitions with sizes.
    pub volume_definitions: Vec<SnapshotVolumeDefinition>,
    /// Per-node snapshots.
    pub snapshots: Vec<SnapshotNode>,
}

impl Snapshot {
    /// Newest per-node creation time, ms since the epoch.
    pub fn created_ms(&self) -> Option<i64> {
        self.snapshots
            .iter()
            .filter_map(|s| s.create_timestamp)
            .max()
    }
}

/// Snapshot create request (`Snapshot` with only the fields a client sets).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SnapshotCreate {
    /// Snapshot name.
    pub name: String,
    /// Nodes; empty means every diskful node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// Props of the snapshot definition.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub snapshot_definition_props: Props,
}

/// `SnapshotRestore`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SnapshotRestore {
    /// Target resource definition.
    pub to_resource: String,
    /// Nodes to restore on; empty means every node of the snapshot.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
}

/// `ResourceDefinitionCloneRequest`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceDefinitionCloneRequest {
    /// Name of the clone.
    pub name: String,
    /// Use `zfs clone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_zfs_clone: Option<bool>,
    /// Resource group of the clone (API >= 1.24.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    /// Props to set on the clone (API >= 1.26.0).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub override_props: Props,
    /// Props to remove from the clone (API >= 1.26.0).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delete_props: Vec<String>,
}

/// `ResourceDefinitionCloneStarted` (201, or 500 with the same shape).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceDefinitionCloneStarted {
    /// Status URL path.
    pub location: String,
    /// Source RD.
    pub source_name: String,
    /// Clone RD.
    pub clone_name: String,
    /// Messages.
    pub messages: Vec<ApiCallRc>,
}

/// `ResourceDefinitionCloneStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceDefinitionCloneStatus {
    /// `CLONING`, `COMPLETE` or `FAILED`.
    pub status: String,
}

/// `ResourceDefinitionSyncStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceDefinitionSyncStatus {
    /// All diskful resources UpToDate.
    pub synced_on_all: bool,
}

/// `QuerySizeInfoRequest` (also the all-groups variant).
#[derive(Debug, Clone, Default, Serialize)]
pub struct QuerySizeInfoRequest {
    /// Filter override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_filter: Option<AutoSelectFilter>,
    /// Reuse a cached answer younger than this many seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_cache_older_than_sec: Option<i32>,
}

/// `QuerySizeInfoResponseSpaceInfo`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SpaceInfo {
    /// Largest volume that can be spawned now.
    pub max_vlm_size_in_kib: i64,
    /// Replication-aware free space.
    pub available_size_in_kib: Option<i64>,
    /// Replication-aware capacity.
    pub capacity_in_kib: Option<i64>,
}

/// `QuerySizeInfoResponse`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QuerySizeInfoResponse {
    /// Space, absent on failure.
    pub space_info: Option<SpaceInfo>,
    /// Failures.
    pub reports: Vec<ApiCallRc>,
}

/// `QueryAllSizeInfoResponse`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct QueryAllSizeInfoResponse {
    /// Per resource group.
    pub result: BTreeMap<String, QuerySizeInfoResponse>,
    /// Failures.
    pub reports: Vec<ApiCallRc>,
}

/// Generic props modification body (`ControllerPropsModify`, `ResourceConnectionModify`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PropsModify {
    /// Props to set.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub override_props: Props,
    /// Props to delete.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub delete_props: Vec<String>,
}

/// `ResourceConnection`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourceConnection {
    /// First node.
    pub node_a: String,
    /// Second node.
    pub node_b: String,
    /// Properties.
    pub props: Props,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_ret_codes_by_mask() {
        let warn_not_found = ApiCallRc {
            ret_code: -9223372036801033288,
            ..Default::default()
        };
        assert!(warn_not_found.is_warning());
        assert!(!warn_not_found.is_error());
        assert_eq!(warn_not_found.code(), codes::WARN_NOT_FOUND);

        let not_found_rd = ApiCallRc {
            ret_code: -4611686018427387603,
            ..Default::default()
        };
        assert!(not_found_rd.is_error() && not_found_rd.is_not_found());
        assert_eq!(not_found_rd.code(), 301);

        let rd_created = ApiCallRc {
            ret_code: 20447233,
            ..Default::default()
        };
        assert!(!rd_created.is_error() && !rd_created.is_warning() && !rd_created.is_info());

        let info_exists = ApiCallRc {
            ret_code: 4611686018447583000,
            ..Default::default()
        };
        assert!(info_exists.is_info());
        assert_eq!(info_exists.code(), codes::INFO_RSC_ALREADY_EXISTS);

        let parse_error = ApiCallRc {
            ret_code: -3458764513820540931,
            ..Default::default()
        };
        assert!(parse_error.is_error());
    }

    #[test]
    fn responses_tolerate_missing_and_unknown_fields() {
        let r: ResourceWithVolumes = serde_json::from_str(
            r#"{"name":"r","node_name":"n","flags":["DISKLESS","DRBD_DISKLESS","TIE_BREAKER"],
                "brand_new_field":{"x":1},"volumes":[{"volume_number":0,"device_path":"/dev/drbd1000"}]}"#,
        )
        .unwrap();
        assert!(r.resource.is_diskless() && r.resource.is_tiebreaker());
        assert_eq!(r.resource.in_use(), None);
        assert_eq!(r.volumes[0].device_path.as_deref(), Some("/dev/drbd1000"));
    }

    #[test]
    fn requests_omit_unset_fields() {
        let spawn = ResourceGroupSpawn {
            resource_definition_name: "pm-1234abcd".into(),
            volume_sizes: vec![1024],
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&spawn).unwrap(),
            serde_json::json!({"resource_definition_name":"pm-1234abcd","volume_sizes":[1024]})
        );
        let create = ResourceCreate {
            resource: Resource {
                flags: vec!["DRBD_DISKLESS".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&create).unwrap(),
            serde_json::json!({"resource":{"flags":["DRBD_DISKLESS"]}})
        );
    }
}
