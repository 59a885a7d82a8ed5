#!/usr/bin/perl
# Live migration across simulated nodes through the real module and helper: the target's
# activate_volume makes a diskless copy (allow-two-primaries per option), the source's
# deactivate_volume removes its diskless copy and keeps diskful replicas. Run with
# allowtwoprimaries yes (permanent) and migration (set for the handover, cleared after).

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
$sim->create_resource_group('onecopy', 1);
my $sid = 'drbd1';

sub diskless_on {
    my ($rd, $node) = @_;
    my $r = $sim->rd($rd)->{resources}{$node};
    return $r && LinstorSimHarness::is_diskless($r);
}

for my $mode (qw(yes migration)) {
    my $scfg = { controller => $sim->url, resourcegroup => 'onecopy', allowtwoprimaries => $mode };
    $sim->as_node('n1');
    my $vol = $P->alloc_image($sid, $scfg, 300, 'raw', undef, 8192);
    my ($rd) = $vol =~ /^(pm-[0-9a-f]{8})_/;
    my $a2p = sub { $sim->rd($rd)->{props}{'DrbdOptions/Net/allow-two-primaries'} // 'unset' };
    ok(!LinstorSimHarness::is_diskless($sim->rd($rd)->{resources}{n1}), "[$mode] one diskful replica on n1");
    is($a2p->(), $mode eq 'yes' ? 'yes' : 'unset', "[$mode] allow-two-primaries after creation");

    # The VM starts on n2 (diskless) and writes.
    $sim->as_node('n2');
    $P->activate_volume($sid, $scfg, $vol);
    ok(diskless_on($rd, 'n2'), "[$mode] start on n2: diskless copy on n2");
    my $p2 = $P->path($scfg, $vol, $sid);
    open(my $w, '+<', $p2) or die "open $p2: $!";
    syswrite($w, 'written on n2');
    close($w);
    $sim->set_in_use($rd, 'n2', 1);

    # Live migration n2 -> n3: the target activates while the source is Primary.
    $sim->as_node('n3');
    $P->activate_volume($sid, $scfg, $vol);
    ok(diskless_on($rd, 'n3'), "[$mode] target n3 got a diskless copy");
    is($a2p->(), 'yes', "[$mode] two primaries allowed during the handover");
    open(my $r, '<', scalar($P->path($scfg, $vol, $sid))) or die;
    sysread($r, my $data, 13);
    is($data, 'written on n2', "[$mode] data visible on the target");
    $sim->set_in_use($rd, 'n3', 1);
    $sim->set_in_use($rd, 'n2', 0);

    # The source stops and deactivates.
    $sim->as_node('n2');
    $P->deactivate_volume($sid, $scfg, $vol);
    ok(!$sim->rd($rd)->{resources}{n2}, "[$mode] source n2's diskless copy removed");
    ok($sim->rd($rd)->{resources}{n1}, "[$mode] diskful replica on n1 kept");
    is($a2p->(), $mode eq 'yes' ? 'yes' : 'unset', "[$mode] allow-two-primaries " . ($mode eq 'yes' ? 'stays (permanent)' : 'cleared after the handover'));
    ok(!$sim->rd($rd)->{props}{'Aux/linstor-plugins/migration-two-primaries'}, "[$mode] no migration marker left");

    # Migration n3 -> n1 (onto the diskful node), then n1 deactivates nothing diskful.
    $sim->as_node('n1');
    $P->activate_volume($sid, $scfg, $vol);
    $sim->set_in_use($rd, 'n1', 1);
    $sim->set_in_use($rd, 'n3', 0);
    $sim->as_node('n3');
    $P->deactivate_volume($sid, $scfg, $vol);
    ok(!$sim->rd($rd)->{resources}{n3}, "[$mode] n3's diskless copy removed after migrating to n1");
    $sim->set_in_use($rd, 'n1', 0);
    $sim->as_node('n1');
    $P->deactivate_volume($sid, $scfg, $vol);
    ok($sim->rd($rd)->{resources}{n1}, "[$mode] deactivate never removes the diskful replica");
    is($a2p->(), $mode eq 'yes' ? 'yes' : 'unset', "[$mode] allow-two-primaries state at the end");
}

done_testing();
$sim->stop;
