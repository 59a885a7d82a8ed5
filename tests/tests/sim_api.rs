//! REST behaviour of the simulator: status codes, idempotency, make-available, delete guards,
//! placement, tie-breakers and size queries.

mod common;

use common::*;
use linstor_tests::sim::{Sim, SimConfig};
use serde_json::json;

async fn sim3() -> (Sim, Api) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    (sim, api)
}

const FAIL_NOT_FOUND_RSC_DFN: u64 = 301 | MASK_ERROR;
const FAIL_NOT_FOUND_NODE: u64 = 300 | MASK_ERROR;
const FAIL_EXISTS_RSC_DFN: u64 = 501 | MASK_ERROR;
const FAIL_EXISTS_RSC_GRP: u64 = 522 | MASK_ERROR;
const FAIL_EXISTS_SNAPSHOT_DFN: u64 = 514 | MASK_ERROR;
const FAIL_IN_USE: u64 = 997 | MASK_ERROR;
const FAIL_NOT_ENOUGH_NODES: u64 = 996 | MASK_ERROR;
const FAIL_INVLD_RSC_NAME: u64 = 202 | MASK_ERROR;
const FAIL_INVLD_VLM_SIZE: u64 = 206 | MASK_ERROR;
const FAIL_INVLD_PROP: u64 = 213 | MASK_ERROR;
const FAIL_INVLD_LAYER_STACK: u64 = 225 | MASK_ERROR;
const FAIL_UNKNOWN_ERROR: u64 = 998 | MASK_ERROR;
const FAIL_NOT_FOUND_RSC_GRP: u64 = 317 | MASK_ERROR;
const WARN_NOT_FOUND: u64 = 3000 | MASK_WARN;
const WARN_RSC_ALREADY_DEPLOYED: u64 = 1006 | MASK_WARN;
const WARN_VLMDFN_RESIZE_SAME_SIZE: u64 = 1023 | MASK_WARN;
const INFO_RSC_ALREADY_EXISTS: u64 = 10008 | MASK_INFO;
const INFO_NO_RSC_SPAWNED: u64 = 10000 | MASK_INFO;
const INFO_TIE_BREAKER_TAKEOVER: u64 = 10006 | MASK_INFO;
const API_CALL_PARSE_ERROR: u64 = 0xCFFF_FFFF_FFFF_FFFD;

#[tokio::test]
async fn version_health_and_routing() {
    let (_sim, api) = sim3().await;
    let (st, v) = api.get("/health").await;
    assert_eq!((st, v), (200, serde_json::Value::Null));
    let (st, v) = api.get("/v1/controller/version").await;
    assert_eq!(st, 200);
    assert_eq!(v["rest_api_version"], "1.28.0");
    assert_eq!(v["version"], "1.34.0");
    let (st, v) = api.get("/v1/nope").await;
    assert_eq!(st, 404);
    assert_eq!(first_code(&v), 0xC000_0000_0000_03E6);
    assert_eq!(v[0]["message"], "Path '/v1/nope' not found on server.");
    let (st, _) = api.put("/v1/nodes", json!({})).await;
    assert_eq!(st, 405);
    let (st, v) = api.get("/v1/nodes").await;
    assert_eq!(st, 200);
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[0]["type"], "SATELLITE");
    assert_eq!(v[0]["connection_status"], "ONLINE");
    let (st, v) = api.get("/v1/nodes/zz").await;
    assert_eq!(st, 404);
    assert_eq!(first_code(&v), FAIL_NOT_FOUND_NODE);
}

#[tokio::test]
async fn storage_pools_and_defaults() {
    let (_sim, api) = sim3().await;
    let (_, v) = api.get("/v1/view/storage-pools?nodes=n1&cached=true").await;
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), 2);
    let dl = a.iter().find(|p| p["provider_kind"] == "DISKLESS").unwrap();
    assert_eq!(dl["free_capacity"], i64::MAX);
    assert_eq!(dl["storage_pool_name"], "DfltDisklessStorPool");
    let df = a
        .iter()
        .find(|p| p["provider_kind"] == "FILE_THIN")
        .unwrap();
    assert_eq!(df["total_capacity"], 100u64 * 1024 * 1024);
    assert_eq!(df["supports_snapshots"], true);
    let (st, v) = api.get("/v1/nodes/n2/storage-pools/DfltStorPool").await;
    assert_eq!(st, 200);
    assert_eq!(v["node_name"], "n2");
    let (st, _) = api.get("/v1/nodes/n2/storage-pools/other").await;
    assert_eq!(st, 404);
    let (_, v) = api
        .get("/v1/view/storage-pools?storage_pools=DfltStorPool")
        .await;
    assert_eq!(v.as_array().unwrap().len(), 3);
    let (_, v) = api.get("/v1/resource-groups/DfltRscGrp").await;
    assert_eq!(v["select_filter"]["place_count"], 2);
    assert!(v.get("props").is_none(), "NON_EMPTY omission: {v}");
}

#[tokio::test]
async fn create_statuses_and_contexts() {
    let (_sim, api) = sim3().await;
    let (st, v) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "Rsc1"}}),
        )
        .await;
    assert_eq!(st, 201);
    assert_eq!(first_code(&v), 0x1380001);
    assert_eq!(v[0]["obj_refs"]["RscDfn"], "Rsc1");
    assert!(v[0]["created_at"].is_string());
    let (st, v) = api
        .post(
            "/v1/resource-definitions/rsc1/volume-definitions",
            json!({"volume_definition": {"size_kib": 10240}}),
        )
        .await;
    assert_eq!(st, 200, "VD create answers 200: {v}");
    let (st, v) = api.get("/v1/resource-definitions/RSC1").await;
    assert_eq!(st, 200);
    assert_eq!(v["name"], "Rsc1", "display case kept");
    assert_eq!(v["resource_group_name"], "DfltRscGrp");
    assert_eq!(v["layer_data"][0]["data"]["port"], -1);
    let (_, v) = api
        .get("/v1/resource-definitions/rsc1/volume-definitions/0")
        .await;
    assert_eq!(v["layer_data"][0]["data"]["minor_number"], 1000);
    let (st, v) = api
        .post("/v1/resource-definitions/rsc1/resources/n1", json!({}))
        .await;
    assert_eq!(st, 201);
    assert!(v.as_array().unwrap().iter().any(|e| rc(e) == 0x1340001));
    assert!(v.as_array().unwrap().iter().any(|e| rc(e) == 0x1340003));
    let (_, r) = api.rsc("rsc1", "n1").await;
    assert_eq!(r["layer_object"]["drbd"]["tcp_ports"][0], 7000);
    assert_eq!(r["layer_object"]["drbd"]["node_id"], 0);
    assert_eq!(r["state"]["in_use"], false);
    assert!(r.get("flags").is_none());
    let (st, v) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "1bad.name"}}),
        )
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_INVLD_RSC_NAME));
    let (st, v) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "x1"}, "extra": 1}),
        )
        .await;
    assert_eq!(st, 400);
    assert_eq!(first_code(&v), API_CALL_PARSE_ERROR);
    let (st, v) = api
        .req(reqwest::Method::POST, "/v1/resource-groups", None)
        .await;
    assert_eq!(
        (st, first_code(&v)),
        (400, API_CALL_PARSE_ERROR),
        "the body is mandatory (Jackson: no content to map): {v}"
    );
    let (st, v) = api.get("/v1/resource-definitions/missing").await;
    assert_eq!(st, 404);
    assert_eq!(first_code(&v), FAIL_NOT_FOUND_RSC_DFN);
    let (st, v) = api
        .put(
            "/v1/resource-definitions/rsc1",
            json!({"override_props": {"Unknown/Key": "1"}}),
        )
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_INVLD_PROP));
    let (st, v) = api
        .put(
            "/v1/resource-definitions/rsc1",
            json!({"override_props": {"Aux/x": "Y", "DrbdOptions/Net/allow-two-primaries": "YES"}}),
        )
        .await;
    assert_eq!(st, 200);
    assert!(v.as_array().unwrap().iter().any(|e| e["message"]
        .as_str()
        .unwrap()
        .starts_with("Successfully set property key(s)")));
    let (_, v) = api.get("/v1/resource-definitions/rsc1").await;
    assert_eq!(v["props"]["DrbdOptions/Net/allow-two-primaries"], "yes");
    let (_, v) = api.get("/v1/resource-definitions?props=Aux/x=Y").await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = api.get("/v1/resource-definitions?props=Aux/x=N").await;
    assert_eq!(v.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn idempotency_table() {
    let (_sim, api) = sim3().await;
    let (st, v) = api.spawn("rg", "r1", 1 << 20, 2).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api.delete("/v1/resource-definitions/nope").await;
    assert_eq!(st, 200);
    assert_eq!(first_code(&v), 0x8000_0000_0338_0BB8);
    let (st, v) = api.delete("/v1/resource-definitions/r1/resources/n9").await;
    assert_eq!(st, 200);
    assert_eq!(first_code(&v), 0x8000_0000_0334_0BB8);
    let (st, v) = api
        .delete("/v1/resource-definitions/r1/snapshots/nope")
        .await;
    assert_eq!(st, 200);
    assert!(has(&v, WARN_NOT_FOUND));
    let (st, v) = api
        .post("/v1/resource-definitions/r1/resources/n1", json!({}))
        .await;
    assert_eq!(st, 201);
    assert_eq!(first_code(&v), 0x4000_0000_0134_2718);
    assert!(has(&v, INFO_RSC_ALREADY_EXISTS));
    let (st, v) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "r1"}}),
        )
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_EXISTS_RSC_DFN));
    let (st, v) = api.post("/v1/resource-groups", json!({"name": "rg"})).await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_EXISTS_RSC_GRP));
    let (st, v) = api.spawn("rg", "r1", 1024, 2).await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_EXISTS_RSC_DFN));
    let (st, v) = api
        .post(
            "/v1/resource-definitions/r1/resources/n1/make-available",
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v[0]["message"], "Resource already deployed as requested");
    assert_eq!(first_code(&v) & 0xC000_0000_0000_0000, 0);
    let (st, v) = api
        .post("/v1/resource-definitions/r1/autoplace", json!({}))
        .await;
    assert_eq!(st, 201);
    assert!(has(&v, WARN_RSC_ALREADY_DEPLOYED));
    let (st, v) = api
        .put(
            "/v1/resource-definitions/r1/volume-definitions/0",
            json!({"size_kib": 1 << 20}),
        )
        .await;
    assert_eq!(st, 200);
    assert!(has(&v, WARN_VLMDFN_RESIZE_SAME_SIZE));
    let (st, _) = api
        .post(
            "/v1/resource-definitions/r1/snapshots",
            json!({"name": "s1"}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, v) = api
        .post(
            "/v1/resource-definitions/r1/snapshots",
            json!({"name": "s1"}),
        )
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_EXISTS_SNAPSHOT_DFN));
}

#[tokio::test]
async fn resize_rules() {
    let (_sim, api) = sim3().await;
    api.spawn("rg", "r1", 1 << 20, 2).await;
    let p = "/v1/resource-definitions/r1/volume-definitions/0";
    let (st, v) = api.put(p, json!({"size_kib": 1024})).await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_INVLD_VLM_SIZE));
    assert!(v[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("Shrinking volumes is not supported by layer 'DRBD'"));
    let (st, v) = api.put(p, json!({"size_kib": 2})).await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_INVLD_VLM_SIZE));
    let (st, v) = api.put(p, json!({"size_kib": 2 << 20})).await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = api.get(p).await;
    assert_eq!(v["size_kib"], 2 << 20);
    api.put(
        "/v1/resource-definitions/r1",
        json!({"override_props": {"DrbdOptions/ExactSize": "True"}}),
    )
    .await;
    let (st, v) = api.put(p, json!({"size_kib": 3 << 20})).await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_INVLD_PROP));
}

#[tokio::test]
async fn spawn_places_by_free_space_and_tiebreaker() {
    let sim = Sim::start(SimConfig {
        nodes: vec!["a".into(), "b".into(), "c".into(), "d".into()],
        pool_size_gib: 10,
        ..Default::default()
    })
    .await
    .unwrap();
    let api = Api::new(&sim.url());
    api.post(
        "/v1/resource-definitions",
        json!({"resource_definition": {"name": "big"}}),
    )
    .await;
    api.post(
        "/v1/resource-definitions/big/volume-definitions",
        json!({"volume_definition": {"size_kib": 4 << 20}}),
    )
    .await;
    api.post("/v1/resource-definitions/big/resources/a", json!({}))
        .await;
    api.post("/v1/resource-definitions/big/resources/b", json!({}))
        .await;
    let (st, v) = api.spawn("rg2", "small", 1 << 20, 2).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(api.flags("small", "c").await, Vec::<String>::new());
    assert_eq!(api.flags("small", "d").await, Vec::<String>::new());
    let tb = api.nodes_of("small").await;
    assert_eq!(tb, vec!["a", "c", "d"], "tie-breaker on a third node");
    assert_eq!(
        api.flags("small", "a").await,
        vec!["DISKLESS", "DRBD_DISKLESS", "TIE_BREAKER"]
    );
    let (_, v) = api.get("/v1/view/resources?resources=small&nodes=c").await;
    let vol = &v[0]["volumes"][0];
    assert_eq!(vol["state"]["disk_state"], "UpToDate");
    assert!(vol["device_path"]
        .as_str()
        .unwrap()
        .starts_with("/dev/drbd10"));
    assert_eq!(
        vol["props"]["Satellite/Device/Symlinks/1"],
        "/dev/drbd/by-res/small/0"
    );
    assert_eq!(
        v[0]["layer_object"]["drbd"]["drbd_volumes"][0]["usable_size_kib"],
        1 << 20
    );
    let (_, v) = api.get("/v1/view/resources?resources=small&nodes=a").await;
    assert_eq!(v[0]["volumes"][0]["state"]["disk_state"], "Diskless");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/small/autoplace",
            json!({"select_filter": {"place_count": 3}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(api.nodes_of("small").await.len(), 3);
    assert!(api.flags("small", "a").await.is_empty() || api.flags("small", "b").await.is_empty());
    let (st, v) = api
        .post(
            "/v1/resource-definitions/small/autoplace",
            json!({"select_filter": {"place_count": 5}}),
        )
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_NOT_ENOUGH_NODES));
    let (st, v) = api
        .post(
            "/v1/resource-groups/rg2/spawn",
            json!({"resource_definition_name": "huge", "volume_sizes": [(9 << 20) + 512 * 1024]}),
        )
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_NOT_ENOUGH_NODES));
    let (st, _) = api.get("/v1/resource-definitions/huge").await;
    assert_eq!(st, 404, "failed spawn leaves nothing behind");
    let (st, v) = api
        .post("/v1/resource-groups/rg2/spawn", json!({"resource_definition_name": "defs", "volume_sizes": [1024], "definitions_only": true}))
        .await;
    assert_eq!(st, 201);
    assert!(has(&v, INFO_NO_RSC_SPAWNED));
    assert!(api.nodes_of("defs").await.is_empty());
    let (st, v) = api
        .post(
            "/v1/resource-groups/none/spawn",
            json!({"resource_definition_name": "x1", "volume_sizes": [1024]}),
        )
        .await;
    assert_eq!(st, 404);
    assert!(has(&v, FAIL_NOT_FOUND_RSC_GRP));
}

#[tokio::test]
async fn make_available_table() {
    let (_sim, api) = sim3().await;
    api.post(
        "/v1/resource-definitions",
        json!({"resource_definition": {"name": "ma"}}),
    )
    .await;
    api.post(
        "/v1/resource-definitions/ma/volume-definitions",
        json!({"volume_definition": {"size_kib": 4096}}),
    )
    .await;
    let (st, _) = api
        .post(
            "/v1/resource-definitions/ma/resources/n1/make-available",
            json!({"diskful": false}),
        )
        .await;
    assert_eq!(st, 200);
    assert!(
        api.flags("ma", "n1").await.is_empty(),
        "no diskful peer: diskful"
    );
    let (st, _) = api
        .post(
            "/v1/resource-definitions/ma/resources/n2/make-available",
            json!({"diskful": false}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        api.flags("ma", "n2").await,
        vec!["DISKLESS", "DRBD_DISKLESS"]
    );
    let (st, v) = api
        .post(
            "/v1/resource-definitions/ma/resources/n2/make-available",
            json!({"diskful": true}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(api.flags("ma", "n2").await.is_empty(), "toggled to diskful");
    assert_eq!(
        api.flags("ma", "n3").await,
        vec!["DISKLESS", "DRBD_DISKLESS", "TIE_BREAKER"]
    );
    let (st, v) = api
        .post(
            "/v1/resource-definitions/ma/resources/n3/make-available",
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v[0]["message"], "Resource already deployed as requested");
    assert_eq!(
        api.flags("ma", "n3").await,
        vec!["DISKLESS", "DRBD_DISKLESS"],
        "tie-breaker flag removed"
    );
    let (st, v) = api
        .post(
            "/v1/resource-definitions/ma/resources/n3/make-available",
            json!({"layer_list": ["NVME", "STORAGE"]}),
        )
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_INVLD_LAYER_STACK));
    let (st, v) = api
        .post(
            "/v1/resource-definitions/zz/resources/n3/make-available",
            json!({}),
        )
        .await;
    assert_eq!(st, 404);
    assert!(has(&v, FAIL_NOT_FOUND_RSC_DFN));
}

#[tokio::test]
async fn resource_create_diskless_and_toggle() {
    let (_sim, api) = sim3().await;
    api.post(
        "/v1/resource-definitions",
        json!({"resource_definition": {"name": "tg"}}),
    )
    .await;
    api.post(
        "/v1/resource-definitions/tg/volume-definitions",
        json!({"volume_definition": {"size_kib": 4096}}),
    )
    .await;
    let (st, v) = api
        .post("/v1/resource-definitions/tg/resources", json!([{"resource": {"node_name": "n1"}}, {"resource": {"node_name": "n2", "flags": ["DISKLESS"]}}]))
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        api.flags("tg", "n2").await,
        vec!["DISKLESS", "DRBD_DISKLESS"]
    );
    let (st, _) = api
        .post(
            "/v1/resource-definitions/tg/resources/n2",
            json!({"resource": {}}),
        )
        .await;
    assert_eq!(st, 201);
    assert!(
        api.flags("tg", "n2").await.is_empty(),
        "diskful create toggles a diskless resource"
    );
    let (st, v) = api
        .post(
            "/v1/resource-definitions/tg/resources/n2",
            json!({"resource": {"flags": ["BOGUS"]}}),
        )
        .await;
    assert_eq!(st, 500, "{v}");
    let (st, v) = api
        .post("/v1/resource-definitions/tg/resources/n7", json!({}))
        .await;
    assert_eq!(st, 404);
    assert!(has(&v, FAIL_NOT_FOUND_NODE));
}

#[tokio::test]
async fn delete_guards_and_tiebreaker_rules() {
    let (sim, api) = sim3().await;
    api.spawn("rg", "dg", 4096, 2).await;
    let diskful: Vec<String> = {
        let mut v = vec![];
        for n in ["n1", "n2", "n3"] {
            if api.flags("dg", n).await.is_empty() {
                v.push(n.to_string());
            }
        }
        v
    };
    assert_eq!(diskful.len(), 2);
    let tb = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| !diskful.contains(&n.to_string()))
        .unwrap();
    assert!(sim.set_in_use("dg", &diskful[0], true));
    let (st, v) = api
        .delete(&format!(
            "/v1/resource-definitions/dg/resources/{}",
            diskful[0]
        ))
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_IN_USE));
    assert_eq!(v[0]["message"], "Resource 'dg' is still in use.");
    let (st, v) = api.delete("/v1/resource-definitions/dg").await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_IN_USE));
    let (_, r) = api.rsc("dg", &diskful[0]).await;
    assert_eq!(r["state"]["in_use"], true);
    sim.set_in_use("dg", &diskful[0], false);

    let (st, v) = api
        .delete(&format!(
            "/v1/resource-definitions/dg/resources/{tb}?keep_tiebreaker=true"
        ))
        .await;
    assert_eq!(st, 200);
    assert!(has(&v, INFO_TIE_BREAKER_TAKEOVER));
    assert_eq!(api.nodes_of("dg").await.len(), 3, "kept");
    let (st, v) = api
        .post(
            &format!("/v1/resource-definitions/dg/resources/{tb}/make-available"),
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = api
        .delete(&format!("/v1/resource-definitions/dg/resources/{tb}"))
        .await;
    assert_eq!(st, 200);
    assert!(
        has(&v, INFO_TIE_BREAKER_TAKEOVER),
        "only diskless with even diskful count is taken over: {v}"
    );
    assert_eq!(
        api.flags("dg", tb).await,
        vec!["DISKLESS", "DRBD_DISKLESS", "TIE_BREAKER"]
    );
    let (st, v) = api
        .delete(&format!("/v1/resource-definitions/dg/resources/{tb}"))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(api.nodes_of("dg").await.len(), 2);
    let (_, rd) = api.get("/v1/resource-definitions/dg").await;
    assert_eq!(
        rd["props"]["DrbdOptions/auto-add-quorum-tiebreaker"],
        "false"
    );

    let (st, v) = api
        .post(
            &format!("/v1/resource-definitions/dg/resources/{tb}"),
            json!({"resource": {"flags": ["DRBD_DISKLESS"]}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api
        .delete(&format!(
            "/v1/resource-definitions/dg/resources/{}",
            diskful[0]
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(api.nodes_of("dg").await.len(), 2, "{v}");
    let (st, v) = api
        .delete(&format!(
            "/v1/resource-definitions/dg/resources/{}",
            diskful[1]
        ))
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_IN_USE));
    assert!(v[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("Last resource of 'dg' with disk"));

    api.post(
        "/v1/resource-definitions/dg/snapshots",
        json!({"name": "s1"}),
    )
    .await;
    let (st, v) = api.delete("/v1/resource-definitions/dg").await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_EXISTS_SNAPSHOT_DFN));
    api.delete("/v1/resource-definitions/dg/snapshots/s1").await;
    let (st, v) = api.delete("/v1/resource-definitions/dg").await;
    assert_eq!(st, 200, "{v}");
    let (st, _) = api.get("/v1/resource-definitions/dg").await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn size_info_numbers() {
    let sim = Sim::start(SimConfig {
        nodes: vec!["a".into(), "b".into(), "c".into()],
        pool_size_gib: 10,
        ..Default::default()
    })
    .await
    .unwrap();
    let api = Api::new(&sim.url());
    let g = 1u64 << 20;
    let (st, v) = api
        .post("/v1/queries/resource-groups/query-all-size-info", json!({}))
        .await;
    assert_eq!(st, 200);
    let si = &v["result"]["DfltRscGrp"]["space_info"];
    assert_eq!(si["max_vlm_size_in_kib"], 10 * g);
    assert_eq!(si["capacity_in_kib"], 10 * g);
    assert_eq!(si["available_size_in_kib"], 10 * g);
    assert_eq!(si["next_spawn_result"].as_array().unwrap().len(), 2);
    api.spawn("rg", "xx", 4 * g, 2).await;
    let (st, v) = api
        .post(
            "/v1/resource-groups/rg/query-size-info",
            json!({"ignore_cache_older_than_sec": 0}),
        )
        .await;
    assert_eq!(st, 200);
    let si = &v["space_info"];
    assert_eq!(si["max_vlm_size_in_kib"], 6 * g);
    assert_eq!(
        si["available_size_in_kib"],
        10 * g,
        "greedy: 6 on (a,b) + 4 on (a,c)"
    );
    let (st, v) = api
        .post("/v1/resource-groups/nope/query-size-info", json!({}))
        .await;
    assert_eq!(st, 200, "always 200");
    assert!(has(&v["reports"], FAIL_NOT_FOUND_RSC_GRP));
    let (st, v) = api
        .post(
            "/v1/queries/resource-groups/query-all-size-info",
            json!({"select_filter": {"place_count": 4}}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(v["result"]["rg"]["space_info"]["available_size_in_kib"], 0);
}

#[tokio::test]
async fn resource_groups_and_volume_groups() {
    let (_sim, api) = sim3().await;
    let (st, _) = api
        .post("/v1/resource-groups", json!({"name": "gg", "props": {"Aux/a": "1"}, "select_filter": {"place_count": 1, "storage_pool": "DfltStorPool"}}))
        .await;
    assert_eq!(st, 201);
    let (_, v) = api.get("/v1/resource-groups/gg").await;
    assert!(v.get("props").is_none(), "props in create body are ignored");
    assert_eq!(v["select_filter"]["storage_pool"], "DfltStorPool");
    let (st, _) = api
        .post("/v1/resource-groups/gg/volume-groups", json!({}))
        .await;
    assert_eq!(st, 201);
    let (_, v) = api.get("/v1/resource-groups/gg/volume-groups").await;
    assert_eq!(v[0]["volume_number"], 0);
    let (st, v) = api
        .put(
            "/v1/resource-groups/gg",
            json!({"select_filter": {"place_count": 0}}),
        )
        .await;
    assert_eq!(st, 500, "{v}");
    let (st, v) = api.spawn("gg", "gr", 1024, 1).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(api.nodes_of("gr").await.len(), 1);
    let (st, _) = api
        .put(
            "/v1/resource-groups/gg",
            json!({"select_filter": {"place_count": 2}, "override_props": {"Aux/b": "2"}}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        api.nodes_of("gr").await.len(),
        3,
        "raising place_count autoplaces (+ tie-breaker)"
    );
    let (st, v) = api.delete("/v1/resource-groups/gg").await;
    assert_eq!(st, 500);
    assert!(has(&v, FAIL_EXISTS_RSC_DFN));
    let (st, v) = api.delete("/v1/resource-groups/nope").await;
    assert_eq!(st, 200);
    assert!(has(&v, WARN_NOT_FOUND));
    let (st, _) = api
        .post(
            "/v1/controller/properties",
            json!({"override_props": {"DrbdOptions/Net/protocol": "C"}}),
        )
        .await;
    assert_eq!(st, 201);
    let (_, v) = api.get("/v1/controller/properties").await;
    assert_eq!(v["DrbdOptions/Net/protocol"], "C");
    let (st, _) = api
        .put(
            "/v1/resource-definitions/gr/resource-connections/n1/n2",
            json!({"override_props": {"DrbdOptions/Net/allow-two-primaries": "yes"}}),
        )
        .await;
    assert_eq!(st, 200);
    let (_, v) = api
        .get("/v1/resource-definitions/gr/resource-connections/n2/n1")
        .await;
    assert_eq!(v["props"]["DrbdOptions/Net/allow-two-primaries"], "yes");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/gr/resources/n1/make-available",
            "not json".into(),
        )
        .await;
    assert_eq!(st, 500, "make-available is asynchronous: {v}");
    let _ = FAIL_UNKNOWN_ERROR;
}
