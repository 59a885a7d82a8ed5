package PVE::Storage;

# TEST STAND-IN, not Proxmox code: the parts of PVE::Storage a custom plugin touches, written from
# shared/reference/proxmox.md §2.1-§2.2: the APIVER/APIAGE constants (pve-storage 9.1.7: 15/6),
# the custom-plugin load check, and config() for storage.cfg.

use strict;
use warnings;

our $APIVER = 15;
our $APIAGE = 6;
our $CONFIG = { ids => {} };

sub APIVER { return $APIVER; }
sub APIAGE { return $APIAGE; }

sub config { return $CONFIG; }

# What PVE::Storage does for each Custom/*.pm: require, isa/can checks, version range.
# Returns (ok, message) where message is the warning PVE would print.
sub load_custom_plugin {
    my ($modname) = @_;
    my $ok = eval {
        (my $file = "$modname.pm") =~ s!::!/!g;
        require $file;
        die "not derived from PVE::Storage::Plugin\n" if !$modname->isa('PVE::Storage::Plugin');
        die "does not provide an api() method\n" if !$modname->can('api');
        my $v = $modname->api();
        die "implements an API version newer than current ($v > $APIVER)\n" if $v > $APIVER;
        my $min = $APIVER - $APIAGE;
        die "API version too old, please update the plugin ($v < $min)\n" if $v < $min;
        $modname->register();
        1;
    };
    return (0, "Error loading storage plugin \"$modname\": $@") if !$ok;
    return (1, "Plugin \"$modname\" is implementing an older storage API, an upgrade is recommended")
        if $modname->api() != $APIVER;
    return (1, '');
}

1;
