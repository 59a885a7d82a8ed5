//! The helper's input protocol: `linstor-pve <method>` with a JSON document on stdin, parsed
//! into a [`Request`] without any IO.
//!
//! ```json
//! {"storeid": "drbdstorage", "scfg": {"controller": "10.0.0.1", "resourcegroup": "rg"},
//!  "node": "pve1", "dev_root": "/dev", "timeout": 55,
//!  "args": {"volname": "pm-12cf742a_101", "snap": null}}
//! ```

use std::path::PathBuf;

use linstor_common::naming::{self, proxmox, proxmox::Volname};
use serde_json::{Map, Value};

use crate::error::PveError;
use crate::options::StoreOptions;

/// Everything a method needs besides its own arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// PVE storage id.
    pub storeid: String,
    /// The storage's options.
    pub options: StoreOptions,
    /// LINSTOR node name of this node (PVE node name plus `searchdomain`).
    pub node: String,
    /// Root of the local device paths (`/dev`).
    pub dev_root: PathBuf,
    /// Seconds the Perl side allows this call (it kills the helper after that).
    pub timeout_secs: u64,
    /// `status_key`: when set, `status` leaves its answer with this key in the status file the
    /// Perl module reads without starting anything.
    pub status_key: Option<String>,
}

/// One plugin method with its arguments, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `alloc_image`: create a volume for `vmid`; `name` `None` generates `pm-XXXXXXXX`.
    Alloc {
        /// Owning VM.
        vmid: String,
        /// Requested name, already checked against the VM.
        name: Option<Volname>,
        /// Size in KiB (raised to the 3 MiB minimum).
        size_kib: u64,
    },
    /// `free_image`.
    Free(Volname),
    /// `list_images`, optionally for one VM or a list of volids.
    List {
        /// Only this VM.
        vmid: Option<String>,
        /// Only these volids.
        vollist: Option<Vec<String>>,
    },
    /// `status`.
    Status,
    /// `check_storage` (`on_add_hook`/`on_update_hook`): a controller answers and the resource
    /// group exists.
    Check,
    /// `activate_volume` (and `map_volume`): attach here, of a snapshot when `snap` is set.
    Activate {
        /// The volume.
        vol: Volname,
        /// PVE snapshot name.
        snap: Option<String>,
    },
    /// `deactivate_volume`.
    Deactivate {
        /// The volume.
        vol: Volname,
        /// PVE snapshot name.
        snap: Option<String>,
    },
    /// `volume_size_info`.
    SizeInfo(Volname),
    /// `volume_resize` to `size_bytes`.
    Resize {
        /// The volume.
        vol: Volname,
        /// New size in bytes.
        size_bytes: u64,
    },
    /// `volume_snapshot`.
    Snapshot {
        /// The volume.
        vol: Volname,
        /// PVE snapshot name.
        snap: String,
    },
    /// `volume_snapshot_rollback`.
    Rollback {
        /// The volume.
        vol: Volname,
        /// PVE snapshot name.
        snap: String,
    },
    /// `volume_rollback_is_possible`: answers the newer snapshots that block it.
    RollbackPossible {
        /// The volume.
        vol: Volname,
        /// PVE snapshot name.
        snap: String,
    },
    /// `volume_snapshot_delete` (with its temporary resource).
    SnapshotDelete {
        /// The volume.
        vol: Volname,
        /// PVE snapshot name.
        snap: String,
    },
    /// `volume_snapshot_info`.
    SnapshotInfo(Volname),
    /// `clone_image`: a new volume for `vmid` from a template or from a snapshot.
    Clone {
        /// Source.
        vol: Volname,
        /// Owner of the clone.
        vmid: String,
        /// Clone from this PVE snapshot.
        snap: Option<String>,
    },
    /// `create_base`: turn a volume into a template.
    CreateBase(Volname),
    /// `rename_volume` (reassign owner).
    Rename {
        /// Source.
        vol: Volname,
        /// New owner.
        target_vmid: String,
        /// Requested new volname, if PVE passed one.
        target_volname: Option<String>,
    },
}

/// A parsed helper invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Shared context.
    pub ctx: Context,
    /// What to do.
    pub action: Action,
}

/// Every method name the helper accepts.
pub const METHODS: &[&str] = &[
    "alloc_image",
    "free_image",
    "list_images",
    "status",
    "check_storage",
    "activate_volume",
    "map_volume",
    "deactivate_volume",
    "volume_size_info",
    "volume_resize",
    "volume_snapshot",
    "volume_snapshot_rollback",
    "volume_rollback_is_possible",
    "volume_snapshot_delete",
    "volume_snapshot_info",
    "clone_image",
    "create_base",
    "rename_volume",
];

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

struct Args<'a>(&'a Map<String, Value>);

impl Args<'_> {
    fn opt(&self, key: &str) -> Result<Option<String>, PveError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => scalar(v).map(Some).ok_or_else(|| {
                PveError::Input(format!("argument '{key}' must be a string or a number"))
            }),
        }
    }

    fn req(&self, key: &str) -> Result<String, PveError> {
        self.opt(key)?
            .ok_or_else(|| PveError::Input(format!("argument '{key}' is missing")))
    }

    fn vmid(&self, key: &str) -> Result<String, PveError> {
        let v = self.req(key)?;
        if v.len() > 10 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PveError::Input(format!(
                "argument '{key}' is '{v}': a VMID is a number such as 100"
            )));
        }
        Ok(v)
    }

    fn size(&self, key: &str) -> Result<u64, PveError> {
        let v = self.req(key)?;
        let n = match v.parse::<u64>() {
            Ok(n) => n,
            Err(_) => v
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1.8e19)
                .map(|f| f.ceil() as u64)
                .ok_or_else(|| {
                    PveError::Input(format!("argument '{key}' is '{v}': expected a size"))
                })?,
        };
        Ok(n)
    }

    fn volname(&self) -> Result<Volname, PveError> {
        Ok(proxmox::parse_volname(&self.req("volname")?)?)
    }

    fn snap(&self, key: &str) -> Result<Option<String>, PveError> {
        let s = self.opt(key)?;
        if let Some(s) = &s {
            proxmox::validate_pve_snapshot(s)?;
        }
        Ok(s)
    }

    fn snap_req(&self, key: &str) -> Result<String, PveError> {
        self.snap(key)?
            .ok_or_else(|| PveError::Input(format!("argument '{key}' is missing")))
    }
}

fn action(method: &str, a: &Args<'_>) -> Result<Action, PveError> {
    Ok(match method {
        "alloc_image" => {
            let vmid = a.vmid("vmid")?;
            if let Some(fmt) = a.opt("fmt")? {
                if fmt != "raw" {
                    return Err(PveError::Input(format!(
                        "unsupported format '{fmt}': drbd storage holds raw volumes only"
                    )));
                }
            }
            let name = match a.opt("name")? {
                Some(n) => Some(proxmox::parse_alloc_name(&n, &vmid)?),
                None => None,
            };
            let size_kib = a.size("size_kib")?.max(proxmox::MIN_ALLOC_KIB);
            naming::validate_size_kib(size_kib)?;
            Action::Alloc {
                vmid,
                name,
                size_kib,
            }
        }
        "free_image" => Action::Free(a.volname()?),
        "list_images" => {
            let vmid = match a.opt("vmid")? {
                Some(_) => Some(a.vmid("vmid")?),
                None => None,
            };
            let vollist = match a.0.get("vollist") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|i| {
                            scalar(i).ok_or_else(|| {
                                PveError::Input("argument 'vollist' must list volids".into())
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                Some(_) => {
                    return Err(PveError::Input(
                        "argument 'vollist' must be a list of volids".into(),
                    ))
                }
            };
            Action::List { vmid, vollist }
        }
        "status" => Action::Status,
        "check_storage" => Action::Check,
        "activate_volume" | "map_volume" => Action::Activate {
            vol: a.volname()?,
            snap: a.snap("snap")?,
        },
        "deactivate_volume" => Action::Deactivate {
            vol: a.volname()?,
            snap: a.snap("snap")?,
        },
        "volume_size_info" => Action::SizeInfo(a.volname()?),
        "volume_resize" => {
            if let Some(s) = a.opt("snapname")? {
                return Err(PveError::Input(format!(
                    "cannot resize snapshot '{s}': drbd storage resizes only the current volume"
                )));
            }
            Action::Resize {
                vol: a.volname()?,
                size_bytes: a.size("size")?,
            }
        }
        "volume_snapshot" => Action::Snapshot {
            vol: a.volname()?,
            snap: a.snap_req("snap")?,
        },
        "volume_snapshot_rollback" => Action::Rollback {
            vol: a.volname()?,
            snap: a.snap_req("snap")?,
        },
        "volume_rollback_is_possible" => Action::RollbackPossible {
            vol: a.volname()?,
            snap: a.snap_req("snap")?,
        },
        "volume_snapshot_delete" => Action::SnapshotDelete {
            vol: a.volname()?,
            snap: a.snap_req("snap")?,
        },
        "volume_snapshot_info" => Action::SnapshotInfo(a.volname()?),
        "clone_image" => Action::Clone {
            vol: a.volname()?,
            vmid: a.vmid("vmid")?,
            snap: a.snap("snap")?,
        },
        "create_base" => Action::CreateBase(a.volname()?),
        "rename_volume" => Action::Rename {
            vol: a.volname()?,
            target_vmid: a.vmid("target_vmid")?,
            target_volname: a.opt("target_volname")?,
        },
        other => {
            return Err(PveError::Input(format!(
                "unknown method '{other}'; the helper knows {}",
                METHODS.join(", ")
            )))
        }
    })
}

/// PVE's rule for storage ids (`pve-storage-id`): a letter, then letters, digits, `-`, `_`, `.`,
/// ending in a letter or digit.
fn is_pve_storage_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Parse one invocation: the method (first argument) and the JSON document (stdin).
pub fn parse(method: &str, input: &[u8]) -> Result<Request, PveError> {
    let doc: Value = serde_json::from_slice(input).map_err(PveError::Json)?;
    let Some(doc) = doc.as_object() else {
        return Err(PveError::Input("input must be a JSON object".into()));
    };
    let empty = Map::new();
    let obj = |key: &str| -> Result<&Map<String, Value>, PveError> {
        match doc.get(key) {
            None | Some(Value::Null) => Ok(&empty),
            Some(Value::Object(m)) => Ok(m),
            Some(_) => Err(PveError::Input(format!("'{key}' must be a JSON object"))),
        }
    };
    let top = Args(doc);
    let storeid = top.req("storeid")?;
    let options = StoreOptions::from_scfg(obj("scfg")?)?;
    let pve_node = top.req("node")?;
    let node = options.linstor_node(&pve_node);
    naming::validate_node_name(&node)?;
    let dev_root = PathBuf::from(top.opt("dev_root")?.unwrap_or_else(|| "/dev".into()));
    if !dev_root.is_absolute() {
        return Err(PveError::Input(format!(
            "'dev_root' is '{}': use an absolute directory",
            dev_root.display()
        )));
    }
    let timeout_secs = match top.opt("timeout")? {
        Some(t) => t
            .parse::<u64>()
            .ok()
            .filter(|t| (1..=86400).contains(t))
            .ok_or_else(|| PveError::Input(format!("'timeout' is '{t}': use 1-86400 seconds")))?,
        None => 60,
    };
    let action = action(method, &Args(obj("args")?))?;
    let status_key = top.opt("status_key")?;
    if status_key.is_some() && !is_pve_storage_id(&storeid) {
        return Err(PveError::Input(format!(
            "storage id '{storeid}' cannot name a status file: PVE storage ids are letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(Request {
        ctx: Context {
            storeid,
            options,
            node,
            dev_root,
            timeout_secs,
            status_key,
        },
        action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::TwoPrimariesMode;
    use serde_json::json;

    fn req(method: &str, args: Value) -> Result<Request, PveError> {
        let doc = json!({"storeid": "drbd1", "scfg": {"resourcegroup": "rg", "allowtwoprimaries": "migration"},
            "node": "n1", "dev_root": "/tmp/dev", "timeout": 30, "args": args});
        parse(method, doc.to_string().as_bytes())
    }

    #[test]
    fn context_is_read() {
        let r = req("status", json!({})).unwrap();
        assert_eq!(r.action, Action::Status);
        assert_eq!(r.ctx.storeid, "drbd1");
        assert_eq!(r.ctx.node, "n1");
        assert_eq!(r.ctx.timeout_secs, 30);
        assert_eq!(r.ctx.options.resource_group, "rg");
        assert_eq!(r.ctx.options.two_primaries, TwoPrimariesMode::Migration);
    }

    #[test]
    fn alloc_checks_name_format_and_minimum() {
        let r = req(
            "alloc_image",
            json!({"vmid": 100, "fmt": "raw", "name": null, "size_kib": 1024}),
        )
        .unwrap();
        assert_eq!(
            r.action,
            Action::Alloc {
                vmid: "100".into(),
                name: None,
                size_kib: 3072
            }
        );
        let r = req(
            "alloc_image",
            json!({"vmid": "100", "name": "vm-100-disk-2", "size_kib": "4194304"}),
        )
        .unwrap();
        let Action::Alloc {
            name: Some(n),
            size_kib,
            ..
        } = r.action
        else {
            panic!("not an alloc")
        };
        assert_eq!((n.rd.as_str(), size_kib), ("vm-100-disk-2", 4_194_304));
        for (args, needle) in [
            (
                json!({"vmid": 100, "fmt": "qcow2", "size_kib": 10}),
                "raw volumes only",
            ),
            (
                json!({"vmid": 100, "name": "vm-101-disk-0", "size_kib": 10}),
                "belongs to VM 101",
            ),
            (json!({"vmid": "x", "size_kib": 10}), "VMID"),
            (json!({"vmid": 1, "size_kib": "lots"}), "expected a size"),
            (json!({"vmid": 1}), "'size_kib' is missing"),
        ] {
            let e = req("alloc_image", args).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }

    #[test]
    fn volume_methods_parse_volnames_and_snapshots() {
        let r = req(
            "activate_volume",
            json!({"volname": "pm-12cf742a_101", "snap": "vzdump"}),
        )
        .unwrap();
        let Action::Activate { vol, snap } = r.action else {
            panic!("not an activate")
        };
        assert_eq!(
            (vol.rd.as_str(), snap.as_deref()),
            ("pm-12cf742a", Some("vzdump"))
        );
        assert!(req("volume_snapshot", json!({"volname": "pm-12cf742a_101"})).is_err());
        assert!(req(
            "volume_snapshot",
            json!({"volname": "pm-12cf742a_101", "snap": "1x"})
        )
        .is_err());
        assert!(req("free_image", json!({"volname": "../etc"})).is_err());
        let e = req(
            "volume_resize",
            json!({"volname": "vm-1-disk-0", "size": 1, "snapname": "s"}),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cannot resize snapshot 's'"), "{e}");
        let r = req(
            "list_images",
            json!({"vmid": null, "vollist": ["drbd1:vm-1-disk-0"]}),
        )
        .unwrap();
        assert_eq!(
            r.action,
            Action::List {
                vmid: None,
                vollist: Some(vec!["drbd1:vm-1-disk-0".into()])
            }
        );
    }

    #[test]
    fn bad_documents_are_refused_with_the_reason() {
        for (method, input, needle) in [
            ("status", "nope", "not a JSON document"),
            ("status", "[]", "JSON object"),
            ("status", r#"{"node": "n1"}"#, "'storeid' is missing"),
            (
                "status",
                r#"{"storeid": "s", "node": "bad_node"}"#,
                "invalid node name",
            ),
            (
                "status",
                r#"{"storeid": "s", "node": "n1", "dev_root": "dev"}"#,
                "absolute",
            ),
            (
                "frobnicate",
                r#"{"storeid": "s", "node": "n1"}"#,
                "unknown method",
            ),
        ] {
            let e = parse(method, input.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(needle), "{method} {input}: {e}");
        }
    }
}
