package PVE::Tools;

# TEST STAND-IN, not Proxmox code: split_list as pve-common's PVE::Tools defines it (the list
# splitting PVE::JSONSchema uses for '-list' formats), and trim as it defines it (LINBIT's plugin
# imports it).

use strict;
use warnings;

use base 'Exporter';
our @EXPORT_OK = qw(split_list trim);

sub split_list {
    my $listtxt = shift // '';
    return split(/\0/, $listtxt) if $listtxt =~ m/\0/;
    $listtxt =~ s/[,;]/ /g;
    $listtxt =~ s/^\s+//;
    return split(/\s+/, $listtxt);
}

sub trim {
    my $txt = shift;
    return $txt if !defined($txt);
    $txt =~ s/^\s+//;
    $txt =~ s/\s+$//;
    return $txt;
}

1;
