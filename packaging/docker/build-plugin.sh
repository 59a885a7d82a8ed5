#!/usr/bin/env bash
# Builds the managed Docker plugin without an image registry, then creates it where Docker runs:
#   packaging/docker/build-plugin.sh [--dir DIR] [--no-create] [NAME]      (NAME default: linstor)
# The plugin directory (DIR, else a temporary one) holds packaging/docker/config.json and a rootfs
# with the daemon binary and the tools it runs (blkid, mount, umount, mkfs.ext4, mkfs.xfs,
# resize2fs, xfs_growfs, /etc/mke2fs.conf) plus their shared libraries, copied from this machine's
# Debian packages (util-linux, mount, e2fsprogs, xfsprogs, libc6, ...); every copied file must
# belong to an installed package, and rootfs/usr/share/doc/linstor-plugin/packages lists them with
# their versions. Files are stamped with SOURCE_DATE_EPOCH (default: the last commit's time), so
# the same binary and package versions give the same tree.
# PLUGIN_BIN=PATH uses that daemon binary (debug info stripped) instead of
# `cargo build --release`. When `docker info` answers and --no-create is not given, runs
# `docker plugin create NAME DIR`; an existing plugin NAME is an error, never replaced.
set -euo pipefail
cd "$(dirname "$0")/../.."

name=linstor
out=""
create=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) out=${2:?--dir needs a directory}; shift 2 ;;
    --no-create) create=no; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build-plugin.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) name=$1; shift ;;
  esac
done

tools=(blkid mount umount mkfs.ext4 mkfs.xfs resize2fs xfs_growfs)
for t in "${tools[@]}"; do
  if ! command -v "$t" >/dev/null; then
    echo "build-plugin.sh: '$t' not found; install util-linux, mount, e2fsprogs and xfsprogs (scripts/install-deps.sh does)" >&2
    exit 2
  fi
done

if [ -n "$out" ]; then
  if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
    echo "build-plugin.sh: $out exists and is not empty; give a new or empty directory" >&2
    exit 2
  fi
  mkdir -p "$out"
  work=$(cd "$out" && pwd)
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

bin=${PLUGIN_BIN:-}
if [ -z "$bin" ]; then
  cargo build --release --locked -p linstor-docker-volume
  bin=${CARGO_TARGET_DIR:-target}/release/linstor-docker-volume
fi
[ -x "$bin" ] || { echo "build-plugin.sh: daemon binary $bin not found or not executable" >&2; exit 2; }

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
root=$work/rootfs
mkdir -p "$root"
for d in bin sbin lib lib64; do
  if [ -L "/$d" ]; then
    ln -s "$(readlink "/$d")" "$root/$d"
  fi
done

declare -A copied=()
packages=()
owner() {
  local p alias
  for p in "$1" "$(readlink -f "$1")"; do
    case "$p" in
      /usr/bin/*|/usr/sbin/*|/usr/lib/*|/usr/lib64/*) alias=${p#/usr} ;;
      /bin/*|/sbin/*|/lib/*|/lib64/*) alias=/usr$p ;;
      *) alias=$p ;;
    esac
    for q in "$p" "$alias"; do
      if dpkg-query -S "$q" >/dev/null 2>&1; then
        dpkg-query -S "$q" | head -n1 | cut -d: -f1
        return 0
      fi
    done
  done
  return 1
}
copy() {
  local src=$1 dir pkg
  dir=$(readlink -f "$(dirname "$src")")
  local dest=$dir/$(basename "$src")
  [ -n "${copied[$dest]:-}" ] && return 0
  if ! pkg=$(owner "$src") || [ -z "$pkg" ]; then
    echo "build-plugin.sh: $src belongs to no installed Debian package; refusing to copy it" >&2
    exit 1
  fi
  mkdir -p "$root$dir"
  cp -L "$src" "$root$dest"
  copied[$dest]=1
  packages+=("$pkg")
}
libraries() {
  ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

install -D -m 0755 "$bin" "$root/usr/bin/linstor-docker-volume"
if command -v strip >/dev/null; then
  strip --strip-debug "$root/usr/bin/linstor-docker-volume"
fi
for lib in $(libraries "$bin"); do copy "$lib"; done
for t in "${tools[@]}"; do
  path=$(command -v "$t")
  copy "$path"
  for lib in $(libraries "$path"); do copy "$lib"; done
done
copy /etc/mke2fs.conf

mkdir -p "$root/run/docker/plugins" "$root/var/lib/docker-volumes/linstor" "$root/etc/linstor" \
  "$root/proc" "$root/sys" "$root/dev" "$root/usr/share/doc/linstor-plugin"
install -d -m 1777 "$root/tmp"
printf '%s\n' "${packages[@]}" | sort -u | while read -r p; do
  dpkg-query -W -f='${Package} ${Version}\n' "$p"
done > "$root/usr/share/doc/linstor-plugin/packages"
cp packaging/docker/config.json "$work/config.json"
find "$work" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
echo "plugin directory $work: rootfs $(du -sh --apparent-size "$root" | cut -f1), packages: $(cut -d' ' -f1 "$root/usr/share/doc/linstor-plugin/packages" | tr '\n' ' ')"

if [ "$create" = yes ] && command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; then
  if docker plugin inspect "$name" >/dev/null 2>&1; then
    echo "build-plugin.sh: a plugin '$name' exists; remove it first (docker plugin disable $name && docker plugin rm $name) or choose another name" >&2
    exit 1
  fi
  docker plugin create "$name" "$work"
  echo "created plugin '$name'; enable it with: docker plugin set $name LS_CONTROLLERS=ctrl1,ctrl2 && docker plugin enable --timeout 120 $name"
elif [ "$create" = yes ]; then
  echo "no Docker engine answers here: plugin not created; keep the directory (--dir) and run 'docker plugin create $name DIR' where Docker runs" >&2
fi
