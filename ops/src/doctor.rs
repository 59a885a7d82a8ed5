//! The checks behind `linstor-plugins doctor`: controllers reachable (each one), this node known
//! to LINSTOR under the name the plugin uses, resource group present, DRBD 9 loaded, and the udev
//! `by-res` links of this node's resources present. Every failure carries a concrete fix.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use linstor_common::client::Client;
use linstor_common::config::ClientConfig;
use linstor_common::error::{chain, Error};
use linstor_common::naming::Platform;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but something deserves attention.
    Warn,
    /// Broken; the plugin will fail.
    Fail,
    /// Not run because an earlier check failed.
    Skip,
}

impl Status {
    /// The fixed-width tag printed in front of a check.
    pub fn tag(self) -> &'static str {
        match self {
            Status::Ok => "[ OK ]",
            Status::Warn => "[WARN]",
            Status::Fail => "[FAIL]",
            Status::Skip => "[SKIP]",
        }
    }
}

/// One check with its result and, when not OK, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Short name, e.g. `controller http://10.0.0.1:3370`.
    pub name: String,
    /// Result.
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it.
    pub fix: Option<String>,
}

impl Check {
    /// A passed check.
    pub fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    /// A failed check with its fix.
    pub fn fail(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A warning with advice.
    pub fn warn(
        name: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A check that could not run.
    pub fn skip(name: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::Skip,
            detail: why.into(),
            fix: None,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.tag(), self.name, self.detail)?;
        if let Some(fix) = &self.fix {
            for (i, line) in fix.lines().enumerate() {
                let lead = if i == 0 { "fix:" } else { "    " };
                write!(f, "\n       {lead} {line}")?;
            }
        }
        Ok(())
    }
}

/// All checks of one run, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// Number of checks with this status.
    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// True when nothing failed (warnings and skips aside, a skip only follows a failure).
    pub fn is_healthy(&self) -> bool {
        self.count(Status::Fail) == 0
    }

    /// The check with this name, if any.
    pub fn find(&self, name_prefix: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name.starts_with(name_prefix))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            writeln!(f, "{c}")?;
        }
        write!(
            f,
            "{} checks: {} ok, {} warnings, {} failed, {} skipped",
            self.checks.len(),
            self.count(Status::Ok),
            self.count(Status::Warn),
            self.count(Status::Fail),
            self.count(Status::Skip)
        )
    }
}

/// What `doctor` checks against; the caller resolves the platform's configuration into this.
#[derive(Debug, Clone)]
pub struct DoctorConfig {
    /// The platform whose plugin is checked (decides the wording of fixes).
    pub platform: Platform,
    /// The controllers and TLS settings the plugin uses.
    pub client: ClientConfig,
    /// The LINSTOR node name the plugin uses for this host.
    pub node: String,
    /// Where the node name came from, e.g. `hostname` or `--node`.
    pub node_source: String,
    /// The resource group volumes are spawned from.
    pub resource_group: String,
    /// Where the resource group came from.
    pub resource_group_source: String,
    /// `/proc/drbd` (tests point it at a file).
    pub proc_drbd: PathBuf,
    /// Root of the local device tree (`/dev`).
    pub dev_root: PathBuf,
    /// Per-request bound when talking to a controller.
    pub timeout: Duration,
}

/// The DRBD kernel module as `/proc/drbd` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrbdModule {
    /// DRBD 9 (what LINSTOR needs), with its version.
    Nine(String),
    /// DRBD 8.x: the in-tree kernel module.
    Eight(String),
    /// A version line this check does not know.
    Unknown(String),
    /// `/proc/drbd` is absent: no DRBD module is loaded.
    NotLoaded,
}

/// Parse the contents of `/proc/drbd` (`version: 9.2.8 (api:2/proto:86-122)`).
pub fn parse_proc_drbd(text: &str) -> DrbdModule {
    let Some(version) = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("version:"))
        .and_then(|rest| rest.split_whitespace().next())
    else {
        return DrbdModule::Unknown(text.lines().next().unwrap_or("").trim().to_string());
    };
    let major = version.split('.').next().unwrap_or("");
    match major {
        "9" => DrbdModule::Nine(version.to_string()),
        "8" => DrbdModule::Eight(version.to_string()),
        _ => DrbdModule::Unknown(version.to_string()),
    }
}

const DRBD9_INSTALL: &str = "install DRBD 9 (package drbd-dkms from LINBIT's repository, or the kmod for your kernel) and check `dkms status` shows it built for `uname -r`";

/// Check the DRBD kernel module through `proc_drbd`.
pub fn check_drbd(proc_drbd: &Path) -> Check {
    let name = "DRBD kernel module";
    let text = match std::fs::read_to_string(proc_drbd) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::fail(
                name,
                format!("{} does not exist: no DRBD module is loaded", proc_drbd.display()),
                format!("{DRBD9_INSTALL}, then `modprobe drbd` and make it load at boot (`echo drbd > /etc/modules-load.d/drbd.conf`)"),
            )
        }
        Err(e) => {
            return Check::fail(
                name,
                format!("cannot read {}: {e}", proc_drbd.display()),
                "run doctor as root",
            )
        }
    };
    match parse_proc_drbd(&text) {
        DrbdModule::Nine(v) => Check::ok(name, format!("DRBD {v} loaded")),
        DrbdModule::Eight(v) => Check::fail(
            name,
            format!("DRBD {v} is loaded: this is the in-tree DRBD 8 module, LINSTOR needs DRBD 9"),
            format!("{DRBD9_INSTALL};\nthen, with no DRBD resource up, `rmmod drbd && modprobe drbd` (or reboot) and check `head -1 /proc/drbd` shows `version: 9.`"),
        ),
        DrbdModule::Unknown(v) => Check::fail(
            name,
            format!("{} has no recognisable DRBD 9 version line (found '{v}')", proc_drbd.display()),
            format!("{DRBD9_INSTALL}, then `modprobe drbd`"),
        ),
        DrbdModule::NotLoaded => Check::fail(
            name,
            "no DRBD module is loaded",
            format!("{DRBD9_INSTALL}, then `modprobe drbd`"),
        ),
    }
}

fn controller_fix(platform: Platform) -> &'static str {
    match platform {
        Platform::Proxmox => "check `systemctl status linstor-controller` on that host, that port 3370 (http) or 3371 (https) is open from this node, and the `controller` line of the drbd storage in /etc/pve/storage.cfg",
        Platform::OpenNebula => "check `systemctl status linstor-controller` on that host, that port 3370 (http) or 3371 (https) is open from this front-end, and LINSTOR_CONTROLLERS (or LS_CONTROLLERS) of the datastore (`onedatastore show <id>`)",
        Platform::Docker => "check `systemctl status linstor-controller` on that host, that port 3370 (http) or 3371 (https) is open from this node, and `controllers =` in /etc/linstor/docker-volume.conf (or LS_CONTROLLERS)",
    }
}

fn describe_error(e: &Error) -> String {
    match e {
        Error::Connection {
            source: Some(cause),
            ..
        } => format!("not reachable: {}", chain(cause)),
        other => chain(other),
    }
}

/// Check every configured controller on its own; returns the checks and whether any answered.
pub async fn check_controllers(cfg: &DoctorConfig) -> (Vec<Check>, bool) {
    let mut checks = Vec::new();
    let mut any = false;
    for ctrl in &cfg.client.controllers {
        let name = format!("controller {}", ctrl.base);
        let one = ClientConfig {
            controllers: vec![ctrl.clone()],
            state_dir: None,
            request_timeout: cfg.timeout,
            ..cfg.client.clone()
        };
        let result = match Client::new(one) {
            Ok(client) => client.version().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(v) => {
                any = true;
                checks.push(Check::ok(
                    name,
                    format!(
                        "reachable, LINSTOR {} (REST API {})",
                        v.version, v.rest_api_version
                    ),
                ));
            }
            Err(e) => checks.push(Check::fail(
                name,
                describe_error(&e),
                controller_fix(cfg.platform),
            )),
        }
    }
    if checks.is_empty() {
        checks.push(Check::fail(
            "controllers",
            "no controller is configured",
            controller_fix(cfg.platform),
        ));
    }
    (checks, any)
}

fn node_name_fix(platform: Platform, node: &str) -> String {
    let how = match platform {
        Platform::Proxmox => "the Proxmox plugin uses the PVE node name (`hostname -s`), plus `.<searchdomain>` when the drbd storage in /etc/pve/storage.cfg sets `searchdomain`; set `searchdomain` if LINSTOR knows this node by its FQDN",
        Platform::OpenNebula => "OpenNebula host names must equal LINSTOR node names: compare `onehost list` with `linstor node list` and re-add the host (or the LINSTOR node) under the same name",
        Platform::Docker => "the Docker plugin uses this host's hostname; make `hostname` match the LINSTOR node name",
    };
    format!(
        "run `linstor node list`; the plugin uses node name '{node}'. Either register this host under that name (`linstor node create {node} <ip>`),\nor {how}"
    )
}

fn similar_nodes<'a>(node: &str, known: &'a [String]) -> Vec<&'a str> {
    let short = |s: &str| s.split('.').next().unwrap_or(s).to_ascii_lowercase();
    known
        .iter()
        .filter(|k| k.eq_ignore_ascii_case(node) || short(k) == short(node))
        .map(String::as_str)
        .collect()
}

/// Check that LINSTOR knows this node under the name the plugin uses, and that it is online.
pub async fn check_node(cfg: &DoctorConfig, client: &Client) -> Check {
    let name = format!("node '{}' ({})", cfg.node, cfg.node_source);
    match client.node(&cfg.node).await {
        Ok(Some(n)) if n.is_online() || n.connection_status.is_none() => {
            Check::ok(name, format!("known to LINSTOR ({})", n.node_type))
        }
        Ok(Some(n)) => Check::fail(
            name,
            format!(
                "known to LINSTOR but its satellite is {}",
                n.connection_status.as_deref().unwrap_or("not connected")
            ),
            "start the satellite on this host (`systemctl enable --now linstor-satellite`) and check `linstor node list` shows it ONLINE",
        ),
        Ok(None) => {
            let known: Vec<String> = client
                .nodes()
                .await
                .map(|ns| ns.into_iter().map(|n| n.name).collect())
                .unwrap_or_default();
            let similar = similar_nodes(&cfg.node, &known);
            let detail = if similar.is_empty() {
                format!(
                    "LINSTOR does not know this node; known nodes: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            } else {
                format!(
                    "LINSTOR does not know this node, but knows {} (same host under another name?)",
                    similar.join(", ")
                )
            };
            Check::fail(name, detail, node_name_fix(cfg.platform, &cfg.node))
        }
        Err(e) => Check::fail(
            name,
            format!("cannot look the node up: {}", describe_error(&e)),
            controller_fix(cfg.platform),
        ),
    }
}

fn resource_group_fix(platform: Platform, rg: &str) -> String {
    let setting = match platform {
        Platform::Proxmox => "`resourcegroup` of the drbd storage in /etc/pve/storage.cfg",
        Platform::OpenNebula => {
            "LINSTOR_RESOURCE_GROUP (or RESOURCE_GROUP) of the datastore (`onedatastore update <id>`)"
        }
        Platform::Docker => "`resource-group =` in /etc/linstor/docker-volume.conf",
    };
    format!(
        "create it: `linstor resource-group create {rg} --storage-pool <pool> --place-count 2` and `linstor volume-group create {rg}`,\nor point {setting} at an existing group (`linstor resource-group list`)"
    )
}

/// Check that the resource group exists.
pub async fn check_resource_group(cfg: &DoctorConfig, client: &Client) -> Check {
    let rg = &cfg.resource_group;
    let name = format!("resource group '{rg}' ({})", cfg.resource_group_source);
    match client.resource_group(rg).await {
        Ok(Some(group)) => {
            let filter = group.select_filter.unwrap_or_default();
            let pools = if !filter.storage_pool_list.is_empty() {
                filter.storage_pool_list.join(",")
            } else {
                filter
                    .storage_pool
                    .unwrap_or_else(|| "any storage pool".into())
            };
            let count = filter
                .place_count
                .map(|c| c.to_string())
                .unwrap_or_else(|| "default".into());
            Check::ok(name, format!("present (place count {count}, {pools})"))
        }
        Ok(None) => {
            let known: Vec<String> = client
                .resource_groups()
                .await
                .map(|gs| gs.into_iter().map(|g| g.name).collect())
                .unwrap_or_default();
            Check::fail(
                name,
                format!(
                    "LINSTOR has no such resource group; existing: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
                resource_group_fix(cfg.platform, rg),
            )
        }
        Err(e) => Check::fail(
            name,
            format!("cannot look the group up: {}", describe_error(&e)),
            controller_fix(cfg.platform),
        ),
    }
}

const UDEV_FIX: &str = "the by-res links come from the udev rules of drbd-utils (65-drbd.rules): install drbd-utils on this node and run `udevadm trigger --subsystem-match=block --action=change && udevadm settle`";

/// Check that every resource LINSTOR has on this node has its `by-res` link under `dev_root`.
pub async fn check_by_res(cfg: &DoctorConfig, client: &Client) -> Check {
    let name = format!(
        "udev links {}",
        cfg.dev_root.join(linstor_common::naming::BY_RES).display()
    );
    let resources = match client.view_resources(&[], &[&cfg.node], &[]).await {
        Ok(r) => r,
        Err(e) => {
            return Check::fail(
                name,
                format!("cannot list this node's resources: {}", describe_error(&e)),
                controller_fix(cfg.platform),
            )
        }
    };
    let mut missing = Vec::new();
    let mut dangling = Vec::new();
    let mut seen = 0usize;
    for r in resources
        .iter()
        .filter(|r| r.resource.node_name.eq_ignore_ascii_case(&cfg.node))
        .filter(|r| !r.resource.is_deleting())
    {
        let numbers: Vec<u32> = if r.volumes.is_empty() {
            vec![0]
        } else {
            r.volumes
                .iter()
                .map(|v| v.volume_number.unwrap_or(0).max(0) as u32)
                .collect()
        };
        for nr in numbers {
            seen += 1;
            let link = linstor_common::naming::device_path(&cfg.dev_root, &r.resource.name, nr);
            if std::fs::symlink_metadata(&link).is_err() {
                missing.push(link.display().to_string());
            } else if std::fs::metadata(&link).is_err() {
                dangling.push(link.display().to_string());
            }
        }
    }
    if missing.is_empty() && dangling.is_empty() {
        return Check::ok(
            name,
            format!("{seen} volume link(s) of this node's resources present"),
        );
    }
    let mut detail = Vec::new();
    if !missing.is_empty() {
        detail.push(format!("missing: {}", missing.join(", ")));
    }
    if !dangling.is_empty() {
        detail.push(format!("pointing at no device: {}", dangling.join(", ")));
    }
    Check::fail(name, detail.join("; "), UDEV_FIX)
}

/// Run every LINSTOR-side and local check. `prior` (e.g. configuration checks done by the
/// caller) is put first.
pub async fn run(cfg: &DoctorConfig, prior: Vec<Check>) -> Report {
    let mut checks = prior;
    let (ctrl_checks, reachable) = check_controllers(cfg).await;
    checks.extend(ctrl_checks);
    let client = if reachable {
        let all = ClientConfig {
            state_dir: None,
            request_timeout: cfg.timeout,
            ..cfg.client.clone()
        };
        Client::new(all).ok()
    } else {
        None
    };
    match &client {
        Some(client) => {
            let node = check_node(cfg, client).await;
            let node_ok = node.status == Status::Ok;
            checks.push(node);
            checks.push(check_resource_group(cfg, client).await);
            checks.push(check_drbd(&cfg.proc_drbd));
            if node_ok {
                checks.push(check_by_res(cfg, client).await);
            } else {
                checks.push(Check::skip(
                    "udev links",
                    "needs this node to be known to LINSTOR",
                ));
            }
        }
        None => {
            for what in [
                format!("node '{}'", cfg.node),
                format!("resource group '{}'", cfg.resource_group),
            ] {
                checks.push(Check::skip(what, "needs a reachable controller"));
            }
            checks.push(check_drbd(&cfg.proc_drbd));
            checks.push(Check::skip("udev links", "needs a reachable controller"));
        }
    }
    Report { checks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_drbd_versions() {
        let nine = "version: 9.2.8 (api:2/proto:86-122)\nGIT-hash: 2a0c... build by root@x, 2024-01-01\nTransports (api:18): tcp (9.2.8)\n";
        assert_eq!(parse_proc_drbd(nine), DrbdModule::Nine("9.2.8".into()));
        let eight = "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 8F7ECA0D9E0A2A4C8A9F8C1\n";
        assert_eq!(parse_proc_drbd(eight), DrbdModule::Eight("8.4.11".into()));
        assert!(matches!(parse_proc_drbd("garbage"), DrbdModule::Unknown(_)));
        assert!(matches!(parse_proc_drbd(""), DrbdModule::Unknown(_)));
    }

    #[test]
    fn drbd_check_explains_the_in_tree_module() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("drbd");
        std::fs::write(&p, "version: 8.4.11 (api:1/proto:86-101)\n").unwrap();
        let c = check_drbd(&p);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("in-tree DRBD 8"), "{c}");
        assert!(c.fix.as_deref().unwrap().contains("drbd-dkms"), "{c}");
        let missing = check_drbd(&dir.path().join("nope"));
        assert_eq!(missing.status, Status::Fail);
        assert!(missing.fix.as_deref().unwrap().contains("modprobe drbd"));
        std::fs::write(&p, "version: 9.1.22 (api:2/proto:86-121)\n").unwrap();
        assert_eq!(check_drbd(&p).status, Status::Ok);
    }

    #[test]
    fn similar_node_names_are_suggested() {
        let known = vec!["pve1.example.com".to_string(), "pve2".to_string()];
        assert_eq!(similar_nodes("pve1", &known), ["pve1.example.com"]);
        assert_eq!(similar_nodes("PVE2", &known), ["pve2"]);
        assert!(similar_nodes("pve3", &known).is_empty());
    }

    #[test]
    fn failures_print_their_fix_indented() {
        let c = Check::fail("x", "broken", "do a\nthen b");
        assert_eq!(
            c.to_string(),
            "[FAIL] x: broken\n       fix: do a\n            then b"
        );
        assert_eq!(Check::ok("y", "fine").to_string(), "[ OK ] y: fine");
    }
}
