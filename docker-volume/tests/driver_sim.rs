//! The driver against the LINSTOR simulator with a fake host: every endpoint, reference
//! counting per mount ID across plugin restarts, cross-node refusal, diskless attach and
//! detach, name mapping, ownership, controller outage, and the HTTP surface on a unix socket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use linstor_common::config::{ClientConfig, ControllerUrl};
use linstor_common::host::FakeHost;
use linstor_common::naming::Platform;
use linstor_common::volume::{Storage, StorageConfig};
use linstor_common::Client;
use linstor_docker_volume::{Driver, DriverConfig, Request, Response};
use linstor_tests::sim::{Sim, SimConfig};
use serde_json::Value;

struct Node {
    driver: Driver,
    dir: PathBuf,
}

fn node(sim: &Sim, name: &str, dir: &Path) -> Node {
    node_with_host(sim, name, dir, Arc::new(FakeHost::default()))
}

fn node_with_host(sim: &Sim, name: &str, dir: &Path, host: Arc<FakeHost>) -> Node {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let client = Client::new(ClientConfig {
        controllers: vec![ControllerUrl::parse(&sim.url()).unwrap()],
        connect_timeout: std::time::Duration::from_millis(300),
        request_timeout: std::time::Duration::from_secs(5),
        ..Default::default()
    })
    .unwrap();
    let mut cfg = StorageConfig::new(Platform::Docker, name);
    cfg.dev_root = sim.dev_root(name);
    cfg.device_timeout = std::time::Duration::from_secs(5);
    cfg.in_use_wait = std::time::Duration::from_millis(500);
    let storage = Storage::new(cfg, client, host.clone());
    let mut dcfg = DriverConfig::new(dir.join("mnt"), dir.join("docker-volume.conf"));
    dcfg.boot_id_file = dir.join("boot_id");
    dcfg.mounts_file = dir.join("mounts");
    if !dcfg.boot_id_file.exists() {
        std::fs::write(&dcfg.boot_id_file, "boot-1\n").unwrap();
    }
    let driver = Driver::new(storage, dcfg, &dir.join("state")).unwrap();
    Node { driver, dir }
}

async fn call(n: &Node, req: Request) -> Response {
    n.driver.handle(req).await
}

fn create(name: &str, opts: &[(&str, &str)]) -> Request {
    Request::Create {
        name: name.into(),
        opts: Some(
            opts.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

fn mount(name: &str, id: &str) -> Request {
    Request::Mount {
        name: name.into(),
        id: id.into(),
    }
}

fn unmount(name: &str, id: &str) -> Request {
    Request::Unmount {
        name: name.into(),
        id: id.into(),
    }
}

fn ok(r: Response) -> Response {
    assert!(!matches!(r, Response::Err(_)), "unexpected error: {r:?}");
    r
}

fn err(r: Response) -> String {
    match r {
        Response::Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn diskful(rd: &Value) -> usize {
    rd["resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| {
            !r["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "DISKLESS" || f == "TIE_BREAKER")
        })
        .count()
}

/// True when `node` holds a diskless client copy (not a tie-breaker) of `rd`.
fn diskless_client_on(rd: &Value, node: &str) -> bool {
    rd["resources"].get(node).is_some_and(|r| {
        let f = r["flags"].as_array().unwrap();
        f.iter().any(|f| f == "DISKLESS") && !f.iter().any(|f| f == "TIE_BREAKER")
    })
}

fn rds(sim: &Sim) -> serde_json::Map<String, Value> {
    sim.state()["resource_definitions"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

async fn start() -> (Sim, tempfile::TempDir) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    (sim, tempfile::tempdir().unwrap())
}

#[tokio::test]
async fn create_get_list_with_options() {
    let (sim, tmp) = start().await;
    let a = node(&sim, "n1", tmp.path());
    ok(call(
        &a,
        create("data", &[("size", "1G"), ("replicas", "2"), ("fs", "xfs")]),
    )
    .await);
    let rd = &rds(&sim)["data"];
    assert_eq!(rd["props"]["Aux/is-linstor-docker-volume"], "true");
    assert_eq!(rd["props"]["FileSystem/Type"], "xfs");
    assert_eq!(rd["volumes"][0]["size_kib"], 1 << 20);
    assert_eq!(diskful(rd), 2);

    let Response::Volume(v) = ok(call(
        &a,
        Request::Get {
            name: "data".into(),
        },
    )
    .await) else {
        panic!()
    };
    assert_eq!(v.name, "data");
    assert_eq!(v.mountpoint, "");
    let created = v.created_at.expect("CreatedAt");
    time::OffsetDateTime::parse(&created, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 CreatedAt");
    let st = v.status.unwrap();
    assert_eq!(st["size"], "1 GiB");
    assert_eq!(st["replicas"], 2);
    assert_eq!(st["diskful_nodes"].as_array().unwrap().len(), 2);
    assert_eq!(st["fs"], "xfs");

    let Response::Volumes(vs) = ok(call(&a, Request::List).await) else {
        panic!()
    };
    assert_eq!(vs.len(), 1);
    assert_eq!(vs[0].name, "data");

    ok(call(&a, create("data", &[("size", "5G")])).await);
    assert_eq!(
        rds(&sim)["data"]["volumes"][0]["size_kib"],
        1 << 20,
        "a repeated create is idempotent and keeps the volume"
    );
}

#[tokio::test]
async fn null_opts_get_defaults_and_bad_options_are_refused() {
    let (sim, tmp) = start().await;
    let a = node(&sim, "n1", tmp.path());
    ok(call(
        &a,
        Request::Create {
            name: "implicit".into(),
            opts: None,
        },
    )
    .await);
    let rd = &rds(&sim)["implicit"];
    assert_eq!(rd["volumes"][0]["size_kib"], 100 * 1024);
    assert_eq!(rd["props"]["FileSystem/Type"], "ext4");
    assert_eq!(diskful(rd), 2);

    let e = err(call(&a, create("x1", &[("hosts", "n1")])).await);
    assert!(
        e.contains("unknown option 'hosts'") && e.contains("replicas"),
        "{e}"
    );
    let e = err(call(&a, create("x2", &[("size", "200")])).await);
    assert!(e.contains("did you mean 200M"), "{e}");
    assert!(!rds(&sim).contains_key("x1") && !rds(&sim).contains_key("x2"));
}

#[tokio::test]
async fn config_file_defaults_apply() {
    let (sim, tmp) = start().await;
    let a = node(&sim, "n1", tmp.path());
    std::fs::write(
        a.dir.join("docker-volume.conf"),
        "[global]\nsize = 200M\nreplicas = 3\n",
    )
    .unwrap();
    ok(call(&a, create("fromfile", &[])).await);
    let rd = &rds(&sim)["fromfile"];
    assert_eq!(rd["volumes"][0]["size_kib"], 200 * 1024);
    assert_eq!(diskful(rd), 3);
}

#[tokio::test]
async fn mount_refcount_per_id_survives_a_plugin_restart() {
    let (sim, tmp) = start().await;
    let host = Arc::new(FakeHost::default());
    let a = node_with_host(&sim, "n1", tmp.path(), host.clone());
    ok(call(&a, create("v1", &[("nodes", "n1,n2")])).await);
    let Response::Mountpoint(mp) = ok(call(&a, mount("v1", "A")).await) else {
        panic!()
    };
    let target = a.dir.join("mnt").join("v1");
    assert_eq!(mp, target.join("data").display().to_string());
    assert!(Path::new(&mp).is_dir());
    ok(call(&a, mount("v1", "A")).await);
    ok(call(&a, mount("v1", "B")).await);
    let calls = host.calls();
    assert_eq!(calls.iter().filter(|c| c.starts_with("mkfs")).count(), 1);
    assert_eq!(calls.iter().filter(|c| c.starts_with("mount")).count(), 1);
    assert_eq!(
        call(&a, Request::Path { name: "v1".into() }).await,
        Response::Mountpoint(mp.clone())
    );

    // Restart: a new driver on the same state dir and host; the mount is still there.
    std::fs::write(
        a.dir.join("mounts"),
        format!("/dev/x {} ext4 rw 0 0\n", target.display()),
    )
    .unwrap();
    drop(a);
    let a = node_with_host(&sim, "n1", tmp.path(), host.clone());
    a.driver.reconcile().await.unwrap();
    assert_eq!(
        call(&a, Request::Path { name: "v1".into() }).await,
        Response::Mountpoint(mp.clone())
    );
    ok(call(&a, unmount("v1", "A")).await);
    ok(call(&a, unmount("v1", "B")).await);
    assert!(
        host.mounts().contains_key(&target),
        "one mount of A remains"
    );
    ok(call(&a, unmount("v1", "unknown-id")).await);
    assert!(host.mounts().contains_key(&target));
    ok(call(&a, unmount("v1", "A")).await);
    assert!(
        !host.mounts().contains_key(&target),
        "last Unmount unmounts"
    );
    assert_eq!(
        call(&a, Request::Path { name: "v1".into() }).await,
        Response::Mountpoint(String::new())
    );
    ok(call(&a, unmount("v1", "A")).await);
    let rs = rds(&sim)["v1"]["resources"].as_object().unwrap().clone();
    assert!(rs.contains_key("n1"), "a diskful replica is never detached");
}

#[tokio::test]
async fn reboot_voids_counts() {
    let (sim, tmp) = start().await;
    let host = Arc::new(FakeHost::default());
    let a = node_with_host(&sim, "n3", tmp.path(), host.clone());
    ok(call(&a, create("rb", &[("nodes", "n1 n2")])).await);
    ok(call(&a, mount("rb", "A")).await);
    assert!(diskless_client_on(&rds(&sim)["rb"], "n3"));
    std::fs::write(a.dir.join("boot_id"), "boot-2\n").unwrap();
    drop(a);
    let a = node_with_host(&sim, "n3", tmp.path(), host.clone());
    a.driver.reconcile().await.unwrap();
    assert!(a.driver.state().mounts.is_empty());
    assert!(
        !diskless_client_on(&rds(&sim)["rb"], "n3"),
        "the diskless copy of the previous boot is detached"
    );
}

#[tokio::test]
async fn diskless_attach_on_another_node_and_cross_node_refusal() {
    let (sim, tmp) = start().await;
    let a = node(&sim, "n1", tmp.path());
    let c = node(&sim, "n3", tmp.path());
    ok(call(&a, create("shared", &[("nodes", "n1,n2")])).await);
    ok(call(&a, mount("shared", "A")).await);
    assert!(sim.set_in_use("shared", "n1", true));
    let e = err(call(&c, mount("shared", "C")).await);
    assert!(e.contains("in use on node n1"), "{e}");
    let e = err(call(
        &c,
        Request::Remove {
            name: "shared".into(),
        },
    )
    .await);
    assert!(e.contains("mounted on node n1"), "{e}");
    let e = err(call(
        &a,
        Request::Remove {
            name: "shared".into(),
        },
    )
    .await);
    assert!(e.contains("mounted on this node"), "{e}");
    ok(call(&a, unmount("shared", "A")).await);
    assert!(sim.set_in_use("shared", "n1", false));

    ok(call(&c, mount("shared", "C")).await);
    assert!(
        diskless_client_on(&rds(&sim)["shared"], "n3"),
        "diskless attach on n3"
    );
    let Response::Volume(v) = ok(call(
        &c,
        Request::Get {
            name: "shared".into(),
        },
    )
    .await) else {
        panic!()
    };
    assert_eq!(v.status.unwrap()["this_node"], "n3: diskless");
    ok(call(&c, unmount("shared", "C")).await);
    assert!(
        !diskless_client_on(&rds(&sim)["shared"], "n3"),
        "the diskless copy goes with the last unmount (a tie-breaker may stay)"
    );
    ok(call(
        &c,
        Request::Remove {
            name: "shared".into(),
        },
    )
    .await);
    assert!(!rds(&sim).contains_key("shared"));
    ok(call(
        &c,
        Request::Remove {
            name: "shared".into(),
        },
    )
    .await);
}

#[tokio::test]
async fn invalid_docker_names_are_mapped() {
    let (sim, tmp) = start().await;
    let a = node(&sim, "n1", tmp.path());
    let anon = "5f3c0b9a2d1e4f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a";
    for name in ["my.vol", anon, "1st"] {
        ok(call(&a, create(name, &[])).await);
        let Response::Volume(v) = ok(call(&a, Request::Get { name: name.into() }).await) else {
            panic!()
        };
        assert_eq!(v.name, name);
        ok(call(&a, mount(name, "A")).await);
        ok(call(&a, unmount(name, "A")).await);
    }
    let Response::Volumes(vs) = ok(call(&a, Request::List).await) else {
        panic!()
    };
    let mut names: Vec<_> = vs.iter().map(|v| v.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["1st", anon, "my.vol"]);
    assert!(
        rds(&sim).keys().all(|k| k.starts_with("dv-")),
        "{:?}",
        rds(&sim).keys()
    );
    // LINSTOR names are case-insensitive: "Data" cannot take the RD of "data".
    ok(call(&a, create("data", &[])).await);
    let e = err(call(
        &a,
        Request::Get {
            name: "DATA".into(),
        },
    )
    .await);
    assert!(e.contains("no such volume"), "{e}");
    let e = err(call(&a, create("DATA", &[])).await);
    assert!(e.contains("already holds Docker volume 'data'"), "{e}");
    for name in ["my.vol", anon, "1st", "data"] {
        ok(call(&a, Request::Remove { name: name.into() }).await);
    }
    assert!(rds(&sim).is_empty());
}

#[tokio::test]
async fn foreign_volumes_are_invisible_and_untouched() {
    let (sim, tmp) = start().await;
    let a = node(&sim, "n1", tmp.path());
    let client = a.driver.storage().client().clone();
    client
        .resource_definition_create(&linstor_common::api::ResourceDefinitionCreate {
            resource_definition: linstor_common::api::ResourceDefinition {
                name: "pm-12345678".into(),
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
    let Response::Volumes(vs) = ok(call(&a, Request::List).await) else {
        panic!()
    };
    assert!(vs.is_empty());
    let e = err(call(
        &a,
        Request::Get {
            name: "pm-12345678".into(),
        },
    )
    .await);
    assert!(e.contains("not managed by Docker"), "{e}");
    let e = err(call(
        &a,
        Request::Remove {
            name: "pm-12345678".into(),
        },
    )
    .await);
    assert!(e.contains("not managed"), "{e}");
    let e = err(call(&a, create("pm-12345678", &[])).await);
    assert!(e.contains("not managed"), "{e}");
    assert!(rds(&sim).contains_key("pm-12345678"));
}

#[tokio::test]
async fn controller_outage_is_not_reported_as_not_found() {
    let (sim, tmp) = start().await;
    let a = node(&sim, "n1", tmp.path());
    ok(call(&a, create("keep", &[])).await);
    ok(call(
        &a,
        Request::Get {
            name: "keep".into(),
        },
    )
    .await);
    ok(call(&a, mount("keep", "A")).await);
    sim.set_down(true);
    let Response::Volume(v) = ok(call(
        &a,
        Request::Get {
            name: "keep".into(),
        },
    )
    .await) else {
        panic!()
    };
    assert!(v.status.unwrap()["warning"]
        .as_str()
        .unwrap()
        .contains("unreachable"));
    assert!(!v.mountpoint.is_empty());
    let Response::Volumes(vs) = ok(call(&a, Request::List).await) else {
        panic!()
    };
    assert_eq!(vs.len(), 1);
    let e = err(call(
        &a,
        Request::Get {
            name: "never-seen".into(),
        },
    )
    .await);
    assert!(e.contains("no LINSTOR controller reachable"), "{e}");
    ok(call(&a, unmount("keep", "A")).await);
    sim.set_down(false);
}

#[tokio::test]
async fn http_surface_on_a_unix_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (sim, tmp) = start().await;
    let a = node(&sim, "n1", tmp.path());
    let sock = tmp.path().join("linstor.sock");
    let listener = linstor_docker_volume::server::bind(&sock).unwrap();
    let driver = Arc::new(a.driver);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let srv = tokio::spawn(linstor_docker_volume::server::serve(
        listener,
        driver,
        async move {
            let _ = rx.await;
        },
    ));
    async fn post(sock: &Path, path: &str, body: &str) -> (u16, Value) {
        let mut s = tokio::net::UnixStream::connect(sock).await.unwrap();
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: plugin.moby.localhost\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let status: u16 = out[9..12].parse().unwrap();
        let (_, json) = out.split_once("\r\n\r\n").unwrap();
        (status, serde_json::from_str(json).unwrap())
    }
    assert_eq!(
        post(&sock, "/Plugin.Activate", "").await,
        (200, serde_json::json!({"Implements": ["VolumeDriver"]}))
    );
    assert_eq!(
        post(&sock, "/VolumeDriver.Capabilities", "{}\n").await,
        (
            200,
            serde_json::json!({"Capabilities": {"Scope": "global"}})
        )
    );
    let (st, v) = post(
        &sock,
        "/VolumeDriver.Create",
        "{\"Name\":\"web\",\"Opts\":null}\n",
    )
    .await;
    assert_eq!((st, v["Err"].as_str()), (200, Some("")));
    let (_, v) = post(&sock, "/VolumeDriver.Get", "{\"Name\":\"web\"}\n").await;
    assert_eq!(v["Volume"]["Name"], "web");
    assert!(v["Volume"]["CreatedAt"].as_str().unwrap().contains('T'));
    let (_, v) = post(&sock, "/VolumeDriver.List", "{}\n").await;
    assert_eq!(v["Volumes"][0]["Name"], "web");
    let (_, v) = post(
        &sock,
        "/VolumeDriver.Mount",
        "{\"Name\":\"web\",\"ID\":\"abc\"}",
    )
    .await;
    assert!(
        v["Mountpoint"].as_str().unwrap().ends_with("/web/data"),
        "{v}"
    );
    let (st, v) = post(&sock, "/VolumeDriver.Get", "{\"Name\":").await;
    assert_eq!(st, 500);
    assert!(
        v["Err"].as_str().unwrap().contains("not a JSON object"),
        "{v}"
    );
    let (st, v) = post(&sock, "/VolumeDriver.Get", "{\"Name\":\"nope\"}").await;
    assert_eq!(st, 500);
    assert_eq!(v["Err"], "no such volume 'nope'");
    assert!(matches!(
        linstor_docker_volume::server::bind(&sock),
        Err(linstor_docker_volume::server::SocketError::InUse(_))
    ));
    let _ = tx.send(());
    srv.await.unwrap();
    drop(sim);
}

#[tokio::test]
async fn round_trips_of_mount_and_list() {
    let (sim, tmp) = start().await;
    let a = node(&sim, "n1", tmp.path());
    let c = node(&sim, "n3", tmp.path());
    ok(call(&a, create("rt", &[("nodes", "n1,n2")])).await);

    sim.reset_stats();
    ok(call(&a, mount("rt", "A")).await);
    assert_eq!(
        sim.request_count(),
        2,
        "Mount where a replica is: the definition and its resources: {:?}",
        sim.stats()
    );

    sim.reset_stats();
    ok(call(&c, mount("rt", "C")).await);
    assert_eq!(
        sim.request_count(),
        3,
        "Mount with no copy here: the definition, its resources, make-available: {:?}",
        sim.stats()
    );
    assert!(diskless_client_on(&rds(&sim)["rt"], "n3"));

    sim.reset_stats();
    let names = |r: Response| match r {
        Response::Volumes(v) => v.into_iter().map(|v| v.name).collect::<Vec<_>>(),
        other => panic!("not a list: {other:?}"),
    };
    assert_eq!(names(ok(call(&c, Request::List).await)), ["rt"]);
    assert_eq!(
        sim.request_count(),
        1,
        "a cold cache lists definitions of ours"
    );
    sim.reset_stats();
    assert_eq!(names(ok(call(&c, Request::List).await)), ["rt"]);
    assert_eq!(sim.request_count(), 0, "List from a fresh cache");

    ok(call(&c, create("rt2", &[("nodes", "n1,n2")])).await);
    sim.reset_stats();
    assert_eq!(names(ok(call(&c, Request::List).await)), ["rt", "rt2"]);
    assert_eq!(
        sim.request_count(),
        0,
        "a Create of this daemon shows at once"
    );

    ok(call(&c, Request::Remove { name: "rt2".into() }).await);
    sim.reset_stats();
    assert_eq!(names(ok(call(&c, Request::List).await)), ["rt"]);
    assert_eq!(
        sim.request_count(),
        0,
        "a Remove of this daemon shows at once"
    );

    let fresh = node(&sim, "n2", tmp.path());
    assert_eq!(names(ok(call(&fresh, Request::List).await)), ["rt"]);
    ok(call(&a, create("rt3", &[("nodes", "n1,n2")])).await);
    sim.reset_stats();
    assert_eq!(
        names(ok(call(&fresh, Request::List).await)),
        ["rt"],
        "within the bound, List answers from the cache"
    );
    assert_eq!(sim.request_count(), 0);
    fresh.driver.refresh_volumes(None).await.unwrap();
    assert_eq!(names(ok(call(&fresh, Request::List).await)), ["rt", "rt3"]);
}
