//! `list_images` of the real `linstor-pve` helper against the simulator: it reports exactly the
//! volumes of this storage (size, VMID, creation time; foreign definitions and other resource
//! groups left out). Volumes this suite made are listed from their definitions in one REST
//! request whatever the population; volumes made elsewhere (LINBIT's plugin) or left unfinished
//! count only with a resource somewhere, which costs one more request.

mod support;

use linstor_tests::cmd::output_with_input;
use linstor_tests::sim::{BlockingSim, Sim, SimConfig};
use serde_json::{json, Value};
use support::helper;

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
    call(sim, cache, "list_images", args)
}

fn call(sim: &BlockingSim, cache: &std::path::Path, method: &str, args: Value) -> Value {
    let doc = json!({
        "storeid": "drbd1",
        "scfg": {"controller": sim.url(), "resourcegroup": "DfltRscGrp"},
        "node": "n1",
        "dev_root": sim.dev_root("n1"),
        "timeout": 20,
        "args": args,
    });
    let out = output_with_input(
        &mut helper(method, cache, &cache.join("no-auth.json")),
        doc.to_string().as_bytes(),
    );
    assert!(
        out.status.success(),
        "{method} failed: {}",
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

fn cluster() -> BlockingSim {
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
    sim
}

fn bare_definition(sim: &BlockingSim, rd: &str, props: Value) {
    let (status, reply) = sim.call(
        "POST",
        "/v1/resource-definitions",
        json!({"resource_definition": {"name": rd, "resource_group_name": "DfltRscGrp",
                                       "props": props}})
        .to_string()
        .as_bytes(),
    );
    assert!(status < 300, "bare definition {rd}: {status} {reply:?}");
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn list_images_reads_only_definitions_for_volumes_made_here() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = cluster();
    let before = now_secs();
    let made = call(
        &sim,
        tmp.path(),
        "alloc_image",
        json!({"vmid": "100", "size_kib": 4096}),
    );
    let volname = made["volname"]
        .as_str()
        .expect("alloc_image answers the volname")
        .to_string();
    spawn(&sim, "foreign", "DfltRscGrp", json!({}), 4096);
    spawn(
        &sim,
        "pm-0000000b",
        "OtherGrp",
        json!({"Aux/pm/vmid": "101", "Aux/linstor-plugins/created": "1700000000000"}),
        4096,
    );
    bare_definition(
        &sim,
        "pm-0000000c",
        json!({"Aux/pm/vmid": "102", "Aux/linstor-plugins/created": "1700000000000",
               "Aux/linstor-plugins/incomplete": "yes"}),
    );

    sim.reset_stats();
    let small = list_images(&sim, tmp.path(), json!({}));
    assert_eq!(
        volids(&small),
        [format!("drbd1:{volname}")],
        "an unfinished create (incomplete marker, no resource) is not listed"
    );
    assert_eq!(
        sim.request_count(),
        2,
        "the definitions, then the resources of the one unfinished volume: {:?}",
        sim.stats()
    );
    let img = &small["images"][0];
    assert_eq!(img["size"], json!(4096 * 1024));
    assert_eq!(img["vmid"], json!(100));
    assert_eq!(img["format"], json!("raw"));
    let ctime = img["ctime"].as_u64().expect("ctime");
    assert!(
        (before..=now_secs()).contains(&ctime),
        "ctime is when alloc_image made it: {ctime}, between {before} and now"
    );

    let (status, reply) = sim.call("DELETE", "/v1/resource-definitions/pm-0000000c", b"");
    assert!(status < 300, "delete: {status} {reply:?}");
    for i in 0..60u64 {
        spawn(
            &sim,
            &format!("pm-1{i:07x}"),
            "DfltRscGrp",
            json!({"Aux/pm/vmid": (200 + i % 4).to_string(),
                   "Aux/linstor-plugins/created": (1_700_000_000_000 + i).to_string()}),
            8192,
        );
    }
    sim.reset_stats();
    let large = list_images(&sim, tmp.path(), json!({}));
    assert_eq!(
        sim.request_count(),
        1,
        "one request for 61 volumes made here: {:?}",
        sim.stats()
    );
    assert_eq!(volids(&large).len(), 61);
    let one = large["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["volid"] == json!("drbd1:pm-10000003_203"))
        .expect("pm-10000003 listed");
    assert_eq!(
        one["ctime"],
        json!(1_700_000_000u64),
        "ctime from the definition"
    );

    sim.reset_stats();
    let one_vm = list_images(&sim, tmp.path(), json!({"vmid": "201"}));
    assert_eq!(sim.request_count(), 1);
    let ids = volids(&one_vm);
    assert_eq!(ids.len(), 15);
    assert!(ids.iter().all(|v| v.ends_with("_201")), "{ids:?}");
}

#[test]
fn list_images_lists_volumes_made_elsewhere_only_with_a_resource() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = cluster();
    spawn(
        &sim,
        "vm-100-disk-1",
        "DfltRscGrp",
        json!({"Aux/pm/vmid": "100", "DrbdOptions/ExactSize": "yes"}),
        4096,
    );
    spawn(
        &sim,
        "pm-0000000a",
        "DfltRscGrp",
        json!({"Aux/pm/vmid": "100"}),
        4096,
    );
    bare_definition(&sim, "pm-0000000c", json!({"Aux/pm/vmid": "102"}));
    spawn(&sim, "foreign", "DfltRscGrp", json!({}), 4096);

    sim.reset_stats();
    let listing = list_images(&sim, tmp.path(), json!({}));
    assert_eq!(
        volids(&listing),
        ["drbd1:pm-0000000a_100", "drbd1:vm-100-disk-1"],
        "a definition without any resource is not a disk"
    );
    assert_eq!(
        sim.request_count(),
        2,
        "the definitions, then the resources of the three made elsewhere: {:?}",
        sim.stats()
    );
    for img in listing["images"].as_array().unwrap() {
        assert!(
            img["ctime"].as_u64().is_some_and(|t| t > 1_600_000_000),
            "ctime from the resource's creation time: {img}"
        );
    }

    for i in 0..60u64 {
        spawn(
            &sim,
            &format!("pm-2{i:07x}"),
            "DfltRscGrp",
            json!({"Aux/pm/vmid": "300"}),
            4096,
        );
    }
    sim.reset_stats();
    let many = list_images(&sim, tmp.path(), json!({}));
    assert_eq!(
        sim.request_count(),
        2,
        "63 made elsewhere: the whole resource view, still one request: {:?}",
        sim.stats()
    );
    assert_eq!(volids(&many).len(), 62);
}
