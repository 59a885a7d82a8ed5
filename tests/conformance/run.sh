#!/usr/bin/env bash
# Conformance run: python-linstor (the official client) against linstor-sim, with the JSON
# replies validated against the OpenAPI spec when it is available.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
spec="${LINSTOR_SPEC:-$repo/../shared/linstor/rest_v1_openapi.yaml}"
venv="${CONFORMANCE_VENV:-${CARGO_TARGET_DIR:-$repo/target}/conformance-venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check python-linstor pyyaml jsonschema

cargo build --quiet -p linstor-tests --bin linstor-sim
sim_bin="$CARGO_TARGET_DIR/debug/linstor-sim"

work="$(mktemp -d)"
out="$work/sim.out"
"$sim_bin" --listen 127.0.0.1:0 --data-dir "$work/data" --backing file >"$out" 2>"$work/sim.err" &
sim_pid=$!
cleanup() {
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

url=""
for _ in $(seq 1 100); do
    url="$(head -n1 "$out" 2>/dev/null | sed -n 's/^listening on //p')"
    [ -n "$url" ] && break
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "simulator did not start:" >&2
    cat "$work/sim.err" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

"$venv/bin/python" "$here/test_python_linstor.py" "$url" "$spec"
