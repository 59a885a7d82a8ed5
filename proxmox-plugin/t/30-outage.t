#!/usr/bin/perl
# Control-plane outage and the controller VM (DESIGN.md §3), through the real module and helper:
# with every controller down, status answers within 2 s, present volumes activate and resolve,
# alloc fails naming the controllers tried; the controller VM's volumes work without a controller,
# are never deleted, and snapshot/resize fail clearly instead of pretending.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl";
use Test::More;
use Time::HiRes qw(time);
use LinstorSimHarness;

LinstorSimHarness::require_binaries();

use PVE::Storage;
use PVE::Storage::Custom::LINSTORPlugin;

my $P = 'PVE::Storage::Custom::LINSTORPlugin';
my $sim = LinstorSimHarness->start(nodes => 'n1,n2');
my $sid = 'drbd1';
my $scfg = { controller => $sim->url, resourcegroup => 'DfltRscGrp', controllervm => 100 };
$sim->as_node('n1');

my $vol = $P->alloc_image($sid, $scfg, 200, 'raw', undef, 8192);
$P->activate_volume($sid, $scfg, $vol);
my @cached = $P->status($sid, $scfg, {});
is($cached[3], 1, 'status cached while the controller is up');

my $cvm = $P->alloc_image($sid, $scfg, 100, 'raw', undef, 8192);
like($cvm, qr/^pm-[0-9a-f]{8}_100$/, 'first volume of the controller VM is created');
is($P->alloc_image($sid, $scfg, 100, 'raw', undef, 8192), $cvm, 'allocating for the controller VM again returns its existing volume');
$P->activate_volume($sid, $scfg, $cvm);
my ($cvm_rd) = $cvm =~ /^(pm-[0-9a-f]{8})_/;

$sim->set_down(1);
my @warnings;
local $SIG{__WARN__} = sub { push @warnings, $_[0] };

my $t0 = time;
my @st = $P->status($sid, $scfg, {});
ok(time - $t0 < 2, sprintf('status with the controller down returns in %.2f s', time - $t0));
is_deeply(\@st, \@cached, 'and serves the cached capacity');
$t0 = time;
my @none = $P->status($sid, { %$scfg, resourcegroup => 'uncached' }, {});
ok(time - $t0 < 2, 'status without a cache returns in under 2 s too');
is_deeply(\@none, [undef], 'and reports the storage inactive');

is($P->activate_volume($sid, $scfg, $vol), 1, 'activate_volume of a present volume works with no controller');
ok(-e $P->path($scfg, $vol, $sid), 'its path resolves to the local device');
my $url = $sim->url;
eval { $P->alloc_image($sid, $scfg, 200, 'raw', undef, 8192) };
like($@, qr/no LINSTOR controller reachable \(tried \Q$url\E\)/, 'alloc_image fails naming the controllers tried');
is($P->deactivate_volume($sid, $scfg, $vol), 1, 'deactivate_volume with no controller succeeds');
is_deeply(\@warnings, ["No LINSTOR controller answered, so the diskless copy of $vol on this node stays until the next deactivation.\n"],
    'with one plain-sentence warning (the helper log goes to the log, not to PVE)');
for my $name (undef, 'vm-100-disk-9') {
    eval { $P->alloc_image($sid, $scfg, 100, 'raw', $name, 4096) };
    like($@, qr/^cannot allocate a volume for VM 100, which runs the LINSTOR controller: its existing disks keep working without a controller, but a new volume needs one; .*no LINSTOR controller reachable/,
        'a new controller VM volume is refused clearly while no controller answers (' . ($name // 'unnamed') . ')');
}

# The controller VM.
is($P->activate_volume($sid, $scfg, $cvm), 1, 'controller VM volume activates with no controller');
ok(-e $P->path($scfg, $cvm, $sid), 'controller VM path resolves');
is($P->free_image($sid, $scfg, $cvm, 0, 'raw'), undef, 'freeing the controller VM volume reports success');
eval { $P->volume_snapshot($scfg, $sid, $cvm, 'snap1') };
like($@, qr/no LINSTOR controller reachable/, 'controller VM snapshot fails clearly while the controller is down');
eval { $P->volume_resize($scfg, $sid, $cvm, 16 << 20, 0) };
like($@, qr/no LINSTOR controller reachable/, 'controller VM resize fails clearly while the controller is down');

$sim->set_down(0);
ok($sim->rd($cvm_rd), 'the controller VM volume still exists');
$P->free_image($sid, $scfg, $cvm, 0, 'raw');
ok($sim->rd($cvm_rd), 'free_image keeps it with the controller up, too');
is($P->volume_resize($scfg, $sid, $cvm, 16 << 20, 0), 1, 'controller VM resize goes to the controller when it is up');
is($sim->rd($cvm_rd)->{volumes}[0]{size_kib}, 16384, 'and really resizes');

done_testing();
$sim->stop;
