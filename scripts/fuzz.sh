#!/usr/bin/env bash
# Bounded fuzz runs of every cargo-fuzz target in fuzz/: installs cargo-fuzz if missing, seeds
# each corpus from fuzz/seeds/<target> plus the shared OpenNebula fixtures when present, runs each
# target for a fixed time and writes executions and results to $CARGO_TARGET_DIR/fuzz-summary.md.
# A crash, leak or timeout found by any target fails the script (exit 1).
#
# usage: scripts/fuzz.sh [seconds-per-target] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-40}
shift || true
case "$secs" in
  '' | *[!0-9]*) echo "scripts/fuzz.sh: seconds must be a whole number, got '$secs'" >&2; exit 2 ;;
esac

if ! command -v cargo >/dev/null; then
  echo "cargo not found: install a Rust toolchain (https://rustup.rs) and re-run." >&2
  exit 2
fi
cargo=(cargo)
if command -v rustup >/dev/null && rustup toolchain list | grep -q '^nightly'; then
  cargo=(cargo +nightly)
else
  # cargo-fuzz needs -Zsanitizer; without a nightly toolchain let stable accept it.
  export RUSTC_BOOTSTRAP=1
  echo "no nightly toolchain: using the default toolchain with RUSTC_BOOTSTRAP=1"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz from crates.io"
  cargo install cargo-fuzz --locked
fi

target_dir=${CARGO_TARGET_DIR:-$root/target}
work="$target_dir/fuzz-work"
summary="$target_dir/fuzz-summary.md"
fixtures=${LINSTOR_FIXTURES:-$root/../shared/fixtures}
mkdir -p "$work"

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd fuzz && "${cargo[@]}" fuzz list)
fi

# Seeds made at run time from the shared OpenNebula fixtures (XML documents and the argv forms
# oned uses for them), when that directory exists.
seed_from_fixtures() {
  local t=$1 dir=$2 one="$fixtures/opennebula"
  [ -d "$one" ] || return 0
  case "$t" in
    opennebula_xml)
      cp "$one"/*.xml "$dir"/ 2>/dev/null || true ;;
    opennebula_args)
      local ds=(cp mkfs rm stat monitor clone snap_delete snap_revert snap_flatten export) i f a
      for f in "$one"/ds_*.xml; do
        [ -e "$f" ] || continue
        a=$(basename "$f" .xml); a=${a#ds_}; a=${a%.SYNTHETIC}
        for i in "${!ds[@]}"; do
          if [ "${a%%_*}" = "${ds[$i]%%_*}" ]; then
            { printf "\\x$(printf %02x "$i")"; printf '\0'; base64 -w0 "$f"; printf '\0007'; } >"$dir/fixture-$a"
            break
          fi
        done
      done
      [ -e "$one/vm_premigrate.xml" ] &&
        { printf '\x10'; cat "$one/vm_premigrate.xml"; printf '\0host1\0host2\0/var/lib/one//datastores/0/31\00031\0000'; } >"$dir/fixture-premigrate"
      ;;
  esac
}

echo "building ${#targets[@]} fuzz targets"
if [ $# -gt 0 ]; then
  for t in "${targets[@]}"; do (cd fuzz && "${cargo[@]}" fuzz build "$t"); done
else
  (cd fuzz && "${cargo[@]}" fuzz build)
fi

{
  echo "| target | seconds | executions | exec/s | corpus | result |"
  echo "|---|---|---|---|---|---|"
} >"$summary"
failed=0
for t in "${targets[@]}"; do
  corpus="$work/corpus/$t" artifacts="$work/artifacts/$t/" log="$work/$t.log"
  mkdir -p "$corpus" "$artifacts"
  [ -d "fuzz/seeds/$t" ] && cp fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  seed_from_fixtures "$t" "$corpus"
  echo "==> fuzzing $t for ${secs}s (corpus: $(find "$corpus" -type f | wc -l) inputs)"
  rc=0
  (cd fuzz && "${cargo[@]}" fuzz run "$t" "$corpus" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts") >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  size=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    result="no crash"
  else
    failed=1
    found=$(find "$artifacts" -type f | head -1)
    result="FAILED (exit $rc${found:+, input $found})"
    tail -40 "$log" >&2
  fi
  printf '%s: %s executions (%s/s), corpus %s, %s\n' "$t" "${execs:-?}" "${rate:-?}" "$size" "$result"
  echo "| $t | $secs | ${execs:-?} | ${rate:-?} | $size | $result |" >>"$summary"
done
echo "summary written to $summary"
cat "$summary"
exit "$failed"
