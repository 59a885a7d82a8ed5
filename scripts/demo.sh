#!/usr/bin/env bash
# Quick start: a simulated 3-node LINSTOR cluster (loop-device backing) with the Docker volume
# plugin registered with the local Docker engine as driver "linstor" for node n1.
#   scripts/demo.sh         start (installs and starts Docker if needed), then print what to try
#   scripts/demo.sh stop    stop the plugin and the simulator started by this script
# Needs root (loop devices, mounts, Docker).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run=/run/linstor-demo
image=linstor-demo:latest

stop() {
  for p in plugin sim; do
    if [ -f "$run/$p.pid" ]; then
      kill -TERM "$(cat "$run/$p.pid")" 2>/dev/null || true
      rm -f "$run/$p.pid"
    fi
  done
  echo "demo stopped (volumes of the simulated cluster are gone; 'docker volume rm' stale entries if any)"
}

if [ "${1:-}" = stop ]; then
  stop
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/demo.sh must run as root (loop devices, mounts, Docker engine)" >&2
  exit 2
fi
if [ -f "$run/plugin.pid" ] && kill -0 "$(cat "$run/plugin.pid")" 2>/dev/null; then
  echo "the demo is already running; 'scripts/demo.sh stop' first" >&2
  exit 1
fi

echo "==> building release binaries"
cargo build --release --quiet -p linstor-docker-volume -p linstor-tests --bin linstor-docker-volume --bin linstor-sim
bin=${CARGO_TARGET_DIR:-$root/target}/release

echo "==> making sure the Docker engine runs"
scripts/ensure-docker.sh

if ! docker image inspect "$image" >/dev/null 2>&1; then
  echo "==> importing the tiny image $image (busybox, no registry needed)"
  img=$(mktemp -d)
  mkdir -p "$img/bin"
  cp /bin/busybox "$img/bin/busybox"
  for t in sh cat echo ls sleep sync df; do ln -s busybox "$img/bin/$t"; done
  tar -C "$img" -c . | docker import - "$image" >/dev/null
  rm -rf "$img"
fi

mkdir -p "$run"
echo "==> starting the simulated cluster (nodes n1 n2 n3, loop devices)"
"$bin/linstor-sim" --listen 127.0.0.1:0 --nodes n1,n2,n3 --backing loop \
  --dev-dir "$run/dev" --data-dir "$run/data" --pool-size-gib 20 >"$run/sim.log" 2>&1 &
echo $! >"$run/sim.pid"
for _ in $(seq 1 50); do
  url=$(sed -n 's/^listening on //p' "$run/sim.log" | head -n1)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "${url:-}" ] || { echo "the simulator did not start:" >&2; cat "$run/sim.log" >&2; stop; exit 1; }

echo "==> starting the plugin on /run/docker/plugins/linstor.sock (node n1)"
"$bin/linstor-docker-volume" --socket /run/docker/plugins/linstor.sock --controllers "$url" \
  --node n1 --state-dir "$run/state" --mount-root "$run/mnt" --dev-root "$run/dev/n1" \
  --config "$run/docker-volume.conf" >"$run/plugin.log" 2>&1 &
echo $! >"$run/plugin.pid"
for _ in $(seq 1 50); do
  [ -S /run/docker/plugins/linstor.sock ] && break
  sleep 0.1
done

cat <<EOT

LINSTOR simulator: $url (log $run/sim.log); plugin log: $run/plugin.log

Try:
  docker volume create -d linstor --opt size=1G --opt replicas=2 data
  docker run --rm -v data:/data $image sh -c 'echo hello > /data/hello; df -h /data'
  docker run --rm -v data:/data $image cat /data/hello
  docker volume inspect data
  docker volume rm data

Stop with: scripts/demo.sh stop
EOT
