//! Fuzzes the Proxmox volume-name parsing: every accepted volname prints back to itself, and
//! alloc names are checked against a VM id. Input: volname, optionally NUL and a VM id.

#![no_main]

use libfuzzer_sys::fuzz_target;
use linstor_common::naming::proxmox::{parse_alloc_name, parse_volname};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (name, vmid) = text.split_once('\0').unwrap_or((text, "100"));
    if let Ok(v) = parse_volname(name) {
        assert_eq!(parse_volname(&v.volname()).ok(), Some(v.clone()));
        assert_eq!(
            parse_volname(&v.as_base().volname()).ok(),
            Some(v.as_base())
        );
    }
    if let Ok(v) = parse_alloc_name(name, vmid) {
        assert_eq!(parse_volname(&v.volname()).ok(), Some(v));
    }
});
