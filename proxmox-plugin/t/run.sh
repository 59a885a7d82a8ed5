#!/bin/bash
# Builds the helper and the LINSTOR simulator, then runs the Perl tests of the Proxmox plugin,
# once with one helper process per call and once with the long-lived helper (the default).
# Needs: perl (core modules + JSON::PP, HTTP::Tiny, Test::More), prove, cargo.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"
cargo build -p linstor-pve -p linstor-tests --bins
export LINSTOR_PVE_HELPER="$target/debug/linstor-pve"
export LINSTOR_SIM_BIN="$target/debug/linstor-sim"
LINSTOR_PVE_PERSISTENT=0 prove proxmox-plugin/t
exec prove -v proxmox-plugin/t
