//! The DRBD side of a resource: roles (Primary/in use), tie-breakers and quorum.

use crate::sim::backing::{Backend, Backing};
use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

impl Core {
    /// Primary on that node: forced through the control API, or its loop device held open.
    pub fn rsc_in_use_raw(&self, _rd: &RdSt, r: &RscSt) -> bool {
        if r.forced_in_use {
            return true;
        }
        self.be.mode == Backing::Loop && r.loops.values().any(|d| Backend::device_busy(d))
    }

    pub(crate) fn in_use_nodes(&self, rd: &RdSt) -> Vec<String> {
        rd.rscs
            .values()
            .filter(|r| self.rsc_in_use_raw(rd, r))
            .map(|r| r.node.clone())
            .collect()
    }

    pub(crate) fn tiebreaker_wanted(&self, rd: &RdSt) -> bool {
        let auto_tb = self
            .eff_prop(rd, "DrbdOptions/auto-add-quorum-tiebreaker")
            .is_none_or(|v| !matches!(v.to_ascii_lowercase().as_str(), "false" | "no"));
        let quorum = self
            .eff_prop(rd, "DrbdOptions/Resource/quorum")
            .is_none_or(|v| v != "off")
            && self
                .eff_prop(rd, "DrbdOptions/auto-quorum")
                .is_none_or(|v| v != "disabled");
        auto_tb && quorum
    }

    pub(crate) fn set_tiebreaker(&mut self, rk: &str, nk: &str, on: bool) {
        let be = self.be.clone();
        let Some(rd) = self.st.rds.get_mut(rk) else {
            return;
        };
        let name = rd.name.clone();
        let vds: Vec<(u32, u32)> = rd.vds.values().map(|v| (v.nr, v.minor)).collect();
        let Some(r) = rd.rscs.get_mut(nk) else { return };
        if on && !r.is_tiebreaker() {
            for (nr, _) in &vds {
                be.detach(&r.node, &name, *nr, r.loops.get(nr).map(String::as_str));
            }
            r.loops.clear();
            r.flags = vec![
                "DISKLESS".into(),
                "DRBD_DISKLESS".into(),
                "TIE_BREAKER".into(),
            ];
        } else if !on && r.is_tiebreaker() {
            r.flags.retain(|f| f != "TIE_BREAKER");
            for (nr, minor) in &vds {
                if let Ok(Some(lo)) = be.attach(&r.node, &name, *nr, *minor) {
                    r.loops.insert(*nr, lo);
                }
            }
        }
    }

    /// Turns a diskless resource into a diskful one on the node's pool.
    pub(crate) fn toggle_diskful(&mut self, rk: &str, nk: &str, out: &mut Vec<Entry>) {
        self.set_tiebreaker(rk, nk, false);
        let pool = self.pool_name.clone();
        if let Some(rd) = self.st.rds.get_mut(rk) {
            let name = rd.name.clone();
            if let Some(r) = rd.rscs.get_mut(nk) {
                r.flags.clear();
                r.pool = pool;
                out.push(
                    Entry::new(MODIFIED, format!("Successfully toggled disk on resource '{name}' on node '{}' to diskful", r.node))
                        .obj("RscDfn", &name)
                        .obj("Node", &r.node),
                );
            }
        }
    }

    /// Adds or removes the automatic tie-breaker so the RD matches the quorum rules.
    pub(crate) fn sync_tiebreaker(&mut self, rk: &str, out: &mut Vec<Entry>) {
        let Some(rd) = self.st.rds.get(rk) else {
            return;
        };
        let diskful = rd.rscs.values().filter(|r| !r.is_diskless()).count();
        let other_diskless = rd
            .rscs
            .values()
            .any(|r| r.is_diskless() && !r.is_tiebreaker());
        let tb: Option<String> = rd
            .rscs
            .iter()
            .find(|(_, r)| r.is_tiebreaker())
            .map(|(k, _)| k.clone());
        let want =
            self.tiebreaker_wanted(rd) && diskful >= 2 && diskful % 2 == 0 && !other_diskless;
        let name = rd.name.clone();
        match (want, tb) {
            (true, None) => {
                let cand = self
                    .st
                    .nodes
                    .iter()
                    .find(|(k, n)| n.online && !rd.rscs.contains_key(*k))
                    .map(|(_, n)| n.name.clone());
                match cand {
                    Some(n) => {
                        let mut es = vec![];
                        let flags = vec!["DISKLESS".into(), "DRBD_DISKLESS".into(), "TIE_BREAKER".into()];
                        if self.add_resource(rk, &n, flags, DISKLESS_POOL.into(), Props::new(), &mut es).is_ok() {
                            out.push(
                                Entry::new(INFO_TIE_BREAKER_CREATED, format!("Tie breaker resource '{name}' created on {n}"))
                                    .obj("RscDfn", &name)
                                    .obj("Node", &n),
                            );
                        }
                    }
                    None => out.push(Entry::new(
                        WARN_NOT_ENOUGH_NODES_FOR_TIE_BREAKER,
                        format!("Could not find suitable node to automatically create a tie breaking resource for '{name}'."),
                    )),
                }
            }
            (false, Some(nk)) => {
                if let Some(r) = self.drop_resource(rk, &nk) {
                    out.push(
                        Entry::new(INFO_TIE_BREAKER_DELETING, "Tie breaker marked for deletion")
                            .obj("RscDfn", &name)
                            .obj("Node", r.node),
                    );
                }
            }
            _ => {}
        }
    }

    pub fn set_in_use(&mut self, rsc: &str, node: &str, on: bool) -> bool {
        match self
            .st
            .rds
            .get_mut(&key(rsc))
            .and_then(|rd| rd.rscs.get_mut(&key(node)))
        {
            Some(r) => {
                r.forced_in_use = on;
                true
            }
            None => false,
        }
    }

    pub fn set_node_online(&mut self, node: &str, on: bool) -> bool {
        match self.st.nodes.get_mut(&key(node)) {
            Some(n) => {
                n.online = on;
                true
            }
            None => false,
        }
    }
}
