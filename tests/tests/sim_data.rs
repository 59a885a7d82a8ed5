//! Data paths with file backing: device symlinks, snapshots, rollback, restore, clone and
//! state persistence across a restart.

mod common;

use std::time::Duration;

use common::*;
use linstor_tests::sim::{Backing, Sim, SimConfig};
use serde_json::json;

fn write_at(path: &std::path::Path, data: &[u8]) {
    use std::io::{Seek, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(std::io::SeekFrom::Start(4096)).unwrap();
    f.write_all(data).unwrap();
}

fn read_at(path: &std::path::Path, n: usize) -> Vec<u8> {
    use std::io::{Read, Seek};
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(std::io::SeekFrom::Start(4096)).unwrap();
    let mut b = vec![0; n];
    f.read_exact(&mut b).unwrap();
    b
}

#[tokio::test]
async fn snapshot_rollback_restore_clone_with_files() {
    let sim = Sim::start(SimConfig {
        backing: Backing::File,
        clone_delay: Duration::from_millis(300),
        ..Default::default()
    })
    .await
    .unwrap();
    let api = Api::new(&sim.url());
    let (st, v) = api.spawn("rg", "vol1", 8192, 2).await;
    assert_eq!(st, 201, "{v}");
    let nodes = api.nodes_of("vol1").await;
    let diskful: Vec<&String> = {
        let mut d = vec![];
        for n in &nodes {
            if api.flags("vol1", n).await.is_empty() {
                d.push(n);
            }
        }
        d
    };
    let dev = sim.dev_root(diskful[0]).join("drbd/by-res/vol1/0");
    let dev2 = sim.dev_root(diskful[1]).join("drbd/by-res/vol1/0");
    assert!(dev.exists());
    let tb = nodes.iter().find(|n| !diskful.contains(n)).unwrap();
    assert!(
        !sim.dev_root(tb).join("drbd/by-res/vol1/0").exists(),
        "no device for tie-breakers"
    );
    write_at(&dev, b"first");
    assert_eq!(read_at(&dev2, 5), b"first", "replicas share data");

    let (st, v) = api
        .post(
            "/v1/resource-definitions/vol1/snapshots",
            json!({"name": "snap1"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let msgs: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(msgs.iter().any(|m| m.starts_with("Suspended IO")));
    assert!(msgs.iter().any(|m| m.starts_with("Took snapshot")));
    assert!(msgs.iter().any(|m| m.starts_with("Resumed IO")));
    let (_, s) = api
        .get("/v1/resource-definitions/vol1/snapshots/snap1")
        .await;
    assert_eq!(s["flags"], json!(["SUCCESSFUL"]));
    assert_eq!(s["volume_definitions"][0]["size_kib"], 8192);
    let (_, all) = api.get("/v1/view/snapshots").await;
    assert_eq!(all.as_array().unwrap().len(), 1);

    write_at(&dev, b"second");
    sim.set_in_use("vol1", diskful[0], true);
    let (st, v) = api
        .post(
            "/v1/resource-definitions/vol1/snapshot-rollback/snap1",
            json!({}),
        )
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, 997 | MASK_ERROR));
    sim.set_in_use("vol1", diskful[0], false);
    let (st, v) = api
        .post(
            "/v1/resource-definitions/vol1/snapshot-rollback/snap1",
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(read_at(&dev, 5), b"first");

    let (st, _) = api
        .post(
            "/v1/resource-definitions",
            json!({"resource_definition": {"name": "restored", "resource_group_name": "rg"}}),
        )
        .await;
    assert_eq!(st, 201);
    let (st, v) = api
        .post(
            "/v1/resource-definitions/vol1/snapshot-restore-volume-definition/snap1",
            json!({"to_resource": "restored"}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = api
        .post(
            "/v1/resource-definitions/vol1/snapshot-restore-resource/snap1",
            json!({"to_resource": "restored", "nodes": [diskful[0]]}),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        read_at(&sim.dev_root(diskful[0]).join("drbd/by-res/restored/0"), 5),
        b"first"
    );
    let (st, v) = api
        .post(
            "/v1/resource-definitions/vol1/snapshot-restore-resource/snap1",
            json!({"to_resource": "restored"}),
        )
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, 502 | MASK_ERROR), "{v}");

    api.put(
        "/v1/resource-definitions/vol1",
        json!({"override_props": {"Aux/owner": "me"}}),
    )
    .await;
    let (st, v) = api
        .post(
            "/v1/resource-definitions/vol1/clone",
            json!({"name": "vol1-clone"}),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["clone_name"], "vol1-clone");
    assert_eq!(
        v["location"],
        "/v1/resource-definitions/vol1/clone/vol1-clone"
    );
    assert!(no_errors(&v["messages"]));
    let (_, s) = api
        .get("/v1/resource-definitions/vol1/clone/vol1-clone")
        .await;
    assert_eq!(s["status"], "CLONING");
    let (_, ss) = api
        .get("/v1/resource-definitions/vol1-clone/sync-status")
        .await;
    assert_eq!(ss["synced_on_all"], false);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, s) = api
        .get("/v1/resource-definitions/ignored/clone/vol1-clone")
        .await;
    assert_eq!(s["status"], "COMPLETE");
    let (_, rd) = api.get("/v1/resource-definitions/vol1-clone").await;
    assert_eq!(rd["props"]["cloned-from"], "vol1");
    assert_eq!(rd["props"]["Aux/owner"], "me");
    assert!(rd.get("flags").is_none());
    assert_eq!(
        read_at(
            &sim.dev_root(diskful[1]).join("drbd/by-res/vol1-clone/0"),
            5
        ),
        b"first"
    );
    let (st, v) = api
        .post(
            "/v1/resource-definitions/vol1/clone",
            json!({"name": "vol1-clone"}),
        )
        .await;
    assert_eq!(st, 500);
    assert!(has(&v["messages"], 501 | MASK_ERROR));
    let (st, _) = api.get("/v1/resource-definitions/vol1/clone/none").await;
    assert_eq!(st, 404);

    let (st, _) = api
        .put(
            "/v1/resource-definitions/vol1/volume-definitions/0",
            json!({"size_kib": 16384}),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(std::fs::metadata(&dev).unwrap().len(), 16384 * 1024);

    let (st, _) = api
        .delete("/v1/resource-definitions/vol1/snapshots/snap1")
        .await;
    assert_eq!(st, 200);
    let (st, v) = api.delete("/v1/resource-definitions/vol1").await;
    assert_eq!(st, 200, "{v}");
    assert!(!dev.exists(), "symlink removed with the resource");
    sim.stop().await;
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SimConfig {
        backing: Backing::File,
        state_file: Some(dir.path().join("state.json")),
        data_dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let sim = Sim::start(cfg.clone()).await.unwrap();
    let api = Api::new(&sim.url());
    api.spawn("rgp", "keep", 4096, 2).await;
    api.post(
        "/v1/resource-definitions/keep/snapshots",
        json!({"name": "s1"}),
    )
    .await;
    api.post(
        "/v1/controller/properties",
        json!({"override_props": {"Aux/x": "1"}}),
    )
    .await;
    let before = sim.state();
    let minor = before["resource_definitions"]["keep"]["volumes"][0]["minor"].clone();
    sim.stop().await;

    let sim = Sim::start(cfg).await.unwrap();
    let api = Api::new(&sim.url());
    let after = sim.state();
    assert_eq!(
        before["resource_definitions"],
        after["resource_definitions"]
    );
    assert_eq!(after["controller_props"]["Aux/x"], "1");
    assert_eq!(api.nodes_of("keep").await.len(), 3);
    let (_, s) = api.get("/v1/resource-definitions/keep/snapshots").await;
    assert_eq!(s[0]["name"], "s1");
    let n = after["resource_definitions"]["keep"]["resources"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, r)| r["flags"].as_array().unwrap().is_empty())
        .map(|(n, _)| n.clone())
        .unwrap();
    assert!(
        sim.dev_root(&n).join("drbd/by-res/keep/0").exists(),
        "symlinks re-created"
    );
    api.post(
        "/v1/resource-definitions",
        json!({"resource_definition": {"name": "next"}}),
    )
    .await;
    api.post(
        "/v1/resource-definitions/next/volume-definitions",
        json!({"volume_definition": {"size_kib": 64}}),
    )
    .await;
    let (_, vd) = api
        .get("/v1/resource-definitions/next/volume-definitions/0")
        .await;
    assert_ne!(
        vd["layer_data"][0]["data"]["minor_number"], minor,
        "minor allocation continues"
    );
    sim.stop().await;
}

#[test]
fn blocking_wrapper_and_none_backing() {
    let sim = Sim::start_blocking(SimConfig {
        nodes: vec!["x1".into(), "x2".into()],
        ..Default::default()
    })
    .unwrap();
    let url = sim.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let api = Api::new(&url);
        let (st, v) = api.spawn("rgb", "nb", 1024, 2).await;
        assert_eq!(st, 201, "{v}");
    });
    let link = sim.dev_root("x1").join("drbd/by-res/nb/0");
    let target = std::fs::read_link(&link).unwrap();
    assert!(target.to_string_lossy().starts_with("/dev/drbd10"));
    assert_eq!(
        sim.state()["resource_definitions"]["nb"]["resources"]
            .as_object()
            .unwrap()
            .len(),
        2
    );
    sim.stop();
}
