package PVE::Storage::Plugin;

# TEST STAND-IN, not Proxmox code: a minimal PVE::Storage::Plugin base class written from the
# contract in shared/reference/proxmox.md (§2.3, §2.4, §2.7) so the real LINSTORPlugin.pm can be
# loaded and exercised under real Perl without a Proxmox VE installation. It records
# cluster_lock_storage calls so tests can check the timeout the plugin passes on.

use strict;
use warnings;

our @LOCK_CALLS;

sub new { my ($class) = @_; return bless {}, $class; }

sub register { return 1; }

sub private { return {}; }

sub parse_volname { die "base parse_volname called\n"; }

sub filesystem_path { die "base filesystem_path called\n"; }

sub path {
    my ($class, $scfg, $volname, $storeid, $snapname) = @_;
    return $class->filesystem_path($scfg, $volname, $snapname);
}

sub check_connection { return 1; }

sub activate_storage { die "storage definition has no path\n"; }

sub volume_snapshot_needs_fsfreeze { return 0; }

sub get_identity { die "get_identity is not implemented by this storage\n"; }

sub list_volumes {
    my ($class, $storeid, $scfg, $vmid, $content_types) = @_;
    my $res = [];
    for my $item (@{ $class->list_images($storeid, $scfg, $vmid) }) {
        $item->{content} = 'images';
        push @$res, $item;
    }
    return $res;
}

# The real one takes the pmxcfs lock for shared storages; here the call is recorded and run.
sub cluster_lock_storage {
    my ($class, $storeid, $shared, $timeout, $func, @param) = @_;
    push @LOCK_CALLS, { storeid => $storeid, shared => $shared, timeout => $timeout };
    return $func->(@param);
}

sub on_add_hook { return undef; }
sub on_update_hook { return undef; }
sub on_delete_hook { return undef; }

1;
