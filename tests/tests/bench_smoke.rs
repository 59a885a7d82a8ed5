//! Smoke run of `linstor-bench` (one invocation per operation, 50 volumes) so the harness keeps
//! working; the figures themselves come from `scripts/bench.sh`. Needs the frontend binaries
//! built next to it, a python with python-linstor (`LINSTOR_BENCH_PYTHON`, else the venv of
//! `scripts/bench.sh` or of the conformance run) and root (Docker Mount runs mkfs and mount);
//! skipped when one is missing. The Proxmox-only run also measures LINBIT's own Proxmox plugin
//! beside ours when `LINSTOR_BENCH_PVE_PEER` names a checkout of it (never fetched by the suite).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The bench binary, the directory of the frontend binaries, and a python with python-linstor;
/// `None` (after printing why) when one is missing.
fn prerequisites() -> Option<(PathBuf, PathBuf, PathBuf)> {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_linstor-bench"));
    let bin_dir = bench.parent().expect("binary directory").to_path_buf();
    let missing: Vec<&str> = ["linstor-pve", "linstor-one", "linstor-docker-volume"]
        .into_iter()
        .filter(|b| !bin_dir.join(b).is_file())
        .collect();
    let python = std::env::var_os("LINSTOR_BENCH_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            ["../bench-venv/bin/python", "../conformance-venv/bin/python"]
                .into_iter()
                .map(|p| bin_dir.join(p))
                .find(|p| p.is_file())
        });
    let Some(python) = python.filter(|p| p.is_file()) else {
        eprintln!("SKIP: no python with python-linstor (set LINSTOR_BENCH_PYTHON)");
        return None;
    };
    if !missing.is_empty() || !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: needs root and {missing:?} in {}", bin_dir.display());
        return None;
    }
    Some((bench, bin_dir, python))
}

/// The cells of the first line of `md` that starts with `prefix`.
fn row<'m>(md: &'m str, prefix: &str) -> Vec<&'m str> {
    let line = md
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no row '{prefix}' in\n{md}"));
    line.split('|').map(str::trim).collect()
}

fn leading_number(cell: &str) -> Option<f64> {
    cell.split_whitespace().next()?.parse().ok()
}

#[test]
fn harness_fills_every_row() {
    let Some((bench, bin_dir, python)) = prerequisites() else {
        return;
    };
    let out_dir = tempfile::tempdir().expect("tmp");
    let table = out_dir.path().join("bench.md");
    let peer = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/peer.py");
    let out = Command::new(&bench)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--python")
        .arg(&python)
        .arg("--peer")
        .arg(&peer)
        .args(["--runs", "1", "--scale", "50", "--latency-ms", "0", "--out"])
        .arg(&table)
        .output()
        .expect("run linstor-bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(&table).expect("table written");
    for op in [
        "| Proxmox | status (cache fresh, 0 process starts), one process per call | 0 |",
        "| Proxmox | status (cache fresh, 0 process starts), long-lived process | 0 |",
        "| Proxmox | status (cache expired), one process per call | 0 |",
        "| Proxmox | status (cache expired), long-lived process | 0 |",
        "| Proxmox | alloc_image, one process per call |",
        "| Proxmox | alloc_image, long-lived process |",
        "| Proxmox | activate_volume (diskless attach), one process per call",
        "| Proxmox | activate_volume (diskless attach), long-lived process",
        "| Proxmox | deactivate_volume (diskless removed), one process per call",
        "| Proxmox | deactivate_volume (diskless removed), long-lived process",
        "| Proxmox | list_images, one process per call | 0 |",
        "| Proxmox | list_images, long-lived process | 0 |",
        "| Proxmox | list_images, one process per call | 50 |",
        "| Proxmox | list_images, long-lived process | 50 |",
        "| OpenNebula | cp",
        "| OpenNebula | clone |",
        "| OpenNebula | ln |",
        "| OpenNebula | premigrate",
        "| OpenNebula | mv ",
        "| OpenNebula | delete ",
        "| OpenNebula | monitor",
        "| Docker | Create",
        "| Docker | Mount",
        "| Docker | Unmount |",
        "| Docker | Get | 50 |",
        "| Docker | List | 50 |",
    ] {
        let line = md
            .lines()
            .find(|l| l.starts_with(op))
            .unwrap_or_else(|| panic!("no row '{op}' in\n{md}"));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert!(
            cells[5]
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .is_some_and(|v| v > 0.0),
            "no wall time in {line}"
        );
        assert!(
            cells[8].starts_with(|c: char| c.is_ascii_digit()),
            "no round-trip count in {line}"
        );
        if op.starts_with("| OpenNebula") {
            assert!(
                cells[9].starts_with(|c: char| c.is_ascii_digit()) && cells[9].contains('✓'),
                "ssh connections missing or above the better peer's in {line}"
            );
        }
    }
}

const PROXMOX_OPS: &[&str] = &[
    "status (cache fresh, 0 process starts)",
    "status (cache expired)",
    "alloc_image",
    "activate_volume (diskless attach)",
    "deactivate_volume (diskless removed)",
    "list_images",
];

#[test]
fn only_proxmox_and_linbit_peer() {
    let Some((bench, bin_dir, python)) = prerequisites() else {
        return;
    };
    let peer_dir = std::env::var_os("LINSTOR_BENCH_PVE_PEER").map(PathBuf::from);
    if peer_dir.is_none() {
        eprintln!(
            "SKIP (LINBIT part only): LINSTOR_BENCH_PVE_PEER does not name a checkout of \
             LINBIT's linstor-proxmox; running --only-proxmox without it"
        );
    }
    let out_dir = tempfile::tempdir().expect("tmp");
    let table = out_dir.path().join("bench.md");
    let peer = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/peer.py");
    let mut cmd = Command::new(&bench);
    cmd.arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--python")
        .arg(&python)
        .arg("--peer")
        .arg(&peer)
        .args(["--only-proxmox", "--runs", "2", "--scale", "50"])
        .args(["--latency-ms", "0", "--out"])
        .arg(&table);
    if let Some(d) = &peer_dir {
        cmd.arg("--pve-peer").arg(d);
    }
    let out = cmd.output().expect("run linstor-bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(&table).expect("table written");
    assert!(
        !md.lines()
            .any(|l| l.starts_with("| Docker") || l.starts_with("| OpenNebula")),
        "--only-proxmox ran other platforms:\n{md}"
    );
    for mode in ["one process per call", "long-lived process"] {
        for op in PROXMOX_OPS {
            row(&md, &format!("| Proxmox | {op}, {mode} | 0 |"));
        }
        for op in ["list_images", "status (cache expired)"] {
            row(&md, &format!("| Proxmox | {op}, {mode} | 50 |"));
        }
    }
    let Some(_) = peer_dir else {
        assert!(
            !md.contains("beside LINBIT"),
            "a LINBIT table without --pve-peer"
        );
        return;
    };
    let beside = &md[md
        .find("### Proxmox beside LINBIT's plugin")
        .expect("LINBIT table")..];
    for mode in ["one process per call", "long-lived process"] {
        for (op, volumes) in PROXMOX_OPS
            .iter()
            .map(|op| (*op, 0))
            .chain([("list_images", 50), ("status (cache expired)", 50)])
        {
            let cells = row(beside, &format!("| {op}, {mode} | {volumes} |"));
            assert!(
                leading_number(cells[9]).is_some_and(|v| v > 0.0),
                "LINBIT's plugin did not do {op} ({mode}): {}",
                cells[9]
            );
            assert!(
                leading_number(cells[12]).is_some(),
                "no LINBIT round trips for {op} ({mode}): {}",
                cells[12]
            );
            let warm = op.starts_with("status (cache fresh");
            assert_eq!(
                cells[12] == "0",
                warm,
                "LINBIT's {op} ({mode}) made {} round trips",
                cells[12]
            );
        }
    }
}
