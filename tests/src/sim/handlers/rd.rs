//! Resource definitions and volume definitions.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

impl Core {
    pub(crate) fn rd_list(&self, req: &Req<'_>) -> Value {
        let names: Vec<String> = req
            .q_all("resource_definitions")
            .iter()
            .map(|n| key(n))
            .collect();
        let pf = req.q_all("props");
        let vds = req.q_bool("with_volume_definitions");
        Value::Array(
            self.st
                .rds
                .iter()
                .filter(|(k, rd)| {
                    (names.is_empty() || names.contains(k)) && props_filter_ok(&rd.props, &pf)
                })
                .map(|(_, rd)| self.rd_json(rd, vds))
                .collect(),
        )
    }

    pub(crate) fn new_rd(
        &mut self,
        name: &str,
        rg: &str,
        props: Props,
        external: &str,
    ) -> Result<Entry, Fail> {
        if !valid_rsc_name(name) {
            return Err(Box::new(
                Entry::new(
                    FAIL_INVLD_RSC_NAME,
                    format!("Invalid name: Resource definition name '{name}' is invalid."),
                )
                .cause("The name does not match the naming rules for resource names.")
                .obj("RscDfn", name),
            ));
        }
        if self.st.rds.contains_key(&key(name)) {
            return Err(Box::new(
                Entry::new(
                    FAIL_EXISTS_RSC_DFN,
                    format!("A resource definition with the name '{name}' already exists"),
                )
                .obj("RscDfn", name),
            ));
        }
        let rg_name = self.rg_ref(rg)?.name.clone();
        let mut p = Props::new();
        modify_props(&mut p, &props, &[], &[])?;
        let id = uuid();
        self.st.rds.insert(
            key(name),
            RdSt {
                name: name.to_string(),
                uuid: id.clone(),
                external_name: external.to_string(),
                rg: rg_name,
                props: p,
                secret: uuid().replace('-', "")[..20].to_string(),
                ..Default::default()
            },
        );
        Ok(Entry::new(
            CRT | OBJ_RSC_DFN | CREATED,
            format!("New resource definition '{name}' created."),
        )
        .details(format!("Resource definition '{name}' UUID is: {id}"))
        .obj("RscDfn", name)
        .obj("UUID", id))
    }

    pub(crate) fn rd_create(&mut self, req: &Req<'_>) -> MR {
        let b: RdCreate = parse(req.body)?;
        let inner = b.resource_definition;
        let mut name = inner.name.clone();
        let ext = inner.external_name.clone().unwrap_or_default();
        if name.is_empty() && !ext.is_empty() {
            name = self.name_from_external(&ext);
        }
        let rg = inner
            .resource_group_name
            .clone()
            .unwrap_or_else(|| DFLT_RG.into());
        let port = drbd_port_ok(b.drbd_port)?;
        let slots = peer_slots_ok(b.drbd_peer_slots)?;
        let e = self.new_rd(&name, &rg, inner.props, &ext)?;
        if let Some(rd) = self.st.rds.get_mut(&key(&name)) {
            rd.port = port;
            rd.peer_slots = slots;
        }
        Ok(vec![e])
    }

    pub(crate) fn name_from_external(&self, ext: &str) -> String {
        if uuid::Uuid::parse_str(ext).is_ok() {
            return format!("LS_{}", ext.to_ascii_uppercase());
        }
        let mut n: String = ext
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(48)
            .collect();
        if !n.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            n = format!("_{n}");
            n.truncate(48);
        }
        if !valid_rsc_name(&n) || self.st.rds.contains_key(&key(&n)) {
            n = format!("LS_{}", uuid().to_ascii_uppercase());
        }
        n
    }

    pub(crate) fn rd_modify(&mut self, req: &Req<'_>) -> MR {
        let b: RdModify = parse(req.body)?;
        let rd = self.rd_ref(&req.p[0])?;
        let (rk, name, id) = (key(&rd.name), rd.name.clone(), rd.uuid.clone());
        let new_rg = match &b.resource_group {
            Some(g) => Some(self.rg_ref(g)?.name.clone()),
            None => None,
        };
        let mut props = rd.props.clone();
        let keys = modify_props(
            &mut props,
            &b.override_props,
            &b.delete_props,
            &b.delete_namespaces,
        )?;
        let port = drbd_port_ok(b.drbd_port)?;
        let slots = peer_slots_ok(b.drbd_peer_slots)?;
        if let Some(rd) = self.st.rds.get_mut(&rk) {
            rd.props = props;
            if let Some(g) = new_rg {
                rd.rg = g;
            }
            if port.is_some() {
                rd.port = port;
            }
            if slots.is_some() {
                rd.peer_slots = slots;
            }
        }
        let mut out = vec![
            Entry::new(MODIFIED, format!("Resource definition '{name}' modified."))
                .details(format!("Resource definition '{name}' UUID is: {id}"))
                .obj("RscDfn", &name),
        ];
        out.extend(props_set_entry(&keys));
        self.sync_tiebreaker(&rk, &mut out);
        Ok(out)
    }

    pub(crate) fn rd_delete(&mut self, req: &Req<'_>) -> MR {
        let n = &req.p[0];
        let Some(rd) = self.st.rds.get(&key(n)) else {
            return Ok(vec![Entry::new(
                WARN_NOT_FOUND,
                format!("Resource definition '{n}' not found."),
            )
            .obj("RscDfn", n)]);
        };
        let name = rd.name.clone();
        if !rd.snaps.is_empty() {
            return Err(Box::new(
                Entry::new(
                    FAIL_EXISTS_SNAPSHOT_DFN,
                    format!("Cannot delete resource definition '{name}' because it has snapshots."),
                )
                .obj("RscDfn", &name),
            ));
        }
        if let Some(node) = self.in_use_nodes(rd).first() {
            return Err(Box::new(
                Entry::new(
                    FAIL_IN_USE,
                    format!("Resource '{name}' on node '{node}' is still in use."),
                )
                .cause("Resource is mounted/in use.")
                .correction(format!("Un-mount resource '{name}' on the node '{node}'."))
                .obj("RscDfn", &name),
            ));
        }
        let rk = key(&name);
        let offline: Vec<String> = rd
            .rscs
            .values()
            .filter(|r| !self.node_online(&r.node))
            .map(|r| r.node.clone())
            .collect();
        if !offline.is_empty() {
            let rd = self
                .st
                .rds
                .get_mut(&rk)
                .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
            if !rd.flags.iter().any(|f| f == "DELETE") {
                rd.flags.push("DELETE".into());
            }
            for r in rd.rscs.values_mut() {
                for f in ["DRBD_DELETE", "DELETE"] {
                    if !r.flags.iter().any(|x| x == f) {
                        r.flags.push(f.into());
                    }
                }
            }
            let mut out = vec![Entry::new(
                DELETED,
                format!("Resource definition '{name}' marked for deletion."),
            )
            .obj("RscDfn", &name)];
            for n in offline {
                out.push(not_connected(&n));
            }
            return Ok(out);
        }
        let nodes: Vec<String> = rd.rscs.keys().cloned().collect();
        let mut out = vec![];
        for nk in nodes {
            if let Some(r) = self.drop_resource(&rk, &nk) {
                out.push(
                    Entry::new(
                        DELETED,
                        format!("Resource '{name}' on node '{}' deleted.", r.node),
                    )
                    .obj("Node", r.node),
                );
            }
        }
        if let Some(rd) = self.st.rds.remove(&rk) {
            for vd in rd.vds.values() {
                self.be.remove_volume(&rd.name, vd.nr);
            }
        }
        out.push(
            Entry::new(DELETED, format!("Resource definition '{name}' deleted."))
                .obj("RscDfn", &name),
        );
        Ok(out)
    }

    pub(crate) fn vd_get(&self, rd: &str, nr: &str) -> Result<Value, Fail> {
        let r = self.rd_ref(rd)?;
        nr.parse::<u32>()
            .ok()
            .and_then(|n| r.vds.get(&n))
            .map(|v| self.vd_json(v))
            .ok_or_else(|| {
                fail(
                    FAIL_NOT_FOUND_VLM_DFN,
                    format!("Volume definition '{nr}' of resource definition '{rd}' not found."),
                )
            })
    }

    pub(crate) fn alloc_minor(&self) -> Result<u32, Fail> {
        let used: BTreeSet<u32> = self
            .st
            .rds
            .values()
            .flat_map(|rd| rd.vds.values().map(|v| v.minor))
            .collect();
        (1000..50000).find(|m| !used.contains(m)).ok_or_else(|| {
            fail(
                FAIL_POOL_EXHAUSTED_MINOR_NR,
                "No free minor number available",
            )
        })
    }

    /// Adds a volume definition, creating files and devices for existing resources.
    pub(crate) fn add_vd(
        &mut self,
        rk: &str,
        nr: Option<u32>,
        size: u64,
        props: Props,
        minor: Option<u32>,
    ) -> Result<Entry, Fail> {
        let minor = match minor {
            Some(m) => m,
            None => self.alloc_minor()?,
        };
        let be = self.be.clone();
        let rd = self
            .st
            .rds
            .get_mut(rk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let nr = nr.unwrap_or_else(|| (0..).find(|n| !rd.vds.contains_key(n)).unwrap_or(0));
        if rd.vds.contains_key(&nr) {
            return Err(fail(
                FAIL_EXISTS_VLM_DFN,
                format!("A volume definition with the number {nr} already exists in resource definition '{}'.", rd.name),
            ));
        }
        be.ensure_volume(&rd.name, nr, size)
            .map_err(|e| fail(FAIL_UNKNOWN_ERROR, e))?;
        let id = uuid();
        rd.vds.insert(
            nr,
            VdSt {
                nr,
                uuid: id.clone(),
                size_kib: size,
                minor,
                props,
                flags: vec![],
            },
        );
        for r in rd.rscs.values_mut().filter(|r| !r.is_tiebreaker()) {
            if let Ok(Some(lo)) = be.attach(&r.node, &rd.name, nr, minor) {
                r.loops.insert(nr, lo);
            }
        }
        Ok(Entry::new(
            CRT | OBJ_VLM_DFN | CREATED,
            format!(
                "New volume definition with number '{nr}' of resource definition '{}' created.",
                rd.name
            ),
        )
        .details(format!(
            "Volume definition with number '{nr}' of resource definition '{}' UUID is: {id}",
            rd.name
        ))
        .obj("RscDfn", &rd.name)
        .obj("VlmNr", nr.to_string())
        .obj("UUID", id))
    }

    pub(crate) fn vd_create(&mut self, req: &Req<'_>) -> MR {
        let b: VdCreate = parse(req.body)?;
        let rk = key(&self.rd_ref(&req.p[0])?.name);
        let size = size_ok(b.volume_definition.size_kib.unwrap_or(0))?;
        let nr = match b.volume_definition.volume_number {
            Some(n) if !(0..=65534).contains(&n) => {
                return Err(fail(
                    FAIL_INVLD_VLM_NR,
                    format!("Invalid volume number {n}"),
                ))
            }
            Some(n) => Some(n as u32),
            None => None,
        };
        let mut props = Props::new();
        modify_props(&mut props, &b.volume_definition.props, &[], &[])?;
        let minor = b.drbd_minor_number.map(|m| m as u32);
        if let Some(m) = minor {
            if self
                .st
                .rds
                .values()
                .any(|rd| rd.vds.values().any(|v| v.minor == m))
            {
                return Err(fail(
                    FAIL_INVLD_MINOR_NR,
                    format!("The specified minor number '{m}' is invalid."),
                ));
            }
        }
        Ok(vec![self.add_vd(&rk, nr, size, props, minor)?])
    }

    pub(crate) fn vd_modify(&mut self, req: &Req<'_>) -> MR {
        let b: VdModify = parse(req.body)?;
        let rd = self.rd_ref(&req.p[0])?;
        let (rk, name) = (key(&rd.name), rd.name.clone());
        let nr = req.p[1]
            .parse::<u32>()
            .ok()
            .filter(|n| rd.vds.contains_key(n))
            .ok_or_else(|| {
                fail(
                    FAIL_NOT_FOUND_VLM_DFN,
                    format!(
                        "Volume definition '{}' of resource definition '{name}' not found.",
                        req.p[1]
                    ),
                )
            })?;
        let vd = &rd.vds[&nr];
        let cur = vd.size_kib;
        let mut out = vec![];
        let mut new_size = None;
        if let Some(s) = b.size_kib {
            let s = size_ok(s)?;
            if s == cur {
                out.push(Entry::new(
                    WARN_VLMDFN_RESIZE_SAME_SIZE,
                    "VolumeDefinition already has the expected size, no satellite update will be triggered.",
                ));
            } else if s < cur {
                if !rd.rscs.is_empty() {
                    return Err(fail(
                        FAIL_INVLD_VLM_SIZE,
                        "Shrinking volumes is not supported by layer 'DRBD'. Volumes can only grow in size.",
                    ));
                }
                new_size = Some(s);
            } else {
                if self
                    .eff_prop(rd, "DrbdOptions/ExactSize")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                {
                    return Err(Box::new(
                        Entry::new(
                            FAIL_INVLD_PROP,
                            "Cannot resize volume definition while 'DrbdOptions/ExactSize' is true.",
                        )
                        .correction("Set 'DrbdOptions/ExactSize' to 'false' before resizing."),
                    ));
                }
                if !rd.rscs.is_empty() && !self.all_up_to_date(rd) {
                    return Err(fail(
                        FAIL_NOT_ALL_UPTODATE,
                        "Cannot resize volume, because we have a non-UpToDate DRBD device.",
                    ));
                }
                let grow = s - cur;
                for r in rd.rscs.values().filter(|r| !r.is_diskless()) {
                    if self.pool_free(&key(&r.node)) < grow {
                        return Err(fail(
                            FAIL_NOT_ENOUGH_FREE_SPACE,
                            format!(
                                "Not enough free space in storage pool '{}' on node '{}'.",
                                r.pool, r.node
                            ),
                        ));
                    }
                }
                new_size = Some(s);
            }
        }
        let mut props = vd.props.clone();
        let keys = modify_props(
            &mut props,
            &b.override_props,
            &b.delete_props,
            &b.delete_namespaces,
        )?;
        let be = self.be.clone();
        let rd = self
            .st
            .rds
            .get_mut(&rk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let loops: Vec<String> = rd
            .rscs
            .values()
            .filter_map(|r| r.loops.get(&nr).cloned())
            .collect();
        let vd = rd
            .vds
            .get_mut(&nr)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        vd.props = props;
        for f in &b.flags {
            if let Some(x) = f.strip_prefix('-') {
                vd.flags.retain(|g| g != x);
            } else if !vd.flags.contains(f) {
                vd.flags.push(f.clone());
            }
        }
        if let Some(s) = new_size {
            vd.size_kib = s;
            be.resize(&name, nr, s, &loops)
                .map_err(|e| fail(FAIL_UNKNOWN_ERROR, e))?;
        }
        out.insert(
            0,
            Entry::new(MODIFIED, format!("Volume definition with number '{nr}' of resource definition '{name}' modified."))
                .obj("RscDfn", &name)
                .obj("VlmNr", nr.to_string()),
        );
        out.extend(props_set_entry(&keys));
        Ok(out)
    }

    pub(crate) fn vd_delete(&mut self, req: &Req<'_>) -> MR {
        let rd = self.rd_ref(&req.p[0])?;
        let (rk, name) = (key(&rd.name), rd.name.clone());
        let Some(nr) = req.p[1]
            .parse::<u32>()
            .ok()
            .filter(|n| rd.vds.contains_key(n))
        else {
            return Ok(vec![Entry::new(
                WARN_NOT_FOUND,
                format!(
                    "Volume definition '{}' of resource definition '{name}' not found.",
                    req.p[1]
                ),
            )]);
        };
        if !self.in_use_nodes(rd).is_empty() {
            return Err(fail(
                FAIL_IN_USE,
                format!("Resource '{name}' is still in use."),
            ));
        }
        let be = self.be.clone();
        let rd = self
            .st
            .rds
            .get_mut(&rk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        for r in rd.rscs.values_mut() {
            let lo = r.loops.remove(&nr);
            be.detach(&r.node, &name, nr, lo.as_deref());
        }
        rd.vds.remove(&nr);
        be.remove_volume(&name, nr);
        Ok(vec![Entry::new(
            DELETED,
            format!(
                "Volume definition with number '{nr}' of resource definition '{name}' deleted."
            ),
        )
        .obj("RscDfn", &name)
        .obj("VlmNr", nr.to_string())])
    }
}
