#!/usr/bin/perl
# linstor-bench's Proxmox side: a PVE::Storage::Custom::LINSTORPlugin, loaded beside the PVE
# stand-ins of proxmox-plugin/t/lib, driving the calls itself. By default ours
# (proxmox-plugin/perl); with --plugin FILE --lib DIR another plugin of that package name laid
# out as LINBIT ships it (LINSTORPlugin.pm, its LINBIT/*.pm modules under DIR).
#   pve-driver.pl [--plugin FILE --lib DIR] once '<call>'  one call in this fresh process (as
#                                                          pvesm and qm workers do)
#   pve-driver.pl [--plugin FILE --lib DIR] serve          one call per stdin line, in one
#                                                          long-lived process (pvestatd, pvedaemon)
# A call is {"method", "storeid", "scfg", "node", "dev_root", "args"}, plus "rest_port" for a
# plugin that appends LINSTOR's default port 3370 to the controller host itself (LINBIT's): its
# REST::Client then reaches that port of the same host instead. The node of the call is what
# PVE::INotify::nodename answers during it (and LINSTOR_PVE_NODE for ours). The answer line is
# {"ok": ..., "wall_ns": <the plugin method's own time>, "starts": <helper processes started>}.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../proxmox-plugin/t/lib";
use JSON::PP;
use Time::HiRes ();

use PVE::INotify;
use PVE::Storage;

my ($plugin_file, $plugin_lib);
while (@ARGV && $ARGV[0] =~ /^--(plugin|lib)$/) {
    my $opt = shift(@ARGV);
    my $val = shift(@ARGV) // die "pve-driver: $opt needs a value\n";
    if ($opt eq '--plugin') { $plugin_file = $val } else { $plugin_lib = $val }
}

my $P = 'PVE::Storage::Custom::LINSTORPlugin';
our $REST_PORT;
if (defined $plugin_file) {
    die "pve-driver: --plugin needs --lib (the directory of its LINBIT/*.pm)\n" if !defined $plugin_lib;
    unshift @INC, $plugin_lib;
    require $plugin_file;
    require REST::Client;
    my $new = \&REST::Client::new;
    no warnings 'redefine';
    *REST::Client::new = sub {
        my ($class, $config) = @_;
        if (defined $REST_PORT && ref($config) eq 'HASH' && defined $config->{host}) {
            $config = { %$config };
            $config->{host} =~ s{:3370\z}{:$REST_PORT};
        }
        return $new->($class, $config);
    };
} else {
    unshift @INC, "$FindBin::Bin/../../proxmox-plugin/perl";
    require PVE::Storage::Custom::LINSTORPlugin;
}

sub process_starts {
    no strict 'refs';
    return ${"${P}::PROCESS_STARTS"} // 0;
}

sub call {
    my ($c) = @_;
    local $ENV{LINSTOR_PVE_NODE} = $c->{node};
    local $ENV{LINSTOR_PVE_DEV_ROOT} = $c->{dev_root};
    local $REST_PORT = $c->{rest_port};
    no warnings 'redefine';
    local *PVE::INotify::nodename = sub { return $c->{node} };
    use warnings 'redefine';
    my ($sid, $scfg, $a) = ($c->{storeid}, $c->{scfg}, $c->{args} // {});
    my $m = $c->{method};
    my $starts = process_starts();
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
    } elsif ($m eq 'volume_resize') {
        $ok = $P->volume_resize($scfg, $sid, $a->{volname}, $a->{size}, 0);
    } elsif ($m eq 'list_images') {
        $ok = scalar(@{ $P->list_images($sid, $scfg, undef) });
    } else {
        die "pve-driver: unknown method '$m'\n";
    }
    my $wall = Time::HiRes::time() - $t0;
    return {
        ok => $ok,
        wall_ns => int($wall * 1e9),
        starts => process_starts() - $starts,
    };
}

# The answer lines go to the original stdout; what a plugin prints itself (PVE's task log) does not.
open(my $ANSWER, '>&', \*STDOUT) or die "pve-driver: dup stdout: $!\n";
open(STDOUT, '>', '/dev/null') or die "pve-driver: /dev/null: $!\n";
$ANSWER->autoflush(1);

my $json = JSON::PP->new->canonical;
my $mode = shift(@ARGV) // '';
if ($mode eq 'once') {
    my $res = eval { call($json->decode(shift(@ARGV) // die "pve-driver: once needs a call\n")) }
        // { error => "$@" };
    print $ANSWER $json->encode($res), "\n";
} elsif ($mode eq 'serve') {
    while (my $line = <STDIN>) {
        next if $line !~ /\S/;
        my $res = eval { call($json->decode($line)) } // { error => "$@" };
        print $ANSWER $json->encode($res), "\n";
    }
} else {
    die "usage: pve-driver.pl [--plugin FILE --lib DIR] once '<call>' | serve\n";
}
