#!/usr/bin/perl
# TLS through the real module and helper, configured only by storage.cfg options: with `apica`,
# `apicrt` and `apikey` a bare controller host means verified HTTPS with a client certificate and
# a token file is sent along; without `apica` the controller is not trusted, without a client
# certificate the controller refuses, and both errors say which certificate and which option.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../perl";
use File::Temp qw(tempdir);
use Test::More;
use LinstorSimHarness;

LinstorSimHarness::require_binaries();
if (system('openssl version >/dev/null 2>&1') != 0) {
    plan skip_all => 'openssl is needed to make the test certificates';
}

use PVE::Storage;
use PVE::Storage::Custom::LINSTORPlugin;

my $P = 'PVE::Storage::Custom::LINSTORPlugin';
my $pki = tempdir('linstor-pve-tls-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $token = 'tok-perl-4f2a9c7e1b3d5f80a6c4e2b9d7f1a3c5';

sub run_ok {
    my @cmd = @_;
    open(my $saved, '>&', \*STDERR) or die;
    open(STDERR, '>', '/dev/null') or die;
    my $rc = system(@cmd);
    open(STDERR, '>&', $saved) or die;
    $rc == 0 or die "@cmd failed\n";
}

my $ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
run_ok('openssl', 'req', '-x509', @$ec, '-keyout', "$pki/ca.key", '-out', "$pki/ca.pem",
    '-days', '2', '-subj', '/CN=test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
for my $leaf (['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost', 'serverAuth'],
    ['client', 'subjectAltName=DNS:client', 'clientAuth']) {
    my ($name, $san, $eku) = @$leaf;
    run_ok('openssl', 'req', @$ec, '-keyout', "$pki/$name.key", '-out', "$pki/$name.csr",
        '-subj', "/CN=$name");
    open(my $ext, '>', "$pki/$name.ext") or die;
    print $ext "$san\nextendedKeyUsage=$eku\nbasicConstraints=CA:FALSE\n";
    close($ext);
    run_ok('openssl', 'x509', '-req', '-in', "$pki/$name.csr", '-CA', "$pki/ca.pem",
        '-CAkey', "$pki/ca.key", '-CAcreateserial', '-out', "$pki/$name.pem", '-days', '2',
        '-extfile', "$pki/$name.ext");
}

my $sim = LinstorSimHarness->start(nodes => 'n1,n2,n3', args => [
    '--tls-cert', "$pki/server.pem", '--tls-key', "$pki/server.key",
    '--tls-client-ca', "$pki/ca.pem", '--token', $token]);
like($sim->url, qr!^https://127\.0\.0\.1:\d+$!, 'simulator serves HTTPS with client certificates');
my ($hostport) = $sim->url =~ m!^https://(.+)$!;
open(my $auth, '>', $sim->dir . '/auth.json') or die;
print $auth qq({"token": "$token"});
close($auth);
$ENV{LINSTOR_PVE_AUTH_JSON} = $sim->dir . '/auth.json';
$sim->as_node('n1');

my $sid = 'drbd1';
my %base = (type => 'drbd', controller => $hostport, resourcegroup => 'DfltRscGrp',
    content => { images => 1 });
my %client = (apicrt => "$pki/client.pem", apikey => "$pki/client.key");
my $full = { %base, %client, apica => "$pki/ca.pem" };

my $vol = $P->alloc_image($sid, $full, 300, 'raw', undef, 8192);
like($vol, qr/^pm-[0-9a-f]{8}_300$/, 'alloc_image over verified mutual TLS with the token');
my $list = $P->list_images($sid, $full, 300);
is_deeply([map { $_->{volid} } @$list], ["$sid:$vol"], 'list_images sees it');

eval { $P->alloc_image($sid, { %base, %client }, 301, 'raw', undef, 8192) };
like($@, qr/not signed by a trusted CA.*'apica'/, 'without apica the controller is not trusted; the error names the option');

eval { $P->alloc_image($sid, { %base, apica => "$pki/ca.pem" }, 302, 'raw', undef, 8192) };
like($@, qr/requires a client certificate.*'apicrt'/, 'without apicrt/apikey the controller refuses; the error says so');

is(scalar(@{ $P->list_images($sid, $full, undef) }), 1, 'the refused calls created nothing');

done_testing();
