//! Persistent controller state of the simulator and the request bodies it accepts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub type Props = BTreeMap<String, String>;

/// Everything the simulated controller knows; serialised for `--state`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub nodes: BTreeMap<String, NodeSt>,
    pub rgs: BTreeMap<String, RgSt>,
    pub rds: BTreeMap<String, RdSt>,
    pub ctrl_props: Props,
}

/// `Resource.Flags.DISK_ADD_REQUESTED`: a disk asked for while the node was offline.
pub const DISK_ADD_REQUESTED: &str = "DISK_ADD_REQUESTED";
/// `Resource.Flags.DISK_REMOVE_REQUESTED`: a disk removal waiting for its node.
pub const DISK_REMOVE_REQUESTED: &str = "DISK_REMOVE_REQUESTED";
/// `ApiConsts.KEY_RSC_MIGRATE_FROM`: the resource to delete once this one's disk is `UpToDate`.
pub const KEY_RSC_MIGRATE_FROM: &str = "MigrateFrom";
/// `ApiConsts.KEY_RSC_DISKFUL_BY`: who gave a resource its disk (`Resource.DiskfulBy`).
pub const KEY_RSC_DISKFUL_BY: &str = "DiskfulBy";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeSt {
    pub name: String,
    pub uuid: String,
    pub online: bool,
    pub props: Props,
    pub address: String,
    pub pool_uuid: String,
    pub diskless_pool_uuid: String,
    /// Network interfaces by upper-case name; `default` carries the satellite connection.
    pub net_ifs: BTreeMap<String, NetIfSt>,
}

/// A node's network interface.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetIfSt {
    pub name: String,
    pub address: String,
    pub satellite_port: Option<u32>,
    pub satellite_encryption_type: Option<String>,
    pub uuid: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RgSt {
    pub name: String,
    pub uuid: String,
    pub description: String,
    pub props: Props,
    pub select_filter: SelectFilter,
    pub vgs: BTreeMap<u32, VgSt>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VgSt {
    pub nr: u32,
    pub uuid: String,
    pub props: Props,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RdSt {
    pub name: String,
    pub uuid: String,
    pub external_name: String,
    pub rg: String,
    pub props: Props,
    pub flags: Vec<String>,
    pub secret: String,
    pub vds: BTreeMap<u32, VdSt>,
    pub rscs: BTreeMap<String, RscSt>,
    pub snaps: BTreeMap<String, SnapSt>,
    pub conns: BTreeMap<String, Props>,
    pub clone_done_ms: Option<i64>,
    /// Preferred TCP port (`drbd_port`); used on each node where it is free.
    pub port: Option<u32>,
    /// `drbd_peer_slots` of the definition.
    pub peer_slots: Option<u32>,
    /// Some resource has been Primary: there is data, so a new replica must sync (on thin
    /// pools replicas added before that share the day-0 generation and skip the sync).
    pub written: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VdSt {
    pub nr: u32,
    pub uuid: String,
    pub size_kib: u64,
    pub minor: u32,
    pub props: Props,
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RscSt {
    pub node: String,
    pub uuid: String,
    pub flags: Vec<String>,
    pub props: Props,
    pub node_id: u32,
    pub port: u32,
    pub create_ts: i64,
    pub pool: String,
    pub forced_in_use: bool,
    pub loops: BTreeMap<u32, String>,
    /// Peer slots fixed at creation (`PeerSlotsNewResource`, else the definition's).
    pub peer_slots: Option<u32>,
    /// When the satellite finished deploying it (ms since the epoch); before that the disk
    /// is `Inconsistent`.
    pub deployed_ms: i64,
    /// When its disk became `UpToDate` (a resync from a peer ends here).
    pub synced_ms: i64,
    /// A DRBD client (`drbd_client`, make-available since 1.34): diskless without a quorum vote.
    pub drbd_client: bool,
}

impl RscSt {
    /// Marked for deletion and waiting for its node (or a peer) to come back.
    pub fn is_deleting(&self) -> bool {
        self.flags
            .iter()
            .any(|f| f == "DELETE" || f == "DRBD_DELETE")
    }

    pub fn is_diskless(&self) -> bool {
        self.flags
            .iter()
            .any(|f| f == "DISKLESS" || f == "DRBD_DISKLESS")
    }

    pub fn is_tiebreaker(&self) -> bool {
        self.flags.iter().any(|f| f == "TIE_BREAKER")
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SnapSt {
    pub name: String,
    pub uuid: String,
    pub nodes: Vec<String>,
    pub vols: BTreeMap<u32, u64>,
    pub props: Props,
    pub rd_props: Props,
    pub create_ts: i64,
    /// Creation order (several snapshots can share a millisecond).
    pub seq: u64,
}

/// `AutoSelectFilter` as accepted and stored; absent fields stay `None`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SelectFilter {
    pub place_count: Option<i64>,
    pub additional_place_count: Option<i64>,
    pub node_name_list: Option<Vec<String>>,
    pub storage_pool: Option<String>,
    pub storage_pool_list: Option<Vec<String>>,
    pub storage_pool_diskless_list: Option<Vec<String>>,
    pub not_place_with_rsc: Option<Vec<String>>,
    pub not_place_with_rsc_regex: Option<String>,
    pub replicas_on_same: Option<Vec<String>>,
    pub replicas_on_different: Option<Vec<String>>,
    pub x_replicas_on_different_map: Option<BTreeMap<String, i64>>,
    pub layer_stack: Option<Vec<String>>,
    pub provider_list: Option<Vec<String>>,
    pub diskless_on_remaining: Option<bool>,
    pub diskless_type: Option<String>,
    pub overprovision: Option<f64>,
    pub port_count: Option<i64>,
}

impl SelectFilter {
    /// Field-wise merge: values of `self` win, `other` fills the gaps.
    pub fn or(&self, other: &SelectFilter) -> SelectFilter {
        macro_rules! pick {
            ($($f:ident),*) => { SelectFilter { $($f: self.$f.clone().or_else(|| other.$f.clone()),)* } };
        }
        pick!(
            place_count,
            additional_place_count,
            node_name_list,
            storage_pool,
            storage_pool_list,
            storage_pool_diskless_list,
            not_place_with_rsc,
            not_place_with_rsc_regex,
            replicas_on_same,
            replicas_on_different,
            x_replicas_on_different_map,
            layer_stack,
            provider_list,
            diskless_on_remaining,
            diskless_type,
            overprovision,
            port_count
        )
    }

    /// Storage pools named by the filter (`storage_pool` folded into the list).
    pub fn pools(&self) -> Option<Vec<String>> {
        match (&self.storage_pool_list, &self.storage_pool) {
            (Some(l), _) if !l.is_empty() => Some(l.clone()),
            (_, Some(p)) if !p.is_empty() => Some(vec![p.clone()]),
            _ => None,
        }
    }
}

/// `NetInterface` as accepted by create and modify.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetIfReq {
    pub name: Option<String>,
    pub address: Option<String>,
    pub satellite_port: Option<i64>,
    pub satellite_encryption_type: Option<String>,
    pub is_active: Option<bool>,
    pub uuid: Option<String>,
}

/// `ErrorReportDelete`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErrorReportDelete {
    pub since: Option<i64>,
    pub to: Option<i64>,
    pub nodes: Vec<String>,
    pub exception: Option<String>,
    pub version: Option<String>,
    pub ids: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PropsModify {
    pub override_props: Props,
    pub delete_props: Vec<String>,
    pub delete_namespaces: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RgCreate {
    pub name: String,
    pub description: Option<String>,
    pub props: Props,
    pub select_filter: Option<SelectFilter>,
    pub peer_slots: Option<i64>,
    pub uuid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RgModify {
    pub description: Option<String>,
    pub override_props: Props,
    pub delete_props: Vec<String>,
    pub delete_namespaces: Vec<String>,
    pub select_filter: Option<SelectFilter>,
    pub peer_slots: Option<i64>,
    pub snap_names: Vec<String>,
    pub copy_all_snaps: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Spawn {
    pub resource_definition_name: String,
    pub resource_definition_external_name: Option<String>,
    pub volume_sizes: Vec<i64>,
    pub select_filter: Option<SelectFilter>,
    pub partial: bool,
    pub definitions_only: bool,
    pub peer_slots: Option<i64>,
    pub volume_passphrases: Vec<String>,
    pub resource_definition_props: Props,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SizeQuery {
    pub select_filter: Option<SelectFilter>,
    pub ignore_cache_older_than_sec: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VgCreate {
    pub volume_number: Option<i64>,
    pub props: Props,
    pub flags: Vec<String>,
    pub uuid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RdCreateInner {
    pub name: String,
    pub external_name: Option<String>,
    pub props: Props,
    pub flags: Vec<String>,
    pub layer_data: Vec<serde_json::Value>,
    pub uuid: Option<String>,
    pub resource_group_name: Option<String>,
    pub volume_definitions: Vec<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RdCreate {
    pub resource_definition: RdCreateInner,
    pub drbd_port: Option<i64>,
    pub drbd_secret: Option<String>,
    pub drbd_peer_slots: Option<i64>,
    pub drbd_transport_type: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RdModify {
    pub override_props: Props,
    pub delete_props: Vec<String>,
    pub delete_namespaces: Vec<String>,
    pub drbd_port: Option<i64>,
    pub drbd_peer_slots: Option<i64>,
    pub layer_stack: Vec<String>,
    pub resource_group: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VdInner {
    pub volume_number: Option<i64>,
    pub size_kib: Option<i64>,
    pub props: Props,
    pub flags: Vec<String>,
    pub layer_data: Vec<serde_json::Value>,
    pub uuid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VdCreate {
    pub volume_definition: VdInner,
    pub drbd_minor_number: Option<i64>,
    pub passphrase: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VdModify {
    pub size_kib: Option<i64>,
    pub override_props: Props,
    pub delete_props: Vec<String>,
    pub delete_namespaces: Vec<String>,
    pub flags: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RscInner {
    pub name: Option<String>,
    pub node_name: Option<String>,
    pub props: Props,
    pub flags: Vec<String>,
    pub layer_object: Option<serde_json::Value>,
    pub state: Option<serde_json::Value>,
    pub uuid: Option<String>,
    pub create_timestamp: Option<i64>,
    pub effective_props: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RscCreate {
    pub resource: RscInner,
    pub layer_list: Vec<String>,
    pub drbd_node_id: Option<i64>,
    pub drbd_tcp_port_count: Option<i64>,
    pub drbd_tcp_ports: Vec<i64>,
    pub snap_names: Vec<String>,
    pub copy_all_snaps: bool,
    pub drbd_client: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RscModify {
    pub override_props: Props,
    pub delete_props: Vec<String>,
    pub delete_namespaces: Vec<String>,
    pub drbd_tiebreaker: Option<bool>,
    pub drbd_client: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MakeAvailable {
    pub diskful: bool,
    pub layer_list: Vec<String>,
    pub drbd_tcp_ports: Vec<i64>,
    pub snap_names: Vec<String>,
    pub copy_all_snaps: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Autoplace {
    pub diskless_on_remaining: Option<bool>,
    pub layer_list: Option<Vec<String>>,
    pub select_filter: Option<SelectFilter>,
    pub snap_names: Vec<String>,
    pub copy_all_snaps: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnapCreate {
    pub name: String,
    pub resource_name: Option<String>,
    pub nodes: Vec<String>,
    pub props: Props,
    pub snapshot_definition_props: Props,
    pub resource_definition_props: Props,
    pub flags: Vec<String>,
    pub volume_definitions: Vec<serde_json::Value>,
    pub uuid: Option<String>,
    pub snapshots: Vec<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rollback {
    pub zfs_rollback_strategy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Restore {
    pub to_resource: String,
    pub nodes: Vec<String>,
    pub stor_pool_rename: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloneReq {
    pub name: Option<String>,
    pub external_name: Option<String>,
    pub use_zfs_clone: Option<bool>,
    pub resource_group: Option<String>,
    pub override_props: Props,
    pub delete_props: Vec<String>,
    pub delete_namespaces: Vec<String>,
    pub layer_list: Vec<String>,
    pub volume_passphrases: Vec<String>,
}
