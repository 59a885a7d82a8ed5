#!/usr/bin/perl
# Loads the real LINSTORPlugin.pm under real Perl against the PVE stand-ins in t/lib (written from
# shared/reference/proxmox.md, not Proxmox code) and checks everything that needs no helper and
# no network: API negotiation, schema, parse_volname, path, features, PVE 9 methods.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl";
use Test::More;

use PVE::Storage;
use PVE::Storage::Plugin;

my $P = 'PVE::Storage::Custom::LINSTORPlugin';
my ($ok, $msg) = PVE::Storage::load_custom_plugin($P);
ok($ok, 'plugin loads like pve-storage loads Custom/*.pm') or diag($msg);
is($msg, '', 'no older-API warning on APIVER 15');
ok($P->isa('PVE::Storage::Plugin'), 'derives from PVE::Storage::Plugin');

# API negotiation (§2.2): follow PVE inside 9..15, else 15 while PVE still accepts it.
for my $case ([15, 6, 15], [9, 0, 9], [12, 3, 12], [16, 7, 15], [21, 6, 15], [22, 6, 9], [8, 7, 9]) {
    my ($ver, $age, $want) = @$case;
    local $PVE::Storage::APIVER = $ver;
    local $PVE::Storage::APIAGE = $age;
    is($P->api(), $want, "api() with APIVER $ver / APIAGE $age");
}
{
    local $PVE::Storage::APIVER = 16;
    local $PVE::Storage::APIAGE = 7;
    my ($loaded, $warning) = PVE::Storage::load_custom_plugin($P);
    ok($loaded, 'loads on a newer PVE that still accepts 15');
    like($warning, qr/older storage API/, 'with the older-API warning');
}

is($P->type(), 'drbd', 'type drbd (shared in pve-storage)');
my $pd = $P->plugindata();
is_deeply($pd->{content}, [ { images => 1, rootdir => 1 }, { images => 1 } ], 'content images,rootdir; default images');
is_deeply($pd->{format}, [ { raw => 1 }, 'raw' ], 'raw only');

my @peer = qw(controller resourcegroup preferlocal exactsize allowtwoprimaries statuscache apicrt
    apikey apica clusterlocktimeout searchdomain);
my $props = $P->properties();
my @own = qw(controllervm readtimeout changetimeout);
is_deeply([ sort keys %$props ], [ sort(@peer, @own) ], 'every linstor-proxmox option plus controllervm and the two bounds, nothing common re-declared');
for my $p (keys %$props) {
    ok($props->{$p}{type} && $props->{$p}{description}, "property $p has a type and a description");
}
my $opts = $P->options();
for my $o (@peer, @own, qw(nodes disable content)) {
    ok(exists $opts->{$o}, "option $o accepted");
}
is($opts->{resourcegroup}{optional}, 0, 'resourcegroup is mandatory');
ok(!grep({ !exists $props->{$_} && !/^(nodes|disable|content)$/ } keys %$opts), 'every option is declared');

# parse_volname (§3.6): no helper may run for these.
local $ENV{LINSTOR_PVE_HELPER} = '/nonexistent/linstor-pve';
is_deeply([ $P->parse_volname('pm-12cf742a_101') ], [ 'images', 'pm-12cf742a_101', 101, undef, undef, undef, 'raw' ], 'pm- name');
is_deeply([ $P->parse_volname('vm-100-disk-1') ], [ 'images', 'vm-100-disk-1', 100, undef, undef, undef, 'raw' ], 'legacy name');
for my $n (qw(vm-100-cloudinit vm-100-state-snap1 vm-100-fleece-0 vm-100-pvc-abc)) {
    is(($P->parse_volname($n))[2], 100, "$n parses");
}
is(($P->parse_volname('base-pm-12cf742a_101'))[5], 1, 'template volume is a base');
for my $bad ('pm-12CF742A_1', 'vm-100-d', 'vm-100-disk-1.raw', '101/vm-101-disk-0.qcow2', '', 'pm-12cf742a') {
    eval { $P->parse_volname($bad) };
    like($@, qr/unable to parse drbd volume name/, "'$bad' refused");
}

# path: deterministic, no side effects, untainted shape.
{
    local $ENV{LINSTOR_PVE_DEV_ROOT};
    is($P->path({}, 'pm-12cf742a_101', 'drbd1'), '/dev/drbd/by-res/pm-12cf742a/0', 'path of a pm- volume');
    is($P->path({}, 'vm-100-disk-1', 'drbd1'), '/dev/drbd/by-res/vm-100-disk-1/0', 'path of a legacy volume');
    is($P->path({}, 'pm-12cf742a_101', 'drbd1', 'vzdump'), '/dev/drbd/by-res/snap_pm-12cf742a_vzdump/0', 'snapshot path uses the temporary resource');
    my @l = $P->filesystem_path({}, 'pm-12cf742a_101');
    is_deeply(\@l, [ '/dev/drbd/by-res/pm-12cf742a/0', 101, 'images' ], 'list context: path, vmid, vtype');
    my $long = $P->path({}, 'pm-12cf742a_101', 'drbd1', 'a' x 40);
    my ($rd) = $long =~ m!by-res/([^/]+)/0$!;
    ok(length($rd) <= 48, 'long snapshot names are shortened to LINSTOR\'s 48 characters');
    eval { $P->path({}, 'pm-12cf742a_101', 'drbd1', '../x') };
    like($@, qr/invalid snapshot name/, 'snapshot names are checked');
}

# Features (§2.4): a Perl table, no network.
my %f = (
    'snapshot current' => [ 'snapshot', 'pm-12cf742a_101', undef, 1 ],
    'clone base' => [ 'clone', 'base-pm-12cf742a_101', undef, 1 ],
    'clone snap' => [ 'clone', 'pm-12cf742a_101', 'snap1', 1 ],
    'clone current' => [ 'clone', 'pm-12cf742a_101', undef, undef ],
    'template current' => [ 'template', 'vm-100-disk-1', undef, 1 ],
    'copy current' => [ 'copy', 'vm-100-disk-1', undef, 1 ],
    'copy snap' => [ 'copy', 'vm-100-disk-1', 'snap1', undef ],
    'rename pm-' => [ 'rename', 'pm-12cf742a_101', undef, 1 ],
    'rename legacy' => [ 'rename', 'vm-100-disk-1', undef, undef ],
    'sparseinit' => [ 'sparseinit', 'pm-12cf742a_101', undef, undef ],
);
for my $k (sort keys %f) {
    my ($feat, $vol, $snap, $want) = @{ $f{$k} };
    is($P->volume_has_feature({}, $feat, 'drbd1', $vol, $snap), $want, "feature $k");
}

# PVE 9 additions.
is($P->volume_qemu_snapshot_method('drbd1', {}, 'pm-12cf742a_101'), 'storage', 'snapshots are taken by the storage');
is_deeply($P->get_formats({}, 'drbd1'), { default => 'raw', valid => { raw => 1 } }, 'get_formats raw');
eval { $P->volume_resize({}, 'drbd1', 'pm-12cf742a_101', 1 << 30, 0, 'snap1') };
like($@, qr/cannot resize snapshot 'snap1'/, 'volume_resize dies on $snapname (APIVER 15)');
eval { $P->rename_snapshot({}, 'drbd1', 'pm-12cf742a_101', 'a', 'b') };
like($@, qr/not supported/, 'rename_snapshot refused');
eval { $P->alloc_image('drbd1', {}, 100, 'qcow2', undef, 1024) };
like($@, qr/raw volumes only/, 'alloc_image refuses qcow2 before any helper run');
is_deeply([ $P->volume_export_formats({}, 'drbd1', 'pm-12cf742a_101', undef, undef, 0) ], ['raw+size'], 'export raw+size');
is_deeply([ $P->volume_import_formats({}, 'drbd1', 'pm-12cf742a_101', undef, undef, [ 'a' ]) ], [], 'no export with snapshots');
is($P->activate_storage('drbd1', {}), 1, 'activate_storage needs nothing');
is($P->check_connection('drbd1', {}), 1, 'check_connection never touches the network');

# clusterlocktimeout (§3.3): user value when PVE passes none, else the larger one.
{
    local $PVE::Storage::CONFIG = { ids => { drbd1 => { clusterlocktimeout => 30 } } };
    local @PVE::Storage::Plugin::LOCK_CALLS;
    is($P->cluster_lock_storage('drbd1', 1, undef, sub { 'ran ' . join(',', @_) }, 'x'), 'ran x', 'locked code runs');
    $P->cluster_lock_storage('drbd1', 1, 10, sub { });
    $P->cluster_lock_storage('drbd1', 1, 60, sub { });
    is_deeply([ map { $_->{timeout} } @PVE::Storage::Plugin::LOCK_CALLS ], [ 30, 30, 60 ], 'clusterlocktimeout applied');
}

# controllervm: free reports success with no helper and no controller.
my $w = '';
{
    local $SIG{__WARN__} = sub { $w .= $_[0] };
    is($P->free_image('drbd1', { controllervm => 100 }, 'vm-100-disk-1'), undef, 'free_image of the controller VM succeeds');
}
like($w, qr/controller VM 100: kept/, 'and says the volume is kept');
is($P->deactivate_volume('drbd1', { controllervm => 100 }, 'vm-100-disk-1'), 1, 'deactivate of the controller VM is a no-op');

# The option schema, checked the way PVE checks storage.cfg and 'pvesm add/set' (SectionConfig
# check_value -> PVE::JSONSchema::check_prop): a bad value is refused at once, with PVE's message.
my %good = (
    preferlocal => [qw(yes no)],
    exactsize => [qw(yes no)],
    allowtwoprimaries => [qw(yes migration no)],
    controllervm => [qw(100 900 999999999)],
    controller => ['10.0.0.1', 'ctl-a,ctl-b', '10.0.0.1:3370, [fd00::1]:3371', 'https://ctl.example.com:3371/',
        'linstor+ssl://ctl', 'linstor://ctl', 'http://[::1]', 'localhost'],
    resourcegroup => [qw(drbdgrp DfltRscGrp _rg-2)],
    statuscache => [qw(0 60 7200)],
    clusterlocktimeout => [qw(0 120)],
    searchdomain => [qw(example.com lan)],
    readtimeout => [qw(1 2.5 30 300 300.0)],
    changetimeout => [qw(5 45 90.5 600)],
);
for my $k (sort keys %good) {
    for my $v (@{ $good{$k} }) {
        is(eval { PVE::Storage::check_value($P, $k, $v) }, $v, "$k '$v' accepted") or diag($@);
    }
}
my @bad = (
    [ preferlocal => 'maybe', qr/value 'maybe' does not have a value in the enumeration 'yes, no'/ ],
    [ preferlocal => '', qr/does not have a value in the enumeration/ ],
    [ exactsize => 'sometimes', qr/enumeration 'yes, no'/ ],
    [ allowtwoprimaries => 'always', qr/enumeration 'yes, migration, no'/ ],
    [ controllervm => 'notavmid', qr/type check \('integer'\) failed - got 'notavmid'/ ],
    [ controllervm => '99', qr/invalid format - value does not look like a valid VM ID/ ],
    [ controllervm => '', qr/type check \('integer'\) failed/ ],
    [ controller => 'ftp://ctl', qr/invalid format - controller 'ftp:\/\/ctl' is not host/ ],
    [ controller => '', qr/value must be at least 1 characters long/ ],
    [ controller => 'ctl:99999', qr/invalid format/ ],
    [ controller => 'user@ctl', qr/invalid format/ ],
    [ controller => 'http://ctl/api', qr/invalid format/ ],
    [ resourcegroup => '1rg', qr/value does not match the regex pattern/ ],
    [ resourcegroup => 'rg with space', qr/value does not match the regex pattern/ ],
    [ statuscache => '7201', qr/value must have a maximum value of 7200/ ],
    [ statuscache => 'soon', qr/type check \('integer'\) failed/ ],
    [ clusterlocktimeout => '-1', qr/value must have a minimum value of 0/ ],
    [ searchdomain => '.example.com', qr/invalid format - value does not look like a valid DNS name/ ],
    [ readtimeout => '0.5', qr/value must have a minimum value of 1/ ],
    [ readtimeout => '301', qr/value must have a maximum value of 300/ ],
    [ readtimeout => 'slow', qr/type check \('number'\) failed - got 'slow'/ ],
    [ readtimeout => '1e2', qr/value does not match the regex pattern/ ],
    [ readtimeout => '-5', qr/value does not match the regex pattern/ ],
    [ changetimeout => '4', qr/value must have a minimum value of 5/ ],
    [ changetimeout => '601', qr/value must have a maximum value of 600/ ],
    [ changetimeout => '.5', qr/value does not match the regex pattern/ ],
    [ disable => 'yes', qr/type check \('boolean'\) failed - got 'yes'/ ],
    [ nosuchoption => 'x', qr/unexpected property 'nosuchoption'/ ],
    [ controller => "a\nb", qr/property contains a line feed/ ],
);
for my $case (@bad) {
    my ($k, $v, $re) = @$case;
    eval { PVE::Storage::check_value($P, $k, $v) };
    like($@, $re, "$k '$v' refused with PVE's message");
}
{
    local $PVE::Storage::CONFIG = { ids => {} };
    eval { PVE::Storage::pvesm_add($P, 'bad1', resourcegroup => 'rg', preferlocal => 'maybe', controllervm => 'notavmid') };
    like($@, qr/^Parameter verification failed\.\ncontrollervm: type check .*\npreferlocal: value 'maybe'/s, 'pvesm add lists every bad option');
    ok(!$PVE::Storage::CONFIG->{ids}{bad1}, 'and nothing is stored');
    eval { PVE::Storage::pvesm_add($P, 'bad2', controller => 'ctl') };
    like($@, qr/resourcegroup: property is missing and it is not optional/, 'resourcegroup is required by pvesm add');
}

# The bounds reach the helper as written; they change how long a call waits, not what status
# answers, so the status cache stays valid across a change of either.
{
    my $req = PVE::Storage::Custom::LINSTORPlugin::_request('drbd1',
        { resourcegroup => 'rg', readtimeout => 2.5, changetimeout => '90' }, {}, 30);
    is_deeply([ @{ $req->{scfg} }{qw(readtimeout changetimeout)} ], [ '2.5', '90' ], 'readtimeout and changetimeout are passed to the helper');
    my $key = PVE::Storage::Custom::LINSTORPlugin::_status_key({ resourcegroup => 'rg' });
    is(PVE::Storage::Custom::LINSTORPlugin::_status_key({ resourcegroup => 'rg', readtimeout => 30, changetimeout => 60 }),
        $key, 'the bounds do not change the status cache key');
}

done_testing();
