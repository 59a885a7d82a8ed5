//! `linstor-sim`: run the LINSTOR controller simulator.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use linstor_tests::sim::{Backing, Sim, SimConfig, TlsConfig};
use tokio::signal::unix::{signal, SignalKind};

/// LINSTOR controller simulator (REST API 1.28.0).
#[derive(Debug, Parser)]
#[command(name = "linstor-sim")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:3370")]
    listen: SocketAddr,
    /// Comma-separated satellite node names.
    #[arg(long, value_delimiter = ',', default_value = "n1,n2,n3")]
    nodes: Vec<String>,
    /// Volume backing: loop (root), file or none.
    #[arg(long, default_value = "none")]
    backing: Backing,
    /// Directory of per-node device roots (`DIR/<node>/drbd/by-res/...`).
    #[arg(long)]
    dev_dir: Option<PathBuf>,
    /// Directory for volume and snapshot files.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// State file, loaded at start and saved after every change.
    #[arg(long = "state")]
    state: Option<PathBuf>,
    /// Name of the diskful storage pool on every node.
    #[arg(long, default_value = "DfltStorPool")]
    pool_name: String,
    /// Capacity of each node's diskful pool in GiB.
    #[arg(long, default_value_t = 100)]
    pool_size_gib: u64,
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA.
    #[arg(long)]
    tls_client_ca: Option<PathBuf>,
    /// Require `Authorization: Bearer TOKEN`.
    #[arg(long)]
    token: Option<String>,
    /// Require HTTP basic auth `USER:PASSWORD` (LINSTOR with LDAP enabled).
    #[arg(long, value_name = "USER:PASSWORD")]
    basic_auth: Option<String>,
    /// Time a clone stays in CLONING.
    #[arg(long, default_value_t = 200)]
    clone_delay_ms: u64,
    /// Delay added to every API answer.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Controller version to report and emulate (e.g. 1.31.1: rollback only to the newest
    /// snapshot; before 1.34 make-available creates a voting diskless, not a DRBD client).
    #[arg(long = "version", default_value = linstor_tests::sim::core::DEFAULT_VERSION)]
    controller_version: String,
    /// Time a replica added to a definition with data stays SyncTarget.
    #[arg(long, default_value_t = linstor_tests::sim::core::DEFAULT_RESYNC_MS)]
    resync_ms: u64,
    /// Time a satellite takes to deploy a new resource (disk Inconsistent until then).
    #[arg(long, default_value_t = 0)]
    deploy_delay_ms: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let tls = match (a.tls_cert, a.tls_key) {
        (Some(cert), Some(key)) => Some(TlsConfig {
            cert,
            key,
            client_ca: a.tls_client_ca,
        }),
        (None, None) => None,
        _ => anyhow::bail!("--tls-cert and --tls-key must be given together"),
    };
    let basic_auth = match a.basic_auth.as_deref().map(|b| b.split_once(':')) {
        None => None,
        Some(Some((u, p))) if !u.is_empty() => Some((u.to_string(), p.to_string())),
        Some(_) => anyhow::bail!("--basic-auth takes USER:PASSWORD"),
    };
    let sim = Sim::start(SimConfig {
        listen: a.listen,
        nodes: a.nodes,
        backing: a.backing,
        dev_dir: a.dev_dir,
        data_dir: a.data_dir,
        state_file: a.state,
        pool_name: a.pool_name,
        pool_size_gib: a.pool_size_gib,
        tls,
        token: a.token,
        basic_auth,
        clone_delay: Duration::from_millis(a.clone_delay_ms),
        latency: Duration::from_millis(a.latency_ms),
        version: a.controller_version,
        resync: Duration::from_millis(a.resync_ms),
        deploy_delay: Duration::from_millis(a.deploy_delay_ms),
        ..Default::default()
    })
    .await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", sim.url())?;
        writeln!(out, "dev dir {}", sim.dev_dir().display())?;
        out.flush()?;
    }
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = usr1.recv() => sim.set_down(true),
            _ = usr2.recv() => sim.set_down(false),
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    sim.stop().await;
    Ok(())
}
