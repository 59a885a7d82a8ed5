//! Fuzzes the OpenNebula driver's argument parsing: argv[0] dispatch over every DS and TM
//! action, the positional arguments (host:path, ids, sizes, base64 messages) and stdin. Input
//! layout: one selector byte, then NUL-separated fields: stdin, then the arguments.

#![no_main]

use libfuzzer_sys::fuzz_target;

use linstor_one::input::{DsKind, TM_ACTIONS as TM};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let driver = if sel & 0x80 == 0 {
        "linstor"
    } else {
        "linstor_un"
    };
    let idx = usize::from(sel & 0x7f);
    let argv0 = if idx < DsKind::ALL.len() {
        format!(
            "/var/lib/one/remotes/datastore/{driver}/{}",
            DsKind::ALL[idx].1
        )
    } else if idx < DsKind::ALL.len() + TM.len() {
        format!(
            "/var/lib/one/remotes/tm/{driver}/{}",
            TM[idx - DsKind::ALL.len()]
        )
    } else {
        "/usr/bin/linstor-one".to_string()
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.split('\u{0}');
    let stdin = parts.next().unwrap_or("").as_bytes().to_vec();
    let args: Vec<String> = parts.map(str::to_string).collect();
    let _ = linstor_one::parse(&argv0, &args, || Ok(stdin.clone()));
    for a in &args {
        let _ = linstor_one::input::host_path("fuzz", "arg", a);
    }
});
