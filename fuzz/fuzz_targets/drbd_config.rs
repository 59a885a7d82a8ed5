//! Fuzz the DRBD configuration parser of `linstor-plugins adopt` and the planning behind it,
//! with every host known to LINSTOR by one interface, so that addresses and paths are matched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linstor_common::api::NetInterface;
use linstor_plugins_ops::adopt::{parse_config, plan, HostName, Options};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(resources) = parse_config(text) else {
        return;
    };
    for r in &resources {
        let mut opts = Options {
            peer_slots: Some(7),
            storage_pool: Some("pool".into()),
            create_net_interfaces: data.len() % 2 == 0,
            ..Default::default()
        };
        for h in &r.hosts {
            for nr in h.volumes.keys() {
                opts.sizes.insert(*nr, 1 << 30);
            }
            if let HostName::On(n) = &h.name {
                opts.net_interfaces.insert(
                    n.clone(),
                    vec![NetInterface {
                        name: "default".into(),
                        address: "10.0.0.1".into(),
                        ..Default::default()
                    }],
                );
            }
        }
        if let Ok(p) = plan(r, &opts) {
            for s in &p.settings {
                let _ = s.to_string();
            }
        }
    }
});
