//! Fuzz the Docker plugin request parser and the option resolution behind Create.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linstor_docker_volume::options::{RawOptions, VolumeOptions};
use linstor_docker_volume::{parse_request, Request};

const PATHS: &[&str] = &[
    "/Plugin.Activate",
    "/VolumeDriver.Create",
    "/VolumeDriver.Remove",
    "/VolumeDriver.Mount",
    "/VolumeDriver.Unmount",
    "/VolumeDriver.Path",
    "/VolumeDriver.Get",
    "/VolumeDriver.List",
    "/VolumeDriver.Capabilities",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let path = PATHS[usize::from(sel) % PATHS.len()];
    if let Ok(Request::Create { name, opts }) = parse_request(path, body) {
        let _ = linstor_common::naming::docker::resource_name(&name);
        if let Some(o) = opts {
            if let Ok(raw) = RawOptions::from_opts(&o) {
                let _ = VolumeOptions::resolve(&RawOptions::default(), &raw);
            }
        }
    }
});
