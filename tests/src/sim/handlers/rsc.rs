//! Resources: create, modify, delete, make-available, volumes and autoplace.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

impl Core {
    pub(crate) fn rsc_get(&self, rd: &str, node: &str) -> Result<Value, Fail> {
        let r = self.rd_ref(rd)?;
        r.rscs
            .get(&key(node))
            .map(|x| self.rsc_json(r, x, false))
            .ok_or_else(|| {
                fail(
                    FAIL_NOT_FOUND_RSC,
                    format!("Resource '{rd}' on '{node}' not found."),
                )
            })
    }

    pub(crate) fn vlm_list(&self, rd: &str, node: &str, nr: Option<&str>) -> Result<Value, Fail> {
        let r = self.rd_ref(rd)?;
        let x = r.rscs.get(&key(node)).ok_or_else(|| {
            fail(
                FAIL_NOT_FOUND_RSC,
                format!("Resource '{rd}' on '{node}' not found."),
            )
        })?;
        match nr {
            None => Ok(Value::Array(
                r.vds.values().map(|v| self.vlm_json(r, x, v)).collect(),
            )),
            Some(n) => n
                .parse::<u32>()
                .ok()
                .and_then(|n| r.vds.get(&n))
                .map(|v| self.vlm_json(r, x, v))
                .ok_or_else(|| {
                    fail(
                        FAIL_NOT_FOUND_VLM,
                        format!("Volume '{n}' of resource '{rd}' on '{node}' not found."),
                    )
                }),
        }
    }

    pub(crate) fn view_resources(&self, req: &Req<'_>) -> Value {
        let nodes: Vec<String> = req.q_all("nodes").iter().map(|n| key(n)).collect();
        let rscs: Vec<String> = req.q_all("resources").iter().map(|n| key(n)).collect();
        let pools: Vec<String> = req.q_all("storage_pools").iter().map(|n| key(n)).collect();
        let pf = req.q_all("props");
        let mut out = vec![];
        for (rk, rd) in &self.st.rds {
            if !rscs.is_empty() && !rscs.contains(rk) {
                continue;
            }
            for (nk, r) in &rd.rscs {
                if (!nodes.is_empty() && !nodes.contains(nk))
                    || (!pools.is_empty() && !pools.contains(&key(&r.pool)))
                    || !props_filter_ok(&r.props, &pf)
                {
                    continue;
                }
                out.push(self.rsc_json(rd, r, true));
            }
        }
        Value::Array(out)
    }

    pub(crate) fn alloc_port(&self, node_key: &str) -> Result<u32, Fail> {
        let used: BTreeSet<u32> = self
            .st
            .rds
            .values()
            .filter_map(|rd| rd.rscs.get(node_key).map(|r| r.port))
            .collect();
        (7000..8000)
            .find(|p| !used.contains(p))
            .ok_or_else(|| fail(FAIL_POOL_EXHAUSTED_TCP_PORT, "No free TCP port available"))
    }

    /// Registers a new resource and its devices; appends the creation messages.
    pub(crate) fn add_resource(
        &mut self,
        rk: &str,
        node: &str,
        flags: Vec<String>,
        pool: String,
        props: Props,
        out: &mut Vec<Entry>,
    ) -> Result<(), Fail> {
        let new = NewRsc {
            flags,
            pool,
            props,
            ..Default::default()
        };
        self.add_resource_with(rk, node, new, out)
    }

    /// TCP port on a node: the requested one (refused when taken), else the definition's
    /// preferred port when free there, else the next free one.
    pub(crate) fn port_for(
        &self,
        rk: &str,
        nk: &str,
        node: &str,
        want: Option<u32>,
    ) -> Result<u32, Fail> {
        let taken = |p: u32| {
            self.st
                .rds
                .iter()
                .any(|(k, rd)| k != rk && rd.rscs.get(nk).is_some_and(|r| r.port == p))
        };
        if let Some(p) = want {
            if !(1..=65535).contains(&p) || taken(p) {
                return Err(Box::new(
                    Entry::new(
                        FAIL_INVLD_RSC_PORT,
                        format!("The specified TCP port '{p}' is invalid."),
                    )
                    .details(format!("TCP port {p} is already used on node '{node}'")),
                ));
            }
            return Ok(p);
        }
        match self.st.rds.get(rk).and_then(|rd| rd.port) {
            Some(p) if !taken(p) => Ok(p),
            _ => self.alloc_port(nk),
        }
    }

    pub(crate) fn add_resource_with(
        &mut self,
        rk: &str,
        node: &str,
        new: NewRsc,
        out: &mut Vec<Entry>,
    ) -> Result<(), Fail> {
        let NewRsc {
            flags,
            pool,
            props,
            node_id: want_node_id,
            port: want_port,
            client,
        } = new;
        let nk = key(node);
        let node_name = self.node_ref(node)?.name.clone();
        let online = self.node_online(&node_name);
        let port = self.port_for(rk, &nk, &node_name, want_port)?;
        let peer_slots = self.st.rds.get(rk).and_then(|rd| {
            self.eff_prop(rd, "PeerSlotsNewResource")
                .and_then(|v| v.parse().ok())
                .or(rd.peer_slots)
        });
        let be = self.be.clone();
        let rd = self
            .st
            .rds
            .get_mut(rk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let node_id = match want_node_id {
            Some(id) if id < 32 && !rd.rscs.values().any(|r| r.node_id == id) => id,
            Some(id) => {
                return Err(fail(
                    FAIL_INVLD_NODE_ID,
                    format!("The specified node-id '{id}' is invalid."),
                ))
            }
            None => (0..32u32)
                .find(|i| !rd.rscs.values().any(|r| r.node_id == *i))
                .ok_or_else(|| fail(FAIL_POOL_EXHAUSTED_NODE_ID, "No free node id available"))?,
        };
        let id = uuid();
        let diskful_new = !flags
            .iter()
            .any(|f| f == "DISKLESS" || f == "DRBD_DISKLESS");
        let syncs = diskful_new && rd.written && rd.rscs.values().any(|p| !p.is_diskless());
        let deployed_ms = now_ms() + self.deploy_delay_ms as i64;
        let synced_ms = deployed_ms + if syncs { self.resync_ms as i64 } else { 0 };
        let mut r = RscSt {
            node: node_name.clone(),
            uuid: id.clone(),
            flags,
            props,
            node_id,
            port,
            create_ts: now_ms(),
            pool,
            forced_in_use: false,
            loops: BTreeMap::new(),
            peer_slots,
            deployed_ms,
            synced_ms,
            drbd_client: client,
        };
        let name = rd.name.clone();
        out.push(
            Entry::new(
                CRT | OBJ_RSC | CREATED,
                format!("New resource '{name}' on node '{node_name}' registered."),
            )
            .details(format!(
                "Resource '{name}' on node '{node_name}' UUID is: {id}"
            ))
            .rsc(&name, &node_name)
            .obj("UUID", &id),
        );
        for vd in rd.vds.values() {
            out.push(
                Entry::new(
                    CRT | OBJ_VLM | CREATED,
                    format!("Volume with number '{}' on resource '{name}' on node '{node_name}' successfully registered", vd.nr),
                )
                .details(format!("Volume UUID is: {}", vd.uuid))
                .rsc(&name, &node_name)
                .obj("VlmNr", vd.nr.to_string()),
            );
            if !r.is_tiebreaker() {
                match be.attach(&node_name, &name, vd.nr, vd.minor) {
                    Ok(Some(lo)) => {
                        r.loops.insert(vd.nr, lo);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        for (nr, lo) in &r.loops {
                            be.detach(&node_name, &name, *nr, Some(lo));
                        }
                        return Err(fail(
                            FAIL_UNKNOWN_ERROR,
                            format!("(Node: '{node_name}') {e}"),
                        ));
                    }
                }
            }
        }
        let peers: Vec<String> = rd.rscs.values().map(|p| p.node.clone()).collect();
        let diskful = !r.is_diskless();
        let has_vds = !rd.vds.is_empty();
        rd.rscs.insert(nk, r);
        if !online {
            out.push(not_connected(&node_name));
            return Ok(());
        }
        if !has_vds {
            out.push(Entry::new(
                WARN_NOT_FOUND,
                format!("No volumes have been defined for resource '{name}'"),
            ));
        }
        out.push(
            Entry::new(
                CRT | OBJ_RSC | MODIFIED,
                format!("Created resource '{name}' on '{node_name}'"),
            )
            .obj("Node", &node_name),
        );
        for p in &peers {
            if !self.node_online(p) {
                out.push(not_connected(p.as_str()));
            }
            out.push(Entry::new(
                CRT | OBJ_RSC | MODIFIED,
                format!("Added peer(s) '{node_name}' to resource '{name}' on '{p}'"),
            ));
        }
        if diskful && has_vds && !peers.is_empty() {
            out.push(
                Entry::new(
                    CRT | OBJ_RSC | CREATED,
                    format!("Resource '{name}' on '{node_name}' ready"),
                )
                .obj("Node", &node_name),
            );
        }
        Ok(())
    }

    /// Removes a resource with its devices; returns it.
    pub(crate) fn drop_resource(&mut self, rk: &str, nk: &str) -> Option<RscSt> {
        let be = self.be.clone();
        let rd = self.st.rds.get_mut(rk)?;
        let r = rd.rscs.remove(nk)?;
        for vd in rd.vds.values() {
            be.detach(
                &r.node,
                &rd.name,
                vd.nr,
                r.loops.get(&vd.nr).map(String::as_str),
            );
        }
        Some(r)
    }

    pub(crate) fn default_pool_for(&self, rd: &RdSt) -> String {
        rd.rscs
            .values()
            .find(|r| !r.is_diskless())
            .map(|r| r.pool.clone())
            .unwrap_or_else(|| self.pool_name.clone())
    }

    pub(crate) fn create_one(
        &mut self,
        rk: &str,
        node: &str,
        b: RscCreate,
        out: &mut Vec<Entry>,
    ) -> Result<bool, Fail> {
        let nk = key(&self.node_ref(node)?.name);
        let known = [
            "DISKLESS",
            "DRBD_DISKLESS",
            "NVME_INITIATOR",
            "TIE_BREAKER",
            "INACTIVE",
            "EBS_INITIATOR",
        ];
        if let Some(f) = b
            .resource
            .flags
            .iter()
            .find(|f| !known.contains(&f.as_str()))
        {
            return Err(fail(
                FAIL_INVLD_REQUEST,
                format!("Unknown or unsupported resource flag '{f}'"),
            ));
        }
        if !b.layer_list.is_empty()
            && !b
                .layer_list
                .iter()
                .all(|l| l.eq_ignore_ascii_case("DRBD") || l.eq_ignore_ascii_case("STORAGE"))
        {
            return Err(fail(
                FAIL_INVLD_LAYER_STACK,
                format!("Unsupported layer stack {:?}", b.layer_list),
            ));
        }
        let flagged = b
            .resource
            .flags
            .iter()
            .any(|f| f == "DISKLESS" || f == "DRBD_DISKLESS" || f == "TIE_BREAKER")
            || b.drbd_client == Some(true);
        let mut props = Props::new();
        modify_props(&mut props, &b.resource.props, &[], &[])?;
        let diskless_pool = props
            .get("StorPoolName")
            .filter(|p| p.eq_ignore_ascii_case(DISKLESS_POOL))
            .cloned();
        let diskless = flagged || diskless_pool.is_some();
        if let (false, Some(p)) = (flagged, &diskless_pool) {
            out.push(
                Entry::new(
                    MASK_WARN | OBJ_STOR_POOL,
                    "Resource will be automatically flagged as drbd diskless",
                )
                .cause(format!(
                    "Used storage pool '{p}' is diskless, but resource was not flagged drbd diskless"
                )),
            );
        }
        let rd = self
            .st
            .rds
            .get(rk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let name = rd.name.clone();
        if let Some(ex) = rd.rscs.get(&nk) {
            if ex.is_diskless() {
                let was_tb = ex.is_tiebreaker();
                if diskless {
                    self.set_tiebreaker(rk, &nk, false);
                    if was_tb {
                        self.tiebreaker_released(rk, &nk, out);
                    }
                } else if self.node_online(node) {
                    self.toggle_diskful(rk, &nk, out);
                } else {
                    self.request_disk(rk, &nk, out);
                }
                return Ok(true);
            }
            out.push(
                Entry::new(
                    INFO_RSC_ALREADY_EXISTS,
                    format!("A resource '{name}' on node '{}' already exists.", ex.node),
                )
                .rsc(&name, &ex.node),
            );
            return Ok(false);
        }
        if !self.node_online(node) {
            let n = &self.st.nodes[&nk].name;
            return Err(Box::new(
                Entry::new(
                    FAIL_STLT_DOES_NOT_SUPPORT_LAYER,
                    format!("Satellite '{n}' does not support the following layers: [DRBD]"),
                )
                .rsc(&name, n),
            ));
        }
        let pool = if diskless {
            props.remove("StorPoolName");
            DISKLESS_POOL.to_string()
        } else {
            let p = props
                .remove("StorPoolName")
                .unwrap_or_else(|| self.default_pool_for(rd));
            if !p.eq_ignore_ascii_case(&self.pool_name) {
                return Err(fail(
                    FAIL_NOT_FOUND_STOR_POOL,
                    format!("Storage pool '{p}' on node '{node}' not found."),
                ));
            }
            self.pool_name.clone()
        };
        let flags = if diskless {
            vec!["DISKLESS".into(), "DRBD_DISKLESS".into()]
        } else {
            vec![]
        };
        let new = NewRsc {
            flags,
            pool,
            props,
            client: b.drbd_client == Some(true),
            node_id: b.drbd_node_id.map(|i| u32::try_from(i).unwrap_or(u32::MAX)),
            port: b
                .drbd_tcp_ports
                .first()
                .map(|p| u32::try_from(*p).unwrap_or(0)),
        };
        self.add_resource_with(rk, node, new, out)?;
        Ok(true)
    }

    pub(crate) fn rsc_create_many(&mut self, req: &Req<'_>) -> MR {
        let list: Vec<RscCreate> = parse(req.body)?;
        let rk = key(&self.rd_ref(&req.p[0])?.name);
        for b in &list {
            let n = b.resource.node_name.clone().unwrap_or_default();
            self.node_ref(&n)?;
            if let Some(other) = &b.resource.name {
                if !other.is_empty() && key(other) != rk {
                    return Err(fail(
                        FAIL_INVLD_REQUEST,
                        "All resources must belong to the same resource definition",
                    ));
                }
            }
        }
        let mut out = vec![];
        for b in list {
            let n = b.resource.node_name.clone().unwrap_or_default();
            if !self.create_one(&rk, &n, b, &mut out)? {
                break;
            }
        }
        self.sync_tiebreaker(&rk, &mut out);
        Ok(out)
    }

    pub(crate) fn rsc_create_one(&mut self, req: &Req<'_>) -> MR {
        let b: RscCreate = parse(req.body)?;
        let rk = key(&self.rd_ref(&req.p[0])?.name);
        let mut out = vec![];
        self.create_one(&rk, &req.p[1], b, &mut out)?;
        self.sync_tiebreaker(&rk, &mut out);
        Ok(out)
    }

    pub(crate) fn rsc_modify(&mut self, req: &Req<'_>) -> MR {
        let b: RscModify = parse(req.body)?;
        let rd = self.rd_ref(&req.p[0])?;
        let (rk, name) = (key(&rd.name), rd.name.clone());
        let nk = key(&req.p[1]);
        let r = rd.rscs.get(&nk).ok_or_else(|| {
            fail(
                FAIL_NOT_FOUND_RSC,
                format!("Resource '{name}' on '{}' not found.", req.p[1]),
            )
        })?;
        let mut props = r.props.clone();
        let keys = modify_props(
            &mut props,
            &b.override_props,
            &b.delete_props,
            &b.delete_namespaces,
        )?;
        let node = r.node.clone();
        if let Some(r) = self.st.rds.get_mut(&rk).and_then(|rd| rd.rscs.get_mut(&nk)) {
            r.props = props;
        }
        if let Some(tb) = b.drbd_tiebreaker {
            self.set_tiebreaker(&rk, &nk, tb);
        }
        let mut out = vec![Entry::new(
            MODIFIED,
            format!("Resource '{name}' on node '{node}' modified."),
        )
        .rsc(&name, &node)];
        out.extend(props_set_entry(&keys));
        Ok(out)
    }

    pub(crate) fn rsc_delete(&mut self, req: &Req<'_>) -> MR {
        let (rdn, node) = (&req.p[0], &req.p[1]);
        let keep_tb = req.q_bool("keep_tiebreaker");
        let not_found = || {
            Ok(vec![Entry::new(
                WARN_NOT_FOUND,
                format!("Node: {node}, Resource: {rdn} not found."),
            )
            .rsc(rdn, node)])
        };
        let Some(rd) = self.st.rds.get(&key(rdn)) else {
            return not_found();
        };
        let nk = key(node);
        let Some(r) = rd.rscs.get(&nk) else {
            return not_found();
        };
        let (rk, name, nname) = (key(&rd.name), rd.name.clone(), r.node.clone());
        if self.rsc_in_use_raw(rd, r) {
            return Err(Box::new(
                Entry::new(FAIL_IN_USE, format!("Resource '{name}' is still in use."))
                    .cause("Resource is mounted/in use.")
                    .details(format!("Node: {nname}, Resource: {name}"))
                    .rsc(&name, &nname),
            ));
        }
        let diskful = rd.rscs.values().filter(|x| !x.is_diskless()).count();
        let diskless = rd
            .rscs
            .values()
            .filter(|x| x.is_diskless() && !x.is_tiebreaker())
            .count();
        let mut out = vec![];
        let deleted = |text: String| Entry::new(DELETED, text).rsc(&name, &nname);
        let step = |what: &str| deleted(format!("Node: {nname}, Resource: {name} {what}."));
        let gone = || deleted(format!("Resource '{name}' on node '{nname}' deleted."));
        if !r.is_diskless() && diskful == 1 && diskless > 0 {
            return Err(Box::new(
                Entry::new(
                    FAIL_IN_USE,
                    format!("Last resource of '{name}' with disk still has diskless resources attached."),
                )
                .correction("Delete the diskless resources first.")
                .rsc(&name, &nname),
            ));
        }
        let wanted = self.tiebreaker_wanted(rd);
        if r.is_tiebreaker() {
            if keep_tb {
                out.push(
                    Entry::new(
                        INFO_TIE_BREAKER_TAKEOVER,
                        "The given resource will not be deleted but will be taken over as a linstor managed tiebreaker resource.",
                    )
                    .rsc(&name, &nname),
                );
                if !wanted {
                    if let Some(rd) = self.st.rds.get_mut(&rk) {
                        rd.props.remove("DrbdOptions/auto-add-quorum-tiebreaker");
                    }
                    out.push(Entry::new(
                        INFO_PROP_SET,
                        "Autotiebreaker automatically enabled due to --keep-tiebreaker",
                    ));
                }
                return Ok(out);
            }
            self.drop_resource(&rk, &nk);
            if let Some(rd) = self.st.rds.get_mut(&rk) {
                rd.props.insert(
                    "DrbdOptions/auto-add-quorum-tiebreaker".into(),
                    "false".into(),
                );
            }
            out.push(gone());
            out.push(Entry::new(
                INFO_PROP_SET,
                format!("Disabling auto-tiebreaker on resource-definition '{name}' as tiebreaker resource was manually deleted"),
            ));
            return Ok(out);
        }
        let has_tb = rd.rscs.values().any(|x| x.is_tiebreaker());
        let other_voters = rd
            .rscs
            .values()
            .filter(|x| {
                x.node != nname
                    && x.is_diskless()
                    && !x.is_tiebreaker()
                    && !x.drbd_client
                    && !x.is_deleting()
            })
            .count();
        let left = if r.is_diskless() {
            diskful
        } else {
            diskful - 1
        };
        if !has_tb
            && wanted
            && left >= 2
            && left % 2 == 0
            && other_voters == 0
            && self.node_online(&nname)
        {
            self.set_tiebreaker(&rk, &nk, true);
            out.push(
                Entry::new(
                    INFO_TIE_BREAKER_TAKEOVER,
                    "The given resource will not be deleted but will be taken over as a linstor managed tiebreaker resource.",
                )
                .rsc(&name, &nname),
            );
            return Ok(out);
        }
        if !self.node_online(&nname) {
            if let Some(r) = self.st.rds.get_mut(&rk).and_then(|rd| rd.rscs.get_mut(&nk)) {
                for f in ["DRBD_DELETE", "DELETE"] {
                    if !r.flags.iter().any(|x| x == f) {
                        r.flags.push(f.into());
                    }
                }
            }
            out.push(step("preparing for deletion"));
            out.push(not_connected(&nname));
            out.push(step("marked for deletion"));
            out.push(not_connected(&nname));
            return Ok(out);
        }
        let offline_peers: Vec<String> = self.st.rds[&rk]
            .rscs
            .values()
            .filter(|p| p.node != nname && !self.node_online(&p.node))
            .map(|p| p.node.clone())
            .collect();
        for p in offline_peers {
            out.push(
                Entry::new(
                    WARN_NOT_CONNECTED,
                    format!("No active connection to satellite '{p}'"),
                )
                .obj("Node", p),
            );
        }
        self.drop_resource(&rk, &nk);
        out.push(step("preparation for deletion completed"));
        out.push(gone());
        self.sync_tiebreaker(&rk, &mut out);
        Ok(out)
    }

    pub(crate) fn make_available(&mut self, req: &Req<'_>) -> MR {
        let b: MakeAvailable = parse(req.body)?;
        let rd = self.rd_ref(&req.p[0])?;
        let (rk, name) = (key(&rd.name), rd.name.clone());
        let node = self.node_ref(&req.p[1])?.name.clone();
        let nk = key(&node);
        if !layer_stack_ok(&b.layer_list) {
            if rd.rscs.contains_key(&nk) {
                return Err(fail(
                    FAIL_INVLD_LAYER_STACK,
                    format!("Resource '{name}' on node '{node}' is deployed with a different layer stack."),
                ));
            }
            return Err(fail(
                FAIL_INVLD_LAYER_STACK,
                format!("Unsupported layer stack {:?}", b.layer_list),
            ));
        }
        let mut out = vec![];
        if let Some(r) = rd.rscs.get(&nk) {
            if r.is_diskless() && b.diskful && !self.node_online(&node) {
                // CtrlRscMakeAvailableApiCallHandler: the autoplacer's StorPoolFilter only
                // lists pools of online nodes, so getStorPoolOrFail fails; nothing is changed.
                return Err(Box::new(
                    Entry::new(
                        FAIL_NOT_FOUND_STOR_POOL,
                        format!("Autoplacer could not find diskful stor pool on node {node} matching resource-groups autoplace-settings"),
                    )
                    .rsc(&name, &node),
                ));
            }
            if !r.is_diskless() || !b.diskful {
                if r.is_tiebreaker() {
                    self.set_tiebreaker(&rk, &nk, false);
                }
                out.push(Entry::new(0, "Resource already deployed as requested").rsc(&name, &node));
                self.sync_tiebreaker(&rk, &mut out);
                return Ok(out);
            }
            self.toggle_diskful(&rk, &nk, &mut out);
            self.sync_tiebreaker(&rk, &mut out);
            return Ok(out);
        }
        let has_diskful_peer = rd.rscs.values().any(|r| !r.is_diskless());
        if !self.node_online(&node) {
            let kind = if !b.diskful && has_diskful_peer {
                "diskless"
            } else {
                "diskful"
            };
            return Err(Box::new(
                Entry::new(
                    FAIL_NOT_FOUND_STOR_POOL,
                    format!("Autoplacer could not find {kind} stor pool on node {node} matching resource-groups autoplace-settings"),
                )
                .rsc(&name, &node),
            ));
        }
        if !b.diskful && has_diskful_peer {
            let new = NewRsc {
                flags: vec!["DISKLESS".into(), "DRBD_DISKLESS".into()],
                pool: DISKLESS_POOL.into(),
                client: self.version_at_least((1, 34, 0)),
                ..Default::default()
            };
            self.add_resource_with(&rk, &node, new, &mut out)?;
        } else {
            let size: u64 = rd.vds.values().map(|v| v.size_kib).sum();
            if self.pool_free(&nk) < size {
                return Err(fail(
                    FAIL_NOT_FOUND_STOR_POOL,
                    format!("Autoplacer could not find diskful stor pool on node '{node}' for resource '{name}'"),
                ));
            }
            let pool = self.pool_name.clone();
            self.add_resource(&rk, &node, vec![], pool, Props::new(), &mut out)?;
        }
        self.sync_tiebreaker(&rk, &mut out);
        Ok(out)
    }

    pub(crate) fn autoplace_req(&mut self, req: &Req<'_>) -> MR {
        let b: Autoplace = parse(req.body)?;
        let rd = self.rd_ref(&req.p[0])?;
        let rk = key(&rd.name);
        let rg_filter = self
            .st
            .rgs
            .get(&key(&rd.rg))
            .map(|g| g.select_filter.clone())
            .unwrap_or_default();
        let mut f = b.select_filter.unwrap_or_default();
        f.diskless_on_remaining = b.diskless_on_remaining;
        f.layer_stack = b.layer_list;
        let merged = f.or(&rg_filter);
        let mut out = vec![];
        self.autoplace(&rk, &merged, &mut out)?;
        Ok(out)
    }

    pub(crate) fn autoplace(
        &mut self,
        rk: &str,
        f: &SelectFilter,
        out: &mut Vec<Entry>,
    ) -> Result<(), Fail> {
        let rd = self
            .st
            .rds
            .get(rk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let name = rd.name.clone();
        let existing = rd.rscs.values().filter(|r| !r.is_diskless()).count();
        let pc = f.place_count.unwrap_or(2);
        if pc < 1 {
            return Err(fail(
                FAIL_INVLD_PLACE_COUNT,
                "Place count must be greater than 0",
            ));
        }
        let target = match f.additional_place_count {
            Some(a) if a > 0 => existing + a as usize,
            _ => pc as usize,
        };
        if target <= existing {
            out.push(
                Entry::new(
                    WARN_RSC_ALREADY_DEPLOYED,
                    format!(
                        "Resource '{name}' was already deployed on {existing} nodes. Skipping."
                    ),
                )
                .obj("RscDfn", &name),
            );
            return Ok(());
        }
        let need = target - existing;
        let size: u64 = rd.vds.values().map(|v| v.size_kib).sum();
        let cands = crate::sim::placement::candidates(
            &self.st,
            &self.pool_name,
            self.pool_kib,
            rk,
            f,
            size,
        );
        let Some(nodes) = crate::sim::placement::pick_nodes(&self.st, rk, f, &cands, need) else {
            let mut d =
                String::from("Not enough nodes fulfilling the following auto-place criteria:\n");
            d.push_str(&format!(
                " * has a deployed storage pool named {:?}\n",
                f.pools().unwrap_or_else(|| vec![self.pool_name.clone()])
            ));
            d.push_str(&format!(
                " * the storage pools have to have at least '{size}' free space\n"
            ));
            d.push_str(&format!(" * the current access context has enough privileges to use the node and the storage pool\n * the node is online\n\nAuto-place configuration details:\n   Replica count: {pc}\n"));
            if let Some(l) = &f.node_name_list {
                d.push_str(&format!("   Node name: {l:?}\n"));
            }
            return Err(Box::new(
                Entry::new(FAIL_NOT_ENOUGH_NODES, "Not enough available nodes")
                    .details(d)
                    .obj("RscDfn", &name),
            ));
        };
        let mut created: Vec<String> = vec![];
        for nk in &nodes {
            let is_tb = self
                .st
                .rds
                .get(rk)
                .and_then(|rd| rd.rscs.get(nk))
                .is_some_and(|r| r.is_tiebreaker());
            if is_tb {
                self.toggle_diskful(rk, nk, out);
            } else {
                let pool = self.pool_name.clone();
                let node = self
                    .st
                    .nodes
                    .get(nk)
                    .map(|n| n.name.clone())
                    .unwrap_or_default();
                if let Err(e) = self.add_resource(rk, &node, vec![], pool, Props::new(), out) {
                    for c in &created {
                        self.drop_resource(rk, &key(c));
                    }
                    return Err(e);
                }
            }
            created.push(
                self.st
                    .nodes
                    .get(nk)
                    .map(|n| n.name.clone())
                    .unwrap_or_default(),
            );
        }
        if f.diskless_on_remaining == Some(true) {
            let rest: Vec<String> = self
                .st
                .nodes
                .iter()
                .filter(|(k, n)| {
                    n.online
                        && self
                            .st
                            .rds
                            .get(rk)
                            .is_some_and(|rd| !rd.rscs.contains_key(*k))
                })
                .map(|(_, n)| n.name.clone())
                .collect();
            for n in rest {
                self.add_resource(
                    rk,
                    &n,
                    vec!["DISKLESS".into(), "DRBD_DISKLESS".into()],
                    DISKLESS_POOL.into(),
                    Props::new(),
                    out,
                )?;
            }
        }
        let used: Vec<String> = created
            .iter()
            .map(|n| format!("'{n} ({})'", self.pool_name))
            .collect();
        let mut e = Entry::new(
            CRT | OBJ_RSC | CREATED,
            format!(
                "Resource '{name}' successfully autoplaced on {} nodes",
                created.len()
            ),
        )
        .details(format!(
            "Used nodes (storage pool name): {}",
            used.join(", ")
        ))
        .obj("RscDfn", &name);
        for (i, n) in created.iter().enumerate() {
            e = e
                .obj(&format!("Node/{i}"), n)
                .obj(&format!("StorPool/{i}/0"), &self.pool_name);
        }
        out.push(e);
        self.sync_tiebreaker(rk, out);
        Ok(())
    }
}
