//! `linstor-plugins`: operator commands shared by the Proxmox VE, OpenNebula and Docker plugins.
//!
//! - `doctor`: is this node set up right? Prints `[ OK ]`/`[FAIL]` per check with a fix; exits
//!   1 when any check fails.
//! - `gc`: lists (and with `--apply` removes) half-created volumes and orphan diskless
//!   resources owned by the chosen platform.
//! - `adopt`: brings a hand-made DRBD resource (`.res` file or `drbdadm dump`) under LINSTOR;
//!   prints the calls and why (dry run) and performs them with `--apply`.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand, ValueEnum};
use linstor_common::config::{ClientConfig, Overlay, Sources};
use linstor_common::host::RealHost;
use linstor_common::naming::Platform;
use linstor_common::volume::{Storage, StorageConfig};
use linstor_common::Client;
use linstor_plugins_ops::adopt::{self, Owner};
use linstor_plugins_ops::doctor::{self, Check, DoctorConfig};
use linstor_plugins_ops::platform::{
    ls_env, system_sources, ConfigText, DOCKER_CONF, PVE_STORAGE_CFG,
};
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
    /// Bring a hand-made DRBD resource under LINSTOR (dry run unless --apply).
    Adopt(AdoptArgs),
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

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["res", "dump"])))]
struct AdoptArgs {
    /// The resource's .res file (e.g. /etc/drbd.d/legacy.res); `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    res: Option<PathBuf>,
    /// Output of `drbdadm dump` (or `drbdadm dump <res>`); `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    dump: Option<PathBuf>,
    /// Which resource of the file, when it has several.
    #[arg(long)]
    resource: Option<String>,
    /// LINSTOR name, when the DRBD name is not a valid LINSTOR name or should change.
    #[arg(long)]
    name: Option<String>,
    /// Net size in bytes of the DRBD device (`blockdev --getsize64 /dev/drbd<minor>`), as
    /// BYTES for a single volume or VOLUME=BYTES; read from `/dev/drbd<minor>` on this host when
    /// omitted.
    #[arg(long, value_name = "[VOLUME=]BYTES")]
    size: Vec<String>,
    /// Peer slots the DRBD metadata was created with (`--max-peers` of create-md).
    #[arg(long)]
    peer_slots: Option<u32>,
    /// Storage pool of the diskful nodes (the pool on the volume group holding the backing
    /// volumes).
    #[arg(long)]
    storage_pool: Option<String>,
    /// Storage pool of one node, overriding --storage-pool.
    #[arg(long, value_name = "NODE=POOL")]
    node_pool: Vec<String>,
    /// LINSTOR node of a `floating` section, by its IP address.
    #[arg(long, value_name = "IP=NODE")]
    floating_node: Vec<String>,
    /// Set AllowLargerVolumeSize on the volume definitions (backing volume larger than LINSTOR
    /// would allocate).
    #[arg(long)]
    allow_larger_volume_size: bool,
    /// Hand the volume to this Proxmox VM (Aux/pm/vmid), so it shows up as its disk.
    #[arg(long, value_name = "VMID", conflicts_with = "docker_name")]
    proxmox_vmid: Option<u32>,
    /// Resource group of the new resource definition (for --proxmox-vmid: the storage's
    /// `resourcegroup`).
    #[arg(long)]
    resource_group: Option<String>,
    /// Hand the volume to Docker under this volume name.
    #[arg(long, value_name = "NAME")]
    docker_name: Option<String>,
    /// Create the node interfaces the peers' addresses need (and name them in PrefNic / Paths)
    /// instead of reporting them as problems.
    #[arg(long)]
    create_net_interfaces: bool,
    /// Accept that this setting of the configuration is not carried (its id as the plan lists
    /// it, e.g. `startup/wfc-timeout`); repeat for each.
    #[arg(long, value_name = "SETTING")]
    drop: Vec<String>,
    /// Perform the calls (default: only print them).
    #[arg(long)]
    apply: bool,
    /// Controllers (comma-separated); default from LS_CONTROLLERS or linstor-client.conf.
    #[arg(long)]
    controllers: Option<String>,
    /// Seconds to wait for each controller answer.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

fn key_value<'a>(text: &'a str, what: &str) -> anyhow::Result<(&'a str, &'a str)> {
    text.split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .with_context(|| format!("invalid {what} '{text}'"))
}

/// Options, plus a size given without a volume number.
fn adopt_options(args: &AdoptArgs) -> anyhow::Result<(adopt::Options, Option<u64>)> {
    let mut sizes = BTreeMap::new();
    for s in &args.size {
        let (vol, bytes) = match s.split_once('=') {
            Some((v, b)) => (
                Some(
                    v.parse::<u32>()
                        .with_context(|| format!("invalid volume number in --size {s}"))?,
                ),
                b,
            ),
            None => (None, s.as_str()),
        };
        let bytes: u64 = bytes.parse().with_context(|| {
            format!(
                "invalid --size {s}: give the size in bytes, as `blockdev --getsize64` prints it"
            )
        })?;
        sizes.insert(vol, bytes);
    }
    let mut nodes = BTreeMap::new();
    for p in &args.node_pool {
        let (n, pool) = key_value(p, "--node-pool (use NODE=POOL)")?;
        nodes.insert(n.to_string(), pool.to_string());
    }
    let mut floating = BTreeMap::new();
    for p in &args.floating_node {
        let (ip, n) = key_value(p, "--floating-node (use IP=NODE)")?;
        floating.insert(ip.trim_matches(['[', ']']).to_string(), n.to_string());
    }
    let owner = match (args.proxmox_vmid, &args.docker_name) {
        (Some(vmid), _) => Some(Owner::Proxmox { vmid }),
        (None, Some(name)) => Some(Owner::Docker { name: name.clone() }),
        (None, None) => None,
    };
    let mut opts = adopt::Options {
        name: args.name.clone(),
        peer_slots: args.peer_slots,
        storage_pool: args.storage_pool.clone(),
        node_pools: nodes,
        floating_nodes: floating,
        allow_larger_volume_size: args.allow_larger_volume_size,
        owner,
        resource_group: args.resource_group.clone(),
        create_net_interfaces: args.create_net_interfaces,
        drop: args.drop.iter().cloned().collect(),
        ..Default::default()
    };
    let mut single = None;
    for (vol, bytes) in sizes {
        match vol {
            Some(v) => {
                opts.sizes.insert(v, bytes);
            }
            None => single = Some(bytes),
        }
    }
    Ok((opts, single))
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the DRBD configuration from stdin")?;
        return Ok(s);
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the DRBD configuration {}", path.display()))
}

async fn run_adopt(args: AdoptArgs) -> anyhow::Result<ExitCode> {
    let path = args
        .res
        .as_deref()
        .or(args.dump.as_deref())
        .context("give --res FILE or --dump FILE")?;
    let text = read_input(path)?;
    let res = adopt::parse_resource(&text, args.resource.as_deref())?;
    let (mut opts, single) = adopt_options(&args)?;
    if let Some(bytes) = single {
        let numbers: std::collections::BTreeSet<u32> = res
            .hosts
            .iter()
            .flat_map(|h| h.volumes.keys().copied())
            .collect();
        match numbers.iter().collect::<Vec<_>>().as_slice() {
            [nr] => {
                opts.sizes.insert(**nr, bytes);
            }
            _ => bail!(
                "'{}' has {} volumes; give each size as --size VOLUME=BYTES",
                res.name,
                numbers.len()
            ),
        }
    }
    opts.sizes = adopt::net_sizes(&res, &opts.sizes, &RealHost)?;
    let client_cfg = ClientConfig::discover(
        &Overlay::controllers(args.controllers.as_deref()),
        &Sources::system(),
    )
    .map(|mut c| {
        c.request_timeout = Duration::from_secs(args.timeout.max(1));
        c
    })
    .map_err(anyhow::Error::msg)
    .context("invalid controller list")?;
    let client = Client::new(client_cfg).context("cannot set up the LINSTOR client")?;
    opts.net_interfaces = client
        .nodes()
        .await
        .context("cannot read the nodes' interfaces from the LINSTOR controller")?
        .into_iter()
        .map(|n| (n.name, n.net_interfaces))
        .collect();
    let plan = adopt::plan(&res, &opts)?;
    println!(
        "adopt DRBD resource '{}' as LINSTOR resource definition '{}' ({} calls):",
        plan.drbd_name,
        plan.name,
        plan.steps.len()
    );
    for (i, step) in plan.steps.iter().enumerate() {
        println!("{:>2}. {}", i + 1, step.call);
        println!("    why: {}", step.why);
    }
    if args.res.is_some() && res.common.is_empty() {
        println!(
            "note: only {} was read; options of a `common` section elsewhere (/etc/drbd.d/global_common.conf) apply to this resource too: give `drbdadm dump` output with --dump to carry them",
            path.display()
        );
    }
    println!(
        "settings of the configuration ({}, {} not carried):",
        plan.settings.len(),
        plan.settings
            .iter()
            .filter(|s| matches!(s.fate, adopt::Fate::Lost(_)))
            .count()
    );
    for s in &plan.settings {
        let accepted = if plan.dropped.contains(&s.id) {
            " [accepted with --drop]"
        } else {
            ""
        };
        println!("  {s}{accepted}");
    }
    if !args.apply {
        let problems = adopt::preflight(&client, &plan)
            .await
            .context("cannot check the plan against the LINSTOR controller")?;
        if problems.is_empty() {
            println!("checks passed: the names are free, the nodes and storage pools exist, the addresses are the nodes' interfaces, every setting is carried or accepted with --drop");
            println!("dry run: nothing changed; stop the satellites of these nodes, move the old .res file away and run again with --apply");
            return Ok(ExitCode::SUCCESS);
        }
        for p in &problems {
            println!("problem: {p}");
        }
        println!(
            "dry run: {} problem(s) to fix before --apply",
            problems.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    let total = plan.steps.len();
    adopt::apply(&client, &plan, |i, _| {
        println!("done {}/{total}", i + 1);
    })
    .await?;
    println!(
        "adopted '{}': start the satellites; they take over the running DRBD resource{}",
        plan.name,
        if plan.name == plan.drbd_name {
            String::new()
        } else {
            format!(" (renamed: `drbdadm down {}` first)", plan.drbd_name)
        }
    );
    Ok(ExitCode::SUCCESS)
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
        sources: system_sources(platform),
        env: ls_env(),
    };
    let resolved = resolve(&settings, &files);
    let client = resolved.client.clone().map(|mut c| {
        c.request_timeout = Duration::from_secs(common.timeout.max(1));
        c
    });
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
                "client configuration",
                format!("the plugin would refuse it: {e}"),
                "correct the setting named above; controllers are written as host, host:port, http(s)://host:port, linstor://host or linstor+ssl://host, comma-separated",
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
        .context("invalid client configuration")?;
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
            Cmd::Adopt(a) => run_adopt(a).await,
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
