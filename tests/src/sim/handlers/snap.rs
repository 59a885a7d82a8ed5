//! Snapshots: create, delete, rollback and restore.

use serde_json::Value;

use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

impl Core {
    pub(crate) fn snap_get(&self, rd: &str, s: &str) -> Result<Value, Fail> {
        let r = self.rd_ref(rd)?;
        r.snaps
            .get(&key(s))
            .map(|x| self.snap_json(r, x))
            .ok_or_else(|| {
                fail(
                    FAIL_NOT_FOUND_SNAPSHOT,
                    format!("Snapshot '{s}' of resource '{rd}' not found."),
                )
            })
    }

    pub(crate) fn view_snapshots(&self, req: &Req<'_>) -> Value {
        let nodes: Vec<String> = req.q_all("nodes").iter().map(|n| key(n)).collect();
        let rscs: Vec<String> = req.q_all("resources").iter().map(|n| key(n)).collect();
        let mut out = vec![];
        for (rk, rd) in &self.st.rds {
            if !rscs.is_empty() && !rscs.contains(rk) {
                continue;
            }
            for s in rd.snaps.values() {
                if nodes.is_empty() || s.nodes.iter().any(|n| nodes.contains(&key(n))) {
                    out.push(self.snap_json(rd, s));
                }
            }
        }
        Value::Array(out)
    }

    pub(crate) fn snap_create(&mut self, req: &Req<'_>) -> MR {
        let b: SnapCreate = parse(req.body)?;
        let rd = self.rd_ref(&req.p[0])?;
        let (rk, name) = (key(&rd.name), rd.name.clone());
        if !valid_rsc_name(&b.name) {
            return Err(fail(
                FAIL_INVLD_SNAPSHOT_NAME,
                format!("Invalid snapshot name '{}'.", b.name),
            ));
        }
        if rd.snaps.contains_key(&key(&b.name)) {
            return Err(Box::new(
                Entry::new(
                    FAIL_EXISTS_SNAPSHOT_DFN,
                    format!("A snapshot definition with the name '{}' already exists in resource definition '{name}'.", b.name),
                )
                .obj("RscDfn", &name)
                .obj("Snapshot", &b.name),
            ));
        }
        let mut out = vec![];
        let mut nodes = vec![];
        if b.nodes.is_empty() {
            for r in rd.rscs.values().filter(|r| !r.is_diskless()) {
                if self.node_online(&r.node) {
                    nodes.push(r.node.clone());
                } else {
                    out.push(
                        Entry::new(
                            MASK_WARN,
                            format!(
                                "Snapshot for resource '{name}' will not be created on node '{}' because that node is currently offline.",
                                r.node
                            ),
                        )
                        .obj("Node", &r.node),
                    );
                }
            }
        } else {
            for n in &b.nodes {
                match rd.rscs.get(&key(n)) {
                    None => {
                        return Err(fail(
                            FAIL_NOT_FOUND_RSC,
                            format!("Resource '{name}' on '{n}' not found."),
                        ))
                    }
                    Some(r) if r.is_diskless() => {
                        return Err(fail(
                            FAIL_SNAPSHOTS_NOT_SUPPORTED,
                            format!(
                                "Cannot create snapshot from diskless resource on node '{}'",
                                r.node
                            ),
                        ))
                    }
                    Some(r) if !self.node_online(&r.node) => {
                        return Err(fail(
                            FAIL_NOT_CONNECTED,
                            format!("No active connection to satellite '{}'", r.node),
                        ))
                    }
                    Some(r) => nodes.push(r.node.clone()),
                }
            }
        }
        if nodes.is_empty() {
            return Err(Box::new(
                Entry::new(
                    FAIL_NOT_CONNECTED,
                    "No diskful connected satellite for snapshot or no resources.",
                )
                .details("Snapshots need at least one diskful online satellite.")
                .obj("RscDfn", &name),
            ));
        }
        if let Some(r) = nodes
            .iter()
            .filter_map(|n| rd.rscs.get(&key(n)))
            .find(|r| !self.up_to_date(r))
        {
            return Err(Box::new(
                Entry::new(
                    FAIL_SNAPSHOT_NOT_UPTODATE,
                    "Cannot take snapshot from non-UpToDate DRBD device. Snapshot creation aborted",
                )
                .rsc(&name, &r.node),
            ));
        }
        let mut sprops = Props::new();
        modify_props(&mut sprops, &b.snapshot_definition_props, &[], &[])?;
        modify_props(&mut sprops, &b.props, &[], &[])?;
        for vd in rd.vds.values() {
            self.be
                .snapshot(&name, &b.name, vd.nr)
                .map_err(|e| fail(FAIL_UNKNOWN_ERROR, e))?;
        }
        let id = uuid();
        let snap = SnapSt {
            name: b.name.clone(),
            uuid: id.clone(),
            nodes: nodes.clone(),
            vols: rd.vds.values().map(|v| (v.nr, v.size_kib)).collect(),
            props: sprops,
            rd_props: rd.props.clone(),
            create_ts: now_ms(),
            seq: self.req_seq,
        };
        out.insert(
            0,
            Entry::new(
                CREATED,
                format!("New snapshot '{}' of resource '{name}' registered.", b.name),
            )
            .details(format!(
                "Snapshot '{}' of resource '{name}' UUID is: {id}",
                b.name
            ))
            .obj("RscDfn", &name)
            .obj("Snapshot", &b.name)
            .obj("UUID", &id),
        );
        for n in &nodes {
            out.push(
                Entry::new(0, format!("Suspended IO of '{name}' on '{n}' for snapshot"))
                    .obj("Node", n),
            );
        }
        for n in &nodes {
            out.push(Entry::new(0, format!("Took snapshot of '{name}' on '{n}'")).obj("Node", n));
        }
        for n in &nodes {
            out.push(
                Entry::new(0, format!("Resumed IO of '{name}' on '{n}' after snapshot"))
                    .obj("Node", n),
            );
        }
        if let Some(rd) = self.st.rds.get_mut(&rk) {
            rd.snaps.insert(key(&b.name), snap);
        }
        Ok(out)
    }

    pub(crate) fn snap_delete(&mut self, req: &Req<'_>) -> MR {
        let (rdn, sn) = (&req.p[0], &req.p[1]);
        let nf = || {
            Ok(vec![Entry::new(
                WARN_NOT_FOUND,
                format!("Snapshot '{sn}' of resource '{rdn}' not found."),
            )])
        };
        let Some(rd) = self.st.rds.get_mut(&key(rdn)) else {
            return nf();
        };
        let Some(s) = rd.snaps.remove(&key(sn)) else {
            return nf();
        };
        for nr in s.vols.keys() {
            self.be.remove_snapshot(&rd.name, &s.name, *nr);
        }
        Ok(vec![Entry::new(
            DELETED,
            format!("Snapshot '{}' of resource '{}' deleted.", s.name, rd.name),
        )
        .obj("RscDfn", &rd.name)
        .obj("Snapshot", &s.name)])
    }

    pub(crate) fn snap_lookup(&self, rd: &str, s: &str) -> Result<(String, SnapSt), Fail> {
        let r = self.rd_ref(rd)?;
        let snap = r.snaps.get(&key(s)).cloned().ok_or_else(|| {
            Box::new(
                Entry::new(
                    FAIL_NOT_FOUND_SNAPSHOT_DFN,
                    format!(
                        "Snapshot definition '{s}' of resource '{}' not found.",
                        r.name
                    ),
                )
                .obj("RscDfn", &r.name)
                .obj("Snapshot", s),
            )
        })?;
        Ok((r.name.clone(), snap))
    }

    pub(crate) fn snap_rollback(&mut self, req: &Req<'_>) -> MR {
        let _b: Rollback = parse_or_default(req.body)?;
        let (name, snap) = self.snap_lookup(&req.p[0], &req.p[1])?;
        let rd = self.rd_ref(&name)?;
        if !self.version_at_least((1, 31, 2)) {
            let newest = rd.snaps.values().max_by_key(|s| (s.create_ts, s.seq));
            if newest.is_some_and(|n| n.name != snap.name) {
                return Err(Box::new(
                    Entry::new(
                        FAIL_EXISTS_SNAPSHOT_DFN,
                        "Rollback is only allowed with the most recent snapshot",
                    )
                    .obj("RscDfn", &name)
                    .obj("Snapshot", &snap.name),
                ));
            }
        }
        for r in rd.rscs.values() {
            if self.rsc_in_use_raw(rd, r) {
                return Err(fail(
                    FAIL_IN_USE,
                    format!("Resource '{name}' on node '{}' is still in use.", r.node),
                ));
            }
            if !self.node_online(&r.node) {
                return Err(fail(
                    FAIL_NOT_CONNECTED,
                    "Snapshot rollback cannot be performed when the corresponding satellites are not connected.",
                ));
            }
        }
        if let Some(nr) = rd.vds.keys().find(|n| !snap.vols.contains_key(n)) {
            return Err(fail(
                FAIL_NOT_FOUND_SNAPSHOT,
                format!(
                    "Volume {nr} of resource '{name}' is missing from snapshot '{}'.",
                    snap.name
                ),
            ));
        }
        let nodes: Vec<String> = rd
            .rscs
            .values()
            .filter(|r| !r.is_diskless())
            .map(|r| r.node.clone())
            .collect();
        for vd in rd.vds.values() {
            self.be
                .restore_into(&name, &snap.name, vd.nr, &name, vd.nr)
                .map_err(|e| fail(FAIL_UNKNOWN_ERROR, e))?;
            self.be
                .ensure_volume(&name, vd.nr, vd.size_kib)
                .map_err(|e| fail(FAIL_UNKNOWN_ERROR, e))?;
        }
        let mut out = vec![Entry::new(
            MODIFIED,
            format!("Resource '{name}' rolled back to snapshot '{}'.", snap.name),
        )
        .obj("RscDfn", &name)
        .obj("Snapshot", &snap.name)];
        for n in nodes {
            out.push(
                Entry::new(
                    MODIFIED,
                    format!("Rolled back '{name}' on '{n}' to snapshot '{}'", snap.name),
                )
                .obj("Node", n),
            );
        }
        Ok(out)
    }

    pub(crate) fn snap_restore_vd(&mut self, req: &Req<'_>) -> MR {
        let b: Restore = parse(req.body)?;
        let (src, snap) = self.snap_lookup(&req.p[0], &req.p[1])?;
        let tgt = self.rd_ref(&b.to_resource)?;
        let tk = key(&tgt.name);
        if let Some(nr) = snap.vols.keys().find(|n| tgt.vds.contains_key(n)) {
            return Err(fail(
                FAIL_EXISTS_VLM_DFN,
                format!("A volume definition with the number {nr} already exists in resource definition '{}'.", tgt.name),
            ));
        }
        let mut out = vec![];
        for (nr, size) in &snap.vols {
            out.push(self.add_vd(&tk, Some(*nr), *size, Props::new(), None)?);
        }
        out.push(Entry::new(
            CREATED,
            format!(
                "Volume definitions of snapshot '{}' of '{src}' restored into '{}'.",
                snap.name, b.to_resource
            ),
        ));
        Ok(out)
    }

    pub(crate) fn snap_restore_rsc(&mut self, req: &Req<'_>) -> MR {
        let b: Restore = parse(req.body)?;
        let (src, snap) = self.snap_lookup(&req.p[0], &req.p[1])?;
        let tgt = self.rd_ref(&b.to_resource)?;
        let (tk, tname) = (key(&tgt.name), tgt.name.clone());
        if !tgt.rscs.is_empty() {
            return Err(fail(
                FAIL_EXISTS_RSC,
                "Cannot restore to resource definition which already has resources",
            ));
        }
        for (nr, size) in &snap.vols {
            match tgt.vds.get(nr) {
                None => {
                    return Err(fail(
                        FAIL_NOT_FOUND_VLM_DFN,
                        format!(
                            "Volume definition {nr} of resource definition '{tname}' not found."
                        ),
                    ))
                }
                Some(vd) if vd.size_kib < *size => {
                    return Err(fail(
                        FAIL_INVLD_VLM_SIZE,
                        format!(
                        "Volume definition {nr} of '{tname}' is smaller than the snapshot volume."
                    ),
                    ))
                }
                _ => {}
            }
        }
        if let Some(nr) = tgt.vds.keys().find(|n| !snap.vols.contains_key(n)) {
            return Err(fail(
                FAIL_NOT_FOUND_SNAPSHOT_VLM_DFN,
                format!(
                    "Snapshot volume definition {nr} of snapshot '{}' not found.",
                    snap.name
                ),
            ));
        }
        let nodes = if b.nodes.is_empty() {
            snap.nodes.clone()
        } else {
            b.nodes.clone()
        };
        for n in &nodes {
            if !snap.nodes.iter().any(|s| s.eq_ignore_ascii_case(n)) {
                return Err(fail(
                    FAIL_NOT_FOUND_SNAPSHOT,
                    format!("Snapshot '{}' not found on node '{n}'.", snap.name),
                ));
            }
            self.node_ref(n)?;
        }
        for nr in snap.vols.keys() {
            self.be
                .restore_into(&src, &snap.name, *nr, &tname, *nr)
                .map_err(|e| fail(FAIL_UNKNOWN_ERROR, e))?;
            if let Some(vd) = self.st.rds.get(&tk).and_then(|r| r.vds.get(nr)) {
                self.be
                    .ensure_volume(&tname, *nr, vd.size_kib)
                    .map_err(|e| fail(FAIL_UNKNOWN_ERROR, e))?;
            }
        }
        let mut out = vec![];
        for n in &nodes {
            let pool = self.pool_name.clone();
            self.add_resource(&tk, n, vec![], pool, Props::new(), &mut out)?;
        }
        out.push(Entry::new(
            CREATED,
            format!(
                "Restored resource '{tname}' from snapshot '{}' of '{src}'.",
                snap.name
            ),
        ));
        self.sync_tiebreaker(&tk, &mut out);
        Ok(out)
    }
}
