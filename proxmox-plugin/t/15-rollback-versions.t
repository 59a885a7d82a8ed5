#!/usr/bin/perl
# Rollback to an older snapshot through the real module and helper against a simulator that
# emulates LINSTOR 1.31.1, which rolls back only to the newest snapshot (1.34: t/10-methods.t).

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
my $sim = LinstorSimHarness->start(nodes => 'n1,n2,n3', args => ['--version', '1.31.1']);
$sim->create_resource_group('drbdgrp', 2);
$sim->as_node('n1');
my $scfg = { type => 'drbd', controller => $sim->url, resourcegroup => 'drbdgrp', content => { images => 1 } };
my $sid = 'drbd1';

my $vol = $P->alloc_image($sid, $scfg, 100, 'raw', undef, 1024);
like($vol, qr/^pm-[0-9a-f]{8}_100$/, 'alloc_image');
is($P->volume_snapshot($scfg, $sid, $vol, 'snap1'), undef, 'snapshot snap1');
select(undef, undef, undef, 0.01);
is($P->volume_snapshot($scfg, $sid, $vol, 'snap2'), undef, 'snapshot snap2');

my @blockers;
eval { $P->volume_rollback_is_possible($scfg, $sid, $vol, 'snap1', \@blockers) };
like($@, qr/not most recent snapshot/, 'LINSTOR 1.31.1: rollback to an older snapshot refused');
is_deeply(\@blockers, ['snap2'], 'the newer snapshot is named as blocker');
eval { $P->volume_snapshot_rollback($scfg, $sid, $vol, 'snap1') };
like($@, qr/LINSTOR 1\.31\.1 rolls back only to the newest snapshot.*snap_/s,
    'the rollback itself is refused with the controller version and the newer snapshot');
is($P->volume_rollback_is_possible($scfg, $sid, $vol, 'snap2', []), 1, 'rollback to the newest is possible');
is($P->volume_snapshot_rollback($scfg, $sid, $vol, 'snap2'), undef, 'rollback to the newest');
$P->free_image($sid, $scfg, $vol, 0);
is(scalar(@{ $P->list_images($sid, $scfg, undef, undef, {}) }), 0, 'cleaned up');

done_testing();
