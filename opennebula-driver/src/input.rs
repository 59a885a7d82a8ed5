//! Pure parsing of one driver invocation (`argv[0]`, arguments, stdin) into a domain [`Action`].
//!
//! The DS input form is decided per call, never from a version: one argument means the base64
//! message is on stdin (ONE >= 6.8); two arguments with `-` first mean stdin (6.4.4+/6.6.2+ with
//! `-i`); two arguments otherwise mean the message is the first argument (<= 6.6).

use base64::Engine as _;

use crate::xml::{self, ActionData, Vm, XmlError};

/// Largest stdin / argument message accepted (oned's messages are a few KiB).
pub const MAX_MESSAGE: usize = 16 << 20;

/// Why an invocation could not be understood. Nothing has been done when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// `argv[0]` names no known action.
    #[error("unknown action '{0}': install this binary as remotes/datastore/<driver>/<action> or remotes/tm/<driver>/<action>, or call it as 'linstor-one datastore|tm <action> ARGS...'")]
    UnknownAction(String),
    /// Wrong number of arguments.
    #[error("{action}: expected {expected}, got {got} argument(s)")]
    Arity {
        /// The action.
        action: String,
        /// What the action takes.
        expected: &'static str,
        /// How many arrived.
        got: usize,
    },
    /// One argument is malformed.
    #[error("{action}: bad {what} '{value}': {why}")]
    BadArgument {
        /// The action.
        action: String,
        /// Which argument.
        what: &'static str,
        /// The value, shortened.
        value: String,
        /// Why, and what is expected.
        why: String,
    },
    /// The DS message is not valid base64.
    #[error("{action}: the driver message is not valid base64; oned sends base64(<DS_DRIVER_ACTION_DATA>...) as the first argument or on stdin")]
    Base64 {
        /// The action.
        action: String,
        /// Decoder message.
        #[source]
        source: base64::DecodeError,
    },
    /// The decoded DS message is not text.
    #[error("{action}: the decoded driver message is not UTF-8 text; oned sends base64(<DS_DRIVER_ACTION_DATA>...)")]
    NotText {
        /// The action.
        action: String,
        /// Where the text breaks.
        #[source]
        source: std::string::FromUtf8Error,
    },
    /// The decoded message is not the expected XML.
    #[error("{action}")]
    Xml {
        /// The action.
        action: String,
        /// Parser error.
        #[source]
        source: XmlError,
    },
    /// The message lacks a required element.
    #[error("{action}: the driver message has no {what}")]
    Missing {
        /// The action.
        action: String,
        /// The missing element.
        what: &'static str,
    },
    /// Stdin was required and empty, or too large.
    #[error("{action}: {why}")]
    Stdin {
        /// The action.
        action: String,
        /// What went wrong.
        why: String,
    },
    /// Reading stdin failed.
    #[error("{action}: cannot read stdin")]
    StdinIo {
        /// The action.
        action: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Datastore actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DsKind {
    /// Import an image.
    Cp,
    /// Create an empty datablock (or a save-as placeholder).
    Mkfs,
    /// Delete an image.
    Rm,
    /// Size of an image to import.
    Stat,
    /// Capacity of the image DS.
    Monitor,
    /// Copy an image into a new one.
    Clone,
    /// Delete an image snapshot.
    SnapDelete,
    /// Revert an image to a snapshot.
    SnapRevert,
    /// Make a snapshot the image's only state.
    SnapFlatten,
    /// Export to a marketplace.
    Export,
}

impl DsKind {
    /// All DS actions with their script names.
    pub const ALL: [(DsKind, &'static str); 10] = [
        (DsKind::Cp, "cp"),
        (DsKind::Mkfs, "mkfs"),
        (DsKind::Rm, "rm"),
        (DsKind::Stat, "stat"),
        (DsKind::Monitor, "monitor"),
        (DsKind::Clone, "clone"),
        (DsKind::SnapDelete, "snap_delete"),
        (DsKind::SnapRevert, "snap_revert"),
        (DsKind::SnapFlatten, "snap_flatten"),
        (DsKind::Export, "export"),
    ];

    /// Script name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }
}

/// TM action script names (live-snapshot and `.sys` variants map onto these).
pub const TM_ACTIONS: [&str; 19] = [
    "clone",
    "ln",
    "mv",
    "mvds",
    "cpds",
    "delete",
    "premigrate",
    "postmigrate",
    "failmigrate",
    "context",
    "mkimage",
    "mkswap",
    "snap_create",
    "snap_create_live",
    "snap_delete",
    "snap_revert",
    "monitor",
    "monitor_ds",
    "resize",
];

/// `host:path` of a TM argument, path normalised (no `//`, no trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPath {
    /// Host name as OpenNebula knows it.
    pub host: String,
    /// Absolute path on that host.
    pub path: String,
}

impl HostPath {
    /// Disk index when the path ends in `/disk.<i>`.
    pub fn disk_id(&self) -> Option<u64> {
        let (_, file) = self.path.rsplit_once('/')?;
        let id = file.strip_prefix("disk.")?;
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .then(|| id.parse().ok())
            .flatten()
    }

    /// The directory part (the VM directory for a disk path).
    pub fn dir(&self) -> &str {
        match self.path.rsplit_once('/') {
            Some(("", _)) => "/",
            Some((d, _)) => d,
            None => &self.path,
        }
    }
}

/// Which live-migration step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrateStep {
    /// Before libvirt migrates.
    Pre,
    /// After success.
    Post,
    /// After failure.
    Fail,
}

impl MigrateStep {
    /// The script name of the step.
    pub fn name(self) -> &'static str {
        match self {
            MigrateStep::Pre => "premigrate",
            MigrateStep::Post => "postmigrate",
            MigrateStep::Fail => "failmigrate",
        }
    }
}

/// A parsed invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A DS action (and the system-DS `tm/<drv>/monitor`, which gets the same message).
    Ds {
        /// Which action.
        kind: DsKind,
        /// The id argument (image, DS, request or app id).
        id: u64,
        /// The decoded message.
        data: Box<ActionData>,
    },
    /// TM clone (non-persistent image disk).
    Clone {
        /// `fe:SOURCE`.
        src: HostPath,
        /// `host:dir/disk.i`.
        dst: HostPath,
        /// VM id.
        vm_id: u64,
        /// Image DS id.
        ds_id: u64,
    },
    /// TM ln (persistent image or CDROM).
    Ln {
        /// `fe:SOURCE`.
        src: HostPath,
        /// `host:dir/disk.i`.
        dst: HostPath,
        /// VM id.
        vm_id: u64,
        /// Image DS id.
        ds_id: u64,
    },
    /// TM mv of a disk or of the VM directory.
    Mv {
        /// Source.
        src: HostPath,
        /// Destination.
        dst: HostPath,
        /// VM id.
        vm_id: u64,
        /// DS id.
        ds_id: u64,
    },
    /// TM mvds (persistent disk back to its image).
    Mvds {
        /// `host:dir/disk.i`.
        disk: HostPath,
        /// Image SOURCE.
        source: String,
        /// VM id.
        vm_id: u64,
        /// Image DS id.
        ds_id: u64,
    },
    /// TM cpds (disk save-as).
    Cpds {
        /// `host:dir/disk.i`.
        disk: HostPath,
        /// SOURCE of the new image (mkfs save_as output).
        new_source: String,
        /// Snapshot to copy, `None` for the current state.
        snap_id: Option<u64>,
        /// VM id.
        vm_id: u64,
        /// Target image DS id.
        ds_id: u64,
    },
    /// TM delete of a disk or of the VM directory.
    Delete {
        /// `host:path`.
        target: HostPath,
        /// VM id.
        vm_id: u64,
        /// DS id.
        ds_id: u64,
    },
    /// TM `monitor_ds <ds_path>`, run on a host by the monitoring probe of an ssh-like system
    /// datastore.
    MonitorDs {
        /// The system datastore directory on this host.
        dir: String,
    },
    /// TM pre/post/failmigrate.
    Migrate {
        /// Which step.
        step: MigrateStep,
        /// Source host.
        src_host: String,
        /// Destination host.
        dst_host: String,
        /// VM directory.
        dir: String,
        /// VM id.
        vm_id: u64,
        /// System DS id.
        ds_id: u64,
        /// Calling system TM (6th argument of `migrate_other`).
        caller: Option<String>,
        /// The VM document from stdin, when sent.
        vm: Option<Box<Vm>>,
        /// The base64 VM document exactly as received, passed on to other TMs.
        template_b64: Option<String>,
        /// The VM directory argument as received, passed on to other TMs.
        dir_arg: String,
    },
    /// TM context.
    Context {
        /// Files (`path` or `path:name`) for the ISO.
        files: Vec<String>,
        /// `host:dir/disk.i`.
        dst: HostPath,
        /// VM id.
        vm_id: u64,
        /// System DS id.
        ds_id: u64,
    },
    /// TM mkimage / mkswap (volatile disk).
    MkImage {
        /// Size in MB.
        size_mb: u64,
        /// Filesystem / format (`raw`, `ext4`, ..., `swap` for mkswap).
        format: String,
        /// `host:dir/disk.i`.
        dst: HostPath,
        /// VM id.
        vm_id: u64,
        /// System DS id.
        ds_id: u64,
    },
    /// TM snap_create / snap_create_live / snap_delete / snap_revert.
    Snap {
        /// Which operation.
        op: SnapOp,
        /// `host:dir/disk.i`.
        disk: HostPath,
        /// Snapshot id.
        snap_id: u64,
        /// VM id.
        vm_id: u64,
        /// DS id.
        ds_id: u64,
    },
    /// TM resize.
    Resize {
        /// `host:dir/disk.i`.
        disk: HostPath,
        /// New size in MB.
        size_mb: u64,
        /// VM id.
        vm_id: u64,
        /// DS id.
        ds_id: u64,
    },
}

/// Snapshot operations of the TM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapOp {
    /// Create (powered-off VM).
    Create,
    /// Create while running.
    CreateLive,
    /// Delete.
    Delete,
    /// Revert.
    Revert,
}

/// A parsed invocation: which driver name it was installed under, and the action.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// `datastore` or `tm`.
    pub tm: bool,
    /// Driver directory name (`linstor`, `linstor_un`); `linstor` when called directly.
    pub driver: String,
    /// Script name as invoked (without `.sys` suffix).
    pub script: String,
    /// The action.
    pub action: Action,
}

fn short(v: &str) -> String {
    let mut s: String = v.chars().take(60).collect();
    if v.chars().count() > 60 {
        s.push('…');
    }
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Where `argv[0]` says we are: (is TM, driver name, script name, remaining args).
fn locate(argv0: &str, args: &[String]) -> Result<(bool, String, String, Vec<String>), InputError> {
    let parts: Vec<&str> = argv0.split('/').filter(|p| !p.is_empty()).collect();
    let base = parts.last().copied().unwrap_or("");
    if base == "linstor-one" || base.starts_with("linstor-one.") {
        let (Some(kind), Some(script)) = (args.first(), args.get(1)) else {
            return Err(InputError::UnknownAction(String::from("(none)")));
        };
        let tm = match kind.as_str() {
            "tm" => true,
            "datastore" | "ds" => false,
            other => return Err(InputError::UnknownAction(short(other))),
        };
        return Ok((tm, "linstor".into(), script.clone(), args[2..].to_vec()));
    }
    let n = parts.len();
    let (tm, driver) = if n >= 3 {
        (parts[n - 3] == "tm", parts[n - 2].to_string())
    } else {
        return Err(InputError::UnknownAction(short(argv0)));
    };
    if !tm && parts[n - 3] != "datastore" {
        return Err(InputError::UnknownAction(short(argv0)));
    }
    Ok((tm, driver, base.to_string(), args.to_vec()))
}

/// Parse one invocation. `stdin` is called only when the form needs it.
pub fn parse(
    argv0: &str,
    args: &[String],
    stdin: impl FnOnce() -> std::io::Result<Vec<u8>>,
) -> Result<Invocation, InputError> {
    let (tm, driver, script, args) = locate(argv0, args)?;
    let action_name = script
        .split_once('.')
        .map(|(a, _)| a.to_string())
        .unwrap_or_else(|| script.clone());
    let action = if tm {
        parse_tm(&action_name, &args, stdin)?
    } else {
        let kind = DsKind::ALL
            .iter()
            .find(|(_, n)| *n == action_name)
            .map(|(k, _)| *k)
            .ok_or_else(|| InputError::UnknownAction(short(&script)))?;
        parse_ds(kind, &action_name, &args, stdin)?
    };
    Ok(Invocation {
        tm,
        driver,
        script: action_name,
        action,
    })
}

fn decode_b64(action: &str, raw: &[u8]) -> Result<String, InputError> {
    if raw.len() > MAX_MESSAGE {
        return Err(InputError::Stdin {
            action: action.into(),
            why: format!("the driver message is larger than {MAX_MESSAGE} bytes"),
        });
    }
    let clean: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if clean.is_empty() {
        return Err(InputError::Stdin {
            action: action.into(),
            why: "the driver message is empty; oned sends base64(<DS_DRIVER_ACTION_DATA>...) as the first argument or on stdin".into(),
        });
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let nopad = base64::engine::general_purpose::STANDARD_NO_PAD;
    let bytes = b64
        .decode(&clean)
        .or_else(|_| nopad.decode(&clean))
        .map_err(|source| InputError::Base64 {
            action: action.into(),
            source,
        })?;
    String::from_utf8(bytes).map_err(|source| InputError::NotText {
        action: action.into(),
        source,
    })
}

fn read_stdin(
    action: &str,
    stdin: impl FnOnce() -> std::io::Result<Vec<u8>>,
) -> Result<Vec<u8>, InputError> {
    stdin().map_err(|source| InputError::StdinIo {
        action: action.into(),
        source,
    })
}

fn id_arg(action: &str, what: &'static str, v: &str) -> Result<u64, InputError> {
    v.parse().map_err(|_| InputError::BadArgument {
        action: action.into(),
        what,
        value: short(v),
        why: "expected a non-negative integer".into(),
    })
}

fn parse_ds(
    kind: DsKind,
    action: &str,
    args: &[String],
    stdin: impl FnOnce() -> std::io::Result<Vec<u8>>,
) -> Result<Action, InputError> {
    let (raw, id) = match args {
        [id] => (read_stdin(action, stdin)?, id),
        [first, id] if first == "-" => (read_stdin(action, stdin)?, id),
        [msg, id] => (msg.clone().into_bytes(), id),
        _ => {
            return Err(InputError::Arity {
                action: action.into(),
                expected: "'<id>' with the message on stdin, '- <id>', or '<base64> <id>'",
                got: args.len(),
            })
        }
    };
    let id = id_arg(action, "id", id)?;
    let text = decode_b64(action, &raw)?;
    let data = xml::parse_action_data(&text).map_err(|source| InputError::Xml {
        action: action.into(),
        source,
    })?;
    let needs_image = !matches!(kind, DsKind::Monitor);
    if needs_image && data.image.is_none() {
        return Err(InputError::Missing {
            action: action.into(),
            what: "<IMAGE> element",
        });
    }
    let needs_ds = !matches!(kind, DsKind::Stat);
    if needs_ds && data.datastore.is_none() {
        return Err(InputError::Missing {
            action: action.into(),
            what: "<DATASTORE> element",
        });
    }
    Ok(Action::Ds {
        kind,
        id,
        data: Box::new(data),
    })
}

fn is_safe_path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err("expected an absolute path".into());
    }
    if p.split('/').any(|seg| seg == "..") {
        return Err("'..' is not allowed".into());
    }
    if let Some(c) = p
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || "'\"`$\\;&|<>*?!{}()[]#~".contains(*c))
    {
        return Err(format!(
            "character {c:?} is not allowed in a datastore path"
        ));
    }
    Ok(())
}

fn is_safe_host(h: &str) -> Result<(), String> {
    if h.is_empty() || h.len() > 253 {
        return Err("expected a host name".into());
    }
    if h.starts_with('-') || h.starts_with('.') {
        return Err("a host name cannot start with '-' or '.'".into());
    }
    if let Some(c) = h
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        return Err(format!("character {c:?} is not allowed in a host name"));
    }
    Ok(())
}

/// Parse and validate `host:path` (split at the first `:`, path normalised).
pub fn host_path(action: &str, what: &'static str, v: &str) -> Result<HostPath, InputError> {
    let bad = |why: String| InputError::BadArgument {
        action: action.into(),
        what,
        value: short(v),
        why,
    };
    let (host, path) = v
        .split_once(':')
        .ok_or_else(|| bad("expected host:path".into()))?;
    is_safe_host(host).map_err(bad)?;
    let mut norm = String::with_capacity(path.len());
    for seg in path.split('/').filter(|s| !s.is_empty() && *s != ".") {
        norm.push('/');
        norm.push_str(seg);
    }
    if norm.is_empty() && path.starts_with('/') {
        norm.push('/');
    }
    if !path.starts_with('/') {
        return Err(bad("expected an absolute path after 'host:'".into()));
    }
    is_safe_path(&norm).map_err(bad)?;
    Ok(HostPath {
        host: host.to_string(),
        path: norm,
    })
}

fn host_arg(action: &str, what: &'static str, v: &str) -> Result<String, InputError> {
    is_safe_host(v).map_err(|why| InputError::BadArgument {
        action: action.into(),
        what,
        value: short(v),
        why,
    })?;
    Ok(v.to_string())
}

fn disk_path(action: &str, what: &'static str, v: &str) -> Result<HostPath, InputError> {
    let hp = host_path(action, what, v)?;
    if hp.disk_id().is_none() {
        return Err(InputError::BadArgument {
            action: action.into(),
            what,
            value: short(v),
            why: "expected host:<vm dir>/disk.<id>".into(),
        });
    }
    Ok(hp)
}

fn source_arg(action: &str, v: &str) -> Result<String, InputError> {
    if v.is_empty() || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(InputError::BadArgument {
            action: action.into(),
            what: "image SOURCE",
            value: short(v),
            why: "expected a SOURCE without whitespace".into(),
        });
    }
    Ok(v.to_string())
}

fn parse_tm(
    action: &str,
    args: &[String],
    stdin: impl FnOnce() -> std::io::Result<Vec<u8>>,
) -> Result<Action, InputError> {
    let arity = |expected: &'static str| InputError::Arity {
        action: action.into(),
        expected,
        got: args.len(),
    };
    let a = |i: usize| args[i].as_str();
    Ok(match action {
        "clone" | "ln" => {
            if args.len() != 4 {
                return Err(arity("fe:SOURCE host:dir/disk.i vmid dsid"));
            }
            let src = host_path(action, "source", a(0)).or_else(|_| {
                let (h, s) = a(0)
                    .split_once(':')
                    .ok_or_else(|| InputError::BadArgument {
                        action: action.into(),
                        what: "source",
                        value: short(a(0)),
                        why: "expected fe:SOURCE".into(),
                    })?;
                Ok::<_, InputError>(HostPath {
                    host: host_arg(action, "source host", h)?,
                    path: source_arg(action, s)?,
                })
            })?;
            let dst = disk_path(action, "destination", a(1))?;
            let vm_id = id_arg(action, "vmid", a(2))?;
            let ds_id = id_arg(action, "dsid", a(3))?;
            if action == "clone" {
                Action::Clone {
                    src,
                    dst,
                    vm_id,
                    ds_id,
                }
            } else {
                Action::Ln {
                    src,
                    dst,
                    vm_id,
                    ds_id,
                }
            }
        }
        "mv" => {
            if args.len() != 4 {
                return Err(arity("src_host:path dst_host:path vmid dsid"));
            }
            Action::Mv {
                src: host_path(action, "source", a(0))?,
                dst: host_path(action, "destination", a(1))?,
                vm_id: id_arg(action, "vmid", a(2))?,
                ds_id: id_arg(action, "dsid", a(3))?,
            }
        }
        "mvds" => {
            if args.len() != 4 {
                return Err(arity("host:dir/disk.i SOURCE vmid dsid"));
            }
            Action::Mvds {
                disk: disk_path(action, "disk", a(0))?,
                source: source_arg(action, a(1))?,
                vm_id: id_arg(action, "vmid", a(2))?,
                ds_id: id_arg(action, "dsid", a(3))?,
            }
        }
        "cpds" => {
            if args.len() != 5 {
                return Err(arity("host:dir/disk.i NEW_SOURCE snap_id|-1 vmid dsid"));
            }
            let snap_id = if a(2) == "-1" {
                None
            } else {
                Some(id_arg(action, "snap_id", a(2))?)
            };
            Action::Cpds {
                disk: disk_path(action, "disk", a(0))?,
                new_source: source_arg(action, a(1))?,
                snap_id,
                vm_id: id_arg(action, "vmid", a(3))?,
                ds_id: id_arg(action, "dsid", a(4))?,
            }
        }
        "delete" => {
            if args.len() != 3 {
                return Err(arity("host:path vmid dsid"));
            }
            Action::Delete {
                target: host_path(action, "target", a(0))?,
                vm_id: id_arg(action, "vmid", a(1))?,
                ds_id: id_arg(action, "dsid", a(2))?,
            }
        }
        "premigrate" | "postmigrate" | "failmigrate" => {
            if !(5..=6).contains(&args.len()) {
                return Err(arity(
                    "src_host dst_host dir vmid dsid [caller_tm], VM on stdin",
                ));
            }
            let step = match action {
                "premigrate" => MigrateStep::Pre,
                "postmigrate" => MigrateStep::Post,
                _ => MigrateStep::Fail,
            };
            let dir = a(2);
            is_safe_path(dir).map_err(|why| InputError::BadArgument {
                action: action.into(),
                what: "VM directory",
                value: short(dir),
                why,
            })?;
            let caller = args.get(5).filter(|c| !c.is_empty()).cloned();
            if let Some(c) = &caller {
                is_safe_host(c).map_err(|why| InputError::BadArgument {
                    action: action.into(),
                    what: "caller TM",
                    value: short(c),
                    why,
                })?;
            }
            let raw = read_stdin(action, stdin)?;
            let template_b64 = (!raw.iter().all(u8::is_ascii_whitespace))
                .then(|| String::from_utf8_lossy(&raw).trim().to_string());
            let vm = if template_b64.is_none() {
                None
            } else {
                let text = decode_b64(action, &raw)?;
                Some(Box::new(xml::parse_vm(&text).map_err(|source| {
                    InputError::Xml {
                        action: action.into(),
                        source,
                    }
                })?))
            };
            Action::Migrate {
                step,
                src_host: host_arg(action, "source host", a(0))?,
                dst_host: host_arg(action, "destination host", a(1))?,
                dir: dir.trim_end_matches('/').replace("//", "/"),
                vm_id: id_arg(action, "vmid", a(3))?,
                ds_id: id_arg(action, "dsid", a(4))?,
                caller,
                vm,
                template_b64,
                dir_arg: dir.to_string(),
            }
        }
        "context" => {
            if args.len() < 3 {
                return Err(arity("[files...] host:dir/disk.i vmid dsid"));
            }
            let n = args.len();
            let files = args[..n - 3].to_vec();
            for f in &files {
                if f.chars().any(char::is_control) {
                    return Err(InputError::BadArgument {
                        action: action.into(),
                        what: "context file",
                        value: short(f),
                        why: "control characters are not allowed".into(),
                    });
                }
            }
            Action::Context {
                files,
                dst: disk_path(action, "destination", a(n - 3))?,
                vm_id: id_arg(action, "vmid", a(n - 2))?,
                ds_id: id_arg(action, "dsid", a(n - 1))?,
            }
        }
        "mkimage" | "mkswap" => {
            let (size, format, rest) = if action == "mkimage" {
                if args.len() != 5 {
                    return Err(arity("size_mb format host:dir/disk.i vmid dsid"));
                }
                (a(0), a(1).to_string(), 2)
            } else {
                if args.len() != 4 {
                    return Err(arity("size_mb host:dir/disk.i vmid dsid"));
                }
                (a(0), "swap".to_string(), 1)
            };
            if !format
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                || format.is_empty()
            {
                return Err(InputError::BadArgument {
                    action: action.into(),
                    what: "format",
                    value: short(&format),
                    why: "expected raw, qcow2 or a filesystem name such as ext4".into(),
                });
            }
            Action::MkImage {
                size_mb: id_arg(action, "size_mb", size)?,
                format,
                dst: disk_path(action, "destination", a(rest))?,
                vm_id: id_arg(action, "vmid", a(rest + 1))?,
                ds_id: id_arg(action, "dsid", a(rest + 2))?,
            }
        }
        "snap_create" | "snap_create_live" | "snap_delete" | "snap_revert" => {
            if args.len() != 4 {
                return Err(arity("host:dir/disk.i snap_id vmid dsid"));
            }
            let op = match action {
                "snap_create" => SnapOp::Create,
                "snap_create_live" => SnapOp::CreateLive,
                "snap_delete" => SnapOp::Delete,
                _ => SnapOp::Revert,
            };
            Action::Snap {
                op,
                disk: disk_path(action, "disk", a(0))?,
                snap_id: id_arg(action, "snap_id", a(1))?,
                vm_id: id_arg(action, "vmid", a(2))?,
                ds_id: id_arg(action, "dsid", a(3))?,
            }
        }
        "resize" => {
            if args.len() != 4 {
                return Err(arity("host:dir/disk.i size_mb vmid dsid"));
            }
            Action::Resize {
                disk: disk_path(action, "disk", a(0))?,
                size_mb: id_arg(action, "size_mb", a(1))?,
                vm_id: id_arg(action, "vmid", a(2))?,
                ds_id: id_arg(action, "dsid", a(3))?,
            }
        }
        "monitor" => parse_ds(DsKind::Monitor, action, args, stdin)?,
        "monitor_ds" => {
            if args.len() != 1 {
                return Err(arity("ds_path"));
            }
            let dir = a(0);
            is_safe_path(dir).map_err(|why| InputError::BadArgument {
                action: action.into(),
                what: "datastore directory",
                value: short(dir),
                why,
            })?;
            Action::MonitorDs {
                dir: dir.trim_end_matches('/').replace("//", "/"),
            }
        }
        other => return Err(InputError::UnknownAction(short(other))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    const MSG: &str = "<DS_DRIVER_ACTION_DATA><IMAGE><ID>3</ID><SIZE>10</SIZE></IMAGE><DATASTORE><ID>100</ID></DATASTORE></DS_DRIVER_ACTION_DATA>";

    fn no_stdin() -> std::io::Result<Vec<u8>> {
        panic!("stdin must not be read")
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn three_ds_input_forms() {
        let argv0 = "/var/lib/one/remotes/datastore/linstor/cp";
        let a = parse(argv0, &args(&[&b64(MSG), "3"]), no_stdin).unwrap();
        let b = parse(argv0, &args(&["-", "3"]), || Ok(b64(MSG).into_bytes())).unwrap();
        let c = parse(argv0, &args(&["3"]), || {
            Ok(format!("{}\n", b64(MSG)).into_bytes())
        })
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert!(!a.tm);
        assert_eq!(a.driver, "linstor");
        match a.action {
            Action::Ds { kind, id, data } => {
                assert_eq!(kind, DsKind::Cp);
                assert_eq!(id, 3);
                assert_eq!(data.image.unwrap().size_mb, Some(10));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn base64_with_line_breaks() {
        let wrapped: String = b64(MSG)
            .as_bytes()
            .chunks(76)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        parse("/r/datastore/linstor_un/rm", &args(&["3"]), || {
            Ok(wrapped.into_bytes())
        })
        .unwrap();
    }

    #[test]
    fn bad_ds_input_is_named() {
        let argv0 = "/r/datastore/linstor/cp";
        let e = parse(argv0, &args(&["%%%", "3"]), no_stdin).unwrap_err();
        assert!(e.to_string().contains("not valid base64"), "{e}");
        let e = parse(argv0, &args(&[&b64("<X/>"), "3"]), no_stdin).unwrap_err();
        let text = linstor_common::error::chain(&e);
        assert!(
            text.starts_with("cp: ") && text.contains("expected <DS_DRIVER_ACTION_DATA>"),
            "{text}"
        );
        let e = parse(argv0, &args(&[&b64(MSG), "x"]), no_stdin).unwrap_err();
        assert!(e.to_string().contains("bad id 'x'"), "{e}");
        let e = parse(argv0, &args(&[]), no_stdin).unwrap_err();
        assert!(matches!(e, InputError::Arity { got: 0, .. }), "{e}");
        let e = parse(argv0, &args(&["3"]), || Ok(Vec::new())).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = parse("/r/datastore/linstor/frob", &args(&["3"]), no_stdin).unwrap_err();
        assert!(matches!(e, InputError::UnknownAction(_)));
    }

    #[test]
    fn undecodable_ds_input_keeps_its_cause() {
        use linstor_common::error::chain;
        use linstor_tests::errors::{names_once, source};
        let argv0 = "/r/datastore/linstor/cp";
        let e = parse(argv0, &args(&["%%%", "3"]), no_stdin).unwrap_err();
        let b64_err: &base64::DecodeError = source(&e);
        let shown = chain(&e);
        assert!(
            shown.starts_with("cp: the driver message is not valid base64; "),
            "{shown}"
        );
        assert!(names_once(&shown, b64_err).ends_with(&format!(": {b64_err}")));

        let not_text = base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe]);
        let e = parse(argv0, &args(&[&not_text, "3"]), no_stdin).unwrap_err();
        let utf8: &std::string::FromUtf8Error = source(&e);
        let shown = chain(&e);
        assert!(
            names_once(&shown, utf8).contains("not UTF-8 text"),
            "{shown}"
        );

        let broken = || Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        let e = parse(argv0, &args(&["3"]), broken).unwrap_err();
        let io: &std::io::Error = source(&e);
        assert_eq!(io.kind(), std::io::ErrorKind::BrokenPipe);
        assert_eq!(chain(&e), format!("cp: cannot read stdin: {io}"));
    }

    #[test]
    fn tm_lines() {
        let inv = parse(
            "/var/lib/one/remotes/tm/linstor/clone.ssh",
            &args(&[
                "fe:OpenNebula-Image-7",
                "node2:/var/lib/one//datastores/101/31/disk.0",
                "31",
                "103",
            ]),
            no_stdin,
        )
        .unwrap();
        assert!(inv.tm);
        assert_eq!(inv.script, "clone");
        let Action::Clone {
            src,
            dst,
            vm_id,
            ds_id,
        } = inv.action
        else {
            panic!()
        };
        assert_eq!(src.path, "OpenNebula-Image-7");
        assert_eq!(dst.host, "node2");
        assert_eq!(dst.path, "/var/lib/one/datastores/101/31/disk.0");
        assert_eq!(dst.disk_id(), Some(0));
        assert_eq!(dst.dir(), "/var/lib/one/datastores/101/31");
        assert_eq!((vm_id, ds_id), (31, 103));
        let inv = parse(
            "/r/tm/linstor_un/clone",
            &args(&[
                "fe:/dev/drbd/by-res/one-image-7/0",
                "n:/d/31/disk.1",
                "31",
                "1",
            ]),
            no_stdin,
        )
        .unwrap();
        let Action::Clone { src, .. } = inv.action else {
            panic!()
        };
        assert_eq!(src.path, "/dev/drbd/by-res/one-image-7/0");
    }

    #[test]
    fn hostile_tm_arguments_are_refused() {
        for bad in [
            "n:/d/31/disk.0;rm -rf /",
            "n:/d/../etc/disk.0",
            "-oProxyCommand=x:/d/disk.0",
            "n:relative/disk.0",
            "n:/d/31/disk.x",
            "n:/d/$(id)/disk.0",
            "nohost",
        ] {
            let e = parse("/r/tm/linstor/delete", &args(&[bad, "31", "0"]), no_stdin);
            if bad.contains("disk.x") {
                assert!(e.is_ok());
                continue;
            }
            assert!(e.is_err(), "{bad} accepted");
        }
        let e = parse(
            "/r/tm/linstor/resize",
            &args(&["n:/d/31/disk.x", "10", "1", "1"]),
            no_stdin,
        );
        assert!(e.unwrap_err().to_string().contains("disk.<id>"));
    }

    #[test]
    fn migrate_reads_vm_from_stdin() {
        let vm = "<VM><ID>31</ID><TEMPLATE><DISK><DISK_ID>0</DISK_ID><TM_MAD>linstor</TM_MAD></DISK></TEMPLATE></VM>";
        let inv = parse(
            "/r/tm/linstor/premigrate",
            &args(&[
                "n1",
                "n2",
                "/var/lib/one//datastores/0/31",
                "31",
                "0",
                "ssh",
            ]),
            || Ok(b64(vm).into_bytes()),
        )
        .unwrap();
        let Action::Migrate {
            step,
            caller,
            vm,
            dir,
            ..
        } = inv.action
        else {
            panic!()
        };
        assert_eq!(step, MigrateStep::Pre);
        assert_eq!(caller.as_deref(), Some("ssh"));
        assert_eq!(vm.unwrap().disks.len(), 1);
        assert_eq!(dir, "/var/lib/one/datastores/0/31");
    }

    #[test]
    fn direct_invocation() {
        let inv = parse(
            "/usr/bin/linstor-one",
            &args(&["tm", "mkswap", "512", "n1:/d/0/5/disk.2", "5", "0"]),
            no_stdin,
        )
        .unwrap();
        assert!(
            matches!(inv.action, Action::MkImage { size_mb: 512, ref format, .. } if format == "swap")
        );
        assert!(parse("/usr/bin/linstor-one", &args(&[]), no_stdin).is_err());
    }
}
