#!/usr/bin/env bash
# Builds the Debian packages of linstor-plugins from this workspace with dpkg-deb:
#   linstor-plugins-tools       /usr/bin/linstor-plugins (doctor, gc); every other package needs it
#   linstor-plugins-proxmox     Perl module for pve-storage + helper; replaces linstor-proxmox
#   linstor-plugins-opennebula  DS/TM drivers linstor and linstor_un under /var/lib/one/remotes
#   linstor-plugins-docker      plugin daemon, systemd socket + service, /etc/linstor/docker-volume.conf
# The version is [workspace.package] version of the root Cargo.toml.
#
# Usage: packaging/build-debs.sh [--out DIR] [--bin-dir DIR]
#   --out DIR      where the .deb files go (default: target/debian)
#   --bin-dir DIR  take prebuilt binaries from DIR instead of running `cargo build --release`
# Environment: CARGO_TARGET_DIR (honoured), CARGO_FLAGS (extra cargo flags, default --locked).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
pkgsrc="$root/packaging"
out=""
bin_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --bin-dir) bin_dir=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "build-debs.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
target_dir=${CARGO_TARGET_DIR:-$root/target}
out=${out:-$target_dir/debian}

die() { echo "build-debs.sh: $*" >&2; exit 1; }

version=$(awk '
    /^\[workspace\.package\]/ { inpkg = 1; next }
    /^\[/ { inpkg = 0 }
    inpkg && $1 == "version" { gsub(/"/, "", $3); print $3; exit }
' "$root/Cargo.toml")
[ -n "$version" ] || die "no [workspace.package] version in $root/Cargo.toml"
arch=$(dpkg --print-architecture)
maintainer="linstor-plugins maintainers <linstor-plugins@example.invalid>"
homepage=$(awk -F'"' '/^repository *=/ { print $2; exit }' "$root/Cargo.toml")

if [ -z "$bin_dir" ]; then
    # shellcheck disable=SC2086
    (cd "$root" && cargo build --release ${CARGO_FLAGS---locked} \
        -p linstor-plugins-ops -p linstor-pve -p linstor-one -p linstor-docker-volume --bins)
    bin_dir="$target_dir/release"
fi
for b in linstor-plugins linstor-pve linstor-one linstor-docker-volume; do
    [ -x "$bin_dir/$b" ] || die "binary $bin_dir/$b is missing (build it or pass --bin-dir)"
done
perl_module="$root/proxmox-plugin/perl/PVE/Storage/Custom/LINSTORPlugin.pm"
[ -f "$perl_module" ] || die "the Proxmox Perl module $perl_module is missing"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# libc6 version needed by a binary: the newest GLIBC_ symbol version it references.
glibc_dep() {
    local v
    v=$(objdump -T "$1" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1)
    if [ -n "$v" ]; then echo "libc6 (>= $v)"; else echo "libc6"; fi
}

install_bin() { # src dest
    install -D -m 0755 "$1" "$2"
    strip --strip-debug "$2" 2>/dev/null || true
}

install_doc() { # pkgdir pkg
    local doc="$1/usr/share/doc/$2"
    mkdir -p "$doc"
    cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: linstor-plugins
Source: $homepage

Files: *
Copyright: linstor-plugins contributors
License: GPL-3.0-or-later
 On Debian systems the full text of the GPL 3 is in /usr/share/common-licenses/GPL-3.
EOF
    if [ -f "$root/docs/operations.md" ]; then
        install -m 0644 "$root/docs/operations.md" "$doc/operations.md"
    fi
}

# control file; extra fields come as "Field: value" arguments
write_control() { # pkgdir package description-short description-long [fields...]
    local dir=$1 pkg=$2 short=$3 long=$4
    shift 4
    local size
    size=$(du -sk --exclude=DEBIAN "$dir" | cut -f1)
    {
        echo "Package: $pkg"
        echo "Version: $version"
        echo "Architecture: $arch"
        echo "Maintainer: $maintainer"
        echo "Section: admin"
        echo "Priority: optional"
        echo "Installed-Size: $size"
        echo "Homepage: $homepage"
        for f in "$@"; do echo "$f"; done
        echo "Description: $short"
        echo "$long" | fold -s -w 78 | sed 's/^/ /; s/ *$//'
    } >"$dir/DEBIAN/control"
}

maintainer_scripts() { # pkgdir pkg
    local s
    for s in preinst postinst prerm postrm; do
        if [ -f "$pkgsrc/debian-scripts/$2.$s" ]; then
            install -m 0755 "$pkgsrc/debian-scripts/$2.$s" "$1/DEBIAN/$s"
        fi
    done
}

build() { # pkgdir
    dpkg-deb --root-owner-group -Zxz --build "$1" "$out" >/dev/null
}

# ---- linstor-plugins-tools -------------------------------------------------------------------
p=$work/tools; mkdir -p "$p/DEBIAN"
install_bin "$bin_dir/linstor-plugins" "$p/usr/bin/linstor-plugins"
install_doc "$p" linstor-plugins-tools
write_control "$p" linstor-plugins-tools \
    "operator tool of the LINSTOR plugins (doctor, gc)" \
    "linstor-plugins doctor checks that a Proxmox VE, OpenNebula or Docker node is set up for LINSTOR: controllers reachable, node name known, resource group present, DRBD 9 loaded, udev by-res links present; every failure is printed with its fix. linstor-plugins gc lists and removes half-created volumes and orphan diskless resources the plugins own." \
    "Depends: $(glibc_dep "$bin_dir/linstor-plugins")"
build "$p"

# ---- linstor-plugins-proxmox -----------------------------------------------------------------
p=$work/proxmox; mkdir -p "$p/DEBIAN"
install -D -m 0644 "$perl_module" "$p/usr/share/perl5/PVE/Storage/Custom/LINSTORPlugin.pm"
install_bin "$bin_dir/linstor-pve" "$p/usr/lib/linstor-pve/linstor-pve"
install_doc "$p" linstor-plugins-proxmox
maintainer_scripts "$p" linstor-plugins-proxmox
write_control "$p" linstor-plugins-proxmox \
    "LINSTOR/DRBD storage plugin for Proxmox VE" \
    "Drop-in replacement for linstor-proxmox: storage type drbd with the same storage.cfg options and volume names, backed by a fast Rust helper with bounded timeouts, controller failover and a capacity cache." \
    "Depends: perl, libpve-storage-perl, linstor-plugins-tools (= $version), $(glibc_dep "$bin_dir/linstor-pve")" \
    "Recommends: drbd-utils, linstor-satellite" \
    "Conflicts: linstor-proxmox" \
    "Replaces: linstor-proxmox" \
    "Provides: linstor-proxmox"
build "$p"

# ---- linstor-plugins-opennebula --------------------------------------------------------------
p=$work/opennebula; mkdir -p "$p/DEBIAN"
install_bin "$bin_dir/linstor-one" "$p/usr/bin/linstor-one"
ds_actions="cp mkfs rm stat monitor clone snap_delete snap_revert snap_flatten export"
tm_actions="clone ln mv mvds cpds delete premigrate postmigrate failmigrate context mkimage mkswap snap_create snap_create_live snap_delete snap_revert monitor monitor_ds resize"
for driver in linstor linstor_un; do
    mkdir -p "$p/var/lib/one/remotes/datastore/$driver" "$p/var/lib/one/remotes/tm/$driver"
    for a in $ds_actions; do ln -s /usr/bin/linstor-one "$p/var/lib/one/remotes/datastore/$driver/$a"; done
    for a in $tm_actions; do ln -s /usr/bin/linstor-one "$p/var/lib/one/remotes/tm/$driver/$a"; done
done
install_doc "$p" linstor-plugins-opennebula
ex="$p/usr/share/doc/linstor-plugins-opennebula/examples"
mkdir -p "$ex"
install -m 0644 "$pkgsrc"/opennebula/oned.conf.snippet "$pkgsrc"/opennebula/*.tmpl "$ex/"
maintainer_scripts "$p" linstor-plugins-opennebula
write_control "$p" linstor-plugins-opennebula \
    "LINSTOR/DRBD datastore and transfer drivers for OpenNebula" \
    "Drop-in replacement for addon-linstor (driver linstor) and addon-linstor_un (driver linstor_un): one binary serves every DS and TM action, accepts both drivers' datastore attributes and keeps their LINSTOR naming." \
    "Depends: openssh-client, linstor-plugins-tools (= $version), $(glibc_dep "$bin_dir/linstor-one")" \
    "Enhances: opennebula" \
    "Conflicts: linstor-opennebula" \
    "Replaces: linstor-opennebula"
build "$p"

# ---- linstor-plugins-docker ------------------------------------------------------------------
p=$work/docker; mkdir -p "$p/DEBIAN"
install_bin "$bin_dir/linstor-docker-volume" "$p/usr/bin/linstor-docker-volume"
install -D -m 0644 "$pkgsrc/systemd/linstor-docker-volume.service" "$p/lib/systemd/system/linstor-docker-volume.service"
install -D -m 0644 "$pkgsrc/systemd/linstor-docker-volume.socket" "$p/lib/systemd/system/linstor-docker-volume.socket"
install -D -m 0644 "$pkgsrc/docker-volume.conf" "$p/etc/linstor/docker-volume.conf"
install -D -m 0644 "$pkgsrc/linstor-docker-volume.default" "$p/etc/default/linstor-docker-volume"
printf '%s\n' /etc/linstor/docker-volume.conf /etc/default/linstor-docker-volume >"$p/DEBIAN/conffiles"
install_doc "$p" linstor-plugins-docker
maintainer_scripts "$p" linstor-plugins-docker
write_control "$p" linstor-plugins-docker \
    "LINSTOR/DRBD volume plugin for Docker" \
    "Drop-in replacement for linstor-docker-volume: docker volume create -d linstor makes replicated DRBD volumes that follow containers across nodes. Socket /run/docker/plugins/linstor.sock, activated by systemd before docker.service." \
    "Depends: e2fsprogs, xfsprogs, util-linux, linstor-plugins-tools (= $version), $(glibc_dep "$bin_dir/linstor-docker-volume")" \
    "Recommends: docker.io | docker-ce, drbd-utils" \
    "Conflicts: linstor-docker-volume" \
    "Replaces: linstor-docker-volume"
build "$p"

for f in "$out"/*_"${version}"_"${arch}".deb; do echo "$f"; done
