#!/bin/bash
# Benchmark (not a test): wall time per invocation of the linstor-pve helper for status (cache hit
# and miss), alloc_image and activate_volume, side by side with the same LINSTOR work done by the
# official python-linstor client in a fresh interpreter per call. Usage: run.sh [N]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
n="${1:-20}"
cd "$root"
cargo build --release -p linstor-pve -p linstor-tests --bins
venv="${BENCH_VENV:-$target/pve-bench-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet python-linstor
fi
exec "$venv/bin/python" "$root/proxmox-plugin/bench/bench.py" \
    --helper "$target/release/linstor-pve" --sim "$target/release/linstor-sim" -n "$n"
