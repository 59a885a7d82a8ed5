#!/bin/sh
# Install the OpenNebula remotes layout for linstor-one:
#   <remotes>/datastore/<driver>/<action> and <remotes>/tm/<driver>/<action> -> the binary,
# for the driver names linstor and linstor_un (both peers' names).
# Usage: install-remotes.sh [BINARY] [REMOTES_DIR]
#   BINARY      default /usr/lib/one/linstor-one/linstor-one
#   REMOTES_DIR default $ONE_LOCATION/var/remotes or /var/lib/one/remotes
set -eu
bin=${1:-/usr/lib/one/linstor-one/linstor-one}
if [ -n "${ONE_LOCATION:-}" ]; then def="$ONE_LOCATION/var/remotes"; else def=/var/lib/one/remotes; fi
remotes=${2:-$def}
[ -x "$bin" ] || { echo "install-remotes.sh: $bin is not an executable; pass the path of linstor-one" >&2; exit 2; }
ds_actions="cp mkfs rm stat monitor clone snap_delete snap_revert snap_flatten export"
tm_actions="clone ln mv mvds cpds delete premigrate postmigrate failmigrate context mkimage mkswap snap_create snap_create_live snap_delete snap_revert monitor monitor_ds resize"
for drv in linstor linstor_un; do
    mkdir -p "$remotes/datastore/$drv" "$remotes/tm/$drv"
    for a in $ds_actions; do ln -sfn "$bin" "$remotes/datastore/$drv/$a"; done
    for a in $tm_actions; do ln -sfn "$bin" "$remotes/tm/$drv/$a"; done
done
echo "installed linstor-one actions under $remotes/{datastore,tm}/{linstor,linstor_un}; run 'onehost sync --force' to push remotes"
