#!/usr/bin/perl
# linstor-bench's Proxmox side: the real PVE::Storage::Custom::LINSTORPlugin, loaded beside the
# PVE stand-ins of proxmox-plugin/t/lib, driving the calls itself.
#   pve-driver.pl once '<call>'  one call in this fresh process (as pvesm and qm workers do)
#   pve-driver.pl serve          one call per stdin line, in one long-lived process (pvestatd,
#                                pvedaemon)
# A call is {"method", "storeid", "scfg", "node", "dev_root", "args"}; the answer line is
# {"ok": ..., "wall_ns": <the plugin method's own time>, "starts": <helper processes started>}.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../proxmox-plugin/t/lib", "$FindBin::Bin/../../proxmox-plugin/perl";
use JSON::PP;
use Time::HiRes ();

use PVE::Storage;
use PVE::Storage::Custom::LINSTORPlugin;

my $P = 'PVE::Storage::Custom::LINSTORPlugin';

sub call {
    my ($c) = @_;
    local $ENV{LINSTOR_PVE_NODE} = $c->{node};
    local $ENV{LINSTOR_PVE_DEV_ROOT} = $c->{dev_root};
    my ($sid, $scfg, $a) = ($c->{storeid}, $c->{scfg}, $c->{args} // {});
    my $m = $c->{method};
    my $starts = $PVE::Storage::Custom::LINSTORPlugin::PROCESS_STARTS;
    my $t0 = Time::HiRes::time();
    my $ok;
    if ($m eq 'status') {
        $ok = [ $P->status($sid, $scfg, {}) ];
    } elsif ($m eq 'alloc_image') {
        $ok = $P->alloc_image($sid, $scfg, $a->{vmid}, 'raw', undef, $a->{size_kib});
    } elsif ($m eq 'activate_volume') {
        $ok = $P->activate_volume($sid, $scfg, $a->{volname});
    } elsif ($m eq 'deactivate_volume') {
        $ok = $P->deactivate_volume($sid, $scfg, $a->{volname});
    } elsif ($m eq 'list_images') {
        $ok = scalar(@{ $P->list_images($sid, $scfg, undef) });
    } else {
        die "pve-driver: unknown method '$m'\n";
    }
    my $wall = Time::HiRes::time() - $t0;
    return {
        ok => $ok,
        wall_ns => int($wall * 1e9),
        starts => $PVE::Storage::Custom::LINSTORPlugin::PROCESS_STARTS - $starts,
    };
}

my $json = JSON::PP->new->canonical;
my $mode = shift(@ARGV) // '';
if ($mode eq 'once') {
    print $json->encode(call($json->decode(shift(@ARGV) // die "pve-driver: once needs a call\n"))), "\n";
} elsif ($mode eq 'serve') {
    $| = 1;
    while (my $line = <STDIN>) {
        next if $line !~ /\S/;
        my $res = eval { call($json->decode($line)) } // { error => "$@" };
        print $json->encode($res), "\n";
    }
} else {
    die "usage: pve-driver.pl once '<call>' | serve\n";
}
