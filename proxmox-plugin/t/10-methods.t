#!/usr/bin/perl
# Every plugin method through the real module and the real helper against the LINSTOR simulator;
# each return value is checked for the shape pve-storage expects (shared/reference/proxmox.md §2.4).
# The PVE base class is the stand-in in t/lib (written from the reference, not Proxmox code).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl";
use POSIX ();
use Test::More;
use LinstorSimHarness;

LinstorSimHarness::require_binaries();

use PVE::Storage;
use PVE::Storage::Custom::LINSTORPlugin;

my $P = 'PVE::Storage::Custom::LINSTORPlugin';
my $sim = LinstorSimHarness->start(nodes => 'n1,n2,n3');
$sim->create_resource_group('drbdgrp', 2);
$sim->as_node('n1');
my $scfg = { type => 'drbd', controller => $sim->url, resourcegroup => 'drbdgrp', content => { images => 1 } };
my $sid = 'drbd1';

# status: a miss asks the controller, then the cache answers.
my @st = $P->status($sid, $scfg, {});
is(scalar(@st), 4, 'status returns (total, avail, used, active)');
ok($st[0] > 0 && $st[1] > 0 && $st[1] <= $st[0], 'total and avail in bytes') or diag("@st");
is($st[2], $st[0] - $st[1], 'used = total - avail');
is($st[3], 1, 'active');
$sim->reset_stats;
my @again = $P->status($sid, $scfg, {});
is_deeply(\@again, \@st, 'cached status is the same');
is($sim->stats->{total}, 0, 'status from cache makes no request');
is(scalar($P->status($sid, { %$scfg, resourcegroup => 'nosuchgroup' }, {})), undef, 'unknown resource group: inactive');

# alloc_image: generated pm- name, minimum size, ownership, preferlocal, allow-two-primaries.
my $vol = $P->alloc_image($sid, $scfg, 100, 'raw', undef, 1024);
like($vol, qr/^pm-[0-9a-f]{8}_100$/, 'alloc_image returns a pm-XXXXXXXX_<vmid> volname');
my ($rdname) = $vol =~ /^(pm-[0-9a-f]{8})_/;
my $rd = $sim->rd($rdname);
is($rd->{props}{'Aux/pm/vmid'}, '100', 'Aux/pm/vmid set');
is($rd->{props}{'DrbdOptions/Net/allow-two-primaries'}, 'yes', 'allow-two-primaries=yes (permanent default)');
is(lc($rd->{props}{'DrbdOptions/ExactSize'}), 'false', 'ExactSize=False (exactsize no)');
is($rd->{volumes}[0]{size_kib}, 3072, '3 MiB minimum');
ok($rd->{resources}{n1} && !LinstorSimHarness::is_diskless($rd->{resources}{n1}), 'preferlocal: diskful replica on this node');
is($rd->{resource_group}, 'drbdgrp', 'spawned from the resource group');

my $legacy = $P->alloc_image($sid, $scfg, 100, 'raw', 'vm-100-disk-7', 4096);
is($legacy, 'vm-100-disk-7', 'explicit legacy name kept');
eval { $P->alloc_image($sid, $scfg, 100, 'raw', 'vm-100-disk-7', 4096) };
like($@, qr/vm-100-disk-7.*already exists/, 'existing name: already exists');
eval { $P->alloc_image($sid, $scfg, 100, 'raw', 'vm-101-disk-0', 4096) };
like($@, qr/belongs to VM 101/, 'name of another VM refused');
my $ci = $P->alloc_image($sid, $scfg, 100, 'raw', 'vm-100-cloudinit', 4096);
is($P->alloc_image($sid, $scfg, 100, 'raw', 'vm-100-cloudinit', 4096), $ci, 'cloud-init re-allocation returns the existing volume');

# path / activate / map / size.
my $path = $P->path($scfg, $vol, $sid);
is($path, $sim->dev_root('n1') . "/drbd/by-res/$rdname/0", 'path under the device root');
is($P->activate_volume($sid, $scfg, $vol, undef, {}, { 'guest-is-windows' => 0 }), 1, 'activate_volume (with APIVER 13 hints)');
ok(-e $path, 'device exists after activate_volume');
is($P->map_volume($sid, $scfg, $vol, undef, {}), $path, 'map_volume returns the device path');
is($P->unmap_volume($sid, $scfg, $vol), 1, 'unmap_volume');
is(scalar($P->volume_size_info($scfg, $sid, $vol, 5)), 3072 * 1024, 'volume_size_info in bytes');
my @si = $P->volume_size_info($scfg, $sid, $vol, 5);
is($si[1], 'raw', 'size info format raw');
is_deeply($P->qemu_blockdev_options($scfg, $sid, $vol, '10.0', {}), { driver => 'host_device', filename => $path }, 'qemu_blockdev_options');

# Resize (bytes in, KiB on VD 0).
is($P->volume_resize($scfg, $sid, $vol, 8 << 20, 0), 1, 'volume_resize');
is($sim->rd($rdname)->{volumes}[0]{size_kib}, 8192, 'VD grown to 8 MiB');
eval { $P->volume_resize($scfg, $sid, $vol, 4 << 20, 0) };
like($@, qr/cannot shrink/, 'shrinking refused clearly');

# list_images.
my $list = $P->list_images($sid, $scfg, undef, undef, {});
is(ref($list), 'ARRAY', 'list_images returns an array');
my ($e) = grep { $_->{volid} eq "$sid:$vol" } @$list;
ok($e, 'new volume listed with its volid');
is_deeply([ sort keys %$e ], [ sort qw(volid format size vmid ctime) ], 'entry keys');
is($e->{format}, 'raw', 'format raw');
is($e->{size}, 8 << 20, 'size in bytes');
is($e->{vmid}, 100, 'vmid');
is(scalar(@{ $P->list_images($sid, $scfg, 999, undef, {}) }), 0, 'filter by vmid');
is(scalar(@{ $P->list_images($sid, $scfg, undef, ["$sid:$legacy"], {}) }), 1, 'filter by vollist');

# Snapshots: create, info, rollback checks, rollback, delete.
is($P->volume_snapshot($scfg, $sid, $vol, 'snap1'), undef, 'volume_snapshot');
ok(grep({ $_ eq "snap_${rdname}_snap1" } @{ $sim->rd($rdname)->{snapshots} }), 'LINSTOR snapshot snap_<res>_<snap>');
$P->volume_snapshot($scfg, $sid, $vol, 'snap2');
my $info = $P->volume_snapshot_info($scfg, $sid, $vol);
is_deeply([ sort keys %$info ], [qw(snap1 snap2)], 'volume_snapshot_info by PVE name');
my @blockers;
is($P->volume_rollback_is_possible($scfg, $sid, $vol, 'snap1', \@blockers), 1,
    'LINSTOR 1.34 rolls back to an older snapshot too (older controllers: t/15-rollback-versions.t)');
is_deeply(\@blockers, [], 'no blockers');
is($P->volume_snapshot_rollback($scfg, $sid, $vol, 'snap1'), undef, 'volume_snapshot_rollback to the older snapshot');
is_deeply([ sort keys %{ $P->volume_snapshot_info($scfg, $sid, $vol) } ], [qw(snap1 snap2)], 'the newer snapshot is kept');
is($P->volume_rollback_is_possible($scfg, $sid, $vol, 'snap2', []), 1, 'rollback to the newest is possible');
is($P->volume_snapshot_rollback($scfg, $sid, $vol, 'snap2'), undef, 'volume_snapshot_rollback');

# Snapshot activation (vzdump) into the temporary resource, then delete removes both.
is($P->activate_volume($sid, $scfg, $vol, 'snap1'), 1, 'activate a snapshot');
my $snappath = $P->path($scfg, $vol, $sid, 'snap1');
ok(-e $snappath, 'snapshot device exists');
is($P->map_volume($sid, $scfg, $vol, 'snap1'), $snappath, 'map_volume of a snapshot');
is($P->deactivate_volume($sid, $scfg, $vol, 'snap1'), 1, 'deactivate a snapshot');
is($P->volume_snapshot_delete($scfg, $sid, $vol, 'snap1', 0), undef, 'volume_snapshot_delete');
ok(!$sim->rd("snap_${rdname}_snap1"), 'temporary resource removed');
ok(!grep({ $_ eq "snap_${rdname}_snap1" } @{ $sim->rd($rdname)->{snapshots} }), 'snapshot removed');

# Long snapshot names: Perl path and helper agree on the shortened name.
my $long = 'L' . ('x' x 38);
$P->volume_snapshot($scfg, $sid, $vol, $long);
$P->activate_volume($sid, $scfg, $vol, $long);
ok(-e $P->path($scfg, $vol, $sid, $long), 'shortened snapshot name: Perl path finds the helper\'s device');
$P->volume_snapshot_delete($scfg, $sid, $vol, $long, 0);

# Templates and linked clones.
my $base = $P->create_base($sid, $scfg, $vol);
is($base, "base-$vol", 'create_base returns base-<volname>');
is(($P->parse_volname($base))[5], 1, 'template is a base');
my ($be) = grep { $_->{volid} eq "$sid:$base" } @{ $P->list_images($sid, $scfg, 100) };
ok($be, 'template listed under its base- volname');
my $clone = $P->clone_image($scfg, $sid, $base, 101);
like($clone, qr/^pm-[0-9a-f]{8}_101$/, 'clone_image of a template gives a volume of the new VM');
(my $clone_rd = $clone) =~ s/_101$//;
is($sim->rd($clone_rd)->{props}{'Aux/pm/vmid'}, '101', 'clone owned by the new VM');
ok(!$sim->rd($clone_rd)->{props}{'Aux/pm/base'}, 'clone is not a template');
$P->volume_snapshot($scfg, $sid, $legacy, 'for-clone');
my $clone2 = $P->clone_image($scfg, $sid, $legacy, 102, 'for-clone');
like($clone2, qr/^pm-[0-9a-f]{8}_102$/, 'clone_image from a snapshot');

# rename_volume (reassign owner).
my $volid = $P->rename_volume($scfg, $sid, $clone, 105, undef);
(my $new = $clone) =~ s/_101$/_105/;
is($volid, "$sid:$new", 'rename_volume returns the volid with the new VMID');
is($sim->rd($clone_rd)->{props}{'Aux/pm/vmid'}, '105', 'Aux/pm/vmid rewritten');
eval { $P->rename_volume($scfg, $sid, $legacy, 105, undef) };
like($@, qr/only pm-XXXXXXXX volumes can change owner/, 'legacy names cannot be reassigned');

# raw+size export and import.
{
    open(my $dev, '+<', $path) or die "open $path: $!";
    syswrite($dev, "hello from n1");
    close($dev);
    my $tmp = $sim->dir . '/export.bin';
    open(my $fh, '>', $tmp) or die;
    $P->volume_export($scfg, $sid, $fh, $vol, 'raw+size', undef, undef, 0);
    close($fh);
    is(-s $tmp, 8 + (8 << 20), 'export: 8-byte size header plus the data');
    open(my $in, '<', $tmp) or die;
    my $imported = $P->volume_import($scfg, $sid, $in, 'vm-106-disk-0', 'raw+size', undef, undef, 0, 0);
    close($in);
    is($imported, "$sid:vm-106-disk-0", 'import returns the volid');
    open(my $chk, '<', scalar($P->path($scfg, 'vm-106-disk-0', $sid))) or die;
    sysread($chk, my $head, 13);
    is($head, 'hello from n1', 'imported data matches');
}

# free_image deletes snapshots first, then the volume.
is($P->free_image($sid, $scfg, $legacy, 0, 'raw'), undef, 'free_image returns undef');
ok(!$sim->rd('vm-100-disk-7'), 'volume with snapshots deleted');
$P->free_image($sid, $scfg, $legacy, 0, 'raw');
pass('free_image of a missing volume succeeds');
is($P->deactivate_volume($sid, $scfg, $vol), 1, 'deactivate_volume of a diskful replica');
ok($sim->rd($rdname)->{resources}{n1}, 'diskful replica kept');

# 50 concurrent allocations for one VM give 50 distinct volumes.
my @pids;
my $dir = $sim->dir;
for my $i (1 .. 50) {
    my $pid = fork();
    die "fork: $!" if !defined $pid;
    if (!$pid) {
        my $v = eval { $P->alloc_image($sid, { %$scfg, preferlocal => 'no' }, 200, 'raw', undef, 4096) };
        open(my $o, '>', "$dir/alloc.$i") or exit 1;
        print $o ($v // "ERR $@");
        close($o);
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid($_, 0) for @pids;
my @got = map { open(my $i, '<', "$dir/alloc.$_") or die; local $/; <$i> } 1 .. 50;
my @bad = grep { !/^pm-[0-9a-f]{8}_200$/ } @got;
is(scalar(@bad), 0, '50 concurrent allocations all succeed') or diag(join("\n", @bad[0 .. ($#bad > 4 ? 4 : $#bad)]));
my %uniq = map { $_ => 1 } @got;
is(scalar(keys %uniq), 50, '50 distinct volumes');

done_testing();
$sim->stop;
