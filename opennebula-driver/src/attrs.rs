//! Datastore template attributes of both peers, with their legacy aliases, read into one
//! [`DsConfig`]. Pure: no IO.
//!
//! | setting | accepted attributes (first wins) |
//! |---|---|
//! | controllers | `LINSTOR_CONTROLLERS`, `LS_CONTROLLERS` |
//! | TLS | `LS_CAFILE`, `LS_CERTFILE`, `LS_KEYFILE` (also `LINSTOR_CAFILE`, ...) |
//! | basic auth | `LS_USERNAME`, `LS_PASSWORD` (also `LINSTOR_USERNAME`, ...); else the environment |
//! | resource group | `LINSTOR_RESOURCE_GROUP`, `RESOURCE_GROUP` |
//! | replicas | `REPLICA_COUNT`, `AUTO_PLACE`, `LINSTOR_AUTO_PLACE` |
//! | checkpoint replicas | `CHECKPOINT_REPLICA_COUNT`, `CHECKPOINT_AUTO_PLACE` |
//! | storage pool | `STORAGE_POOL`, `LINSTOR_STORAGE_POOL` |
//! | clone mode | `CLONE_MODE`, `LINSTOR_CLONE_MODE` (`snapshot` or `copy`) |
//! | controller VM | `LINSTOR_CONTROLLER_VM` (VM id whose disks work without the controller) |
//! | naming | `LINSTOR_NAMING` (`un` or `linbit`); otherwise the peer whose attributes are present |
//! | read bound | `LINSTOR_READ_TIMEOUT`: seconds a read (look-up, list, `monitor`) waits on one controller before the next is asked, 1-300, whole or decimal (default 5) |
//! | change bound | `LINSTOR_CHANGE_TIMEOUT`: seconds a change waits on the controller that took it, 5-600 (default 45) |
//!
//! A bound outside its range is refused (exit 2) with the attribute, the value and the range.

use std::collections::BTreeMap;

use linstor_common::config::{BoundNames, Overlay};
use linstor_common::naming::opennebula::Scheme;
use linstor_common::volume::CapacityArithmetic;

/// The datastore attributes that set the controller bounds.
pub const BOUND_NAMES: BoundNames = BoundNames {
    read: "LINSTOR_READ_TIMEOUT",
    change: "LINSTOR_CHANGE_TIMEOUT",
};

/// How image-to-disk copies are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneMode {
    /// LINSTOR server-side clone (snapshot + restore where the pool has no clone).
    Snapshot,
    /// UN `copy`: also served by LINSTOR's clone, which copies block by block.
    Copy,
}

/// A password read from a template; its `Debug` output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(linstor_common::config::REDACTED)
    }
}

/// Settings of one datastore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsConfig {
    /// Controller list as written (comma/space separated), `None` for discovery defaults.
    pub controllers: Option<String>,
    /// CA file for HTTPS controllers.
    pub ca_file: Option<String>,
    /// Client certificate.
    pub cert_file: Option<String>,
    /// Client key.
    pub key_file: Option<String>,
    /// Basic-auth user name (LINSTOR with LDAP).
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<Password>,
    /// Resource group to spawn from.
    pub resource_group: Option<String>,
    /// Replica count (UN placement without a resource group).
    pub replica_count: Option<u32>,
    /// Replicas for memory checkpoints.
    pub checkpoint_replica_count: Option<u32>,
    /// Storage pools.
    pub storage_pools: Vec<String>,
    /// Fixed nodes (UN `NODE_LIST`, LB `LINSTOR_DEPLOYMENT_NODES`).
    pub node_list: Vec<String>,
    /// Clone mode.
    pub clone_mode: CloneMode,
    /// Names for new objects.
    pub scheme: Scheme,
    /// Put a diskful replica on the VM's host first (UN `PREFER_NODE=yes`).
    pub prefer_node: bool,
    /// Hosts for DS-side copies.
    pub bridge_list: Vec<String>,
    /// VM id that runs the LINSTOR controller (`LINSTOR_CONTROLLER_VM`).
    pub controller_vm: Option<String>,
    /// `LINSTOR_CAPACITY`: how `monitor` computes the datastore's size (`size-info`, the
    /// default; `linbit`: pool sum / place count; `linstor_un`: raw pool sum).
    pub capacity: CapacityArithmetic,
    /// `LINSTOR_READ_TIMEOUT` as written (checked when the client is configured).
    pub read_timeout: Option<String>,
    /// `LINSTOR_CHANGE_TIMEOUT` as written.
    pub change_timeout: Option<String>,
    /// Attributes that were present but could not be read, as `KEY: why` (reported as warnings).
    pub warnings: Vec<String>,
}

fn first<'a>(
    t: &'a BTreeMap<String, String>,
    keys: &[&'static str],
) -> Option<(&'a str, &'static str)> {
    keys.iter().find_map(|k| {
        t.get(*k)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| (v, *k))
    })
}

fn list(v: Option<(&str, &'static str)>) -> Vec<String> {
    v.map(|(v, _)| {
        v.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

impl DsConfig {
    /// Read a datastore template.
    pub fn from_template(t: &BTreeMap<String, String>) -> Self {
        let mut warnings = Vec::new();
        let mut count = |keys: &[&'static str]| -> Option<u32> {
            let (v, key) = first(t, keys)?;
            match v.parse::<u32>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    warnings.push(format!("{key}='{v}' is not a positive integer; ignored"));
                    None
                }
            }
        };
        let replica_count = count(&["REPLICA_COUNT", "AUTO_PLACE", "LINSTOR_AUTO_PLACE"]);
        let checkpoint_replica_count =
            count(&["CHECKPOINT_REPLICA_COUNT", "CHECKPOINT_AUTO_PLACE"]);
        let clone_mode = match first(t, &["CLONE_MODE", "LINSTOR_CLONE_MODE"]) {
            None => CloneMode::Snapshot,
            Some((v, _)) if v.eq_ignore_ascii_case("copy") => CloneMode::Copy,
            Some((v, _)) if v.eq_ignore_ascii_case("snapshot") => CloneMode::Snapshot,
            Some((v, key)) => {
                warnings.push(format!(
                    "{key}='{v}' is neither 'snapshot' nor 'copy'; using snapshot"
                ));
                CloneMode::Snapshot
            }
        };
        let is_linbit = t.keys().any(|k| {
            matches!(
                k.as_str(),
                "LINSTOR_CONTROLLERS"
                    | "LINSTOR_RESOURCE_GROUP"
                    | "LINSTOR_AUTO_PLACE"
                    | "LINSTOR_CLONE_MODE"
                    | "LINSTOR_STORAGE_POOL"
                    | "LINSTOR_DEPLOYMENT_NODES"
            )
        });
        let is_un = t.keys().any(|k| {
            matches!(
                k.as_str(),
                "LS_CONTROLLERS" | "RESOURCE_GROUP" | "REPLICA_COUNT" | "AUTO_PLACE" | "NODE_LIST"
            )
        });
        let scheme = match first(t, &["LINSTOR_NAMING"]) {
            Some((v, key)) => Scheme::parse(v).unwrap_or_else(|| {
                warnings.push(format!(
                    "{key}='{v}' is neither 'un' nor 'linbit'; using un"
                ));
                Scheme::Un
            }),
            None if is_linbit && !is_un => Scheme::Linbit,
            None => Scheme::Un,
        };
        let controller_vm = match first(t, &["LINSTOR_CONTROLLER_VM"]) {
            None => None,
            Some((v, key)) => match v.parse::<u64>() {
                Ok(id) => Some(id.to_string()),
                Err(_) => {
                    warnings.push(format!(
                        "{key}='{v}' is not a VM id; no controller VM is protected"
                    ));
                    None
                }
            },
        };
        let capacity = match first(t, &["LINSTOR_CAPACITY"]) {
            None => CapacityArithmetic::SizeInfo,
            Some((v, key)) => match v.trim().to_ascii_lowercase().as_str() {
                "size-info" | "size_info" => CapacityArithmetic::SizeInfo,
                "linbit" => CapacityArithmetic::PoolSumPerReplica,
                "linstor_un" | "un" => CapacityArithmetic::PoolSum,
                _ => {
                    warnings.push(format!(
                        "{key}='{v}' is none of size-info, linbit, linstor_un; using size-info"
                    ));
                    CapacityArithmetic::SizeInfo
                }
            },
        };
        let get = |keys: &[&'static str]| first(t, keys).map(|(v, _)| v.to_string());
        Self {
            controllers: get(&["LINSTOR_CONTROLLERS", "LS_CONTROLLERS"]),
            ca_file: get(&["LS_CAFILE", "LINSTOR_CAFILE"]),
            cert_file: get(&["LS_CERTFILE", "LINSTOR_CERTFILE"]),
            key_file: get(&["LS_KEYFILE", "LINSTOR_KEYFILE"]),
            username: get(&["LS_USERNAME", "LINSTOR_USERNAME"]),
            password: get(&["LS_PASSWORD", "LINSTOR_PASSWORD"]).map(Password),
            resource_group: get(&["LINSTOR_RESOURCE_GROUP", "RESOURCE_GROUP"]),
            replica_count,
            checkpoint_replica_count,
            storage_pools: list(first(t, &["STORAGE_POOL", "LINSTOR_STORAGE_POOL"])),
            node_list: list(first(t, &["NODE_LIST", "LINSTOR_DEPLOYMENT_NODES"])),
            clone_mode,
            scheme,
            prefer_node: first(t, &["PREFER_NODE"])
                .is_some_and(|(v, _)| v.eq_ignore_ascii_case("yes")),
            bridge_list: list(first(t, &["BRIDGE_LIST"])),
            controller_vm,
            capacity,
            read_timeout: get(&[BOUND_NAMES.read]),
            change_timeout: get(&[BOUND_NAMES.change]),
            warnings,
        }
    }
}

impl DsConfig {
    /// The datastore's client settings for
    /// [`linstor_common::config::ClientConfig::discover`].
    pub fn client_overlay(&self) -> Overlay {
        Overlay {
            controllers: self.controllers.clone(),
            ca_file: self.ca_file.as_ref().map(Into::into),
            client_cert: self.cert_file.as_ref().map(Into::into),
            client_key: self.key_file.as_ref().map(Into::into),
            username: self.username.clone(),
            password: self.password.as_ref().map(|p| p.0.clone()),
            read_timeout: self.read_timeout.clone(),
            change_timeout: self.change_timeout.clone(),
            bound_names: Some(BOUND_NAMES),
            ..Overlay::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn un_attributes() {
        let c = DsConfig::from_template(&t(&[
            ("LS_CONTROLLERS", "c1,c2"),
            ("RESOURCE_GROUP", "one"),
            ("AUTO_PLACE", "2"),
            ("CHECKPOINT_AUTO_PLACE", "1"),
            ("CLONE_MODE", "copy"),
            ("STORAGE_POOL", "thin hdd"),
            ("LS_CAFILE", "/ca.pem"),
            ("LS_USERNAME", "one"),
            ("LS_PASSWORD", "pw-0a9e"),
        ]));
        assert_eq!(c.username.as_deref(), Some("one"));
        assert_eq!(c.password, Some(Password("pw-0a9e".into())));
        assert!(!format!("{c:?}").contains("pw-0a9e"));
        assert_eq!(c.controllers.as_deref(), Some("c1,c2"));
        assert_eq!(c.resource_group.as_deref(), Some("one"));
        assert_eq!(c.replica_count, Some(2));
        assert_eq!(c.checkpoint_replica_count, Some(1));
        assert_eq!(c.clone_mode, CloneMode::Copy);
        assert_eq!(c.storage_pools, ["thin", "hdd"]);
        assert_eq!(c.ca_file.as_deref(), Some("/ca.pem"));
        assert_eq!(c.scheme, Scheme::Un);
        assert_eq!(c.controller_vm, None);
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn controller_vm_is_a_vm_id() {
        let c = DsConfig::from_template(&t(&[("LINSTOR_CONTROLLER_VM", "007")]));
        assert_eq!(c.controller_vm.as_deref(), Some("7"));
        let c = DsConfig::from_template(&t(&[("LINSTOR_CONTROLLER_VM", "ctl-vm")]));
        assert_eq!(c.controller_vm, None);
        assert!(
            c.warnings[0].contains("LINSTOR_CONTROLLER_VM='ctl-vm'"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn linbit_attributes_pick_linbit_names() {
        let c = DsConfig::from_template(&t(&[
            ("LINSTOR_CONTROLLERS", "linstor://a"),
            ("LINSTOR_RESOURCE_GROUP", "OneRscGrp"),
            ("LINSTOR_AUTO_PLACE", "3"),
        ]));
        assert_eq!(c.scheme, Scheme::Linbit);
        assert_eq!(c.replica_count, Some(3));
        let c = DsConfig::from_template(&t(&[
            ("LINSTOR_RESOURCE_GROUP", "g"),
            ("LINSTOR_NAMING", "un"),
        ]));
        assert_eq!(c.scheme, Scheme::Un);
    }

    #[test]
    fn replica_count_wins_over_legacy_alias_and_bad_values_warn() {
        let c = DsConfig::from_template(&t(&[("REPLICA_COUNT", "2"), ("AUTO_PLACE", "5")]));
        assert_eq!(c.replica_count, Some(2));
        let c = DsConfig::from_template(&t(&[("REPLICA_COUNT", "two"), ("CLONE_MODE", "dd")]));
        assert_eq!(c.replica_count, None);
        assert_eq!(c.warnings.len(), 2);
        assert!(
            c.warnings[0].contains("REPLICA_COUNT='two'"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn bound_attributes_reach_the_client_settings_with_their_names() {
        let c = DsConfig::from_template(&t(&[
            ("LINSTOR_READ_TIMEOUT", "12.5"),
            ("LINSTOR_CHANGE_TIMEOUT", "90"),
        ]));
        let o = c.client_overlay();
        assert_eq!(o.read_timeout.as_deref(), Some("12.5"));
        assert_eq!(o.change_timeout.as_deref(), Some("90"));
        assert_eq!(o.bound_names, Some(BOUND_NAMES));
        let none = DsConfig::from_template(&t(&[])).client_overlay();
        assert_eq!((none.read_timeout, none.change_timeout), (None, None));
    }
}
