//! Smoke run of `linstor-bench` (one invocation per operation, 50 volumes) so the harness keeps
//! working; the figures themselves come from `scripts/bench.sh`. Needs the frontend binaries
//! built next to it, a python with python-linstor (`LINSTOR_BENCH_PYTHON`, else the venv of
//! `scripts/bench.sh` or of the conformance run) and root (Docker Mount runs mkfs and mount);
//! skipped when one is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn harness_fills_every_row() {
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
        return;
    };
    if !missing.is_empty() || !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP: needs root and {missing:?} in {}", bin_dir.display());
        return;
    }
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
