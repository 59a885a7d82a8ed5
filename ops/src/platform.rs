//! Each platform's plugin configuration, resolved into the client configuration (controllers,
//! TLS files, token), node name and resource group the plugin uses on this host, plus `doctor`'s
//! configuration checks. Each platform's settings are read with the plugin's own parser and
//! turned into a client configuration by the plugin's own function, so `doctor` checks exactly
//! what the plugin uses and rejects exactly what it rejects.
//!
//! - Proxmox VE: the `drbd:` stanza of `/etc/pve/storage.cfg`, read by
//!   [`linstor_pve::StoreOptions::from_scfg`] as the Perl module hands it over; node name =
//!   `hostname -s` plus `.<searchdomain>`.
//! - OpenNebula: a datastore template (`KEY = "VALUE"` lines, as given to `onedatastore create`
//!   or printed by `onedatastore show`), read by [`linstor_one::attrs::DsConfig::from_template`];
//!   node name = hostname.
//! - Docker: `[global]` of `/etc/linstor/docker-volume.conf` and the `LS_*` environment, read by
//!   [`linstor_docker_volume::options::FileConfig`]; node name = hostname.
//!
//! IO: only the files named by [`PlatformFiles::sources`] (linstor-client.conf, token file).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::doctor::Check;
use linstor_common::config::{ClientConfig, Sources};
use linstor_common::error::chain;
use linstor_common::naming::Platform;
use linstor_docker_volume::options::FileConfig;
use linstor_one::attrs::DsConfig;
use linstor_pve::StoreOptions;

/// Default Proxmox storage configuration.
pub const PVE_STORAGE_CFG: &str = "/etc/pve/storage.cfg";
/// Default Docker plugin configuration.
pub const DOCKER_CONF: &str = "/etc/linstor/docker-volume.conf";
/// Resource group of the Proxmox peer when `resourcegroup` is absent.
pub const PVE_DEFAULT_RG: &str = "drbdgrp";
/// Resource group the Docker plugin spawns from when none is configured.
pub const DOCKER_DEFAULT_RG: &str = "DfltRscGrp";

/// What the operator passed on the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The platform whose plugin is checked.
    pub platform: Platform,
    /// `--controllers`.
    pub controllers: Option<String>,
    /// `--node`.
    pub node: Option<String>,
    /// `--resource-group`.
    pub resource_group: Option<String>,
    /// `--storage` (Proxmox storage id when storage.cfg has several `drbd:` stanzas).
    pub storage: Option<String>,
}

/// The configuration file as read from disk.
#[derive(Debug, Clone)]
pub enum ConfigText {
    /// No file given and none at the default place (OpenNebula keeps its settings in oned).
    None,
    /// The file does not exist.
    Missing(PathBuf),
    /// The file could not be read.
    Unreadable(PathBuf, String),
    /// The file's contents.
    Text(PathBuf, String),
}

/// Inputs read from the host.
#[derive(Debug, Clone)]
pub struct PlatformFiles {
    /// The platform configuration.
    pub config: ConfigText,
    /// This host's name (`/proc/sys/kernel/hostname`).
    pub hostname: String,
    /// Where the plugin discovers controllers and its token ([`system_sources`]).
    pub sources: Sources,
    /// The `LS_*` environment the plugin runs with (the Docker plugin reads it).
    pub env: BTreeMap<String, String>,
}

/// The discovery sources the platform's plugin uses on this host.
pub fn system_sources(platform: Platform) -> Sources {
    match platform {
        Platform::Proxmox => linstor_pve::exec::sources(),
        Platform::OpenNebula | Platform::Docker => Sources::system(),
    }
}

/// The `LS_*` variables of this process's environment.
pub fn ls_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("LS_"))
        .collect()
}

/// What the plugin uses on this host.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Controllers, TLS files and token, as the plugin's own function builds them; the error
    /// says why the plugin would refuse its configuration.
    pub client: Result<ClientConfig, String>,
    /// LINSTOR node name of this host.
    pub node: String,
    /// Where the node name came from.
    pub node_source: String,
    /// Resource group.
    pub resource_group: String,
    /// Where the resource group came from.
    pub resource_group_source: String,
    /// Controller VM id (Proxmox `controllervm`), excluded from gc.
    pub controller_vm: Option<String>,
    /// Configuration checks.
    pub checks: Vec<Check>,
}

impl Resolved {
    fn new(client: Result<ClientConfig, String>) -> Self {
        Self {
            client,
            node: String::new(),
            node_source: String::new(),
            resource_group: String::new(),
            resource_group_source: String::new(),
            controller_vm: None,
            checks: Vec::new(),
        }
    }

    /// The controllers as the summary line shows them.
    fn controllers_text(&self) -> String {
        match &self.client {
            Ok(c) => c
                .controllers
                .iter()
                .map(|c| c.base.as_str())
                .collect::<Vec<_>>()
                .join(","),
            Err(_) => "(invalid)".into(),
        }
    }
}

/// One section of `storage.cfg`: `type: id` followed by indented `key value` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PveStorage {
    /// Storage type (`drbd`, `dir`, ...).
    pub kind: String,
    /// Storage id.
    pub id: String,
    /// Options; flags without value map to `""`.
    pub options: BTreeMap<String, String>,
}

/// A line of `storage.cfg` that is neither a section header nor an option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct StorageCfgError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// Parse `/etc/pve/storage.cfg`.
pub fn parse_storage_cfg(text: &str) -> Result<Vec<PveStorage>, StorageCfgError> {
    let mut out: Vec<PveStorage> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.len() == trimmed.len() {
            let (kind, id) = trimmed.split_once(':').ok_or_else(|| StorageCfgError {
                line: i + 1,
                message: format!(
                    "'{trimmed}' is neither a `type: id` section header nor an indented option"
                ),
            })?;
            out.push(PveStorage {
                kind: kind.trim().to_string(),
                id: id.trim().to_string(),
                options: BTreeMap::new(),
            });
        } else {
            let section = out.last_mut().ok_or_else(|| StorageCfgError {
                line: i + 1,
                message: format!("option '{trimmed}' before any section header"),
            })?;
            let (k, v) = trimmed
                .split_once(char::is_whitespace)
                .unwrap_or((trimmed, ""));
            section.options.insert(k.to_string(), v.trim().to_string());
        }
    }
    Ok(out)
}

/// Parse a datastore template (`KEY = "VALUE"` lines); keys upper-cased, quotes removed.
pub fn parse_one_template(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let key = k.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let v = v.trim().trim_end_matches(',').trim();
        let v = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(v);
        out.insert(key.to_ascii_uppercase(), v.to_string());
    }
    out
}

fn non_empty(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn config_name(path: &std::path::Path) -> String {
    format!("configuration {}", path.display())
}

const PVE_SNIPPET: &str = "drbd: linstor\n        content images,rootdir\n        controller <controller-host>[,<controller-host>...]\n        resourcegroup <resource-group>";

/// Resolve the platform configuration and CLI overrides into what the plugin uses.
pub fn resolve(settings: &Settings, files: &PlatformFiles) -> Resolved {
    let controllers = settings
        .controllers
        .as_deref()
        .filter(|c| !c.trim().is_empty());
    let mut r = match settings.platform {
        Platform::Proxmox => resolve_proxmox(settings, controllers, files),
        Platform::OpenNebula => resolve_opennebula(controllers, files),
        Platform::Docker => resolve_docker(controllers, files),
    };
    if let Some(n) = settings.node.clone() {
        r.node = n;
        r.node_source = "from --node".into();
    }
    if let Some(rg) = settings.resource_group.clone() {
        r.resource_group = rg;
        r.resource_group_source = "from --resource-group".into();
    }
    if r.resource_group.is_empty() {
        r.checks.push(Check::fail(
            "resource group setting",
            "no resource group is configured",
            match settings.platform {
                Platform::OpenNebula => "set LINSTOR_RESOURCE_GROUP in the datastore template (`onedatastore update <id>`) and pass that template with --config, or pass --resource-group",
                Platform::Proxmox => "add `resourcegroup <group>` to the drbd storage in /etc/pve/storage.cfg",
                Platform::Docker => "set `resourcegroup = <group>` in /etc/linstor/docker-volume.conf",
            },
        ));
    }
    r
}

/// The options of a `storage.cfg` stanza as the Perl module hands them to the helper (`$scfg`).
pub fn scfg(storage: &PveStorage) -> serde_json::Map<String, serde_json::Value> {
    storage
        .options
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect()
}

/// Proxmox storage options with `--controllers` in place of `controller`, and the plugin's
/// client configuration for them.
fn proxmox_client(
    mut options: StoreOptions,
    controllers: Option<&str>,
    files: &PlatformFiles,
) -> (StoreOptions, Result<ClientConfig, String>) {
    if let Some(c) = controllers {
        options.controller = Some(c.to_string());
    }
    let client = linstor_pve::exec::client_config(&options, &files.sources).map_err(|e| chain(&e));
    (options, client)
}

fn resolve_proxmox(
    settings: &Settings,
    controllers: Option<&str>,
    files: &PlatformFiles,
) -> Resolved {
    let short = files
        .hostname
        .split('.')
        .next()
        .unwrap_or(&files.hostname)
        .to_string();
    let (defaults, client) = proxmox_client(StoreOptions::default(), controllers, files);
    let mut r = Resolved {
        node: short.clone(),
        node_source: "PVE node name (hostname -s)".into(),
        resource_group: defaults.resource_group,
        resource_group_source: "default of the plugin".into(),
        ..Resolved::new(client)
    };
    let (path, text) = match &files.config {
        ConfigText::Text(p, t) => (p, t),
        ConfigText::Missing(p) => {
            r.checks.push(Check::fail(
                config_name(p),
                "the file does not exist: this is not a Proxmox VE node, or pve-cluster (pmxcfs) is not running",
                format!("start pve-cluster (`systemctl start pve-cluster`) and add a drbd storage to {}:\n{PVE_SNIPPET}", p.display()),
            ));
            return r;
        }
        ConfigText::Unreadable(p, e) => {
            r.checks.push(Check::fail(
                config_name(p),
                format!("cannot read it: {e}"),
                "run doctor as root on a Proxmox VE node",
            ));
            return r;
        }
        ConfigText::None => {
            r.checks.push(Check::fail(
                "configuration",
                "no storage.cfg given",
                "pass --config /etc/pve/storage.cfg",
            ));
            return r;
        }
    };
    let name = config_name(path);
    let sections = match parse_storage_cfg(text) {
        Ok(s) => s,
        Err(e) => {
            r.checks.push(Check::fail(
                name,
                format!("cannot parse it: {e}"),
                "fix the line with `pvesm set`/`pvesm add` or the GUI (Datacenter > Storage)",
            ));
            return r;
        }
    };
    let drbd: Vec<&PveStorage> = sections.iter().filter(|s| s.kind == "drbd").collect();
    let chosen = match (&settings.storage, drbd.as_slice()) {
        (Some(id), _) => match drbd.iter().find(|s| &s.id == id) {
            Some(s) => *s,
            None => {
                r.checks.push(Check::fail(
                    name,
                    format!(
                        "no drbd storage '{id}' (drbd storages: {})",
                        drbd.iter()
                            .map(|s| s.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    "pass --storage with one of the ids listed, or add the storage",
                ));
                return r;
            }
        },
        (None, []) => {
            r.checks.push(Check::fail(
                name,
                "no `drbd:` storage is defined",
                format!("add one (type drbd, so PVE treats it as shared):\n{PVE_SNIPPET}"),
            ));
            return r;
        }
        (None, [one]) => one,
        (None, many) => {
            r.checks.push(Check::fail(
                name,
                format!(
                    "several drbd storages ({}); doctor checks one at a time",
                    many.iter()
                        .map(|s| s.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "pass --storage <id>",
            ));
            return r;
        }
    };
    let options = match StoreOptions::from_scfg(&scfg(chosen)) {
        Ok(o) => o,
        Err(e) => {
            r.checks.push(Check::fail(
                name,
                format!("the plugin refuses storage '{}': {}", chosen.id, chain(&e)),
                format!(
                    "correct the option with `pvesm set {} --<option> <value>`",
                    chosen.id
                ),
            ));
            return r;
        }
    };
    let (o, client) = proxmox_client(options, controllers, files);
    r.client = client;
    r.controller_vm = o.controller_vm.clone();
    r.node = o.linstor_node(&short);
    if let Some(domain) = &o.search_domain {
        r.node_source = format!("PVE node name + searchdomain '{domain}'");
    }
    r.resource_group = o.resource_group.clone();
    let mut problems = Vec::new();
    if non_empty(chosen.options.get("resourcegroup")).is_some() {
        r.resource_group_source = format!("resourcegroup of storage '{}'", chosen.id);
    } else {
        problems.push(format!(
            "storage '{}' has no `resourcegroup` (mandatory; the default '{PVE_DEFAULT_RG}' is used)",
            chosen.id
        ));
    }
    let removed: Vec<&str> = ["redundancy", "storagepool"]
        .into_iter()
        .filter(|k| chosen.options.contains_key(*k))
        .collect();
    let summary = format!(
        "drbd storage '{}': controllers {}, resource group '{}'",
        chosen.id,
        r.controllers_text(),
        r.resource_group
    );
    if !problems.is_empty() {
        r.checks.push(Check::fail(
            name,
            problems.join("; "),
            format!(
                "`pvesm set {} --resourcegroup <group>` (the group must exist: `linstor resource-group list`)",
                chosen.id
            ),
        ));
    } else if !removed.is_empty() {
        r.checks.push(Check::warn(
            name,
            format!("{summary}; options removed by linstor-proxmox 5/6 are still set: {}", removed.join(", ")),
            format!(
                "placement now comes from the resource group; remove them: `pvesm set {} --delete {}`",
                chosen.id,
                removed.join(",")
            ),
        ));
    } else {
        r.checks.push(Check::ok(name, summary));
    }
    r
}

fn resolve_opennebula(controllers: Option<&str>, files: &PlatformFiles) -> Resolved {
    let template = match &files.config {
        ConfigText::Text(_, text) => parse_one_template(text),
        _ => BTreeMap::new(),
    };
    let mut ds = DsConfig::from_template(&template);
    if let Some(c) = controllers {
        ds.controllers = Some(c.to_string());
    }
    let client = linstor_one::exec::client_config(&ds, &files.sources, None).map_err(|e| chain(&e));
    let mut r = Resolved {
        node: files.hostname.clone(),
        node_source: "hostname (OpenNebula host names must equal LINSTOR node names)".into(),
        controller_vm: ds.controller_vm.clone(),
        ..Resolved::new(client)
    };
    match &files.config {
        ConfigText::Text(path, _) => {
            let name = config_name(path);
            if let Some(rg) = &ds.resource_group {
                r.resource_group = rg.clone();
                r.resource_group_source = "resource group of the datastore template".into();
            }
            let mut warnings = ds.warnings.clone();
            if let Some(dt) = template
                .get("DISK_TYPE")
                .filter(|d| !d.eq_ignore_ascii_case("BLOCK"))
            {
                warnings.push(format!("DISK_TYPE is '{dt}' (QEMU needs BLOCK for DRBD devices)"));
            }
            let summary = format!(
                "datastore template: controllers {}, resource group '{}'",
                r.controllers_text(),
                r.resource_group
            );
            if warnings.is_empty() {
                r.checks.push(Check::ok(name, summary));
            } else {
                r.checks.push(Check::warn(
                    name,
                    format!("{summary}; {}", warnings.join("; ")),
                    "`onedatastore update <id>` and set DISK_TYPE=\"BLOCK\" and the attributes named",
                ));
            }
        }
        ConfigText::Missing(p) | ConfigText::Unreadable(p, _) => {
            r.checks.push(Check::fail(
                config_name(p),
                "cannot read the datastore template",
                "export it with `onedatastore show <id> > ds.txt` and pass --config ds.txt",
            ));
        }
        ConfigText::None => r.checks.push(Check::ok(
            "configuration",
            "no datastore template given (--config); using --controllers/--resource-group and controller discovery",
        )),
    }
    r
}

fn resolve_docker(controllers: Option<&str>, files: &PlatformFiles) -> Resolved {
    let env = |k: &str| files.env.get(k).cloned();
    let client = |conf: &FileConfig| {
        conf.client_config(controllers, &env, &files.sources, None)
            .map_err(|e| chain(&e))
    };
    let mut r = Resolved {
        node: files.hostname.clone(),
        node_source: "hostname".into(),
        resource_group: DOCKER_DEFAULT_RG.into(),
        resource_group_source: "default of the plugin".into(),
        ..Resolved::new(client(&FileConfig::default()))
    };
    let (path, text) = match &files.config {
        ConfigText::Text(p, t) => (p, t),
        ConfigText::Missing(p) => {
            r.checks.push(Check::ok(
                config_name(p),
                "not present; the plugin's defaults apply (controllers from LS_CONTROLLERS, linstor-client.conf or localhost)",
            ));
            return r;
        }
        ConfigText::Unreadable(p, e) => {
            r.checks.push(Check::fail(
                config_name(p),
                format!("cannot read it: {e}"),
                "run doctor as root",
            ));
            return r;
        }
        ConfigText::None => return r,
    };
    let name = config_name(path);
    let conf = match FileConfig::parse(text, path) {
        Ok(c) => c,
        Err(e) => {
            r.checks.push(Check::fail(
                name,
                format!("the plugin refuses it: {}", chain(&e)),
                "correct /etc/linstor/docker-volume.conf (INI: a `[global]` line, then `key = value` lines; see docs/operations.md)",
            ));
            return r;
        }
    };
    r.client = client(&conf);
    if let Some(rg) = non_empty(conf.defaults.0.get("resourcegroup")) {
        r.resource_group = rg;
        r.resource_group_source = "resourcegroup in docker-volume.conf".into();
    }
    r.checks.push(Check::ok(
        name,
        format!(
            "controllers {}, resource group '{}'",
            r.controllers_text(),
            r.resource_group
        ),
    ));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn settings(platform: Platform) -> Settings {
        Settings {
            platform,
            controllers: None,
            node: None,
            resource_group: None,
            storage: None,
        }
    }

    fn nowhere() -> Sources {
        Sources {
            ls_controllers: None,
            ls_username: None,
            ls_password: None,
            client_conf: "/nonexistent/linstor-client.conf".into(),
            auth_json: "/nonexistent/auth.json".into(),
        }
    }

    fn files(text: &str, path: &str) -> PlatformFiles {
        PlatformFiles {
            config: ConfigText::Text(PathBuf::from(path), text.to_string()),
            hostname: "pve1.example.com".into(),
            sources: nowhere(),
            env: BTreeMap::new(),
        }
    }

    fn controllers(r: &Resolved) -> Vec<&str> {
        r.client
            .as_ref()
            .unwrap()
            .controllers
            .iter()
            .map(|c| c.base.as_str())
            .collect()
    }

    const STORAGE_CFG: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\ndrbd: drbdstorage\n        content images,rootdir\n        controller 10.0.0.1,10.0.0.2\n        resourcegroup rg1\n        searchdomain example.com\n        controllervm 100\n";

    #[test]
    fn proxmox_stanza_gives_controllers_group_and_fqdn_node() {
        let r = resolve(
            &settings(Platform::Proxmox),
            &files(STORAGE_CFG, PVE_STORAGE_CFG),
        );
        assert_eq!(
            controllers(&r),
            ["http://10.0.0.1:3370", "http://10.0.0.2:3370"]
        );
        assert_eq!(r.resource_group, "rg1");
        assert_eq!(r.node, "pve1.example.com");
        assert_eq!(r.controller_vm.as_deref(), Some("100"));
        assert_eq!(r.checks.len(), 1);
        assert_eq!(r.checks[0].status, Status::Ok, "{}", r.checks[0]);
    }

    #[test]
    fn proxmox_tls_options_switch_to_https_and_short_node_name_without_searchdomain() {
        let cfg = "drbd: d\n\tcontroller c1\n\tresourcegroup grp\n\tapica /etc/ca.pem\n";
        let r = resolve(&settings(Platform::Proxmox), &files(cfg, PVE_STORAGE_CFG));
        assert_eq!(controllers(&r), ["https://c1:3371"]);
        assert_eq!(
            r.client.as_ref().unwrap().ca_file,
            Some(PathBuf::from("/etc/ca.pem"))
        );
        assert_eq!(r.node, "pve1");
    }

    #[test]
    fn proxmox_missing_resourcegroup_and_no_drbd_stanza_are_failures_with_fixes() {
        let r = resolve(
            &settings(Platform::Proxmox),
            &files("drbd: d\n\tcontroller c1\n", PVE_STORAGE_CFG),
        );
        assert_eq!(r.checks[0].status, Status::Fail);
        assert!(r.checks[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("pvesm set d --resourcegroup"));
        let r = resolve(
            &settings(Platform::Proxmox),
            &files("dir: local\n\tpath /x\n", PVE_STORAGE_CFG),
        );
        assert_eq!(r.checks[0].status, Status::Fail);
        assert!(r.checks[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("drbd: linstor"));
    }

    #[test]
    fn proxmox_several_stanzas_need_storage_choice() {
        let cfg = "drbd: a\n\tresourcegroup ga\ndrbd: b\n\tresourcegroup gb\n";
        let r = resolve(&settings(Platform::Proxmox), &files(cfg, PVE_STORAGE_CFG));
        assert_eq!(r.checks[0].status, Status::Fail);
        assert!(r.checks[0].detail.contains("a, b"));
        let mut s = settings(Platform::Proxmox);
        s.storage = Some("b".into());
        let r = resolve(&s, &files(cfg, PVE_STORAGE_CFG));
        assert_eq!(r.resource_group, "gb");
        assert_eq!(r.checks[0].status, Status::Ok);
    }

    #[test]
    fn proxmox_removed_options_warn() {
        let cfg = "drbd: a\n\tresourcegroup grp\n\tredundancy 2\n";
        let r = resolve(&settings(Platform::Proxmox), &files(cfg, PVE_STORAGE_CFG));
        assert_eq!(r.checks[0].status, Status::Warn);
        assert!(r.checks[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("--delete redundancy"));
    }

    #[test]
    fn proxmox_options_the_plugin_refuses_fail_with_the_plugins_reason() {
        let cfg = "drbd: d\n\tcontroller c1\n\tresourcegroup grp\n\tpreferlocal maybe\n";
        let r = resolve(&settings(Platform::Proxmox), &files(cfg, PVE_STORAGE_CFG));
        assert_eq!(r.checks[0].status, Status::Fail, "{}", r.checks[0]);
        assert!(
            r.checks[0]
                .detail
                .contains("'preferlocal' is 'maybe': use yes or no"),
            "{}",
            r.checks[0]
        );
        let cfg = "drbd: d\n\tcontroller c1\n\tresourcegroup grp\n\tapicrt /c.pem\n";
        let r = resolve(&settings(Platform::Proxmox), &files(cfg, PVE_STORAGE_CFG));
        let err = r.client.unwrap_err();
        assert!(
            err.contains("'apicrt' and 'apikey' must be set together"),
            "{err}"
        );
    }

    #[test]
    fn opennebula_attributes_the_driver_ignores_are_warnings() {
        let t = "LS_CONTROLLERS=\"c3\"\nRESOURCE_GROUP=\"un\"\nREPLICA_COUNT=\"two\"\n";
        let r = resolve(&settings(Platform::OpenNebula), &files(t, "ds.txt"));
        assert_eq!(r.checks[0].status, Status::Warn, "{}", r.checks[0]);
        assert!(
            r.checks[0].detail.contains("REPLICA_COUNT='two'"),
            "{}",
            r.checks[0]
        );
    }

    #[test]
    fn storage_cfg_rejects_options_before_a_section() {
        let e = parse_storage_cfg("\tcontroller x\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.to_string().contains("before any section header"), "{e}");
        let e = parse_storage_cfg("dir: a\ngarbage\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("section header"), "{e}");
    }

    #[test]
    fn opennebula_template_accepts_both_peers_attribute_names() {
        let lb = "NAME = \"linstor_images\"\nDS_MAD = linstor\nLINSTOR_CONTROLLERS = \"c1:3370,c2\"\nLINSTOR_RESOURCE_GROUP = \"OneRscGrp\"\nDISK_TYPE = \"BLOCK\"\n";
        let r = resolve(&settings(Platform::OpenNebula), &files(lb, "ds.txt"));
        assert_eq!(controllers(&r), ["http://c1:3370", "http://c2:3370"]);
        assert_eq!(r.resource_group, "OneRscGrp");
        assert_eq!(r.node, "pve1.example.com");
        assert_eq!(r.checks[0].status, Status::Ok);
        let un = "LS_CONTROLLERS=\"c3\"\nRESOURCE_GROUP=\"un\"\nDISK_TYPE=\"FILE\"\n";
        let r = resolve(&settings(Platform::OpenNebula), &files(un, "ds.txt"));
        assert_eq!(controllers(&r), ["http://c3:3370"]);
        assert_eq!(r.resource_group, "un");
        assert_eq!(r.checks[0].status, Status::Warn);
    }

    #[test]
    fn opennebula_without_a_group_fails_with_a_fix() {
        let f = PlatformFiles {
            config: ConfigText::None,
            hostname: "h1".into(),
            sources: nowhere(),
            env: BTreeMap::new(),
        };
        let r = resolve(&settings(Platform::OpenNebula), &f);
        let fail = r.checks.iter().find(|c| c.status == Status::Fail).unwrap();
        assert!(fail
            .fix
            .as_deref()
            .unwrap()
            .contains("LINSTOR_RESOURCE_GROUP"));
        let mut s = settings(Platform::OpenNebula);
        s.resource_group = Some("g".into());
        let r = resolve(&s, &f);
        assert!(r.checks.iter().all(|c| c.status == Status::Ok));
    }

    #[test]
    fn docker_conf_is_read_with_the_plugins_rules() {
        let conf = "[global]\nControllers = linstor://ctrl\nresource-group = dockergrp\nfs = xfs\n";
        let r = resolve(&settings(Platform::Docker), &files(conf, DOCKER_CONF));
        assert_eq!(controllers(&r), ["http://ctrl:3370"]);
        assert_eq!(r.resource_group, "dockergrp");
        assert_eq!(r.node, "pve1.example.com");
        assert_eq!(r.checks[0].status, Status::Ok, "{}", r.checks[0]);
        for (bad, cause) in [
            ("[global]\ncontrolers = x\n", "unknown key 'controlers'"),
            ("[global]\nreplicas = abc\n", "invalid replicas 'abc'"),
        ] {
            let r = resolve(&settings(Platform::Docker), &files(bad, DOCKER_CONF));
            assert_eq!(r.checks[0].status, Status::Fail, "{bad}");
            assert!(r.checks[0].detail.contains(DOCKER_CONF), "{}", r.checks[0]);
            assert_eq!(
                r.checks[0].detail.matches(cause).count(),
                1,
                "the cause, once: {}",
                r.checks[0]
            );
        }
    }

    #[test]
    fn shipped_opennebula_templates_resolve() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/opennebula");
        for name in [
            "image-ds.tmpl",
            "system-ds.tmpl",
            "image-ds-linstor_un.tmpl",
            "system-ds-linstor_un.tmpl",
        ] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            let r = resolve(&settings(Platform::OpenNebula), &files(&text, name));
            assert!(!controllers(&r).is_empty(), "{name}: no controllers");
            assert_eq!(r.resource_group, "OneRscGrp", "{name}");
            assert!(
                r.checks.iter().all(|c| c.status == Status::Ok),
                "{name}: {:?}",
                r.checks
            );
        }
    }

    #[test]
    fn command_line_overrides_win() {
        let mut s = settings(Platform::Docker);
        s.controllers = Some("http://127.0.0.1:1".into());
        s.node = Some("other".into());
        s.resource_group = Some("rg9".into());
        let r = resolve(&s, &files("[global]\ncontrollers = c\n", DOCKER_CONF));
        assert_eq!(controllers(&r), ["http://127.0.0.1:1"]);
        assert_eq!(r.node, "other");
        assert_eq!(r.node_source, "from --node");
        assert_eq!(r.resource_group, "rg9");
    }

    #[test]
    fn shipped_docker_default_config_parses_cleanly() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../packaging/docker-volume.conf");
        let text = std::fs::read_to_string(&path).unwrap();
        let r = resolve(&settings(Platform::Docker), &files(&text, DOCKER_CONF));
        assert_eq!(r.checks[0].status, Status::Ok, "{}", r.checks[0]);
    }
}
