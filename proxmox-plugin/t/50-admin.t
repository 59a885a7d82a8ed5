#!/usr/bin/perl
# What a Proxmox admin meets through 'pvesm add/set' and the GUI, through the real module and
# helper against the LINSTOR simulator (PVE's API flow is the stand-in in t/lib/PVE/Storage.pm):
# the add/update check of controller and resource group with its escape hatch, controller-VM
# allocation, plain-sentence messages with the helper's log in the log, unique snapshot ids.

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
$sim->create_resource_group('drbdgrp', 2);
$sim->as_node('n1');
my $url = $sim->url;
local $PVE::Storage::CONFIG = { ids => {} };
my $ids = sub { $PVE::Storage::CONFIG->{ids} };

# ---- pvesm add / set ----
PVE::Storage::pvesm_add($P, 'good', controller => $url, resourcegroup => 'drbdgrp');
ok($ids->()->{good}, 'pvesm add with a reachable controller and an existing resource group stores the storage');

eval { PVE::Storage::pvesm_add($P, 'norg', controller => $url, resourcegroup => 'nosuchgroup') };
like($@, qr/^drbd storage 'norg': resource group 'nosuchgroup' does not exist on the LINSTOR controller; create it .* or set 'resourcegroup' to an existing one\. To store it anyway, add it with '--disable 1'/,
    'a missing resource group is refused on add, saying how to fix it and how to skip the check');
ok(!$ids->()->{norg}, 'and nothing is stored');

$sim->set_down(1);
my $t0 = time;
eval { PVE::Storage::pvesm_add($P, 'down', controller => $url, resourcegroup => 'drbdgrp') };
my $took = time - $t0;
like($@, qr/^drbd storage 'down': no LINSTOR controller reachable \(tried \Q$url\E\).*To store it anyway/, 'an unreachable controller is refused on add');
ok($took < 12, sprintf('within the 10 s bound of the check (%.1f s)', $took));
ok(!$ids->()->{down}, 'and nothing is stored');

PVE::Storage::pvesm_add($P, 'down', controller => $url, resourcegroup => 'drbdgrp', disable => 1);
ok($ids->()->{down}, 'with --disable 1 the admin stores it anyway (no check, as PVE does not activate it)');

eval { PVE::Storage::pvesm_set($P, 'down', ['disable']) };
like($@, qr/no LINSTOR controller reachable/, 'enabling it later checks again');
ok($ids->()->{down}{disable}, 'and it stays disabled');

PVE::Storage::pvesm_set($P, 'good', undef, statuscache => 30);
is($ids->()->{good}{statuscache}, 30, 'a change that does not touch the connection is not checked');
{
    local $PVE::Storage::APIVER = 12;
    eval { PVE::Storage::pvesm_set($P, 'good', undef, resourcegroup => 'drbdgrp') };
    like($@, qr/no LINSTOR controller reachable/, 'on_update_hook (APIVER 12) checks a changed resource group');
}
$sim->set_down(0);

eval { PVE::Storage::pvesm_set($P, 'good', undef, resourcegroup => 'nosuchgroup') };
like($@, qr/resource group 'nosuchgroup' does not exist/, 'on_update_hook_full (APIVER 15) checks a changed resource group');
is($ids->()->{good}{resourcegroup}, 'drbdgrp', 'and keeps the old one');
PVE::Storage::pvesm_set($P, 'down', ['disable']);
ok(!$ids->()->{down}{disable}, 'enabling works once the controller answers');

$sim->set_down(1);
$t0 = time;
my @st = $P->status('good', $ids->()->{good}, {});
ok(time - $t0 < 2, 'status stays bounded while a check would fail');
is(scalar($P->check_connection('good', $ids->()->{good})), 1, 'check_connection never touches the network');
$sim->set_down(0);

# ---- controller VM allocation ----
my $scfg = { controller => $url, resourcegroup => 'drbdgrp', controllervm => 900 };
my @warnings;
local $SIG{__WARN__} = sub { push @warnings, $_[0] };
is($P->alloc_image('good', $scfg, 900, 'raw', 'vm-900-disk-1', 65536), 'vm-900-disk-1', 'named allocation for the controller VM');
ok($sim->rd('vm-900-disk-1'), 'creates the volume');
is($sim->rd('vm-900-disk-1')->{volumes}[0]{size_kib}, 65536, 'with the size asked');
is($P->alloc_image('good', $scfg, 900, 'raw', 'vm-900-cloudinit', 4096), 'vm-900-cloudinit', 'the controller VM cloud-init volume');
ok($sim->rd('vm-900-cloudinit'), 'is created too');
$P->activate_volume('good', $scfg, 'vm-900-disk-1');
ok(-e $P->path($scfg, 'vm-900-disk-1', 'good'), 'and the next activation finds it');
is($P->alloc_image('good', $scfg, 900, 'raw', 'vm-900-disk-1', 65536), 'vm-900-disk-1', 'the same name again is that volume');

my $efi = $P->alloc_image('good', $scfg, 900, 'raw', undef, 4096);
like($efi, qr/^pm-[0-9a-f]{8}_900$/, 'an unnamed 4 MiB allocation (EFI disk) is a new volume');
isnt($efi, 'vm-900-disk-1', 'not the VM\'s 64 MiB disk');
my ($efi_rd) = $efi =~ /^(pm-[0-9a-f]{8})_/;
is($sim->rd($efi_rd)->{volumes}[0]{size_kib}, 4096, 'of 4 MiB');

my $lone = $P->alloc_image('good', { %$scfg, controllervm => 901 }, 901, 'raw', undef, 8192);
is($P->alloc_image('good', { %$scfg, controllervm => 901 }, 901, 'raw', undef, 8192), $lone, 'an unnamed allocation of the same size is the VM\'s one disk');
isnt($P->alloc_image('good', { %$scfg, controllervm => 901 }, 901, 'raw', undef, 16384), $lone, 'of another size it is a new volume');
is_deeply(\@warnings, [], 'no raw log line reached PVE as a warning');

# ---- messages and log ----
$sim->create_resource_group('onecopy', 1);
my $one = { %$scfg, resourcegroup => 'onecopy', preferlocal => 'no' };
my $dl = $P->alloc_image('good', $one, 301, 'raw', undef, 4096);
$sim->as_node('n2');
$P->activate_volume('good', $one, $dl);
$sim->as_node('n1');
$P->activate_volume('good', $one, $dl);
$sim->set_down(1);
@warnings = ();
$P->deactivate_volume('good', $one, $dl);
is(scalar(@warnings), 1, 'a deactivation without controller gives one warning');
unlike($warnings[0] // '', qr/^\s*(WARN|INFO|ERROR)\b|volume=|error=/, 'a plain sentence, not a log line');
like($sim->log_text, qr/WARN.*controller unreachable/, 'the helper\'s log line went to the log');
$sim->set_down(0);

# ---- snapshot ids ----
my $vol = $P->alloc_image('good', $ids->()->{good}, 300, 'raw', undef, 8192);
$P->volume_snapshot($ids->()->{good}, 'good', $vol, 'daily');
my $first = $P->volume_snapshot_info($ids->()->{good}, 'good', $vol)->{daily}{id};
ok(defined($first), 'a snapshot has an id');
$P->volume_snapshot_delete($ids->()->{good}, 'good', $vol, 'daily');
select(undef, undef, undef, 0.01);
$P->volume_snapshot($ids->()->{good}, 'good', $vol, 'daily');
my $second = $P->volume_snapshot_info($ids->()->{good}, 'good', $vol)->{daily}{id};
ok(defined($second) && $second ne $first, "a re-created snapshot of the same name gets a new id ($first, $second)");

done_testing();
$sim->stop;
