//! ApiCallRc entries: return-code constants, context masks and the HTTP status rule.
//! The values are those of linstor-common's `consts.json` (`ApiConsts`).

use serde_json::{json, Map, Value};

pub const MASK_ERROR: u64 = 0xC000_0000_0000_0000;
pub const MASK_WARN: u64 = 0x8000_0000_0000_0000;
pub const MASK_INFO: u64 = 0x4000_0000_0000_0000;
pub const MASK_TYPE: u64 = 0xC000_0000_0000_0000;
pub const MASK_OP: u64 = 0x300_0000;
pub const MASK_OBJ: u64 = 0x7C_0000;

pub const CRT: u64 = 0x100_0000;
pub const MOD: u64 = 0x200_0000;
pub const DEL: u64 = 0x300_0000;

pub const OBJ_NODE: u64 = 0x3C_0000;
pub const OBJ_RSC_DFN: u64 = 0x38_0000;
pub const OBJ_RSC: u64 = 0x34_0000;
pub const OBJ_VLM_DFN: u64 = 0x30_0000;
pub const OBJ_VLM: u64 = 0x2C_0000;
pub const OBJ_RSC_CONN: u64 = 0x24_0000;
pub const OBJ_NET_IF: u64 = 0x1C_0000;
pub const OBJ_STOR_POOL: u64 = 0x14_0000;
pub const OBJ_CTRL_CONF: u64 = 0x10_0000;
pub const OBJ_SNAPSHOT: u64 = 0x0C_0000;
pub const OBJ_RSC_GRP: u64 = 0x44_0000;
pub const OBJ_VLM_GRP: u64 = 0x48_0000;

pub const CREATED: u64 = 1;
pub const DELETED: u64 = 2;
pub const MODIFIED: u64 = 3;

pub const FAIL_INVLD_NODE_NAME: u64 = 200 | MASK_ERROR;
pub const FAIL_INVLD_RSC_NAME: u64 = 202 | MASK_ERROR;
pub const FAIL_INVLD_STOR_POOL_NAME: u64 = 208 | MASK_ERROR;
pub const FAIL_INVLD_RSC_PORT: u64 = 203 | MASK_ERROR;
pub const FAIL_INVLD_NODE_ID: u64 = 204 | MASK_ERROR;
pub const FAIL_INVLD_VLM_NR: u64 = 205 | MASK_ERROR;
pub const FAIL_INVLD_MINOR_NR: u64 = 207 | MASK_ERROR;
pub const FAIL_INVLD_VLM_SIZE: u64 = 206 | MASK_ERROR;
pub const FAIL_INVLD_PROP: u64 = 213 | MASK_ERROR;
pub const FAIL_INVLD_SNAPSHOT_NAME: u64 = 218 | MASK_ERROR;
pub const FAIL_INVLD_PLACE_COUNT: u64 = 219 | MASK_ERROR;
pub const FAIL_INVLD_LAYER_STACK: u64 = 225 | MASK_ERROR;
pub const FAIL_INVLD_VLM_SIZES: u64 = 228 | MASK_ERROR;
pub const FAIL_INVLD_REQUEST: u64 = 234 | MASK_ERROR;
pub const FAIL_INVLD_RSC_GRP_NAME: u64 = 237 | MASK_ERROR;
pub const FAIL_INVLD_NET_NAME: u64 = 209 | MASK_ERROR;
pub const FAIL_INVLD_NET_ADDR: u64 = 210 | MASK_ERROR;
pub const FAIL_INVLD_NET_PORT: u64 = 211 | MASK_ERROR;
pub const FAIL_INVLD_NET_TYPE: u64 = 212 | MASK_ERROR;
pub const FAIL_NOT_FOUND_NET_IF: u64 = 305 | MASK_ERROR;
pub const FAIL_NOT_FOUND_RSC_CONN: u64 = 307 | MASK_ERROR;
pub const FAIL_EXISTS_NET_IF: u64 = 505 | MASK_ERROR;
pub const FAIL_NOT_FOUND_NODE: u64 = 300 | MASK_ERROR;
pub const FAIL_NOT_FOUND_RSC_DFN: u64 = 301 | MASK_ERROR;
pub const FAIL_NOT_FOUND_RSC: u64 = 302 | MASK_ERROR;
pub const FAIL_NOT_FOUND_VLM_DFN: u64 = 303 | MASK_ERROR;
pub const FAIL_NOT_FOUND_VLM: u64 = 304 | MASK_ERROR;
pub const FAIL_NOT_FOUND_STOR_POOL: u64 = 310 | MASK_ERROR;
pub const FAIL_NOT_FOUND_DFLT_STOR_POOL: u64 = 311 | MASK_ERROR;
pub const FAIL_NOT_FOUND_SNAPSHOT_DFN: u64 = 313 | MASK_ERROR;
pub const FAIL_NOT_FOUND_SNAPSHOT_VLM_DFN: u64 = 314 | MASK_ERROR;
pub const FAIL_NOT_FOUND_SNAPSHOT: u64 = 315 | MASK_ERROR;
pub const FAIL_NOT_FOUND_RSC_GRP: u64 = 317 | MASK_ERROR;
pub const FAIL_NOT_FOUND_VLM_GRP: u64 = 318 | MASK_ERROR;
pub const FAIL_ACC_DENIED_COMMAND: u64 = 412 | MASK_ERROR;
pub const FAIL_EXISTS_RSC_DFN: u64 = 501 | MASK_ERROR;
pub const FAIL_EXISTS_RSC: u64 = 502 | MASK_ERROR;
pub const FAIL_EXISTS_VLM_DFN: u64 = 503 | MASK_ERROR;
pub const FAIL_EXISTS_SNAPSHOT_DFN: u64 = 514 | MASK_ERROR;
pub const FAIL_EXISTS_RSC_GRP: u64 = 522 | MASK_ERROR;
pub const FAIL_EXISTS_VLM_GRP: u64 = 523 | MASK_ERROR;
pub const FAIL_POOL_EXHAUSTED_MINOR_NR: u64 = 801 | MASK_ERROR;
pub const FAIL_POOL_EXHAUSTED_TCP_PORT: u64 = 802 | MASK_ERROR;
pub const FAIL_POOL_EXHAUSTED_NODE_ID: u64 = 803 | MASK_ERROR;
pub const FAIL_NOT_ENOUGH_FREE_SPACE: u64 = 980 | MASK_ERROR;
pub const FAIL_INSUFFICIENT_REPLICA_COUNT: u64 = 991 | MASK_ERROR;
pub const FAIL_INSUFFICIENT_PEER_SLOTS: u64 = 993 | MASK_ERROR;
pub const FAIL_SNAPSHOTS_NOT_SUPPORTED: u64 = 994 | MASK_ERROR;
pub const FAIL_NOT_CONNECTED: u64 = 995 | MASK_ERROR;
pub const FAIL_NOT_ENOUGH_NODES: u64 = 996 | MASK_ERROR;
pub const FAIL_IN_USE: u64 = 997 | MASK_ERROR;
pub const FAIL_NOT_ALL_UPTODATE: u64 = 974 | MASK_ERROR;
pub const FAIL_SNAPSHOT_NOT_UPTODATE: u64 = 979 | MASK_ERROR;
pub const FAIL_STLT_DOES_NOT_SUPPORT_LAYER: u64 = 988 | MASK_ERROR;
pub const FAIL_UNKNOWN_ERROR: u64 = 998 | MASK_ERROR;
pub const FAIL_IMPL_ERROR: u64 = 999 | MASK_ERROR;
pub const FAIL_INVLD_ENCRYPT_TYPE: u64 = 217 | MASK_ERROR;
pub const FAIL_SIGN_IN: u64 = 10000 | MASK_ERROR;
pub const FAIL_SIGN_IN_MISSING_CREDENTIALS: u64 = 10001 | MASK_ERROR;
pub const API_CALL_PARSE_ERROR: u64 = 0x0FFF_FFFF_FFFF_FFFD | MASK_ERROR;

pub const WARN_NOT_CONNECTED: u64 = 1002 | MASK_WARN;
pub const WARN_NO_STLT_CONN_DEFINED: u64 = 1004 | MASK_WARN;
pub const WARN_DEL_UNSET_PROP: u64 = 1005 | MASK_WARN;
pub const WARN_RSC_ALREADY_DEPLOYED: u64 = 1006 | MASK_WARN;
pub const WARN_ALL_DISKLESS: u64 = 1009 | MASK_WARN;
pub const WARN_NOT_ENOUGH_NODES_FOR_TIE_BREAKER: u64 = 1013 | MASK_WARN;
pub const WARN_VLMDFN_RESIZE_SAME_SIZE: u64 = 1023 | MASK_WARN;
pub const WARN_NOT_FOUND: u64 = 3000 | MASK_WARN;

pub const INFO_NO_RSC_SPAWNED: u64 = 10000 | MASK_INFO;
pub const INFO_PROP_SET: u64 = 10002 | MASK_INFO;
pub const INFO_TIE_BREAKER_CREATED: u64 = 10003 | MASK_INFO;
pub const INFO_TIE_BREAKER_DELETING: u64 = 10004 | MASK_INFO;
pub const INFO_TIE_BREAKER_TAKEOVER: u64 = 10006 | MASK_INFO;
pub const INFO_NOOP: u64 = 10007 | MASK_INFO;
pub const INFO_RSC_ALREADY_EXISTS: u64 = 10008 | MASK_INFO;

/// One ApiCallRc entry before serialisation.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub ret_code: u64,
    pub message: String,
    pub cause: Option<String>,
    pub details: Option<String>,
    pub correction: Option<String>,
    pub obj_refs: Vec<(String, String)>,
}

impl Entry {
    pub fn new(ret_code: u64, message: impl Into<String>) -> Self {
        Entry {
            ret_code,
            message: message.into(),
            ..Default::default()
        }
    }

    pub fn details(mut self, d: impl Into<String>) -> Self {
        self.details = Some(d.into());
        self
    }

    pub fn cause(mut self, c: impl Into<String>) -> Self {
        self.cause = Some(c.into());
        self
    }

    pub fn correction(mut self, c: impl Into<String>) -> Self {
        self.correction = Some(c.into());
        self
    }

    pub fn obj(mut self, k: &str, v: impl Into<String>) -> Self {
        self.obj_refs.push((k.to_string(), v.into()));
        self
    }

    /// The resource of `rd` on `node` as the entry's objects (`RscDfn`, `Node`).
    pub fn rsc(self, rd: &str, node: &str) -> Self {
        self.obj("RscDfn", rd).obj("Node", node)
    }

    pub fn is_error(&self) -> bool {
        self.ret_code & MASK_TYPE == MASK_ERROR
    }

    /// ORs the operation and object masks into the entry unless those fields are already set.
    pub fn with_context(mut self, op: u64, obj: u64) -> Self {
        if self.ret_code & MASK_OP == 0 {
            self.ret_code |= op;
        }
        if self.ret_code & MASK_OBJ == 0 {
            self.ret_code |= obj;
        }
        self
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("ret_code".into(), json!(self.ret_code as i64));
        m.insert("message".into(), json!(self.message));
        if let Some(c) = &self.cause {
            m.insert("cause".into(), json!(c));
        }
        if let Some(d) = &self.details {
            m.insert("details".into(), json!(d));
        }
        if let Some(c) = &self.correction {
            m.insert("correction".into(), json!(c));
        }
        if !self.obj_refs.is_empty() {
            let refs: Map<String, Value> = self
                .obj_refs
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            m.insert("obj_refs".into(), Value::Object(refs));
        }
        m.insert("created_at".into(), json!(now_iso()));
        Value::Object(m)
    }
}

/// `ResponseUtils.makeNotConnectedWarning`.
pub fn not_connected(node: &str) -> Entry {
    Entry::new(
        WARN_NOT_CONNECTED,
        format!("No active connection to satellite '{node}'"),
    )
    .details("The controller is trying to (re-) establish a connection to the satellite. The controller stored the changes and as soon the satellite is connected, it will receive this update.")
    .obj("Node", node)
}

/// `LinstorParsingUtils.asNodeName`: `why` is the `InvalidNameException` message, which
/// `ResponseConverter.exceptionToResponse` turns into the cause (absent when the REST class's
/// exception mapper answers instead).
pub(crate) fn invalid_node_name(node: &str, why: Option<String>) -> Box<Entry> {
    let e = Entry::new(
        FAIL_INVLD_NODE_NAME,
        format!("The given node name '{node}' is invalid."),
    );
    Box::new(match why {
        Some(w) => e.cause(w),
        None => e,
    })
}

/// HTTP status the real server derives from an entry list.
pub fn status_for(entries: &[Entry], success: u16) -> u16 {
    for e in entries {
        if e.is_error() {
            let code = e.ret_code & 0x7FFF;
            return if (300..=399).contains(&code) {
                404
            } else if (400..=499).contains(&code) {
                403
            } else {
                500
            };
        }
    }
    success
}

pub fn entries_json(entries: &[Entry]) -> Value {
    Value::Array(entries.iter().map(Entry::to_json).collect())
}

/// Current local time as ISO-8601 with millisecond precision and offset.
pub fn now_iso() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+00:00"
    );
    now.format(&fmt).unwrap_or_default()
}

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
