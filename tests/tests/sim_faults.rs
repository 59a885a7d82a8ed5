//! Fault injection, request statistics, down/up and the `/sim/` control routes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use linstor_tests::sim::{FailKind, Fault, Sim, SimConfig};
use serde_json::json;

#[tokio::test]
async fn fail_next_kinds_and_latency() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    sim.inject(Fault::FailNext {
        count: 2,
        kind: FailKind::Status500,
    });
    for _ in 0..2 {
        let (st, v) = api.get("/v1/nodes").await;
        assert_eq!(st, 500);
        assert!(v[0]["error_report_ids"].is_array());
    }
    assert_eq!(api.get("/v1/nodes").await.0, 200);
    sim.inject(Fault::FailNext {
        count: 1,
        kind: FailKind::Garbage,
    });
    let (st, v) = api.get("/v1/nodes").await;
    assert_eq!(st, 200);
    assert!(v.is_string(), "not JSON");
    sim.inject(Fault::FailNext {
        count: 1,
        kind: FailKind::Html,
    });
    let (st, v) = api.get("/v1/nodes").await;
    assert_eq!(st, 502);
    assert!(v.as_str().unwrap().contains("<html>"));
    sim.inject(Fault::FailNext {
        count: 1,
        kind: FailKind::Truncated,
    });
    let r = reqwest::get(format!("{}/v1/nodes", sim.url()))
        .await
        .unwrap();
    assert!(r.text().await.is_err(), "body cut short");
    sim.inject(Fault::FailNext {
        count: 1,
        kind: FailKind::Reset,
    });
    assert!(reqwest::get(format!("{}/v1/nodes", sim.url()))
        .await
        .is_err());
    sim.inject(Fault::Latency(Duration::from_millis(150)));
    let t = Instant::now();
    assert_eq!(api.get("/v1/nodes").await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(150));
    sim.clear_faults();
    let t = Instant::now();
    api.get("/v1/nodes").await;
    assert!(t.elapsed() < Duration::from_millis(150));
}

#[tokio::test]
async fn fail_matching_nth_with_and_without_execution() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    sim.inject(Fault::FailMatching {
        method: "POST".into(),
        path_contains: "/v1/resource-definitions".into(),
        nth: 2,
        kind: FailKind::Status500,
        execute: false,
    });
    let mk = |n: &str| json!({"resource_definition": {"name": n}});
    assert_eq!(api.post("/v1/resource-definitions", mk("aa")).await.0, 201);
    assert_eq!(api.post("/v1/resource-definitions", mk("bb")).await.0, 500);
    assert_eq!(
        api.get("/v1/resource-definitions/bb").await.0,
        404,
        "not executed"
    );
    assert_eq!(api.post("/v1/resource-definitions", mk("cc")).await.0, 201);
    sim.inject(Fault::FailMatching {
        method: "POST".into(),
        path_contains: "/v1/resource-definitions".into(),
        nth: 1,
        kind: FailKind::Reset,
        execute: true,
    });
    assert!(sim.state()["resource_definitions"].get("dd").is_none());
    let r = reqwest::Client::new()
        .post(format!("{}/v1/resource-definitions", sim.url()))
        .json(&mk("dd"))
        .send()
        .await;
    assert!(r.is_err(), "answer lost");
    assert_eq!(
        api.get("/v1/resource-definitions/dd").await.0,
        200,
        "but committed"
    );
}

#[tokio::test]
async fn stats_down_up_and_control_routes() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    api.get("/v1/nodes").await;
    api.get("/v1/nodes/n1").await;
    api.get("/v1/nodes/n2").await;
    api.get("/health").await;
    let s = sim.stats();
    assert_eq!(s["GET /v1/nodes"], 1);
    assert_eq!(s["GET /v1/nodes/{node}"], 2);
    assert_eq!(s["GET /health"], 1);
    assert_eq!(sim.request_count(), 4);
    let (_, v) = api.get("/sim/stats").await;
    assert_eq!(v["total"], 4, "control routes are not counted");
    api.post("/sim/stats/reset", json!({})).await;
    assert_eq!(sim.request_count(), 0);

    api.spawn("rg", "cr", 1024, 2).await;
    let (st, _) = api
        .post(
            "/sim/in-use",
            json!({"resource": "cr", "node": "n1", "in_use": true}),
        )
        .await;
    assert_eq!(st, 200);
    let (_, r) = api.rsc("cr", "n1").await;
    assert_eq!(r["state"]["in_use"], true);
    let (st, _) = api
        .post("/sim/node-online", json!({"node": "n2", "online": false}))
        .await;
    assert_eq!(st, 200);
    let (_, n) = api.get("/v1/nodes/n2").await;
    assert_eq!(n["connection_status"], "OFFLINE");
    let (_, r) = api.rsc("cr", "n2").await;
    assert!(
        r.get("state").is_none(),
        "no satellite report while offline"
    );
    let (st, _) = api
        .post(
            "/sim/fault",
            json!({"fail_next": {"count": 1, "kind": "html"}}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(api.get("/v1/nodes").await.0, 502);
    let (_, state) = api.get("/sim/state").await;
    assert!(state["resource_definitions"]["cr"].is_object());

    sim.set_down(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(reqwest::get(format!("{}/health", sim.url())).await.is_err());
    sim.set_down(false);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = reqwest::get(format!("{}/health", sim.url())).await.unwrap();
    assert_eq!(r.status(), 200, "same port again");
}

#[tokio::test]
async fn in_process_calls_are_uncounted_and_server_time_excludes_latency() {
    let sim = Sim::start(SimConfig {
        latency: std::time::Duration::from_millis(50),
        ..Default::default()
    })
    .await
    .unwrap();
    let body = json!({"resource_definition_name": "seeded", "volume_sizes": [4096],
                      "select_filter": {"place_count": 1}});
    let (st, _) = sim.call(
        "POST",
        "/v1/resource-groups/DfltRscGrp/spawn",
        body.to_string().as_bytes(),
    );
    assert_eq!(st, 201);
    assert_eq!(sim.request_count(), 0, "in-process calls are not counted");
    assert_eq!(sim.server_time(), std::time::Duration::ZERO);
    assert_eq!(sim.call("GET", "/v1/no-such-route", b"").0, 404);

    let api = Api::new(&sim.url());
    let (st, v) = api.get("/v1/resource-definitions/seeded").await;
    assert_eq!((st, v["name"].as_str()), (200, Some("seeded")));
    assert_eq!(sim.request_count(), 1);
    let busy = sim.server_time();
    assert!(busy > std::time::Duration::ZERO, "handling time recorded");
    assert!(
        busy < std::time::Duration::from_millis(50),
        "injected latency is not handling time: {busy:?}"
    );
    let held = sim.held_time();
    assert!(
        held >= std::time::Duration::from_millis(50),
        "the time a client waited includes the injected latency: {held:?}"
    );
    let (_, stats) = api.get("/sim/stats").await;
    assert!(stats["server_us"].as_u64().is_some_and(|us| us > 0));
    assert!(stats["held_us"].as_u64().is_some_and(|us| us >= 50_000));
    sim.reset_stats();
    assert_eq!(sim.server_time(), std::time::Duration::ZERO);
    assert_eq!(sim.held_time(), std::time::Duration::ZERO);

    let (a, b) = tokio::join!(
        api.get("/v1/resource-definitions/seeded"),
        api.get("/v1/resource-definitions")
    );
    assert_eq!((a.0, b.0, sim.request_count()), (200, 200, 2));
    let held = sim.held_time();
    assert!(
        held >= std::time::Duration::from_millis(50)
            && held < std::time::Duration::from_millis(100),
        "two requests held at the same time count once: {held:?}"
    );
}

#[tokio::test]
async fn pause_holds_a_step_before_or_after_execution_and_logs_mutations() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let mk = |n: &str| json!({"resource_definition": {"name": n}});
    let post = |n: &'static str| {
        let url = format!("{}/v1/resource-definitions", sim.url());
        let body = mk(n);
        tokio::spawn(async move { reqwest::Client::new().post(url).json(&body).send().await })
    };
    let wait_held = || async {
        for _ in 0..200 {
            if let Some(p) = sim.paused() {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("request never held");
    };
    sim.inject(Fault::Pause {
        method: "POST".into(),
        path_contains: "/v1/resource-definitions".into(),
        nth: 1,
        after_execute: false,
    });
    let t = post("before");
    assert_eq!(wait_held().await, "POST /v1/resource-definitions");
    assert!(sim.state()["resource_definitions"].get("before").is_none());
    sim.release_pause(false);
    assert!(
        t.await.unwrap().is_err(),
        "abandoned request gets no answer"
    );
    assert!(
        sim.state()["resource_definitions"].get("before").is_none(),
        "never executed"
    );

    sim.inject(Fault::Pause {
        method: "POST".into(),
        path_contains: "/v1/resource-definitions".into(),
        nth: 1,
        after_execute: true,
    });
    let t = post("after");
    wait_held().await;
    assert!(
        sim.state()["resource_definitions"].get("after").is_some(),
        "executed while its answer is held"
    );
    sim.release_pause(true);
    assert_eq!(t.await.unwrap().unwrap().status(), 201);
    assert_eq!(
        sim.mutations(),
        [
            "POST /v1/resource-definitions",
            "POST /v1/resource-definitions"
        ]
    );
    sim.clear_faults();
    assert_eq!(sim.mutations().len(), 2, "clearing faults keeps the log");
}

#[tokio::test]
async fn pause_through_the_control_routes() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    let (st, _) = api
        .post(
            "/sim/fault",
            json!({"pause": {"method": "POST", "path_contains": "/v1/resource-definitions", "after_execute": false}}),
        )
        .await;
    assert_eq!(st, 200);
    let url = format!("{}/v1/resource-definitions", sim.url());
    let t = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&json!({"resource_definition": {"name": "held"}}))
            .send()
            .await
    });
    let mut held = serde_json::Value::Null;
    for _ in 0..200 {
        held = api.get("/sim/pause").await.1["held"].clone();
        if !held.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(held, "POST /v1/resource-definitions");
    assert_eq!(api.get("/v1/resource-definitions/held").await.0, 404);
    api.post("/sim/pause/release", json!({"proceed": true}))
        .await;
    assert_eq!(t.await.unwrap().unwrap().status(), 201, "went on");
    let (_, log) = api.get("/sim/mutations").await;
    assert_eq!(log, json!(["POST /v1/resource-definitions"]));
}
