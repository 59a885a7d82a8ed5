//! Turns a parsed DRBD resource and the operator's options into the ordered LINSTOR calls of
//! LINBIT's migration procedure, each with the reason it is needed. Pure: no IO.
//!
//! Order: resource definition with the existing TCP port, `PeerSlotsNewResource`, per volume the
//! volume definition (volume number, minor, net size in KiB), `OverrideVlmId` when the backing
//! volume is not named `<resource>_<5-digit volume number>`, `AllowLargerVolumeSize` when asked,
//! then one resource per node with its DRBD node id and storage pool.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::carry::{carry, AddressProblem, CarryHost, Fate, Setting, Target};
use super::parse::{DrbdResource, HostName, MetaDisk};
use super::AdoptError;
use linstor_common::api::{
    NetInterface, Props, PropsModify, Resource, ResourceCreate, ResourceDefinition,
    ResourceDefinitionCreate, ResourceDefinitionModify, VolumeDefinition, VolumeDefinitionCreate,
    VolumeDefinitionModify,
};
use linstor_common::client::seg;
use linstor_common::naming::{self, docker, proxmox};

/// RD/RG/controller property: peer slots of resources created from now on.
pub const PEER_SLOTS_PROP: &str = "PeerSlotsNewResource";
/// VD property: name of the backing volume instead of `<resource>_<vlmnr:05>`.
pub const OVERRIDE_VLM_ID_PROP: &str = "OverrideVlmId";
/// VD property: accept a backing volume larger than LINSTOR would create.
pub const ALLOW_LARGER_PROP: &str = "AllowLargerVolumeSize";

/// The platform that should own the adopted volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// A disk of this Proxmox VM (`Aux/pm/vmid`, named `pm-XXXXXXXX` unless `--name` gives a
    /// valid Proxmox name).
    Proxmox {
        /// VMID.
        vmid: u32,
    },
    /// A Docker volume of this name (`Aux/is-linstor-docker-volume`).
    Docker {
        /// Docker volume name.
        name: String,
    },
}

/// What the operator asks for besides the configuration itself.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// LINSTOR resource name, when it should differ from the DRBD name.
    pub name: Option<String>,
    /// Peer slots the DRBD metadata was created with.
    pub peer_slots: Option<u32>,
    /// Net size in bytes per volume number (the size of `/dev/drbd<minor>`).
    pub sizes: BTreeMap<u32, u64>,
    /// Storage pool for every diskful node without its own entry in `node_pools`.
    pub storage_pool: Option<String>,
    /// Storage pool per node.
    pub node_pools: BTreeMap<String, String>,
    /// LINSTOR node name per IP of a `floating` section.
    pub floating_nodes: BTreeMap<String, String>,
    /// Set `AllowLargerVolumeSize` on every volume definition.
    pub allow_larger_volume_size: bool,
    /// Hand the volume to a platform.
    pub owner: Option<Owner>,
    /// Resource group of the new definition (LINSTOR's default group when `None`).
    pub resource_group: Option<String>,
    /// The LINSTOR nodes' interfaces, by node; a node not in the map is not a LINSTOR node
    /// (reported by the checks) and its addresses are not checked.
    pub net_interfaces: BTreeMap<String, Vec<NetInterface>>,
    /// Create the interfaces the peers' addresses need instead of reporting them.
    pub create_net_interfaces: bool,
    /// Settings (by id) the operator accepts to lose.
    pub drop: BTreeSet<String>,
}

/// One LINSTOR call, with the body exactly as sent.
#[derive(Debug, Clone)]
pub enum Call {
    /// `POST /v1/resource-definitions`.
    CreateResourceDefinition(ResourceDefinitionCreate),
    /// `PUT /v1/resource-definitions/{rd}`.
    ModifyResourceDefinition {
        /// RD.
        rd: String,
        /// Body.
        body: ResourceDefinitionModify,
    },
    /// `POST /v1/resource-definitions/{rd}/volume-definitions`.
    CreateVolumeDefinition {
        /// RD.
        rd: String,
        /// Body.
        body: VolumeDefinitionCreate,
    },
    /// `PUT /v1/resource-definitions/{rd}/volume-definitions/{nr}`.
    ModifyVolumeDefinition {
        /// RD.
        rd: String,
        /// Volume number.
        nr: u32,
        /// Body.
        body: VolumeDefinitionModify,
    },
    /// `POST /v1/resource-definitions/{rd}/resources/{node}`.
    CreateResource {
        /// RD.
        rd: String,
        /// Node.
        node: String,
        /// Body.
        body: ResourceCreate,
    },
    /// `POST /v1/nodes/{node}/net-interfaces`.
    CreateNetInterface {
        /// Node.
        node: String,
        /// Body.
        body: NetInterface,
    },
    /// `PUT /v1/resource-definitions/{rd}/resource-connections/{a}/{b}`.
    ModifyResourceConnection {
        /// RD.
        rd: String,
        /// First node.
        a: String,
        /// Second node.
        b: String,
        /// Body.
        body: PropsModify,
    },
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("<unserializable: {e}>"))
}

impl Call {
    /// HTTP method and path.
    pub fn endpoint(&self) -> (&'static str, String) {
        match self {
            Call::CreateResourceDefinition(_) => ("POST", "/v1/resource-definitions".into()),
            Call::ModifyResourceDefinition { rd, .. } => {
                ("PUT", format!("/v1/resource-definitions/{}", seg(rd)))
            }
            Call::CreateVolumeDefinition { rd, .. } => (
                "POST",
                format!("/v1/resource-definitions/{}/volume-definitions", seg(rd)),
            ),
            Call::ModifyVolumeDefinition { rd, nr, .. } => (
                "PUT",
                format!(
                    "/v1/resource-definitions/{}/volume-definitions/{nr}",
                    seg(rd)
                ),
            ),
            Call::CreateResource { rd, node, .. } => (
                "POST",
                format!(
                    "/v1/resource-definitions/{}/resources/{}",
                    seg(rd),
                    seg(node)
                ),
            ),
            Call::CreateNetInterface { node, .. } => {
                ("POST", format!("/v1/nodes/{}/net-interfaces", seg(node)))
            }
            Call::ModifyResourceConnection { rd, a, b, .. } => (
                "PUT",
                format!(
                    "/v1/resource-definitions/{}/resource-connections/{}/{}",
                    seg(rd),
                    seg(a),
                    seg(b)
                ),
            ),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        match self {
            Call::CreateResourceDefinition(b) => json(b),
            Call::ModifyResourceDefinition { body, .. } => json(body),
            Call::CreateVolumeDefinition { body, .. } => json(body),
            Call::ModifyVolumeDefinition { body, .. } => json(body),
            Call::CreateResource { body, .. } => json(body),
            Call::CreateNetInterface { body, .. } => json(body),
            Call::ModifyResourceConnection { body, .. } => json(body),
        }
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (m, p) = self.endpoint();
        write!(f, "{m} {p} {}", self.body())
    }
}

/// A call and why the procedure needs it.
#[derive(Debug, Clone)]
pub struct Step {
    /// The call.
    pub call: Call,
    /// One line for the operator.
    pub why: String,
}

/// A node that gets a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedNode {
    /// LINSTOR node name.
    pub node: String,
    /// DRBD node id.
    pub node_id: u32,
    /// Storage pool; `None` for a diskless node.
    pub pool: Option<String>,
}

/// The adoption of one resource.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Name of the DRBD resource in the configuration.
    pub drbd_name: String,
    /// LINSTOR resource definition name.
    pub name: String,
    /// Resource group of the definition, when one was asked for.
    pub resource_group: Option<String>,
    /// Nodes in configuration order.
    pub nodes: Vec<PlannedNode>,
    /// DRBD minor per volume number.
    pub minors: BTreeMap<u32, u32>,
    /// Calls in order.
    pub steps: Vec<Step>,
    /// Every setting of the configuration beyond the numbers, and what becomes of it.
    pub settings: Vec<Setting>,
    /// Addresses the peers use that LINSTOR does not have as an interface of the node.
    pub address_problems: Vec<AddressProblem>,
    /// Settings not carried that the operator accepted to lose (`--drop`).
    pub dropped: BTreeSet<String>,
}

impl Plan {
    /// Settings not carried and not accepted with `--drop`.
    pub fn unaccepted_losses(&self) -> Vec<&Setting> {
        self.settings
            .iter()
            .filter(|s| matches!(s.fate, Fate::Lost(_)) && !self.dropped.contains(&s.id))
            .collect()
    }
}

fn invalid(msg: impl Into<String>) -> AdoptError {
    AdoptError::Invalid(msg.into())
}

/// A valid LINSTOR resource name close to `name`.
pub fn propose_name(name: &str) -> String {
    let mut n: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        n.insert_str(0, "r_");
    }
    if !n.chars().any(|c| c.is_ascii_alphabetic()) {
        n.insert(0, 'r');
    }
    n.truncate(48);
    if n.len() < 2 {
        n.push('_');
    }
    if n.eq_ignore_ascii_case("all") || n.eq_ignore_ascii_case("proxy") {
        n.push_str("_1");
    }
    n
}

fn checked_name(name: &str) -> Result<(), AdoptError> {
    naming::validate_resource_name(name).map_err(|e| AdoptError::InvalidName {
        name: name.to_string(),
        reason: e.to_string(),
        proposal: propose_name(name),
    })
}

/// LINSTOR name and ownership properties.
fn name_and_owner(res: &DrbdResource, opts: &Options) -> Result<(String, Props), AdoptError> {
    let mut props = Props::new();
    let name = match &opts.owner {
        None => {
            let n = opts.name.clone().unwrap_or_else(|| res.name.clone());
            checked_name(&n)?;
            n
        }
        Some(Owner::Proxmox { vmid }) => {
            if opts.resource_group.is_none() {
                return Err(invalid(
                    "--proxmox-vmid needs --resource-group <the 'resourcegroup' of the drbd storage in /etc/pve/storage.cfg>: Proxmox lists only volumes of its storage's resource group",
                ));
            }
            let vmid_s = vmid.to_string();
            let n = match &opts.name {
                Some(n) if proxmox::is_pm_name(n) => n.clone(),
                Some(n) => {
                    let v = proxmox::parse_alloc_name(n, &vmid_s).map_err(|e| {
                        invalid(format!(
                            "{e}; for a Proxmox disk, name it pm-<8 hex digits> (or leave --name out) or vm-{vmid}-disk-<n>"
                        ))
                    })?;
                    v.rd
                }
                None => format!(
                    "pm-{:08x}",
                    naming::fnv1a_32(format!("adopt:{}", res.name).as_bytes())
                ),
            };
            checked_name(&n)?;
            props.insert(proxmox::VMID_PROP.into(), vmid_s);
            n
        }
        Some(Owner::Docker { name }) => {
            if opts.name.is_some() {
                return Err(invalid(
                    "--name cannot be combined with --docker-name: the Docker volume name decides the LINSTOR name",
                ));
            }
            let n = docker::resource_name(name).map_err(|e| invalid(e.to_string()))?;
            props.insert(docker::MARKER_PROP.into(), "true".into());
            props.insert(docker::NAME_PROP.into(), name.clone());
            n
        }
    };
    Ok((name, props))
}

fn backing_name(disk: &str, host: &str, nr: u32) -> Result<String, AdoptError> {
    if disk.starts_with("/dev/mapper/") {
        return Err(invalid(format!(
            "volume {nr} of {host} names its backing device as {disk}; write it as /dev/<volume group>/<logical volume> (LVM) or /dev/zvol/<pool>/<name> (ZFS) so the volume name is unambiguous"
        )));
    }
    match disk.rsplit('/').next() {
        Some(b) if !b.is_empty() && disk.starts_with("/dev/") => Ok(b.to_string()),
        _ => Err(invalid(format!(
            "volume {nr} of {host} has backing device '{disk}', which is not a /dev/ path"
        ))),
    }
}

/// Step numbers (1-based) of the calls the structural settings point to.
struct StepIndex<'a> {
    /// Volume definition creation per volume.
    vd: &'a BTreeMap<u32, usize>,
    /// `OverrideVlmId` per volume.
    overrides: &'a BTreeMap<u32, usize>,
    /// The other calls.
    at: &'a BTreeMap<Target, usize>,
}

/// The numbers and devices of the configuration, each with the step that keeps it.
fn structural_settings(
    res: &DrbdResource,
    hosts: &[CarryHost],
    nodes: &[PlannedNode],
    numbers: &BTreeSet<u32>,
    idx: StepIndex<'_>,
    sizes: &BTreeMap<u32, u64>,
    name: &str,
) -> Vec<Setting> {
    let (vd_steps, override_steps) = (idx.vd, idx.overrides);
    let rsc_step = |node: &str| idx.at.get(&Target::Resource(node.to_string())).copied();
    let carried = |steps: Vec<Option<usize>>, how: String| Fate::Carried {
        steps: steps.into_iter().flatten().collect(),
        how,
    };
    let mut out = Vec::new();
    for ((h, ch), n) in res.hosts.iter().zip(hosts).zip(nodes) {
        out.push(Setting {
            id: format!("{}/node-id", ch.place),
            text: format!("node-id {}", n.node_id),
            line: 0,
            fate: carried(
                vec![rsc_step(&n.node)],
                format!("drbd_node_id={}", n.node_id),
            ),
        });
        if n.pool.is_none() {
            for nr in numbers {
                if h.volumes.get(nr).is_some_and(|v| v.is_diskless()) {
                    out.push(Setting {
                        id: format!("{}/volume:{nr}/disk", ch.place),
                        text: "disk none".into(),
                        line: 0,
                        fate: carried(vec![rsc_step(&n.node)], "DRBD_DISKLESS".into()),
                    });
                }
            }
        }
    }
    for nr in numbers {
        let vd = vd_steps.get(nr).copied();
        let first = res.hosts.iter().find_map(|h| h.volumes.get(nr));
        if let Some(minor) = first.and_then(|v| v.minor) {
            out.push(Setting {
                id: format!("volume:{nr}/device"),
                text: format!("device minor {minor}"),
                line: 0,
                fate: carried(vec![vd], format!("drbd_minor_number={minor}")),
            });
        }
        out.push(Setting {
            id: format!("volume:{nr}/meta-disk"),
            text: "meta-disk internal".into(),
            line: 0,
            fate: carried(
                vec![vd],
                format!(
                    "size_kib={} (LINSTOR places internal metadata after it, where DRBD has it)",
                    sizes.get(nr).copied().unwrap_or_default()
                ),
            ),
        });
        let disk = res
            .hosts
            .iter()
            .filter_map(|h| h.volumes.get(nr))
            .find_map(|v| v.disk.as_deref().filter(|d| *d != "none"));
        if let Some(disk) = disk {
            let diskful: Vec<&PlannedNode> = nodes.iter().filter(|n| n.pool.is_some()).collect();
            let mut steps: Vec<Option<usize>> = vec![override_steps.get(nr).copied()];
            steps.extend(diskful.iter().map(|n| rsc_step(&n.node)));
            let volume = match override_steps.get(nr) {
                Some(_) => format!("OverrideVlmId={}", disk.rsplit('/').next().unwrap_or(disk)),
                None => format!("LINSTOR's own volume name {name}_{nr:05}"),
            };
            out.push(Setting {
                id: format!("volume:{nr}/disk"),
                text: format!("disk {disk}"),
                line: 0,
                fate: carried(
                    steps,
                    format!(
                        "{volume} in storage pool(s) {}",
                        diskful
                            .iter()
                            .filter_map(|n| n.pool.as_deref())
                            .collect::<BTreeSet<_>>()
                            .into_iter()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            });
        }
    }
    out
}

/// Builds the ordered calls that adopt `res`.
pub fn plan(res: &DrbdResource, opts: &Options) -> Result<Plan, AdoptError> {
    let (name, owner_props) = name_and_owner(res, opts)?;
    if let Some(rg) = &opts.resource_group {
        naming::validate_resource_group_name(rg).map_err(|e| invalid(e.to_string()))?;
    }
    if res.hosts.is_empty() {
        return Err(invalid(format!(
            "resource '{}' has no 'on <host>' or 'floating' section",
            res.name
        )));
    }
    let peer_slots = opts.peer_slots.ok_or_else(|| {
        invalid(
            "give --peer-slots N: the number of peer slots the DRBD metadata was created with (drbdadm create-md --max-peers; `drbdadm dump-md <res>` shows it). LINSTOR's default of 7 would not match existing metadata",
        )
    })?;
    if !(1..=31).contains(&peer_slots) {
        return Err(invalid(format!(
            "--peer-slots {peer_slots} is out of range: DRBD supports 1-31"
        )));
    }
    if (peer_slots as usize) < res.hosts.len() - 1 {
        return Err(invalid(format!(
            "--peer-slots {peer_slots} is less than the {} peers of each host in the configuration",
            res.hosts.len() - 1
        )));
    }

    let mut nodes = Vec::new();
    let mut ports = BTreeSet::new();
    let mut ids = BTreeSet::new();
    let mut numbers: BTreeSet<u32> = BTreeSet::new();
    for h in &res.hosts {
        numbers.extend(h.volumes.keys());
    }
    if numbers.is_empty() {
        return Err(invalid(format!(
            "resource '{}' defines no volume (no 'volume <n> {{ … }}' and no device/disk lines)",
            res.name
        )));
    }
    if opts.owner.is_some() && numbers.iter().copied().collect::<Vec<_>>() != [0] {
        return Err(invalid(format!(
            "platform volumes have exactly one volume, number 0; '{}' has volume(s) {}. Adopt it without a platform owner",
            res.name,
            numbers.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        )));
    }
    let mut minors: BTreeMap<u32, u32> = BTreeMap::new();
    let mut carry_hosts = Vec::new();
    let mut backing: BTreeMap<u32, (String, String)> = BTreeMap::new();
    for h in &res.hosts {
        let host = h.name.to_string();
        let node = match &h.name {
            HostName::On(n) => n.clone(),
            HostName::Floating(a) => opts.floating_nodes.get(&a.ip).cloned().ok_or_else(|| {
                invalid(format!(
                    "{host} has no host name; tell which LINSTOR node it is with --floating-node {}=<node>",
                    a.ip
                ))
            })?,
        };
        naming::validate_node_name(&node).map_err(|e| invalid(e.to_string()))?;
        let node_id = h.node_id.ok_or_else(|| {
            invalid(format!(
                "{host} has no node-id; LINSTOR must reuse the node id stored in the DRBD metadata. Add 'node-id <n>;' as `drbdadm dump-md` shows it"
            ))
        })?;
        if !ids.insert(node_id) {
            return Err(invalid(format!(
                "node id {node_id} is used by two hosts of '{}'",
                res.name
            )));
        }
        let addr = h.address.as_ref().ok_or_else(|| {
            invalid(format!(
                "{host} has no address, so its TCP port is unknown; add 'address <ip>:<port>;'"
            ))
        })?;
        ports.insert(addr.port);
        let mut diskless = None;
        for nr in &numbers {
            let v = h
                .volumes
                .get(nr)
                .ok_or_else(|| invalid(format!("{host} does not configure volume {nr}")))?;
            let minor = v.minor.ok_or_else(|| {
                invalid(format!(
                    "volume {nr} of {host} has no 'device' (minor number)"
                ))
            })?;
            if let Some(m) = minors.insert(*nr, minor) {
                if m != minor {
                    return Err(invalid(format!(
                        "volume {nr} has minor {m} on one host and {minor} on {host}; LINSTOR uses one minor per volume on all nodes. Make them equal first"
                    )));
                }
            }
            let this_diskless = v.is_diskless();
            if *diskless.get_or_insert(this_diskless) != this_diskless {
                return Err(invalid(format!(
                    "{host} has a disk for some volumes and none for others; LINSTOR resources are diskful or diskless as a whole"
                )));
            }
            if this_diskless {
                continue;
            }
            let disk = v.disk.as_deref().ok_or_else(|| {
                invalid(format!(
                    "volume {nr} of {host} has no 'disk' (backing device)"
                ))
            })?;
            match &v.meta_disk {
                Some(MetaDisk::Internal) => {}
                Some(MetaDisk::External(m)) => {
                    return Err(AdoptError::ExternalMetadata {
                        host,
                        volume: *nr,
                        meta_disk: m.clone(),
                    })
                }
                None => {
                    return Err(invalid(format!(
                    "volume {nr} of {host} has no 'meta-disk'; adopt needs 'meta-disk internal;'"
                )))
                }
            }
            let b = backing_name(disk, &host, *nr)?;
            if let Some((other, other_host)) = backing.get(nr) {
                if *other != b {
                    return Err(invalid(format!(
                        "volume {nr} is backed by '{other}' on {other_host} but by '{b}' on {host}; LINSTOR names a volume's backing device the same on every node. Rename the logical volumes to one name first"
                    )));
                }
            } else {
                backing.insert(*nr, (b, host.clone()));
            }
        }
        let pool = if diskless == Some(true) {
            None
        } else {
            Some(
                opts.node_pools
                    .get(&node)
                    .or(opts.storage_pool.as_ref())
                    .cloned()
                    .ok_or_else(|| {
                        invalid(format!(
                            "no storage pool for node '{node}': give --storage-pool POOL (the LINSTOR pool on the volume group holding the backing device) or --node-pool {node}=POOL"
                        ))
                    })?,
            )
        };
        carry_hosts.push(CarryHost {
            drbd: match &h.name {
                HostName::On(n) => n.clone(),
                HostName::Floating(a) => a.to_string(),
            },
            place: match &h.name {
                HostName::On(n) => format!("on:{n}"),
                HostName::Floating(a) => format!("floating:{}", a.ip),
            },
            node: node.clone(),
            address: addr.clone(),
        });
        nodes.push(PlannedNode {
            node,
            node_id,
            pool,
        });
    }
    if !nodes.iter().any(|n| n.pool.is_some()) {
        return Err(invalid(format!(
            "no host of '{}' has a backing disk; there is no data to adopt",
            res.name
        )));
    }
    let port = match ports.iter().collect::<Vec<_>>().as_slice() {
        [p] => **p,
        _ => {
            return Err(invalid(format!(
                "the hosts of '{}' use different TCP ports ({}); LINSTOR gives a resource one port. Use the same port on all hosts first",
                res.name,
                ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
            )))
        }
    };
    let mut sizes = BTreeMap::new();
    for nr in &numbers {
        let bytes = opts.sizes.get(nr).copied().ok_or_else(|| {
            invalid(format!(
                "the net size of volume {nr} is unknown; give --size {nr}=BYTES (blockdev --getsize64 /dev/drbd{})",
                minors.get(nr).copied().unwrap_or_default()
            ))
        })?;
        if bytes % 1024 != 0 {
            return Err(AdoptError::SizeNotKib { volume: *nr, bytes });
        }
        let kib = bytes / 1024;
        naming::validate_size_kib(kib).map_err(|e| invalid(format!("volume {nr}: {e}")))?;
        sizes.insert(*nr, kib);
    }

    let carried = carry(
        res,
        &carry_hosts,
        port,
        &opts.net_interfaces,
        opts.create_net_interfaces,
    );
    let mut at: BTreeMap<Target, usize> = BTreeMap::new();
    let mut vd_steps: BTreeMap<u32, usize> = BTreeMap::new();
    let mut override_steps: BTreeMap<u32, usize> = BTreeMap::new();
    let mut steps = Vec::new();
    let owner_note = if owner_props.is_empty() {
        String::new()
    } else {
        format!(
            "; owner properties {} hand it to the platform",
            owner_props.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    steps.push(Step {
        call: Call::CreateResourceDefinition(ResourceDefinitionCreate {
            resource_definition: ResourceDefinition {
                name: name.clone(),
                props: owner_props,
                resource_group_name: opts.resource_group.clone(),
                ..Default::default()
            },
            drbd_port: Some(i32::from(port)),
            drbd_peer_slots: Some(peer_slots as i32),
        }),
        why: format!(
            "define '{name}' with the TCP port {port} the peers already use, so they keep connecting to each other{owner_note}"
        ),
    });
    let mut ps = Props::new();
    ps.insert(PEER_SLOTS_PROP.into(), peer_slots.to_string());
    steps.push(Step {
        call: Call::ModifyResourceDefinition {
            rd: name.clone(),
            body: ResourceDefinitionModify {
                override_props: ps,
                ..Default::default()
            },
        },
        why: format!(
            "the metadata on disk has {peer_slots} peer slots; resources created with another count would not match it"
        ),
    });
    if !carried.rd.is_empty() {
        steps.push(Step {
            call: Call::ModifyResourceDefinition {
                rd: name.clone(),
                body: ResourceDefinitionModify {
                    override_props: carried.rd.clone(),
                    ..Default::default()
                },
            },
            why: format!("keep {}", carried.rd_why.join("; ")),
        });
        at.insert(Target::RdOptions, steps.len());
    }
    for nr in &numbers {
        let kib = sizes[nr];
        let minor = minors[nr];
        steps.push(Step {
            call: Call::CreateVolumeDefinition {
                rd: name.clone(),
                body: VolumeDefinitionCreate {
                    volume_definition: VolumeDefinition {
                        volume_number: Some(*nr as i32),
                        size_kib: kib,
                        ..Default::default()
                    },
                    drbd_minor_number: Some(minor as i32),
                },
            },
            why: format!(
                "volume {nr} keeps /dev/drbd{minor}; {kib} KiB is the net size DRBD exposes today, from which LINSTOR computes the same internal metadata layout"
            ),
        });
        vd_steps.insert(*nr, steps.len());
        let expected = format!("{name}_{nr:05}");
        if let Some((b, _)) = backing.get(nr).filter(|(b, _)| *b != expected) {
            let mut p = Props::new();
            p.insert(OVERRIDE_VLM_ID_PROP.into(), b.clone());
            steps.push(Step {
                call: Call::ModifyVolumeDefinition {
                    rd: name.clone(),
                    nr: *nr,
                    body: VolumeDefinitionModify {
                        override_props: p,
                        ..Default::default()
                    },
                },
                why: format!(
                    "the backing volume is named '{b}', not '{expected}' as LINSTOR would name it; use the existing one instead of creating a new one"
                ),
            });
            override_steps.insert(*nr, steps.len());
        }
        if opts.allow_larger_volume_size {
            let mut p = Props::new();
            p.insert(ALLOW_LARGER_PROP.into(), "true".into());
            steps.push(Step {
                call: Call::ModifyVolumeDefinition {
                    rd: name.clone(),
                    nr: *nr,
                    body: VolumeDefinitionModify {
                        override_props: p,
                        ..Default::default()
                    },
                },
                why: "asked with --allow-larger-volume-size: accept a backing volume larger than LINSTOR would allocate for this net size".into(),
            });
        }
        if let Some(p) = carried.vd.get(nr) {
            steps.push(Step {
                call: Call::ModifyVolumeDefinition {
                    rd: name.clone(),
                    nr: *nr,
                    body: VolumeDefinitionModify {
                        override_props: p.clone(),
                        ..Default::default()
                    },
                },
                why: format!(
                    "keep the disk section of volume {nr}; LINSTOR writes its own defaults for options without a property"
                ),
            });
            at.insert(Target::VdOptions(*nr), steps.len());
        }
    }
    for ((node, nic), (body, why)) in &carried.nics {
        steps.push(Step {
            call: Call::CreateNetInterface {
                node: node.clone(),
                body: body.clone(),
            },
            why: why.clone(),
        });
        at.insert(Target::NetInterface(node.clone(), nic.clone()), steps.len());
    }
    for n in &nodes {
        let mut props = Props::new();
        let mut flags = Vec::new();
        let mut why = match &n.pool {
            Some(pool) => {
                props.insert("StorPoolName".into(), pool.clone());
                format!(
                    "node '{}' keeps DRBD node id {} (stored in the metadata) and port {port}; its backing volume is in storage pool '{pool}'",
                    n.node, n.node_id
                )
            }
            None => {
                flags.push("DRBD_DISKLESS".into());
                format!(
                    "node '{}' is diskless in the configuration and keeps DRBD node id {} and port {port}",
                    n.node, n.node_id
                )
            }
        };
        if let Some((p, w)) = carried.rsc.get(&n.node) {
            props.extend(p.clone());
            why.push_str("; ");
            why.push_str(w);
        }
        steps.push(Step {
            call: Call::CreateResource {
                rd: name.clone(),
                node: n.node.clone(),
                body: ResourceCreate {
                    resource: Resource {
                        props,
                        flags,
                        ..Default::default()
                    },
                    drbd_node_id: Some(n.node_id as i32),
                    drbd_tcp_ports: vec![i32::from(port)],
                    ..Default::default()
                },
            },
            why,
        });
        at.insert(Target::Resource(n.node.clone()), steps.len());
    }
    for ((a, b), (props, what)) in &carried.conns {
        let mut parts = Vec::new();
        if what.iter().any(|w| w == "options") {
            parts.push("its own net/disk options");
        }
        if what.iter().any(|w| w == "paths") {
            parts.push("its paths, over the interfaces named (LINSTOR writes one path per Paths/<path> entry, with the resource's port)");
        }
        steps.push(Step {
            call: Call::ModifyResourceConnection {
                rd: name.clone(),
                a: a.clone(),
                b: b.clone(),
                body: PropsModify {
                    override_props: props.clone(),
                    ..Default::default()
                },
            },
            why: format!("the connection {a}-{b} keeps {}", parts.join(" and ")),
        });
        at.insert(Target::Connection(a.clone(), b.clone()), steps.len());
    }
    let mut settings = structural_settings(
        res,
        &carry_hosts,
        &nodes,
        &numbers,
        StepIndex {
            vd: &vd_steps,
            overrides: &override_steps,
            at: &at,
        },
        &sizes,
        &name,
    );
    for (mut s, targets) in carried.settings {
        if let Fate::Carried { steps, .. } = &mut s.fate {
            *steps = targets.iter().filter_map(|t| at.get(t)).copied().collect();
            steps.sort_unstable();
            steps.dedup();
        }
        settings.push(s);
    }
    for d in &opts.drop {
        if !settings
            .iter()
            .any(|s| &s.id == d && matches!(s.fate, Fate::Lost(_)))
        {
            let lost: Vec<&str> = settings
                .iter()
                .filter(|s| matches!(s.fate, Fate::Lost(_)))
                .map(|s| s.id.as_str())
                .collect();
            return Err(invalid(format!(
                "--drop {d} names no setting that adopt cannot carry; those are: {}",
                if lost.is_empty() {
                    "none".to_string()
                } else {
                    lost.join(", ")
                }
            )));
        }
    }
    Ok(Plan {
        drbd_name: res.name.clone(),
        name,
        resource_group: opts.resource_group.clone(),
        nodes,
        minors,
        steps,
        settings,
        address_problems: carried.problems,
        dropped: opts.drop.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adopt::parse_resource;

    const LEGACY: &str = "resource legacy {
        volume 10 { device minor 9100; disk /dev/vg0/legacy_data; meta-disk internal; }
        on alpha { node-id 4; address 10.0.0.1:15500; }
        on bravo { node-id 8; address 10.0.0.2:15500; }
    }";

    fn opts() -> Options {
        Options {
            peer_slots: Some(4),
            sizes: BTreeMap::from([(10, 1_371_956 * 1024)]),
            storage_pool: Some("vg0pool".into()),
            ..Default::default()
        }
    }

    fn lines(p: &Plan) -> Vec<String> {
        p.steps.iter().map(|s| s.call.to_string()).collect()
    }

    #[test]
    fn legacy_example_follows_the_documented_procedure() {
        let r = parse_resource(LEGACY, None).unwrap();
        let p = plan(&r, &opts()).unwrap();
        assert_eq!(p.name, "legacy");
        assert_eq!(
            lines(&p),
            [
                r#"POST /v1/resource-definitions {"resource_definition":{"name":"legacy"},"drbd_port":15500,"drbd_peer_slots":4}"#,
                r#"PUT /v1/resource-definitions/legacy {"override_props":{"PeerSlotsNewResource":"4"}}"#,
                r#"PUT /v1/resource-definitions/legacy {"override_props":{"DrbdOptions/Resource/quorum":"off"}}"#,
                r#"POST /v1/resource-definitions/legacy/volume-definitions {"volume_definition":{"volume_number":10,"size_kib":1371956},"drbd_minor_number":9100}"#,
                r#"PUT /v1/resource-definitions/legacy/volume-definitions/10 {"override_props":{"OverrideVlmId":"legacy_data"}}"#,
                r#"POST /v1/resource-definitions/legacy/resources/alpha {"resource":{"props":{"StorPoolName":"vg0pool"}},"drbd_node_id":4,"drbd_tcp_ports":[15500]}"#,
                r#"POST /v1/resource-definitions/legacy/resources/bravo {"resource":{"props":{"StorPoolName":"vg0pool"}},"drbd_node_id":8,"drbd_tcp_ports":[15500]}"#,
            ]
        );
        assert!(p.steps.iter().all(|s| !s.why.is_empty()));
    }

    #[test]
    fn no_override_when_the_volume_has_linstors_name_and_larger_size_only_when_asked() {
        let text = LEGACY.replace("legacy_data", "legacy_00010");
        let r = parse_resource(&text, None).unwrap();
        let p = plan(&r, &opts()).unwrap();
        assert!(!lines(&p).iter().any(|l| l.contains("OverrideVlmId")));
        assert!(!lines(&p)
            .iter()
            .any(|l| l.contains("AllowLargerVolumeSize")));
        let mut o = opts();
        o.allow_larger_volume_size = true;
        let p = plan(&r, &o).unwrap();
        assert!(lines(&p).contains(
            &r#"PUT /v1/resource-definitions/legacy/volume-definitions/10 {"override_props":{"AllowLargerVolumeSize":"true"}}"#.to_string()
        ));
    }

    #[test]
    fn refuses_sizes_that_are_not_whole_kib() {
        let r = parse_resource(LEGACY, None).unwrap();
        let mut o = opts();
        o.sizes.insert(10, 1_371_956 * 1024 + 512);
        let e = plan(&r, &o).unwrap_err();
        assert!(matches!(e, AdoptError::SizeNotKib { volume: 10, .. }));
        assert!(e.to_string().contains("not a multiple of 1024"), "{e}");
        o.sizes.clear();
        let e = plan(&r, &o).unwrap_err().to_string();
        assert!(
            e.contains("--size 10=BYTES") && e.contains("/dev/drbd9100"),
            "{e}"
        );
    }

    #[test]
    fn refuses_external_metadata() {
        let text = LEGACY.replace("meta-disk internal", "meta-disk /dev/nvme0n1p2");
        let r = parse_resource(&text, None).unwrap();
        let e = plan(&r, &opts()).unwrap_err();
        assert!(
            matches!(e, AdoptError::ExternalMetadata { volume: 10, .. }),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("external metadata (/dev/nvme0n1p2)")
                && msg.contains("internal metadata only"),
            "{msg}"
        );
    }

    #[test]
    fn invalid_names_get_a_proposal() {
        let text = LEGACY.replace("resource legacy", "resource 9legacy.db");
        let r = parse_resource(&text, None).unwrap();
        match plan(&r, &opts()).unwrap_err() {
            AdoptError::InvalidName { proposal, .. } => {
                assert_eq!(proposal, "r_9legacy_db");
                linstor_common::naming::validate_resource_name(&proposal).unwrap();
            }
            other => panic!("{other:?}"),
        }
        let mut o = opts();
        o.name = Some("r_9legacy_db".into());
        let p = plan(&r, &o).unwrap();
        assert!(lines(&p)[0].contains(r#""name":"r_9legacy_db""#));
        assert!(lines(&p)[4].contains(r#""OverrideVlmId":"legacy_data""#));
        for n in ["all", "x", "..", &"a".repeat(60)] {
            linstor_common::naming::validate_resource_name(&propose_name(n)).unwrap();
        }
    }

    #[test]
    fn refuses_what_linstor_cannot_represent() {
        let cases = [
            (
                LEGACY.replace("10.0.0.2:15500", "10.0.0.2:15501"),
                "different TCP ports",
            ),
            (
                LEGACY.replace("node-id 8", "node-id 4"),
                "node id 4 is used by two hosts",
            ),
            (
                LEGACY.replace("on bravo { node-id 8;", "on bravo {"),
                "host 'bravo' has no node-id",
            ),
            (
                LEGACY.replace(
                    "on bravo { node-id 8;",
                    "on bravo { volume 10 { device minor 9101; } node-id 8;",
                ),
                "minor 9100 on one host and 9101",
            ),
            (
                LEGACY.replace(
                    "on bravo { node-id 8;",
                    "on bravo { volume 10 { disk /dev/vg1/other; } node-id 8;",
                ),
                "backed by 'legacy_data'",
            ),
            (
                LEGACY.replace("/dev/vg0/legacy_data", "/dev/mapper/vg0-legacy"),
                "/dev/<volume group>",
            ),
        ];
        let r0 = parse_resource(LEGACY, None).unwrap();
        for (text, want) in cases {
            let r = parse_resource(&text, None).unwrap();
            let e = plan(&r, &opts()).unwrap_err().to_string();
            assert!(e.contains(want), "{want}: {e}");
        }
        let mut o = opts();
        o.peer_slots = None;
        assert!(plan(&r0, &o)
            .unwrap_err()
            .to_string()
            .contains("--peer-slots"));
        o.peer_slots = Some(32);
        assert!(plan(&r0, &o).unwrap_err().to_string().contains("1-31"));
        let mut o = opts();
        o.storage_pool = None;
        let e = plan(&r0, &o).unwrap_err().to_string();
        assert!(e.contains("--node-pool alpha=POOL"), "{e}");
        o.node_pools.insert("alpha".into(), "a".into());
        o.node_pools.insert("bravo".into(), "b".into());
        let p = plan(&r0, &o).unwrap();
        assert!(lines(&p)[6].contains(r#""StorPoolName":"b""#));
    }

    #[test]
    fn diskless_hosts_and_floating_hosts() {
        let text = "resource fl {
            floating 10.1.1.31:7706 { device minor 6; disk /dev/vg/fl_00000; meta-disk internal; node-id 0; }
            floating 10.1.1.32:7706 { device minor 6; disk none; node-id 1; }
        }";
        let r = parse_resource(text, None).unwrap();
        let mut o = opts();
        o.sizes = BTreeMap::from([(0, 4 << 20)]);
        let e = plan(&r, &o).unwrap_err().to_string();
        assert!(e.contains("--floating-node 10.1.1.31=<node>"), "{e}");
        o.floating_nodes.insert("10.1.1.31".into(), "n1".into());
        o.floating_nodes.insert("10.1.1.32".into(), "n2".into());
        let p = plan(&r, &o).unwrap();
        assert_eq!(
            lines(&p).last().unwrap(),
            r#"POST /v1/resource-definitions/fl/resources/n2 {"resource":{"flags":["DRBD_DISKLESS"]},"drbd_node_id":1,"drbd_tcp_ports":[7706]}"#
        );
        assert!(!lines(&p).iter().any(|l| l.contains("OverrideVlmId")));
    }

    #[test]
    fn mutated_configurations_never_panic() {
        let rich = "common { net { max-buffers 4000; } }
resource rich {
    options { quorum majority; }
    net { protocol C; shared-secret x; }
    disk { resync-rate 100M; rs-discard-granularity 4096; }
    startup { wfc-timeout 1; }
    volume 0 { device minor 7; disk /dev/vg/rich_00000; meta-disk internal; disk { al-extents 99; } }
    on alpha { node-id 0; address 10.0.0.1:7007; }
    on bravo { node-id 1; address ipv6 [fd00::2]:7007; }
    on charlie { node-id 2; address 10.0.0.3:7007; volume 0 { disk none; } }
    connection { path { host alpha address 10.0.0.1:7007; host bravo address 10.9.0.2:7007; }
                 path { host alpha address 10.8.0.1:7007; host bravo address 10.8.0.2:7008; }
                 net { sndbuf-size 1M; } }
    connection-mesh { hosts alpha bravo charlie; net { ping-int 3; } }
}";
        let interfaces = BTreeMap::from([
            ("alpha".to_string(), vec![nic("default", "10.0.0.1")]),
            (
                "bravo".to_string(),
                vec![nic("default", "10.0.0.2"), nic("x", "fd00::2")],
            ),
            ("charlie".to_string(), vec![]),
        ]);
        for (round, base) in [LEGACY.as_bytes(), rich.as_bytes()].into_iter().enumerate() {
            let planned = mutate_and_plan(base, |o| {
                o.net_interfaces = interfaces.clone();
                o.create_net_interfaces = round == 1;
            });
            assert!(planned > 0, "some mutations stay adoptable");
        }
    }

    fn mutate_and_plan(base: &[u8], adjust: impl Fn(&mut Options)) -> usize {
        let pieces: [&[u8]; 12] = [
            b"{",
            b"}",
            b";",
            b"\"",
            b"#",
            b"volume 0",
            b"on x",
            b"floating [::1]:1",
            b"meta-disk /dev/x",
            b"device minor 99999999999",
            b"address",
            b"node-id 31",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut planned = 0;
        for _ in 0..5000 {
            let mut text = base.to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % (text.len() + 1);
                match next() % 3 {
                    0 if at < text.len() => {
                        let end = (at + (next() as usize) % 8).min(text.len());
                        text.drain(at..end);
                    }
                    _ => {
                        let p = pieces[(next() as usize) % pieces.len()];
                        text.splice(at..at, p.iter().copied());
                    }
                }
            }
            let text = String::from_utf8_lossy(&text);
            if let Ok(r) = parse_resource(&text, None) {
                let mut o = opts();
                adjust(&mut o);
                for h in &r.hosts {
                    for nr in h.volumes.keys() {
                        o.sizes.insert(*nr, 1 << 20);
                    }
                }
                if let Ok(p) = plan(&r, &o) {
                    planned += 1;
                    for s in &p.settings {
                        let _ = s.to_string();
                    }
                    for a in &p.address_problems {
                        let _ = a.to_string();
                    }
                }
            }
        }
        planned
    }

    #[test]
    fn platform_owners() {
        let text = LEGACY.replace("volume 10", "volume 0");
        let r = parse_resource(&text, None).unwrap();
        let mut o = opts();
        o.sizes = BTreeMap::from([(0, 1_371_956 * 1024)]);
        o.owner = Some(Owner::Proxmox { vmid: 100 });
        let e = plan(&r, &o).unwrap_err().to_string();
        assert!(e.contains("--resource-group"), "{e}");
        o.resource_group = Some("pve-rg".into());
        let p = plan(&r, &o).unwrap();
        assert!(
            lines(&p)[0].contains(r#""resource_group_name":"pve-rg""#),
            "{}",
            lines(&p)[0]
        );
        assert!(proxmox::is_pm_name(&p.name), "{}", p.name);
        assert_eq!(
            plan(&r, &o).unwrap().name,
            p.name,
            "stable between dry run and apply"
        );
        assert!(
            lines(&p)[0].contains(r#""props":{"Aux/pm/vmid":"100"}"#),
            "{}",
            lines(&p)[0]
        );
        assert!(lines(&p)[4].contains(r#""OverrideVlmId":"legacy_data""#));
        o.name = Some("vm-100-disk-1".into());
        assert_eq!(plan(&r, &o).unwrap().name, "vm-100-disk-1");
        o.name = Some("vm-101-disk-1".into());
        assert!(plan(&r, &o)
            .unwrap_err()
            .to_string()
            .contains("belongs to VM 101"));
        o.name = None;
        o.owner = Some(Owner::Docker {
            name: "pg.data".into(),
        });
        let p = plan(&r, &o).unwrap();
        assert_eq!(p.name, docker::resource_name("pg.data").unwrap());
        assert!(
            lines(&p)[0].contains(
                r#""Aux/docker-volume-name":"pg.data","Aux/is-linstor-docker-volume":"true""#
            ),
            "{}",
            lines(&p)[0]
        );
        let r10 = parse_resource(LEGACY, None).unwrap();
        let e = plan(&r10, &o).unwrap_err().to_string();
        assert!(e.contains("exactly one volume, number 0"), "{e}");
    }

    fn nic(name: &str, address: &str) -> NetInterface {
        NetInterface {
            name: name.into(),
            address: address.into(),
            ..Default::default()
        }
    }

    fn fate_of<'a>(p: &'a Plan, id: &str) -> &'a Fate {
        &p.settings
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no setting {id}: {:#?}", p.settings))
            .fate
    }

    #[test]
    fn addresses_are_matched_to_the_nodes_interfaces() {
        let r = parse_resource(LEGACY, None).unwrap();
        let mut o = opts();
        o.net_interfaces = BTreeMap::from([
            (
                "alpha".to_string(),
                vec![nic("default", "192.168.0.1"), nic("data", "10.0.0.1")],
            ),
            ("bravo".to_string(), vec![nic("default", "10.0.0.2")]),
        ]);
        let p = plan(&r, &o).unwrap();
        assert!(p.address_problems.is_empty(), "{:?}", p.address_problems);
        let l = lines(&p);
        assert!(
            l[5].contains(r#""props":{"PrefNic":"data","StorPoolName":"vg0pool"}"#),
            "{}",
            l[5]
        );
        assert!(!l[6].contains("PrefNic"), "{}", l[6]);
        assert!(
            matches!(fate_of(&p, "on:alpha/address"), Fate::Carried { steps, how } if steps == &[6] && how.contains("PrefNic=data"))
        );

        o.net_interfaces
            .insert("alpha".into(), vec![nic("default", "192.168.0.1")]);
        let p = plan(&r, &o).unwrap();
        let [a] = p.address_problems.as_slice() else {
            panic!("{:?}", p.address_problems)
        };
        let msg = a.to_string();
        assert!(
            msg.starts_with("node 'alpha': the peers connect to it at 10.0.0.1:15500, but LINSTOR has no interface with 10.0.0.1 (it has 'default' 192.168.0.1)")
                && msg.contains(r#"POST /v1/nodes/alpha/net-interfaces {"name":"adopt0","address":"10.0.0.1"}"#)
                && msg.contains("PrefNic=adopt0 of its resource")
                && msg.contains("linstor node interface create alpha adopt0 10.0.0.1"),
            "{msg}"
        );
        assert!(!lines(&p).iter().any(|l| l.contains("net-interfaces")));

        o.create_net_interfaces = true;
        let p = plan(&r, &o).unwrap();
        assert!(p.address_problems.is_empty());
        let l = lines(&p);
        assert_eq!(
            l[5],
            r#"POST /v1/nodes/alpha/net-interfaces {"name":"adopt0","address":"10.0.0.1"}"#
        );
        assert!(l[6].contains(r#""PrefNic":"adopt0""#), "{}", l[6]);
        assert!(
            matches!(fate_of(&p, "on:alpha/address"), Fate::Carried { steps, .. } if steps == &[6, 7])
        );
    }

    #[test]
    fn every_statement_is_carried_or_named_and_drop_names_only_losses() {
        let text = "resource rr {
            device minor 5; disk /dev/vg/rr_00000; meta-disk internal;
            net { protocol A; }
            stacked-on-top-of lower;
            on aa { node-id 0; address 10.0.0.1:7005; volume 0 { disk { disk-timeout 50; } } }
            on bb { node-id 1; address 10.0.0.2:7005; proxy { memlimit 100M; } }
            on cc { node-id 2; address 10.0.0.3:7005; }
            connection-mesh { hosts aa bb; net { protocol B; ping-int 5; } }
            connection { host aa; host bb; net { protocol C; } disk { al-extents 100; } }
        }";
        let r = parse_resource(text, None).unwrap();
        let mut o = opts();
        o.sizes = BTreeMap::from([(0, 1 << 30)]);
        let p = plan(&r, &o).unwrap();
        for (id, want) in [
            ("resource/stacked-on-top-of", "does not know this statement"),
            ("on:bb/proxy", "does not know this statement"),
            ("on:aa/volume:0/disk/disk-timeout", "one host's volume"),
            (
                "connection:aa-bb/disk/al-extents",
                "DrbdOptions/Disk/al-extents on a resource connection",
            ),
            ("connection:aa-cc", "not connected today"),
            ("connection:bb-cc", "not connected today"),
        ] {
            match fate_of(&p, id) {
                Fate::Lost(why) => assert!(why.contains(want), "{id}: {why}"),
                other => panic!("{id}: {other:?}"),
            }
        }
        let conn = lines(&p)
            .into_iter()
            .find(|l| l.contains("resource-connections/aa/bb"))
            .unwrap();
        assert!(
            conn.ends_with(r#"{"override_props":{"DrbdOptions/Net/ping-int":"5","DrbdOptions/Net/protocol":"C"}}"#),
            "the connection's own section wins over the mesh: {conn}"
        );
        assert!(
            matches!(fate_of(&p, "net/protocol"), Fate::Carried { how, .. } if how == "DrbdOptions/Net/protocol=A")
        );
        assert_eq!(p.unaccepted_losses().len(), 6);

        o.drop = ["connection:aa-cc", "connection:bb-cc"]
            .into_iter()
            .map(String::from)
            .collect();
        let p = plan(&r, &o).unwrap();
        assert_eq!(p.unaccepted_losses().len(), 4);
        o.drop.insert("net/protocol".into());
        let e = plan(&r, &o).unwrap_err().to_string();
        assert!(
            e.contains("--drop net/protocol names no setting that adopt cannot carry; those are: ")
                && e.contains("resource/stacked-on-top-of"),
            "{e}"
        );
    }
}
