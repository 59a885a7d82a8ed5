//! Benchmark (run with `cargo bench -p linstor-docker-volume --bench docker_api`): List and Get
//! latency through the plugin's unix socket with 1,000 and 10,000 Docker volumes in a simulated
//! cluster, Get and Path requests per second, and controller round trips per call.
//! Set `DOCKER_BENCH_SIZES=1000` to run a subset.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use linstor_common::config::{ClientConfig, ControllerUrl};
use linstor_common::host::FakeHost;
use linstor_common::naming::Platform;
use linstor_common::volume::{CreateSpec, Storage, StorageConfig};
use linstor_common::Client;
use linstor_docker_volume::options::{RawOptions, VolumeOptions};
use linstor_docker_volume::{server, Driver, DriverConfig};
use linstor_tests::sim::{Sim, SimConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn post(sock: &Path, path: &str, body: &str) -> String {
    let mut s = tokio::net::UnixStream::connect(sock)
        .await
        .expect("connect");
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: plugin.moby.localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 200"), "{path}: {out}");
    out
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

async fn rps(sock: &Path, path: &'static str, body: &'static str, secs: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let sock = sock.to_path_buf();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                post(&sock, path, body).await;
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    total as f64 / secs as f64
}

async fn run(n: usize) {
    // The simulator gives each node LINSTOR's default 1,000 DRBD ports (7000-7999): one
    // replica per volume, placed round-robin over enough nodes.
    let nodes = (n / 500).max(3);
    let sim = Sim::start(SimConfig {
        nodes: (1..=nodes).map(|i| format!("n{i}")).collect(),
        pool_size_gib: 100_000,
        ..Default::default()
    })
    .await
    .expect("sim");
    let tmp = tempfile::tempdir().expect("tmp");
    let client = Client::new(ClientConfig {
        controllers: vec![ControllerUrl::parse(&sim.url()).expect("url")],
        ..Default::default()
    })
    .expect("client");
    let mut cfg = StorageConfig::new(Platform::Docker, "n1");
    cfg.dev_root = sim.dev_root("n1");
    let storage = Storage::new(cfg, client, Arc::new(FakeHost::default()));
    let opts =
        VolumeOptions::resolve(&RawOptions::default(), &RawOptions::default()).expect("options");
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let st = storage.clone();
        let spec = CreateSpec {
            name: format!("vol{i:05}"),
            size_kib: opts.size_kib(),
            props: opts.props(&format!("vol{i:05}")),
            filter: Some(linstor_common::api::AutoSelectFilter {
                place_count: Some(1),
                node_name_list: vec![format!("n{}", i % nodes + 1)],
                ..Default::default()
            }),
            ..Default::default()
        };
        set.spawn(async move { st.create(&spec).await.expect("create") });
        if set.len() >= 16 {
            set.join_next().await;
        }
    }
    while set.join_next().await.is_some() {}
    eprintln!(
        "populated {n} volumes in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let mut raw = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        storage.docker_definitions().await.expect("definitions");
        raw.push(t.elapsed());
    }
    let raw_list = pct(raw, 0.5);
    let driver = Arc::new(
        Driver::new(
            storage,
            DriverConfig::new(tmp.path().join("mnt"), tmp.path().join("none.conf")),
            &tmp.path().join("state"),
        )
        .expect("driver"),
    );
    let sock = tmp.path().join("bench.sock");
    let listener = server::bind(&sock).expect("bind");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let srv = tokio::spawn(server::serve(listener, driver, async move {
        let _ = rx.await;
    }));

    let mut list = Vec::new();
    for _ in 0..10 {
        sim.reset_stats();
        let t = Instant::now();
        let out = post(&sock, "/VolumeDriver.List", "{}").await;
        list.push(t.elapsed());
        assert!(out.contains(&format!("vol{:05}", n - 1)));
    }
    let list_rt = sim.request_count();
    let mut get = Vec::new();
    for i in 0..200 {
        let body = format!("{{\"Name\":\"vol{:05}\"}}", (i * 37) % n);
        sim.reset_stats();
        let t = Instant::now();
        post(&sock, "/VolumeDriver.Get", &body).await;
        get.push(t.elapsed());
    }
    let get_rt = sim.request_count();
    let get_rps = rps(&sock, "/VolumeDriver.Get", "{\"Name\":\"vol00001\"}", 3).await;
    sim.reset_stats();
    let path_rps = rps(&sock, "/VolumeDriver.Path", "{\"Name\":\"vol00001\"}", 3).await;
    let path_rt = sim.request_count();
    println!(
        "{n:>6} volumes | List p50 {:7.1} ms p95 {:7.1} ms ({list_rt} round trips; the controller call alone {raw_list:.1} ms) | Get p50 {:6.2} ms p95 {:6.2} ms ({get_rt} round trips) | Get {get_rps:7.0}/s | Path {path_rps:7.0}/s ({path_rt} round trips)",
        pct(list.clone(), 0.5),
        pct(list, 0.95),
        pct(get.clone(), 0.5),
        pct(get, 0.95),
    );
    let _ = tx.send(());
    let _ = srv.await;
    sim.stop().await;
}

fn main() {
    let sizes: Vec<usize> = std::env::var("DOCKER_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1000, 10000]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for n in sizes {
        rt.block_on(run(n));
    }
}
