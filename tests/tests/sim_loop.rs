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
    // A process another test thread is starting holds a copy of every descriptor until its exec,
    // so the device can stay claimed for a moment after the close.
    let mut in_use = true;
    for _ in 0..200 {
        let (_, r) = api.rsc("lv", diskful[0]).await;
        in_use = r["state"]["in_use"] == true;
        if !in_use {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(!in_use, "released once nothing holds the device");

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
    assert_eq!(
        loops_left_under(sim.data_dir()),
        Vec::<String>::new(),
        "loop devices detached"
    );
    sim.stop().await;
}

/// Loop devices whose backing file lies under `dir`, as `losetup -a` shows them.
fn loops_under(dir: &std::path::Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap();
    let out = Command::new("losetup").arg("-a").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(dir.to_str().unwrap()))
        .map(str::to_string)
        .collect()
}

/// The loop devices still attached under `dir` once detaching settled: a device another test
/// thread's starting process holds for a moment is freed by the kernel when it lets go (2 s at
/// most).
fn loops_left_under(dir: &std::path::Path) -> Vec<String> {
    for _ in 0..200 {
        let left = loops_under(dir);
        if left.is_empty() {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    loops_under(dir)
}

#[tokio::test]
async fn loop_devices_left_behind_are_detached_on_next_start() {
    if !loop_usable() {
        println!("skipped: loop backing needs root and losetup");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leaked.img");
    std::fs::write(&file, vec![0u8; 1 << 20]).unwrap();
    let out = Command::new("losetup")
        .args(["--find", "--show"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(loops_under(dir.path()).len(), 1);
    let sim = Sim::start(SimConfig {
        backing: Backing::Loop,
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(loops_left_under(dir.path()), Vec::<String>::new());
    let api = Api::new(&sim.url());
    assert_eq!(api.spawn("rgs", "lk", 4096, 2).await.0, 201);
    assert_eq!(loops_under(dir.path()).len(), 2);
    sim.stop().await;
    assert_eq!(loops_left_under(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn sigterm_detaches_every_loop_device() {
    if !loop_usable() {
        println!("skipped: loop backing needs root and losetup");
        return;
    }
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_linstor-sim"))
        .args(["--listen", "127.0.0.1:0", "--backing", "loop", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.trim_start_matches("listening on ").to_string();
    let api = Api::new(&url);
    assert_eq!(api.spawn("rgt", "tv", 4096, 2).await.0, 201);
    assert_eq!(api.spawn("rgt", "tw", 4096, 2).await.0, 201);
    assert_eq!(loops_under(dir.path()).len(), 4);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert!(st.success(), "{st}");
    assert_eq!(loops_left_under(dir.path()), Vec::<String>::new());
}
