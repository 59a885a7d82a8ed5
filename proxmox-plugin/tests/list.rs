//! `list_images` of the real `linstor-pve` helper against the simulator: it reports exactly the
//! volumes of this storage (size, VMID, creation time; foreign definitions, other resource
//! groups and definitions without a replica left out) in two REST requests whatever the
//! population.

use std::io::Write;
use std::process::{Command, Stdio};

use linstor_tests::sim::{BlockingSim, Sim, SimConfig};
use serde_json::{json, Value};

fn spawn(sim: &BlockingSim, rd: &str, group: &str, props: Value, size_kib: u64) {
    let body = json!({
        "resource_definition_name": rd,
        "volume_sizes": [size_kib],
        "resource_definition_props": props,
        "select_filter": {"place_count": 1},
    });
    let (status, reply) = sim.call(
        "POST",
        &format!("/v1/resource-groups/{group}/spawn"),
        body.to_string().as_bytes(),
    );
    assert!(status < 300, "spawn {rd}: {status} {reply:?}");
}

fn list_images(sim: &BlockingSim, cache: &std::path::Path, args: Value) -> Value {
    let doc = json!({
        "storeid": "drbd1",
        "scfg": {"controller": sim.url(), "resourcegroup": "DfltRscGrp"},
        "node": "n1",
        "dev_root": sim.dev_root("n1"),
        "timeout": 20,
        "args": args,
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_linstor-pve"))
        .arg("list_images")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LINSTOR_PVE_CACHE_DIR", cache)
        .env("LINSTOR_PVE_AUTH_JSON", cache.join("no-auth.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "list_images failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn volids(listing: &Value) -> Vec<String> {
    let mut v: Vec<String> = listing["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["volid"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn list_images_reports_our_volumes_in_two_requests_whatever_the_count() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start_blocking(SimConfig {
        nodes: ["n1", "n2", "n3"].map(String::from).to_vec(),
        ..Default::default()
    })
    .unwrap();
    let (status, reply) = sim.call(
        "POST",
        "/v1/resource-groups",
        json!({"name": "OtherGrp", "select_filter": {"place_count": 1}})
            .to_string()
            .as_bytes(),
    );
    assert!(status < 300, "resource group: {status} {reply:?}");
    spawn(
        &sim,
        "pm-0000000a",
        "DfltRscGrp",
        json!({"Aux/pm/vmid": "100"}),
        4096,
    );
    spawn(&sim, "foreign", "DfltRscGrp", json!({}), 4096);
    let (status, reply) = sim.call(
        "POST",
        "/v1/resource-definitions",
        json!({"resource_definition": {"name": "pm-0000000c", "resource_group_name": "DfltRscGrp",
                                       "props": {"Aux/pm/vmid": "102"}}})
        .to_string()
        .as_bytes(),
    );
    assert!(status < 300, "bare definition: {status} {reply:?}");
    spawn(
        &sim,
        "pm-0000000b",
        "OtherGrp",
        json!({"Aux/pm/vmid": "101"}),
        4096,
    );

    sim.reset_stats();
    let small = list_images(&sim, tmp.path(), json!({}));
    assert_eq!(
        sim.request_count(),
        2,
        "definitions and resources: {:?}",
        sim.stats()
    );
    assert_eq!(volids(&small), ["drbd1:pm-0000000a_100"]);
    let img = &small["images"][0];
    assert_eq!(img["size"], json!(4096 * 1024));
    assert_eq!(img["vmid"], json!(100));
    assert_eq!(img["format"], json!("raw"));
    assert!(
        img["ctime"].as_u64().is_some_and(|t| t > 1_600_000_000),
        "ctime from the resource's creation time: {img}"
    );

    for i in 0..40u64 {
        spawn(
            &sim,
            &format!("pm-1{i:07x}"),
            "DfltRscGrp",
            json!({"Aux/pm/vmid": (200 + i % 4).to_string()}),
            8192,
        );
    }
    sim.reset_stats();
    let large = list_images(&sim, tmp.path(), json!({}));
    assert_eq!(
        sim.request_count(),
        2,
        "still two requests at 41 volumes: {:?}",
        sim.stats()
    );
    assert_eq!(volids(&large).len(), 41);

    sim.reset_stats();
    let one_vm = list_images(&sim, tmp.path(), json!({"vmid": "201"}));
    assert_eq!(sim.request_count(), 2);
    let ids = volids(&one_vm);
    assert_eq!(ids.len(), 10);
    assert!(ids.iter().all(|v| v.ends_with("_201")), "{ids:?}");
}
