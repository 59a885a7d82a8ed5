package PVE::Storage::Custom::LINSTORPlugin;

# Proxmox VE storage plugin for LINSTOR/DRBD (type 'drbd'), a drop-in replacement for LINBIT's
# linstor-proxmox. Pure Perl for what needs no network (api, schema, parse_volname, path, the
# controller-VM check, feature table, a warm-cache status); every other method is a request to
# the 'linstor-pve' helper, which each PVE process keeps running ('linstor-pve --serve', started
# on first use, restarted after a fork or a timeout), each request with a hard timeout.
# LINSTOR_PVE_PERSISTENT=0 runs the helper once per call instead.

use strict;
use warnings;

use IO::Select;
use IPC::Open2 qw(open2);
use IPC::Open3 qw(open3);
use JSON::PP;
use POSIX qw(WNOHANG);
use Symbol qw(gensym);
use Sys::Syslog ();
use Time::HiRes ();

use PVE::INotify;
use PVE::JSONSchema;
use PVE::Storage::Plugin;

use base qw(PVE::Storage::Plugin);

my $APIVER_TESTED = 15;
my $APIVER_MIN = 9;
my $HELPER = '/usr/lib/linstor-pve/linstor-pve';
my $MIN_ALLOC_KIB = 3072;

# Hard timeouts (seconds) of one helper run; the helper stops itself a little earlier.
my %TIMEOUT = (
    alloc_image => 50, free_image => 50, rename_volume => 50, create_base => 50,
    status => 3, check_storage => 10, deactivate_volume => 30, list_images => 30, volume_size_info => 20,
    volume_rollback_is_possible => 20, volume_snapshot_info => 20,
);
my $DEFAULT_TIMEOUT = 120;

# JSON::XS where installed (as on PVE), else the core JSON::PP; canonical, so a status key is
# the same text every time.
my $JSON = eval { require JSON::XS; JSON::XS->new->canonical } || JSON::PP->new->canonical;

# Helper processes this process started (read by linstor-bench).
our $PROCESS_STARTS = 0;

my @OWN_OPTIONS = qw(controller resourcegroup preferlocal exactsize allowtwoprimaries
    statuscache apicrt apikey apica clusterlocktimeout searchdomain controllervm
    readtimeout changetimeout);

# Options that change how long a call may wait, not what a status answer says.
my %NOT_IN_STATUS_KEY = map { $_ => 1 } qw(statuscache clusterlocktimeout readtimeout changetimeout);

# Storage options whose change makes on_update_hook check the controller again.
my @CONNECTION_OPTIONS = qw(controller resourcegroup apicrt apikey apica disable);

# ---- option formats (checked by PVE::JSONSchema when storage.cfg is read and on pvesm add/set) ----

# One controller address as linstor-pve reads it: host, host:port, [v6], [v6]:port, with an
# optional http://, https://, linstor:// or linstor+ssl:// scheme and an optional trailing '/'.
sub verify_controller {
    my ($text, $noerr) = @_;
    my $ok = defined($text) && $text =~ m{^
        (?:(?i:https?|linstor|linstor\+ssl)://)?
        (?: [A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*
          | \[[0-9A-Fa-f:.]+\] )
        (?::([0-9]{1,5}))?
        /?
    $}x;
    $ok = 0 if $ok && defined($1) && ($1 < 1 || $1 > 65535);
    return $text if $ok;
    return undef if $noerr;
    die "controller '" . ($text // '') . "' is not host, host:port, [ipv6]:port or an http://, https://, linstor:// or linstor+ssl:// URL\n";
}

PVE::JSONSchema::register_format('linstor-controller', \&verify_controller)
    if !PVE::JSONSchema::get_format('linstor-controller');

# ---- class-level API -------------------------------------------------------------------------

sub api {
    my $apiver = eval { PVE::Storage::APIVER() };
    my $apiage = eval { PVE::Storage::APIAGE() } // 0;
    return $APIVER_TESTED if !defined($apiver);
    return $apiver if $apiver >= $APIVER_MIN && $apiver <= $APIVER_TESTED;
    return $APIVER_MIN if $apiver < $APIVER_MIN;
    return $APIVER_TESTED if $apiver - $apiage <= $APIVER_TESTED;
    return $APIVER_MIN;
}

sub type { return 'drbd'; }

sub plugindata {
    return {
        content => [ { images => 1, rootdir => 1 }, { images => 1 } ],
        format => [ { raw => 1 }, 'raw' ],
    };
}

sub properties {
    my $yes_no = sub {
        my ($description, $default) = @_;
        return { description => $description, type => 'string', enum => [qw(yes no)], default => $default };
    };
    return {
        controller => {
            description => "LINSTOR controllers, comma separated (host, host:port, [v6]:port, http(s)://, linstor://, linstor+ssl://).",
            type => 'string', format => 'linstor-controller-list', minLength => 1, default => 'localhost',
        },
        resourcegroup => {
            description => "LINSTOR resource group new volumes are spawned from.",
            type => 'string', pattern => '[A-Za-z_][A-Za-z0-9_\-]{1,47}', default => 'drbdgrp',
        },
        preferlocal => $yes_no->("Place one diskful replica on the node that creates the volume.", 'yes'),
        exactsize => $yes_no->("Set DrbdOptions/ExactSize on new volumes, for online moves from other storages.", 'no'),
        allowtwoprimaries => {
            description => "allow-two-primaries for live migration: yes (set at creation), migration (only during a migration) or no.",
            type => 'string', enum => [qw(yes migration no)], default => 'yes',
        },
        statuscache => {
            description => "Seconds the cached capacity is used before it is refreshed (0: refresh on every call, still bounded).",
            type => 'integer', minimum => 0, maximum => 7200, default => 60,
        },
        apicrt => { description => "Client certificate (PEM) for HTTPS.", type => 'string' },
        apikey => { description => "Client private key (PEM) for HTTPS.", type => 'string' },
        apica => { description => "CA certificate (PEM) the controller is verified against.", type => 'string' },
        clusterlocktimeout => {
            description => "Seconds to wait for the cluster-wide storage lock.",
            type => 'integer', minimum => 0, maximum => 86400, default => 0,
        },
        searchdomain => {
            description => "Domain appended to the PVE node name to form the LINSTOR node name.",
            type => 'string', format => 'dns-name',
        },
        readtimeout => {
            description => "Seconds a read (look-up, list) waits on one controller before the next is asked (at most 4/5 of the call's timeout; status keeps its own short bound).",
            type => 'number', pattern => '\d+(?:\.\d+)?', minimum => 1, maximum => 300, default => 5,
        },
        changetimeout => {
            description => "Seconds a change (create, delete, resize, snapshot) waits on the controller that took it (at most 4/5 of the call's timeout).",
            type => 'number', pattern => '\d+(?:\.\d+)?', minimum => 5, maximum => 600, default => 45,
        },
        controllervm => PVE::JSONSchema::get_standard_option('pve-vmid', {
            description => "VMID of the VM that runs the LINSTOR controller: its volumes work without a controller and are never deleted.",
        }),
    };
}

sub options {
    return {
        nodes => { optional => 1 },
        disable => { optional => 1 },
        content => { optional => 1 },
        controller => { optional => 1 },
        resourcegroup => { optional => 0 },
        preferlocal => { optional => 1 },
        exactsize => { optional => 1 },
        allowtwoprimaries => { optional => 1 },
        statuscache => { optional => 1 },
        apicrt => { optional => 1 },
        apikey => { optional => 1 },
        apica => { optional => 1 },
        clusterlocktimeout => { optional => 1 },
        searchdomain => { optional => 1 },
        controllervm => { optional => 1 },
        readtimeout => { optional => 1 },
        changetimeout => { optional => 1 },
    };
}

# ---- pure helpers ----------------------------------------------------------------------------

sub _dev_root {
    my $root = $ENV{LINSTOR_PVE_DEV_ROOT};
    return '/dev' if !defined($root) || $root eq '';
    die "LINSTOR_PVE_DEV_ROOT '$root' must be an absolute path\n" if $root !~ m!^(/[^\0]*?)/*$!;
    return $1 eq '' ? '/' : $1;
}

sub _nodename {
    my $node = $ENV{LINSTOR_PVE_NODE};
    $node = PVE::INotify::nodename() if !defined($node) || $node eq '';
    return $node;
}

sub _helper {
    my $h = $ENV{LINSTOR_PVE_HELPER};
    return $HELPER if !defined($h) || $h eq '';
    die "LINSTOR_PVE_HELPER '$h' must be an absolute path\n" if $h !~ m!^(/[^\0]+)$!;
    return $1;
}

# (rd, vmid, is_base) of a volname; dies like parse_volname for anything else.
sub _split_volname {
    my ($volname) = @_;
    die "unable to parse drbd volume name (undefined)\n" if !defined($volname);
    if ($volname =~ m/^(base-)?(pm-[0-9a-f]{8})_(\d{1,10})$/) {
        return ($2, $3, $1 ? 1 : 0, 1);
    }
    if ($volname =~ m/^(base-)?(vm-(\d{1,10})-[a-z][a-z0-9_\-]*[a-z0-9])$/ && length($2) <= 48) {
        return ($2, $3, $1 ? 1 : 0, 0);
    }
    die "unable to parse drbd volume name '$volname': expected 'pm-XXXXXXXX_<vmid>' or 'vm-<vmid>-disk-<n>'\n";
}

sub _fnv1a32 {
    my ($text) = @_;
    my $h = 0x811c9dc5;
    for my $c (unpack('C*', $text)) {
        $h = (($h ^ $c) * 0x01000193) & 0xffffffff;
    }
    return $h;
}

# LINSTOR snapshot (and temporary resource) name: as linstor-proxmox, shortened past 48 chars.
sub _snapshot_name {
    my ($rd, $snap) = @_;
    die "invalid snapshot name '$snap'\n" if $snap !~ m/^([A-Za-z][A-Za-z0-9_\-]{1,39})$/;
    $snap = $1;
    my $full = "snap_${rd}_${snap}";
    return $full if length($full) <= 48;
    return sprintf('snap_%s_%08x', substr("${rd}_${snap}", 0, 34), _fnv1a32($full));
}

sub _is_controller_vm {
    my ($scfg, $vmid) = @_;
    my $cvm = $scfg->{controllervm};
    return defined($cvm) && $cvm ne '' && defined($vmid) && $cvm eq $vmid;
}

# ---- the helper ------------------------------------------------------------------------------

sub _exec {
    my ($cmd, $input, $timeout) = @_;
    my ($in, $out, $err) = (undef, undef, gensym);
    my $pid = eval { open3($in, $out, $err, @$cmd) };
    die "cannot run $cmd->[0]: $@" if !$pid;
    $PROCESS_STARTS++;
    local $SIG{PIPE} = 'IGNORE';
    print {$in} $input;
    close($in);
    my $sel = IO::Select->new($out, $err);
    my ($o, $e) = ('', '');
    my $deadline = Time::HiRes::time() + $timeout;
    while ($sel->count) {
        my $left = $deadline - Time::HiRes::time();
        if ($left <= 0) {
            kill('KILL', $pid);
            waitpid($pid, 0);
            return (undef, $e, -1);
        }
        for my $fh ($sel->can_read($left)) {
            my $n = sysread($fh, my $buf, 65536);
            if (!$n) {
                $sel->remove($fh);
                next;
            }
            if ($fh == $out) { $o .= $buf; } else { $e .= $buf; }
        }
    }
    my $pause = 0.0002;    # the helper closed its output: it is exiting, reap it soon
    while (waitpid($pid, WNOHANG) == 0) {
        if (Time::HiRes::time() > $deadline) {
            kill('KILL', $pid);
            waitpid($pid, 0);
            return (undef, $e, -1);
        }
        Time::HiRes::sleep($pause);
        $pause = $pause < 0.01 ? $pause * 2 : 0.01;
    }
    return ($o, $e, $? >> 8);
}

sub _cache_dir {
    my $dir = $ENV{LINSTOR_PVE_CACHE_DIR};
    return (defined($dir) && $dir ne '') ? $dir : '/var/cache/linstor-pve';
}

sub _request {
    my ($storeid, $scfg, $args, $timeout, %extra) = @_;
    my %opts = map { defined($scfg->{$_}) ? ($_ => "$scfg->{$_}") : () } @OWN_OPTIONS;
    return {
        storeid => "$storeid",
        scfg => \%opts,
        node => _nodename(),
        dev_root => _dev_root(),
        timeout => $timeout,
        args => $args // {},
        %extra,
    };
}

sub _persistent {
    my $p = $ENV{LINSTOR_PVE_PERSISTENT};
    return !defined($p) || $p ne '0';
}

sub _run_helper {
    my ($method, $storeid, $scfg, $args, %extra) = @_;
    my $timeout = $TIMEOUT{$method} // $DEFAULT_TIMEOUT;
    my $req = _request($storeid, $scfg, $args, $timeout, %extra);
    my $res = _persistent() ? _serve_call($method, $req, $timeout) : _once_call($method, $req, $timeout);
    warn "$_\n" for @{ $res->{warnings} // [] };
    return $res;
}

sub _once_call {
    my ($method, $req, $timeout) = @_;
    my $input = $JSON->encode($req);
    my $helper = _helper();
    local $ENV{PATH} = '/usr/sbin:/usr/bin:/sbin:/bin';
    my ($out, $err, $status) = _exec([$helper, $method], $input, $timeout);
    die "linstor-pve $method: no answer within $timeout s; the helper was stopped\n"
        if $status < 0;
    my $res = eval { $JSON->decode($out) };
    _log(grep { /\S/ } split(/\n/, $err));
    if ($status != 0) {
        my $msg = (ref($res) eq 'HASH' && ref($res->{error}) eq 'HASH') ? $res->{error}{message} : undef;
        if (!defined($msg)) {
            my @lines = grep { /\S/ } split(/\n/, $err);
            $msg = @lines ? $lines[-1] : "linstor-pve $method failed with exit code $status";
        }
        die "$msg\n";
    }
    die "linstor-pve $method: unreadable answer\n" if ref($res) ne 'HASH';
    return $res;
}

# ---- the long-lived helper of this process ---------------------------------------------------

my %SERVE;    # pid, to, from, buf, owner (the $$ that started it)

sub _serve_stop {
    my ($kill) = @_;
    return if !%SERVE;
    my $mine = $SERVE{owner} == $$;
    close($SERVE{to});
    close($SERVE{from});
    if ($mine) {
        kill('KILL', $SERVE{pid}) if $kill;
        waitpid($SERVE{pid}, 0);
    }
    %SERVE = ();
}

# The environment the helper reads at start (helper path, cache, credentials, log level): a
# change starts a new helper.
sub _serve_env {
    return join("\0", _helper(), map { "$_=$ENV{$_}" } sort grep {
        /^(LINSTOR_PVE_|LS_)/ && !/^LINSTOR_PVE_(NODE|DEV_ROOT|PERSISTENT|LOG_FILE)$/
    } keys %ENV);
}

sub _serve_start {
    my $helper = _helper();
    local $ENV{PATH} = '/usr/sbin:/usr/bin:/sbin:/bin';
    my ($from, $to);
    my $pid = eval { open2($from, $to, $helper, '--serve') };
    die "cannot run $helper: $@" if !$pid;
    $PROCESS_STARTS++;
    %SERVE = (pid => $pid, to => $to, from => $from, buf => '', owner => $$, env => _serve_env());
}

# The pid of this process's helper (undef when none runs), for tests and diagnostics.
sub helper_pid { return (%SERVE && $SERVE{owner} == $$) ? $SERVE{pid} : undef; }

sub _serve_send {
    my ($line) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length($line)) {
        my $n = syswrite($SERVE{to}, $line, length($line) - $off, $off);
        return 0 if !defined($n);
        $off += $n;
    }
    return 1;
}

sub _serve_call {
    my ($method, $req, $timeout) = @_;
    # After PVE forks, the parent's helper and pipes are not ours: leave them to the parent.
    _serve_stop(0) if %SERVE && $SERVE{owner} != $$;
    _serve_stop(0) if %SERVE && $SERVE{env} ne _serve_env();
    my $line = $JSON->encode({ method => $method, input => $req }) . "\n";
    _serve_start() if !%SERVE;
    if (!_serve_send($line)) {
        # The helper had ended (nothing of this request reached it): start a new one once.
        _serve_stop(1);
        _serve_start();
        _serve_send($line) or do { _serve_stop(1); die "linstor-pve $method: the helper does not accept requests\n"; };
    }
    my $deadline = Time::HiRes::time() + $timeout;
    my $sel = IO::Select->new($SERVE{from});
    my $end = index($SERVE{buf}, "\n");
    while ($end < 0) {
        my $left = $deadline - Time::HiRes::time();
        if ($left <= 0 || !$sel->can_read($left)) {
            next if $left > 0 && $!{EINTR};
            _serve_stop(1);
            die "linstor-pve $method: no answer within $timeout s; the helper was stopped\n";
        }
        my $had = length($SERVE{buf});
        my $n = sysread($SERVE{from}, $SERVE{buf}, 65536, $had);
        if (!$n) {
            _serve_stop(1);
            die "linstor-pve $method: the helper ended without an answer\n";
        }
        $end = index($SERVE{buf}, "\n", $had);
    }
    my $answer = substr($SERVE{buf}, 0, $end + 1, q{});
    my $res = eval { $JSON->decode($answer) };
    if (ref($res) ne 'HASH') {
        _serve_stop(1);
        die "linstor-pve $method: unreadable answer\n";
    }
    _log(@{ $res->{log} // [] });
    if (ref($res->{error}) eq 'HASH') {
        die(($res->{error}{message} // "linstor-pve $method failed") . "\n");
    }
    die "linstor-pve $method: unreadable answer\n" if ref($res->{ok}) ne 'HASH';
    return $res->{ok};
}

# The helper's log lines go to the system log (LINSTOR_PVE_LOG_FILE: to that file instead); what
# the admin should read comes back as plain sentences in the answer's 'warnings'.
sub _log {
    my @lines = @_;
    return if !@lines;
    my $file = $ENV{LINSTOR_PVE_LOG_FILE};
    if (defined($file) && $file ne '') {
        if (open(my $fh, '>>', $file)) {
            print {$fh} "$_\n" for @lines;
            close($fh);
        }
        return;
    }
    eval {
        Sys::Syslog::openlog('linstor-pve', 'pid', 'daemon');
        Sys::Syslog::syslog('warning', '%s', $_) for @lines;
        Sys::Syslog::closelog();
    };
}

sub _untaint_volname {
    my ($volname) = @_;
    die "linstor-pve returned no volume name\n" if !defined($volname);
    die "linstor-pve returned an invalid volume name '$volname'\n"
        if $volname !~ m/^((?:base-)?(?:pm-[0-9a-f]{8}_\d+|vm-\d+-[a-z][a-z0-9_\-]*[a-z0-9]))$/;
    return $1;
}

# ---- pure instance methods -------------------------------------------------------------------

sub parse_volname {
    my ($class, $volname) = @_;
    my (undef, $vmid, $is_base) = _split_volname($volname);
    return ('images', $volname, $vmid, undef, undef, $is_base ? 1 : undef, 'raw');
}

sub filesystem_path {
    my ($class, $scfg, $volname, $snapname) = @_;
    my ($rd, $vmid) = _split_volname($volname);
    $rd = _snapshot_name($rd, $snapname) if defined($snapname) && $snapname ne '';
    my $path = _dev_root() . "/drbd/by-res/$rd/0";
    $path =~ s!^//!/!;
    return wantarray ? ($path, $vmid, 'images') : $path;
}

sub path {
    my ($class, $scfg, $volname, $storeid, $snapname) = @_;
    return $class->filesystem_path($scfg, $volname, $snapname);
}

sub check_connection { return 1; }

# pvesm add/set (and the GUI) run these under the storage.cfg lock: a controller must answer
# within 10 s and the resource group must exist. A storage added with 'disable 1' is not checked
# (as PVE does not activate it), so an admin can store it anyway and enable it later.
sub _check_storage {
    my ($storeid, $scfg) = @_;
    return if $scfg->{disable};
    eval { _run_helper('check_storage', $storeid, $scfg, {}) };
    if (my $err = $@) {
        chomp($err);
        die "drbd storage '$storeid': $err. To store it anyway, add it with '--disable 1' and enable it once the controller answers.\n";
    }
}

sub on_add_hook {
    my ($class, $storeid, $scfg, %param) = @_;
    _check_storage($storeid, $scfg);
    return undef;
}

sub _checks_again {
    my ($update, $delete) = @_;
    my %changed = map { $_ => 1 } (keys %{ $update // {} }, @{ $delete // [] });
    return grep { $changed{$_} } @CONNECTION_OPTIONS;
}

sub on_update_hook {
    my ($class, $storeid, $scfg, %param) = @_;
    return undef if !_checks_again($scfg, []);
    my $cfg = eval { PVE::Storage::config() };
    my $old = ($cfg && $cfg->{ids} && $cfg->{ids}{$storeid}) ? $cfg->{ids}{$storeid} : {};
    _check_storage($storeid, { %$old, %$scfg });
    return undef;
}

sub on_update_hook_full {
    my ($class, $storeid, $scfg, $update, $delete, $sensitive) = @_;
    return undef if !_checks_again($update, $delete);
    my %new = (%$scfg, %{ $update // {} });
    delete $new{$_} for @{ $delete // [] };
    _check_storage($storeid, \%new);
    return undef;
}

sub activate_storage { return 1; }

sub deactivate_storage { return 1; }

sub volume_has_feature {
    my ($class, $scfg, $feature, $storeid, $volname, $snapname, $running, $opts) = @_;
    my (undef, undef, $is_base, $is_pm) = _split_volname($volname);
    my $features = {
        snapshot => { current => 1, snap => 1 },
        clone => { base => 1, snap => 1 },
        template => { current => 1 },
        copy => { base => 1, current => 1 },
        rename => { current => $is_pm },
    };
    my $key = (defined($snapname) && $snapname ne '') ? 'snap' : $is_base ? 'base' : 'current';
    return 1 if $features->{$feature} && $features->{$feature}{$key};
    return undef;
}

sub qemu_blockdev_options {
    my ($class, $scfg, $storeid, $volname, $machine_version, $options) = @_;
    my $snap = ref($options) eq 'HASH' ? $options->{'snapshot-name'} : undef;
    my $path = $class->path($scfg, $volname, $storeid, $snap);
    die "device '$path' of volume '$volname' does not exist; activate the volume first\n" if !-b $path && !-e $path;
    return { driver => 'host_device', filename => $path };
}

sub volume_qemu_snapshot_method { return 'storage'; }

sub get_formats { return { default => 'raw', valid => { raw => 1 } }; }

sub rename_snapshot {
    die "renaming snapshots is not supported by drbd storage\n";
}

sub map_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $hints) = @_;
    my $path = $class->path($scfg, $volname, $storeid, $snapname);
    return $path if -e $path;
    $class->activate_volume($storeid, $scfg, $volname, $snapname);
    return $path;
}

sub unmap_volume { return 1; }

sub cluster_lock_storage {
    my ($class, $storeid, $shared, $timeout, $func, @param) = @_;
    my $cfg = eval { PVE::Storage::config() };
    my $user = $cfg && $cfg->{ids} && $cfg->{ids}{$storeid} ? $cfg->{ids}{$storeid}{clusterlocktimeout} : undef;
    if ($user) {
        $timeout = (!defined($timeout) || $user > $timeout) ? $user : $timeout;
    }
    return $class->SUPER::cluster_lock_storage($storeid, $shared, $timeout, $func, @param);
}

# ---- methods that need the controller --------------------------------------------------------

sub alloc_image {
    my ($class, $storeid, $scfg, $vmid, $fmt, $name, $size) = @_;
    die "unsupported format '$fmt': drbd storage holds raw volumes only\n" if $fmt && $fmt ne 'raw';
    $name = undef if defined($name) && $name eq '';
    my $res = _run_helper('alloc_image', $storeid, $scfg,
        { vmid => "$vmid", fmt => $fmt, name => $name, size_kib => "$size" });
    return _untaint_volname($res->{volname});
}

sub free_image {
    my ($class, $storeid, $scfg, $volname, $isBase, $format) = @_;
    my (undef, $vmid) = _split_volname($volname);
    if (_is_controller_vm($scfg, $vmid)) {
        warn "volume '$volname' belongs to the LINSTOR controller VM $vmid: kept\n";
        return undef;
    }
    _run_helper('free_image', $storeid, $scfg, { volname => $volname });
    return undef;
}

sub list_images {
    my ($class, $storeid, $scfg, $vmid, $vollist, $cache) = @_;
    my $res = _run_helper('list_images', $storeid, $scfg,
        { vmid => defined($vmid) ? "$vmid" : undef, vollist => $vollist });
    return $res->{images} // [];
}

# What identifies a status answer: this node and the storage's options that change it.
sub _status_key {
    my ($scfg) = @_;
    my %opts = map { defined($scfg->{$_}) ? ($_ => "$scfg->{$_}") : () }
        grep { !$NOT_IN_STATUS_KEY{$_} } @OWN_OPTIONS;
    return $JSON->encode({ node => _nodename(), scfg => \%opts });
}

my %STATUS;    # storeid => this process's last fresh status answer: key, dir, fetched_at, sizes

# The helper's last status answer for this storage while it is younger than 'statuscache': this
# process's own, else the one the helpers of all processes leave in the cache directory.
sub _warm_status {
    my ($storeid, $scfg, $key) = @_;
    my $ttl = $scfg->{statuscache} // 60;
    return undef if $ttl <= 0 || $storeid !~ m/^[A-Za-z][A-Za-z0-9\-_.]*[A-Za-z0-9]$/;
    my $fresh = sub {
        my ($c) = @_;
        return 0 if ref($c) ne 'HASH' || ($c->{key} // '') ne $key;
        my $age = time() - ($c->{fetched_at} // 0);
        return $age >= 0 && $age < $ttl;
    };
    my $dir = _cache_dir();
    my $mine = $STATUS{$storeid};
    return $mine if $mine && $mine->{dir} eq $dir && $fresh->($mine);
    open(my $fh, '<', "$dir/pve-status-$storeid.json") or return undef;
    local $/;
    my $c = eval { $JSON->decode(scalar(<$fh>)) };
    close($fh);
    return $fresh->($c) ? $c : undef;
}

sub status {
    my ($class, $storeid, $scfg, $cache) = @_;
    my $key = _status_key($scfg);
    if (my $c = _warm_status($storeid, $scfg, $key)) {
        return ($c->{total}, $c->{avail}, $c->{used}, 1);
    }
    delete $STATUS{$storeid};
    my $res = eval { _run_helper('status', $storeid, $scfg, {}, status_key => $key) };
    if (!$res) {
        chomp(my $err = $@ // '');
        _log("status of storage '$storeid': $err") if $err ne '';
        return undef;
    }
    return undef if !$res->{active};
    if (!$res->{stale} && defined($res->{fetched_at})) {
        $STATUS{$storeid} = { key => $key, dir => _cache_dir(), fetched_at => $res->{fetched_at},
            map { $_ => $res->{$_} } qw(total avail used) };
    }
    return ($res->{total}, $res->{avail}, $res->{used}, 1);
}

sub activate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache, $hints) = @_;
    my (undef, $vmid) = _split_volname($volname);
    if (_is_controller_vm($scfg, $vmid) && !defined($snapname)) {
        return 1 if -e $class->path($scfg, $volname, $storeid);
    }
    _run_helper('activate_volume', $storeid, $scfg, { volname => $volname, snap => $snapname });
    return 1;
}

sub deactivate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache) = @_;
    my (undef, $vmid) = _split_volname($volname);
    return 1 if _is_controller_vm($scfg, $vmid) && !defined($snapname);
    _run_helper('deactivate_volume', $storeid, $scfg, { volname => $volname, snap => $snapname });
    return 1;
}

sub volume_size_info {
    my ($class, $scfg, $storeid, $volname, $timeout) = @_;
    my $res = _run_helper('volume_size_info', $storeid, $scfg, { volname => $volname });
    return wantarray ? ($res->{size}, 'raw', $res->{used}, undef, $res->{ctime}) : $res->{size};
}

sub volume_resize {
    my ($class, $scfg, $storeid, $volname, $size, $running, $snapname) = @_;
    die "cannot resize snapshot '$snapname' of '$volname': drbd storage resizes only the current volume\n"
        if defined($snapname) && $snapname ne '';
    _run_helper('volume_resize', $storeid, $scfg, { volname => $volname, size => "$size" });
    return 1;
}

sub volume_snapshot {
    my ($class, $scfg, $storeid, $volname, $snap) = @_;
    _run_helper('volume_snapshot', $storeid, $scfg, { volname => $volname, snap => $snap });
    return undef;
}

sub volume_snapshot_rollback {
    my ($class, $scfg, $storeid, $volname, $snap) = @_;
    _run_helper('volume_snapshot_rollback', $storeid, $scfg, { volname => $volname, snap => $snap });
    return undef;
}

sub volume_rollback_is_possible {
    my ($class, $scfg, $storeid, $volname, $snap, $blockers) = @_;
    my $res = _run_helper('volume_rollback_is_possible', $storeid, $scfg,
        { volname => $volname, snap => $snap });
    my @newer = @{ $res->{blockers} // [] };
    return 1 if !@newer;
    push @$blockers, @newer if ref($blockers) eq 'ARRAY';
    die "can't rollback, '$snap' is not most recent snapshot on '$volname' (LINSTOR rolls back only to the newest; newer: "
        . join(', ', @newer) . ")\n";
}

sub volume_snapshot_delete {
    my ($class, $scfg, $storeid, $volname, $snap, $running) = @_;
    _run_helper('volume_snapshot_delete', $storeid, $scfg, { volname => $volname, snap => $snap });
    return undef;
}

sub volume_snapshot_info {
    my ($class, $scfg, $storeid, $volname) = @_;
    my $res = _run_helper('volume_snapshot_info', $storeid, $scfg, { volname => $volname });
    return $res->{snapshots} // {};
}

sub clone_image {
    my ($class, $scfg, $storeid, $volname, $vmid, $snap) = @_;
    my $res = _run_helper('clone_image', $storeid, $scfg,
        { volname => $volname, vmid => "$vmid", snap => $snap });
    return _untaint_volname($res->{volname});
}

sub create_base {
    my ($class, $storeid, $scfg, $volname) = @_;
    my $res = _run_helper('create_base', $storeid, $scfg, { volname => $volname });
    return _untaint_volname($res->{volname});
}

sub rename_volume {
    my ($class, $scfg, $storeid, $source_volname, $target_vmid, $target_volname) = @_;
    my $res = _run_helper('rename_volume', $storeid, $scfg,
        { volname => $source_volname, target_vmid => "$target_vmid", target_volname => $target_volname });
    my $volid = $res->{volid} // '';
    die "linstor-pve returned an invalid volume id '$volid'\n" if $volid !~ m/^([^:\s]+:[A-Za-z0-9_\-]+)$/;
    return $1;
}

# ---- export / import (raw+size) --------------------------------------------------------------

sub volume_export_formats {
    my ($class, $scfg, $storeid, $volname, $snapshot, $base_snapshot, $with_snapshots) = @_;
    my $with = ref($with_snapshots) eq 'ARRAY' ? scalar(@$with_snapshots) : $with_snapshots;
    return () if $with || defined($base_snapshot);
    return ('raw+size');
}

sub volume_import_formats {
    my ($class, $scfg, $storeid, $volname, $snapshot, $base_snapshot, $with_snapshots) = @_;
    return $class->volume_export_formats($scfg, $storeid, $volname, $snapshot, $base_snapshot, $with_snapshots);
}

sub _copy {
    my ($from, $to, $bytes, $what) = @_;
    my $left = $bytes;
    while ($left > 0) {
        my $want = $left > 1048576 ? 1048576 : $left;
        my $n = sysread($from, my $buf, $want);
        die "$what: read failed: $!\n" if !defined($n);
        die "$what: input ended $left bytes early\n" if $n == 0;
        my $off = 0;
        while ($off < $n) {
            my $w = syswrite($to, $buf, $n - $off, $off);
            die "$what: write failed: $!\n" if !defined($w);
            $off += $w;
        }
        $left -= $n;
    }
}

sub volume_export {
    my ($class, $scfg, $storeid, $fh, $volname, $format, $snapshot, $base_snapshot, $with_snapshots) = @_;
    die "volume export format '$format' is not available for drbd storage (use raw+size)\n"
        if !defined($format) || $format ne 'raw+size';
    my @formats = $class->volume_export_formats($scfg, $storeid, $volname, $snapshot, $base_snapshot, $with_snapshots);
    die "drbd storage exports one state of a volume, without snapshots or a base snapshot\n" if !@formats;
    $class->activate_volume($storeid, $scfg, $volname, $snapshot);
    my $size = $class->volume_size_info($scfg, $storeid, $volname);
    my $path = $class->path($scfg, $volname, $storeid, $snapshot);
    open(my $dev, '<', $path) or die "cannot open '$path': $!\n";
    binmode($dev);
    binmode($fh);
    syswrite($fh, pack('Q<', $size), 8) == 8 or die "export of '$volname': cannot write the size header: $!\n";
    _copy($dev, $fh, $size, "export of '$volname'");
    close($dev);
    return;
}

sub volume_import {
    my ($class, $scfg, $storeid, $fh, $volname, $format, $snapshot, $base_snapshot, $with_snapshots, $allow_rename) = @_;
    die "volume import format '$format' is not available for drbd storage (use raw+size)\n"
        if !defined($format) || $format ne 'raw+size';
    my @formats = $class->volume_import_formats($scfg, $storeid, $volname, $snapshot, $base_snapshot, $with_snapshots);
    die "drbd storage imports one state of a volume, without snapshots or a base snapshot\n" if !@formats;
    my (undef, $vmid, undef, $is_pm) = _split_volname($volname);
    binmode($fh);
    my $got = sysread($fh, my $header, 8);
    die "import of '$volname': no size header in the stream\n" if !defined($got) || $got != 8;
    my $size = unpack('Q<', $header);
    my $kib = int(($size + 1023) / 1024);
    my $name = $is_pm ? undef : $volname;
    my $new = eval { $class->alloc_image($storeid, $scfg, $vmid, 'raw', $name, $kib) };
    if (!defined($new)) {
        my $err = $@;
        die $err if !$allow_rename || $err !~ /already exists/;
        $new = $class->alloc_image($storeid, $scfg, $vmid, 'raw', undef, $kib);
    }
    $class->activate_volume($storeid, $scfg, $new);
    my $path = $class->path($scfg, $new, $storeid);
    open(my $dev, '+<', $path) or die "cannot open '$path': $!\n";
    binmode($dev);
    _copy($fh, $dev, $size, "import of '$volname'");
    close($dev) or die "import of '$volname': closing '$path' failed: $!\n";
    return "$storeid:$new";
}

1;
