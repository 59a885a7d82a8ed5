//! Fuzzes the OpenNebula XML readers: the driver action message, VM and datastore documents,
//! XML-RPC answers, and the datastore attributes read from a parsed template. Must never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(Some(ds)) = linstor_one::xml::parse_action_data(&text).map(|a| a.datastore) {
        let _ = linstor_one::attrs::DsConfig::from_template(&ds.template);
    }
    if let Ok(ds) = linstor_one::xml::parse_datastore(&text) {
        let _ = linstor_one::attrs::DsConfig::from_template(&ds.template);
    }
    let _ = linstor_one::xml::parse_vm(&text);
    let _ = linstor_one::xml::parse_xmlrpc_response(&text);
    let _ = linstor_one::xml::parse_document(&text);
    let _ = linstor_one::xml::escape(&text);
});
