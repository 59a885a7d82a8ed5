#!/usr/bin/env bash
# Builds the managed Docker plugin bundle (config.json + rootfs) and creates the plugin:
#   packaging/docker/build-plugin.sh [PLUGIN_NAME]     (default: linstor)
# The rootfs is a Debian slim image with the static-enough release binary and the filesystem
# tools the plugin runs (blkid, mkfs.ext4/xfs, resize2fs, xfs_growfs, mount). Needs Docker and
# network access to pull debian:bookworm-slim; without a registry, set BASE_ROOTFS_TAR to a
# tarball of a root filesystem that has those tools.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:-linstor}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -p linstor-docker-volume
bin=${CARGO_TARGET_DIR:-target}/release/linstor-docker-volume

mkdir -p "$work/rootfs"
if [ -n "${BASE_ROOTFS_TAR:-}" ]; then
  tar -C "$work/rootfs" -xf "$BASE_ROOTFS_TAR"
else
  cid=$(docker create debian:bookworm-slim sh -c 'true')
  docker export "$cid" | tar -C "$work/rootfs" -xf -
  docker rm "$cid" >/dev/null
  # Tools: installed in a throw-away container, then exported.
  cid=$(docker run -d debian:bookworm-slim sh -c 'apt-get update -qq && apt-get install -y -qq e2fsprogs xfsprogs util-linux mount >/dev/null')
  docker wait "$cid" >/dev/null
  rm -rf "$work/rootfs"; mkdir -p "$work/rootfs"
  docker export "$cid" | tar -C "$work/rootfs" -xf -
  docker rm "$cid" >/dev/null
fi
install -D -m 0755 "$bin" "$work/rootfs/usr/bin/linstor-docker-volume"
mkdir -p "$work/rootfs/run/docker/plugins" "$work/rootfs/var/lib/docker-volumes/linstor" "$work/rootfs/etc/linstor"
cp packaging/docker/config.json "$work/config.json"
docker plugin rm -f "$name" >/dev/null 2>&1 || true
docker plugin create "$name" "$work"
echo "created plugin '$name'; enable it with: docker plugin set $name LS_CONTROLLERS=ctrl1,ctrl2 && docker plugin enable --timeout 120 $name"
