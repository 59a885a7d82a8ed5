//! `linstor-plugins`: operator commands shared by the Proxmox VE, OpenNebula and Docker plugins.
//!
//! - `doctor`: is this node set up right? Prints `[ OK ]`/`[FAIL]` per check with a fix; exits
//!   1 when any check fails.
//! - `gc`: lists (and with `--apply` removes) half-created volumes and orphan diskless
//!   resources owned by the chosen platform.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand, ValueEnum};
use linstor_common::config::{ClientConfig, Sources};
use linstor_common::doctor::{self, Check, DoctorConfig};
use linstor_common::host::RealHost;
use linstor_common::naming::Platform;
use linstor_common::volume::{Storage, StorageConfig};
use linstor_common::Client;
use linstor_plugins_ops::platform::{ConfigText, DOCKER_CONF, PVE_STORAGE_CFG};
use linstor_plugins_ops::{resolve, PlatformFiles, Resolved, Settings};

/// Operator tool of the LINSTOR plugins for Proxmox VE, OpenNebula and Docker.
#[derive(Debug, Parser)]
#[command(name = "linstor-plugins", version)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Check configuration, controllers, node name, resource group, DRBD 9 and udev links.
    Doctor(DoctorArgs),
    /// List (and with --apply remove) half-created volumes and orphan diskless resources.
    Gc(GcArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlatformArg {
    Proxmox,
    Opennebula,
    Docker,
}

impl From<PlatformArg> for Platform {
    fn from(p: PlatformArg) -> Self {
        match p {
            PlatformArg::Proxmox => Platform::Proxmox,
            PlatformArg::Opennebula => Platform::OpenNebula,
            PlatformArg::Docker => Platform::Docker,
        }
    }
}

#[derive(Debug, Args)]
struct CommonArgs {
    /// The plugin to check; detected from the installed files when omitted.
    #[arg(long, value_enum)]
    platform: Option<PlatformArg>,
    /// The platform's configuration: /etc/pve/storage.cfg (Proxmox), a datastore template
    /// (OpenNebula, e.g. from `onedatastore show <id>`), /etc/linstor/docker-volume.conf (Docker).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Proxmox storage id, when storage.cfg has several drbd storages.
    #[arg(long)]
    storage: Option<String>,
    /// Controllers (comma-separated), overriding the platform's configuration.
    #[arg(long)]
    controllers: Option<String>,
    /// LINSTOR node name of this host, overriding what the plugin would use.
    #[arg(long)]
    node: Option<String>,
    /// Seconds to wait for each controller answer.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct DoctorArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Resource group, overriding the platform's configuration.
    #[arg(long)]
    resource_group: Option<String>,
    /// Where the DRBD module reports its version.
    #[arg(long, default_value = "/proc/drbd")]
    proc_drbd: PathBuf,
    /// Root of the device tree holding drbd/by-res.
    #[arg(long, default_value = "/dev")]
    dev_root: PathBuf,
}

#[derive(Debug, Args)]
struct GcArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Remove what was found (default: only list it).
    #[arg(long)]
    apply: bool,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

fn detect_platform() -> anyhow::Result<Platform> {
    let exists = |p: &str| Path::new(p).exists();
    let mut found = Vec::new();
    if exists(PVE_STORAGE_CFG) || exists("/usr/share/perl5/PVE/Storage/Custom/LINSTORPlugin.pm") {
        found.push(Platform::Proxmox);
    }
    if exists("/var/lib/one/remotes/datastore/linstor")
        || exists("/var/lib/one/remotes/datastore/linstor_un")
    {
        found.push(Platform::OpenNebula);
    }
    if exists(DOCKER_CONF) || exists("/usr/bin/linstor-docker-volume") {
        found.push(Platform::Docker);
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => bail!(
            "no plugin installation found on this host; pass --platform proxmox|opennebula|docker"
        ),
        many => bail!(
            "several plugins are installed here ({}); pass --platform proxmox|opennebula|docker",
            many.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn read_config(platform: Platform, explicit: Option<&Path>) -> ConfigText {
    let path = match (explicit, platform) {
        (Some(p), _) => p.to_path_buf(),
        (None, Platform::Proxmox) => PathBuf::from(PVE_STORAGE_CFG),
        (None, Platform::Docker) => PathBuf::from(DOCKER_CONF),
        (None, Platform::OpenNebula) => return ConfigText::None,
    };
    match std::fs::read_to_string(&path) {
        Ok(t) => ConfigText::Text(path, t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigText::Missing(path),
        Err(e) => ConfigText::Unreadable(path, e.to_string()),
    }
}

struct Setup {
    platform: Platform,
    resolved: Resolved,
    client: Result<ClientConfig, String>,
}

fn setup(common: &CommonArgs, resource_group: Option<String>) -> anyhow::Result<Setup> {
    let platform = match common.platform {
        Some(p) => p.into(),
        None => detect_platform()?,
    };
    let settings = Settings {
        platform,
        controllers: common.controllers.clone(),
        node: common.node.clone(),
        resource_group,
        storage: common.storage.clone(),
    };
    let files = PlatformFiles {
        config: read_config(platform, common.config.as_deref()),
        hostname: hostname(),
    };
    let resolved = resolve(&settings, &files);
    let client = ClientConfig::discover(resolved.controllers.as_deref(), &Sources::system())
        .map(|mut c| {
            if resolved.ca_file.is_some() {
                c.ca_file = resolved.ca_file.clone();
            }
            if resolved.client_cert.is_some() {
                c.client_cert = resolved.client_cert.clone();
            }
            if resolved.client_key.is_some() {
                c.client_key = resolved.client_key.clone();
            }
            c.request_timeout = Duration::from_secs(common.timeout.max(1));
            c
        })
        .map_err(|e| e.to_string());
    Ok(Setup {
        platform,
        resolved,
        client,
    })
}

async fn run_doctor(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let s = setup(&args.common, args.resource_group.clone())?;
    println!(
        "linstor-plugins doctor: {} plugin, node '{}', resource group '{}'",
        s.platform.name(),
        s.resolved.node,
        s.resolved.resource_group
    );
    let mut prior = s.resolved.checks.clone();
    let client = match s.client {
        Ok(c) => c,
        Err(e) => {
            prior.push(Check::fail(
                "controller list",
                e,
                "write controllers as host, host:port, http(s)://host:port, linstor://host or linstor+ssl://host, comma-separated",
            ));
            ClientConfig {
                controllers: Vec::new(),
                ..Default::default()
            }
        }
    };
    let cfg = DoctorConfig {
        platform: s.platform,
        client,
        node: s.resolved.node.clone(),
        node_source: s.resolved.node_source.clone(),
        resource_group: s.resolved.resource_group.clone(),
        resource_group_source: s.resolved.resource_group_source.clone(),
        proc_drbd: args.proc_drbd,
        dev_root: args.dev_root,
        timeout: Duration::from_secs(args.common.timeout.max(1)),
    };
    let report = doctor::run(&cfg, prior).await;
    println!("{report}");
    Ok(if report.is_healthy() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run_gc(args: GcArgs) -> anyhow::Result<ExitCode> {
    let s = setup(&args.common, None)?;
    let client_cfg = s
        .client
        .map_err(anyhow::Error::msg)
        .context("invalid controller list")?;
    let client = Client::new(client_cfg).context("cannot set up the LINSTOR client")?;
    let mut storage_cfg = StorageConfig::new(s.platform, s.resolved.node.clone());
    storage_cfg.controller_vm = s.resolved.controller_vm.clone();
    let storage = Storage::new(storage_cfg, client, Arc::new(RealHost));
    let span = tracing::info_span!("gc", platform = s.platform.name(), apply = args.apply);
    let _guard = span.enter();
    let report = storage
        .gc(args.apply, &[])
        .await
        .context("gc failed (run `linstor-plugins doctor` to check the setup)")?;
    let verb = if report.applied {
        "removed"
    } else {
        "would remove"
    };
    for rd in &report.half_created {
        println!("half-created volume {rd}: no disk on any node ({verb} the resource definition)");
    }
    for (rd, node) in &report.orphan_diskless {
        println!(
            "orphan diskless resource {rd} on node {node}: not in use ({verb} this diskless copy)"
        );
    }
    let n = report.half_created.len() + report.orphan_diskless.len();
    if n == 0 {
        println!("nothing to collect for {}", s.platform.name());
    } else if report.applied {
        println!("{n} finding(s) removed");
    } else {
        println!("{n} finding(s); run again with --apply to remove them");
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("linstor-plugins: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        match cli.cmd {
            Cmd::Doctor(a) => run_doctor(a).await,
            Cmd::Gc(a) => run_gc(a).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("linstor-plugins: {e:#}");
            ExitCode::from(2)
        }
    }
}
