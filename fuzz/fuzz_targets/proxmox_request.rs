//! Fuzzes the Proxmox helper's request parsing: a method name plus the JSON document the Perl
//! module sends (storage options, node, arguments). Input: method, NUL, document.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(0);
    let (method, doc) = data.split_at(split);
    let doc = doc.strip_prefix(b"\0").unwrap_or(doc);
    let method = String::from_utf8_lossy(method);
    for m in linstor_pve::request::METHODS {
        let _ = linstor_pve::parse(m, doc);
    }
    let _ = linstor_pve::parse(&method, doc);
});
