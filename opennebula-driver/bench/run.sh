#!/bin/sh
# Benchmark: wall time per DS action of linstor-one versus python-linstor doing the same LINSTOR
# work (mkfs = create a 4 MiB volume with 2 replicas, monitor = size info, rm = delete), against
# one linstor-sim. Needs python3-venv and network access to PyPI for python-linstor.
# Usage: opennebula-driver/bench/run.sh   (RUNS=N to change the sample count)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target-one}
cargo build --release -q -p linstor-one -p linstor-tests --manifest-path "$root/Cargo.toml"
work=$(mktemp -d)
trap 'kill $simpid 2>/dev/null || true; rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q python-linstor
"$CARGO_TARGET_DIR/release/linstor-sim" --listen 127.0.0.1:0 --nodes s1,s2,s3 --backing file --dev-dir "$work/dev" --data-dir "$work/data" > "$work/sim.out" &
simpid=$!
while ! grep -q '^listening on' "$work/sim.out" 2>/dev/null; do sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/sim.out" | head -1)
SIM_DEV_DIR="$work/dev" "$work/venv/bin/python" "$root/opennebula-driver/bench/bench.py" "$url" "$CARGO_TARGET_DIR/release/linstor-one"
