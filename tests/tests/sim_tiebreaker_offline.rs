//! A diskless tie-breaker turned into a regular diskless or diskful resource while its node's
//! satellite is offline, as linstor-server does it (`CtrlRscMakeAvailableApiCallHandler`,
//! `CtrlRscCrtApiHelper`, `CtrlRscToggleDiskApiCallHandler`).

mod common;

use common::*;
use linstor_tests::sim::{Sim, SimConfig};
use serde_json::json;

const MASK_CRT: u64 = 0x100_0000;
const MASK_MOD: u64 = 0x200_0000;
const MASK_RSC: u64 = 0x34_0000;
const MODIFIED: u64 = 3;
const FAIL_NOT_FOUND_STOR_POOL: u64 = 310 | MASK_ERROR;
const WARN_NOT_CONNECTED: u64 = 1002 | MASK_WARN;

/// A two-replica definition `rd` with its tie-breaker on one node and the other two diskful,
/// the tie-breaker's satellite offline; gives (sim, api, tie-breaker node, diskful nodes).
async fn offline_tiebreaker() -> (Sim, Api, String, Vec<String>) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    assert_eq!(api.spawn("DfltRscGrp", "rd", 1024, 2).await.0, 201);
    let mut tb = None;
    let mut diskful = vec![];
    for n in api.nodes_of("rd").await {
        if api.flags("rd", &n).await.iter().any(|f| f == "TIE_BREAKER") {
            tb = Some(n);
        } else {
            diskful.push(n);
        }
    }
    let tb = tb.expect("a tie-breaker");
    node_online(&api, &tb, false).await;
    (sim, api, tb, diskful)
}

async fn node_online(api: &Api, node: &str, on: bool) {
    let (st, _) = api
        .post("/sim/node-online", json!({"node": node, "online": on}))
        .await;
    assert_eq!(st, 200);
}

async fn flags(api: &Api, node: &str) -> Vec<String> {
    let mut f = api.flags("rd", node).await;
    f.sort();
    f
}

#[tokio::test]
async fn make_available_diskless_drops_the_tiebreaker_flag_without_contacting_the_node() {
    let (_sim, api, tb, _) = offline_tiebreaker().await;
    let (st, v) = api
        .post(
            &format!("/v1/resource-definitions/rd/resources/{tb}/make-available"),
            json!({"diskful": false}),
        )
        .await;
    assert_eq!(st, 200);
    // Only the flags change; updateSatellite stays false, so no WARN_NOT_CONNECTED.
    assert_eq!(
        entries(&v),
        [(
            MASK_CRT | MASK_RSC,
            "Resource already deployed as requested".to_string()
        )]
    );
    assert_eq!(flags(&api, &tb).await, ["DISKLESS", "DRBD_DISKLESS"]);
    node_online(&api, &tb, true).await;
    assert_eq!(flags(&api, &tb).await, ["DISKLESS", "DRBD_DISKLESS"]);
}

#[tokio::test]
async fn make_available_diskful_fails_in_the_autoplacer_and_changes_nothing() {
    let (_sim, api, tb, diskful) = offline_tiebreaker().await;
    let path = format!("/v1/resource-definitions/rd/resources/{tb}/make-available");
    let (st, v) = api.post(&path, json!({"diskful": true})).await;
    assert_eq!(
        st, 404,
        "a 3xx code: ApiCallRcRestUtils.toResponse answers 404"
    );
    assert_eq!(
        entries(&v),
        [(
            FAIL_NOT_FOUND_STOR_POOL | MASK_CRT | MASK_RSC,
            format!(
                "Autoplacer could not find diskful stor pool on node {tb} matching resource-groups autoplace-settings"
            )
        )]
    );
    assert!(flags(&api, &tb).await.contains(&"TIE_BREAKER".to_string()));

    node_online(&api, &tb, true).await;
    let (st, v) = api.post(&path, json!({"diskful": true})).await;
    assert_eq!(st, 200, "{v}");
    assert!(flags(&api, &tb).await.is_empty());
    // Online, the toggle runs through: registered, peers prepared, disk added.
    let toggled = |m: String| (MODIFIED | MASK_MOD | MASK_RSC, m);
    let mut want = vec![toggled(format!(
        "Addition of disk to resource 'rd' on node '{tb}' registered"
    ))];
    for d in &diskful {
        want.push(toggled(format!("Prepared '{d}' to expect disk on '{tb}'")));
    }
    want.push(toggled(format!("Added disk on '{tb}'")));
    assert_eq!(entries(&v), want);
}

#[tokio::test]
async fn create_diskful_stores_the_disk_request_and_finishes_it_on_reconnect() {
    let (_sim, api, tb, diskful) = offline_tiebreaker().await;
    let (st, v) = api
        .post(
            &format!("/v1/resource-definitions/rd/resources/{tb}"),
            json!({"resource": {}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let e = entries(&v);
    assert!(
        e.contains(&(
            MODIFIED | MASK_MOD | MASK_RSC,
            format!("Addition of disk to resource 'rd' on node '{tb}' registered")
        )),
        "{v}"
    );
    assert!(
        e.contains(&(
            WARN_NOT_CONNECTED | MASK_MOD | MASK_RSC,
            format!("No active connection to satellite '{tb}'")
        )),
        "{v}"
    );
    assert!(no_errors(&v));
    assert_eq!(
        flags(&api, &tb).await,
        ["DISKLESS", "DISK_ADD_REQUESTED", "DRBD_DISKLESS"],
        "stored as requested, still diskless while the satellite is away"
    );
    for d in &diskful {
        assert!(flags(&api, d).await.is_empty());
    }

    node_online(&api, &tb, true).await;
    assert!(
        flags(&api, &tb).await.is_empty(),
        "the toggle finished when the satellite came back"
    );
    let nodes = api.nodes_of("rd").await;
    assert_eq!(nodes.len(), 3, "three diskful replicas, no new tie-breaker");
}

#[tokio::test]
async fn create_diskless_releases_the_tiebreaker_and_warns_about_its_node() {
    let (_sim, api, tb, diskful) = offline_tiebreaker().await;
    let (st, v) = api
        .post(
            &format!("/v1/resource-definitions/rd/resources/{tb}"),
            json!({"resource": {"flags": ["DRBD_DISKLESS"]}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let e = entries(&v);
    assert!(
        e.contains(&(
            WARN_NOT_CONNECTED | MASK_CRT | MASK_RSC,
            format!("No active connection to satellite '{tb}'")
        )),
        "{v}"
    );
    for d in &diskful {
        assert!(
            e.contains(&(
                MODIFIED | MASK_CRT | MASK_RSC,
                format!("Update of resource 'rd' on {tb} applied on node '{d}'")
            )),
            "{v}"
        );
    }
    assert_eq!(flags(&api, &tb).await, ["DISKLESS", "DRBD_DISKLESS"]);

    // A second create finds a plain diskless resource: nothing to change, nothing to say.
    let (st, v) = api
        .post(
            &format!("/v1/resource-definitions/rd/resources/{tb}"),
            json!({"resource": {"flags": ["DRBD_DISKLESS"]}}),
        )
        .await;
    assert_eq!(st, 201);
    assert!(
        !entries(&v)
            .iter()
            .any(|(_, m)| m.contains("Update of resource")),
        "{v}"
    );
}
