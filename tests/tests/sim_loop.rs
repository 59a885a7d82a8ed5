//! Loop-device backing (root only): shared data between nodes and live `in_use` detection.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;

use common::*;
use linstor_tests::sim::{Backing, Sim, SimConfig};
use serde_json::json;

fn loop_usable() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    root && Command::new("losetup")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn loop_devices_share_data_and_report_in_use() {
    if !loop_usable() {
        println!("skipped: loop backing needs root and losetup");
        return;
    }
    let sim = Sim::start(SimConfig {
        backing: Backing::Loop,
        ..Default::default()
    })
    .await
    .unwrap();
    let api = Api::new(&sim.url());
    let (st, v) = api.spawn("rgl", "lv", 4096, 2).await;
    assert_eq!(st, 201, "{v}");
    let mut diskful = vec![];
    for n in ["n1", "n2", "n3"] {
        if api.flags("lv", n).await.is_empty() {
            diskful.push(n);
        }
    }
    let d0 = std::fs::canonicalize(sim.dev_root(diskful[0]).join("drbd/by-res/lv/0")).unwrap();
    let d1 = std::fs::canonicalize(sim.dev_root(diskful[1]).join("drbd/by-res/lv/0")).unwrap();
    assert!(d0.to_string_lossy().starts_with("/dev/loop"));
    assert_ne!(d0, d1, "one loop device per node");
    {
        let mut f = std::fs::OpenOptions::new().write(true).open(&d0).unwrap();
        let mut buf = vec![0u8; 4096];
        buf[..5].copy_from_slice(b"hello");
        f.write_all(&buf).unwrap();
        f.sync_all().unwrap();
    }
    let mut g = std::fs::File::open(&d1).unwrap();
    g.seek(SeekFrom::Start(0)).unwrap();
    let mut got = [0u8; 5];
    g.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");
    drop(g);

    let holder = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(&d0)
        .unwrap();
    let (_, r) = api.rsc("lv", diskful[0]).await;
    assert_eq!(r["state"]["in_use"], true);
    let (st, v) = api
        .delete(&format!(
            "/v1/resource-definitions/lv/resources/{}",
            diskful[0]
        ))
        .await;
    assert_eq!(st, 500);
    assert!(has(&v, 997 | MASK_ERROR));
    drop(holder);
    let (_, r) = api.rsc("lv", diskful[0]).await;
    assert_eq!(r["state"]["in_use"], false);

    let (st, _) = api
        .put(
            "/v1/resource-definitions/lv/volume-definitions/0",
            json!({"size_kib": 8192}),
        )
        .await;
    assert_eq!(st, 200);
    let size = Command::new("blockdev")
        .arg("--getsize64")
        .arg(&d1)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&size.stdout).trim(),
        (8192 * 1024).to_string()
    );

    let (st, v) = api.delete("/v1/resource-definitions/lv").await;
    assert_eq!(st, 200, "{v}");
    let left = Command::new("losetup").arg("-a").output().unwrap();
    assert!(
        !String::from_utf8_lossy(&left.stdout).contains(&*sim.data_dir().to_string_lossy()),
        "loop devices detached"
    );
    sim.stop().await;
}
