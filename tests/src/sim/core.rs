//! The simulated controller: the state with its backing, request/answer types and the helpers
//! every handler family shares. Routes are in [`super::routes`], handlers in `sim/handlers/`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::backing::{Backend, Backing};
use super::model::*;
use super::rc::*;
use super::render::non_empty;

pub const DISKLESS_POOL: &str = "DfltDisklessStorPool";
pub const DFLT_RG: &str = "DfltRscGrp";
/// The controller version the simulator reports unless told otherwise.
pub const DEFAULT_VERSION: &str = "1.34.0";
/// Resync time of a new replica unless told otherwise: small, so suites stay fast.
pub const DEFAULT_RESYNC_MS: u64 = 20;
pub(crate) const MAX_VLM_KIB: i64 = 1 << 40;

/// `Resp::status` of a request that gets no answer; the server holds the connection.
pub const NO_ANSWER: u16 = 0;

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

    /// No HTTP answer at all: the real controller never resumes the request.
    pub fn no_answer() -> Resp {
        Resp::empty(NO_ANSWER)
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
    pub(crate) fn q_all(&self, k: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(a, _)| a == k)
            .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// A numeric query parameter such as `limit`; absent or not a number is `None`.
    pub(crate) fn q_usize(&self, k: &str) -> Option<usize> {
        self.query
            .iter()
            .find(|(a, _)| a == k)
            .and_then(|(_, v)| v.parse().ok())
    }

    pub(crate) fn q_bool(&self, k: &str) -> bool {
        self.query
            .iter()
            .any(|(a, v)| a == k && v.eq_ignore_ascii_case("true"))
    }
}

pub(crate) type Fail = Box<Entry>;
pub(crate) type MR = Result<Vec<Entry>, Fail>;

pub(crate) fn fail(code: u64, msg: impl Into<String>) -> Fail {
    Box::new(Entry::new(code, msg))
}

pub fn key(s: &str) -> String {
    s.to_ascii_uppercase()
}

/// Reads a mandatory request body the way the controller's Jackson mapper does.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Fail> {
    super::lenient::from_slice(body).map_err(|e| {
        Box::new(
            Entry::new(API_CALL_PARSE_ERROR, "Unable to parse input json.").details(e.to_string()),
        )
    })
}

/// Reads an optional body (`RequestHelper.parseJsonOrDefault`): empty means the defaults.
pub(crate) fn parse_or_default<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, Fail> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    parse(body)
}

/// `1.31.1` (or `1.34.0-rc.1`) as a comparable triple.
pub fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
}

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub(crate) fn valid_rsc_name(n: &str) -> bool {
    let b = n.as_bytes();
    (2..=48).contains(&b.len())
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
        && b.iter().any(|c| c.is_ascii_alphabetic())
        && !n.eq_ignore_ascii_case("all")
        && !n.eq_ignore_ascii_case("proxy")
}

/// Simulator configuration that the handlers need.
#[derive(Debug)]
pub struct Core {
    pub st: State,
    pub be: Backend,
    pub pool_name: String,
    pub pool_kib: u64,
    pub clone_delay_ms: u64,
    /// Controller version reported and emulated, e.g. `1.34.0`.
    pub version: String,
    pub reports: Vec<super::handlers::ErrReport>,
    pub report_seq: u64,
    /// Time a new replica that must sync from a peer stays `SyncTarget`.
    pub resync_ms: u64,
    /// Time a satellite takes to deploy a new resource (disk `Inconsistent` meanwhile).
    pub deploy_delay_ms: u64,
    /// Sequence number of the request being handled.
    pub req_seq: u64,
}

/// Answer of an asynchronous endpoint: a body that does not parse gives 500, like every
/// other error outside the not-found and access-denied ranges (reference §1.2).
pub(crate) fn ctx_reply(op: u64, obj: u64, ok: u16, r: MR) -> Resp {
    match r {
        Ok(es) => {
            let es: Vec<Entry> = es.into_iter().map(|e| e.with_context(op, obj)).collect();
            Resp::entries(status_for(&es, ok), &es)
        }
        Err(e) => {
            let e = e.with_context(op, obj);
            Resp::entries(status_for(std::slice::from_ref(&e), ok), &[e])
        }
    }
}

/// Answer of a synchronous endpoint (`RequestHelper.doInScope`): a body that does not parse
/// gives 400.
pub(crate) fn ctx_reply_sync(op: u64, obj: u64, ok: u16, r: MR) -> Resp {
    match r {
        Err(e) if e.ret_code == API_CALL_PARSE_ERROR => {
            Resp::entries(400, &[e.with_context(op, obj)])
        }
        r => ctx_reply(op, obj, ok, r),
    }
}

pub(crate) fn get_reply(r: Result<Value, Fail>) -> Resp {
    match r {
        Ok(v) => Resp::json(200, v),
        Err(e) => Resp::entries(status_for(std::slice::from_ref(&e), 200), &[*e]),
    }
}

pub(crate) fn props_filter_ok(p: &Props, filters: &[String]) -> bool {
    filters.iter().all(|f| match f.split_once('=') {
        Some((k, v)) => p.get(k).is_some_and(|x| x == v),
        None => p.contains_key(f.as_str()),
    })
}

pub(crate) fn norm_prop(k: &str, v: &str) -> Result<String, Fail> {
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
                | "PrefNic"
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
    if k == "PrefNic" && !pref_nic_ok(v) {
        return Err(Box::new(
            Entry::new(FAIL_INVLD_PROP, format!("Invalid property value: {v}")).details(format!(
                "The value must match '^[a-zA-Z0-9_][a-zA-Z0-9_-]{{2,47}}$' for key '{k}'"
            )),
        ));
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
    if DRBD_BOOL_OPTS.iter().any(|o| k.eq_ignore_ascii_case(o)) {
        return Err(Box::new(
            Entry::new(FAIL_INVLD_PROP, format!("Invalid property({k}) value: {v}"))
                .cause(format!("The value '{v}' is not valid for the key '{k}'"))
                .details("This value must be either 'yes' or 'no'."),
        ));
    }
    Ok(v.to_string())
}

/// `PrefNic` values: an interface name as LINSTOR's property rule has it.
fn pref_nic_ok(v: &str) -> bool {
    let b = v.as_bytes();
    (3..=48).contains(&b.len())
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// DRBD options of type boolean (`yes`/`no` only, `S/api/prop/BooleanProperty.java`).
const DRBD_BOOL_OPTS: &[&str] = &[
    "DrbdOptions/Net/allow-two-primaries",
    "DrbdOptions/Net/always-asbp",
    "DrbdOptions/Net/use-rle",
    "DrbdOptions/Net/csums-after-crash-only",
    "DrbdOptions/Net/tcp-cork",
    "DrbdOptions/Disk/disk-barrier",
    "DrbdOptions/Disk/disk-flushes",
    "DrbdOptions/Disk/disk-drain",
    "DrbdOptions/Disk/md-flushes",
    "DrbdOptions/Disk/al-updates",
    "DrbdOptions/Disk/discard-zeroes-if-aligned",
    "DrbdOptions/Disk/disable-write-same",
    "DrbdOptions/PeerDevice/bitmap",
];

/// Applies override/delete/delete-namespace to `target`; returns the keys set.
pub(crate) fn modify_props(
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

pub(crate) fn props_set_entry(keys: &[String]) -> Option<Entry> {
    (!keys.is_empty()).then(|| {
        Entry::new(
            MODIFIED,
            format!("Successfully set property key(s): {}", keys.join(",")),
        )
    })
}

/// `Checks.hostNameCheck`, the rule of `NodeName`: the `InvalidNameException` message when
/// `n` is not a valid node name.
pub(crate) fn hostname_check(n: &str) -> Result<(), String> {
    if n.starts_with('.') {
        return Err("Hostname cannot begin with '.'".into());
    }
    if n.starts_with('-') {
        return Err("Hostname cannot begin with '-'".into());
    }
    if n.ends_with('-') {
        return Err("Hostname cannot end with '-'".into());
    }
    let b = n.as_bytes();
    if b.len() < 2 || b.len() > 255 {
        let (bound, what) = if b.len() < 2 {
            (2, "minimum")
        } else {
            (255, "maximum")
        };
        return Err(format!(
            "Hostname length of {} violates RFC1123 {what} length of {bound}",
            b.len()
        ));
    }
    let mut label = 0;
    for &c in b {
        if c == b'.' {
            label = 0;
            continue;
        }
        label += 1;
        if label > 63 {
            return Err(format!(
                "Domain name component length of {label} violates RFC1123 maximum length of 63"
            ));
        }
        if !(c.is_ascii_alphanumeric() || c == b'-') {
            return Err(format!(
                "Domain name cannot contain character '{}'",
                c as char
            ));
        }
    }
    Ok(())
}

pub(crate) fn layer_stack_ok(l: &[String]) -> bool {
    let up: Vec<String> = l.iter().map(|x| x.to_ascii_uppercase()).collect();
    l.is_empty() || up == ["DRBD", "STORAGE"] || up == ["DRBD"]
}

pub(crate) fn drbd_port_ok(p: Option<i64>) -> Result<Option<u32>, Fail> {
    match p {
        None => Ok(None),
        Some(p) if (1..=65535).contains(&p) => Ok(Some(p as u32)),
        Some(p) => Err(fail(
            FAIL_INVLD_RSC_PORT,
            format!("The specified TCP port '{p}' is invalid."),
        )),
    }
}

pub(crate) fn peer_slots_ok(s: Option<i64>) -> Result<Option<u32>, Fail> {
    match s {
        None => Ok(None),
        Some(s) if (1..=31).contains(&s) => Ok(Some(s as u32)),
        Some(s) => Err(fail(
            FAIL_INVLD_REQUEST,
            format!("Invalid peer slot count {s}; valid values are 1-31."),
        )),
    }
}

pub(crate) fn size_ok(s: i64) -> Result<u64, Fail> {
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
                    net_ifs: BTreeMap::new(),
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
        let mut core = Core {
            st,
            be,
            pool_name: pool_name.to_string(),
            pool_kib,
            clone_delay_ms,
            version: DEFAULT_VERSION.into(),
            reports: vec![],
            report_seq: 0,
            resync_ms: DEFAULT_RESYNC_MS,
            deploy_delay_ms: 0,
            req_seq: 1,
        };
        core.normalize();
        core
    }

    /// Fills what older state files lack: each node's `default` net interface.
    pub fn normalize(&mut self) {
        for n in self.st.nodes.values_mut() {
            if n.net_ifs.is_empty() {
                n.net_ifs.insert(
                    key("default"),
                    NetIfSt {
                        name: "default".into(),
                        address: n.address.clone(),
                        satellite_port: Some(3366),
                        satellite_encryption_type: Some("PLAIN".into()),
                        uuid: n.uuid.clone(),
                    },
                );
            }
        }
    }

    pub fn node_online(&self, name: &str) -> bool {
        self.st.nodes.get(&key(name)).is_some_and(|n| n.online)
    }

    /// The keys of the nodes whose satellite is online.
    pub fn online_node_keys(&self) -> Vec<String> {
        self.st
            .nodes
            .values()
            .filter(|n| n.online)
            .map(|n| key(&n.name))
            .collect()
    }

    pub fn pool_used(&self, node_key: &str) -> u64 {
        super::placement::pool_used(&self.st, node_key)
    }

    pub fn pool_free(&self, node_key: &str) -> u64 {
        super::placement::pool_free(&self.st, self.pool_kib, node_key)
    }

    pub(crate) fn eff_prop(&self, rd: &RdSt, k: &str) -> Option<String> {
        rd.props
            .get(k)
            .or_else(|| self.st.rgs.get(&key(&rd.rg)).and_then(|g| g.props.get(k)))
            .or_else(|| self.st.ctrl_props.get(k))
            .cloned()
    }

    pub(crate) fn rd_ref(&self, name: &str) -> Result<&RdSt, Fail> {
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

    pub(crate) fn node_ref(&self, name: &str) -> Result<&NodeSt, Fail> {
        self.st.nodes.get(&key(name)).ok_or_else(|| {
            Box::new(
                Entry::new(FAIL_NOT_FOUND_NODE, format!("Node '{name}' not found."))
                    .obj("Node", name),
            )
        })
    }

    pub(crate) fn rg_ref(&self, name: &str) -> Result<&RgSt, Fail> {
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
        let mut changed = self.finish_migrations();
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
        if be.mode == Backing::Loop {
            be.detach_stale();
        }
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
        if be.mode == Backing::Loop {
            be.detach_stale();
        }
    }

    /// True when the emulated controller is at least `want` (`major.minor.patch`).
    pub fn version_at_least(&self, want: (u32, u32, u32)) -> bool {
        parse_version(&self.version).is_some_and(|v| v >= want)
    }

    /// What `GET /v1/controller/version` answers.
    pub fn version_json(&self) -> Value {
        json!({"version": self.version, "git_hash": "simulated", "build_time": "2026-06-02T00:00:00+00:00", "rest_api_version": "1.28.0"})
    }

    /// Runs the handler the route table holds for `method` and `pat` (a pattern that
    /// [`super::routes::match_route`] returned).
    pub fn dispatch(&mut self, method: &str, pat: &str, req: &Req<'_>) -> Resp {
        match super::routes::ROUTES
            .iter()
            .find(|r| r.method == method && r.pattern == pat)
        {
            Some(r) => {
                self.req_seq += 1;
                let mut resp = (r.handler)(self, req);
                self.add_error_report(&format!("{method} {pat}"), &mut resp);
                resp
            }
            None => Resp::entries(
                404,
                &[Entry::new(
                    FAIL_UNKNOWN_ERROR,
                    format!("Path '{pat}' not found on server."),
                )],
            ),
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

pub(crate) const FAIL_INVLD_RSC_STATE_NOT_UPTODATE: u64 = 243 | MASK_ERROR;

/// A resource to register; `node_id` and `port` are asked for instead of allocated.
#[derive(Debug, Default, Clone)]
pub(crate) struct NewRsc {
    pub(crate) flags: Vec<String>,
    pub(crate) pool: String,
    pub(crate) props: Props,
    pub(crate) node_id: Option<u32>,
    pub(crate) port: Option<u32>,
    pub(crate) client: bool,
}
