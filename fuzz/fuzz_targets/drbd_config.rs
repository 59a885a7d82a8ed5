//! Fuzz the DRBD configuration parser of `linstor-plugins adopt` and the planning behind it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linstor_plugins_ops::adopt::{parse_config, plan, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(resources) = parse_config(text) else {
        return;
    };
    let mut opts = Options {
        peer_slots: Some(7),
        storage_pool: Some("pool".into()),
        ..Default::default()
    };
    for r in &resources {
        for h in &r.hosts {
            for nr in h.volumes.keys() {
                opts.sizes.insert(*nr, 1 << 30);
            }
        }
        let _ = plan(r, &opts);
    }
});
