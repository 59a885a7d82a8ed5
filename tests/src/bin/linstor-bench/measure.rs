//! Samples of one operation and their summary: wall time through a measuring wrapper process
//! (the child's own peak RSS from `getrusage(RUSAGE_CHILDREN)`), REST round trips and
//! simulator time from its counters.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use linstor_tests::sim::Sim;

/// First argument that turns `linstor-bench` into the measuring wrapper.
pub const WRAPPER_FLAG: &str = "--measure-child";

/// One invocation.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub wall: Duration,
    pub trips: u64,
    pub server: Duration,
    /// Time in which the simulator held at least one of its requests for the answer, injected
    /// latency included.
    pub held: Duration,
    pub rss_kib: u64,
    pub routes: Vec<String>,
    /// Processes the measured code started itself (the Proxmox plugins report theirs).
    pub starts: u64,
}

/// Wrapper mode: `linstor-bench --measure-child REPORT PROG ARGS...` runs PROG with the
/// inherited stdio and environment and writes `wall_ns rss_kib` to REPORT; exits with PROG's
/// code.
pub fn wrapper_main(args: &[String]) -> anyhow::Result<i32> {
    let [report, prog, rest @ ..] = args else {
        bail!("usage: linstor-bench {WRAPPER_FLAG} REPORT PROG [ARGS...]");
    };
    let t = Instant::now();
    let status = Command::new(prog)
        .args(rest)
        .status()
        .with_context(|| format!("run {prog}"))?;
    let wall = t.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    std::fs::write(report, format!("{} {}\n", wall.as_nanos(), usage.max_rss()))?;
    Ok(status.code().unwrap_or(128))
}

/// Runs commands under the wrapper and reads the simulator's counters around them.
#[derive(Debug)]
pub struct Runner {
    pub me: PathBuf,
    pub report: PathBuf,
}

impl Runner {
    /// Runs `prog args` with `env` and `stdin`; returns the sample and stdout.
    pub fn run(
        &self,
        sim: &Sim,
        prog: &Path,
        args: &[String],
        env: &[(String, String)],
        stdin: &[u8],
    ) -> anyhow::Result<(Sample, String)> {
        sim.reset_stats();
        let mut child = Command::new(&self.me)
            .arg(WRAPPER_FLAG)
            .arg(&self.report)
            .arg(prog)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawn {}", prog.display()))?;
        if let Some(mut si) = child.stdin.take() {
            si.write_all(stdin)?;
        }
        let out = child.wait_with_output()?;
        let trips = sim.request_count();
        let server = sim.server_time();
        let held = sim.held_time();
        let routes = sim
            .stats()
            .into_iter()
            .map(|(k, v)| format!("{v}x {k}"))
            .collect();
        if !out.status.success() {
            bail!(
                "{} {} failed ({}): {}{}",
                prog.display(),
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let rep = std::fs::read_to_string(&self.report)?;
        let mut it = rep.split_whitespace().map(str::parse::<u64>);
        let (Some(Ok(ns)), Some(Ok(rss))) = (it.next(), it.next()) else {
            bail!("bad wrapper report '{rep}'");
        };
        Ok((
            Sample {
                wall: Duration::from_nanos(ns),
                trips,
                server,
                held,
                rss_kib: rss,
                routes,
                starts: 0,
            },
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ))
    }
}

/// Times an in-process action (a request to a daemon) with the simulator's counters.
pub fn timed<T>(sim: &Sim, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(Sample, T)> {
    sim.reset_stats();
    let t = Instant::now();
    let v = f()?;
    let wall = t.elapsed();
    let routes = sim
        .stats()
        .into_iter()
        .map(|(k, v)| format!("{v}x {k}"))
        .collect();
    Ok((
        Sample {
            wall,
            trips: sim.request_count(),
            server: sim.server_time(),
            held: sim.held_time(),
            rss_kib: 0,
            routes,
            starts: 0,
        },
        v,
    ))
}

/// Summary of the samples of one side of a row.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
    pub server_p50: f64,
    /// Median over the invocations of wall time − time the simulator held a request of it:
    /// the frontend's own cost.
    pub own_p50: f64,
    pub trips_min: u64,
    pub trips_max: u64,
    pub rss_kib: u64,
    pub routes: Vec<String>,
    pub starts_min: u64,
    pub starts_max: u64,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

impl Summary {
    pub fn of(samples: &[Sample]) -> Summary {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let mut wall: Vec<f64> = samples.iter().map(|s| ms(s.wall)).collect();
        wall.sort_by(f64::total_cmp);
        let mut server: Vec<f64> = samples.iter().map(|s| ms(s.server)).collect();
        server.sort_by(f64::total_cmp);
        let mut own: Vec<f64> = samples
            .iter()
            .map(|s| ms(s.wall.saturating_sub(s.held)))
            .collect();
        own.sort_by(f64::total_cmp);
        Summary {
            p10: pct(&wall, 0.1),
            p50: pct(&wall, 0.5),
            p90: pct(&wall, 0.9),
            server_p50: pct(&server, 0.5),
            own_p50: pct(&own, 0.5),
            trips_min: samples.iter().map(|s| s.trips).min().unwrap_or(0),
            trips_max: samples.iter().map(|s| s.trips).max().unwrap_or(0),
            rss_kib: samples.iter().map(|s| s.rss_kib).max().unwrap_or(0),
            routes: samples.last().map(|s| s.routes.clone()).unwrap_or_default(),
            starts_min: samples.iter().map(|s| s.starts).min().unwrap_or(0),
            starts_max: samples.iter().map(|s| s.starts).max().unwrap_or(0),
        }
    }

    /// Round trips as `n` or `min–max` when they varied.
    pub fn trips(&self) -> String {
        range(self.trips_min, self.trips_max)
    }

    /// Process starts per invocation, as `n` or `min–max` when they varied.
    pub fn starts(&self) -> String {
        range(self.starts_min, self.starts_max)
    }
}

fn range(min: u64, max: u64) -> String {
    if min == max {
        min.to_string()
    } else {
        format!("{min}–{max}")
    }
}

/// Peak resident set of a running process (`VmHWM`), in KiB.
pub fn vm_hwm_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
