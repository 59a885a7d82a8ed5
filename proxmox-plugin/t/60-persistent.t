#!/usr/bin/perl
# The helper a long-lived PVE process keeps (pvestatd, pvedaemon): one helper for many calls,
# none for a warm-cache status, a new one in a process PVE forked, every call bounded (a hung
# helper is stopped and replaced), a helper that died replaced on the next call.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl";
use File::Temp qw(tempdir);
use POSIX ();
use Test::More;
use Time::HiRes qw(time);
use JSON::PP ();
use LinstorSimHarness;

LinstorSimHarness::require_binaries();

use PVE::Storage;
use PVE::Storage::Custom::LINSTORPlugin;

my $P = 'PVE::Storage::Custom::LINSTORPlugin';
if (($ENV{LINSTOR_PVE_PERSISTENT} // '') eq '0') {
    plan skip_all => 'LINSTOR_PVE_PERSISTENT=0: this run covers one helper process per call';
}
my $sim = LinstorSimHarness->start(nodes => 'n1,n2');
$sim->create_resource_group('drbdgrp', 2);
$sim->as_node('n1');
my $sid = 'drbd1';
my $scfg = { controller => $sim->url, resourcegroup => 'drbdgrp' };
my $pid_of = sub { PVE::Storage::Custom::LINSTORPlugin::helper_pid() };

is($pid_of->(), undef, 'loading the plugin starts nothing');
my $vol = $P->alloc_image($sid, $scfg, 100, 'raw', undef, 4096);
my $helper = $pid_of->();
ok($helper && kill(0, $helper), 'the first call starts the helper');
$P->activate_volume($sid, $scfg, $vol);
$P->list_images($sid, $scfg, 100);
$P->volume_resize($scfg, $sid, $vol, 8 << 20, 0);
is(($P->volume_size_info($scfg, $sid, $vol))[0], 8 << 20, 'calls are answered');
is($pid_of->(), $helper, 'by the same helper process');

# status: the first one asks the helper, which leaves its answer in the status file after
# answering; the next ones are answered in Perl, in this process and in fresh ones.
my @st = $P->status($sid, $scfg, {});
is($st[3], 1, 'status active');
my $status_file = PVE::Storage::Custom::LINSTORPlugin::_cache_dir() . "/pve-status-$sid.json";
{
    my $deadline = time + 5;
    Time::HiRes::sleep(0.01) while !-e $status_file && time < $deadline;
    ok(-e $status_file, 'the helper leaves its status answer for the other processes');
}
{
    $sim->reset_stats;
    local $ENV{LINSTOR_PVE_SCFG} = JSON::PP->new->encode($scfg);
    my $out = `$^X -I$FindBin::Bin/lib -I$FindBin::Bin/../perl -MJSON::PP -MPVE::Storage::Custom::LINSTORPlugin -e 'my \@s = PVE::Storage::Custom::LINSTORPlugin->status("$sid", decode_json(\$ENV{LINSTOR_PVE_SCFG}), {}); print "\@s \$PVE::Storage::Custom::LINSTORPlugin::PROCESS_STARTS"'`;
    is($out, "@st 0", 'a warm-cache status in a fresh process is read from that file and starts no helper');
    is($sim->stats->{total}, 0, 'and sends no request');
}
{
    my $child = fork() // die "fork: $!";
    if (!$child) {
        my $ok = 1;
        $sim->{owner} = -1;    # the child must not stop the parent's simulator
        $sim->reset_stats;
        my @again = $P->status($sid, $scfg, {});
        $ok &&= "@again" eq "@st";
        $ok &&= !defined($pid_of->());
        $ok &&= $sim->stats->{total} == 0;
        POSIX::_exit($ok ? 0 : 1);
    }
    waitpid($child, 0);
    is($?, 0, 'a process PVE forked answers a warm status without a helper or a request');
}
{
    unlink($status_file) or die "unlink $status_file: $!";
    local $ENV{LINSTOR_PVE_HELPER} = '/nonexistent/linstor-pve';
    is_deeply([ $P->status($sid, $scfg, {}) ], \@st,
        'the process answers from its own last status while it is fresh, without the file or the helper');
}
is_deeply([ $P->status($sid, { %$scfg, statuscache => 0 }, {}) ], \@st, 'statuscache 0 always asks the helper (bounded)');
is_deeply([ $P->status($sid, { %$scfg, resourcegroup => 'DfltRscGrp' }, {}) ]->[3], 1, 'another resource group is not served from this storage\'s answer');

# fork: the child gets its own helper, the parent keeps its own.
{
    pipe(my $r, my $w) or die "pipe: $!";
    my $child = fork() // die "fork: $!";
    if (!$child) {
        close($r);
        $sim->{owner} = -1;
        my $n = eval { scalar(@{ $P->list_images($sid, $scfg, 100) }) } // -1;
        my $mine = $pid_of->() // 0;
        print {$w} "$n $mine\n";
        close($w);
        POSIX::_exit(0);
    }
    close($w);
    my ($n, $child_helper) = split(' ', scalar(<$r>) // '');
    waitpid($child, 0);
    is($n, 1, 'a forked process lists through the plugin');
    ok($child_helper && $child_helper != $helper, 'with its own helper');
}
is($pid_of->(), $helper, 'the parent keeps its helper');
is(scalar(@{ $P->list_images($sid, $scfg, 100) }), 1, 'and it still answers');

# A helper that died is replaced on the next call.
kill('KILL', $helper);
waitpid($helper, 0);
is(scalar(@{ $P->list_images($sid, $scfg, 100) }), 1, 'a call after the helper died is answered');
isnt($pid_of->(), $helper, 'by a new helper');

# A hung helper: the call ends at its timeout, the helper is stopped, the next call gets a new one.
my $dir = tempdir(CLEANUP => 1);
my $hang = "$dir/hanging-helper";
open(my $fh, '>', $hang) or die;
print {$fh} "#!/bin/sh\nread line\nexec sleep 600\n";
close($fh);
chmod(0755, $hang);
{
    local $ENV{LINSTOR_PVE_HELPER} = $hang;
    my $t0 = time;
    my @none = $P->status($sid, { %$scfg, statuscache => 0 }, {});
    my $took = time - $t0;
    is_deeply(\@none, [undef], 'status with a hung helper reports the storage inactive');
    ok($took < 5, sprintf('after its 3 s bound (%.1f s)', $took));
    like($sim->log_text, qr/no answer within 3 s; the helper was stopped/, 'and logs why');
    is($pid_of->(), undef, 'the hung helper was stopped');
}
is(scalar(@{ $P->list_images($sid, $scfg, 100) }), 1, 'the next call starts a working helper');

$P->free_image($sid, $scfg, $vol);
done_testing();
$sim->stop;
