//! Net interfaces answered as linstor-server answers them: HTTP status, the whole `ret_code`
//! (type, operation and object masks) and message, per `Nodes` (REST) and
//! `CtrlNetIfApiCallHandler`.

mod common;

use common::*;
use linstor_tests::sim::{Sim, SimConfig};
use serde_json::{json, Value};

const MASK_CRT: u64 = 0x100_0000;
const MASK_MOD: u64 = 0x200_0000;
const MASK_DEL: u64 = 0x300_0000;
const MASK_NET_IF: u64 = 0x1C_0000;

const CREATED: u64 = 1;
const DELETED: u64 = 2;
const MODIFIED: u64 = 3;
const FAIL_INVLD_NODE_NAME: u64 = 200 | MASK_ERROR;
const FAIL_INVLD_NET_NAME: u64 = 209 | MASK_ERROR;
const FAIL_INVLD_NET_ADDR: u64 = 210 | MASK_ERROR;
const FAIL_INVLD_NET_PORT: u64 = 211 | MASK_ERROR;
const FAIL_INVLD_NET_TYPE: u64 = 212 | MASK_ERROR;
const FAIL_INVLD_ENCRYPT_TYPE: u64 = 217 | MASK_ERROR;
const FAIL_NOT_FOUND_NODE: u64 = 300 | MASK_ERROR;
const FAIL_NOT_FOUND_NET_IF: u64 = 305 | MASK_ERROR;
const FAIL_EXISTS_NET_IF: u64 = 505 | MASK_ERROR;
const WARN_NO_STLT_CONN_DEFINED: u64 = 1004 | MASK_WARN;
const WARN_NOT_FOUND: u64 = 3000 | MASK_WARN;
const API_CALL_PARSE_ERROR: u64 = 0xCFFF_FFFF_FFFF_FFFD;

const NETIFS: &str = "/v1/nodes/n1/net-interfaces";

async fn sim() -> (Sim, Api) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    (sim, api)
}

/// The single entry of an answer: its full `ret_code` and message.
fn only(v: &Value) -> (u64, &str) {
    let a = v.as_array().expect("an ApiCallRc list");
    assert_eq!(a.len(), 1, "one entry: {v}");
    (rc(&a[0]), a[0]["message"].as_str().unwrap_or_default())
}

fn active(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|i| i["is_active"] == true)
        .map(|i| i["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn list_and_get_answer_like_the_rest_class() {
    let (_sim, api) = sim().await;
    let (st, v) = api.get(NETIFS).await;
    assert_eq!(st, 200);
    assert_eq!(v[0]["name"], "default");
    assert_eq!(v[0]["satellite_port"], 3366);
    assert_eq!(v[0]["satellite_encryption_type"], "PLAIN");
    assert_eq!(active(&v), ["default"]);

    // Nodes.listNetInterfaces throws for an unknown node: no context masks.
    let (st, v) = api.get("/v1/nodes/zz9/net-interfaces").await;
    assert_eq!(st, 404);
    assert_eq!(only(&v), (FAIL_NOT_FOUND_NODE, "Node 'zz9' not found."));
    assert_eq!(
        v[0]["correction"],
        "Create a node with the name 'zz9' first."
    );
    let (st, v) = api.get("/v1/nodes/zz9/net-interfaces/default").await;
    assert_eq!((st, only(&v).0), (404, FAIL_NOT_FOUND_NODE));

    // RequestHelper.queryRequestResponse.
    let (st, v) = api.get(&format!("{NETIFS}/nope")).await;
    assert_eq!(st, 404);
    assert_eq!(
        only(&v),
        (FAIL_NOT_FOUND_NET_IF, "Netinterface 'nope' not found.")
    );
    let (st, v) = api.get(&format!("{NETIFS}/DEFAULT")).await;
    assert_eq!((st, v["name"].as_str()), (200, Some("default")));

    for (name, ip) in [("eth1", "10.9.0.1"), ("eth2", "10.9.0.2")] {
        let (st, v) = api.post(NETIFS, json!({"name": name, "address": ip})).await;
        assert_eq!(st, 201, "{v}");
    }
    let (_, v) = api.get(&format!("{NETIFS}?limit=1&offset=1")).await;
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v[0]["name"], "eth1");
}

#[tokio::test]
async fn create_validates_like_ctrl_net_if_api_call_handler() {
    let (_sim, api) = sim().await;
    let crt = |code: u64| code | MASK_CRT | MASK_NET_IF;

    let (st, v) = api
        .post(NETIFS, json!({"name": "data", "address": "192.168.7.1"}))
        .await;
    assert_eq!(st, 201);
    assert_eq!(
        only(&v),
        (
            crt(CREATED),
            "New netInterface 'data' on node 'n1' registered."
        )
    );
    assert_eq!(v[0]["obj_refs"]["Node"], "n1");
    let (_, got) = api.get(&format!("{NETIFS}/data")).await;
    assert_eq!(v[0]["obj_refs"]["UUID"], got["uuid"]);
    assert!(got.get("satellite_port").is_none());
    assert!(got.get("is_active").is_none(), "{got}");

    let (st, v) = api
        .post(NETIFS, json!({"name": "DATA", "address": "192.168.7.2"}))
        .await;
    assert_eq!(st, 500);
    assert_eq!(
        only(&v),
        (
            crt(FAIL_EXISTS_NET_IF),
            "NetInterface 'DATA' on node 'n1' already exists."
        )
    );
    assert!(v[0]["details"]
        .as_str()
        .unwrap()
        .ends_with("Node: 'n1', NetIfName: DATA'"));

    let (st, v) = api
        .post(NETIFS, json!({"name": "bad", "address": "not-an-ip"}))
        .await;
    assert_eq!(st, 500);
    assert_eq!(
        only(&v),
        (crt(FAIL_INVLD_NET_ADDR), "Failed to parse IP address")
    );
    assert!(v[0]["details"]
        .as_str()
        .unwrap()
        .starts_with("The specified input 'not-an-ip' is not a valid IP address."));
    assert_eq!(v[0]["correction"], "Specify a valid IPv4 or IPv6 address.");

    // NetInterfaceName: at least 3 characters, no dots.
    for name in ["ab", "1abc", "a.b"] {
        let (st, v) = api
            .post(NETIFS, json!({"name": name, "address": "10.1.1.1"}))
            .await;
        assert_eq!(st, 500);
        assert_eq!(
            only(&v),
            (
                crt(FAIL_INVLD_NET_NAME),
                format!("The specified net interface name '{name}' is invalid.").as_str()
            )
        );
    }

    let (st, v) = api
        .post(
            "/v1/nodes/zz9/net-interfaces",
            json!({"name": "data", "address": "10.1.1.1"}),
        )
        .await;
    assert_eq!(st, 404);
    assert_eq!(
        only(&v),
        (crt(FAIL_NOT_FOUND_NODE), "Node 'zz9' not found.")
    );

    let (st, v) = api
        .post(
            NETIFS,
            json!({"name": "p1x", "address": "10.1.1.1", "satellite_port": 70000, "satellite_encryption_type": "PLAIN"}),
        )
        .await;
    assert_eq!(st, 500);
    assert_eq!(
        only(&v),
        (
            crt(FAIL_INVLD_NET_PORT),
            "The given portNumber '70000' is invalid."
        )
    );
    let (st, v) = api
        .post(
            NETIFS,
            json!({"name": "p2x", "address": "10.1.1.1", "satellite_port": 3367, "satellite_encryption_type": "TLS"}),
        )
        .await;
    assert_eq!(st, 500);
    assert_eq!(
        only(&v),
        (crt(FAIL_INVLD_NET_TYPE), "Invalid encryption type")
    );

    // A port without an encryption type is not stored (both or neither).
    let (st, _) = api
        .post(
            NETIFS,
            json!({"name": "portonly", "address": "10.1.1.1", "satellite_port": 3367}),
        )
        .await;
    assert_eq!(st, 201);
    let (_, v) = api.get(&format!("{NETIFS}/portonly")).await;
    assert!(v.get("satellite_port").is_none(), "{v}");

    // is_active needs a satellite port and type; the code is the two codes OR-ed, and
    // nothing is stored.
    let (st, v) = api
        .post(
            NETIFS,
            json!({"name": "act", "address": "10.1.1.1", "is_active": true}),
        )
        .await;
    assert_eq!(st, 500);
    assert_eq!(
        only(&v),
        (
            crt(FAIL_INVLD_NET_PORT | FAIL_INVLD_ENCRYPT_TYPE),
            "No satellite port / encryption type set for active satellite connection"
        )
    );
    let (st, _) = api.get(&format!("{NETIFS}/act")).await;
    assert_eq!(st, 404);

    let (st, v) = api
        .post(
            NETIFS,
            json!({"name": "x1x", "address": "10.1.1.1", "color": "red"}),
        )
        .await;
    assert_eq!((st, only(&v).0), (400, API_CALL_PARSE_ERROR));
}

#[tokio::test]
async fn modify_moves_the_active_connection_only_to_a_usable_interface() {
    let (_sim, api) = sim().await;
    let md = |code: u64| code | MASK_MOD | MASK_NET_IF;
    assert_eq!(
        api.post(NETIFS, json!({"name": "data", "address": "192.168.7.1"}))
            .await
            .0,
        201
    );
    let (st, v) = api
        .put(&format!("{NETIFS}/data"), json!({"address": "192.168.7.9"}))
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        only(&v),
        (md(MODIFIED), "NetInterface 'data' on node 'n1' modified.")
    );
    let (_, v) = api.get(&format!("{NETIFS}/data")).await;
    assert_eq!(v["address"], "192.168.7.9");

    let (st, v) = api
        .put(&format!("{NETIFS}/nope"), json!({"address": "192.168.7.9"}))
        .await;
    assert_eq!(st, 404);
    assert_eq!(
        only(&v),
        (
            md(FAIL_NOT_FOUND_NET_IF),
            "Node 'n1' has no network interface named 'nope'."
        )
    );
    let (st, v) = api
        .put(&format!("{NETIFS}/data"), json!({"address": "999.1.1.1"}))
        .await;
    assert_eq!((st, only(&v).0), (500, md(FAIL_INVLD_NET_ADDR)));

    let (st, v) = api
        .put(&format!("{NETIFS}/data"), json!({"is_active": true}))
        .await;
    assert_eq!(st, 500);
    assert_eq!(
        only(&v).0,
        md(FAIL_INVLD_NET_PORT | FAIL_INVLD_ENCRYPT_TYPE)
    );
    let (st, v) = api
        .put(
            &format!("{NETIFS}/data"),
            json!({"satellite_port": 3367, "satellite_encryption_type": "ssl", "is_active": true}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (_, v) = api.get(NETIFS).await;
    assert_eq!(active(&v), ["data"]);
    let (_, v) = api.get(&format!("{NETIFS}/data")).await;
    assert_eq!(v["satellite_encryption_type"], "SSL");
}

#[tokio::test]
async fn delete_warns_for_unknown_and_moves_or_drops_the_satellite_connection() {
    let (_sim, api) = sim().await;
    let del = |code: u64| code | MASK_DEL | MASK_NET_IF;

    for path in [
        format!("{NETIFS}/nope"),
        "/v1/nodes/zz9/net-interfaces/nope".to_string(),
    ] {
        let (st, v) = api.delete(&path).await;
        assert_eq!(st, 200, "a warning, not an error: {v}");
        assert_eq!(only(&v).0, del(WARN_NOT_FOUND));
        assert!(only(&v)
            .1
            .starts_with("Deletion of netInterface 'nope' on node '"));
        assert!(v[0]["cause"].as_str().unwrap().ends_with("does not exist."));
    }
    let (st, v) = api.delete(&format!("{NETIFS}/a")).await;
    assert_eq!((st, only(&v).0), (500, del(FAIL_INVLD_NET_NAME)));

    let (st, _) = api
        .post(
            NETIFS,
            json!({"name": "data", "address": "192.168.7.1", "satellite_port": 3366, "satellite_encryption_type": "PLAIN"}),
        )
        .await;
    assert_eq!(st, 201);
    let (_, v) = api.get(NETIFS).await;
    assert_eq!(active(&v), ["default"], "creating does not take over");

    // The active connection moves to the other interface with a satellite port.
    let (st, v) = api.delete(&format!("{NETIFS}/default")).await;
    assert_eq!(st, 200);
    assert_eq!(
        only(&v),
        (del(DELETED), "NetInterface 'default' on node 'n1' deleted.")
    );
    let (_, v) = api.get(NETIFS).await;
    assert_eq!(active(&v), ["data"]);
    let (_, v) = api.get("/v1/nodes/n1").await;
    assert_eq!(v["connection_status"], "ONLINE");

    // The last one goes too: the deletion is committed, the answer is only the warning,
    // and the node is disconnected.
    let (st, v) = api.delete(&format!("{NETIFS}/data")).await;
    assert_eq!(st, 200);
    assert_eq!(
        only(&v),
        (
            del(WARN_NO_STLT_CONN_DEFINED),
            "NetInterface 'data' on node 'n1' was the last connection to the satellite! \nTo fix this, create at least one netInterface with a valid PORT and COMMUNICATION-TYPE."
        )
    );
    let (st, v) = api.get(NETIFS).await;
    assert_eq!((st, v), (200, json!([])));
    let (_, v) = api.get("/v1/nodes/n1").await;
    assert_eq!(v["connection_status"], "OFFLINE");

    // A new interface with port and type becomes the connection of a node without one.
    let (st, _) = api
        .post(
            NETIFS,
            json!({"name": "back", "address": "10.0.0.1", "satellite_port": 3366, "satellite_encryption_type": "PLAIN"}),
        )
        .await;
    assert_eq!(st, 201);
    let (_, v) = api.get(NETIFS).await;
    assert_eq!(active(&v), ["back"]);
    let (_, v) = api.get("/v1/nodes/n1").await;
    assert_eq!(v["connection_status"], "ONLINE");
}

/// `CtrlApiDataLoader.loadNode` parses the node name (`LinstorParsingUtils.asNodeName`,
/// `Checks.hostNameCheck`) before looking it up: a name that cannot be a node is
/// `FAIL_INVLD_NODE_NAME` (500, the hostname rule as cause), not a missing node (404). The
/// list routes only filter by name, so there it stays "not found".
#[tokio::test]
async fn invalid_node_names_are_refused_as_invalid_not_missing() {
    let (_sim, api) = sim().await;
    let cases = [
        ("-n1", "Hostname cannot begin with '-'"),
        ("n1-", "Hostname cannot end with '-'"),
        (
            "x",
            "Hostname length of 1 violates RFC1123 minimum length of 2",
        ),
        ("n_1", "Domain name cannot contain character '_'"),
    ];
    for (node, cause) in cases {
        let base = format!("/v1/nodes/{node}/net-interfaces");
        let msg = format!("The given node name '{node}' is invalid.");
        let (st, v) = api
            .post(&base, json!({"name": "data", "address": "10.1.1.1"}))
            .await;
        assert_eq!(st, 500, "{v}");
        assert_eq!(
            only(&v),
            (FAIL_INVLD_NODE_NAME | MASK_CRT | MASK_NET_IF, msg.as_str())
        );
        assert_eq!(v[0]["cause"], cause);
        assert_eq!(v[0]["obj_refs"]["Node"], node);

        let (st, v) = api
            .put(&format!("{base}/default"), json!({"address": "10.1.1.2"}))
            .await;
        assert_eq!(st, 500, "{v}");
        assert_eq!(
            only(&v),
            (FAIL_INVLD_NODE_NAME | MASK_MOD | MASK_NET_IF, msg.as_str())
        );

        let (st, v) = api.delete(&format!("{base}/default")).await;
        assert_eq!(st, 500, "{v}");
        assert_eq!(
            only(&v),
            (FAIL_INVLD_NODE_NAME | MASK_DEL | MASK_NET_IF, msg.as_str())
        );

        let (st, v) = api.get(&base).await;
        assert_eq!((st, only(&v).0), (404, FAIL_NOT_FOUND_NODE), "{v}");
    }
    // A valid name that is not a node stays a missing node.
    let (st, v) = api.delete("/v1/nodes/zz9/net-interfaces/default").await;
    assert_eq!(st, 200);
    assert_eq!(only(&v).0, WARN_NOT_FOUND | MASK_DEL | MASK_NET_IF);
    // The interfaces of n1 are untouched.
    let (_, v) = api.get(NETIFS).await;
    assert_eq!(active(&v), ["default"]);
}
