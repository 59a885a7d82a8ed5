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
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# start_sim NAME ARGS...: starts a simulator, sets $url to its address.
start_sim() {
    local name=$1
    shift
    "$sim_bin" --listen 127.0.0.1:0 --data-dir "$work/$name" --backing file "$@" \
        >"$work/$name.out" 2>"$work/$name.err" &
    pids+=($!)
    url=""
    for _ in $(seq 1 100); do
        url="$(head -n1 "$work/$name.out" 2>/dev/null | sed -n 's/^listening on //p')"
        [ -n "$url" ] && return 0
        sleep 0.1
    done
    echo "simulator $name did not start:" >&2
    cat "$work/$name.err" >&2
    echo "0 passed, 1 failed"
    exit 1
}

start_sim current --nodes n1,n2,n3,n4
url_current=$url
start_sim old --version 1.31.1
url_old=$url

"$venv/bin/python" "$here/test_python_linstor.py" "$url_current" "$spec" "$url_old"
