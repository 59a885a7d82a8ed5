#!/usr/bin/env bash
# Benchmark (not part of scripts/test.sh): builds the release binaries, installs python-linstor
# into a venv and runs linstor-bench, which prints the table and writes it to
# $CARGO_TARGET_DIR/bench.md (BENCH_OUT to change). Needs root (Docker Mount runs mkfs and mount).
# With --pve-peer DIR (a checkout of LINBIT's linstor-proxmox) it first installs the Perl modules
# LINBIT's plugin needs from Debian when they are missing.
# Usage: scripts/bench.sh [--quick] [linstor-bench options]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"
for a in "$@"; do
    case "$a" in
    --pve-peer | --pve-peer=*)
        perl -MREST::Client -MUUID -MJSON::XS -MTypes::Serialiser -e 1 2>/dev/null || {
            apt-get update -qq
            apt-get install -y -qq librest-client-perl libuuid-perl libjson-xs-perl libtypes-serialiser-perl
        }
        ;;
    esac
done
cargo build --release --locked -p linstor-pve -p linstor-one -p linstor-docker-volume -p linstor-tests --bins
venv="${BENCH_VENV:-$CARGO_TARGET_DIR/bench-venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -c 'import linstor' 2>/dev/null ||
    "$venv/bin/pip" install --quiet --disable-pip-version-check python-linstor
exec "$CARGO_TARGET_DIR/release/linstor-bench" \
    --bin-dir "$CARGO_TARGET_DIR/release" \
    --python "$venv/bin/python" \
    --peer "$root/tests/bench/peer.py" \
    --out "${BENCH_OUT:-$CARGO_TARGET_DIR/bench.md}" \
    "$@"
