//! Fuzzes the Proxmox helper's input parsing: method name plus JSON document, and volnames.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(0);
    let (method, doc) = data.split_at(split);
    let method = String::from_utf8_lossy(method);
    for m in linstor_pve::request::METHODS {
        let _ = linstor_pve::parse(m, doc);
    }
    let _ = linstor_pve::parse(&method, doc);
    if let Ok(text) = std::str::from_utf8(doc) {
        if let Ok(v) = linstor_common::naming::proxmox::parse_volname(text) {
            assert_eq!(
                linstor_common::naming::proxmox::parse_volname(&v.volname()).ok(),
                Some(v)
            );
        }
    }
});
