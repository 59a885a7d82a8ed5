//! `linstor-bench`: wall time, REST round trips and peak RSS of every frontend operation users
//! wait on, through the real release binaries against the in-process simulator with added
//! latency, side by side with the same LINSTOR work through python-linstor (one process per
//! action); plus list/status/`Get`/`List` with thousands of volumes; with `--pve-peer`, every
//! Proxmox row also through LINBIT's own Proxmox plugin. Writes a markdown report.
//! Run it with `scripts/bench.sh` (see BENCHMARKS.md).

mod measure;
mod ops;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use linstor_tests::sim::{Backing, Sim, SimConfig};
use serde_json::json;

use measure::{Runner, Summary, WRAPPER_FLAG};
use ops::{Bench, Docker, One, Pve, PveMode, PvePlugin, Row};

/// Benchmark of the three frontends against python-linstor.
#[derive(Debug, Parser)]
#[command(name = "linstor-bench")]
struct Args {
    /// Directory of the release binaries linstor-pve, linstor-one, linstor-docker-volume.
    #[arg(long)]
    bin_dir: PathBuf,
    /// Python interpreter of a venv that has python-linstor.
    #[arg(long)]
    python: PathBuf,
    /// The python-linstor side (tests/bench/peer.py).
    #[arg(long)]
    peer: PathBuf,
    /// Added latency per REST request, in ms (each value is a separate run).
    #[arg(long, value_delimiter = ',', default_value = "0,2")]
    latency_ms: Vec<u64>,
    /// Invocations per operation.
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Cluster populations for the scale rows.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    scale: Vec<usize>,
    /// Few runs and a small population, for iterating on the harness.
    #[arg(long)]
    quick: bool,
    /// Where to write the markdown table (stdout always gets it too).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the REST routes each operation called.
    #[arg(long)]
    routes: bool,
    /// Only the scale rows.
    #[arg(long)]
    only_scale: bool,
    /// Only the OpenNebula operation rows (no scale rows, no loop devices or mounts).
    #[arg(long)]
    only_opennebula: bool,
    /// Only the Proxmox rows (operations and scale; no loop devices or mounts).
    #[arg(long, conflicts_with = "only_opennebula")]
    only_proxmox: bool,
    /// A checkout of LINBIT's linstor-proxmox (`LINSTORPlugin.pm`, `LINBIT/*.pm`): every Proxmox
    /// row also runs that plugin doing the same PVE call, reported in a second table.
    #[arg(long, value_name = "DIR")]
    pve_peer: Option<PathBuf>,
    /// Exit with status 2 when a row's round trips differ from the expected ones, or its ssh
    /// connections exceed the better peer's.
    #[arg(long)]
    strict: bool,
}

fn main() -> std::process::ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(WRAPPER_FLAG) {
        return match measure::wrapper_main(&argv[2..]) {
            Ok(code) => std::process::ExitCode::from(code.clamp(0, 255) as u8),
            Err(e) => {
                eprintln!("linstor-bench: {e:#}");
                std::process::ExitCode::from(125)
            }
        };
    }
    let mut args = Args::parse();
    for p in [&mut args.bin_dir, &mut args.python, &mut args.peer]
        .into_iter()
        .chain(args.pve_peer.as_mut())
    {
        if let Ok(abs) = std::path::absolute(&*p) {
            *p = abs;
        }
    }
    if args.quick {
        args.runs = args.runs.min(3);
        args.scale = vec![200];
    }
    match run(&args) {
        Ok(m) if m > 0 && args.strict => {
            eprintln!("linstor-bench: {m} row(s) with unexpected round trips (marked ✗)");
            std::process::ExitCode::from(2)
        }
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("linstor-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Nodes for `volumes` one-replica volumes: the simulator gives each node 1,000 DRBD ports.
fn nodes_for(volumes: usize) -> Vec<String> {
    (1..=(volumes / 500 + 1).max(3))
        .map(|i| format!("n{i}"))
        .collect()
}

/// Spawns `count` volumes in-process: `name(i)` with `props(i)`, one replica each, round-robin.
fn seed(
    sim: &Sim,
    nodes: &[String],
    count: usize,
    name: impl Fn(usize) -> String,
    props: impl Fn(usize) -> serde_json::Value,
) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::with_capacity(count);
    for i in 0..count {
        let n = name(i);
        let body = json!({
            "resource_definition_name": n,
            "volume_sizes": [4096],
            "resource_definition_props": props(i),
            "select_filter": {"place_count": 1, "node_name_list": [nodes[i % nodes.len()]]},
        });
        let (status, reply) = sim.call(
            "POST",
            "/v1/resource-groups/DfltRscGrp/spawn",
            body.to_string().as_bytes(),
        );
        if status >= 300 {
            bail!("seeding {n}: {status} {reply:?}");
        }
        names.push(n);
    }
    Ok(names)
}

fn start_sim(
    rt: &tokio::runtime::Runtime,
    nodes: Vec<String>,
    backing: Backing,
    latency_ms: u64,
    dir: &std::path::Path,
) -> anyhow::Result<Sim> {
    rt.block_on(Sim::start(SimConfig {
        nodes,
        backing,
        data_dir: Some(dir.join("sim")),
        pool_size_gib: 100_000,
        clone_delay: Duration::from_millis(20),
        latency: Duration::from_millis(latency_ms),
        ..Default::default()
    }))
}

/// Our Proxmox plugin in `mode`, and LINBIT's from `peer_dir` beside it.
fn pve_pair<'a>(
    b: &'a Bench<'a>,
    mode: PveMode,
    peer_dir: Option<&std::path::Path>,
) -> anyhow::Result<(Pve<'a>, Option<Pve<'a>>)> {
    let ours = Pve::new(b, mode, PvePlugin::Ours)?;
    let peer = peer_dir
        .map(|d| Pve::new(b, mode, PvePlugin::Linbit(d.to_path_buf())))
        .transpose()
        .context("LINBIT's Proxmox plugin (--pve-peer)")?;
    Ok((ours, peer))
}

fn run(args: &Args) -> anyhow::Result<usize> {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let tmp = tempfile::Builder::new().prefix("linstor-bench").tempdir()?;
    let runner = Runner {
        me: std::env::current_exe().context("own path")?,
        report: tmp.path().join("child-report"),
    };
    for b in ["linstor-pve", "linstor-one", "linstor-docker-volume"] {
        if !args.bin_dir.join(b).is_file() {
            bail!(
                "{} is missing: build the release binaries first (scripts/bench.sh does)",
                args.bin_dir.join(b).display()
            );
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut notes = Vec::new();
    let op_latencies: &[u64] = if args.only_scale {
        &[]
    } else {
        &args.latency_ms
    };
    for &lat in op_latencies {
        let dir = tmp.path().join(format!("ops-{lat}ms"));
        let nodes = ["n1", "n2", "n3", "s1", "s2"].map(String::from).to_vec();
        let sim = start_sim(&rt, nodes, Backing::File, lat, &dir)?;
        let b = Bench {
            sim: &sim,
            runner: &runner,
            bin_dir: &args.bin_dir,
            python: &args.python,
            peer: &args.peer,
            tmp: &dir,
            runs: args.runs,
            latency_ms: lat,
            volumes: 0,
        };
        eprintln!(
            "[{:>4.0}s] operations at {lat} ms added latency",
            started.elapsed().as_secs_f64()
        );
        if !args.only_opennebula {
            for mode in [PveMode::PerCall, PveMode::LongLived] {
                let (pve, peer) = pve_pair(&b, mode, args.pve_peer.as_deref())?;
                rows.extend(pve.ops(peer.as_ref()).context("Proxmox operations")?);
            }
        }
        if !args.only_proxmox {
            rows.extend(One::new(&b)?.ops().context("OpenNebula operations")?);
        }
        if !args.only_opennebula && !args.only_proxmox {
            let d = Docker::start(&b)?;
            rows.extend(d.ops().context("Docker operations")?);
        }
        rt.block_on(sim.stop());
    }
    let lat = args.latency_ms.iter().copied().max().unwrap_or(0);
    let scale: &[usize] = if args.only_opennebula {
        &[]
    } else {
        &args.scale
    };
    let platforms: &[&str] = if args.only_proxmox {
        &["Proxmox"]
    } else {
        &["Proxmox", "Docker"]
    };
    for &n in scale {
        for &platform in platforms {
            let dir = tmp.path().join(format!("scale-{platform}-{n}"));
            let nodes = nodes_for(n);
            let sim = start_sim(&rt, nodes.clone(), Backing::None, lat, &dir)?;
            let t = Instant::now();
            let names = if platform == "Proxmox" {
                seed(
                    &sim,
                    &nodes,
                    n,
                    |i| format!("pm-{i:08x}"),
                    |i| {
                        json!({"Aux/pm/vmid": (100 + i % 100).to_string(),
                               "Aux/linstor-plugins/created": (1_700_000_000_000 + i).to_string()})
                    },
                )?
            } else {
                seed(
                    &sim,
                    &nodes,
                    n,
                    |i| format!("seed{i:05}"),
                    |i| {
                        json!({"Aux/is-linstor-docker-volume": "true",
                           "Aux/docker-volume-name": format!("seed{i:05}"),
                           "FileSystem/Type": "ext4"})
                    },
                )?
            };
            eprintln!(
                "[{:>4.0}s] {platform}: seeded {n} volumes in {:.1} s",
                started.elapsed().as_secs_f64(),
                t.elapsed().as_secs_f64()
            );
            let b = Bench {
                sim: &sim,
                runner: &runner,
                bin_dir: &args.bin_dir,
                python: &args.python,
                peer: &args.peer,
                tmp: &dir,
                runs: args.runs,
                latency_ms: lat,
                volumes: n,
            };
            if platform == "Proxmox" {
                for mode in [PveMode::PerCall, PveMode::LongLived] {
                    let (pve, peer) = pve_pair(&b, mode, args.pve_peer.as_deref())?;
                    rows.extend(pve.list(peer.as_ref(), false)?);
                    rows.push(pve.status_at_scale(peer.as_ref())?);
                }
            } else {
                let d = Docker::start(&b)?;
                rows.extend(d.scale(&names)?);
            }
            let t = Instant::now();
            sim.call("GET", "/v1/resource-definitions", b"");
            notes.push(format!(
                "{platform} at {n} volumes: the simulator renders all resource definitions in {:.1} ms",
                t.elapsed().as_secs_f64() * 1000.0
            ));
            rt.block_on(sim.stop());
        }
    }
    let (table, mismatches) = render(&rows, args.routes);
    let mut md = table;
    if args.pve_peer.is_some() {
        md.push_str(&render_peer(&rows, args.routes));
    }
    for n in &notes {
        let _ = writeln!(md, "- {n}");
    }
    let _ = writeln!(
        md,
        "\nTotal run time {:.0} s, {} invocations per operation.",
        started.elapsed().as_secs_f64(),
        args.runs
    );
    println!("{md}");
    if let Some(out) = &args.out {
        std::fs::write(out, &md).with_context(|| format!("write {}", out.display()))?;
    }
    Ok(mismatches)
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

fn spread(s: &Summary) -> String {
    format!("{} ({}–{})", ms(s.p50), ms(s.p10), ms(s.p90))
}

fn mib(kib: u64) -> String {
    if kib == 0 {
        "–".into()
    } else {
        format!("{:.1}", kib as f64 / 1024.0)
    }
}

fn render(rows: &[Row], routes: bool) -> (String, usize) {
    let mut md = String::new();
    let mut bad = 0;
    let _ = writeln!(md, "| platform | operation | volumes | added latency | ours ms p50 (p10–p90) | controller ms | ours − controller ms | round trips (expected) | ssh connections (better peer) | peak RSS MiB | python-linstor ms p50 (p10–p90) | their round trips | their peak RSS MiB | ours / theirs |");
    let _ = writeln!(
        md,
        "|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let o = &r.ours;
        let ok = o.trips_min >= r.expected.0 && o.trips_max <= r.expected.1;
        let ssh = match r.ssh {
            Some(c) => {
                let n = if c.min == c.max {
                    c.max.to_string()
                } else {
                    format!("{}–{}", c.min, c.max)
                };
                let mark = if c.max <= c.peer { "✓" } else { "✗" };
                if c.max > c.peer {
                    bad += 1;
                }
                format!("{n} {mark} ({})", c.peer)
            }
            None => "–".into(),
        };
        if !ok {
            bad += 1;
        }
        let (theirs, ttrips, trss, ratio) = match &r.theirs {
            Some(t) => (
                spread(t),
                t.trips(),
                mib(t.rss_kib),
                format!("{:.2}", o.p50 / t.p50),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} ms | {} | {} | {} | {} {} ({}: {}) | {ssh} | {} | {theirs} | {ttrips} | {trss} | {ratio} |",
            r.platform,
            r.op,
            r.volumes,
            r.latency_ms,
            spread(o),
            ms(o.server_p50),
            ms(o.own_p50),
            o.trips(),
            if ok { "✓" } else { "✗" },
            if r.expected.0 == r.expected.1 {
                r.expected.0.to_string()
            } else {
                format!("{}–{}", r.expected.0, r.expected.1)
            },
            r.expected.2,
            mib(o.rss_kib),
        );
        if routes {
            eprintln!(
                "{} {} @{}: ours {:?}",
                r.platform, r.op, r.volumes, o.routes
            );
            if let Some(t) = &r.theirs {
                eprintln!(
                    "{} {} @{}: theirs {:?}",
                    r.platform, r.op, r.volumes, t.routes
                );
            }
        }
    }
    (md, bad)
}

/// The Proxmox rows that also ran LINBIT's plugin, ours and theirs side by side.
fn render_peer(rows: &[Row], routes: bool) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "\n### Proxmox beside LINBIT's plugin\n");
    let _ = writeln!(md, "| operation | volumes | added latency | ours ms p50 (p10–p90) | ours controller ms | ours − controller ms | ours round trips | ours process starts | LINBIT ms p50 (p10–p90) | LINBIT controller ms | LINBIT − controller ms | LINBIT round trips | LINBIT process starts | ours / LINBIT |");
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let Some(peer) = &r.peer else { continue };
        let o = &r.ours;
        let theirs = match peer {
            Ok(l) => format!(
                "{} | {} | {} | {} | {} | {:.2}",
                spread(l),
                ms(l.server_p50),
                ms(l.own_p50),
                l.trips(),
                l.starts(),
                o.p50 / l.p50
            ),
            Err(e) => {
                let e = e.lines().next().unwrap_or_default().replace('|', "\\|");
                format!("{e} | – | – | – | – | –")
            }
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} ms | {} | {} | {} | {} | {} | {theirs} |",
            r.op,
            r.volumes,
            r.latency_ms,
            spread(o),
            ms(o.server_p50),
            ms(o.own_p50),
            o.trips(),
            o.starts(),
        );
        if routes {
            if let Ok(l) = peer {
                eprintln!(
                    "{} {} @{}: LINBIT {:?}",
                    r.platform, r.op, r.volumes, l.routes
                );
            }
        }
    }
    md
}
