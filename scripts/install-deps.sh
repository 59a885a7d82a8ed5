#!/usr/bin/env bash
# Installs the Debian packages the test suites use (idempotent; skips what is present); the
# managed Docker plugin's rootfs is built from e2fsprogs, xfsprogs, util-linux, mount (and binutils' strip).
# openssh-server/-client: the OpenNebula suites run host steps over a private sshd on loopback.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(docker.io busybox-static e2fsprogs xfsprogs util-linux mount binutils python3-venv perl openssl dpkg-dev drbd-utils openssh-server openssh-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
