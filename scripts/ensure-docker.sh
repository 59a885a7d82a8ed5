#!/usr/bin/env bash
# Makes sure a Docker engine is running on this machine: installs docker.io (and
# busybox-static, used for the tiny test image) with apt-get when missing, starts
# `dockerd --iptables=false --bridge=none` in the background when no engine answers, and waits
# until `docker info` works. Idempotent; needs root. Log: /var/log/linstor-dockerd.log.
# With --install-only it only installs (the end-to-end tests run a private dockerd of their own
# and never start or use this machine's engine).
set -euo pipefail

install_only=no
case "${1:-}" in
  --install-only) install_only=yes ;;
  "") ;;
  *) echo "ensure-docker.sh: unknown argument '$1' (only --install-only)" >&2; exit 2 ;;
esac

log=${DOCKERD_LOG:-/var/log/linstor-dockerd.log}

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-docker.sh: must run as root (installs packages, starts dockerd)" >&2
  exit 2
fi

need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-docker.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ "$install_only" = no ] || exit 0

if timeout 10 docker info >/dev/null 2>&1; then
  exit 0
fi

if ! pgrep -x dockerd >/dev/null; then
  echo "ensure-docker.sh: starting dockerd (log: $log)" >&2
  if ! pgrep -x containerd >/dev/null && command -v containerd >/dev/null; then
    setsid containerd >>"$log" 2>&1 < /dev/null &
    sleep 1
  fi
  setsid dockerd --iptables=false --bridge=none >>"$log" 2>&1 < /dev/null &
fi

for _ in $(seq 1 60); do
  if timeout 5 docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 1
done
echo "ensure-docker.sh: the Docker engine did not come up within 60 s; last lines of $log:" >&2
tail -n 20 "$log" >&2 || true
exit 1
