#!/bin/bash
# Builds the helper and the LINSTOR simulator, then runs the Perl tests of the Proxmox plugin.
# Needs: perl (core modules + JSON::PP, HTTP::Tiny, Test::More), prove, cargo.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
cd "$root"
cargo build -p linstor-pve -p linstor-tests --bins
export LINSTOR_PVE_HELPER="$target/debug/linstor-pve"
export LINSTOR_SIM_BIN="$target/debug/linstor-sim"
exec prove -v proxmox-plugin/t
