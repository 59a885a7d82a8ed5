//! The simulator honours the numbers an adoption asks for, as LINSTOR does: the definition's
//! `drbd_port` and `drbd_peer_slots`, `PeerSlotsNewResource`, a VD's volume number and minor, a
//! resource's `drbd_node_id` and `drbd_tcp_ports`; a taken minor, node id or port is refused
//! with LINSTOR's `FAIL_INVLD_*` codes, and allocation stays automatic when nothing is asked;
//! `PrefNic` (the interface adopt names for a node's address) follows LINSTOR's name rule.

mod common;

use common::*;
use linstor_tests::sim::{Sim, SimConfig};
use serde_json::json;

const FAIL_INVLD_RSC_PORT: u64 = 203 | MASK_ERROR;
const FAIL_INVLD_NODE_ID: u64 = 204 | MASK_ERROR;
const FAIL_INVLD_MINOR_NR: u64 = 207 | MASK_ERROR;
const FAIL_INVLD_PROP: u64 = 213 | MASK_ERROR;

async fn sim3() -> (Sim, Api) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    (sim, api)
}

#[tokio::test]
async fn explicit_port_peer_slots_minor_and_node_ids_are_reported() {
    let (_sim, api) = sim3().await;
    let (st, v) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "legacy"}, "drbd_port": 15500, "drbd_peer_slots": 4}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api
        .put(
            "/v1/resource-definitions/legacy",
            json!({"override_props": {"PeerSlotsNewResource": "4"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/legacy/volume-definitions",
            json!({"volume_definition": {"volume_number": 10, "size_kib": 1371956}, "drbd_minor_number": 9100}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = api
        .put(
            "/v1/resource-definitions/legacy/volume-definitions/10",
            json!({"override_props": {"OverrideVlmId": "legacy_data", "AllowLargerVolumeSize": "True"}}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    for (node, id) in [("n1", 4), ("n2", 8)] {
        let (st, v) = api
            .post(
                &format!("/v1/resource-definitions/legacy/resources/{node}"),
                json!({"resource": {"props": {"StorPoolName": "DfltStorPool"}}, "drbd_node_id": id, "drbd_tcp_ports": [15500]}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
    }

    let (_, rd) = api.get("/v1/resource-definitions/legacy").await;
    assert_eq!(rd["layer_data"][0]["data"]["port"], 15500);
    assert_eq!(rd["layer_data"][0]["data"]["peer_slots"], 4);
    let (_, vd) = api
        .get("/v1/resource-definitions/legacy/volume-definitions/10")
        .await;
    assert_eq!(vd["volume_number"], 10);
    assert_eq!(vd["size_kib"], 1371956);
    assert_eq!(vd["layer_data"][0]["data"]["minor_number"], 9100);
    assert_eq!(vd["props"]["AllowLargerVolumeSize"], "true");
    for (node, id) in [("n1", 4), ("n2", 8)] {
        let (_, r) = api.rsc("legacy", node).await;
        let d = &r["layer_object"]["drbd"];
        assert_eq!(d["node_id"], id);
        assert_eq!(d["tcp_ports"], json!([15500]));
        assert_eq!(d["peer_slots"], 4);
        assert_eq!(d["drbd_volumes"][0]["device_path"], "/dev/drbd9100");
        assert!(d["drbd_volumes"][0]["backing_device"]
            .as_str()
            .unwrap()
            .ends_with("/legacy_data.img"));
    }
}

#[tokio::test]
async fn preferred_port_is_used_where_free_and_defaults_stay_automatic() {
    let (_sim, api) = sim3().await;
    let (st, v) = api.spawn("single", "auto", 4096, 1).await;
    assert_eq!(st, 201, "{v}");
    let (_, rd) = api.get("/v1/resource-definitions/auto").await;
    assert_eq!(rd["layer_data"][0]["data"]["port"], -1);
    assert_eq!(rd["layer_data"][0]["data"]["peer_slots"], 7);
    let placed = api.nodes_of("auto").await;
    let (_, r) = api.rsc("auto", &placed[0]).await;
    assert_eq!(r["layer_object"]["drbd"]["tcp_ports"], json!([7000]));
    assert_eq!(r["layer_object"]["drbd"]["node_id"], 0);
    assert_eq!(r["layer_object"]["drbd"]["peer_slots"], 7);

    api.post(
        "/v1/resource-definitions",
        json!({"resource_definition": {"name": "pref"}, "drbd_port": 7000}),
    )
    .await;
    api.post(
        "/v1/resource-definitions/pref/volume-definitions",
        json!({"volume_definition": {"size_kib": 4096}}),
    )
    .await;
    let other = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| *n != placed[0])
        .unwrap();
    for n in [placed[0].as_str(), other] {
        let (st, v) = api
            .post(
                &format!("/v1/resource-definitions/pref/resources/{n}"),
                json!({}),
            )
            .await;
        assert_eq!(st, 201, "{v}");
    }
    let (_, r) = api.rsc("pref", &placed[0]).await;
    assert_ne!(
        r["layer_object"]["drbd"]["tcp_ports"],
        json!([7000]),
        "7000 is taken on that node"
    );
    let (_, r) = api.rsc("pref", other).await;
    assert_eq!(r["layer_object"]["drbd"]["tcp_ports"], json!([7000]));
}

#[tokio::test]
async fn taken_numbers_are_refused() {
    let (_sim, api) = sim3().await;
    api.post(
        "/v1/resource-definitions",
        json!({"resource_definition": {"name": "ra"}}),
    )
    .await;
    api.post(
        "/v1/resource-definitions/ra/volume-definitions",
        json!({"volume_definition": {"size_kib": 4096}, "drbd_minor_number": 9100}),
    )
    .await;
    api.post(
        "/v1/resource-definitions/ra/resources/n1",
        json!({"drbd_node_id": 3, "drbd_tcp_ports": [15500]}),
    )
    .await;
    api.post(
        "/v1/resource-definitions",
        json!({"resource_definition": {"name": "rb"}}),
    )
    .await;
    let (st, v) = api
        .post(
            "/v1/resource-definitions/rb/volume-definitions",
            json!({"volume_definition": {"size_kib": 4096}, "drbd_minor_number": 9100}),
        )
        .await;
    assert!(st == 500 && has(&v, FAIL_INVLD_MINOR_NR), "{v}");
    api.post(
        "/v1/resource-definitions/rb/volume-definitions",
        json!({"volume_definition": {"size_kib": 4096}}),
    )
    .await;
    let (st, v) = api
        .post(
            "/v1/resource-definitions/rb/resources/n1",
            json!({"drbd_tcp_ports": [15500]}),
        )
        .await;
    assert!(st == 500 && has(&v, FAIL_INVLD_RSC_PORT), "{v}");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/ra/resources/n2",
            json!({"drbd_node_id": 3}),
        )
        .await;
    assert!(st == 500 && has(&v, FAIL_INVLD_NODE_ID), "{v}");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/rb/resources/n2",
            json!({"drbd_tcp_ports": [15500]}),
        )
        .await;
    assert_eq!(st, 201, "a port is per node: {v}");
    let (st, v) = api
        .put(
            "/v1/resource-definitions/ra",
            json!({"override_props": {"PeerSlotsNewResource": "40"}}),
        )
        .await;
    assert!(st == 500 && has(&v, FAIL_INVLD_PROP), "{v}");
}

#[tokio::test]
async fn pref_nic_is_taken_with_linstors_name_rule() {
    let (_sim, api) = sim3().await;
    api.post(
        "/v1/resource-definitions",
        json!({"resource_definition": {"name": "pn"}}),
    )
    .await;
    api.post(
        "/v1/resource-definitions/pn/volume-definitions",
        json!({"volume_definition": {"size_kib": 4096}}),
    )
    .await;
    for bad in ["x", "-data", "da ta"] {
        let (st, v) = api
            .post(
                "/v1/resource-definitions/pn/resources/n1",
                json!({"resource": {"props": {"PrefNic": bad}}}),
            )
            .await;
        assert!(st == 500 && has(&v, FAIL_INVLD_PROP), "{bad}: {v}");
    }
    let (st, v) = api
        .post(
            "/v1/resource-definitions/pn/resources/n1",
            json!({"resource": {"props": {"PrefNic": "data_1"}}}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (_, r) = api.rsc("pn", "n1").await;
    assert_eq!(r["props"]["PrefNic"], "data_1");
}
