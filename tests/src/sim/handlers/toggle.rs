//! Toggle-disk and migrate-disk (`PUT .../resources/{node}/toggle-disk[/diskful|/diskless[/pool]]`,
//! `.../migrate-disk/{from}[/pool]`), answered like linstor-server's `Resources` REST class and
//! `CtrlRscToggleDiskApiCallHandler`.

use serde::Deserialize;

use crate::sim::core::*;
use crate::sim::model::*;
use crate::sim::rc::*;

/// `JsonGenTypes.ToggleDiskRequest` (REST 1.24+).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ToggleDiskRequest {
    operation: Option<String>,
    storage_pool: Option<String>,
    migrate_from: Option<String>,
    layer_list: Vec<String>,
}

/// `JsonGenTypes.ToggleDiskDiskful`, the body of the deprecated diskful and migrate routes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ToggleDiskDiskful {
    layer_list: Vec<String>,
}

/// `CtrlRscToggleDiskApiCallHandler.ToggleOp` as far as the REST API exposes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToggleOp {
    Diskful,
    Diskless,
    Client,
}

impl ToggleOp {
    /// `ToggleOp.parse`.
    fn parse(s: Option<&str>) -> Result<ToggleOp, Fail> {
        let Some(s) = s else {
            return Err(fail(
                API_CALL_PARSE_ERROR,
                "No toggle operation type was specified",
            ));
        };
        match s.to_ascii_lowercase().as_str() {
            "into_drbd_diskful" => Ok(ToggleOp::Diskful),
            "into_drbd_diskless" => Ok(ToggleOp::Diskless),
            "into_drbd_client" => Ok(ToggleOp::Client),
            _ => Err(fail(
                API_CALL_PARSE_ERROR,
                format!("Could not parse '{s}'. Valid operations: INTO_DRBD_DISKFUL, INTO_DRBD_CLIENT, INTO_DRBD_DISKLESS"),
            )),
        }
    }

    fn remove_disk(self) -> bool {
        self != ToggleOp::Diskful
    }

    fn name(self) -> &'static str {
        match self {
            ToggleOp::Diskful => "INTO_DRBD_DISKFUL",
            ToggleOp::Diskless => "INTO_DRBD_DISKLESS",
            ToggleOp::Client => "INTO_DRBD_CLIENT",
        }
    }
}

/// What one toggle request asks for, after the REST class parsed it.
struct Toggle<'a> {
    node: &'a str,
    rsc: &'a str,
    pool: Option<String>,
    migrate_from: Option<String>,
    layers: Vec<String>,
    op: ToggleOp,
}

/// `CtrlRscToggleDiskApiCallHandler.determineToggleDiskAction`.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Noop,
    Normal,
    Abort,
    Retry,
}

/// A request the REST class refuses before the flux starts: `GrizzlyHttpService.LinstorMapper`
/// answers an `ApiRcException` with 400 and the bare entry (no context masks).
fn rejected(e: Entry) -> Resp {
    Resp::entries(400, &[e])
}

impl Core {
    /// `Resources.toggleDisk`.
    pub(crate) fn toggle_disk(&mut self, req: &Req<'_>) -> Resp {
        let b: ToggleDiskRequest = match parse_or_default(req.body) {
            Ok(b) => b,
            Err(e) => return rejected(*e),
        };
        let op = match ToggleOp::parse(b.operation.as_deref()) {
            Ok(op) => op,
            Err(e) => return rejected(*e),
        };
        self.toggle_reply(Toggle {
            node: &req.p[1],
            rsc: &req.p[0],
            pool: b.storage_pool,
            migrate_from: b.migrate_from,
            layers: b.layer_list,
            op,
        })
    }

    /// `Resources.toggleDiskDiskful` (deprecated), with or without a storage pool.
    pub(crate) fn toggle_diskful_route(&mut self, req: &Req<'_>) -> Resp {
        let b: ToggleDiskDiskful = match parse_or_default(req.body) {
            Ok(b) => b,
            Err(e) => return rejected(*e),
        };
        self.toggle_reply(Toggle {
            node: &req.p[1],
            rsc: &req.p[0],
            pool: req.p.get(2).cloned(),
            migrate_from: None,
            layers: b.layer_list,
            op: ToggleOp::Diskful,
        })
    }

    /// `Resources.toggleDiskDiskless` (deprecated): no body.
    pub(crate) fn toggle_diskless_route(&mut self, req: &Req<'_>) -> Resp {
        self.toggle_reply(Toggle {
            node: &req.p[1],
            rsc: &req.p[0],
            pool: req.p.get(2).cloned(),
            migrate_from: None,
            layers: vec![],
            op: ToggleOp::Diskless,
        })
    }

    /// `Resources.migrateDisk` (deprecated): a diskful toggle with `migrate_from`.
    pub(crate) fn migrate_disk_route(&mut self, req: &Req<'_>) -> Resp {
        let b: ToggleDiskDiskful = match parse_or_default(req.body) {
            Ok(b) => b,
            Err(e) => return rejected(*e),
        };
        self.toggle_reply(Toggle {
            node: &req.p[1],
            rsc: &req.p[0],
            pool: req.p.get(3).cloned(),
            migrate_from: Some(req.p[2].clone()),
            layers: b.layer_list,
            op: ToggleOp::Diskful,
        })
    }

    /// `resourceToggleDisk`: the node name is parsed while the call is built
    /// (`freeCapacityFetcher.fetchThinFreeCapacities(asNodeName(..))`), so an invalid one is
    /// refused like a bad body; the rest runs in the flux, answered in `MOD`/`RSC` context.
    fn toggle_reply(&mut self, t: Toggle<'_>) -> Resp {
        if hostname_check(t.node).is_err() {
            return rejected(*invalid_node_name(t.node, None));
        }
        ctx_reply(MOD, OBJ_RSC, 200, self.toggle_in_tx(&t))
    }

    /// `toggleDiskInTransaction`.
    fn toggle_in_tx(&mut self, t: &Toggle<'_>) -> MR {
        let rsc_ctx = |e: Entry| -> Fail { Box::new(e.rsc(t.rsc, t.node)) };
        // CtrlApiDataLoader.loadRsc: node, then definition, then the resource.
        let node = self.node_ref(t.node)?.name.clone();
        let rd = self.rd_ref(t.rsc)?;
        let (rk, name) = (key(&rd.name), rd.name.clone());
        let nk = key(&node);
        let r = rd.rscs.get(&nk).ok_or_else(|| {
            rsc_ctx(
                Entry::new(
                    FAIL_NOT_FOUND_RSC,
                    format!("Resource '{name}' on node '{node}' not found."),
                )
                .cause(format!(
                    "The specified resource '{name}' on node '{node}' could not be found in the database"
                ))
                .correction(format!(
                    "Create a resource with the name '{name}' on node '{node}' first."
                )),
            )
        })?;
        let has = |f: &str| r.flags.iter().any(|x| x == f);
        let remove = t.op.remove_disk();
        let flip = |same: bool| if same { Action::Retry } else { Action::Abort };
        let action = if has(DISK_ADD_REQUESTED) && r.is_diskless() {
            flip(!remove)
        } else if has(DISK_REMOVE_REQUESTED) {
            flip(remove)
        } else if r.is_diskless() == remove {
            Action::Noop
        } else {
            Action::Normal
        };
        let mut out = vec![];
        match action {
            Action::Noop => return Ok(self.toggle_noop(&rk, &nk, t.op)),
            Action::Retry => {
                // handleRetryAction.
                out.push(
                    Entry::new(
                        INFO_NOOP,
                        format!(
                            "Retrying toggle disk {} for resource '{name}' on node '{node}'",
                            t.op.name()
                        ),
                    )
                    .rsc(&name, &node),
                );
                self.update_and_adjust(&rk, &nk, t.op, &mut out);
                return Ok(out);
            }
            Action::Abort | Action::Normal => {}
        }
        if !layer_stack_ok(&t.layers) {
            return Err(rsc_ctx(Entry::new(
                FAIL_INVLD_LAYER_STACK,
                format!("Unsupported layer stack {:?}", t.layers),
            )));
        }
        let rd = &self.st.rds[&rk];
        if remove {
            // validateDiskRemovalAllowed.
            let online_disks = rd
                .rscs
                .values()
                .filter(|p| !p.is_diskless() && self.node_online(&p.node))
                .count();
            if online_disks <= 1 {
                return Err(rsc_ctx(Entry::new(
                    FAIL_INSUFFICIENT_REPLICA_COUNT,
                    "Cannot remove the disk from the only online resource with a disk",
                )));
            }
        } else {
            // ensureAllPeersHavePeerSlotLeft: each diskful peer needs a slot for every other
            // diskful resource once this one has a disk.
            let required = rd.rscs.values().filter(|p| !p.is_diskless()).count() as u32;
            let short: Vec<String> = rd
                .rscs
                .values()
                .filter(|p| !p.is_diskless())
                .filter_map(|p| {
                    let slots = p.peer_slots.or(rd.peer_slots).unwrap_or(7);
                    (slots < required).then(|| {
                        format!(
                            " * Node: '{}', Rsc: '{name}' has peer slots: {slots}",
                            p.node
                        )
                    })
                })
                .collect();
            if !short.is_empty() {
                return Err(rsc_ctx(
                    Entry::new(
                        FAIL_INSUFFICIENT_PEER_SLOTS,
                        "Existing resources do not have enough peer slots",
                    )
                    .details(format!(
                        "Resources with insufficient peer slots ({required} required): \n{}",
                        short.join("\n")
                    )),
                ));
            }
        }
        let pool = self.toggle_pool(&rk, &nk, t)?;
        if !remove {
            let rd = &self.st.rds[&rk];
            let free = self.pool_free(&nk);
            if let Some(vd) = rd.vds.values().find(|v| v.size_kib > free) {
                // checkFreeSpace.
                return Err(rsc_ctx(Entry::new(
                    FAIL_INVLD_VLM_SIZE,
                    format!(
                        "Not enough free space available for volume {} of resource '{name}'.",
                        vd.nr
                    ),
                )));
            }
            if let Some(from) = t.migrate_from.as_deref().filter(|f| !f.is_empty()) {
                self.migrate_source_ok(&rk, from)?;
            }
        }
        let migrate_from = t
            .migrate_from
            .as_deref()
            .filter(|f| !f.is_empty() && !remove)
            .and_then(|f| self.st.nodes.get(&key(f)).map(|n| n.name.clone()));
        let Some(r) = self.st.rds.get_mut(&rk).and_then(|rd| rd.rscs.get_mut(&nk)) else {
            return Err(fail(FAIL_UNKNOWN_ERROR, "lost"));
        };
        // clearToggleDiskFlags (abort), then markDiskRemoveRequested / markDiskAddRequested.
        r.flags
            .retain(|f| f != DISK_ADD_REQUESTED && f != DISK_REMOVE_REQUESTED);
        r.flags.push(
            if remove {
                DISK_REMOVE_REQUESTED
            } else {
                DISK_ADD_REQUESTED
            }
            .into(),
        );
        // updateStorPoolProp; the layer data follows when the toggle finishes.
        match pool {
            Some(p) => r.props.insert("StorPoolName".into(), p),
            None => r.props.remove("StorPoolName"),
        };
        // setDiskfulByProp(USER) / removeDiskfulByProp.
        if remove {
            r.props.remove(KEY_RSC_DISKFUL_BY);
        } else {
            r.props.insert(KEY_RSC_DISKFUL_BY.into(), "user".into());
        }
        if let Some(from) = migrate_from {
            r.props.insert(KEY_RSC_MIGRATE_FROM.into(), from);
        }
        let action = if remove {
            "Removal of disk from"
        } else {
            "Addition of disk to"
        };
        out.push(
            Entry::new(
                MODIFIED,
                format!("{action} resource '{name}' on node '{node}' registered"),
            )
            .rsc(&name, &node),
        );
        self.update_and_adjust(&rk, &nk, t.op, &mut out);
        Ok(out)
    }

    /// `handleNoopAction`: already in the target state; a change between diskless kinds is
    /// a resource modify (`CtrlRscApiCallHandler.modify`).
    fn toggle_noop(&mut self, rk: &str, nk: &str, op: ToggleOp) -> Vec<Entry> {
        let Some(rd) = self.st.rds.get_mut(rk) else {
            return vec![];
        };
        let name = rd.name.clone();
        let Some(r) = rd.rscs.get_mut(nk) else {
            return vec![];
        };
        let node = r.node.clone();
        let (client, tb) = (r.drbd_client, r.is_tiebreaker());
        let state = match op {
            ToggleOp::Diskful => "diskful",
            ToggleOp::Diskless if client || tb => {
                r.drbd_client = false;
                r.flags.retain(|f| f != "TIE_BREAKER");
                return vec![Entry::new(
                    MODIFIED,
                    format!("Resource '{name}' on node '{node}' modified."),
                )
                .rsc(&name, &node)];
            }
            ToggleOp::Client if !client => {
                r.drbd_client = true;
                r.flags.retain(|f| f != "TIE_BREAKER");
                return vec![Entry::new(
                    MODIFIED,
                    format!("Resource '{name}' on node '{node}' modified."),
                )
                .rsc(&name, &node)];
            }
            ToggleOp::Diskless => "diskless",
            ToggleOp::Client => "a diskless client",
        };
        vec![Entry::new(
            INFO_NOOP,
            format!("Resource '{name}' on node '{node}' is already {state}"),
        )
        .rsc(&name, &node)]
    }

    /// `updateStorPoolProp` and `CtrlStorPoolResolveHelper.resolveStorPool` for the first
    /// volume: the pool the resource will be on, `None` when none was given for a disk.
    fn toggle_pool(&self, rk: &str, nk: &str, t: &Toggle<'_>) -> Result<Option<String>, Fail> {
        let rd = &self.st.rds[rk];
        let r = &rd.rscs[nk];
        let given = t.pool.clone().filter(|p| !p.trim().is_empty());
        let wanted = match (&given, t.op.remove_disk()) {
            (Some(p), _) => Some(p.clone()),
            (None, true) => Some(DISKLESS_POOL.to_string()),
            (None, false) => None,
        };
        let Some(vd) = rd.vds.values().next() else {
            return Ok(wanted);
        };
        let known = |p: &str| {
            if p.eq_ignore_ascii_case(DISKLESS_POOL) {
                Some((DISKLESS_POOL.to_string(), true))
            } else if p.eq_ignore_ascii_case(&self.pool_name) {
                Some((self.pool_name.clone(), false))
            } else {
                None
            }
        };
        // checkStorPoolLoaded; the LinStorException "Dependency not found" becomes the cause.
        let not_deployed = |p: &str| -> Fail {
            Box::new(
                Entry::new(
                    FAIL_NOT_FOUND_DFLT_STOR_POOL,
                    format!(
                        "The storage pool '{p}' for resource '{}' for volume number '{}' is not deployed on node '{}'.",
                        rd.name, vd.nr, r.node
                    ),
                )
                .cause("Dependency not found")
                .rsc(&rd.name, &r.node),
            )
        };
        match (&wanted, t.op.remove_disk()) {
            (Some(p), true) => match known(p) {
                None => Err(not_deployed(p)),
                // checkBackingDiskWithDiskless.
                Some((sp, false)) => Err(Box::new(
                    Entry::new(
                        FAIL_INVLD_STOR_POOL_NAME,
                        "Storage pool with backing disk not allowed with diskless resource.",
                    )
                    .cause(format!(
                        "Resource '{}' on node '{}' flagged as diskless, but a storage pool '{sp}' with backing disk was specified.\nIncorrect storage pool used.",
                        rd.name, r.node
                    ))
                    .correction("Use a storage pool with a diskless driver or remove the diskless flag.")
                    .rsc(&rd.name, &r.node),
                )),
                Some((sp, true)) => Ok(Some(sp)),
            },
            (Some(p), false) => match known(p) {
                None => Err(not_deployed(p)),
                // Simulator rule (stricter than resolveStorPool, which accepts it): a disk
                // cannot live in a diskless pool.
                Some((sp, true)) => Err(Box::new(
                    Entry::new(
                        FAIL_INVLD_STOR_POOL_NAME,
                        "Storage pool without backing disk not allowed with diskful resource.",
                    )
                    .cause(format!(
                        "Resource '{}' on node '{}' should get a disk, but the diskless storage pool '{sp}' was specified.",
                        rd.name, r.node
                    ))
                    .correction("Use a storage pool with a backing disk.")
                    .rsc(&rd.name, &r.node),
                )),
                Some((sp, false)) => Ok(Some(sp)),
            },
            // resolveNeighbourDiskfulStorPool: the diskful peers' pools, then DfltStorPool.
            (None, _) => {
                let peer_pool = rd
                    .rscs
                    .values()
                    .any(|p| p.node != r.node && !p.is_diskless());
                if peer_pool || self.pool_name == "DfltStorPool" {
                    Ok(None)
                } else {
                    Err(not_deployed("null"))
                }
            }
        }
    }

    /// `prepareDiskAddition` with `migrate_from`: `loadRsc(from, rsc, true)` and
    /// `CtrlRscDeleteApiHelper.ensureNotInUse`.
    fn migrate_source_ok(&self, rk: &str, from: &str) -> Result<(), Fail> {
        hostname_check(from).map_err(|why| invalid_node_name(from, Some(why)))?;
        let n = self.node_ref(from)?;
        let rd = &self.st.rds[rk];
        let (name, node) = (rd.name.clone(), n.name.clone());
        let src = rd.rscs.get(&key(&node)).ok_or_else(|| {
            Box::new(
                Entry::new(
                    FAIL_NOT_FOUND_RSC,
                    format!("Resource '{name}' on node '{node}' not found."),
                )
                .cause(format!(
                    "The specified resource '{name}' on node '{node}' could not be found in the database"
                ))
                .correction(format!(
                    "Create a resource with the name '{name}' on node '{node}' first."
                ))
                .rsc(&name, &node),
            )
        })?;
        if self.rsc_in_use_raw(rd, src) {
            return Err(Box::new(
                Entry::new(FAIL_IN_USE, format!("Resource '{name}' is still in use."))
                    .cause("Resource is mounted/in use.")
                    .correction(format!("Un-mount resource '{name}' on the node '{node}'."))
                    .rsc(&name, &node),
            ));
        }
        Ok(())
    }

    /// `updateAndAdjustDisk`: stops with `WARN_NOT_CONNECTED` while the node is offline (the
    /// requested flag stays; `resourceDefinitionConnected` resumes it), else finishes the
    /// toggle (`finishOperation`) and runs the auto-helpers (tie-breaker).
    fn update_and_adjust(&mut self, rk: &str, nk: &str, op: ToggleOp, out: &mut Vec<Entry>) {
        let Some(node) = self
            .st
            .rds
            .get(rk)
            .and_then(|rd| rd.rscs.get(nk))
            .map(|r| r.node.clone())
        else {
            return;
        };
        if !self.node_online(&node) {
            out.push(not_connected(&node));
            return;
        }
        if op.remove_disk() {
            self.remove_disk_now(rk, nk, op == ToggleOp::Client, out);
        } else {
            self.add_disk_now(rk, nk, out);
            self.warn_offline_peers(rk, nk, out);
        }
        self.sync_tiebreaker(rk, out);
    }

    /// `notConnectedErrorForNodesWarnForOthers` of `finishOperation`.
    fn warn_offline_peers(&self, rk: &str, nk: &str, out: &mut Vec<Entry>) {
        let Some(rd) = self.st.rds.get(rk) else {
            return;
        };
        for (k, p) in &rd.rscs {
            if k != nk && !self.node_online(&p.node) {
                out.push(not_connected(&p.node));
            }
        }
    }

    /// The disk removed on an online node: `markDiskRemoving` sets `DRBD_DISKLESS` ("Removed
    /// disk on {0}"), `finishOperation` clears the requested flags and rebuilds the layer data
    /// on the diskless pool ("Notified {0} that disk has been removed on ''<node>''" per peer).
    fn remove_disk_now(&mut self, rk: &str, nk: &str, client: bool, out: &mut Vec<Entry>) {
        let be = self.be.clone();
        let online = self.online_node_keys();
        let Some(rd) = self.st.rds.get_mut(rk) else {
            return;
        };
        let name = rd.name.clone();
        let nrs: Vec<u32> = rd.vds.keys().copied().collect();
        let peers: Vec<(String, bool)> = rd
            .rscs
            .iter()
            .filter(|(k, _)| k.as_str() != nk)
            .map(|(k, p)| (p.node.clone(), online.contains(k)))
            .collect();
        let Some(r) = rd.rscs.get_mut(nk) else { return };
        for nr in nrs {
            be.detach(&r.node, &name, nr, r.loops.get(&nr).map(String::as_str));
        }
        r.loops.clear();
        r.flags
            .retain(|f| f != DISK_REMOVE_REQUESTED && f != DISK_ADD_REQUESTED);
        for f in ["DISKLESS", "DRBD_DISKLESS"] {
            if !r.flags.iter().any(|x| x == f) {
                r.flags.push(f.into());
            }
        }
        r.drbd_client = client;
        r.pool = r
            .props
            .remove("StorPoolName")
            .unwrap_or_else(|| DISKLESS_POOL.into());
        let node = r.node.clone();
        let modified = |m: String| Entry::new(MODIFIED, m).rsc(&name, &node);
        out.push(modified(format!("Removed disk on '{node}'")));
        for (p, on) in peers {
            if on {
                out.push(modified(format!(
                    "Notified '{p}' that disk has been removed on '{node}'"
                )));
            } else {
                out.push(not_connected(&p));
            }
        }
    }

    /// `resourceDefinitionConnected` for disk removals stored while `nk` was offline.
    pub(crate) fn resume_disk_removals(&mut self, nk: &str) {
        let pending: Vec<(String, bool)> = self
            .st
            .rds
            .iter()
            .filter_map(|(k, rd)| {
                rd.rscs
                    .get(nk)
                    .filter(|r| r.flags.iter().any(|f| f == DISK_REMOVE_REQUESTED))
                    .map(|r| (k.clone(), r.drbd_client))
            })
            .collect();
        for (rk, client) in pending {
            self.remove_disk_now(&rk, nk, client, &mut vec![]);
            self.sync_tiebreaker(&rk, &mut vec![]);
        }
    }

    /// `waitForMigration` / `startDeletionInTransaction`: once the new disk is `UpToDate` and
    /// the source is not in use, the source resource is deleted in the background. True when
    /// something changed.
    pub(crate) fn finish_migrations(&mut self) -> bool {
        let mut done = vec![];
        for (rk, rd) in &self.st.rds {
            for (nk, r) in &rd.rscs {
                let Some(from) = r.props.get(KEY_RSC_MIGRATE_FROM) else {
                    continue;
                };
                if r.flags.iter().any(|f| f == DISK_ADD_REQUESTED) || !self.up_to_date(r) {
                    continue;
                }
                let src = rd.rscs.get(&key(from));
                if src.is_some_and(|s| self.rsc_in_use_raw(rd, s)) {
                    continue;
                }
                done.push((rk.clone(), nk.clone(), key(from)));
            }
        }
        let changed = !done.is_empty();
        for (rk, nk, from) in done {
            if let Some(r) = self.st.rds.get_mut(&rk).and_then(|rd| rd.rscs.get_mut(&nk)) {
                r.props.remove(KEY_RSC_MIGRATE_FROM);
            }
            let online = self
                .st
                .rds
                .get(&rk)
                .and_then(|rd| rd.rscs.get(&from))
                .map(|s| self.node_online(&s.node));
            match online {
                Some(true) => {
                    self.drop_resource(&rk, &from);
                    self.sync_tiebreaker(&rk, &mut vec![]);
                }
                Some(false) => {
                    if let Some(s) = self
                        .st
                        .rds
                        .get_mut(&rk)
                        .and_then(|rd| rd.rscs.get_mut(&from))
                    {
                        s.flags.push("DELETE".into());
                    }
                }
                None => {}
            }
        }
        changed
    }
}
