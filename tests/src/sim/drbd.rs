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
            r.drbd_client = false;
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

    /// Turns a diskless resource into a diskful one on the node's pool, answered like
    /// `CtrlRscToggleDiskApiCallHandler` with the node online: "Addition of disk ... registered"
    /// (`handleNormalToggleDisk`), then [`Core::add_disk_now`].
    pub(crate) fn toggle_diskful(&mut self, rk: &str, nk: &str, out: &mut Vec<Entry>) {
        let Some((name, node)) = self
            .st
            .rds
            .get(rk)
            .and_then(|rd| rd.rscs.get(nk).map(|r| (rd.name.clone(), r.node.clone())))
        else {
            return;
        };
        out.push(
            Entry::new(
                MOD | OBJ_RSC | MODIFIED,
                format!("Addition of disk to resource '{name}' on node '{node}' registered"),
            )
            .rsc(&name, &node),
        );
        self.add_disk_now(rk, nk, out);
    }

    /// The disk added on an online node: "Prepared {0} to expect disk on ''<node>''" per online
    /// peer (`updateAndAdjustDiskInTransaction`), "Added disk on {0}"
    /// (`finishOperationInTransaction`, whose `markDiskAdded` clears `DRBD_DISKLESS`, and with
    /// it `TIE_BREAKER`, and the `DISK_ADD*` flags).
    pub(crate) fn add_disk_now(&mut self, rk: &str, nk: &str, out: &mut Vec<Entry>) {
        self.set_tiebreaker(rk, nk, false);
        let pool = self.pool_name.clone();
        let online = self.online_node_keys();
        let Some(rd) = self.st.rds.get_mut(rk) else {
            return;
        };
        let name = rd.name.clone();
        let written = rd.written;
        let peers: Vec<String> = rd
            .rscs
            .iter()
            .filter(|(k, _)| k.as_str() != nk && online.contains(k))
            .map(|(_, p)| p.node.clone())
            .collect();
        let Some(r) = rd.rscs.get_mut(nk) else { return };
        r.flags.clear();
        r.drbd_client = false;
        r.pool = pool;
        r.props.remove("StorPoolName");
        r.deployed_ms = now_ms() + self.deploy_delay_ms as i64;
        r.synced_ms = r.deployed_ms + if written { self.resync_ms as i64 } else { 0 };
        let node = r.node.clone();
        let modified = |m: String| Entry::new(MOD | OBJ_RSC | MODIFIED, m).rsc(&name, &node);
        for p in peers {
            out.push(modified(format!(
                "Prepared '{p}' to expect disk on '{node}'"
            )));
        }
        out.push(modified(format!("Added disk on '{node}'")));
    }

    /// A disk asked for on an offline node (`CtrlRscToggleDiskApiCallHandler`: the toggle is
    /// stored as `DISK_ADD_REQUESTED`, `updateAndAdjustDisk` stops at the offline node and
    /// answers `WARN_NOT_CONNECTED`; `resourceDefinitionConnected` finishes it on reconnect).
    /// `CtrlRscCrtApiHelper` drops the `TIE_BREAKER` flag first.
    pub(crate) fn request_disk(&mut self, rk: &str, nk: &str, out: &mut Vec<Entry>) {
        self.set_tiebreaker(rk, nk, false);
        let Some(rd) = self.st.rds.get_mut(rk) else {
            return;
        };
        let name = rd.name.clone();
        let Some(r) = rd.rscs.get_mut(nk) else { return };
        if !r.flags.iter().any(|f| f == DISK_ADD_REQUESTED) {
            r.flags.push(DISK_ADD_REQUESTED.into());
        }
        let node = r.node.clone();
        out.push(
            Entry::new(
                MOD | OBJ_RSC | MODIFIED,
                format!("Addition of disk to resource '{name}' on node '{node}' registered"),
            )
            .rsc(&name, &node),
        );
        out.push(
            not_connected(&node)
                .with_context(MOD, OBJ_RSC)
                .obj("RscDfn", &name),
        );
    }

    /// The answer when a tie-breaker became a regular diskless resource through resource
    /// create (`CtrlRscCrtApiHelper`: `updateSatellites` of the definition, combined with
    /// "Updated resource {1} on {0}" for the node itself and "Update of resource {1} on
    /// '<node>' applied on node {0}" for the peers; `MessageFormat` eats the quotes around the
    /// literal node name). Offline nodes answer `WARN_NOT_CONNECTED`.
    pub(crate) fn tiebreaker_released(&self, rk: &str, nk: &str, out: &mut Vec<Entry>) {
        let Some(rd) = self.st.rds.get(rk) else {
            return;
        };
        let Some(tb) = rd.rscs.get(nk).map(|r| r.node.clone()) else {
            return;
        };
        for r in rd.rscs.values() {
            if !self.node_online(&r.node) {
                out.push(not_connected(&r.node));
            } else if r.node == tb {
                out.push(Entry::new(
                    MODIFIED,
                    format!("Updated resource '{}' on '{tb}'", rd.name),
                ));
            } else {
                out.push(Entry::new(
                    MODIFIED,
                    format!(
                        "Update of resource '{}' on {tb} applied on node '{}'",
                        rd.name, r.node
                    ),
                ));
            }
        }
    }

    /// Adds or removes the automatic tie-breaker so the RD matches the quorum rules.
    pub(crate) fn sync_tiebreaker(&mut self, rk: &str, out: &mut Vec<Entry>) {
        let Some(rd) = self.st.rds.get(rk) else {
            return;
        };
        let diskful = rd
            .rscs
            .values()
            .filter(|r| !r.is_diskless() && !r.is_deleting())
            .count();
        let other_diskless = rd
            .rscs
            .values()
            .any(|r| r.is_diskless() && !r.is_tiebreaker() && !r.drbd_client && !r.is_deleting());
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
                                    .rsc(&name, &n),
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
                            .rsc(&name, &r.node),
                    );
                }
            }
            _ => {}
        }
    }

    /// DRBD's local disk state of `r` as the satellite reports it; `None` while its node is
    /// offline (no state is known then).
    pub fn disk_state(&self, r: &RscSt) -> Option<String> {
        if !self.node_online(&r.node) {
            return None;
        }
        if r.is_diskless() {
            return Some("Diskless".into());
        }
        let now = now_ms();
        if now < r.deployed_ms {
            return Some("Inconsistent".into());
        }
        if now < r.synced_ms {
            let pct = (now - r.deployed_ms) as f64 * 100.0 / (r.synced_ms - r.deployed_ms) as f64;
            return Some(format!("SyncTarget({pct:.2}%)"));
        }
        Some("UpToDate".into())
    }

    /// True when the disk of `r` is known to be `UpToDate`.
    pub fn up_to_date(&self, r: &RscSt) -> bool {
        self.disk_state(r).as_deref() == Some("UpToDate")
    }

    /// Every diskful resource of `rd` reports `UpToDate` (an offline one reports nothing,
    /// which counts as not UpToDate: `SatelliteResourceStateDrbdUtils.allVolumesUpToDate`).
    pub fn all_up_to_date(&self, rd: &RdSt) -> bool {
        rd.rscs
            .values()
            .filter(|r| !r.is_diskless() && !r.is_deleting())
            .all(|r| self.up_to_date(r))
    }

    /// `DrbdOptions/Net/allow-two-primaries` for the connection between two nodes:
    /// resource connection, then definition, group and controller.
    pub fn two_primaries_allowed(&self, rd: &RdSt, a: &str, b: &str) -> bool {
        const K: &str = "DrbdOptions/Net/allow-two-primaries";
        rd.conns
            .get(&Self::conn_key(a, b))
            .and_then(|p| p.get(K).cloned())
            .or_else(|| self.eff_prop(rd, K))
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    }

    /// Opens the device on `node` for writing, as auto-promote does: the resource becomes
    /// Primary there, or the state change fails with DRBD's message.
    pub fn promote(&mut self, rsc: &str, node: &str) -> Result<(), RoleError> {
        let rd = self.st.rds.get(&key(rsc)).ok_or(RoleError::NoResource)?;
        let r = rd.rscs.get(&key(node)).ok_or(RoleError::NoResource)?;
        if !self.node_online(&r.node) {
            return Err(RoleError::NodeOffline);
        }
        if let Some(p) = rd.rscs.values().find(|p| {
            p.node != r.node
                && self.rsc_in_use_raw(rd, p)
                && !self.two_primaries_allowed(rd, &r.node, &p.node)
        }) {
            return Err(RoleError::Refused(format!(
                "{}: State change failed: (-1) Multiple primaries not allowed by config (Primary on '{}')",
                rd.name, p.node
            )));
        }
        let data = self.up_to_date(r)
            || rd
                .rscs
                .values()
                .any(|p| p.node != r.node && !p.is_diskless() && self.up_to_date(p));
        if !data {
            return Err(RoleError::Refused(format!(
                "{}: State change failed: (-2) Need access to UpToDate data",
                rd.name
            )));
        }
        let rd = self
            .st
            .rds
            .get_mut(&key(rsc))
            .ok_or(RoleError::NoResource)?;
        rd.written = true;
        let r = rd.rscs.get_mut(&key(node)).ok_or(RoleError::NoResource)?;
        r.forced_in_use = true;
        if r.is_tiebreaker() {
            r.flags.retain(|f| f != "TIE_BREAKER");
        }
        Ok(())
    }

    /// Sets or clears "opened on node N" (Primary). False when there is no such resource
    /// or DRBD refuses the promotion (see [`Core::promote`]).
    pub fn set_in_use(&mut self, rsc: &str, node: &str, on: bool) -> bool {
        if on {
            return self.promote(rsc, node).is_ok();
        }
        match self
            .st
            .rds
            .get_mut(&key(rsc))
            .and_then(|rd| rd.rscs.get_mut(&key(node)))
        {
            Some(r) => {
                r.forced_in_use = false;
                true
            }
            None => false,
        }
    }

    /// Takes a satellite offline or back online; coming back finishes the deletions that
    /// waited for it (`resourceDefinitionConnected`). An offline node loses its roles.
    pub fn set_node_online(&mut self, node: &str, on: bool) -> bool {
        let Some(n) = self.st.nodes.get_mut(&key(node)) else {
            return false;
        };
        n.online = on;
        let nk = key(node);
        if !on {
            for rd in self.st.rds.values_mut() {
                if let Some(r) = rd.rscs.get_mut(&nk) {
                    r.forced_in_use = false;
                }
            }
            return true;
        }
        let pending: Vec<String> = self
            .st
            .rds
            .iter()
            .filter(|(_, rd)| {
                rd.rscs
                    .get(&nk)
                    .is_some_and(|r| r.flags.iter().any(|f| f == DISK_ADD_REQUESTED))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for rk in pending {
            self.add_disk_now(&rk, &nk, &mut vec![]);
            self.sync_tiebreaker(&rk, &mut vec![]);
        }
        self.resume_disk_removals(&nk);
        self.finish_pending_deletes();
        true
    }

    /// Deletes resources and definitions marked for deletion once all their nodes are online.
    pub(crate) fn finish_pending_deletes(&mut self) {
        let ready: Vec<String> = self
            .st
            .rds
            .iter()
            .filter(|(_, rd)| {
                (rd.flags.iter().any(|f| f == "DELETE") || rd.rscs.values().any(RscSt::is_deleting))
                    && rd.rscs.values().all(|r| self.node_online(&r.node))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for rk in ready {
            let (gone, rd_gone): (Vec<String>, bool) = match self.st.rds.get(&rk) {
                Some(rd) => (
                    rd.rscs
                        .iter()
                        .filter(|(_, r)| r.is_deleting() || rd.flags.iter().any(|f| f == "DELETE"))
                        .map(|(k, _)| k.clone())
                        .collect(),
                    rd.flags.iter().any(|f| f == "DELETE"),
                ),
                None => continue,
            };
            for nk in gone {
                self.drop_resource(&rk, &nk);
            }
            if rd_gone {
                if let Some(rd) = self.st.rds.remove(&rk) {
                    for vd in rd.vds.values() {
                        self.be.remove_volume(&rd.name, vd.nr);
                    }
                }
            } else {
                let mut out = vec![];
                self.sync_tiebreaker(&rk, &mut out);
            }
        }
    }
}

/// Why a resource could not become Primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleError {
    NoResource,
    NodeOffline,
    /// DRBD refused the state change; the message is drbdsetup's.
    Refused(String),
}

impl std::fmt::Display for RoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoleError::NoResource => f.write_str("no such resource"),
            RoleError::NodeOffline => f.write_str("the node is offline"),
            RoleError::Refused(m) => f.write_str(m),
        }
    }
}
