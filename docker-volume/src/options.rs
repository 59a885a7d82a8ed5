//! Volume options (`--opt k=v`) and their defaults from `/etc/linstor/docker-volume.conf`
//! `[global]` and the `LS_*` environment, with the keys and semantics of LINBIT's plugin and its
//! known bugs fixed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use linstor_common::api::{AutoSelectFilter, Props};
use linstor_common::config::{BoundKind, BoundNames, ClientConfig, Overlay, Sources};
use linstor_common::naming::{self, docker};

/// Default configuration file (the peer's path).
pub const CONFIG_FILE: &str = "/etc/linstor/docker-volume.conf";

/// Every volume option key, in canonical spelling.
pub const OPTION_KEYS: &[&str] = &[
    "size",
    "replicas",
    "nodes",
    "storagepool",
    "disklessstoragepool",
    "fs",
    "fsopts",
    "mountopts",
    "disklessonremaining",
    "donotplacewithregex",
    "replicasonsame",
    "replicasondifferent",
    "resourcegroup",
    "sizekib",
];

/// Client keys the config file may carry next to the option defaults.
pub const CLIENT_KEYS: &[&str] = &[
    "controllers",
    "username",
    "password",
    "certfile",
    "keyfile",
    "cafile",
];

/// Filesystems the plugin can make and mount.
pub const FILESYSTEMS: &[&str] = &["ext4", "xfs"];

/// Default size: 100 MiB (the peer's `100MB`).
pub const DEFAULT_SIZE: u64 = 100 << 20;
/// Smallest volume (the peer clamps to this).
pub const MIN_SIZE: u64 = 4 << 20;

/// A bad option value or key, or a configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OptionError {
    /// An unknown key or a value out of range; the text says what is valid.
    #[error("{0}")]
    Invalid(String),
    /// A value LINSTOR's naming rules refuse.
    #[error("option {option}")]
    Rule {
        /// The option (canonical key).
        option: &'static str,
        /// The rule it breaks, with what is valid.
        #[source]
        source: linstor_common::Error,
    },
    /// The configuration file exists but could not be read.
    #[error("cannot read {}; make it readable, or remove it to use the built-in defaults", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not INI.
    #[error("cannot parse {}; it holds a [global] section of 'key = value' lines", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and what.
        #[source]
        source: ini::ParseError,
    },
    /// A default in the configuration file is invalid.
    #[error("bad default in {}", .path.display())]
    Default {
        /// The file.
        path: PathBuf,
        /// The option error.
        #[source]
        source: Box<OptionError>,
    },
}

/// Canonical key of an option: case-insensitive, `-`/`_` ignored (kebab-case aliases such as
/// `storage-pool` of the IRONROCK20 fork work too).
pub fn canonical_key(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Options as strings (from `--opt` or the config file), keyed canonically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawOptions(pub BTreeMap<String, String>);

impl RawOptions {
    /// From Docker's `Opts`; unknown keys are refused with the list of valid ones.
    pub fn from_opts(opts: &BTreeMap<String, String>) -> Result<Self, OptionError> {
        let mut out = BTreeMap::new();
        for (k, v) in opts {
            let c = canonical_key(k);
            if !OPTION_KEYS.contains(&c.as_str()) {
                return Err(OptionError::Invalid(format!(
                    "unknown option '{k}'; valid options are: {}",
                    OPTION_KEYS.join(", ")
                )));
            }
            if out.insert(c.clone(), v.clone()).is_some() {
                return Err(OptionError::Invalid(format!(
                    "option '{k}' is given twice (keys are case-insensitive)"
                )));
            }
        }
        Ok(Self(out))
    }
}

/// The `[global]` section of docker-volume.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileConfig {
    /// Option defaults (canonical keys).
    pub defaults: RawOptions,
    /// Client settings (`controllers`, `cafile`, ...).
    pub client: BTreeMap<String, String>,
}

impl FileConfig {
    /// Parse the file text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, OptionError> {
        let ini = ini::Ini::load_from_str(text).map_err(|source| OptionError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Self::default();
        let Some(global) = ini
            .iter()
            .find(|(s, _)| s.is_some_and(|s| s.eq_ignore_ascii_case("global")))
            .map(|(_, p)| p)
        else {
            return Ok(cfg);
        };
        for (k, v) in global.iter() {
            let c = canonical_key(k);
            if CLIENT_KEYS.contains(&c.as_str()) {
                cfg.client.insert(c, v.to_string());
            } else if OPTION_KEYS.contains(&c.as_str()) {
                cfg.defaults.0.insert(c, v.to_string());
            } else {
                return Err(OptionError::Invalid(format!(
                    "{}: unknown key '{k}' in [global]; valid keys are: {}, {}",
                    path.display(),
                    CLIENT_KEYS.join(", "),
                    OPTION_KEYS.join(", ")
                )));
            }
        }
        VolumeOptions::resolve(&cfg.defaults, &RawOptions::default()).map_err(|e| {
            OptionError::Default {
                path: path.to_path_buf(),
                source: Box::new(e),
            }
        })?;
        Ok(cfg)
    }

    /// Load a file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Self, OptionError> {
        match std::fs::read_to_string(path) {
            Ok(t) => Self::parse(&t, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(OptionError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// A client setting, with the `LS_*` environment winning when non-empty (as the peer).
    pub fn client_setting(
        &self,
        key: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        let names: &[&str] = match key {
            "controllers" => &["LS_CONTROLLERS"],
            "username" => &["LS_USERNAME"],
            "password" => &["LS_PASSWORD"],
            "certfile" => &["LS_CERT_FILE", "LS_CERTFILE"],
            "keyfile" => &["LS_KEY_FILE", "LS_KEYFILE"],
            "cafile" => &["LS_CA_FILE", "LS_CAFILE"],
            _ => &[],
        };
        names
            .iter()
            .filter_map(|n| env(n))
            .find(|v| !v.trim().is_empty())
            .or_else(|| {
                self.client
                    .get(key)
                    .cloned()
                    .filter(|v| !v.trim().is_empty())
            })
    }

    /// Path form of a client setting.
    pub fn client_path(&self, key: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
        self.client_setting(key, env).map(PathBuf::from)
    }

    /// The plugin's client settings: `--controllers` (`cli_controllers`) over the `LS_*`
    /// environment over `[global]`.
    pub fn client_overlay(
        &self,
        cli_controllers: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Overlay {
        Overlay {
            controllers: cli_controllers
                .map(str::to_string)
                .or_else(|| self.client_setting("controllers", env)),
            ca_file: self.client_path("cafile", env),
            client_cert: self.client_path("certfile", env),
            client_key: self.client_path("keyfile", env),
            token: None,
            username: self.client_setting("username", env),
            password: self.client_setting("password", env),
            auth_keys: Some(("username (LS_USERNAME)", "password (LS_PASSWORD)")),
            state_dir: None,
            read_timeout: None,
            change_timeout: None,
            bound_names: None,
        }
    }

    /// The plugin's client configuration: [`FileConfig::client_overlay`] laid over discovery
    /// from `sources`, remembering the last good controller in `state_dir`.
    pub fn client_config(
        &self,
        cli_controllers: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
        sources: &Sources,
        state_dir: Option<PathBuf>,
    ) -> linstor_common::Result<ClientConfig> {
        let overlay = Overlay {
            state_dir,
            ..self.client_overlay(cli_controllers, env)
        };
        ClientConfig::discover(&overlay, sources)
    }

    /// The daemon's client configuration: [`FileConfig::client_config`] with the bounds of
    /// `--read-timeout`/`--change-timeout`, each refused when it would not end inside the
    /// driver's call bounds ([`MAX_READ_BOUND`], [`MAX_CHANGE_BOUND`]).
    pub fn daemon_client_config(
        &self,
        flags: &ClientFlags,
        env: &dyn Fn(&str) -> Option<String>,
        sources: &Sources,
        state_dir: Option<PathBuf>,
    ) -> linstor_common::Result<ClientConfig> {
        let overlay = Overlay {
            state_dir,
            read_timeout: flags.read_timeout.clone(),
            change_timeout: flags.change_timeout.clone(),
            bound_names: Some(BOUND_NAMES),
            ..self.client_overlay(flags.controllers.as_deref(), env)
        };
        let cfg = ClientConfig::discover(&overlay, sources)?;
        for (kind, bound, max, calls) in [
            (
                BoundKind::Read,
                cfg.request_timeout,
                MAX_READ_BOUND,
                "Get, List and Path",
            ),
            (
                BoundKind::Change,
                cfg.mutate_timeout,
                MAX_CHANGE_BOUND,
                "Create, Remove, Mount and Unmount",
            ),
        ] {
            if bound > max {
                let min = kind.range().0;
                return Err(linstor_common::Error::Config(format!(
                    "{} is {} s: the plugin ends {calls} within {} s (below dockerd's limits), so use {min} to {} s",
                    BOUND_NAMES.of(kind),
                    bound.as_secs_f64(),
                    match kind {
                        BoundKind::Read => crate::driver::QUICK_CALL_BOUND,
                        BoundKind::Change => crate::driver::CALL_BOUND,
                    }
                    .as_secs(),
                    max.as_secs()
                )));
            }
        }
        Ok(cfg)
    }
}

/// The daemon flags that reach the LINSTOR client (each also read from its environment
/// variable, which the managed plugin can set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFlags {
    /// `--controllers`.
    pub controllers: Option<String>,
    /// `--read-timeout` (`LINSTOR_READ_TIMEOUT`).
    pub read_timeout: Option<String>,
    /// `--change-timeout` (`LINSTOR_CHANGE_TIMEOUT`).
    pub change_timeout: Option<String>,
}

/// How the daemon names its two bound settings.
pub const BOUND_NAMES: BoundNames = BoundNames {
    read: "--read-timeout (LINSTOR_READ_TIMEOUT)",
    change: "--change-timeout (LINSTOR_CHANGE_TIMEOUT)",
};

/// Largest read bound the daemon takes: a read ends 5 s inside
/// [`crate::driver::QUICK_CALL_BOUND`].
pub const MAX_READ_BOUND: std::time::Duration = std::time::Duration::from_secs(25);
/// Largest change bound the daemon takes: a change ends 10 s inside
/// [`crate::driver::CALL_BOUND`].
pub const MAX_CHANGE_BOUND: std::time::Duration = std::time::Duration::from_secs(80);

/// Fully resolved options of one Create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeOptions {
    /// Size in bytes.
    pub size_bytes: u64,
    /// Diskful replicas; `None` leaves it to the resource group.
    pub replicas: Option<u32>,
    /// Explicit diskful nodes.
    pub nodes: Vec<String>,
    /// Storage pool.
    pub storage_pool: Option<String>,
    /// Storage pool of diskless attachments.
    pub diskless_storage_pool: Option<String>,
    /// Filesystem.
    pub fs: String,
    /// mkfs parameters.
    pub fs_opts: String,
    /// mount -o options.
    pub mount_opts: Vec<String>,
    /// Diskless resources on every other node.
    pub diskless_on_remaining: bool,
    /// Avoid nodes with resources matching this regex.
    pub do_not_place_with_regex: Option<String>,
    /// Aux props replicas must share.
    pub replicas_on_same: Vec<String>,
    /// Aux props replicas must differ in.
    pub replicas_on_different: Vec<String>,
    /// Resource group to spawn from.
    pub resource_group: Option<String>,
}

fn split_list(v: &str) -> Vec<String> {
    v.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_bool(key: &str, v: &str) -> Result<bool, OptionError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" | "y" | "on" => Ok(true),
        "0" | "f" | "false" | "no" | "n" | "off" | "" => Ok(false),
        _ => Err(OptionError::Invalid(format!(
            "invalid {key} '{v}': use true or false"
        ))),
    }
}

fn nonempty(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Parse a size option. A bare number is bytes (as the Go peer); sizes under 4 MiB with a unit
/// are raised to 4 MiB (as the peer), but a bare number under 4 MiB is refused, because it is
/// almost always a forgotten unit (the peer silently made `size=200` a 4 MiB volume).
pub fn parse_size_option(v: &str) -> Result<u64, OptionError> {
    let t = v.trim();
    let bytes = naming::parse_size(t, 1).map_err(|source| OptionError::Rule {
        option: "size",
        source,
    })?;
    let bare = !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
    if bytes < MIN_SIZE {
        if bare {
            return Err(OptionError::Invalid(format!(
                "invalid size '{v}': a number without a unit is bytes, and volumes are at least 4 MiB; did you mean {v}M or {v}G?"
            )));
        }
        return Ok(MIN_SIZE);
    }
    Ok(bytes)
}

impl VolumeOptions {
    /// Resolve `opts` on top of the config-file `defaults` (both canonical), then built-in
    /// defaults. Also used with no options at all (`Opts: null`), so defaults always apply.
    pub fn resolve(defaults: &RawOptions, opts: &RawOptions) -> Result<Self, OptionError> {
        let get = |k: &str| opts.0.get(k).or_else(|| defaults.0.get(k));
        let size_bytes = match (nonempty(get("size")), nonempty(get("sizekib"))) {
            (Some(s), _) => parse_size_option(&s)?,
            (None, Some(k)) => {
                let kib: u64 = k.parse().map_err(|_| {
                    OptionError::Invalid(format!(
                        "invalid sizekib '{k}': use a whole number of KiB"
                    ))
                })?;
                kib.saturating_mul(1024).max(MIN_SIZE)
            }
            (None, None) => DEFAULT_SIZE,
        };
        naming::validate_size_kib(size_bytes / 1024).map_err(|source| OptionError::Rule {
            option: if nonempty(get("size")).is_some() {
                "size"
            } else {
                "sizekib"
            },
            source,
        })?;
        let nodes = get("nodes").map(|v| split_list(v)).unwrap_or_default();
        for n in &nodes {
            naming::validate_node_name(n).map_err(|source| OptionError::Rule {
                option: "nodes",
                source,
            })?;
        }
        let resource_group = nonempty(get("resourcegroup"));
        if let Some(rg) = &resource_group {
            naming::validate_resource_group_name(rg).map_err(|source| OptionError::Rule {
                option: "resourcegroup",
                source,
            })?;
        }
        let replicas = match nonempty(get("replicas")) {
            Some(r) => {
                let n: u32 = r.parse().map_err(|_| {
                    OptionError::Invalid(format!(
                        "invalid replicas '{r}': use a whole number of diskful copies, 1 or more"
                    ))
                })?;
                if n == 0 {
                    return Err(OptionError::Invalid(
                        "invalid replicas '0': use a whole number of diskful copies, 1 or more"
                            .into(),
                    ));
                }
                Some(n)
            }
            None if resource_group.is_some() => None,
            None => Some(2),
        };
        let fs = nonempty(get("fs"))
            .unwrap_or_else(|| "ext4".into())
            .to_ascii_lowercase();
        if !FILESYSTEMS.contains(&fs.as_str()) {
            return Err(OptionError::Invalid(format!(
                "invalid fs '{fs}': use one of {}",
                FILESYSTEMS.join(", ")
            )));
        }
        let pool = |k: &str| -> Result<Option<String>, OptionError> {
            match nonempty(get(k)) {
                Some(p) => {
                    naming::validate_resource_group_name(&p).map_err(|_| {
                        OptionError::Invalid(format!(
                            "invalid {k} '{p}': storage pool names are 2-48 letters, digits, '_' or '-', starting with a letter"
                        ))
                    })?;
                    Ok(Some(p))
                }
                None => Ok(None),
            }
        };
        let regex = nonempty(get("donotplacewithregex"));
        Ok(Self {
            size_bytes,
            replicas,
            storage_pool: pool("storagepool")?,
            diskless_storage_pool: pool("disklessstoragepool")?,
            fs,
            fs_opts: get("fsopts")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            mount_opts: get("mountopts").map(|v| split_list(v)).unwrap_or_default(),
            diskless_on_remaining: match get("disklessonremaining") {
                Some(v) => parse_bool("disklessonremaining", v)?,
                None => false,
            },
            do_not_place_with_regex: regex,
            replicas_on_same: get("replicasonsame")
                .map(|v| split_list(v))
                .unwrap_or_default(),
            replicas_on_different: get("replicasondifferent")
                .map(|v| split_list(v))
                .unwrap_or_default(),
            resource_group,
            nodes,
        })
    }

    /// Size in KiB for LINSTOR (floor, as the peer).
    pub fn size_kib(&self) -> u64 {
        self.size_bytes / 1024
    }

    /// The placement filter: explicit nodes win over `replicas`.
    pub fn filter(&self) -> AutoSelectFilter {
        let place_count = if self.nodes.is_empty() {
            self.replicas.map(|r| r as i32)
        } else {
            Some(self.nodes.len() as i32)
        };
        AutoSelectFilter {
            place_count,
            node_name_list: self.nodes.clone(),
            storage_pool: self.storage_pool.clone(),
            storage_pool_diskless_list: self.diskless_storage_pool.iter().cloned().collect(),
            not_place_with_rsc_regex: self.do_not_place_with_regex.clone(),
            replicas_on_same: self.replicas_on_same.clone(),
            replicas_on_different: self.replicas_on_different.clone(),
            diskless_on_remaining: self.diskless_on_remaining.then_some(true),
            ..Default::default()
        }
    }

    /// RD props: ownership, Docker name, creation time, filesystem and mount settings.
    pub fn props(&self, docker_name: &str) -> Props {
        let mut p = Props::new();
        p.insert(docker::MARKER_PROP.into(), "true".into());
        p.insert(docker::NAME_PROP.into(), docker_name.into());
        p.insert(docker::FS_TYPE_PROP.into(), self.fs.clone());
        if !self.fs_opts.is_empty() {
            p.insert(docker::FS_MKFS_PROP.into(), self.fs_opts.clone());
        }
        if !self.mount_opts.is_empty() {
            p.insert(docker::MOUNTOPTS_PROP.into(), self.mount_opts.join(","));
        }
        if let Some(dp) = &self.diskless_storage_pool {
            p.insert(docker::DISKLESS_POOL_PROP.into(), dp.clone());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linstor_common::error::chain;
    use linstor_tests::errors::{names_once, source};

    fn opts(pairs: &[(&str, &str)]) -> Result<RawOptions, OptionError> {
        RawOptions::from_opts(
            &pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn resolve(pairs: &[(&str, &str)]) -> Result<VolumeOptions, OptionError> {
        VolumeOptions::resolve(&RawOptions::default(), &opts(pairs)?)
    }

    #[test]
    fn defaults_apply_without_options() {
        let o = VolumeOptions::resolve(&RawOptions::default(), &RawOptions::default()).unwrap();
        assert_eq!(o.size_bytes, 100 << 20);
        assert_eq!(o.replicas, Some(2));
        assert_eq!(o.fs, "ext4");
        assert_eq!(o.filter().place_count, Some(2));
    }

    #[test]
    fn every_peer_option() {
        let o = resolve(&[
            ("size", "10G"),
            ("replicas", "3"),
            ("storagepool", "thin"),
            ("disklessstoragepool", "dless"),
            ("fs", "XFS"),
            ("fsopts", "-m crc=1"),
            ("mountopts", "noatime,discard"),
            ("disklessonremaining", "true"),
            ("donotplacewithregex", "^db-.*"),
            ("replicasonsame", "Aux/rack"),
            ("replicasondifferent", "Aux/site Aux/room"),
            ("resourcegroup", "docker_rg"),
        ])
        .unwrap();
        assert_eq!(o.size_kib(), 10 << 20);
        assert_eq!(o.fs, "xfs");
        assert_eq!(o.mount_opts, ["noatime", "discard"]);
        let f = o.filter();
        assert_eq!(f.place_count, Some(3));
        assert_eq!(f.storage_pool.as_deref(), Some("thin"));
        assert_eq!(f.storage_pool_diskless_list, ["dless"]);
        assert_eq!(f.diskless_on_remaining, Some(true));
        assert_eq!(f.not_place_with_rsc_regex.as_deref(), Some("^db-.*"));
        assert_eq!(f.replicas_on_same, ["Aux/rack"]);
        assert_eq!(f.replicas_on_different, ["Aux/site", "Aux/room"]);
        assert_eq!(o.resource_group.as_deref(), Some("docker_rg"));
        let p = o.props("v");
        assert_eq!(p["FileSystem/Type"], "xfs");
        assert_eq!(p["FileSystem/MkfsParams"], "-m crc=1");
        assert_eq!(p["Aux/is-linstor-docker-volume"], "true");
        assert_eq!(p["Aux/docker-volume-mountopts"], "noatime,discard");
    }

    #[test]
    fn nodes_comma_or_space_separated_win_over_replicas() {
        for v in ["n1,n2", "n1 n2", "n1, n2"] {
            let o = resolve(&[("nodes", v), ("replicas", "3")]).unwrap();
            assert_eq!(o.nodes, ["n1", "n2"]);
            assert_eq!(o.filter().place_count, Some(2));
            assert_eq!(o.filter().node_name_list, ["n1", "n2"]);
        }
    }

    #[test]
    fn keys_are_case_insensitive_and_kebab_aliases_work() {
        let o = resolve(&[("StoragePool", "a1"), ("mount-opts", "ro")]).unwrap();
        assert_eq!(o.storage_pool.as_deref(), Some("a1"));
        assert_eq!(o.mount_opts, ["ro"]);
        let e = opts(&[("size", "1G"), ("SIZE", "2G")]).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[test]
    fn unknown_option_lists_valid_ones() {
        let e = chain(&opts(&[("hosts", "a")]).unwrap_err());
        assert!(e.contains("unknown option 'hosts'"), "{e}");
        assert!(
            e.contains("replicasondifferent") && e.contains("resourcegroup"),
            "{e}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size_option("10G").unwrap(), 10 << 30);
        assert_eq!(parse_size_option("100MB").unwrap(), 100 << 20);
        assert_eq!(
            parse_size_option("1M").unwrap(),
            MIN_SIZE,
            "clamped like the peer"
        );
        assert_eq!(parse_size_option("5000000").unwrap(), 5_000_000);
        let e = chain(&parse_size_option("200").unwrap_err());
        assert!(e.contains("did you mean 200M"), "{e}");
        let e = chain(&parse_size_option("10X").unwrap_err());
        assert!(e.contains("invalid size '10X'"), "{e}");
        let e = chain(&resolve(&[("size", "2P")]).unwrap_err());
        assert!(e.contains("1 PiB"), "{e}");
        assert_eq!(resolve(&[("sizekib", "8192")]).unwrap().size_bytes, 8 << 20);
    }

    #[test]
    fn bad_values_say_what_is_valid() {
        for (k, v, needle) in [
            ("replicas", "abc", "whole number"),
            ("replicas", "0", "1 or more"),
            ("fs", "btrfs", "use one of ext4, xfs"),
            ("disklessonremaining", "maybe", "true or false"),
            ("nodes", "bad_node", "node name"),
            ("storagepool", "1x", "storage pool names"),
            ("resourcegroup", "a.b", "resource group"),
        ] {
            let e = chain(&resolve(&[(k, v)]).unwrap_err());
            assert!(e.contains(needle), "{k}={v}: {e}");
        }
    }

    #[test]
    fn resource_group_without_replicas_keeps_group_placement() {
        let o = resolve(&[("resourcegroup", "rg1")]).unwrap();
        assert_eq!(o.replicas, None);
        assert_eq!(o.filter().place_count, None);
    }

    #[test]
    fn config_file_defaults_and_env() {
        let text = "[global]\ncontrollers = linstor://c1\nstoragepool = thin-lvm\nfs = ext4\nfsopts = -E discard\nsize = 1GB\nreplicas = 3\nmountopts = noatime,nodev\n";
        let cfg = FileConfig::parse(text, Path::new("/x.conf")).unwrap();
        let o =
            VolumeOptions::resolve(&cfg.defaults, &opts(&[("replicas", "1")]).unwrap()).unwrap();
        assert_eq!(o.size_bytes, 1 << 30);
        assert_eq!(o.replicas, Some(1), "--opt wins over the file");
        assert_eq!(o.storage_pool.as_deref(), Some("thin-lvm"));
        assert_eq!(o.mount_opts, ["noatime", "nodev"]);
        let none = |_: &str| None;
        assert_eq!(
            cfg.client_setting("controllers", &none).as_deref(),
            Some("linstor://c1")
        );
        let env = |k: &str| (k == "LS_CONTROLLERS").then(|| "c2".to_string());
        assert_eq!(
            cfg.client_setting("controllers", &env).as_deref(),
            Some("c2")
        );
        let empty = |k: &str| (k == "LS_CONTROLLERS").then(String::new);
        assert_eq!(
            cfg.client_setting("controllers", &empty).as_deref(),
            Some("linstor://c1"),
            "an empty variable does not override"
        );
    }

    #[test]
    fn config_file_errors_name_the_file() {
        let e = chain(
            &FileConfig::parse("[global]\nreplicas = abc\n", Path::new("/etc/x.conf")).unwrap_err(),
        );
        assert!(
            e.starts_with("bad default in /etc/x.conf: invalid replicas 'abc'"),
            "{e}"
        );
        let e = chain(
            &FileConfig::parse("[global]\ncolour = red\n", Path::new("/etc/x.conf")).unwrap_err(),
        );
        assert!(e.contains("unknown key 'colour'"), "{e}");
        assert_eq!(
            FileConfig::load(Path::new("/nonexistent/x.conf")).unwrap(),
            FileConfig::default()
        );
    }

    #[test]
    fn naming_rule_errors_keep_their_source() {
        let e = resolve(&[("nodes", "bad_node")]).unwrap_err();
        let rule: &linstor_common::Error = source(&e);
        assert!(
            matches!(rule, linstor_common::Error::InvalidInput(_)),
            "{rule:?}"
        );
        let shown = chain(&e);
        assert!(
            shown.starts_with("option nodes: invalid node name 'bad_node'"),
            "{shown}"
        );
        names_once(&shown, rule);
        let e = chain(&resolve(&[("sizekib", "9999999999999")]).unwrap_err());
        assert!(e.starts_with("option sizekib: invalid volume size"), "{e}");
    }

    #[test]
    fn unreadable_config_file_keeps_the_io_error() {
        let d = tempfile::tempdir().unwrap();
        let e = FileConfig::load(d.path()).unwrap_err();
        let io: &std::io::Error = source(&e);
        let shown = chain(&e);
        assert_eq!(
            names_once(&shown, io),
            format!(
                "cannot read {}; make it readable, or remove it to use the built-in defaults: {io}",
                d.path().display()
            )
        );
    }

    #[test]
    fn unparsable_config_file_keeps_the_parse_error() {
        let e = FileConfig::parse("[global\nfs = xfs\n", Path::new("/etc/x.conf")).unwrap_err();
        let parse: &ini::ParseError = source(&e);
        let shown = chain(&e);
        assert!(shown.starts_with("cannot parse /etc/x.conf; "), "{shown}");
        assert!(names_once(&shown, parse).ends_with(&format!(": {parse}")));
    }

    #[test]
    fn bad_default_keeps_the_option_error() {
        let e = FileConfig::parse("[global]\nresourcegroup = a.b\n", Path::new("/etc/x.conf"))
            .unwrap_err();
        let inner = source::<Box<OptionError>>(&e);
        assert!(
            matches!(
                **inner,
                OptionError::Rule {
                    option: "resourcegroup",
                    ..
                }
            ),
            "{inner:?}"
        );
        let rule: &linstor_common::Error = source(&e);
        let shown = chain(&e);
        assert!(
            shown.starts_with("bad default in /etc/x.conf: option resourcegroup: "),
            "{shown}"
        );
        names_once(&shown, rule);
    }
}
