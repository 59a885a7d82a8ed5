#!/usr/bin/env bash
# Runs every test of linstor-plugins: lints, unit and integration tests against the LINSTOR
# simulator, the python-linstor and schemathesis conformance runs, the Perl tests of the Proxmox
# module, the Docker end-to-end runs with the real engine (a private dockerd per test; socket
# plugin, and the managed plugin built from Debian packages by packaging/docker/build-plugin.sh),
# and the package tests. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh must run as root (loop devices, mounts, Docker engine, dpkg)." >&2
  exit 2
fi
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install a Rust toolchain (https://rustup.rs) and re-run." >&2
  exit 2
fi

step "installing test dependencies"
scripts/install-deps.sh

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "cargo build (binaries used by the script-driven suites)"
cargo build --workspace --bins --locked
export LINSTOR_SIM_BIN="$root/target/debug/linstor-sim"

step "cargo test (unit, simulator, conformance, fault suites, Docker end to end: socket and managed plugin)"
target_dir=${CARGO_TARGET_DIR:-$root/target}
rm -rf "$target_dir/reliability" "$target_dir/reliability-summary.md" "$target_dir/schemathesis-summary.txt"
LINSTOR_CONFORMANCE=1 LINSTOR_E2E_DOCKER=1 cargo test --workspace --locked -- --test-threads=2
if [ -f "$target_dir/schemathesis-summary.txt" ]; then
  step "schemathesis against the simulator: operations, cases, failures"
  cat "$target_dir/schemathesis-summary.txt"
fi
if [ -f "$target_dir/reliability-summary.md" ]; then
  step "fault suites: cases and tries (the table of RELIABILITY.md)"
  cat "$target_dir/reliability-summary.md"
fi

if [ -x proxmox-plugin/t/run.sh ]; then
  step "Proxmox Perl module (prove)"
  proxmox-plugin/t/run.sh
fi

if [ -x packaging/tests/test-packages.sh ]; then
  step "Debian packages"
  packaging/tests/test-packages.sh
fi

step "bounded fuzz runs (scripts/fuzz.sh, ${LINSTOR_FUZZ_SECONDS:-30} s per target)"
scripts/fuzz.sh "${LINSTOR_FUZZ_SECONDS:-30}"

step "all suites passed"
