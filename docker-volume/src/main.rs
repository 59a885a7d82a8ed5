//! `linstor-docker-volume`: the Docker volume plugin daemon. Binds its socket first (or takes
//! it from systemd), then builds the LINSTOR client, reconciles local mounts and serves until
//! SIGTERM/SIGINT, removing the socket on exit.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use linstor_common::config::Sources;
use linstor_common::error::chain;
use linstor_common::host::RealHost;
use linstor_common::naming::Platform;
use linstor_common::volume::{Storage, StorageConfig};
use linstor_common::Client;
use linstor_docker_volume::options::{ClientFlags, FileConfig, CONFIG_FILE};
use linstor_docker_volume::{server, Driver, DriverConfig};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

/// Docker volume plugin serving LINSTOR/DRBD volumes.
#[derive(Debug, Parser)]
#[command(name = "linstor-docker-volume", version)]
struct Args {
    /// Plugin socket; the driver name is its file name without `.sock`.
    #[arg(long, default_value = "/run/docker/plugins/linstor.sock")]
    socket: PathBuf,
    /// LINSTOR controllers (comma-separated); overrides LS_CONTROLLERS and the config files.
    #[arg(long)]
    controllers: Option<String>,
    /// This node's LINSTOR node name (default: the host name).
    #[arg(long)]
    node: Option<String>,
    /// Mount reference counts and the volume cache.
    #[arg(long, default_value = "/var/lib/linstor-docker-volume")]
    state_dir: PathBuf,
    /// Option defaults and client settings (`[global]`).
    #[arg(long, default_value = CONFIG_FILE)]
    config: PathBuf,
    /// Where volumes are mounted (`<root>/<volume>`, Docker gets `<root>/<volume>/data`).
    #[arg(long, default_value = "/var/lib/docker-volumes/linstor")]
    mount_root: PathBuf,
    /// Root of the DRBD device links (`<dev-root>/drbd/by-res/<volume>/0`).
    #[arg(long, default_value = "/dev")]
    dev_root: PathBuf,
    /// Resource group volumes are spawned from unless `--opt resourcegroup` says otherwise.
    #[arg(long, default_value = "DfltRscGrp")]
    resource_group: String,
    /// Seconds `List` may answer from the volume cache, which is refreshed in the background
    /// at half this interval and at once by this daemon's Create, Remove and Mount; 0 lists
    /// from the controller on every call.
    #[arg(long, default_value_t = linstor_docker_volume::driver::DEFAULT_LIST_CACHE_TTL.as_secs())]
    list_cache_ttl: u64,
    /// Seconds a read (look-up, list) waits on one controller before the next is asked:
    /// 1 to 25, whole or decimal (default 5).
    #[arg(long, env = "LINSTOR_READ_TIMEOUT")]
    read_timeout: Option<String>,
    /// Seconds a change (create, delete, resize, attach) waits on the controller that took
    /// it: 5 to 80, whole or decimal (default 45).
    #[arg(long, env = "LINSTOR_CHANGE_TIMEOUT")]
    change_timeout: Option<String>,
}

fn hostname() -> anyhow::Result<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .context("cannot read the host name; pass --node")?;
    Ok(h.trim().to_string())
}

fn build(args: &Args) -> anyhow::Result<Driver> {
    let file = FileConfig::load(&args.config)?;
    let env = |k: &str| std::env::var(k).ok();
    let flags = ClientFlags {
        controllers: args.controllers.clone(),
        read_timeout: args.read_timeout.clone(),
        change_timeout: args.change_timeout.clone(),
    };
    let client_cfg = file
        .daemon_client_config(
            &flags,
            &env,
            &Sources::system(),
            Some(args.state_dir.clone()),
        )
        .with_context(|| format!("controller configuration ({})", args.config.display()))?;
    let client = Client::new(client_cfg).context("LINSTOR client")?;
    let node = match &args.node {
        Some(n) => n.clone(),
        None => hostname()?,
    };
    linstor_common::naming::validate_node_name(&node).context("--node")?;
    let mut scfg = StorageConfig::new(Platform::Docker, node);
    scfg.dev_root = args.dev_root.clone();
    scfg.resource_group = args.resource_group.clone();
    scfg.cache_dir = Some(args.state_dir.clone());
    let storage = Storage::new(scfg, client, Arc::new(RealHost));
    let mut dcfg = DriverConfig::new(args.mount_root.clone(), args.config.clone());
    dcfg.list_cache_ttl = std::time::Duration::from_secs(args.list_cache_ttl);
    Driver::new(storage, dcfg, &args.state_dir).map_err(anyhow::Error::from)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stdout)
        .init();
    let (listener, owned_socket) = match server::systemd_listener()? {
        Some(l) => {
            info!("using the socket passed by systemd");
            (l, None)
        }
        None => (server::bind(&args.socket)?, Some(args.socket.clone())),
    };
    info!(socket = %args.socket.display(), "listening");
    let result = run(&args, listener).await;
    if let Some(p) = owned_socket {
        let _ = std::fs::remove_file(&p);
    }
    result
}

async fn run(args: &Args, listener: tokio::net::UnixListener) -> anyhow::Result<()> {
    let driver = Arc::new(build(args)?);
    info!(
        node = %driver.storage().config().node,
        controllers = %driver.storage().client().controllers().join(","),
        "plugin ready"
    );
    let bg = driver.clone();
    tokio::spawn(async move {
        match bg.storage().nodes().await {
            Ok(nodes) => {
                let me = &bg.storage().config().node;
                if !nodes.iter().any(|n| n.name.eq_ignore_ascii_case(me)) {
                    warn!(node = %me, "this node name is unknown to LINSTOR; pass --node with the LINSTOR node name");
                }
            }
            Err(e) => warn!(error = %chain(&e), "cannot check the node name"),
        }
        if let Err(e) = bg.reconcile().await {
            error!(error = %chain(&e), "reconciling local mounts failed");
        }
        info!("start-up reconciliation done");
        let ttl = bg.config().list_cache_ttl;
        if ttl.is_zero() {
            return;
        }
        let mut tick = tokio::time::interval(ttl / 2);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = bg.refresh_volumes(Some(ttl / 2)).await {
                warn!(
                    error = %linstor_docker_volume::driver::linstor_message(&e),
                    "cannot refresh the volume cache"
                );
            }
        }
    });
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    server::serve(listener, driver, async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
    .await;
    info!("shutting down");
    Ok(())
}
