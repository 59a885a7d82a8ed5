#!/usr/bin/perl
# Switching from LINBIT's linstor-proxmox 8.3 and back: volumes laid out exactly as 8.3 creates
# them through LINSTOR's REST API (spawn with definitions_only and its DrbdOptions/ExactSize and
# allow-two-primaries props, a diskful make-available here, autoplace, then Aux/pm/vmid; a legacy
# vm-<vmid>-disk-<n>; snapshots named snap_<res>_<snap>) are listed, activated, snapshotted,
# rolled back, resized and freed by this plugin; what this plugin creates has the same layout.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl";
use Test::More;
use LinstorSimHarness;

LinstorSimHarness::require_binaries();

use PVE::Storage;
use PVE::Storage::Custom::LINSTORPlugin;

my $P = 'PVE::Storage::Custom::LINSTORPlugin';
my $sim = LinstorSimHarness->start(nodes => 'n1,n2,n3');
$sim->create_resource_group('drbdgrp', 2);
$sim->as_node('n1');
my $sid = 'drbdstorage';
my $scfg = { controller => $sim->url, resourcegroup => 'drbdgrp' };

# As linstor-proxmox 8.3 allocates (shared/reference/proxmox.md §3.7-§3.8).
sub linbit_alloc {
    my ($name, $kib, $vmid) = @_;
    $sim->request('POST', '/v1/resource-groups/drbdgrp/spawn', {
        resource_definition_name => $name, definitions_only => JSON::PP::true, volume_sizes => [$kib],
        resource_definition_props => { 'DrbdOptions/ExactSize' => 'False', 'DrbdOptions/Net/allow-two-primaries' => 'yes' },
    });
    $sim->request('POST', "/v1/resource-definitions/$name/resources/n1/make-available", { diskful => JSON::PP::true });
    $sim->request('POST', "/v1/resource-definitions/$name/autoplace", {});
    $sim->request('PUT', "/v1/resource-definitions/$name", { override_props => { 'Aux/pm/vmid' => "$vmid" } })
        if defined($vmid);
}
linbit_alloc('pm-12cf742a', 32768, 101);
linbit_alloc('vm-101-disk-1', 16384, undef);
$sim->request('POST', '/v1/resource-definitions/pm-12cf742a/snapshots', { name => 'snap_pm-12cf742a_before' });

my @ids = sort map { $_->{volid} } @{ $P->list_images($sid, $scfg, 101) };
is_deeply(\@ids, [ "$sid:pm-12cf742a_101", "$sid:vm-101-disk-1" ], 'both LINBIT volumes are listed for VM 101');
is(($P->volume_size_info($scfg, $sid, 'pm-12cf742a_101'))[0], 32 << 20, 'with their size');
is_deeply([ keys %{ $P->volume_snapshot_info($scfg, $sid, 'pm-12cf742a_101') } ], ['before'], 'the LINBIT snapshot is seen under its PVE name');

$sim->as_node('n3');
is($P->activate_volume($sid, $scfg, 'pm-12cf742a_101'), 1, 'a LINBIT volume activates on another node');
ok(-e $P->path($scfg, 'pm-12cf742a_101', $sid), 'its device is there');
$P->deactivate_volume($sid, $scfg, 'pm-12cf742a_101');
$sim->as_node('n1');

ok($P->volume_rollback_is_possible($scfg, $sid, 'pm-12cf742a_101', 'before'), 'rollback to the LINBIT snapshot is possible');
$P->volume_snapshot_rollback($scfg, $sid, 'pm-12cf742a_101', 'before');
pass('and done');
$P->volume_snapshot($scfg, $sid, 'pm-12cf742a_101', 'after');
ok(grep({ $_ eq 'snap_pm-12cf742a_after' } map { $_->{name} } @{ $sim->request('GET', '/v1/resource-definitions/pm-12cf742a/snapshots') }),
    'a snapshot made here has the name linstor-proxmox expects');
is($P->volume_resize($scfg, $sid, 'vm-101-disk-1', 32 << 20, 0), 1, 'the legacy volume resizes');
is($sim->rd('vm-101-disk-1')->{volumes}[0]{size_kib}, 32768, 'to the new size');

# What this plugin creates, as linstor-proxmox 8.3 reads it.
my $ours = $P->alloc_image($sid, $scfg, 102, 'raw', undef, 8192);
my ($rd) = $ours =~ /^(pm-[0-9a-f]{8})_102$/;
ok($rd, 'our volume has a pm- name');
my $props = $sim->rd($rd)->{props};
is($props->{'Aux/pm/vmid'}, '102', 'Aux/pm/vmid');
is(lc($props->{'DrbdOptions/ExactSize'}), 'false', 'DrbdOptions/ExactSize=False (LINSTOR stores booleans lower-case)');
is($props->{'DrbdOptions/Net/allow-two-primaries'}, 'yes', 'allow-two-primaries=yes');

for my $vol ('pm-12cf742a_101', 'vm-101-disk-1', $ours) {
    $P->free_image($sid, $scfg, $vol, 0, 'raw');
    my ($name) = $vol =~ /^([^_]+(?:-disk-\d+)?)/;
    ok(!$sim->rd($name), "$vol is freed (with its snapshots)");
}

done_testing();
$sim->stop;
