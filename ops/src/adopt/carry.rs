//! What of a hand-made configuration goes beyond the numbers, and the calls that keep it: the
//! options of `net`, `disk`, `options` and `handlers` sections (common, resource, volume,
//! connection, mesh) as `DrbdOptions/…` properties; the addresses the peers use today checked
//! against the LINSTOR nodes' interfaces (`PrefNic`, interfaces to create); several paths as
//! resource-connection `Paths/…` properties. Every setting gets a [`Fate`] for the report.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use linstor_common::api::{NetInterface, Props};

use super::options::{companion, keep, Keep, Ns};
use super::parse::{Address, DrbdOption, DrbdResource, OptionSection};

/// LINSTOR's property naming the interface a resource's DRBD address comes from.
pub const PREF_NIC_PROP: &str = "PrefNic";

/// What becomes of one setting of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Kept by these steps (1-based) through this property or field.
    Carried {
        /// Steps of the plan.
        steps: Vec<usize>,
        /// Property (`key=value`) or what the steps set.
        how: String,
    },
    /// Kept without a call; why.
    Same(String),
    /// Not kept; why.
    Lost(String),
}

/// One setting of the configuration and its fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Identifier for `--drop` (`net/shared-secret`, `startup/wfc-timeout`, …).
    pub id: String,
    /// The setting as written.
    pub text: String,
    /// 1-based line in the configuration (0 when it is not a line of it).
    pub line: usize,
    /// What becomes of it.
    pub fate: Fate,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.id, self.text)?;
        if self.line > 0 {
            write!(f, " (line {})", self.line)?;
        }
        match &self.fate {
            Fate::Carried { steps, how } => {
                let s: Vec<String> = steps.iter().map(usize::to_string).collect();
                let word = if steps.len() == 1 { "step" } else { "steps" };
                write!(f, " -> carried by {word} {} as {how}", s.join(", "))
            }
            Fate::Same(why) => write!(f, " -> kept: {why}"),
            Fate::Lost(why) => write!(f, " -> NOT CARRIED: {why}"),
        }
    }
}

/// A node whose replication address is not one of its LINSTOR interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressProblem {
    /// LINSTOR node.
    pub node: String,
    /// The address the peers use today.
    pub address: Address,
    /// The node's interfaces in LINSTOR (name, address).
    pub interfaces: Vec<(String, String)>,
    /// The interface the plan names for it (to create).
    pub nic: String,
    /// Where the plan uses that interface (`PrefNic=…` of its resource, a path).
    pub used_as: String,
}

impl std::fmt::Display for AddressProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let has = if self.interfaces.is_empty() {
            "none".to_string()
        } else {
            self.interfaces
                .iter()
                .map(|(n, a)| format!("'{n}' {a}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (node, ip, nic) = (&self.node, &self.address.ip, &self.nic);
        write!(
            f,
            "node '{node}': the peers connect to it at {}, but LINSTOR has no interface with {ip} (it has {has}), so DRBD would be configured with another address; rerun with --create-net-interfaces to add POST /v1/nodes/{node}/net-interfaces {{\"name\":\"{nic}\",\"address\":\"{ip}\"}} to the plan (the plan already uses it as {}), or create it yourself: `linstor node interface create {node} {nic} {ip}`",
            self.address, self.used_as
        )
    }
}

/// Where a property goes; resolved to step numbers once the plan is assembled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Target {
    /// The resource definition's options call.
    RdOptions,
    /// The options call of a volume definition.
    VdOptions(u32),
    /// Creating an interface (node, name).
    NetInterface(String, String),
    /// Creating the resource on a node.
    Resource(String),
    /// The resource connection between two nodes.
    Connection(String, String),
}

/// A host as the carrier sees it.
#[derive(Debug, Clone)]
pub(super) struct CarryHost {
    /// Name in the configuration (`on` name, or the floating address).
    pub drbd: String,
    /// Its section, as setting ids name it (`on:alpha`, `floating:10.0.0.1`).
    pub place: String,
    /// LINSTOR node.
    pub node: String,
    /// Replication address.
    pub address: Address,
}

/// Properties and calls that keep the configuration, before they become steps.
#[derive(Debug, Default)]
pub(super) struct Carried {
    /// Resource definition properties, with the sections they come from.
    pub rd: Props,
    /// Why (one clause per section).
    pub rd_why: Vec<String>,
    /// Volume definition properties.
    pub vd: BTreeMap<u32, Props>,
    /// Interfaces to create, by (node, interface name), with why.
    pub nics: BTreeMap<(String, String), (NetInterface, String)>,
    /// Resource properties per node (`PrefNic`) and why.
    pub rsc: BTreeMap<String, (Props, String)>,
    /// Resource connection properties per pair, with why.
    pub conns: BTreeMap<(String, String), (Props, Vec<String>)>,
    /// Settings with the targets that keep them.
    pub settings: Vec<(Setting, Vec<Target>)>,
    /// Addresses LINSTOR does not know.
    pub problems: Vec<AddressProblem>,
}

fn same_ip(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.eq_ignore_ascii_case(b),
    }
}

fn setting(id: String, o: &DrbdOption, fate: Fate) -> Setting {
    let value = if o.name == "shared-secret" {
        "<hidden>"
    } else {
        o.value.as_str()
    };
    Setting {
        id,
        text: format!("{} {value}", o.name),
        line: o.line,
        fate,
    }
}

/// An option, its setting id, and its property (key, value) or why it has none.
type MappedOption = (DrbdOption, String, Result<(String, String), Fate>);

struct Ctx<'a> {
    res: &'a DrbdResource,
    hosts: &'a [CarryHost],
    port: u16,
    interfaces: &'a BTreeMap<String, Vec<NetInterface>>,
    create: bool,
    out: Carried,
}

impl Ctx<'_> {
    fn node_of(&self, drbd: &str) -> Option<&CarryHost> {
        self.hosts.iter().find(|h| h.drbd == drbd)
    }

    fn nics_of(&self, node: &str) -> Option<&Vec<NetInterface>> {
        self.interfaces
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(node))
            .map(|(_, v)| v)
    }

    /// The interface of `node` with address `ip`: an existing one, or the one the plan creates.
    /// `None` when LINSTOR does not know the node (reported elsewhere).
    fn nic_for(&mut self, node: &str, address: &Address, used_as: &str) -> Option<(String, bool)> {
        let nics = self.nics_of(node)?.clone();
        if let Some(n) = nics.iter().find(|n| same_ip(&n.address, &address.ip)) {
            return Some((n.name.clone(), true));
        }
        if let Some(p) = self
            .out
            .problems
            .iter()
            .find(|p| p.node == node && same_ip(&p.address.ip, &address.ip))
        {
            return Some((p.nic.clone(), false));
        }
        if let Some(((_, name), _)) = self
            .out
            .nics
            .iter()
            .find(|((n, _), (nic, _))| n == node && same_ip(&nic.address, &address.ip))
        {
            return Some((name.clone(), false));
        }
        let taken: BTreeSet<String> = nics
            .iter()
            .map(|n| n.name.to_ascii_lowercase())
            .chain(
                self.out
                    .nics
                    .keys()
                    .filter(|(n, _)| n == node)
                    .map(|(_, name)| name.to_ascii_lowercase()),
            )
            .chain(
                self.out
                    .problems
                    .iter()
                    .filter(|p| p.node == node)
                    .map(|p| p.nic.to_ascii_lowercase()),
            )
            .collect();
        let name = (0..)
            .map(|i| format!("adopt{i}"))
            .find(|n| !taken.contains(n))
            .unwrap_or_default();
        if self.create {
            self.out.nics.insert(
                (node.to_string(), name.clone()),
                (
                    NetInterface {
                        name: name.clone(),
                        address: address.ip.clone(),
                        ..Default::default()
                    },
                    format!(
                        "asked with --create-net-interfaces: the peers reach node '{node}' at {address}, an address LINSTOR does not have for it; DRBD keeps using it"
                    ),
                ),
            );
        } else {
            self.out.problems.push(AddressProblem {
                node: node.to_string(),
                address: address.clone(),
                interfaces: nics
                    .iter()
                    .map(|n| (n.name.clone(), n.address.clone()))
                    .collect(),
                nic: name.clone(),
                used_as: used_as.replace("{nic}", &name),
            });
        }
        Some((name, false))
    }

    fn addresses(&mut self) {
        let hosts = self.hosts;
        for h in hosts {
            let Some(nics) = self.nics_of(&h.node).cloned() else {
                self.out.settings.push((
                    Setting {
                        id: format!("{}/address", h.place),
                        text: format!("address {} {}", h.address.family, h.address),
                        line: 0,
                        fate: Fate::Carried {
                            steps: Vec::new(),
                            how: format!(
                                "drbd_port; the address is checked once '{}' is a LINSTOR node",
                                h.node
                            ),
                        },
                    },
                    vec![Target::Resource(h.node.clone())],
                ));
                continue;
            };
            let default = nics
                .iter()
                .find(|n| n.name.eq_ignore_ascii_case("default"))
                .or(nics.first());
            let id = format!("{}/address", h.place);
            let text = format!("address {} {}", h.address.family, h.address);
            if let Some(d) = default.filter(|d| same_ip(&d.address, &h.address.ip)) {
                self.out.settings.push((
                    Setting {
                        id,
                        text,
                        line: 0,
                        fate: Fate::Carried {
                            steps: Vec::new(),
                            how: format!(
                                "drbd_port and the address of interface '{}' of node '{}', which LINSTOR uses by default",
                                d.name, h.node
                            ),
                        },
                    },
                    vec![Target::Resource(h.node.clone())],
                ));
                continue;
            }
            let Some((nic, exists)) = self.nic_for(
                &h.node,
                &h.address,
                &format!("{PREF_NIC_PROP}={{nic}} of its resource"),
            ) else {
                continue;
            };
            let mut p = Props::new();
            p.insert(PREF_NIC_PROP.into(), nic.clone());
            let why = if exists {
                format!(
                    "DRBD address {} is interface '{nic}' of node '{}', not its default interface",
                    h.address, h.node
                )
            } else {
                format!(
                    "DRBD address {} becomes interface '{nic}' of node '{}'",
                    h.address, h.node
                )
            };
            self.out.rsc.insert(h.node.clone(), (p, why));
            let mut targets = vec![Target::Resource(h.node.clone())];
            if !exists && self.create {
                targets.insert(0, Target::NetInterface(h.node.clone(), nic.clone()));
            }
            self.out.settings.push((
                Setting {
                    id,
                    text,
                    line: 0,
                    fate: Fate::Carried {
                        steps: Vec::new(),
                        how: format!("{PREF_NIC_PROP}={nic} (interface {nic} = {})", h.address.ip),
                    },
                },
                targets,
            ));
        }
    }

    /// Options of `sections` found at `place` (id prefix): the properties and each setting.
    fn options(
        &self,
        id_prefix: &str,
        sections: &[OptionSection],
        allowed: &[Ns],
        scope: &str,
    ) -> Vec<MappedOption> {
        let mut out = Vec::new();
        for sec in sections {
            for o in &sec.options {
                let id = format!("{id_prefix}{}/{}", sec.kind, o.name);
                let r = match keep(&sec.kind, &o.name, &o.value) {
                    Keep::Prop { ns, key, value } if allowed.contains(&ns) => Ok((key, value)),
                    Keep::Prop { key, .. } => {
                        Err(Fate::Lost(format!("LINSTOR does not take {key} {scope}")))
                    }
                    Keep::Same(why) => Err(Fate::Same(why)),
                    Keep::Lost(why) => Err(Fate::Lost(why)),
                };
                out.push((o.clone(), id, r));
            }
        }
        out
    }

    fn resource_options(&mut self) {
        let res = self.res;
        let all = [
            Ns::Net,
            Ns::Disk,
            Ns::PeerDevice,
            Ns::Resource,
            Ns::Handlers,
        ];
        let own = self.options("", &res.sections, &all, "on a resource definition");
        let common = self.options("common/", &res.common, &all, "on a resource definition");
        let own_keys: BTreeSet<String> = own
            .iter()
            .filter_map(|(_, _, r)| r.as_ref().ok().map(|(k, _)| k.clone()))
            .collect();
        let mut sections = BTreeSet::new();
        for (o, id, r) in common.into_iter().chain(own) {
            let fate_target = match r {
                Ok((key, value)) => {
                    if id.starts_with("common/") && own_keys.contains(&key) {
                        (
                            Fate::Same(
                                "the resource's own section overrides it, as in DRBD".into(),
                            ),
                            vec![],
                        )
                    } else {
                        sections.insert(id.split('/').rev().nth(1).unwrap_or("").to_string());
                        self.out.rd.insert(key.clone(), value.clone());
                        let mut how = format!("{key}={value}");
                        if let Some((k, v)) = companion(&key) {
                            self.out.rd.insert(k.into(), v.into());
                            how.push_str(&format!(" with {k}={v}"));
                        }
                        (
                            Fate::Carried { steps: vec![], how },
                            vec![Target::RdOptions],
                        )
                    }
                }
                Err(f) => (f, vec![]),
            };
            self.out
                .settings
                .push((setting(id, &o, fate_target.0), fate_target.1));
        }
        if !sections.is_empty() {
            self.out.rd_why.push(format!(
                "the {} section(s) of the configuration; LINSTOR writes its own defaults for options without a property",
                sections.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        let has_quorum = res
            .common
            .iter()
            .chain(&res.sections)
            .any(|s| s.kind == "options" && s.options.iter().any(|o| o.name == "quorum"));
        if !has_quorum {
            self.out
                .rd
                .insert("DrbdOptions/Resource/quorum".into(), "off".into());
            self.out.rd_why.push(
                "quorum off: the configuration sets no quorum, and LINSTOR's auto-quorum would turn on quorum majority once three replicas (or two and a tie-breaker) exist".into(),
            );
            self.out.settings.push((
                Setting {
                    id: "options/quorum".into(),
                    text: "(not set: DRBD's default quorum off)".into(),
                    line: 0,
                    fate: Fate::Carried {
                        steps: vec![],
                        how: "DrbdOptions/Resource/quorum=off".into(),
                    },
                },
                vec![Target::RdOptions],
            ));
        }
    }

    fn volume_options(&mut self) {
        let res = self.res;
        for (nr, sections) in &res.volume_sections {
            let opts = self.options(
                &format!("volume:{nr}/"),
                sections,
                &[Ns::Disk],
                "on a volume definition (only disk options are per volume)",
            );
            for (o, id, r) in opts {
                let (fate, t) = match r {
                    Ok((key, value)) => {
                        let vd = self.out.vd.entry(*nr).or_default();
                        vd.insert(key.clone(), value.clone());
                        let mut how = format!("{key}={value}");
                        if let Some((k, v)) = companion(&key) {
                            vd.insert(k.into(), v.into());
                            how.push_str(&format!(" with {k}={v}"));
                        }
                        (
                            Fate::Carried { steps: vec![], how },
                            vec![Target::VdOptions(*nr)],
                        )
                    }
                    Err(f) => (f, vec![]),
                };
                self.out.settings.push((setting(id, &o, fate), t));
            }
        }
        for h in &res.hosts {
            let drbd = match &h.name {
                super::HostName::On(n) => n.clone(),
                super::HostName::Floating(a) => a.to_string(),
            };
            for (nr, sections) in &h.volume_sections {
                for sec in sections {
                    for o in &sec.options {
                        self.out.settings.push((
                            setting(
                                format!("on:{drbd}/volume:{nr}/{}/{}", sec.kind, o.name),
                                o,
                                Fate::Lost(
                                    "an option of one host's volume; adopt carries volume options per volume definition only (set it on the resource-level volume section if every host uses it)".into(),
                                ),
                            ),
                            vec![],
                        ));
                    }
                }
            }
        }
    }

    fn pair(&self, a: &str, b: &str) -> Option<(String, String)> {
        let ia = self.hosts.iter().position(|h| h.drbd == a)?;
        let ib = self.hosts.iter().position(|h| h.drbd == b)?;
        if ia == ib {
            return None;
        }
        let (x, y) = if ia < ib { (ia, ib) } else { (ib, ia) };
        Some((self.hosts[x].node.clone(), self.hosts[y].node.clone()))
    }

    fn conn_option(
        &mut self,
        pairs: &[(String, String)],
        o: &DrbdOption,
        id: String,
        r: Result<(String, String), Fate>,
    ) {
        let (fate, targets) = match r {
            Ok((key, value)) => {
                for p in pairs {
                    let e = self.out.conns.entry(p.clone()).or_default();
                    e.0.insert(key.clone(), value.clone());
                    if !e.1.iter().any(|w| w == "options") {
                        e.1.push("options".into());
                    }
                }
                (
                    Fate::Carried {
                        steps: vec![],
                        how: format!("{key}={value}"),
                    },
                    pairs
                        .iter()
                        .map(|(a, b)| Target::Connection(a.clone(), b.clone()))
                        .collect(),
                )
            }
            Err(f) => (f, vec![]),
        };
        self.out.settings.push((setting(id, o, fate), targets));
    }

    fn connections(&mut self) {
        let res = self.res;
        let conn_ns = [Ns::Net, Ns::PeerDevice];
        let scope =
            "on a resource connection (only net and peer-device options are per connection)";
        let mut connected: BTreeSet<(String, String)> = BTreeSet::new();
        for m in &res.meshes {
            let mut pairs = Vec::new();
            for (i, a) in m.hosts.iter().enumerate() {
                for b in &m.hosts[i + 1..] {
                    if let Some(p) = self.pair(a, b) {
                        pairs.push(p);
                    }
                }
            }
            connected.extend(pairs.iter().cloned());
            for (o, id, r) in self.options("connection-mesh/", &m.sections, &conn_ns, scope) {
                self.conn_option(&pairs, &o, id, r);
            }
        }
        for c in &res.connections {
            let label = c.hosts.join("-");
            let pair = match c.hosts.as_slice() {
                [a, b] => self.pair(a, b),
                _ => None,
            };
            let Some(pair) = pair else {
                self.out.settings.push((
                    Setting {
                        id: format!("connection:{label}"),
                        text: format!("connection {{ {} }}", c.hosts.join(", ")),
                        line: c.line,
                        fate: Fate::Lost(
                            "a connection section must name two hosts of the resource".into(),
                        ),
                    },
                    vec![],
                ));
                continue;
            };
            connected.insert(pair.clone());
            let prefix = format!("connection:{label}/");
            for (o, id, r) in self.options(&prefix, &c.sections, &conn_ns, scope) {
                self.conn_option(std::slice::from_ref(&pair), &o, id, r);
            }
            self.paths(c, &pair, &label);
        }
        if !res.meshes.is_empty() || !res.connections.is_empty() {
            for (i, a) in self.hosts.iter().enumerate() {
                for b in &self.hosts[i + 1..] {
                    let p = (a.node.clone(), b.node.clone());
                    if !connected.contains(&p) {
                        self.out.settings.push((
                            Setting {
                                id: format!("connection:{}-{}", a.drbd, b.drbd),
                                text: "(no connection)".into(),
                                line: 0,
                                fate: Fate::Lost(format!(
                                    "'{}' and '{}' are not connected today; LINSTOR connects every pair of nodes of a resource",
                                    a.drbd, b.drbd
                                )),
                            },
                            vec![],
                        ));
                    }
                }
            }
        }
    }

    fn paths(&mut self, c: &super::parse::DrbdConnection, pair: &(String, String), label: &str) {
        let main_only = match c.paths.as_slice() {
            [p] => p.iter().all(|(h, a)| {
                self.node_of(h)
                    .is_some_and(|ch| same_ip(&ch.address.ip, &a.ip) && ch.address.port == a.port)
            }),
            _ => false,
        };
        for (k, path) in c.paths.iter().enumerate() {
            let id = format!("connection:{label}/path:{}", k + 1);
            let text = format!(
                "path {{ {} }}",
                path.iter()
                    .map(|(h, a)| format!("host {h} address {} {a}", a.family))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            let line = c.line;
            if main_only {
                self.out.settings.push((
                    Setting {
                        id,
                        text,
                        line,
                        fate: Fate::Same(
                            "the only path, between the hosts' own addresses, which LINSTOR writes from their interfaces".into(),
                        ),
                    },
                    vec![Target::Connection(pair.0.clone(), pair.1.clone())],
                ));
                continue;
            }
            if let Some((_, a)) = path.iter().find(|(_, a)| a.port != self.port) {
                self.out.settings.push((
                    Setting {
                        id,
                        text,
                        line,
                        fate: Fate::Lost(format!(
                            "port {} differs from the resource's port {}; LINSTOR uses the resource's port on every path",
                            a.port, self.port
                        )),
                    },
                    vec![],
                ));
                continue;
            }
            if path.len() != 2 {
                self.out.settings.push((
                    Setting {
                        id,
                        text,
                        line,
                        fate: Fate::Lost("a path must name both hosts with an address".into()),
                    },
                    vec![],
                ));
                continue;
            }
            let mut props = Props::new();
            let mut targets = Vec::new();
            let mut unknown = None;
            for (h, a) in path {
                let Some(node) = self.node_of(h).map(|ch| ch.node.clone()) else {
                    unknown = Some(format!("'{h}' is not a host of the resource"));
                    continue;
                };
                let used_as = format!("Paths/path{}/{node}={{nic}} of connection {label}", k + 1);
                match self.nic_for(&node, a, &used_as) {
                    Some((nic, exists)) => {
                        if !exists && self.create {
                            targets.push(Target::NetInterface(node.clone(), nic.clone()));
                        }
                        props.insert(format!("Paths/path{}/{node}", k + 1), nic);
                    }
                    None => {
                        unknown = Some(format!(
                            "node '{node}' is not a LINSTOR node, so its interfaces are unknown; add it and run adopt again"
                        ))
                    }
                }
            }
            if let Some(why) = unknown {
                self.out.settings.push((
                    Setting {
                        id,
                        text,
                        line,
                        fate: Fate::Lost(why),
                    },
                    vec![],
                ));
                continue;
            }
            targets.push(Target::Connection(pair.0.clone(), pair.1.clone()));
            let how = props
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let e = self.out.conns.entry(pair.clone()).or_default();
            e.0.extend(props);
            if !e.1.iter().any(|w| w == "paths") {
                e.1.push("paths".into());
            }
            self.out.settings.push((
                Setting {
                    id,
                    text,
                    line,
                    fate: Fate::Carried { steps: vec![], how },
                },
                targets,
            ));
        }
    }

    fn rest(&mut self) {
        let res = self.res;
        for u in &res.unhandled {
            self.out.settings.push((
                Setting {
                    id: format!(
                        "{}/{}",
                        u.place.replace(' ', ":"),
                        u.text.split(' ').next().unwrap_or("")
                    ),
                    text: u.text.clone(),
                    line: u.line,
                    fate: Fate::Lost(
                        "adopt does not know this statement, and LINSTOR would not write it".into(),
                    ),
                },
                vec![],
            ));
        }
        for o in &res.global {
            self.out.settings.push((
                setting(
                    format!("global/{}", o.name),
                    o,
                    Fate::Same(
                        "the global section stays in /etc/drbd.d/global_common.conf; LINSTOR does not write it".into(),
                    ),
                ),
                vec![],
            ));
        }
    }
}

/// Everything beyond the numbers that adopting `res` must keep.
pub(super) fn carry(
    res: &DrbdResource,
    hosts: &[CarryHost],
    port: u16,
    interfaces: &BTreeMap<String, Vec<NetInterface>>,
    create: bool,
) -> Carried {
    let mut c = Ctx {
        res,
        hosts,
        port,
        interfaces,
        create,
        out: Carried::default(),
    };
    c.addresses();
    c.resource_options();
    c.volume_options();
    c.connections();
    c.rest();
    c.out
}
