//! The DRBD and satellite model of the simulator: roles, disk states over time, offline
//! satellites and the behaviour that changed between controller versions.

mod common;

use std::time::{Duration, Instant};

use common::*;
use linstor_tests::sim::{Sim, SimConfig};
use serde_json::{json, Value};

const FAIL_IN_USE: u64 = 997 | MASK_ERROR;
const FAIL_NOT_ALL_UPTODATE: u64 = 974 | MASK_ERROR;
const FAIL_SNAPSHOT_NOT_UPTODATE: u64 = 979 | MASK_ERROR;
const FAIL_STLT_DOES_NOT_SUPPORT_LAYER: u64 = 988 | MASK_ERROR;
const FAIL_NOT_FOUND_STOR_POOL: u64 = 310 | MASK_ERROR;
const FAIL_NOT_CONNECTED: u64 = 995 | MASK_ERROR;
const FAIL_EXISTS_SNAPSHOT_DFN: u64 = 514 | MASK_ERROR;
const WARN_NOT_CONNECTED: u64 = 1002 | MASK_WARN;

fn code(v: &Value) -> u64 {
    first_code(v) & (MASK_ERROR | 0x7FFF)
}

async fn start(cfg: SimConfig) -> (Sim, Api) {
    let sim = Sim::start(cfg).await.unwrap();
    let api = Api::new(&sim.url());
    (sim, api)
}

async fn diskful(api: &Api, rd: &str) -> Vec<String> {
    let mut out = vec![];
    for n in api.nodes_of(rd).await {
        if !api.flags(rd, &n).await.iter().any(|f| f == "DISKLESS") {
            out.push(n);
        }
    }
    out
}

async fn disk_state(api: &Api, rd: &str, node: &str) -> Option<String> {
    let (_, v) = api
        .get(&format!("/v1/view/resources?resources={rd}&nodes={node}"))
        .await;
    v[0]["volumes"][0]["state"]["disk_state"]
        .as_str()
        .map(str::to_string)
}

async fn open(api: &Api, rd: &str, node: &str, on: bool) -> (u16, Value) {
    api.post(
        "/sim/in-use",
        json!({"resource": rd, "node": node, "in_use": on}),
    )
    .await
}

#[tokio::test]
async fn one_primary_unless_two_primaries_are_allowed() {
    let (_sim, api) = start(SimConfig::default()).await;
    assert_eq!(api.spawn("DfltRscGrp", "r2p", 1024, 2).await.0, 201);
    let d = diskful(&api, "r2p").await;
    assert_eq!(open(&api, "r2p", &d[0], true).await.0, 200);
    let (_, v) = api.rsc("r2p", &d[0]).await;
    assert_eq!(v["state"]["in_use"], true);
    let (st, v) = open(&api, "r2p", &d[1], true).await;
    assert_eq!(st, 409, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("(-1) Multiple primaries not allowed by config"),
        "{v}"
    );
    let (_, v) = api.rsc("r2p", &d[1]).await;
    assert_eq!(v["state"]["in_use"], false);
    let (st, _) = api
        .put(
            &format!(
                "/v1/resource-definitions/r2p/resource-connections/{}/{}",
                d[0], d[1]
            ),
            json!({"override_props": {"DrbdOptions/Net/allow-two-primaries": "yes"}}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(open(&api, "r2p", &d[1], true).await.0, 200);
    let (_, v) = api.rsc("r2p", &d[1]).await;
    assert_eq!(v["state"]["in_use"], true);
    let (st, v) = api
        .delete(&format!("/v1/resource-definitions/r2p/resources/{}", d[1]))
        .await;
    assert_eq!((st, code(&v)), (500, FAIL_IN_USE));
    assert_eq!(v[0]["message"], "Resource 'r2p' is still in use.");
    let (st, v) = api.delete("/v1/resource-definitions/r2p").await;
    assert_eq!((st, code(&v)), (500, FAIL_IN_USE));
    assert!(v[0]["message"]
        .as_str()
        .unwrap()
        .ends_with("is still in use."));
    assert_eq!(open(&api, "r2p", &d[0], false).await.0, 200);
    assert_eq!(open(&api, "r2p", &d[1], false).await.0, 200);
    assert_eq!(api.delete("/v1/resource-definitions/r2p").await.0, 200);
}

#[tokio::test]
async fn tiebreaker_that_becomes_primary_turns_into_a_plain_diskless() {
    let (_sim, api) = start(SimConfig::default()).await;
    assert_eq!(api.spawn("DfltRscGrp", "rtb", 1024, 2).await.0, 201);
    let tb = {
        let mut t = None;
        for n in api.nodes_of("rtb").await {
            if api
                .flags("rtb", &n)
                .await
                .iter()
                .any(|f| f == "TIE_BREAKER")
            {
                t = Some(n);
            }
        }
        t.unwrap()
    };
    assert_eq!(open(&api, "rtb", &tb, true).await.0, 200);
    let f = api.flags("rtb", &tb).await;
    assert!(!f.iter().any(|x| x == "TIE_BREAKER"), "{f:?}");
    assert_eq!(
        disk_state(&api, "rtb", &tb).await.as_deref(),
        Some("Diskless")
    );
}

#[tokio::test]
async fn new_replica_syncs_before_it_is_up_to_date() {
    let (_sim, api) = start(SimConfig {
        resync: Duration::from_millis(800),
        ..Default::default()
    })
    .await;
    assert_eq!(api.spawn("DfltRscGrp", "rs", 1024, 2).await.0, 201);
    let d = diskful(&api, "rs").await;
    for n in &d {
        assert_eq!(
            disk_state(&api, "rs", n).await.as_deref(),
            Some("UpToDate"),
            "replicas of a new thin definition skip the initial sync"
        );
    }
    assert_eq!(
        open(&api, "rs", &d[0], true).await.0,
        200,
        "data gets written"
    );
    assert_eq!(open(&api, "rs", &d[0], false).await.0, 200);
    let third = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| !d.iter().any(|x| x == n))
        .unwrap();
    let (st, v) = api
        .post(
            &format!("/v1/resource-definitions/rs/resources/{third}"),
            json!({"resource": {}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let ds = disk_state(&api, "rs", third).await.unwrap();
    assert!(
        ds.starts_with("SyncTarget(") || ds == "Inconsistent",
        "{ds}"
    );
    let (st, v) = api
        .post(
            "/v1/resource-definitions/rs/snapshots",
            json!({"name": "s1"}),
        )
        .await;
    assert_eq!((st, code(&v)), (500, FAIL_SNAPSHOT_NOT_UPTODATE), "{v}");
    let (st, v) = api
        .put(
            "/v1/resource-definitions/rs/volume-definitions/0",
            json!({"size_kib": 2048}),
        )
        .await;
    assert_eq!((st, code(&v)), (500, FAIL_NOT_ALL_UPTODATE), "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while disk_state(&api, "rs", third).await.as_deref() != Some("UpToDate") {
        assert!(Instant::now() < deadline, "resync never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (st, v) = api
        .post(
            "/v1/resource-definitions/rs/snapshots",
            json!({"name": "s1"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
}

#[tokio::test]
async fn deployment_delay_makes_created_but_not_up_to_date_visible() {
    let (_sim, api) = start(SimConfig {
        deploy_delay: Duration::from_millis(800),
        ..Default::default()
    })
    .await;
    assert_eq!(api.spawn("DfltRscGrp", "rdd", 1024, 2).await.0, 201);
    let d = diskful(&api, "rdd").await;
    assert_eq!(
        disk_state(&api, "rdd", &d[0]).await.as_deref(),
        Some("Inconsistent")
    );
    let (st, v) = open(&api, "rdd", &d[0], true).await;
    assert_eq!(st, 409, "no UpToDate data anywhere yet: {v}");
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("(-2) Need access to UpToDate data"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while disk_state(&api, "rdd", &d[0]).await.as_deref() != Some("UpToDate") {
        assert!(Instant::now() < deadline, "deployment never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open(&api, "rdd", &d[0], true).await.0, 200);
}

async fn node_online(api: &Api, node: &str, on: bool) {
    let (st, _) = api
        .post("/sim/node-online", json!({"node": node, "online": on}))
        .await;
    assert_eq!(st, 200);
}

#[tokio::test]
async fn offline_satellites_behave_like_the_real_controller() {
    let (_sim, api) = start(SimConfig {
        nodes: vec!["n1".into(), "n2".into(), "n3".into(), "n4".into()],
        ..Default::default()
    })
    .await;
    let (st, v) = api
        .post(
            "/v1/resource-groups",
            json!({"name": "grp", "select_filter": {"place_count": 2, "node_name_list": ["n1", "n2"]}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(api.spawn("grp", "ro", 1024, 2).await.0, 201);
    node_online(&api, "n4", false).await;
    let (_, v) = api.get("/v1/nodes/n4").await;
    assert_eq!(v["connection_status"], "OFFLINE");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/ro/resources/n4",
            json!({"resource": {}}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (500, FAIL_STLT_DOES_NOT_SUPPORT_LAYER),
        "{v}"
    );
    assert_eq!(
        v[0]["message"],
        "Satellite 'n4' does not support the following layers: [DRBD]"
    );
    let (st, v) = api
        .post(
            "/v1/resource-definitions/ro/resources/n4/make-available",
            json!({"diskful": false}),
        )
        .await;
    assert_eq!((st, code(&v)), (404, FAIL_NOT_FOUND_STOR_POOL), "{v}");
    node_online(&api, "n4", true).await;
    node_online(&api, "n2", false).await;
    let (st, v) = api
        .post(
            "/v1/resource-definitions/ro/resources/n4",
            json!({"resource": {"flags": ["DRBD_DISKLESS"]}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert!(
        has(&v, WARN_NOT_CONNECTED),
        "peer n2 offline is warned: {v}"
    );
    let (_, v) = api.rsc("ro", "n2").await;
    assert!(
        v.get("state").is_none(),
        "no state for an offline node: {v}"
    );
    let (st, v) = api
        .post(
            "/v1/resource-definitions/ro/snapshots",
            json!({"name": "s1"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert!(v.as_array().unwrap().iter().any(|e| e["message"]
        .as_str()
        .unwrap()
        .contains("will not be created on node 'n2' because that node is currently offline")));
    let (st, v) = api
        .post(
            "/v1/resource-definitions/ro/snapshot-rollback/s1",
            json!({}),
        )
        .await;
    assert_eq!((st, code(&v)), (500, FAIL_NOT_CONNECTED), "{v}");
    let (st, v) = api
        .put(
            "/v1/resource-definitions/ro/volume-definitions/0",
            json!({"size_kib": 4096}),
        )
        .await;
    assert_eq!((st, code(&v)), (500, FAIL_NOT_ALL_UPTODATE), "{v}");
    let (st, v) = api.delete("/v1/resource-definitions/ro/resources/n2").await;
    assert_eq!(st, 200, "{v}");
    assert!(has(&v, WARN_NOT_CONNECTED), "{v}");
    let f = api.flags("ro", "n2").await;
    assert!(f.contains(&"DELETE".to_string()), "kept, marked: {f:?}");
    node_online(&api, "n2", true).await;
    let (st, _) = api.rsc("ro", "n2").await;
    assert_eq!(st, 404, "the deletion finishes once the node is back");
    let (st, _) = api.delete("/v1/resource-definitions/ro/snapshots/s1").await;
    assert_eq!(st, 200);
    node_online(&api, "n4", false).await;
    let (st, v) = api.delete("/v1/resource-definitions/ro").await;
    assert_eq!(st, 200, "{v}");
    assert!(has(&v, WARN_NOT_CONNECTED), "{v}");
    let (st, v) = api.get("/v1/resource-definitions/ro").await;
    assert_eq!(st, 200, "still there while n4 is offline");
    assert!(v["flags"].as_array().unwrap().iter().any(|f| f == "DELETE"));
    node_online(&api, "n4", true).await;
    let (st, _) = api.get("/v1/resource-definitions/ro").await;
    assert_eq!(st, 404);
}

async fn two_snapshots(api: &Api, rd: &str) {
    assert_eq!(api.spawn("DfltRscGrp", rd, 1024, 2).await.0, 201);
    for s in ["older", "newer"] {
        let (st, v) = api
            .post(
                &format!("/v1/resource-definitions/{rd}/snapshots"),
                json!({"name": s}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
    }
}

#[tokio::test]
async fn rollback_to_an_older_snapshot_depends_on_the_version() {
    let (_sim, api) = start(SimConfig::default()).await;
    two_snapshots(&api, "rb").await;
    let (st, v) = api
        .post(
            "/v1/resource-definitions/rb/snapshot-rollback/older",
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "1.34 rolls back to any snapshot: {v}");

    let (_old, api) = start(SimConfig {
        version: "1.31.1".into(),
        ..Default::default()
    })
    .await;
    let (_, v) = api.get("/v1/controller/version").await;
    assert_eq!(v["version"], "1.31.1");
    two_snapshots(&api, "rb").await;
    let (st, v) = api
        .post(
            "/v1/resource-definitions/rb/snapshot-rollback/older",
            json!({}),
        )
        .await;
    assert_eq!((st, code(&v)), (500, FAIL_EXISTS_SNAPSHOT_DFN), "{v}");
    assert_eq!(
        v[0]["message"],
        "Rollback is only allowed with the most recent snapshot"
    );
    let (st, v) = api
        .post(
            "/v1/resource-definitions/rb/snapshot-rollback/newer",
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(Sim::start(SimConfig {
        version: "one.two".into(),
        ..Default::default()
    })
    .await
    .is_err());
}

#[tokio::test]
async fn make_available_makes_a_client_since_1_34_and_a_voting_diskless_before() {
    for (version, client) in [("1.34.0", true), ("1.33.1", false)] {
        let (_sim, api) = start(SimConfig {
            nodes: vec!["n1".into(), "n2".into(), "n3".into(), "n4".into()],
            version: version.into(),
            ..Default::default()
        })
        .await;
        let (st, _) = api
            .post(
                "/v1/resource-groups",
                json!({"name": "grp", "select_filter": {"place_count": 2, "node_name_list": ["n1", "n2"]}}),
            )
            .await;
        assert_eq!(st, 201);
        assert_eq!(api.spawn("grp", "ma", 1024, 2).await.0, 201);
        let tb_before = api.nodes_of("ma").await;
        let free = ["n3", "n4"]
            .into_iter()
            .find(|n| !tb_before.iter().any(|x| x == n))
            .unwrap();
        let (st, v) = api
            .post(
                &format!("/v1/resource-definitions/ma/resources/{free}/make-available"),
                json!({"diskful": false}),
            )
            .await;
        assert_eq!(st, 200, "{v}");
        let (_, r) = api.rsc("ma", free).await;
        let layer_flags = r["layer_object"]["drbd"]["flags"].clone();
        assert_eq!(
            layer_flags
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "CLIENT"),
            client,
            "{version}: {layer_flags}"
        );
        let tb_left = {
            let mut any = false;
            for n in api.nodes_of("ma").await {
                any |= api.flags("ma", &n).await.iter().any(|f| f == "TIE_BREAKER");
            }
            any
        };
        assert_eq!(
            tb_left, client,
            "{version}: a client has no vote, so the tie-breaker stays; a voting diskless replaces it"
        );
    }
}

#[tokio::test]
async fn deleting_a_diskful_replica_that_would_leave_two_takes_it_over_as_tiebreaker() {
    const INFO_TIE_BREAKER_TAKEOVER: u64 = 10006 | MASK_INFO;
    let (_sim, api) = start(SimConfig::default()).await;
    assert_eq!(api.spawn("three", "tk", 1024, 3).await.0, 201);
    assert_eq!(diskful(&api, "tk").await.len(), 3);
    let (st, v) = api.delete("/v1/resource-definitions/tk/resources/n3").await;
    assert_eq!(st, 200, "{v}");
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|e| rc(e) & (MASK_ERROR | 0x7FFF) == INFO_TIE_BREAKER_TAKEOVER),
        "{v}"
    );
    let f = api.flags("tk", "n3").await;
    assert!(f.iter().any(|x| x == "TIE_BREAKER"), "{f:?}");
    assert_eq!(
        disk_state(&api, "tk", "n3").await.as_deref(),
        Some("Diskless")
    );
    let (st, v) = api.delete("/v1/resource-definitions/tk/resources/n3").await;
    assert_eq!(st, 200, "{v}");
    let (st, _) = api.rsc("tk", "n3").await;
    assert_eq!(st, 404, "deleting the tie-breaker itself removes it");
}
