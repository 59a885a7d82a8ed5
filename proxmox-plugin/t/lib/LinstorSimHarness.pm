package LinstorSimHarness;

# Test harness (not a PVE stand-in): starts the suite's LINSTOR controller simulator
# (`linstor-sim`, located through LINSTOR_SIM_BIN), talks to its /sim/ control routes, and
# configures the environment the plugin reads (helper path, node name, device root, cache dir).

use strict;
use warnings;

use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;

sub require_binaries {
    for my $var (qw(LINSTOR_PVE_HELPER LINSTOR_SIM_BIN)) {
        my $bin = $ENV{$var};
        if (!defined($bin) || !-x $bin) {
            plan skip_all => "$var is not set to an executable; run proxmox-plugin/t/run.sh";
            exit 0;
        }
    }
}

sub start {
    my ($class, %opt) = @_;
    my $dir = tempdir('linstor-pve-t-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $nodes = $opt{nodes} // 'n1,n2,n3';
    my @cmd = ($ENV{LINSTOR_SIM_BIN}, '--listen', '127.0.0.1:0', '--nodes', $nodes,
        '--backing', 'file', '--dev-dir', "$dir/dev", '--data-dir', "$dir/data",
        @{ $opt{args} // [] });
    my $pid = open(my $out, '-|', @cmd) or die "cannot start @cmd: $!\n";
    my $url;
    while (my $line = <$out>) {
        if ($line =~ m!^listening on (https?://\S+)!) {
            $url = $1;
            last;
        }
    }
    die "linstor-sim did not report its address\n" if !$url;
    my $self = bless { owner => $$, pid => $pid, out => $out, url => $url, dir => $dir,
        http => HTTP::Tiny->new(timeout => 10) }, $class;
    $ENV{LINSTOR_PVE_CACHE_DIR} = "$dir/cache";
    $ENV{LINSTOR_PVE_AUTH_JSON} = "$dir/no-auth.json";
    $ENV{LINSTOR_PVE_LOG_FILE} = "$dir/plugin.log";
    delete $ENV{LS_CONTROLLERS};
    return $self;
}

sub url { return $_[0]{url}; }

# What the plugin wrote to its log (the system log outside the tests).
sub log_text {
    my ($self) = @_;
    open(my $fh, '<', "$self->{dir}/plugin.log") or return '';
    local $/;
    return scalar(<$fh>);
}
sub dir { return $_[0]{dir}; }
sub dev_root { my ($self, $node) = @_; return "$self->{dir}/dev/$node"; }

# Act as PVE node $node: the plugin's node name and device root.
sub as_node {
    my ($self, $node) = @_;
    $ENV{LINSTOR_PVE_NODE} = $node;
    $ENV{LINSTOR_PVE_DEV_ROOT} = $self->dev_root($node);
}

sub request {
    my ($self, $method, $path, $body) = @_;
    my $res = $self->{http}->request($method, "$self->{url}$path", {
        headers => { 'Content-Type' => 'application/json' },
        defined($body) ? (content => encode_json($body)) : (),
    });
    die "$method $path: $res->{status} $res->{content}\n" if !$res->{success};
    return length($res->{content} // '') ? decode_json($res->{content}) : undef;
}

sub state { my ($self) = @_; return $self->request('GET', '/sim/state'); }

sub stats { my ($self) = @_; return $self->request('GET', '/sim/stats'); }

sub reset_stats { my ($self) = @_; $self->request('POST', '/sim/stats/reset', {}); }

sub set_in_use {
    my ($self, $rsc, $node, $in_use) = @_;
    $self->request('POST', '/sim/in-use',
        { resource => $rsc, node => $node, in_use => $in_use ? JSON::PP::true : JSON::PP::false });
}

sub create_resource_group {
    my ($self, $name, $place_count) = @_;
    $self->request('POST', '/v1/resource-groups',
        { name => $name, select_filter => { place_count => $place_count } });
}

# The resource definition as the simulator holds it (props, resources by node, snapshots).
sub rd {
    my ($self, $name) = @_;
    return $self->state->{resource_definitions}{$name};
}

sub is_diskless {
    my ($res) = @_;
    return scalar grep { /DISKLESS/ } @{ $res->{flags} // [] };
}

sub set_down {
    my ($self, $down) = @_;
    kill($down ? 'USR1' : 'USR2', $self->{pid});
    select(undef, undef, undef, 0.3);
}

sub stop {
    my ($self) = @_;
    return if !$self->{pid} || $self->{owner} != $$;
    kill('TERM', $self->{pid});
    for (1 .. 100) {
        last if waitpid($self->{pid}, WNOHANG) != 0;
        select(undef, undef, undef, 0.05);
    }
    kill('KILL', $self->{pid}) if kill(0, $self->{pid});
    waitpid($self->{pid}, 0);
    $self->{pid} = undef;
}

sub DESTROY { my ($self) = @_; $self->stop; }

1;
