//! Network faults real networks have: a request that never gets an answer (`hang`), a
//! connection that never completes (`blackhole`), an answer whose body stalls (`drip`);
//! each per route or for all, bounded, and cleared on demand.

mod common;

use std::time::Duration;

use common::*;
use linstor_tests::sim::{Fault, Sim, SimConfig};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn sim3() -> (Sim, Api) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let api = Api::new(&sim.url());
    (sim, api)
}

fn short_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap()
}

#[tokio::test]
async fn hang_holds_matching_requests_until_cleared() {
    let (sim, api) = sim3().await;
    sim.inject(Fault::Hang {
        method: Some("GET".into()),
        path_contains: Some("/v1/nodes".into()),
        max: Duration::from_secs(60),
    });
    let c = short_client();
    let e = c
        .get(format!("{}/v1/nodes", sim.url()))
        .send()
        .await
        .expect_err("no answer");
    assert!(e.is_timeout(), "{e}");
    let r = c
        .get(format!("{}/v1/resource-definitions", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "other routes still answer");
    let url = format!("{}/v1/nodes", sim.url());
    let waiting = tokio::spawn(async move {
        reqwest::Client::new()
            .get(url)
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.clear_faults();
    let held = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("clearing ends the hold")
        .unwrap();
    assert!(
        held.is_err(),
        "the held connection closes without an answer"
    );
    assert_eq!(api.get("/v1/nodes").await.0, 200);
}

#[tokio::test]
async fn hang_is_bounded() {
    let (sim, _api) = sim3().await;
    sim.inject(Fault::Hang {
        method: None,
        path_contains: None,
        max: Duration::from_millis(300),
    });
    let r = tokio::time::timeout(
        Duration::from_secs(5),
        reqwest::Client::new()
            .get(format!("{}/v1/controller/version", sim.url()))
            .send(),
    )
    .await
    .expect("the hold ends by itself");
    assert!(r.is_err(), "closed without an answer");
}

#[tokio::test]
async fn blackhole_connections_never_complete() {
    let (sim, api) = sim3().await;
    sim.inject(Fault::Blackhole {
        max: Duration::from_secs(60),
    });
    let e = short_client()
        .get(format!("{}/v1/nodes", sim.url()))
        .send()
        .await
        .expect_err("nothing is ever read");
    assert!(e.is_timeout(), "{e}");
    let addr = sim.url().trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(b"GET /v1/nodes HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
    assert!(r.is_err(), "no byte comes back");
    sim.clear_faults();
    let r = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("clearing closes held connections")
        .unwrap_or(0);
    assert_eq!(r, 0, "closed without an answer");
    assert_eq!(
        api.get("/v1/nodes").await.0,
        200,
        "new connections are served again"
    );
}

#[tokio::test]
async fn drip_sends_headers_then_stalls_the_body() {
    let (sim, api) = sim3().await;
    sim.inject(Fault::Drip {
        method: Some("GET".into()),
        path_contains: Some("/v1/view/resources".into()),
        max: Duration::from_secs(60),
    });
    let r = reqwest::Client::new()
        .get(format!("{}/v1/view/resources", sim.url()))
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(r.status(), 200);
    assert!(r.content_length().unwrap() > 1);
    let body = tokio::time::timeout(Duration::from_millis(700), r.bytes()).await;
    assert!(body.is_err(), "the body stalls");
    assert_eq!(api.get("/v1/nodes").await.0, 200, "other routes are whole");
    let r = reqwest::Client::new()
        .get(format!("{}/v1/view/resources", sim.url()))
        .send()
        .await
        .unwrap();
    let reading = tokio::spawn(r.bytes());
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.clear_faults();
    let got = tokio::time::timeout(Duration::from_secs(5), reading)
        .await
        .expect("clearing ends the stall")
        .unwrap();
    assert!(got.is_err(), "the body never completes");
    let (st, v) = api.get("/v1/view/resources").await;
    assert_eq!((st, v), (200, json!([])));
}

#[tokio::test]
async fn network_faults_through_the_control_route() {
    let (sim, api) = sim3().await;
    for f in [
        json!({"hang": {"path_contains": "/v1/nodes", "max_ms": 200}}),
        json!({"drip": {"method": "GET", "max_ms": 200}}),
        json!({"blackhole": {"max_ms": 200}}),
    ] {
        let (st, v) = api.post("/sim/fault", f.clone()).await;
        assert_eq!(st, 200, "{f}: {v}");
        let url = format!("{}/v1/nodes", sim.url());
        let got = tokio::time::timeout(Duration::from_secs(5), async move {
            reqwest::Client::new().get(url).send().await?.bytes().await
        })
        .await
        .expect("bounded by max_ms");
        assert!(got.is_err(), "{f}: no whole answer");
        api.post("/sim/fault", json!({"clear": true})).await;
        assert_eq!(api.get("/v1/nodes").await.0, 200);
    }
}
