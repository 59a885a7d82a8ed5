//! The simulator as strict as the real controller: resource connections,
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
const FAIL_INVLD_PROP: u64 = 213 | MASK_ERROR;
const API_CALL_PARSE_ERROR: u64 = 0xCFFF_FFFF_FFFF_FFFD;

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

/// Sends `body` as is (no JSON encoding), with a short client timeout.
async fn raw(
    api: &Api,
    m: reqwest::Method,
    path: &str,
    body: &str,
) -> Result<(u16, serde_json::Value), reqwest::Error> {
    let resp = api
        .c
        .request(m, format!("{}{}", api.base, path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await?;
    let st = resp.status().as_u16();
    let v = resp.json().await.unwrap_or(serde_json::Value::Null);
    Ok((st, v))
}

#[tokio::test]
async fn numeric_strings_and_scalar_props_are_coerced_like_jackson() {
    let (_sim, api) = sim3().await;
    let (st, v) = api
        .post(
            "/v1/resource-groups",
            json!({"name": "cg", "select_filter": {"place_count": "2", "port_count": 1}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (_, v) = api.get("/v1/resource-groups/cg").await;
    assert_eq!(v["select_filter"]["place_count"], 2);
    let (st, v) = api
        .put(
            "/v1/resource-groups/cg",
            json!({"select_filter": {"place_count": " 3 "}, "snap_names": [], "copy_all_snaps": false}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = api.get("/v1/resource-groups/cg").await;
    assert_eq!(v["select_filter"]["place_count"], 3);
    let (st, v) = api
        .post(
            "/v1/resource-groups/cg/query-size-info",
            json!({"select_filter": {"place_count": "2"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert!(v["space_info"]["max_vlm_size_in_kib"].as_u64().unwrap() > 0);
    let (st, v) = api
        .post(
            "/v1/resource-groups/cg/spawn",
            json!({"resource_definition_name": "vm-101-cloudinit", "volume_sizes": ["4096"],
                   "select_filter": {"place_count": "2"},
                   "resource_definition_props": {"Aux/pm/vmid": 101, "Aux/flag": true, "Aux/f": 2.5}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (_, v) = api.get("/v1/resource-definitions/vm-101-cloudinit").await;
    assert_eq!(v["props"]["Aux/pm/vmid"], "101");
    assert_eq!(v["props"]["Aux/flag"], "true");
    assert_eq!(v["props"]["Aux/f"], "2.5");
    let (st, v) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "num1", "props": {"Aux/pm/vmid": 7}}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/num1/volume-definitions",
            json!({"volume_definition": {"size_kib": "1024.9"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = api
        .get("/v1/resource-definitions/num1/volume-definitions/0")
        .await;
    assert_eq!(v["size_kib"], 1024);
    for bad in [json!("two"), json!(true), json!([2])] {
        let (st, v) = api
            .post(
                "/v1/resource-groups",
                json!({"name": "cg2", "select_filter": {"place_count": bad}}),
            )
            .await;
        assert_eq!((st, first_code(&v)), (400, API_CALL_PARSE_ERROR), "{v}");
    }
    let (st, v) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "num2", "props": {"Aux/x": {"a": 1}}}}),
        )
        .await;
    assert_eq!((st, first_code(&v)), (400, API_CALL_PARSE_ERROR), "{v}");
}

#[tokio::test]
async fn spec_fields_are_accepted() {
    let (_sim, api) = sim3().await;
    assert_eq!(api.spawn("DfltRscGrp", "sf1", 1024, 2).await.0, 201);
    let (st, v) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "sf2"}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/sf2/volume-definitions",
            json!({"volume_definition": {"size_kib": 1024}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/sf2/autoplace",
            json!({"select_filter": {"place_count": 2, "port_count": 1}, "snap_names": [], "copy_all_snaps": false}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/sf1/clone",
            json!({"name": "sf1c", "delete_namespaces": ["Aux/none"]}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["clone_name"], "sf1c");
}

#[tokio::test]
async fn unparsable_json_status_depends_on_the_endpoint() {
    let (_sim, api) = sim3().await;
    use reqwest::Method;
    assert_eq!(api.spawn("DfltRscGrp", "pj", 1024, 2).await.0, 201);
    for (m, path, want) in [
        (Method::POST, "/v1/resource-definitions", 400),
        (Method::POST, "/v1/resource-groups", 400),
        (
            Method::POST,
            "/v1/resource-definitions/pj/snapshot-restore-volume-definition/s1",
            400,
        ),
        (Method::POST, "/v1/resource-definitions/pj/resources", 500),
        (
            Method::POST,
            "/v1/resource-definitions/pj/resources/n1/make-available",
            500,
        ),
        (Method::POST, "/v1/resource-definitions/pj/autoplace", 500),
        (Method::POST, "/v1/resource-groups/DfltRscGrp/spawn", 500),
        (Method::POST, "/v1/resource-definitions/pj/snapshots", 500),
        (Method::PUT, "/v1/resource-definitions/pj", 500),
        (Method::PUT, "/v1/resource-groups/DfltRscGrp", 500),
        (Method::POST, "/v1/controller/properties", 500),
        (
            Method::POST,
            "/v1/resource-groups/DfltRscGrp/query-size-info",
            500,
        ),
    ] {
        let (st, v) = raw(&api, m.clone(), path, "{\"x\": ").await.unwrap();
        assert_eq!(st, want, "{m} {path}: {v}");
        assert_eq!(
            first_code(&v) & (MASK_ERROR | 0x0FFF_FFFF_FFFF_FFFF),
            API_CALL_PARSE_ERROR
        );
    }
    let (st, _) = raw(
        &api,
        Method::POST,
        "/v1/resource-definitions/pj/snapshot-rollback/none",
        "",
    )
    .await
    .unwrap();
    assert_eq!(st, 404, "empty body means defaults on rollback");
    let (st, v) = raw(&api, Method::POST, "/v1/resource-definitions", "")
        .await
        .unwrap();
    assert_eq!(
        (st, first_code(&v)),
        (400, API_CALL_PARSE_ERROR),
        "a mandatory body"
    );
    let (st, _) = raw(
        &api,
        Method::POST,
        "/v1/resource-definitions",
        "{\"resource_definition\": {\"name\": \"tg1\"}} trailing",
    )
    .await
    .unwrap();
    assert_eq!(st, 201, "trailing text after the document is ignored");
    let e = raw(
        &api,
        Method::POST,
        "/v1/resource-definitions/pj/clone",
        "{bad",
    )
    .await
    .expect_err("a clone with a body that does not parse gets no answer");
    assert!(e.is_timeout(), "{e}");
    let (st, v) = raw(
        &api,
        Method::POST,
        "/v1/resource-definitions/nosuch/clone",
        "{}",
    )
    .await
    .unwrap();
    assert_eq!((st, code(&v)), (404, 301 | MASK_ERROR), "{v}");
    assert!(v.is_array());
}

#[tokio::test]
async fn diskless_follows_the_pool_kind_and_tiebreaker_stays_diskless() {
    let (_sim, api) = sim3().await;
    assert_eq!(api.spawn("DfltRscGrp", "dl", 1024, 2).await.0, 201);
    let nodes = api.nodes_of("dl").await;
    assert_eq!(nodes.len(), 3, "two diskful and a tie-breaker");
    let mut tb = None;
    for n in &nodes {
        if api.flags("dl", n).await.iter().any(|f| f == "TIE_BREAKER") {
            tb = Some(n.clone());
        }
    }
    let tb = tb.expect("a tie-breaker");
    let (st, v) = api
        .post(
            &format!("/v1/resource-definitions/dl/resources/{tb}"),
            json!({"resource": {"props": {"StorPoolName": "DfltDisklessStorPool"}}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let f = api.flags("dl", &tb).await;
    assert!(f.contains(&"DRBD_DISKLESS".to_string()), "{f:?}");
    assert!(!f.contains(&"TIE_BREAKER".to_string()), "{f:?}");
    assert_eq!(api.nodes_of("dl").await.len(), 3);
    let (st, v) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "dl2"}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    api.post(
        "/v1/resource-definitions/dl2/volume-definitions",
        json!({"volume_definition": {"size_kib": 1024}}),
    )
    .await;
    api.post(
        "/v1/resource-definitions/dl2/resources/n1",
        json!({"resource": {}}),
    )
    .await;
    let (st, v) = api
        .post(
            "/v1/resource-definitions/dl2/resources/n2",
            json!({"resource": {"props": {"StorPoolName": "DfltDisklessStorPool"}}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|e| rc(e) & MASK_ERROR == MASK_WARN
                && e["message"] == "Resource will be automatically flagged as drbd diskless"),
        "{v}"
    );
    let f = api.flags("dl2", "n2").await;
    assert!(f.contains(&"DRBD_DISKLESS".to_string()), "{f:?}");
    let (_, r) = api.rsc("dl2", "n2").await;
    assert_eq!(r["props"]["StorPoolName"], "DfltDisklessStorPool");
}
