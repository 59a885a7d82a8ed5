//! The simulated controller: request routing and the handlers for every `/v1` route.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::backing::{Backend, Backing};
use super::model::*;
use super::rc::*;
use super::render::non_empty;

pub const DISKLESS_POOL: &str = "DfltDisklessStorPool";
pub const DFLT_RG: &str = "DfltRscGrp";
const MAX_VLM_KIB: i64 = 1 << 40;

/// A handler's answer before it is written to the wire.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn json(status: u16, v: Value) -> Resp {
        Resp {
            status,
            body: Some(non_empty(v)),
            headers: vec![],
        }
    }

    pub fn entries(status: u16, e: &[Entry]) -> Resp {
        Resp {
            status,
            body: Some(entries_json(e)),
            headers: vec![],
        }
    }

    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            body: None,
            headers: vec![],
        }
    }
}

/// One parsed request as the handlers see it.
#[derive(Debug)]
pub struct Req<'a> {
    pub p: Vec<String>,
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Req<'_> {
    fn q_all(&self, k: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(a, _)| a == k)
            .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn q_bool(&self, k: &str) -> bool {
        self.query
            .iter()
            .any(|(a, v)| a == k && v.eq_ignore_ascii_case("true"))
    }
}

type Fail = Box<Entry>;
type MR = Result<Vec<Entry>, Fail>;

fn fail(code: u64, msg: impl Into<String>) -> Fail {
    Box::new(Entry::new(code, msg))
}

pub fn key(s: &str) -> String {
    s.to_ascii_uppercase()
}

fn parse<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, Fail> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(
            Entry::new(API_CALL_PARSE_ERROR, "Unable to parse input json.").details(e.to_string()),
        )
    })
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn valid_rsc_name(n: &str) -> bool {
    let b = n.as_bytes();
    (2..=48).contains(&b.len())
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
        && b.iter().any(|c| c.is_ascii_alphabetic())
        && !n.eq_ignore_ascii_case("all")
        && !n.eq_ignore_ascii_case("proxy")
}

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/controller/version"),
    ("GET", "/v1/controller/properties"),
    ("POST", "/v1/controller/properties"),
    ("GET", "/v1/nodes"),
    ("GET", "/v1/nodes/{node}"),
    ("GET", "/v1/nodes/{node}/storage-pools"),
    ("GET", "/v1/nodes/{node}/storage-pools/{pool}"),
    ("GET", "/v1/view/storage-pools"),
    ("GET", "/v1/view/resources"),
    ("GET", "/v1/view/snapshots"),
    ("GET", "/v1/resource-groups"),
    ("POST", "/v1/resource-groups"),
    ("GET", "/v1/resource-groups/{rg}"),
    ("PUT", "/v1/resource-groups/{rg}"),
    ("DELETE", "/v1/resource-groups/{rg}"),
    ("POST", "/v1/resource-groups/{rg}/spawn"),
    ("POST", "/v1/resource-groups/{rg}/query-size-info"),
    ("POST", "/v1/queries/resource-groups/query-all-size-info"),
    ("GET", "/v1/resource-groups/{rg}/volume-groups"),
    ("POST", "/v1/resource-groups/{rg}/volume-groups"),
    ("GET", "/v1/resource-groups/{rg}/volume-groups/{nr}"),
    ("DELETE", "/v1/resource-groups/{rg}/volume-groups/{nr}"),
    ("GET", "/v1/resource-definitions"),
    ("POST", "/v1/resource-definitions"),
    ("GET", "/v1/resource-definitions/{rd}"),
    ("PUT", "/v1/resource-definitions/{rd}"),
    ("DELETE", "/v1/resource-definitions/{rd}"),
    ("GET", "/v1/resource-definitions/{rd}/volume-definitions"),
    ("POST", "/v1/resource-definitions/{rd}/volume-definitions"),
    (
        "GET",
        "/v1/resource-definitions/{rd}/volume-definitions/{nr}",
    ),
    (
        "PUT",
        "/v1/resource-definitions/{rd}/volume-definitions/{nr}",
    ),
    (
        "DELETE",
        "/v1/resource-definitions/{rd}/volume-definitions/{nr}",
    ),
    ("GET", "/v1/resource-definitions/{rd}/resources"),
    ("POST", "/v1/resource-definitions/{rd}/resources"),
    ("GET", "/v1/resource-definitions/{rd}/resources/{node}"),
    ("POST", "/v1/resource-definitions/{rd}/resources/{node}"),
    ("PUT", "/v1/resource-definitions/{rd}/resources/{node}"),
    ("DELETE", "/v1/resource-definitions/{rd}/resources/{node}"),
    (
        "POST",
        "/v1/resource-definitions/{rd}/resources/{node}/make-available",
    ),
    (
        "GET",
        "/v1/resource-definitions/{rd}/resources/{node}/volumes",
    ),
    (
        "GET",
        "/v1/resource-definitions/{rd}/resources/{node}/volumes/{nr}",
    ),
    ("POST", "/v1/resource-definitions/{rd}/autoplace"),
    ("GET", "/v1/resource-definitions/{rd}/snapshots"),
    ("POST", "/v1/resource-definitions/{rd}/snapshots"),
    ("GET", "/v1/resource-definitions/{rd}/snapshots/{snap}"),
    ("DELETE", "/v1/resource-definitions/{rd}/snapshots/{snap}"),
    (
        "POST",
        "/v1/resource-definitions/{rd}/snapshot-rollback/{snap}",
    ),
    (
        "POST",
        "/v1/resource-definitions/{rd}/snapshot-restore-volume-definition/{snap}",
    ),
    (
        "POST",
        "/v1/resource-definitions/{rd}/snapshot-restore-resource/{snap}",
    ),
    ("POST", "/v1/resource-definitions/{rd}/clone"),
    ("GET", "/v1/resource-definitions/{rd}/clone/{clone}"),
    ("GET", "/v1/resource-definitions/{rd}/sync-status"),
    (
        "GET",
        "/v1/resource-definitions/{rd}/resource-connections/{a}/{b}",
    ),
    (
        "PUT",
        "/v1/resource-definitions/{rd}/resource-connections/{a}/{b}",
    ),
];

/// Result of matching a path against the route table.
#[derive(Debug)]
pub enum RouteMatch {
    Found(&'static str, Vec<String>),
    WrongMethod(&'static str),
    NotFound,
}

pub fn match_route(method: &str, segs: &[String]) -> RouteMatch {
    let mut wrong = None;
    let mut best: Option<(&'static str, Vec<String>, usize)> = None;
    for (m, pat) in ROUTES {
        let ps: Vec<&str> = pat.trim_start_matches('/').split('/').collect();
        if ps.len() != segs.len() {
            continue;
        }
        let mut params = vec![];
        let mut lits = 0;
        let ok = ps.iter().zip(segs).all(|(p, s)| {
            if p.starts_with('{') {
                params.push(s.clone());
                !s.is_empty()
            } else {
                lits += 1;
                *p == s
            }
        });
        if !ok {
            continue;
        }
        if *m != method {
            wrong = Some(*pat);
            continue;
        }
        if best.as_ref().is_none_or(|b| lits > b.2) {
            best = Some((pat, params, lits));
        }
    }
    match (best, wrong) {
        (Some((p, params, _)), _) => RouteMatch::Found(p, params),
        (None, Some(p)) => RouteMatch::WrongMethod(p),
        _ => RouteMatch::NotFound,
    }
}

/// Simulator configuration that the handlers need.
#[derive(Debug)]
pub struct Core {
    pub st: State,
    pub be: Backend,
    pub pool_name: String,
    pub pool_kib: u64,
    pub clone_delay_ms: u64,
}

fn ctx_reply(op: u64, obj: u64, ok: u16, r: MR) -> Resp {
    match r {
        Ok(es) => {
            let es: Vec<Entry> = es.into_iter().map(|e| e.with_context(op, obj)).collect();
            Resp::entries(status_for(&es, ok), &es)
        }
        Err(e) => {
            let parse = e.ret_code == API_CALL_PARSE_ERROR;
            let e = e.with_context(op, obj);
            let st = if parse {
                400
            } else {
                status_for(std::slice::from_ref(&e), ok)
            };
            Resp::entries(st, &[e])
        }
    }
}

fn get_reply(r: Result<Value, Fail>) -> Resp {
    match r {
        Ok(v) => Resp::json(200, v),
        Err(e) => Resp::entries(status_for(std::slice::from_ref(&e), 200), &[*e]),
    }
}

fn props_filter_ok(p: &Props, filters: &[String]) -> bool {
    filters.iter().all(|f| match f.split_once('=') {
        Some((k, v)) => p.get(k).is_some_and(|x| x == v),
        None => p.contains_key(f.as_str()),
    })
}

fn norm_prop(k: &str, v: &str) -> Result<String, Fail> {
    let allowed = k.starts_with("Aux/")
        || k.starts_with("DrbdOptions/")
        || k.starts_with("FileSystem/")
        || k.starts_with("Internal/")
        || k.starts_with("StorDriver/")
        || k.starts_with("Writecache/")
        || k.starts_with("Cache/")
        || matches!(
            k,
            "StorPoolName"
                | "StorPoolNameDrbdMeta"
                | "PeerSlotsNewResource"
                | "OverrideVlmId"
                | "AllowLargerVolumeSize"
                | "MinorNrAutoRange"
                | "TcpPortAutoRange"
                | "MaxOversubscriptionRatio"
                | "MaxFreeCapacityOversubscriptionRatio"
                | "MaxTotalCapacityOversubscriptionRatio"
                | "cloned-from"
                | "NodeUname"
                | "SiteName"
                | "AutoplaceTarget"
                | "DrbdProxy/AutoEnable"
                | "BalanceResourcesEnabled"
                | "Sys/fs/blkio_throttle_read"
                | "Sys/fs/blkio_throttle_write"
        );
    if !allowed || k.len() > 256 || k.is_empty() {
        return Err(Box::new(
            Entry::new(FAIL_INVLD_PROP, format!("Invalid property key: {k}"))
                .cause(format!("The key '{k}' is not whitelisted.")),
        ));
    }
    if k.starts_with("Aux/") {
        return Ok(v.to_string());
    }
    if k == "PeerSlotsNewResource" && !v.parse::<u32>().is_ok_and(|n| (1..=31).contains(&n)) {
        return Err(Box::new(
            Entry::new(FAIL_INVLD_PROP, format!("Invalid property value: {v}"))
                .details(format!("The value must match '[1-31]' for key '{k}'")),
        ));
    }
    let tf = [
        "DrbdOptions/ExactSize",
        "DrbdOptions/auto-add-quorum-tiebreaker",
        "AllowLargerVolumeSize",
    ];
    let lv = v.to_ascii_lowercase();
    if tf.contains(&k) {
        return match lv.as_str() {
            "true" | "yes" => Ok("true".into()),
            "false" | "no" => Ok("false".into()),
            _ => Err(Box::new(
                Entry::new(FAIL_INVLD_PROP, format!("Invalid property value: {v}"))
                    .details(format!("The value must match 'true|false' for key '{k}'")),
            )),
        };
    }
    if k.starts_with("DrbdOptions/") && (lv == "yes" || lv == "no") {
        return Ok(lv);
    }
    Ok(v.to_string())
}

/// Applies override/delete/delete-namespace to `target`; returns the keys set.
fn modify_props(
    target: &mut Props,
    over: &Props,
    del: &[String],
    ns: &[String],
) -> Result<Vec<String>, Fail> {
    let mut norm = Props::new();
    for (k, v) in over {
        norm.insert(k.clone(), norm_prop(k, v)?);
    }
    for k in del {
        target.remove(k);
    }
    for n in ns {
        let pre = format!("{}/", n.trim_end_matches('/'));
        target.retain(|k, _| !k.starts_with(&pre));
    }
    let keys: Vec<String> = norm.keys().cloned().collect();
    target.extend(norm);
    Ok(keys)
}

fn props_set_entry(keys: &[String]) -> Option<Entry> {
    (!keys.is_empty()).then(|| {
        Entry::new(
            MODIFIED,
            format!("Successfully set property key(s): {}", keys.join(",")),
        )
    })
}

fn layer_stack_ok(l: &[String]) -> bool {
    let up: Vec<String> = l.iter().map(|x| x.to_ascii_uppercase()).collect();
    l.is_empty() || up == ["DRBD", "STORAGE"] || up == ["DRBD"]
}

fn drbd_port_ok(p: Option<i64>) -> Result<Option<u32>, Fail> {
    match p {
        None => Ok(None),
        Some(p) if (1..=65535).contains(&p) => Ok(Some(p as u32)),
        Some(p) => Err(fail(
            FAIL_INVLD_RSC_PORT,
            format!("The specified TCP port '{p}' is invalid."),
        )),
    }
}

fn peer_slots_ok(s: Option<i64>) -> Result<Option<u32>, Fail> {
    match s {
        None => Ok(None),
        Some(s) if (1..=31).contains(&s) => Ok(Some(s as u32)),
        Some(s) => Err(fail(
            FAIL_INVLD_REQUEST,
            format!("Invalid peer slot count {s}; valid values are 1-31."),
        )),
    }
}

fn size_ok(s: i64) -> Result<u64, Fail> {
    if (4..=MAX_VLM_KIB).contains(&s) {
        Ok(s as u64)
    } else {
        Err(Box::new(
            Entry::new(
                FAIL_INVLD_VLM_SIZE,
                format!("The specified volume size '{s}' is invalid."),
            )
            .details("Valid sizes range from 4 to 1099511627776."),
        ))
    }
}

fn greedy_fill(mut pools: Vec<u64>, place: usize) -> u64 {
    if place == 0 {
        return 0;
    }
    let mut total = 0;
    loop {
        pools.retain(|p| *p > 0);
        if pools.len() < place {
            return total;
        }
        pools.sort_unstable_by(|a, b| b.cmp(a));
        let m = pools[place - 1];
        total += m;
        for p in pools.iter_mut().take(place) {
            *p -= m;
        }
    }
}

impl Core {
    pub fn new(
        be: Backend,
        nodes: &[String],
        pool_name: &str,
        pool_kib: u64,
        clone_delay_ms: u64,
    ) -> Core {
        let mut st = State::default();
        for (i, n) in nodes.iter().enumerate() {
            st.nodes.insert(
                key(n),
                NodeSt {
                    name: n.clone(),
                    uuid: uuid(),
                    online: true,
                    props: Props::new(),
                    address: format!("10.0.0.{}", i + 1),
                    pool_uuid: uuid(),
                    diskless_pool_uuid: uuid(),
                },
            );
        }
        st.rgs.insert(
            key(DFLT_RG),
            RgSt {
                name: DFLT_RG.into(),
                uuid: uuid(),
                select_filter: SelectFilter {
                    place_count: Some(2),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        Core {
            st,
            be,
            pool_name: pool_name.to_string(),
            pool_kib,
            clone_delay_ms,
        }
    }

    pub fn node_online(&self, name: &str) -> bool {
        self.st.nodes.get(&key(name)).is_some_and(|n| n.online)
    }

    pub fn pool_used(&self, node_key: &str) -> u64 {
        self.st
            .rds
            .values()
            .filter_map(|rd| {
                rd.rscs
                    .get(node_key)
                    .filter(|r| !r.is_diskless())
                    .map(|_| rd.vds.values().map(|v| v.size_kib).sum::<u64>())
            })
            .sum()
    }

    pub fn pool_free(&self, node_key: &str) -> u64 {
        self.pool_kib.saturating_sub(self.pool_used(node_key))
    }

    /// Primary on that node: forced through the control API, or its loop device held open.
    pub fn rsc_in_use_raw(&self, _rd: &RdSt, r: &RscSt) -> bool {
        if r.forced_in_use {
            return true;
        }
        self.be.mode == Backing::Loop && r.loops.values().any(|d| Backend::device_busy(d))
    }

    fn in_use_nodes(&self, rd: &RdSt) -> Vec<String> {
        rd.rscs
            .values()
            .filter(|r| self.rsc_in_use_raw(rd, r))
            .map(|r| r.node.clone())
            .collect()
    }

    fn eff_prop(&self, rd: &RdSt, k: &str) -> Option<String> {
        rd.props
            .get(k)
            .or_else(|| self.st.rgs.get(&key(&rd.rg)).and_then(|g| g.props.get(k)))
            .or_else(|| self.st.ctrl_props.get(k))
            .cloned()
    }

    fn tiebreaker_wanted(&self, rd: &RdSt) -> bool {
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

    fn rd_ref(&self, name: &str) -> Result<&RdSt, Fail> {
        self.st.rds.get(&key(name)).ok_or_else(|| {
            Box::new(
                Entry::new(
                    FAIL_NOT_FOUND_RSC_DFN,
                    format!("Resource definition '{name}' not found."),
                )
                .obj("RscDfn", name),
            )
        })
    }

    fn node_ref(&self, name: &str) -> Result<&NodeSt, Fail> {
        self.st.nodes.get(&key(name)).ok_or_else(|| {
            Box::new(
                Entry::new(FAIL_NOT_FOUND_NODE, format!("Node '{name}' not found."))
                    .obj("Node", name),
            )
        })
    }

    fn rg_ref(&self, name: &str) -> Result<&RgSt, Fail> {
        self.st.rgs.get(&key(name)).ok_or_else(|| {
            Box::new(
                Entry::new(
                    FAIL_NOT_FOUND_RSC_GRP,
                    format!("Resource group '{name}' not found."),
                )
                .obj("RscGrp", name),
            )
        })
    }

    /// Clears `CLONING` from clones whose copy time has passed; true when state changed.
    pub fn tick(&mut self) -> bool {
        let now = now_ms();
        let mut changed = false;
        for rd in self.st.rds.values_mut() {
            if let Some(t) = rd.clone_done_ms {
                if now >= t {
                    rd.clone_done_ms = None;
                    rd.flags.retain(|f| f != "CLONING");
                    changed = true;
                }
            }
        }
        changed
    }

    /// Re-creates symlinks and loop devices after loading persisted state.
    pub fn reattach_all(&mut self) {
        let be = self.be.clone();
        for rd in self.st.rds.values_mut() {
            for vd in rd.vds.values() {
                let _ = be.ensure_volume(&rd.name, vd.nr, vd.size_kib);
            }
            for r in rd.rscs.values_mut() {
                r.loops.clear();
                if r.is_tiebreaker() {
                    continue;
                }
                for vd in rd.vds.values() {
                    if let Ok(Some(lo)) = be.attach(&r.node, &rd.name, vd.nr, vd.minor) {
                        r.loops.insert(vd.nr, lo);
                    }
                }
            }
        }
    }

    /// Detaches all loop devices (and, unless `keep_links`, removes the symlinks).
    pub fn detach_all(&mut self) {
        let be = self.be.clone();
        for rd in self.st.rds.values_mut() {
            for r in rd.rscs.values_mut() {
                for vd in rd.vds.values() {
                    be.detach(
                        &r.node,
                        &rd.name,
                        vd.nr,
                        r.loops.get(&vd.nr).map(String::as_str),
                    );
                }
                r.loops.clear();
            }
        }
    }

    pub fn dispatch(&mut self, method: &str, pat: &str, req: &Req<'_>) -> Resp {
        let p = &req.p;
        match (method, pat) {
            ("GET", "/v1/controller/version") => Resp::json(
                200,
                json!({"version": "1.34.0", "git_hash": "simulated", "build_time": "2026-06-02T00:00:00+00:00", "rest_api_version": "1.28.0"}),
            ),
            ("GET", "/v1/controller/properties") => Resp {
                status: 200,
                body: Some(json!(self.st.ctrl_props)),
                headers: vec![],
            },
            ("POST", "/v1/controller/properties") => {
                ctx_reply(MOD, OBJ_CTRL_CONF, 201, self.ctrl_props(req))
            }
            ("GET", "/v1/nodes") => get_reply(Ok(self.nodes_list(req))),
            ("GET", "/v1/nodes/{node}") => get_reply(
                self.node_ref(&p[0])
                    .map(|n| key(&n.name))
                    .map(|k| self.node_json(&k)),
            ),
            ("GET", "/v1/nodes/{node}/storage-pools") => get_reply(self.node_pools(&p[0])),
            ("GET", "/v1/nodes/{node}/storage-pools/{pool}") => {
                get_reply(self.node_pool(&p[0], &p[1]))
            }
            ("GET", "/v1/view/storage-pools") => get_reply(Ok(self.view_pools(req))),
            ("GET", "/v1/view/resources") => get_reply(Ok(self.view_resources(req))),
            ("GET", "/v1/view/snapshots") => get_reply(Ok(self.view_snapshots(req))),
            ("GET", "/v1/resource-groups") => get_reply(Ok(Value::Array(
                self.st.rgs.values().map(|g| self.rg_json(g)).collect(),
            ))),
            ("POST", "/v1/resource-groups") => {
                ctx_reply(CRT, OBJ_RSC_GRP, 201, self.rg_create(req))
            }
            ("GET", "/v1/resource-groups/{rg}") => {
                get_reply(self.rg_ref(&p[0]).map(|g| self.rg_json(g)))
            }
            ("PUT", "/v1/resource-groups/{rg}") => {
                ctx_reply(MOD, OBJ_RSC_GRP, 200, self.rg_modify(req))
            }
            ("DELETE", "/v1/resource-groups/{rg}") => {
                ctx_reply(DEL, OBJ_RSC_GRP, 200, self.rg_delete(req))
            }
            ("POST", "/v1/resource-groups/{rg}/spawn") => {
                ctx_reply(CRT, OBJ_RSC_GRP, 201, self.spawn(req))
            }
            ("POST", "/v1/resource-groups/{rg}/query-size-info") => self.query_size(req),
            ("POST", "/v1/queries/resource-groups/query-all-size-info") => self.query_all_size(req),
            ("GET", "/v1/resource-groups/{rg}/volume-groups") => {
                get_reply(self.rg_ref(&p[0]).map(|g| {
                    Value::Array(
                        g.vgs
                            .values()
                            .map(|v| self.vg_json(v.nr, &v.uuid, &v.props))
                            .collect(),
                    )
                }))
            }
            ("GET", "/v1/resource-groups/{rg}/volume-groups/{nr}") => {
                get_reply(self.vg_get(&p[0], &p[1]))
            }
            ("POST", "/v1/resource-groups/{rg}/volume-groups") => {
                ctx_reply(CRT, OBJ_VLM_GRP, 201, self.vg_create(req))
            }
            ("DELETE", "/v1/resource-groups/{rg}/volume-groups/{nr}") => {
                ctx_reply(DEL, OBJ_VLM_GRP, 200, self.vg_delete(req))
            }
            ("GET", "/v1/resource-definitions") => get_reply(Ok(self.rd_list(req))),
            ("POST", "/v1/resource-definitions") => {
                ctx_reply(CRT, OBJ_RSC_DFN, 201, self.rd_create(req))
            }
            ("GET", "/v1/resource-definitions/{rd}") => get_reply(
                self.rd_ref(&p[0])
                    .map(|rd| self.rd_json(rd, req.q_bool("with_volume_definitions"))),
            ),
            ("PUT", "/v1/resource-definitions/{rd}") => {
                ctx_reply(MOD, OBJ_RSC_DFN, 200, self.rd_modify(req))
            }
            ("DELETE", "/v1/resource-definitions/{rd}") => {
                ctx_reply(DEL, OBJ_RSC_DFN, 200, self.rd_delete(req))
            }
            ("GET", "/v1/resource-definitions/{rd}/volume-definitions") => get_reply(
                self.rd_ref(&p[0])
                    .map(|rd| Value::Array(rd.vds.values().map(|v| self.vd_json(v)).collect())),
            ),
            ("GET", "/v1/resource-definitions/{rd}/volume-definitions/{nr}") => {
                get_reply(self.vd_get(&p[0], &p[1]))
            }
            ("POST", "/v1/resource-definitions/{rd}/volume-definitions") => {
                ctx_reply(CRT, OBJ_VLM_DFN, 200, self.vd_create(req))
            }
            ("PUT", "/v1/resource-definitions/{rd}/volume-definitions/{nr}") => {
                ctx_reply(MOD, OBJ_VLM_DFN, 200, self.vd_modify(req))
            }
            ("DELETE", "/v1/resource-definitions/{rd}/volume-definitions/{nr}") => {
                ctx_reply(DEL, OBJ_VLM_DFN, 200, self.vd_delete(req))
            }
            ("GET", "/v1/resource-definitions/{rd}/resources") => {
                get_reply(self.rd_ref(&p[0]).map(|rd| {
                    Value::Array(
                        rd.rscs
                            .values()
                            .map(|r| self.rsc_json(rd, r, false))
                            .collect(),
                    )
                }))
            }
            ("GET", "/v1/resource-definitions/{rd}/resources/{node}") => {
                get_reply(self.rsc_get(&p[0], &p[1]))
            }
            ("POST", "/v1/resource-definitions/{rd}/resources") => {
                ctx_reply(CRT, OBJ_RSC, 201, self.rsc_create_many(req))
            }
            ("POST", "/v1/resource-definitions/{rd}/resources/{node}") => {
                ctx_reply(CRT, OBJ_RSC, 201, self.rsc_create_one(req))
            }
            ("PUT", "/v1/resource-definitions/{rd}/resources/{node}") => {
                ctx_reply(MOD, OBJ_RSC, 200, self.rsc_modify(req))
            }
            ("DELETE", "/v1/resource-definitions/{rd}/resources/{node}") => {
                ctx_reply(DEL, OBJ_RSC, 200, self.rsc_delete(req))
            }
            ("POST", "/v1/resource-definitions/{rd}/resources/{node}/make-available") => {
                ctx_reply(CRT, OBJ_RSC, 200, self.make_available(req))
            }
            ("GET", "/v1/resource-definitions/{rd}/resources/{node}/volumes") => {
                get_reply(self.vlm_list(&p[0], &p[1], None))
            }
            ("GET", "/v1/resource-definitions/{rd}/resources/{node}/volumes/{nr}") => {
                get_reply(self.vlm_list(&p[0], &p[1], Some(&p[2])))
            }
            ("POST", "/v1/resource-definitions/{rd}/autoplace") => {
                ctx_reply(CRT, OBJ_RSC, 201, self.autoplace_req(req))
            }
            ("GET", "/v1/resource-definitions/{rd}/snapshots") => {
                get_reply(self.rd_ref(&p[0]).map(|rd| {
                    Value::Array(rd.snaps.values().map(|s| self.snap_json(rd, s)).collect())
                }))
            }
            ("GET", "/v1/resource-definitions/{rd}/snapshots/{snap}") => {
                get_reply(self.snap_get(&p[0], &p[1]))
            }
            ("POST", "/v1/resource-definitions/{rd}/snapshots") => {
                ctx_reply(CRT, OBJ_SNAPSHOT, 201, self.snap_create(req))
            }
            ("DELETE", "/v1/resource-definitions/{rd}/snapshots/{snap}") => {
                ctx_reply(DEL, OBJ_SNAPSHOT, 200, self.snap_delete(req))
            }
            ("POST", "/v1/resource-definitions/{rd}/snapshot-rollback/{snap}") => {
                ctx_reply(MOD, OBJ_RSC_DFN, 200, self.snap_rollback(req))
            }
            ("POST", "/v1/resource-definitions/{rd}/snapshot-restore-volume-definition/{snap}") => {
                ctx_reply(CRT, OBJ_VLM_DFN, 200, self.snap_restore_vd(req))
            }
            ("POST", "/v1/resource-definitions/{rd}/snapshot-restore-resource/{snap}") => {
                ctx_reply(CRT, OBJ_RSC, 200, self.snap_restore_rsc(req))
            }
            ("POST", "/v1/resource-definitions/{rd}/clone") => self.clone_rd(req),
            ("GET", "/v1/resource-definitions/{rd}/clone/{clone}") => self.clone_status(&p[1]),
            ("GET", "/v1/resource-definitions/{rd}/sync-status") => get_reply(
                self.rd_ref(&p[0])
                    .map(|rd| json!({"synced_on_all": !rd.flags.iter().any(|f| f == "CLONING")})),
            ),
            ("GET", "/v1/resource-definitions/{rd}/resource-connections/{a}/{b}") => {
                get_reply(self.conn_get(req))
            }
            ("PUT", "/v1/resource-definitions/{rd}/resource-connections/{a}/{b}") => {
                ctx_reply(MOD, OBJ_RSC_CONN, 200, self.conn_modify(req))
            }
            _ => Resp::entries(
                404,
                &[Entry::new(
                    FAIL_UNKNOWN_ERROR,
                    format!("Path '{pat}' not found on server."),
                )],
            ),
        }
    }

    // ----- controller, nodes, pools -----

    fn ctrl_props(&mut self, req: &Req<'_>) -> MR {
        let m: PropsModify = parse(req.body)?;
        let keys = modify_props(
            &mut self.st.ctrl_props,
            &m.override_props,
            &m.delete_props,
            &m.delete_namespaces,
        )?;
        let mut out = vec![];
        out.extend(props_set_entry(&keys));
        if !m.delete_props.is_empty() || !m.delete_namespaces.is_empty() || out.is_empty() {
            out.push(Entry::new(
                MODIFIED,
                "Successfully updated controller config",
            ));
        }
        Ok(out)
    }

    fn nodes_list(&self, req: &Req<'_>) -> Value {
        let names: Vec<String> = req.q_all("nodes").iter().map(|n| key(n)).collect();
        let pf = req.q_all("props");
        Value::Array(
            self.st
                .nodes
                .iter()
                .filter(|(k, n)| {
                    (names.is_empty() || names.contains(k)) && props_filter_ok(&n.props, &pf)
                })
                .map(|(k, _)| self.node_json(k))
                .collect(),
        )
    }

    fn node_pools(&self, node: &str) -> Result<Value, Fail> {
        let k = key(&self.node_ref(node)?.name);
        Ok(json!([self.pool_json(&k, true), self.pool_json(&k, false)]))
    }

    fn node_pool(&self, node: &str, pool: &str) -> Result<Value, Fail> {
        let k = key(&self.node_ref(node)?.name);
        if pool.eq_ignore_ascii_case(DISKLESS_POOL) {
            Ok(self.pool_json(&k, true))
        } else if pool.eq_ignore_ascii_case(&self.pool_name) {
            Ok(self.pool_json(&k, false))
        } else {
            Err(fail(
                FAIL_NOT_FOUND_STOR_POOL,
                format!("Storage pool '{pool}' on node '{node}' not found."),
            ))
        }
    }

    fn view_pools(&self, req: &Req<'_>) -> Value {
        let names: Vec<String> = req.q_all("nodes").iter().map(|n| key(n)).collect();
        let pools: Vec<String> = req.q_all("storage_pools").iter().map(|n| key(n)).collect();
        let mut out = vec![];
        for k in self.st.nodes.keys() {
            if !names.is_empty() && !names.contains(k) {
                continue;
            }
            for (dl, pn) in [(true, DISKLESS_POOL), (false, self.pool_name.as_str())] {
                if pools.is_empty() || pools.contains(&key(pn)) {
                    out.push(self.pool_json(k, dl));
                }
            }
        }
        Value::Array(out)
    }

    // ----- resource groups -----

    fn rg_create(&mut self, req: &Req<'_>) -> MR {
        let b: RgCreate = parse(req.body)?;
        if !valid_rsc_name(&b.name) {
            return Err(fail(
                FAIL_INVLD_RSC_GRP_NAME,
                format!("Invalid resource group name '{}'.", b.name),
            ));
        }
        if self.st.rgs.contains_key(&key(&b.name)) {
            return Err(fail(
                FAIL_EXISTS_RSC_GRP,
                format!(
                    "A resource group with the name '{}' already exists.",
                    b.name
                ),
            ));
        }
        let sf = b.select_filter.unwrap_or_default();
        if sf.place_count.is_some_and(|c| c < 1) {
            return Err(fail(
                FAIL_INVLD_PLACE_COUNT,
                "Place count must be greater than 0",
            ));
        }
        let id = uuid();
        self.st.rgs.insert(
            key(&b.name),
            RgSt {
                name: b.name.clone(),
                uuid: id.clone(),
                description: b.description.unwrap_or_default(),
                props: Props::new(),
                select_filter: sf,
                vgs: BTreeMap::new(),
            },
        );
        Ok(vec![Entry::new(
            CREATED,
            format!("New resource group '{}' created.", b.name),
        )
        .details(format!("Resource group '{}' UUID is: {id}", b.name))
        .obj("RscGrp", &b.name)
        .obj("UUID", id)])
    }

    fn rg_modify(&mut self, req: &Req<'_>) -> MR {
        let b: RgModify = parse(req.body)?;
        let name = self.rg_ref(&req.p[0])?.name.clone();
        if let Some(f) = &b.select_filter {
            if f.place_count.is_some_and(|c| c < 1) {
                return Err(fail(
                    FAIL_INVLD_PLACE_COUNT,
                    "Place count must be greater than 0",
                ));
            }
        }
        let mut props = self.st.rgs[&key(&name)].props.clone();
        let keys = modify_props(
            &mut props,
            &b.override_props,
            &b.delete_props,
            &b.delete_namespaces,
        )?;
        let rg = self
            .st
            .rgs
            .get_mut(&key(&name))
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        rg.props = props;
        if let Some(d) = b.description {
            rg.description = d;
        }
        let mut raised = None;
        if let Some(f) = b.select_filter {
            let old = rg.select_filter.place_count;
            let mut merged = f.or(&rg.select_filter);
            merged.node_name_list = f.node_name_list.clone();
            if f.storage_pool.is_some() && f.storage_pool_list.is_none() {
                merged.storage_pool_list = None;
            }
            if f.storage_pool_list.is_some() && f.storage_pool.is_none() {
                merged.storage_pool = None;
            }
            if merged.place_count > old {
                raised = merged.place_count;
            }
            rg.select_filter = merged;
        }
        let mut out = vec![
            Entry::new(MODIFIED, format!("Resource group '{name}' modified."))
                .details(format!("Resource group '{name}' UUID is: {}", rg.uuid))
                .obj("RscGrp", &name),
        ];
        out.extend(props_set_entry(&keys));
        if raised.is_some() {
            let rds: Vec<String> = self
                .st
                .rds
                .iter()
                .filter(|(_, rd)| rd.rg.eq_ignore_ascii_case(&name) && !rd.vds.is_empty())
                .map(|(k, _)| k.clone())
                .collect();
            for rk in rds {
                let f = self.st.rgs[&key(&name)].select_filter.clone();
                let mut es = vec![];
                match self.autoplace(&rk, &f, &mut es) {
                    Ok(()) => out.extend(es.into_iter().filter(|e| !e.is_error())),
                    Err(e) => out.push(Entry::new(
                        e.ret_code & !MASK_ERROR | MASK_WARN,
                        e.message.clone(),
                    )),
                }
            }
        }
        Ok(out)
    }

    fn rg_delete(&mut self, req: &Req<'_>) -> MR {
        let n = &req.p[0];
        let Some(rg) = self.st.rgs.get(&key(n)) else {
            return Ok(vec![Entry::new(
                WARN_NOT_FOUND,
                format!("Resource group '{n}' not found."),
            )
            .obj("RscGrp", n)]);
        };
        let name = rg.name.clone();
        if self
            .st
            .rds
            .values()
            .any(|rd| rd.rg.eq_ignore_ascii_case(&name))
        {
            return Err(fail(
                FAIL_EXISTS_RSC_DFN,
                format!("Cannot delete resource group '{name}' because it has existing resource definitions."),
            ));
        }
        self.st.rgs.remove(&key(&name));
        Ok(vec![Entry::new(
            DELETED,
            format!("Resource group '{name}' deleted."),
        )
        .obj("RscGrp", name)])
    }

    fn vg_get(&self, rg: &str, nr: &str) -> Result<Value, Fail> {
        let g = self.rg_ref(rg)?;
        nr.parse::<u32>()
            .ok()
            .and_then(|n| g.vgs.get(&n))
            .map(|v| self.vg_json(v.nr, &v.uuid, &v.props))
            .ok_or_else(|| {
                fail(
                    FAIL_NOT_FOUND_VLM_GRP,
                    format!("Volume group '{nr}' of resource group '{rg}' not found."),
                )
            })
    }

    fn vg_create(&mut self, req: &Req<'_>) -> MR {
        let b: VgCreate = parse(req.body)?;
        let name = self.rg_ref(&req.p[0])?.name.clone();
        let mut props = Props::new();
        modify_props(&mut props, &b.props, &[], &[])?;
        let rg = self
            .st
            .rgs
            .get_mut(&key(&name))
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let nr = match b.volume_number {
            Some(n) if !(0..=65534).contains(&n) => {
                return Err(fail(
                    FAIL_INVLD_VLM_NR,
                    format!("Invalid volume number {n}"),
                ));
            }
            Some(n) => n as u32,
            None => (0..).find(|n| !rg.vgs.contains_key(n)).unwrap_or(0),
        };
        if rg.vgs.contains_key(&nr) {
            return Err(fail(
                FAIL_EXISTS_VLM_GRP,
                format!(
                    "A volume group with number '{nr}' already exists in resource group '{name}'."
                ),
            ));
        }
        let id = uuid();
        rg.vgs.insert(
            nr,
            VgSt {
                nr,
                uuid: id.clone(),
                props,
            },
        );
        Ok(vec![Entry::new(
            CREATED,
            format!("New volume group with number '{nr}' of resource group '{name}' created."),
        )
        .obj("RscGrp", &name)
        .obj("VlmNr", nr.to_string())
        .obj("UUID", id)])
    }

    fn vg_delete(&mut self, req: &Req<'_>) -> MR {
        let name = self.rg_ref(&req.p[0])?.name.clone();
        let nr = req.p[1].parse::<u32>().ok();
        let rg = self
            .st
            .rgs
            .get_mut(&key(&name))
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        match nr.and_then(|n| rg.vgs.remove(&n)) {
            Some(_) => Ok(vec![Entry::new(
                DELETED,
                format!(
                    "Volume group '{}' of resource group '{name}' deleted.",
                    req.p[1]
                ),
            )]),
            None => Ok(vec![Entry::new(
                WARN_NOT_FOUND,
                format!(
                    "Volume group '{}' of resource group '{name}' not found.",
                    req.p[1]
                ),
            )]),
        }
    }

    // ----- resource definitions -----

    fn rd_list(&self, req: &Req<'_>) -> Value {
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

    fn new_rd(
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

    fn rd_create(&mut self, req: &Req<'_>) -> MR {
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

    fn name_from_external(&self, ext: &str) -> String {
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

    fn rd_modify(&mut self, req: &Req<'_>) -> MR {
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

    fn rd_delete(&mut self, req: &Req<'_>) -> MR {
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
                Entry::new(FAIL_IN_USE, format!("Resource '{name}' is still in use."))
                    .cause(format!("Resource is mounted/in use on node '{node}'."))
                    .obj("RscDfn", &name),
            ));
        }
        let rk = key(&name);
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

    // ----- volume definitions -----

    fn vd_get(&self, rd: &str, nr: &str) -> Result<Value, Fail> {
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

    fn alloc_minor(&self) -> Result<u32, Fail> {
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
    fn add_vd(
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

    fn vd_create(&mut self, req: &Req<'_>) -> MR {
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

    fn vd_modify(&mut self, req: &Req<'_>) -> MR {
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

    fn vd_delete(&mut self, req: &Req<'_>) -> MR {
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

    // ----- resources -----

    fn rsc_get(&self, rd: &str, node: &str) -> Result<Value, Fail> {
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

    fn vlm_list(&self, rd: &str, node: &str, nr: Option<&str>) -> Result<Value, Fail> {
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

    fn view_resources(&self, req: &Req<'_>) -> Value {
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

    fn alloc_port(&self, node_key: &str) -> Result<u32, Fail> {
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
    fn add_resource(
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
    fn port_for(&self, rk: &str, nk: &str, node: &str, want: Option<u32>) -> Result<u32, Fail> {
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

    fn add_resource_with(
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
            .obj("RscDfn", &name)
            .obj("Node", &node_name)
            .obj("UUID", &id),
        );
        for vd in rd.vds.values() {
            out.push(
                Entry::new(
                    CRT | OBJ_VLM | CREATED,
                    format!("Volume with number '{}' on resource '{name}' on node '{node_name}' successfully registered", vd.nr),
                )
                .details(format!("Volume UUID is: {}", vd.uuid))
                .obj("RscDfn", &name)
                .obj("Node", &node_name)
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
            out.push(
                Entry::new(WARN_NOT_CONNECTED, format!("No active connection to satellite '{node_name}'"))
                    .details("The controller is trying to (re-) establish a connection to the satellite. The controller stored the changes and as soon the satellite is connected, it will receive this update.")
                    .obj("Node", &node_name),
            );
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
            if self.node_online(p) {
                out.push(Entry::new(
                    CRT | OBJ_RSC | MODIFIED,
                    format!("Added peer(s) '{node_name}' to resource '{name}' on '{p}'"),
                ));
            }
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
    fn drop_resource(&mut self, rk: &str, nk: &str) -> Option<RscSt> {
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

    fn set_tiebreaker(&mut self, rk: &str, nk: &str, on: bool) {
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
    fn toggle_diskful(&mut self, rk: &str, nk: &str, out: &mut Vec<Entry>) {
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
    fn sync_tiebreaker(&mut self, rk: &str, out: &mut Vec<Entry>) {
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

    fn default_pool_for(&self, rd: &RdSt) -> String {
        rd.rscs
            .values()
            .find(|r| !r.is_diskless())
            .map(|r| r.pool.clone())
            .unwrap_or_else(|| self.pool_name.clone())
    }

    fn create_one(
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
        let diskless = b
            .resource
            .flags
            .iter()
            .any(|f| f == "DISKLESS" || f == "DRBD_DISKLESS" || f == "TIE_BREAKER")
            || b.drbd_client == Some(true);
        let mut props = Props::new();
        modify_props(&mut props, &b.resource.props, &[], &[])?;
        let rd = self
            .st
            .rds
            .get(rk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let name = rd.name.clone();
        if let Some(ex) = rd.rscs.get(&nk) {
            if ex.is_diskless() {
                if diskless {
                    self.set_tiebreaker(rk, &nk, false);
                    out.push(Entry::new(
                        MODIFIED,
                        format!("Resource '{name}' on node '{node}' is no longer a tie breaker."),
                    ));
                } else {
                    self.toggle_diskful(rk, &nk, out);
                }
                return Ok(true);
            }
            out.push(
                Entry::new(
                    INFO_RSC_ALREADY_EXISTS,
                    format!("A resource '{name}' on node '{}' already exists.", ex.node),
                )
                .obj("RscDfn", &name)
                .obj("Node", &ex.node),
            );
            return Ok(false);
        }
        let pool = if diskless {
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
            node_id: b.drbd_node_id.map(|i| u32::try_from(i).unwrap_or(u32::MAX)),
            port: b
                .drbd_tcp_ports
                .first()
                .map(|p| u32::try_from(*p).unwrap_or(0)),
        };
        self.add_resource_with(rk, node, new, out)?;
        Ok(true)
    }

    fn rsc_create_many(&mut self, req: &Req<'_>) -> MR {
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

    fn rsc_create_one(&mut self, req: &Req<'_>) -> MR {
        let b: RscCreate = parse(req.body)?;
        let rk = key(&self.rd_ref(&req.p[0])?.name);
        let mut out = vec![];
        self.create_one(&rk, &req.p[1], b, &mut out)?;
        self.sync_tiebreaker(&rk, &mut out);
        Ok(out)
    }

    fn rsc_modify(&mut self, req: &Req<'_>) -> MR {
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
        .obj("RscDfn", &name)
        .obj("Node", &node)];
        out.extend(props_set_entry(&keys));
        Ok(out)
    }

    fn rsc_delete(&mut self, req: &Req<'_>) -> MR {
        let (rdn, node) = (&req.p[0], &req.p[1]);
        let keep_tb = req.q_bool("keep_tiebreaker");
        let not_found = || {
            Ok(vec![Entry::new(
                WARN_NOT_FOUND,
                format!("Node: {node}, Resource: {rdn} not found."),
            )
            .obj("RscDfn", rdn)
            .obj("Node", node)])
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
                    .obj("RscDfn", &name)
                    .obj("Node", &nname),
            ));
        }
        let diskful = rd.rscs.values().filter(|x| !x.is_diskless()).count();
        let diskless = rd
            .rscs
            .values()
            .filter(|x| x.is_diskless() && !x.is_tiebreaker())
            .count();
        let mut out = vec![];
        if !r.is_diskless() && diskful == 1 && diskless > 0 {
            return Err(Box::new(
                Entry::new(
                    FAIL_IN_USE,
                    format!("Last resource of '{name}' with disk still has diskless resources attached."),
                )
                .correction("Delete the diskless resources first.")
                .obj("RscDfn", &name)
                .obj("Node", &nname),
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
                    .obj("RscDfn", &name)
                    .obj("Node", &nname),
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
            out.push(
                Entry::new(
                    DELETED,
                    format!("Resource '{name}' on node '{nname}' deleted."),
                )
                .obj("RscDfn", &name)
                .obj("Node", &nname),
            );
            out.push(Entry::new(
                INFO_PROP_SET,
                format!("Disabling auto-tiebreaker on resource-definition '{name}' as tiebreaker resource was manually deleted"),
            ));
            return Ok(out);
        }
        if r.is_diskless() && wanted && diskful >= 2 && diskful % 2 == 0 && diskless == 1 {
            self.set_tiebreaker(&rk, &nk, true);
            out.push(
                Entry::new(
                    INFO_TIE_BREAKER_TAKEOVER,
                    "The given resource will not be deleted but will be taken over as a linstor managed tiebreaker resource.",
                )
                .obj("RscDfn", &name)
                .obj("Node", &nname),
            );
            return Ok(out);
        }
        self.drop_resource(&rk, &nk);
        out.push(
            Entry::new(
                DELETED,
                format!("Node: {nname}, Resource: {name} preparation for deletion completed."),
            )
            .obj("RscDfn", &name)
            .obj("Node", &nname),
        );
        out.push(
            Entry::new(
                DELETED,
                format!("Resource '{name}' on node '{nname}' deleted."),
            )
            .obj("RscDfn", &name)
            .obj("Node", &nname),
        );
        self.sync_tiebreaker(&rk, &mut out);
        Ok(out)
    }

    fn make_available(&mut self, req: &Req<'_>) -> MR {
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
            if !r.is_diskless() || !b.diskful {
                if r.is_tiebreaker() {
                    self.set_tiebreaker(&rk, &nk, false);
                }
                out.push(
                    Entry::new(0, "Resource already deployed as requested")
                        .obj("RscDfn", &name)
                        .obj("Node", &node),
                );
                self.sync_tiebreaker(&rk, &mut out);
                return Ok(out);
            }
            self.toggle_diskful(&rk, &nk, &mut out);
            self.sync_tiebreaker(&rk, &mut out);
            return Ok(out);
        }
        let has_diskful_peer = rd.rscs.values().any(|r| !r.is_diskless());
        if !b.diskful && has_diskful_peer {
            self.add_resource(
                &rk,
                &node,
                vec!["DISKLESS".into(), "DRBD_DISKLESS".into()],
                DISKLESS_POOL.into(),
                Props::new(),
                &mut out,
            )?;
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

    fn autoplace_req(&mut self, req: &Req<'_>) -> MR {
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

    /// Nodes the autoplacer could pick for `rk`, best (most free space) first.
    fn candidates(&self, rk: &str, f: &SelectFilter, need_kib: u64) -> Vec<String> {
        let Some(rd) = self.st.rds.get(rk) else {
            return vec![];
        };
        if let Some(pools) = f.pools() {
            if !pools
                .iter()
                .any(|p| p.eq_ignore_ascii_case(&self.pool_name))
            {
                return vec![];
            }
        }
        if let Some(pl) = &f.provider_list {
            if !pl.is_empty() && !pl.iter().any(|p| p.eq_ignore_ascii_case("FILE_THIN")) {
                return vec![];
            }
        }
        let avoid: Vec<String> = f
            .not_place_with_rsc
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|n| key(n))
            .collect();
        let re = f
            .not_place_with_rsc_regex
            .as_deref()
            .filter(|s| !s.is_empty())
            .and_then(|s| {
                regex::RegexBuilder::new(s)
                    .case_insensitive(true)
                    .build()
                    .ok()
            });
        let mut c: Vec<(u64, String)> = self
            .st
            .nodes
            .iter()
            .filter(|(k, n)| {
                n.online
                    && rd.rscs.get(*k).is_none_or(|r| r.is_tiebreaker())
                    && f.node_name_list
                        .as_ref()
                        .is_none_or(|l| l.is_empty() || l.iter().any(|x| key(x) == **k))
                    && !self.st.rds.iter().any(|(ok, ord)| {
                        ord.rscs.get(*k).is_some_and(|r| !r.is_diskless())
                            && (avoid.contains(ok)
                                || re.as_ref().is_some_and(|re| re.is_match(&ord.name)))
                    })
                    && self.pool_free(k) >= need_kib
            })
            .map(|(k, _)| (self.pool_free(k), k.clone()))
            .collect();
        c.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        c.into_iter().map(|(_, k)| k).collect()
    }

    /// Picks `n` nodes honouring replicas_on_same / replicas_on_different.
    fn pick_nodes(
        &self,
        rk: &str,
        f: &SelectFilter,
        cands: &[String],
        n: usize,
    ) -> Option<Vec<String>> {
        let rd = self.st.rds.get(rk)?;
        let mut chosen: Vec<String> = rd
            .rscs
            .iter()
            .filter(|(_, r)| !r.is_diskless())
            .map(|(k, _)| k.clone())
            .collect();
        let existing = chosen.len();
        let same = f.replicas_on_same.clone().unwrap_or_default();
        let diff = f.replicas_on_different.clone().unwrap_or_default();
        let prop = |nk: &str, k: &str| self.st.nodes.get(nk).and_then(|n| n.props.get(k).cloned());
        for c in cands {
            if chosen.len() - existing >= n {
                break;
            }
            let ok_same = same.iter().all(|k| {
                let (k, want) = match k.split_once('=') {
                    Some((a, b)) => (a.to_string(), Some(b.to_string())),
                    None => (k.clone(), None),
                };
                let v = prop(c, &k);
                v.is_some()
                    && want.as_ref().is_none_or(|w| v.as_ref() == Some(w))
                    && chosen.iter().all(|o| prop(o, &k) == v)
            });
            let ok_diff = diff.iter().all(|k| {
                let v = prop(c, k);
                v.is_none() || chosen.iter().all(|o| prop(o, k) != v)
            });
            if ok_same && ok_diff {
                chosen.push(c.clone());
            }
        }
        (chosen.len() - existing >= n).then(|| chosen[existing..].to_vec())
    }

    fn autoplace(&mut self, rk: &str, f: &SelectFilter, out: &mut Vec<Entry>) -> Result<(), Fail> {
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
        let cands = self.candidates(rk, f, size);
        let Some(nodes) = self.pick_nodes(rk, f, &cands, need) else {
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

    fn spawn(&mut self, req: &Req<'_>) -> MR {
        let b: Spawn = parse(req.body)?;
        let rg = self.rg_ref(&req.p[0])?.clone();
        let mut name = b.resource_definition_name.clone();
        let ext = b
            .resource_definition_external_name
            .clone()
            .unwrap_or_default();
        if name.is_empty() && !ext.is_empty() {
            name = self.name_from_external(&ext);
        }
        let mut sizes = vec![];
        for s in &b.volume_sizes {
            sizes.push(size_ok(*s)?);
        }
        let mut out = vec![];
        if rg.vgs.is_empty() {
            out.push(Entry::new(
                MASK_INFO,
                format!(
                    "Resource group '{}' has no volume groups; spawning in partial mode.",
                    rg.name
                ),
            ));
        } else if sizes.len() != rg.vgs.len() && !(b.partial && sizes.len() < rg.vgs.len()) {
            return Err(fail(
                FAIL_INVLD_VLM_SIZES,
                format!(
                    "The resource group '{}' has {} volume groups, but only {} sizes were provided.",
                    rg.name,
                    rg.vgs.len(),
                    sizes.len()
                ),
            ));
        }
        out.insert(
            0,
            self.new_rd(&name, &rg.name, b.resource_definition_props.clone(), &ext)?,
        );
        let rk = key(&name);
        let vg_nrs: Vec<u32> = rg.vgs.keys().copied().collect();
        for (i, s) in sizes.iter().enumerate() {
            let nr = vg_nrs.get(i).copied().unwrap_or(i as u32);
            let props = rg.vgs.get(&nr).map(|v| v.props.clone()).unwrap_or_default();
            match self.add_vd(&rk, Some(nr), *s, props, None) {
                Ok(e) => out.push(e),
                Err(e) => {
                    self.st.rds.remove(&rk);
                    return Err(e);
                }
            }
        }
        let merged = b
            .select_filter
            .clone()
            .unwrap_or_default()
            .or(&rg.select_filter);
        if b.definitions_only || merged.place_count.is_none() {
            out.push(
                Entry::new(
                    INFO_NO_RSC_SPAWNED,
                    format!("Resource definition {name} and {} volume definition(s) created but no resources deployed", sizes.len()),
                )
                .obj("RscDfn", &name),
            );
            return Ok(out);
        }
        if let Err(e) = self.autoplace(&rk, &merged, &mut out) {
            if let Some(rd) = self.st.rds.remove(&rk) {
                for vd in rd.vds.values() {
                    self.be.remove_volume(&rd.name, vd.nr);
                }
            }
            return Err(e);
        }
        Ok(out)
    }

    fn space_info(&self, rg: &RgSt, req_filter: Option<&SelectFilter>) -> Value {
        let f = req_filter
            .cloned()
            .unwrap_or_default()
            .or(&rg.select_filter);
        let pc = f.place_count.unwrap_or(2).max(1) as usize;
        let pool_ok = f
            .pools()
            .is_none_or(|l| l.iter().any(|p| p.eq_ignore_ascii_case(&self.pool_name)));
        let nodes: Vec<&String> = self
            .st
            .nodes
            .iter()
            .filter(|(k, n)| {
                n.online
                    && pool_ok
                    && f.node_name_list
                        .as_ref()
                        .is_none_or(|l| l.is_empty() || l.iter().any(|x| key(x) == **k))
            })
            .map(|(k, _)| k)
            .collect();
        let free: Vec<u64> = nodes.iter().map(|k| self.pool_free(k)).collect();
        let total: Vec<u64> = nodes.iter().map(|_| self.pool_kib).collect();
        let mut by_free: Vec<(u64, &String)> = nodes
            .iter()
            .map(|k| (self.pool_free(k), *k))
            .filter(|(f, _)| *f > 0)
            .collect();
        by_free.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let (max, next) = if by_free.len() >= pc {
            let pick = &by_free[..pc];
            let next: Vec<Value> = pick
                .iter()
                .map(|(_, k)| json!({"node_name": self.st.nodes[*k].name, "stor_pool_name": self.pool_name}))
                .collect();
            (pick.iter().map(|p| p.0).min().unwrap_or(0), next)
        } else {
            (0, vec![])
        };
        let available = if next.is_empty() {
            0
        } else {
            greedy_fill(free, pc)
        };
        json!({
            "max_vlm_size_in_kib": max,
            "available_size_in_kib": available,
            "capacity_in_kib": greedy_fill(total, pc),
            "next_spawn_result": next,
        })
    }

    fn query_size(&mut self, req: &Req<'_>) -> Resp {
        let b: SizeQuery = match parse(req.body) {
            Ok(b) => b,
            Err(e) => return Resp::json(200, json!({"reports": entries_json(&[*e])})),
        };
        match self.rg_ref(&req.p[0]) {
            Ok(rg) => Resp::json(
                200,
                json!({"space_info": self.space_info(rg, b.select_filter.as_ref())}),
            ),
            Err(e) => Resp::json(200, json!({"reports": entries_json(&[*e])})),
        }
    }

    fn query_all_size(&mut self, req: &Req<'_>) -> Resp {
        let b: SizeQuery = match parse(req.body) {
            Ok(b) => b,
            Err(e) => {
                return Resp::json(200, json!({"result": {}, "reports": entries_json(&[*e])}))
            }
        };
        let mut result = serde_json::Map::new();
        for rg in self.st.rgs.values() {
            result.insert(
                rg.name.clone(),
                json!({"space_info": self.space_info(rg, b.select_filter.as_ref())}),
            );
        }
        Resp::json(200, json!({"result": result}))
    }

    // ----- snapshots -----

    fn snap_get(&self, rd: &str, s: &str) -> Result<Value, Fail> {
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

    fn view_snapshots(&self, req: &Req<'_>) -> Value {
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

    fn snap_create(&mut self, req: &Req<'_>) -> MR {
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
                    out.push(Entry::new(
                        WARN_NOT_CONNECTED,
                        format!(
                            "No active connection to satellite '{}', snapshot skipped on that node",
                            r.node
                        ),
                    ));
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
            return Err(fail(
                FAIL_NOT_ENOUGH_NODES,
                format!("No diskful resource of '{name}' available for a snapshot."),
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

    fn snap_delete(&mut self, req: &Req<'_>) -> MR {
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

    fn snap_lookup(&self, rd: &str, s: &str) -> Result<(String, SnapSt), Fail> {
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

    fn snap_rollback(&mut self, req: &Req<'_>) -> MR {
        let _b: Rollback = parse(req.body)?;
        let (name, snap) = self.snap_lookup(&req.p[0], &req.p[1])?;
        let rd = self.rd_ref(&name)?;
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

    fn snap_restore_vd(&mut self, req: &Req<'_>) -> MR {
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

    fn snap_restore_rsc(&mut self, req: &Req<'_>) -> MR {
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

    // ----- clone, connections -----

    fn clone_rd(&mut self, req: &Req<'_>) -> Resp {
        let src = req.p[0].clone();
        let body = |name: &str, msgs: &[Entry], st: u16| {
            let msgs: Vec<Entry> = msgs
                .iter()
                .cloned()
                .map(|e| e.with_context(CRT, OBJ_RSC_DFN))
                .collect();
            let st = status_for(&msgs, st);
            Resp::json(
                st,
                json!({
                    "location": format!("/v1/resource-definitions/{src}/clone/{name}"),
                    "source_name": src,
                    "clone_name": name,
                    "messages": entries_json(&msgs),
                }),
            )
        };
        let b: CloneReq = match parse(req.body) {
            Ok(b) => b,
            Err(e) => return body("__invalid_name__", &[*e], 500),
        };
        let shown = b
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "__invalid_name__".into());
        match self.clone_inner(&src, b) {
            Ok(msgs) => body(&shown, &msgs, 201),
            Err(e) => body(&shown, &[*e], 500),
        }
    }

    fn clone_inner(&mut self, src: &str, b: CloneReq) -> MR {
        let s = self.rd_ref(src)?.clone();
        let ext = b.external_name.clone().unwrap_or_default();
        let name = match b.name.clone().filter(|n| !n.is_empty()) {
            Some(n) => n,
            None if !ext.is_empty() => self.name_from_external(&ext),
            None => return Err(fail(FAIL_INVLD_RSC_NAME, "No name given for the clone.")),
        };
        if s.flags.iter().any(|f| f == "CLONING") {
            return Err(fail(
                FAIL_INVLD_RSC_STATE_NOT_UPTODATE,
                format!("Resource definition '{}' is still being cloned.", s.name),
            ));
        }
        let rg = b.resource_group.clone().unwrap_or_else(|| s.rg.clone());
        let mut props = s.props.clone();
        props.retain(|k, _| k != "cloned-from");
        let mut out = vec![self.new_rd(&name, &rg, props, &ext)?];
        let ck = key(&name);
        let over = {
            let rd = self
                .st
                .rds
                .get_mut(&ck)
                .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
            let r = modify_props(&mut rd.props, &b.override_props, &b.delete_props, &[]);
            rd.props.insert("cloned-from".into(), s.name.clone());
            rd.flags.push("CLONING".into());
            r
        };
        if let Err(e) = over {
            self.st.rds.remove(&ck);
            return Err(e);
        }
        for vd in s.vds.values() {
            self.be
                .copy_volume(&s.name, &name, vd.nr)
                .map_err(|e| fail(FAIL_UNKNOWN_ERROR, e))?;
            out.push(self.add_vd(&ck, Some(vd.nr), vd.size_kib, vd.props.clone(), None)?);
        }
        for r in s.rscs.values() {
            let (flags, pool) = if r.is_diskless() {
                (r.flags.clone(), DISKLESS_POOL.to_string())
            } else {
                (vec![], r.pool.clone())
            };
            self.add_resource(&ck, &r.node, flags, pool, r.props.clone(), &mut out)?;
        }
        if let Some(rd) = self.st.rds.get_mut(&ck) {
            rd.clone_done_ms = Some(now_ms() + self.clone_delay_ms as i64);
        }
        out.push(
            Entry::new(
                CREATED,
                format!("Clone of '{}' into '{name}' started.", s.name),
            )
            .obj("RscDfn", &name),
        );
        Ok(out)
    }

    fn clone_status(&mut self, clone: &str) -> Resp {
        self.tick();
        let Some(rd) = self.st.rds.get(&key(clone)) else {
            return Resp::entries(
                404,
                &[Entry::new(
                    FAIL_NOT_FOUND_RSC_DFN,
                    "Cloned resource not found.",
                )],
            );
        };
        let status = if rd.flags.iter().any(|f| f == "FAILED")
            || rd.rscs.values().any(|r| !self.node_online(&r.node))
        {
            "FAILED"
        } else if rd.flags.iter().any(|f| f == "CLONING") {
            "CLONING"
        } else {
            "COMPLETE"
        };
        Resp::json(200, json!({"status": status}))
    }

    fn conn_key(a: &str, b: &str) -> String {
        let (a, b) = (key(a), key(b));
        if a <= b {
            format!("{a}|{b}")
        } else {
            format!("{b}|{a}")
        }
    }

    fn conn_get(&self, req: &Req<'_>) -> Result<Value, Fail> {
        let rd = self.rd_ref(&req.p[0])?;
        let a = self.node_ref(&req.p[1])?.name.clone();
        let b = self.node_ref(&req.p[2])?.name.clone();
        let props = rd
            .conns
            .get(&Self::conn_key(&a, &b))
            .cloned()
            .unwrap_or_default();
        Ok(json!({"node_a": a, "node_b": b, "props": props}))
    }

    fn conn_modify(&mut self, req: &Req<'_>) -> MR {
        let m: PropsModify = parse(req.body)?;
        let rk = key(&self.rd_ref(&req.p[0])?.name);
        let a = self.node_ref(&req.p[1])?.name.clone();
        let b = self.node_ref(&req.p[2])?.name.clone();
        let rd = self
            .st
            .rds
            .get_mut(&rk)
            .ok_or_else(|| fail(FAIL_UNKNOWN_ERROR, "lost"))?;
        let name = rd.name.clone();
        let ck = Self::conn_key(&a, &b);
        let mut props = rd.conns.get(&ck).cloned().unwrap_or_default();
        let keys = modify_props(
            &mut props,
            &m.override_props,
            &m.delete_props,
            &m.delete_namespaces,
        )?;
        if props.is_empty() {
            rd.conns.remove(&ck);
        } else {
            rd.conns.insert(ck, props);
        }
        let mut out = vec![Entry::new(
            MODIFIED,
            format!("Successfully updated properties of resource connection between '{a}' and '{b}' of resource '{name}'"),
        )
        .obj("RscDfn", &name)];
        out.extend(props_set_entry(&keys));
        Ok(out)
    }

    // ----- test hooks -----

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

    /// Compact view of the state for test assertions.
    pub fn snapshot_state(&self) -> Value {
        let rds: serde_json::Map<String, Value> = self
            .st
            .rds
            .values()
            .map(|rd| {
                (
                    rd.name.clone(),
                    json!({
                        "resource_group": rd.rg,
                        "props": rd.props,
                        "flags": rd.flags,
                        "volumes": rd.vds.values().map(|v| json!({"volume_number": v.nr, "size_kib": v.size_kib, "minor": v.minor})).collect::<Vec<_>>(),
                        "resources": rd.rscs.values().map(|r| (r.node.clone(), json!({
                            "flags": r.flags,
                            "props": r.props,
                            "node_id": r.node_id,
                            "port": r.port,
                            "storage_pool": r.pool,
                            "in_use": self.rsc_in_use_raw(rd, r),
                        }))).collect::<serde_json::Map<_, _>>(),
                        "snapshots": rd.snaps.values().map(|s| s.name.clone()).collect::<Vec<_>>(),
                        "resource_connections": rd.conns,
                    }),
                )
            })
            .collect();
        json!({
            "nodes": self.st.nodes.values().map(|n| (n.name.clone(), json!({"online": n.online, "props": n.props}))).collect::<serde_json::Map<_, _>>(),
            "resource_groups": self.st.rgs.values().map(|g| (g.name.clone(), json!({"props": g.props, "select_filter": g.select_filter}))).collect::<serde_json::Map<_, _>>(),
            "resource_definitions": rds,
            "controller_props": self.st.ctrl_props,
        })
    }
}

const FAIL_INVLD_RSC_STATE_NOT_UPTODATE: u64 = 243 | MASK_ERROR;

/// A resource to register; `node_id` and `port` are asked for instead of allocated.
#[derive(Debug, Default, Clone)]
struct NewRsc {
    flags: Vec<String>,
    pool: String,
    props: Props,
    node_id: Option<u32>,
    port: Option<u32>,
}
