package PVE::Storage;

# TEST STAND-IN, not Proxmox code: the parts of PVE::Storage a custom plugin touches, written from
# shared/reference/proxmox.md §2.1-§2.3: the APIVER/APIAGE constants (pve-storage 9.1.7: 15/6),
# the custom-plugin load check, config() for storage.cfg, and what 'pvesm add' / 'pvesm set'
# (PVE::API2::Storage::Config) do with a plugin: every value checked against the declared schema
# as SectionConfig::check_value does (PVE::JSONSchema::check_prop), mandatory options, then
# on_add_hook, or on_update_hook_full (APIVER >= 13) / on_update_hook, under the config lock.

use strict;
use warnings;

use PVE::JSONSchema;

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

# The common properties of every storage type (part of $defaultData in PVE::Storage::Plugin).
my $COMMON = {
    nodes => { type => 'string', optional => 1 },
    disable => { type => 'boolean', optional => 1 },
    content => { type => 'string', optional => 1 },
};

# SectionConfig::check_value: unknown option, line feeds, then the schema check.
sub check_value {
    my ($plugin, $key, $value) = @_;
    my $opts = $plugin->options();
    die "unexpected property '$key'\n" if !defined($opts->{$key});
    my $schema = $plugin->properties()->{$key} // $COMMON->{$key};
    die "unknown property type\n" if !$schema;
    $value = 1 if $schema->{type} eq 'boolean' && !defined($value);
    die "got undefined value\n" if !defined($value);
    die "property contains a line feed\n" if $value =~ m/[\n\r]/;
    my $errors = {};
    PVE::JSONSchema::check_prop($value, $schema, $key, $errors);
    die "$errors->{$key}\n" if $errors->{$key};
    die "$errors->{_root}\n" if $errors->{_root};
    return $value;
}

sub _check_params {
    my ($plugin, $param) = @_;
    my @bad;
    for my $k (sort keys %$param) {
        eval { check_value($plugin, $k, $param->{$k}) };
        push @bad, "$k: $@" if $@;
    }
    die "Parameter verification failed.\n" . join('', @bad) if @bad;
}

# pvesm add <type> <storeid> --k v ...: returns nothing, dies like the API call.
sub pvesm_add {
    my ($plugin, $storeid, %param) = @_;
    _check_params($plugin, \%param);
    my $opts = $plugin->options();
    for my $k (sort keys %$opts) {
        next if $opts->{$k}{optional} || defined($param{$k});
        die "Parameter verification failed.\n$k: property is missing and it is not optional\n";
    }
    die "storage ID '$storeid' already defined\n" if $CONFIG->{ids}{$storeid};
    my $scfg = { type => $plugin->type(), %param };
    $plugin->on_add_hook($storeid, $scfg);
    $CONFIG->{ids}{$storeid} = $scfg;
    return;
}

# pvesm set <storeid> --k v ... [--delete k,...].
sub pvesm_set {
    my ($plugin, $storeid, $delete, %param) = @_;
    my $scfg = $CONFIG->{ids}{$storeid} or die "storage '$storeid' does not exist\n";
    _check_params($plugin, \%param);
    if ($APIVER >= 13) {
        $plugin->on_update_hook_full($storeid, { %$scfg }, { %param }, [ @{ $delete // [] } ], {});
    } else {
        $plugin->on_update_hook($storeid, { %param });
    }
    my %new = (%$scfg, %param);
    delete $new{$_} for @{ $delete // [] };
    $CONFIG->{ids}{$storeid} = \%new;
    return;
}

1;
