package PVE::INotify;

# TEST STAND-IN, not Proxmox code: nodename() as described in shared/reference/proxmox.md §3.3
# (the short host name of this PVE node).

use strict;
use warnings;
use POSIX ();

sub nodename {
    my $n = (POSIX::uname())[1];
    $n =~ s/\..*$//;
    return $n;
}

1;
