//! Toggle-disk and migrate-disk answered as linstor-server answers them (`Resources` REST class,
//! `CtrlRscToggleDiskApiCallHandler`): HTTP status, the whole `ret_code`, the message, and the
//! resource's flags and volumes afterwards.

mod common;

use common::*;
use linstor_tests::sim::{Sim, SimConfig};
use serde_json::{json, Value};

const MASK_MOD: u64 = 0x200_0000;
const MASK_RSC: u64 = 0x34_0000;
const MODIFIED: u64 = 3;
const INFO_NOOP: u64 = 10007 | 0x4000_0000_0000_0000;
const WARN_NOT_CONNECTED: u64 = 1002 | MASK_WARN;
const FAIL_INVLD_NODE_NAME: u64 = 200 | MASK_ERROR;
const FAIL_INVLD_STOR_POOL_NAME: u64 = 208 | MASK_ERROR;
const FAIL_NOT_FOUND_NODE: u64 = 300 | MASK_ERROR;
const FAIL_NOT_FOUND_RSC_DFN: u64 = 301 | MASK_ERROR;
const FAIL_NOT_FOUND_RSC: u64 = 302 | MASK_ERROR;
const FAIL_NOT_FOUND_DFLT_STOR_POOL: u64 = 311 | MASK_ERROR;
const FAIL_INSUFFICIENT_REPLICA_COUNT: u64 = 991 | MASK_ERROR;
const FAIL_INSUFFICIENT_PEER_SLOTS: u64 = 993 | MASK_ERROR;
const FAIL_IN_USE: u64 = 997 | MASK_ERROR;
const API_CALL_PARSE_ERROR: u64 = 0xCFFF_FFFF_FFFF_FFFD;

/// A code in the `MOD`/`RSC` context of `resourceToggleDisk`.
fn md(code: u64) -> u64 {
    code | MASK_MOD | MASK_RSC
}

/// A definition `rd` spawned with two replicas on n1..n3: gives the diskful nodes and the
/// node of its tie-breaker.
async fn two_replicas() -> (Sim, Api, Vec<String>, String) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    assert_eq!(api.spawn("DfltRscGrp", "rd", 1024, 2).await.0, 201);
    let mut diskful = vec![];
    let mut tb = None;
    for n in api.nodes_of("rd").await {
        if api.flags("rd", &n).await.iter().any(|f| f == "TIE_BREAKER") {
            tb = Some(n);
        } else {
            diskful.push(n);
        }
    }
    (sim, api, diskful, tb.expect("a tie-breaker"))
}

async fn flags(api: &Api, node: &str) -> Vec<String> {
    let mut f = api.flags("rd", node).await;
    f.sort();
    f
}

async fn toggle(api: &Api, node: &str, body: Value) -> (u16, Value) {
    api.put(
        &format!("/v1/resource-definitions/rd/resources/{node}/toggle-disk"),
        body,
    )
    .await
}

async fn node_online(api: &Api, node: &str, on: bool) {
    let (st, _) = api
        .post("/sim/node-online", json!({"node": node, "online": on}))
        .await;
    assert_eq!(st, 200);
}

/// Volume 0 of `rd` on `node` in `/v1/view/resources`: (storage pool, provider kind).
async fn volume(api: &Api, node: &str) -> (String, String) {
    let (st, v) = api
        .get(&format!("/v1/view/resources?resources=rd&nodes={node}"))
        .await;
    assert_eq!(st, 200);
    let vol = &v[0]["volumes"][0];
    (
        vol["storage_pool_name"].as_str().unwrap().to_string(),
        vol["provider_kind"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn diskless_to_diskful_and_back_answer_and_change_the_resource() {
    let (_sim, api, diskful, tb) = two_replicas().await;
    let mut peers = diskful.clone();
    peers.sort();

    let (st, v) = toggle(&api, &tb, json!({"operation": "INTO_DRBD_DISKFUL"})).await;
    assert_eq!(st, 200, "{v}");
    let mut want = vec![(
        md(MODIFIED),
        format!("Addition of disk to resource 'rd' on node '{tb}' registered"),
    )];
    for p in &peers {
        want.push((
            md(MODIFIED),
            format!("Prepared '{p}' to expect disk on '{tb}'"),
        ));
    }
    want.push((md(MODIFIED), format!("Added disk on '{tb}'")));
    assert_eq!(entries(&v), want);
    assert_eq!(v[0]["obj_refs"]["Node"], tb.as_str());
    assert_eq!(v[0]["obj_refs"]["RscDfn"], "rd");
    // markDiskAdded clears DRBD_DISKLESS and with it TIE_BREAKER; three disks need no
    // tie-breaker.
    assert!(flags(&api, &tb).await.is_empty());
    assert_eq!(
        volume(&api, &tb).await,
        ("DfltStorPool".into(), "FILE_THIN".into())
    );
    let (_, r) = api.rsc("rd", &tb).await;
    assert_eq!(r["props"]["DiskfulBy"], "user", "{r}");

    let (st, v) = toggle(&api, &tb, json!({"operation": "into_drbd_diskful"})).await;
    assert_eq!(st, 200);
    assert_eq!(
        entries(&v),
        [(
            md(INFO_NOOP),
            format!("Resource 'rd' on node '{tb}' is already diskful")
        )]
    );

    let (st, v) = toggle(&api, &tb, json!({"operation": "INTO_DRBD_DISKLESS"})).await;
    assert_eq!(st, 200, "{v}");
    let mut want = vec![
        (
            md(MODIFIED),
            format!("Removal of disk from resource 'rd' on node '{tb}' registered"),
        ),
        (md(MODIFIED), format!("Removed disk on '{tb}'")),
    ];
    for p in &peers {
        want.push((
            md(MODIFIED),
            format!("Notified '{p}' that disk has been removed on '{tb}'"),
        ));
    }
    assert_eq!(entries(&v), want);
    // A voting diskless resource, not a tie-breaker.
    assert_eq!(flags(&api, &tb).await, ["DISKLESS", "DRBD_DISKLESS"]);
    assert_eq!(
        volume(&api, &tb).await,
        ("DfltDisklessStorPool".into(), "DISKLESS".into())
    );
    let (_, r) = api.rsc("rd", &tb).await;
    assert!(r["props"].get("DiskfulBy").is_none(), "{r}");

    let (st, v) = toggle(&api, &tb, json!({"operation": "INTO_DRBD_DISKLESS"})).await;
    assert_eq!(st, 200);
    assert_eq!(
        entries(&v),
        [(
            md(INFO_NOOP),
            format!("Resource 'rd' on node '{tb}' is already diskless")
        )]
    );

    // Into a client: a change of diskless kind is a resource modify; the DRBD layer says
    // CLIENT afterwards.
    let (st, v) = toggle(&api, &tb, json!({"operation": "INTO_DRBD_CLIENT"})).await;
    assert_eq!(st, 200);
    assert_eq!(
        entries(&v),
        [(
            md(MODIFIED),
            format!("Resource 'rd' on node '{tb}' modified.")
        )]
    );
    let (_, r) = api.rsc("rd", &tb).await;
    assert_eq!(
        r["layer_object"]["drbd"]["flags"],
        json!(["INITIALIZED", "CLIENT"])
    );
    let (_, v) = toggle(&api, &tb, json!({"operation": "INTO_DRBD_CLIENT"})).await;
    assert_eq!(
        entries(&v),
        [(
            md(INFO_NOOP),
            format!("Resource 'rd' on node '{tb}' is already a diskless client")
        )]
    );
}

#[tokio::test]
async fn the_last_online_disk_cannot_be_removed() {
    let (_sim, api, diskful, _tb) = two_replicas().await;
    // With its peer's satellite offline, a disk is the only online one.
    node_online(&api, &diskful[1], false).await;
    let (st, v) = toggle(
        &api,
        &diskful[0],
        json!({"operation": "INTO_DRBD_DISKLESS"}),
    )
    .await;
    assert_eq!(st, 500, "{v}");
    assert_eq!(
        entries(&v),
        [(
            md(FAIL_INSUFFICIENT_REPLICA_COUNT),
            "Cannot remove the disk from the only online resource with a disk".to_string()
        )]
    );
    assert!(flags(&api, &diskful[0]).await.is_empty());
    assert_eq!(volume(&api, &diskful[0]).await.1, "FILE_THIN");
}

#[tokio::test]
async fn unknown_objects_and_bad_requests_are_refused_without_change() {
    let (_sim, api, _, tb) = two_replicas().await;
    let body = json!({"operation": "INTO_DRBD_DISKFUL"});

    let (st, v) = toggle(&api, "zz9", body.clone()).await;
    assert_eq!(st, 404);
    assert_eq!(
        entries(&v),
        [(md(FAIL_NOT_FOUND_NODE), "Node 'zz9' not found.".to_string())]
    );
    let (st, v) = api
        .put(
            &format!("/v1/resource-definitions/nope/resources/{tb}/toggle-disk"),
            body.clone(),
        )
        .await;
    assert_eq!(st, 404);
    assert_eq!(first_code(&v), md(FAIL_NOT_FOUND_RSC_DFN));

    // A definition without a resource on that node.
    let (st, _) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "one"}}),
        )
        .await;
    assert_eq!(st, 201);
    let other = "n1";
    let (st, v) = api
        .put(
            &format!("/v1/resource-definitions/one/resources/{other}/toggle-disk"),
            body.clone(),
        )
        .await;
    assert_eq!(st, 404);
    assert_eq!(
        entries(&v),
        [(
            md(FAIL_NOT_FOUND_RSC),
            format!("Resource 'one' on node '{other}' not found.")
        )]
    );
    assert_eq!(
        v[0]["correction"],
        format!("Create a resource with the name 'one' on node '{other}' first.")
    );

    // The node name is parsed before the flux: the exception mapper answers 400 with the bare
    // entry.
    let (st, v) = toggle(&api, "-bad", body.clone()).await;
    assert_eq!(st, 400);
    assert_eq!(
        entries(&v),
        [(
            FAIL_INVLD_NODE_NAME,
            "The given node name '-bad' is invalid.".to_string()
        )]
    );

    // ToggleOp.parse, also before the flux.
    let (st, v) = toggle(&api, &tb, json!({})).await;
    assert_eq!(st, 400);
    assert_eq!(
        entries(&v),
        [(
            API_CALL_PARSE_ERROR,
            "No toggle operation type was specified".to_string()
        )]
    );
    let (st, v) = toggle(&api, &tb, json!({"operation": "INTO_DRBD_TIEBREAKER"})).await;
    assert_eq!(st, 400);
    assert_eq!(
        entries(&v),
        [(
            API_CALL_PARSE_ERROR,
            "Could not parse 'INTO_DRBD_TIEBREAKER'. Valid operations: INTO_DRBD_DISKFUL, INTO_DRBD_CLIENT, INTO_DRBD_DISKLESS".to_string()
        )]
    );
    let (st, v) = api
        .req(
            reqwest::Method::PUT,
            &format!("/v1/resource-definitions/rd/resources/{tb}/toggle-disk/diskful"),
            None,
        )
        .await;
    // No body is the default body for the deprecated route: a plain diskful toggle.
    assert_eq!(st, 200, "{v}");
    assert!(flags(&api, &tb).await.is_empty());
}

#[tokio::test]
async fn storage_pools_are_resolved_like_ctrl_stor_pool_resolve_helper() {
    let (_sim, api, diskful, tb) = two_replicas().await;
    let (st, v) = toggle(
        &api,
        &tb,
        json!({"operation": "INTO_DRBD_DISKFUL", "storage_pool": "nope"}),
    )
    .await;
    assert_eq!(st, 404);
    assert_eq!(
        entries(&v),
        [(
            md(FAIL_NOT_FOUND_DFLT_STOR_POOL),
            format!("The storage pool 'nope' for resource 'rd' for volume number '0' is not deployed on node '{tb}'.")
        )]
    );
    assert_eq!(v[0]["cause"], "Dependency not found");

    // A disk in a diskless pool: refused by the simulator (docs/simulator.md).
    let (st, v) = toggle(
        &api,
        &tb,
        json!({"operation": "INTO_DRBD_DISKFUL", "storage_pool": "DfltDisklessStorPool"}),
    )
    .await;
    assert_eq!(st, 500);
    assert_eq!(first_code(&v), md(FAIL_INVLD_STOR_POOL_NAME));
    assert_eq!(
        flags(&api, &tb).await,
        ["DISKLESS", "DRBD_DISKLESS", "TIE_BREAKER"]
    );

    // checkBackingDiskWithDiskless.
    let d = &diskful[0];
    let (st, v) = toggle(
        &api,
        d,
        json!({"operation": "INTO_DRBD_DISKLESS", "storage_pool": "DfltStorPool"}),
    )
    .await;
    assert_eq!(st, 500);
    assert_eq!(
        entries(&v),
        [(
            md(FAIL_INVLD_STOR_POOL_NAME),
            "Storage pool with backing disk not allowed with diskless resource.".to_string()
        )]
    );
    assert_eq!(
        v[0]["correction"],
        "Use a storage pool with a diskless driver or remove the diskless flag."
    );
    assert!(flags(&api, d).await.is_empty());

    // The deprecated routes name the pool in the path.
    let base = "/v1/resource-definitions/rd/resources";
    let (st, v) = api
        .put(
            &format!("{base}/{tb}/toggle-disk/diskful/DfltStorPool"),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(volume(&api, &tb).await.0, "DfltStorPool");
    let (st, v) = api
        .put(
            &format!("{base}/{tb}/toggle-disk/diskless/DfltDisklessStorPool"),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(flags(&api, &tb).await, ["DISKLESS", "DRBD_DISKLESS"]);
    let (st, v) = api
        .put(&format!("{base}/{d}/toggle-disk/diskless/nope"), json!({}))
        .await;
    assert_eq!(st, 404);
    assert_eq!(first_code(&v), md(FAIL_NOT_FOUND_DFLT_STOR_POOL));
    let (st, _) = api
        .put(&format!("{base}/{d}/toggle-disk/diskless"), json!({}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(flags(&api, d).await, ["DISKLESS", "DRBD_DISKLESS"]);
}

#[tokio::test]
async fn an_offline_node_keeps_the_toggle_requested_until_it_connects() {
    let (_sim, api, diskful, tb) = two_replicas().await;
    node_online(&api, &tb, false).await;
    let (st, v) = toggle(&api, &tb, json!({"operation": "INTO_DRBD_DISKFUL"})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        entries(&v),
        [
            (
                md(MODIFIED),
                format!("Addition of disk to resource 'rd' on node '{tb}' registered")
            ),
            (
                md(WARN_NOT_CONNECTED),
                format!("No active connection to satellite '{tb}'")
            ),
        ]
    );
    assert!(flags(&api, &tb)
        .await
        .contains(&"DISK_ADD_REQUESTED".into()));
    assert_eq!(volume(&api, &tb).await.1, "DISKLESS");

    // The same toggle again retries; the opposite one aborts it and requests the removal.
    let (st, v) = toggle(&api, &tb, json!({"operation": "INTO_DRBD_DISKFUL"})).await;
    assert_eq!(st, 200);
    assert_eq!(
        entries(&v),
        [
            (
                md(INFO_NOOP),
                format!("Retrying toggle disk INTO_DRBD_DISKFUL for resource 'rd' on node '{tb}'")
            ),
            (
                md(WARN_NOT_CONNECTED),
                format!("No active connection to satellite '{tb}'")
            ),
        ]
    );
    let (st, v) = toggle(&api, &tb, json!({"operation": "INTO_DRBD_DISKLESS"})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        entries(&v)[0].1,
        format!("Removal of disk from resource 'rd' on node '{tb}' registered")
    );
    let f = flags(&api, &tb).await;
    assert!(f.contains(&"DISK_REMOVE_REQUESTED".into()), "{f:?}");
    assert!(!f.contains(&"DISK_ADD_REQUESTED".into()), "{f:?}");
    node_online(&api, &tb, true).await;
    // Back to what it was: markDiskRemoving sets DRBD_DISKLESS, and TIE_BREAKER was never
    // cleared (only markDiskAdded does that).
    assert_eq!(
        flags(&api, &tb).await,
        ["DISKLESS", "DRBD_DISKLESS", "TIE_BREAKER"]
    );

    // A disk requested offline is added when the satellite connects.
    node_online(&api, &tb, false).await;
    let (st, _) = toggle(&api, &tb, json!({"operation": "INTO_DRBD_DISKFUL"})).await;
    assert_eq!(st, 200);
    node_online(&api, &tb, true).await;
    assert!(flags(&api, &tb).await.is_empty());
    assert_eq!(volume(&api, &tb).await.1, "FILE_THIN");

    // A removal on an offline node with two other online disks is stored and done on connect.
    let d = &diskful[0];
    node_online(&api, d, false).await;
    let (st, v) = toggle(&api, d, json!({"operation": "INTO_DRBD_DISKLESS"})).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        entries(&v)[1],
        (
            md(WARN_NOT_CONNECTED),
            format!("No active connection to satellite '{d}'")
        )
    );
    assert_eq!(flags(&api, d).await, ["DISK_REMOVE_REQUESTED"]);
    node_online(&api, d, true).await;
    assert_eq!(flags(&api, d).await, ["DISKLESS", "DRBD_DISKLESS"]);
    assert_eq!(volume(&api, d).await.1, "DISKLESS");
}

#[tokio::test]
async fn migrate_disk_adds_the_disk_and_deletes_the_source_once_synced() {
    let (_sim, api, diskful, tb) = two_replicas().await;
    let (from, keep) = (&diskful[0], &diskful[1]);
    let base = "/v1/resource-definitions/rd/resources";

    // The source must be a resource of the definition, and not in use.
    let (st, v) = api
        .put(&format!("{base}/{tb}/migrate-disk/zz9"), json!({}))
        .await;
    assert_eq!(st, 404);
    assert_eq!(first_code(&v), md(FAIL_NOT_FOUND_NODE));
    let (st, _) = api
        .post(
            "/sim/in-use",
            json!({"resource": "rd", "node": from, "in_use": true}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = api
        .put(&format!("{base}/{tb}/migrate-disk/{from}"), json!({}))
        .await;
    assert_eq!(st, 500);
    assert_eq!(
        entries(&v),
        [(
            md(FAIL_IN_USE),
            "Resource 'rd' is still in use.".to_string()
        )]
    );
    assert!(flags(&api, &tb).await.contains(&"TIE_BREAKER".into()));
    let (st, _) = api
        .post(
            "/sim/in-use",
            json!({"resource": "rd", "node": from, "in_use": false}),
        )
        .await;
    assert_eq!(st, 200);

    let (st, v) = api
        .put(
            &format!("{base}/{tb}/migrate-disk/{from}/DfltStorPool"),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(no_errors(&v));
    assert_eq!(
        entries(&v).last().unwrap().1,
        format!("Added disk on '{tb}'")
    );
    // The controller deletes the source in the background once the new disk is UpToDate;
    // two disks then get a tie-breaker, on the node that is free again.
    let mut gone = false;
    for _ in 0..100 {
        if api
            .flags("rd", from)
            .await
            .iter()
            .any(|f| f == "TIE_BREAKER")
        {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(gone, "the source {from} was not replaced");
    assert!(flags(&api, keep).await.is_empty());
    assert!(flags(&api, &tb).await.is_empty());
    let (_, r) = api.rsc("rd", &tb).await;
    assert!(r["props"].get("MigrateFrom").is_none(), "{r}");
}

#[tokio::test]
async fn a_disk_needs_a_peer_slot_on_every_diskful_peer() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    let (st, v) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "rd"}, "drbd_peer_slots": 1}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/rd/volume-definitions",
            json!({"volume_definition": {"size_kib": 1024}}),
        )
        .await;
    assert!(st < 300, "{v}");
    for (node, flags) in [
        ("n1", json!([])),
        ("n2", json!([])),
        ("n3", json!(["DRBD_DISKLESS"])),
    ] {
        let (st, v) = api
            .post(
                "/v1/resource-definitions/rd/resources",
                json!([{"resource": {"node_name": node, "flags": flags}}]),
            )
            .await;
        assert_eq!(st, 201, "{v}");
    }
    let (st, v) = toggle(&api, "n3", json!({"operation": "INTO_DRBD_DISKFUL"})).await;
    assert_eq!(st, 500, "{v}");
    assert_eq!(
        entries(&v),
        [(
            md(FAIL_INSUFFICIENT_PEER_SLOTS),
            "Existing resources do not have enough peer slots".to_string()
        )]
    );
    assert!(v[0]["details"]
        .as_str()
        .unwrap()
        .starts_with("Resources with insufficient peer slots (2 required): \n"));
    assert_eq!(flags(&api, "n3").await, ["DISKLESS", "DRBD_DISKLESS"]);
}
