//! The simulator as strict as the real controller: net interfaces, resource connections,
//! error reports, JSON coercion, per-endpoint parse-error statuses, diskless pools, the DRBD
//! and satellite model, and controller versions.

mod common;

use common::*;
use linstor_tests::sim::{Sim, SimConfig};
use serde_json::json;

/// The first entry's type bits and code, without the context masks.
fn code(v: &serde_json::Value) -> u64 {
    first_code(v) & (MASK_ERROR | 0x7FFF)
}

async fn sim3() -> (Sim, Api) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    (sim, api)
}

const FAIL_NOT_FOUND_RSC: u64 = 302 | MASK_ERROR;
const FAIL_NOT_FOUND_NET_IF: u64 = 305 | MASK_ERROR;
const FAIL_NOT_FOUND_RSC_CONN: u64 = 307 | MASK_ERROR;
const FAIL_EXISTS_NET_IF: u64 = 505 | MASK_ERROR;
const FAIL_INVLD_NET_ADDR: u64 = 209 | MASK_ERROR;
const FAIL_INVLD_PROP: u64 = 213 | MASK_ERROR;
const FAIL_IN_USE: u64 = 997 | MASK_ERROR;
const API_CALL_PARSE_ERROR: u64 = 0xCFFF_FFFF_FFFF_FFFD;

#[tokio::test]
async fn net_interfaces_crud_and_node_listing() {
    let (_sim, api) = sim3().await;
    let (st, v) = api.get("/v1/nodes/n1/net-interfaces").await;
    assert_eq!(st, 200);
    assert_eq!(v[0]["name"], "default");
    assert_eq!(v[0]["satellite_port"], 3366);
    assert_eq!(v[0]["is_active"], true);
    let (st, v) = api
        .post(
            "/v1/nodes/n1/net-interfaces",
            json!({"name": "data", "address": "192.168.7.1"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api
        .post(
            "/v1/nodes/n1/net-interfaces",
            json!({"name": "data", "address": "192.168.7.1"}),
        )
        .await;
    assert_eq!((st, code(&v)), (500, FAIL_EXISTS_NET_IF));
    let (st, v) = api
        .post(
            "/v1/nodes/n1/net-interfaces",
            json!({"name": "bad", "address": "not-an-ip"}),
        )
        .await;
    assert_eq!((st, code(&v)), (500, FAIL_INVLD_NET_ADDR));
    let (st, v) = api
        .post(
            "/v1/nodes/n1/net-interfaces",
            json!({"name": "x1", "address": "10.1.1.1", "color": "red"}),
        )
        .await;
    assert!(st >= 400, "unknown field refused like Jackson: {v}");
    assert_eq!(first_code(&v), API_CALL_PARSE_ERROR);
    let (st, v) = api
        .put(
            "/v1/nodes/n1/net-interfaces/data",
            json!({"name": "data", "address": "192.168.7.9"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = api.get("/v1/nodes/n1/net-interfaces/data").await;
    assert_eq!(v["address"], "192.168.7.9");
    assert!(v.get("satellite_port").is_none());
    let (_, v) = api.get("/v1/nodes/n1").await;
    let names: Vec<&str> = v["net_interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["data", "default"]);
    let (st, v) = api.delete("/v1/nodes/n1/net-interfaces/default").await;
    assert_eq!((st, code(&v)), (500, FAIL_IN_USE));
    let (st, _) = api.delete("/v1/nodes/n1/net-interfaces/data").await;
    assert_eq!(st, 200);
    let (st, v) = api.get("/v1/nodes/n1/net-interfaces/data").await;
    assert_eq!((st, code(&v)), (404, FAIL_NOT_FOUND_NET_IF));
}

#[tokio::test]
async fn resource_connections_need_both_resources_and_keep_paths() {
    let (_sim, api) = sim3().await;
    assert_eq!(api.spawn("DfltRscGrp", "rc1", 1024, 2).await.0, 201);
    let nodes = api.nodes_of("rc1").await;
    let diskful: Vec<String> = {
        let mut d = vec![];
        for n in &nodes {
            if !api.flags("rc1", n).await.iter().any(|f| f == "DISKLESS") {
                d.push(n.clone());
            }
        }
        d
    };
    let (a, b) = (&diskful[0], &diskful[1]);
    let (st, v) = api
        .get(&format!(
            "/v1/resource-definitions/rc1/resource-connections/{a}/{a}"
        ))
        .await;
    assert_eq!((st, code(&v)), (404, FAIL_NOT_FOUND_RSC_CONN));
    let (st, v) = api
        .get("/v1/resource-definitions/rc1/resource-connections/n1/zz")
        .await;
    assert_eq!((st, code(&v)), (404, FAIL_NOT_FOUND_RSC_CONN));
    let (st, v) = api
        .get(&format!(
            "/v1/resource-definitions/rc1/resource-connections/{b}/{a}"
        ))
        .await;
    assert_eq!(st, 200, "{v}");
    for (n, ip) in [(a, "192.168.9.1"), (b, "192.168.9.2")] {
        let (st, _) = api
            .post(
                &format!("/v1/nodes/{n}/net-interfaces"),
                json!({"name": "repl", "address": ip}),
            )
            .await;
        assert_eq!(st, 201);
    }
    let path = format!("/v1/resource-definitions/rc1/resource-connections/{a}/{b}");
    let (st, v) = api
        .put(
            &path,
            json!({"override_props": {
                format!("Paths/p1/{a}"): "repl",
                format!("Paths/p1/{b}"): "repl",
                "DrbdOptions/Net/allow-two-primaries": "yes",
            }}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = api.get(&path).await;
    assert_eq!(v["props"][format!("Paths/p1/{a}")], "repl");
    assert_eq!(v["props"]["DrbdOptions/Net/allow-two-primaries"], "yes");
    let (st, v) = api
        .put(
            &path,
            json!({"override_props": {format!("Paths/p2/{a}"): "nosuch"}}),
        )
        .await;
    assert_eq!((st, code(&v)), (404, FAIL_NOT_FOUND_NET_IF));
    let (st, v) = api
        .put(&path, json!({"override_props": {"Paths/p3/zz": "repl"}}))
        .await;
    assert_eq!((st, code(&v)), (500, FAIL_INVLD_PROP));
    let third = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| !nodes.contains(&n.to_string()));
    if let Some(t) = third {
        let (st, v) = api
            .put(
                &format!("/v1/resource-definitions/rc1/resource-connections/{a}/{t}"),
                json!({"override_props": {"DrbdOptions/Net/protocol": "C"}}),
            )
            .await;
        assert_eq!((st, code(&v)), (404, FAIL_NOT_FOUND_RSC));
    }
    let (st, v) = api
        .get("/v1/resource-definitions/rc1/resource-connections")
        .await;
    assert_eq!(st, 200);
    let n = nodes.len();
    assert_eq!(v.as_array().unwrap().len(), n * (n - 1) / 2);
}

#[tokio::test]
async fn rd_drbd_options_are_kept_and_shown() {
    let (_sim, api) = sim3().await;
    assert_eq!(api.spawn("DfltRscGrp", "rdo", 1024, 2).await.0, 201);
    let (st, v) = api
        .put(
            "/v1/resource-definitions/rdo",
            json!({"override_props": {"DrbdOptions/Net/allow-two-primaries": "YES", "DrbdOptions/Disk/on-io-error": "detach"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = api.get("/v1/resource-definitions/rdo").await;
    assert_eq!(v["props"]["DrbdOptions/Net/allow-two-primaries"], "yes");
    assert_eq!(v["props"]["DrbdOptions/Disk/on-io-error"], "detach");
    let (st, v) = api
        .put(
            "/v1/resource-definitions/rdo",
            json!({"override_props": {"DrbdOptions/Net/allow-two-primaries": "true"}}),
        )
        .await;
    assert_eq!((st, code(&v)), (500, FAIL_INVLD_PROP), "{v}");
}

#[tokio::test]
async fn error_reports_and_space_report() {
    let (_sim, api) = sim3().await;
    let (st, v) = api
        .get("/v1/error-reports?withContent=False&limit=1000")
        .await;
    assert_eq!((st, v), (200, json!([])));
    let (st, v) = api.get("/v1/error-reports/?since=0").await;
    assert_eq!((st, v), (200, json!([])));
    let (st, v) = api
        .put(
            "/v1/resource-definitions/nosuch-x",
            json!({"override_props": {"DrbdOptions/Net/allow-two-primaries": "yes"}}),
        )
        .await;
    assert_eq!(st, 404, "{v}");
    assert_eq!(api.spawn("DfltRscGrp", "er1", 1024, 2).await.0, 201);
    let (st, v) = api
        .put(
            "/v1/resource-definitions/er1",
            json!({"override_props": {"DrbdOptions/Net/allow-two-primaries": "maybe"}}),
        )
        .await;
    assert_eq!(st, 500);
    let id = v[0]["error_report_ids"][0].as_str().unwrap().to_string();
    let (_, list) = api.get("/v1/error-reports").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("text").is_none());
    let (st, one) = api.get(&format!("/v1/error-reports/{id}")).await;
    assert_eq!(st, 200);
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert!(one[0]["text"]
        .as_str()
        .unwrap()
        .contains("allow-two-primaries"));
    assert_eq!(one[0]["filename"], format!("ErrorReport-{id}.log").as_str());
    let (st, _) = api.delete(&format!("/v1/error-reports/{id}")).await;
    assert_eq!(st, 200);
    let (_, list) = api.get("/v1/error-reports").await;
    assert_eq!(list, json!([]));
    let (st, v) = api.get("/v1/space-report").await;
    assert_eq!(st, 200);
    assert_eq!(
        v["reportText"],
        "The SpaceTracking service is not installed."
    );
}
