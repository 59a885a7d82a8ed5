#!/usr/bin/env bash
# Schemathesis (pinned, in its own venv) against linstor-sim with LINSTOR's OpenAPI spec: a
# conformance pass and a robustness pass over every route the simulator serves, each bounded
# in time (SCHEMATHESIS_SECONDS per pass, default 60). Failures outside
# schemathesis-deviations.yaml fail the run; the figures are printed and written to
# $CARGO_TARGET_DIR/schemathesis-summary.txt.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
spec="${LINSTOR_SPEC:-$repo/../shared/linstor/rest_v1_openapi.yaml}"
export CARGO_TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-$repo/target}")"
venv="${SCHEMATHESIS_VENV:-$CARGO_TARGET_DIR/schemathesis-venv}"
version=4.32.5

if [ ! -f "$spec" ]; then
    echo "SKIP: LINSTOR's OpenAPI spec not found at $spec (set LINSTOR_SPEC)"
    exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$version" ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" pyyaml
fi

cargo build --quiet -p linstor-tests --bin linstor-sim
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
set +e
(cd "$work" && "$venv/bin/python" "$here/run_schemathesis.py" "$CARGO_TARGET_DIR/debug/linstor-sim" \
    "$spec" "$here/schemathesis-deviations.yaml" "$work" "${SCHEMATHESIS_SECONDS:-60}") | tee "$work/summary"
rc=${PIPESTATUS[0]}
set -e
grep '^schemathesis' "$work/summary" > "$CARGO_TARGET_DIR/schemathesis-summary.txt" || true
exit "$rc"
