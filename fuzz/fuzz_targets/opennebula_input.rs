//! Fuzz the OpenNebula driver's input parsing: argv[0] dispatch, arguments, base64 and the XML
//! documents (action message, VM on stdin, XML-RPC answers). Must never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

const ARGV0: [&str; 6] = [
    "/var/lib/one/remotes/datastore/linstor/cp",
    "/var/lib/one/remotes/datastore/linstor_un/monitor",
    "/var/lib/one/remotes/tm/linstor/clone",
    "/var/lib/one/remotes/tm/linstor/premigrate",
    "/var/lib/one/remotes/tm/linstor/context",
    "/usr/bin/linstor-one",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\u{0}');
    let stdin = parts.next().unwrap_or("").as_bytes().to_vec();
    let args: Vec<String> = parts.map(str::to_string).collect();
    let argv0 = ARGV0[sel as usize % ARGV0.len()];
    let _ = linstor_one::parse(argv0, &args, || Ok(stdin.clone()));
    let _ = linstor_one::xml::parse_action_data(&text);
    let _ = linstor_one::xml::parse_vm(&text);
    let _ = linstor_one::xml::parse_xmlrpc_response(&text);
    let _ = linstor_one::input::host_path("fuzz", "arg", &text);
});
