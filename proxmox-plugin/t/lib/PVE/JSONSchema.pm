package PVE::JSONSchema;

# TEST STAND-IN, not Proxmox code: the part of pve-common's PVE::JSONSchema that checks storage
# options, written from its documented rules (shared/reference/proxmox.md §2.3): named formats
# (register_format/get_format, '-list' and '-opt' suffixes), the standard option 'pve-vmid', and
# check_prop/check_type with PVE's semantics: a boolean is '0' or '1' only, an integer matches
# /^[+-]?\d+$/, then format, pattern (anchored), maxLength, minLength, minimum/maximum (numbers
# only) and enum (exact string match), each failing with PVE's message.

use strict;
use warnings;

use PVE::Tools qw(split_list);

my $standard_options = {};
my $format_list = {};

sub register_standard_option {
    my ($name, $schema) = @_;
    die "standard option '$name' already registered\n" if $standard_options->{$name};
    $standard_options->{$name} = $schema;
}

sub get_standard_option {
    my ($name, $base) = @_;
    my $std = $standard_options->{$name};
    die "no such standard option '$name'\n" if !$std;
    my $res = $base || {};
    for my $opt (keys %$std) {
        next if defined($res->{$opt});
        $res->{$opt} = $std->{$opt};
    }
    return $res;
}

sub register_format {
    my ($name, $format) = @_;
    die "JSON schema format '$name' already registered\n" if $format_list->{$name};
    $format_list->{$name} = $format;
}

sub get_format { return $format_list->{ $_[0] }; }

register_format('pve-vmid', sub {
    my ($vmid, $noerr) = @_;
    if ($vmid !~ m/^[1-9][0-9]{2,8}$/) {
        return undef if $noerr;
        die "value does not look like a valid VM ID\n";
    }
    return $vmid;
});

register_format('dns-name', sub {
    my ($name, $noerr) = @_;
    my $namere = "([a-zA-Z0-9]([a-zA-Z0-9\\-]*[a-zA-Z0-9])?)";
    if ($name !~ /^(${namere}\.)*${namere}$/) {
        return undef if $noerr;
        die "value does not look like a valid DNS name\n";
    }
    return $name;
});

register_standard_option('pve-vmid', {
    description => "The (unique) ID of the VM.",
    type => 'integer', format => 'pve-vmid', minimum => 100, maximum => 999_999_999,
});

sub parse_boolean {
    my ($bool) = @_;
    return 1 if $bool =~ m/^(1|on|yes|true)$/i;
    return 0 if $bool =~ m/^(0|off|no|false)$/i;
    return undef;
}

sub check_format {
    my ($format, $value) = @_;
    return $format->($value) if ref($format) eq 'CODE';
    $format =~ m/^(.*?)(?:-(list|opt))?$/;
    my ($name, $kind) = ($1, $2 // 'none');
    my $registered = get_format($name);
    die "undefined format '$format'\n" if !$registered;
    if ($kind eq 'list') {
        return [ map { $registered->($_) } split_list($value) ];
    }
    return $value ? $registered->($value) : undef if $kind eq 'opt';
    return $registered->($value);
}

sub add_error {
    my ($errors, $path, $msg) = @_;
    $path = '_root' if !$path;
    $errors->{$path} = $errors->{$path} ? "$errors->{$path}\\n$msg" : $msg;
}

sub is_number { return $_[0] =~ /^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$/; }

sub is_integer { return $_[0] =~ m/^[+-]?\d+$/; }

sub check_type {
    my ($path, $type, $value, $errors) = @_;
    return 1 if !$type || $type eq 'any';
    if (ref($value)) {
        add_error($errors, $path, "type check ('$type') failed - got " . ref($value));
        return undef;
    }
    return 1 if $type eq 'string';
    if ($type eq 'boolean') {
        return 1 if $value eq '1' || $value eq '0';
        add_error($errors, $path, "type check ('$type') failed - got '$value'");
        return undef;
    }
    if ($type eq 'integer' && !is_integer($value) || $type eq 'number' && !is_number($value)) {
        add_error($errors, $path, "type check ('$type') failed - got '$value'");
        return undef;
    }
    return 1;
}

sub check_prop {
    my ($value, $schema, $path, $errors) = @_;
    if (!defined($value)) {
        add_error($errors, $path, "property is missing and it is not optional") if !$schema->{optional};
        return;
    }
    return if !check_type($path, $schema->{type}, $value, $errors);
    if (my $format = $schema->{format}) {
        eval { check_format($format, $value) };
        if ($@) {
            add_error($errors, $path, "invalid format - $@");
            return;
        }
    }
    if (my $pattern = $schema->{pattern}) {
        if ($value !~ m/^$pattern$/) {
            add_error($errors, $path, "value does not match the regex pattern");
            return;
        }
    }
    my ($maxlen, $minlen) = ($schema->{maxLength}, $schema->{minLength});
    if (defined($maxlen) && length($value) > $maxlen) {
        add_error($errors, $path, "value may only be $maxlen characters long");
        return;
    }
    if (defined($minlen) && length($value) < $minlen) {
        add_error($errors, $path, "value must be at least $minlen characters long");
        return;
    }
    if (is_number($value)) {
        my ($max, $min) = ($schema->{maximum}, $schema->{minimum});
        if (defined($max) && $value > $max) {
            add_error($errors, $path, "value must have a maximum value of $max");
            return;
        }
        if (defined($min) && $value < $min) {
            add_error($errors, $path, "value must have a minimum value of $min");
            return;
        }
    }
    if (my $ea = $schema->{enum}) {
        if (!grep { $_ eq $value } @$ea) {
            add_error($errors, $path, "value '$value' does not have a value in the enumeration '" . join(", ", @$ea) . "'");
        }
    }
}

1;
