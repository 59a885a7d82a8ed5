#!/usr/bin/env bash
# Package test: builds every .deb with packaging/build-debs.sh, checks contents, control fields
# and maintainer scripts (dpkg-deb -c / -I / -e), checks that every OpenNebula remotes link names
# an action the driver knows, then installs linstor-plugins-tools + linstor-plugins-docker on this
# machine, starts the installed daemon the way its systemd unit does, and drives it with the real
# Docker engine against linstor-sim: `docker volume create -d linstor`, the volume appears in the
# simulator, `docker volume rm`, it is gone. Finally purges the packages and checks nothing stays.
#
# The engine is a private dockerd this script starts (own --data-root, --exec-root, --pidfile,
# -H socket, containerd namespaces; --bridge=none --iptables=false --ip-masq=false) and removes
# at the end: dockerd keeps every legacy volume driver it has called in memory (a `docker volume
# ls` then waits 15 s for a socket that is gone) and only a restart forgets one, so the machine's
# dockerd is never used; the script checks it holds the same volume drivers afterwards. The
# package's units target the machine's dockerd only through the shared socket path
# /run/docker/plugins/linstor.sock (dockerd hard-codes that directory), which the private one
# finds the same way.
#
# Needs root, dpkg-deb, curl, docker.io (installed by scripts/ensure-docker.sh --install-only).
# Environment:
#   LINSTOR_SIM_BIN   linstor-sim binary (default: built with cargo into $CARGO_TARGET_DIR)
#   DEB_BIN_DIR       prebuilt release binaries for build-debs.sh --bin-dir (default: cargo build)
#   DEB_OUT           where the .debs go (default: a temporary directory)
# Prints one line per check and a final "N passed, N failed"; exits non-zero on any failure.
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   - $*"; }
bad() { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { # description command...
    local d=$1; shift
    if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi
}
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}

if [ "$(id -u)" -ne 0 ]; then
    echo "test-packages.sh must run as root (dpkg -i, Docker engine)" >&2
    exit 2
fi

tmp=$(mktemp -d /tmp/linstor-pkgtest.XXXXXX)
sim_pid=""
daemon_pid=""
dockerd_pid=""
dockerd_dir=""
containerd_pid=""
installed=0
conf_backup=""
# Volume drivers the machine's own dockerd holds in memory; nothing when no engine runs there.
machine_drivers() {
    local out
    out=$(env -u DOCKER_HOST timeout 20 docker info --format '{{json .Plugins.Volume}}' 2>/dev/null) && echo "$out"
}
start_private_dockerd() {
    dockerd_dir=$(mktemp -d /tmp/lsdockerd.XXXXXX)
    printf '{"deprecated-key-path": "%s/key.json"}\n' "$dockerd_dir" >"$dockerd_dir/daemon.json"
    dockerd --config-file "$dockerd_dir/daemon.json" --data-root "$dockerd_dir/data" \
        --exec-root "$dockerd_dir/exec" --pidfile "$dockerd_dir/dockerd.pid" \
        -H "unix://$dockerd_dir/docker.sock" --bridge=none --iptables=false --ip-masq=false \
        --ip6tables=false --userland-proxy=false \
        --containerd-namespace "lspkg-$$" --containerd-plugins-namespace "lspkg-$$-plugins" \
        </dev/null >"$dockerd_dir/dockerd.log" 2>&1 &
    dockerd_pid=$!
    export DOCKER_HOST="unix://$dockerd_dir/docker.sock"
    for _ in $(seq 180); do
        if docker info >/dev/null 2>&1; then
            containerd_pid=$(cat "$dockerd_dir/exec/containerd/containerd.pid" 2>/dev/null)
            return 0
        fi
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 0.5
    done
    tail -20 "$dockerd_dir/dockerd.log" >&2
    return 1
}
stop_private_dockerd() {
    [ -n "$dockerd_pid" ] || return 0
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 150); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$dockerd_pid" 2>/dev/null
    wait "$dockerd_pid" 2>/dev/null
    if [ -n "$containerd_pid" ] && [ "$(cat "/proc/$containerd_pid/comm" 2>/dev/null)" = containerd ]; then
        kill -TERM "$containerd_pid"
        for _ in $(seq 150); do kill -0 "$containerd_pid" 2>/dev/null || break; sleep 0.2; done
    elif [ -z "$containerd_pid" ] && command -v ctr >/dev/null; then
        # It used the machine's containerd: drop the namespaces it may have made there.
        ctr namespaces rm "lspkg-$$" "lspkg-$$-plugins" >/dev/null 2>&1
    fi
    awk -v d="$dockerd_dir" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | xargs -r -n1 umount -l
    rm -rf "$dockerd_dir"
    dockerd_pid=""
}
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
    if [ "$installed" -eq 1 ]; then
        dpkg --purge linstor-plugins-docker linstor-plugins-tools >/dev/null 2>&1
    fi
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    stop_private_dockerd
    if [ -n "$conf_backup" ] && [ -f "$conf_backup" ]; then
        mkdir -p /etc/linstor && cp -p "$conf_backup" /etc/linstor/docker-volume.conf
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# ---- build -----------------------------------------------------------------------------------
out=${DEB_OUT:-$tmp/debs}
version=$(awk '/^\[workspace\.package\]/{p=1;next} /^\[/{p=0} p&&$1=="version"{gsub(/"/,"",$3);print $3;exit}' "$root/Cargo.toml")
arch=$(dpkg --print-architecture)
build_args=(--out "$out")
[ -n "${DEB_BIN_DIR:-}" ] && build_args+=(--bin-dir "$DEB_BIN_DIR")
if "$root/packaging/build-debs.sh" "${build_args[@]}" >"$tmp/build.log" 2>&1; then
    ok "build-debs.sh built the packages (version $version)"
else
    bad "build-debs.sh failed:"; tail -20 "$tmp/build.log"; finish
fi
deb() { echo "$out/$1_${version}_${arch}.deb"; }
for p in tools proxmox opennebula docker; do
    check "linstor-plugins-$p .deb exists with the Cargo.toml version" test -f "$(deb "linstor-plugins-$p")"
done

# ---- contents --------------------------------------------------------------------------------
has_path() { # deb path [type-char]
    dpkg-deb -c "$1" | awk -v p="./${2#/}" -v t="${3:-}" '$6 == p && (t == "" || substr($1,1,1) == t) {f=1} END {exit !f}'
}
field() { dpkg-deb -f "$1" "$2"; }
has_field() { # deb field regex
    field "$1" "$2" | grep -Eq "$3"
}
script_ok() { # deb script
    local d="$tmp/ctl-$(basename "$1")"
    rm -rf "$d"; dpkg-deb -e "$1" "$d" && [ -x "$d/$2" ] && sh -n "$d/$2"
}

t=$(deb linstor-plugins-tools)
check "tools: /usr/bin/linstor-plugins" has_path "$t" /usr/bin/linstor-plugins
check "tools: Maintainer and Architecture set" has_field "$t" Maintainer '@'

p=$(deb linstor-plugins-proxmox)
check "proxmox: Perl module where pve-storage loads custom plugins" has_path "$p" /usr/share/perl5/PVE/Storage/Custom/LINSTORPlugin.pm
check "proxmox: helper at the path the Perl module runs" has_path "$p" /usr/lib/linstor-pve/linstor-pve
check "proxmox: helper path in the module matches the package" grep -q "'/usr/lib/linstor-pve/linstor-pve'" "$root/proxmox-plugin/perl/PVE/Storage/Custom/LINSTORPlugin.pm"
check "proxmox: Conflicts linstor-proxmox" has_field "$p" Conflicts '(^|, )linstor-proxmox($|,)'
check "proxmox: Replaces linstor-proxmox" has_field "$p" Replaces '(^|, )linstor-proxmox($|,)'
check "proxmox: Depends on libpve-storage-perl and the tools of the same version" has_field "$p" Depends "libpve-storage-perl.*linstor-plugins-tools \(= $version\)"
check "proxmox: postinst present, executable, valid sh" script_ok "$p" postinst
check "proxmox: postinst tells which PVE services to reload" grep -q "systemctl try-reload-or-restart pvedaemon pveproxy pvestatd pvescheduler" "$tmp/ctl-$(basename "$p")/postinst"
x="$tmp/pve-root"; mkdir -p "$x"; dpkg-deb -x "$p" "$x"
serve_answers() { # the packaged helper in the long-lived mode the Perl module uses
    local out
    out=$(printf '%s\n' '{"method":"status","input":{}}' | timeout 10 "$x/usr/lib/linstor-pve/linstor-pve" --serve) || return 1
    echo "$out" | grep -q '"error":{"kind":"input","message":"argument .storeid. is missing"}'
}
check "proxmox: packaged helper answers line by line in --serve mode" serve_answers

o=$(deb linstor-plugins-opennebula)
check "opennebula: /usr/bin/linstor-one" has_path "$o" /usr/bin/linstor-one
check "opennebula: Depends on openssh-client" has_field "$o" Depends 'openssh-client'
check "opennebula: oned.conf snippet shipped" has_path "$o" /usr/share/doc/linstor-plugins-opennebula/examples/oned.conf.snippet
check "opennebula: image datastore template shipped" has_path "$o" /usr/share/doc/linstor-plugins-opennebula/examples/image-ds.tmpl
check "opennebula: system datastore template shipped" has_path "$o" /usr/share/doc/linstor-plugins-opennebula/examples/system-ds.tmpl
check "opennebula: postinst present, executable, valid sh" script_ok "$o" postinst
x="$tmp/one-root"; mkdir -p "$x"; dpkg-deb -x "$o" "$x"
links_ok=1
for driver in linstor linstor_un; do
    for kind in datastore tm; do
        dir="$x/var/lib/one/remotes/$kind/$driver"
        [ -d "$dir" ] || { links_ok=0; bad "opennebula: remotes/$kind/$driver missing"; continue; }
        for l in "$dir"/*; do
            a=$(basename "$l")
            [ "$(readlink "$l")" = /usr/bin/linstor-one ] || { links_ok=0; bad "opennebula: $kind/$driver/$a is not a link to /usr/bin/linstor-one"; continue; }
            err=$( (exec -a "/var/lib/one/remotes/$kind/$driver/$a" "$x/usr/bin/linstor-one" </dev/null) 2>&1 >/dev/null)
            if echo "$err" | grep -q "unknown action"; then
                links_ok=0; bad "opennebula: $kind/$driver/$a is an action the driver does not know: $err"
            fi
        done
    done
done
for a in cp mkfs rm monitor; do [ -L "$x/var/lib/one/remotes/datastore/linstor/$a" ] || links_ok=0; done
for a in clone ln mv delete premigrate postmigrate; do [ -L "$x/var/lib/one/remotes/tm/linstor_un/$a" ] || links_ok=0; done
[ "$links_ok" -eq 1 ] && ok "opennebula: remotes layout for linstor and linstor_un, every link a known action"

d=$(deb linstor-plugins-docker)
check "docker: daemon /usr/bin/linstor-docker-volume" has_path "$d" /usr/bin/linstor-docker-volume
check "docker: systemd service unit" has_path "$d" /lib/systemd/system/linstor-docker-volume.service
check "docker: systemd socket unit" has_path "$d" /lib/systemd/system/linstor-docker-volume.socket
check "docker: default /etc/linstor/docker-volume.conf" has_path "$d" /etc/linstor/docker-volume.conf
check "docker: Depends on e2fsprogs and xfsprogs" has_field "$d" Depends 'e2fsprogs.*xfsprogs'
for s in postinst prerm postrm; do check "docker: $s present, executable, valid sh" script_ok "$d" "$s"; done
ctl="$tmp/ctl-$(basename "$d")"
check "docker: docker-volume.conf is a conffile" grep -qx /etc/linstor/docker-volume.conf "$ctl/conffiles"
x="$tmp/docker-root"; mkdir -p "$x"; dpkg-deb -x "$d" "$x"
sock_unit="$x/lib/systemd/system/linstor-docker-volume.socket"
svc_unit="$x/lib/systemd/system/linstor-docker-volume.service"
check "docker: socket at /run/docker/plugins/linstor.sock" grep -qx 'ListenStream=/run/docker/plugins/linstor.sock' "$sock_unit"
check "docker: socket ordered before docker.service" grep -qx 'Before=docker.service' "$sock_unit"
check "docker: socket enabled by sockets.target" grep -qx 'WantedBy=sockets.target' "$sock_unit"
check "docker: service ordered before docker.service" grep -qx 'Before=docker.service' "$svc_unit"
check "docker: service runs the installed daemon" grep -q '^ExecStart=/usr/bin/linstor-docker-volume' "$svc_unit"

# ---- install the docker package and run it against the simulator and the real engine --------
sim_bin=${LINSTOR_SIM_BIN:-}
if [ -z "$sim_bin" ]; then
    (cd "$root" && cargo build ${CARGO_FLAGS---locked} -p linstor-tests --bin linstor-sim) >"$tmp/sim-build.log" 2>&1
    sim_bin="$target_dir/debug/linstor-sim"
fi
[ -x "$sim_bin" ] || { bad "linstor-sim binary not found ($sim_bin)"; finish; }

"$root/scripts/ensure-docker.sh" --install-only >"$tmp/docker.log" 2>&1 || { bad "installing docker.io failed: $(tail -5 "$tmp/docker.log")"; finish; }
machine_before=$(machine_drivers)
start_private_dockerd || { bad "the private dockerd did not come up"; finish; }
ok "private Docker engine answers on $DOCKER_HOST"

if [ -S /run/docker/plugins/linstor.sock ] && curl -s --max-time 2 --unix-socket /run/docker/plugins/linstor.sock -X POST http://p/Plugin.Activate >/dev/null 2>&1; then
    bad "another linstor plugin already serves /run/docker/plugins/linstor.sock; stop it first"
    finish
fi

node=$(cat /proc/sys/kernel/hostname)
"$sim_bin" --listen 127.0.0.1:0 --nodes "$node,pkgtest-n2,pkgtest-n3" --backing none --dev-dir "$tmp/simdev" >"$tmp/sim.out" 2>"$tmp/sim.err" &
sim_pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$tmp/sim.out" 2>/dev/null && break; sleep 0.1; done
sim_url=$(sed -n 's/^listening on //p' "$tmp/sim.out" | head -1)
[ -n "$sim_url" ] || { bad "linstor-sim did not start: $(cat "$tmp/sim.err")"; finish; }
ok "linstor-sim listening on $sim_url"

[ -f /etc/linstor/docker-volume.conf ] && ! dpkg -S /etc/linstor/docker-volume.conf >/dev/null 2>&1 && {
    conf_backup="$tmp/docker-volume.conf.orig"; cp -p /etc/linstor/docker-volume.conf "$conf_backup"; rm -f /etc/linstor/docker-volume.conf; }
if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confnew "$(deb linstor-plugins-tools)" "$(deb linstor-plugins-docker)" >"$tmp/install.log" 2>&1; then
    installed=1
    ok "apt-get install of linstor-plugins-tools and linstor-plugins-docker (Depends pulled)"
else
    bad "installing the docker package failed: $(tail -5 "$tmp/install.log")"
    finish
fi
check "installed: /usr/bin/linstor-docker-volume runs" /usr/bin/linstor-docker-volume --version
check "installed: /etc/linstor/docker-volume.conf is the default" cmp /etc/linstor/docker-volume.conf "$root/packaging/docker-volume.conf"
check "installed: linstor-plugins-docker registered with dpkg" dpkg -s linstor-plugins-docker

printf 'version: 9.2.8 (api:2/proto:86-122)\n' >"$tmp/proc-drbd"
if /usr/bin/linstor-plugins doctor --platform docker --controllers "$sim_url" --proc-drbd "$tmp/proc-drbd" --dev-root "$tmp/simdev/$node" >"$tmp/doctor.out" 2>&1; then
    ok "installed: linstor-plugins doctor is all green against the simulator"
else
    bad "installed doctor reported failures: $(grep FAIL "$tmp/doctor.out")"
fi

# Start the daemon exactly as the unit does (systemd is not PID 1 here): ExecStart with the
# EnvironmentFile's variables; LS_CONTROLLERS points it at the simulator.
exec_line=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/linstor-docker-volume.service)
(
    set -a
    # shellcheck disable=SC1091
    . /etc/default/linstor-docker-volume
    set +a
    export LS_CONTROLLERS="$sim_url"
    mkdir -p /var/lib/linstor-docker-volume
    eval "exec $exec_line"
) >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S /run/docker/plugins/linstor.sock ] && break; sleep 0.1; done
if [ -S /run/docker/plugins/linstor.sock ]; then
    ok "installed daemon serves /run/docker/plugins/linstor.sock"
else
    bad "installed daemon did not create its socket: $(tail -5 "$tmp/daemon.log")"
    finish
fi

vol="pkgtest$$"
if docker volume create -d linstor --opt size=64M "$vol" >"$tmp/create.out" 2>&1; then
    ok "docker volume create -d linstor $vol"
else
    bad "docker volume create failed: $(cat "$tmp/create.out"); daemon: $(tail -5 "$tmp/daemon.log")"
fi
state=$(curl -s --max-time 5 "$sim_url/sim/state")
if echo "$state" | grep -q "\"$vol\""; then
    ok "the volume exists in the simulator"
else
    bad "the volume is not in the simulator state"
fi
check "docker volume inspect shows driver linstor" sh -c "docker volume inspect -f '{{.Driver}}' '$vol' | grep -qx linstor"
if docker volume rm "$vol" >"$tmp/rm.out" 2>&1; then
    ok "docker volume rm $vol"
else
    bad "docker volume rm failed: $(cat "$tmp/rm.out")"
fi
state=$(curl -s --max-time 5 "$sim_url/sim/state")
if echo "$state" | grep -q "\"$vol\""; then
    bad "the volume is still in the simulator after docker volume rm"
else
    ok "the volume is gone from the simulator"
fi

kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null; daemon_pid=""
check "the daemon removed its socket on exit" test ! -e /run/docker/plugins/linstor.sock
private_dir=$dockerd_dir
private_pid=$dockerd_pid
stop_private_dockerd
check "the private dockerd stopped" sh -c "! kill -0 $private_pid 2>/dev/null"
check "the private dockerd's directories are gone" test ! -e "$private_dir"
machine_after=$(machine_drivers)
if [ "$machine_after" = "$machine_before" ]; then
    ok "the machine's dockerd holds the same volume drivers as before (${machine_after:-no engine running})"
else
    bad "the machine's dockerd volume drivers changed: before ${machine_before:-none}, after ${machine_after:-none}"
fi
case "$machine_after" in
    *'"linstor"'*) bad "the machine's dockerd holds the driver linstor (docker volume ls waits for its socket)" ;;
    *) ok "the machine's dockerd does not hold the driver linstor" ;;
esac

# ---- purge -----------------------------------------------------------------------------------
if dpkg --purge linstor-plugins-docker linstor-plugins-tools >"$tmp/purge.log" 2>&1; then
    installed=0
    ok "dpkg --purge of both packages"
else
    bad "purge failed: $(tail -5 "$tmp/purge.log")"
fi
for f in /usr/bin/linstor-docker-volume /usr/bin/linstor-plugins /etc/linstor/docker-volume.conf \
         /etc/default/linstor-docker-volume /lib/systemd/system/linstor-docker-volume.socket \
         /var/lib/linstor-docker-volume; do
    check "purged: $f is gone" test ! -e "$f"
done

finish
