//! The shared storage semantics against the simulator: round trips per operation, concurrency,
//! crash safety, migration, ownership, controller-VM exclusion and control-plane outage.

use std::sync::Arc;
use std::time::{Duration, Instant};

use linstor_common::api::Props;
use linstor_common::config::{ClientConfig, ControllerUrl};
use linstor_common::host::FakeHost;
use linstor_common::naming::{proxmox, Platform};
use linstor_common::volume::{
    CreateOutcome, CreateSpec, Storage, StorageConfig, TwoPrimaries, ALLOW_TWO_PRIMARIES,
    CREATED_PROP, INCOMPLETE_MARKER,
};
use linstor_common::{Client, Error};
use linstor_tests::sim::{FailKind, Fault, Sim, SimConfig};
use serde_json::Value;

struct Env {
    sim: Sim,
    cache: tempfile::TempDir,
}

async fn env(nodes: &[&str]) -> Env {
    env_version(nodes, linstor_tests::sim::core::DEFAULT_VERSION).await
}

/// A simulator emulating controller `version`.
async fn env_version(nodes: &[&str], version: &str) -> Env {
    let sim = Sim::start(SimConfig {
        nodes: nodes.iter().map(|n| n.to_string()).collect(),
        clone_delay: Duration::from_millis(50),
        version: version.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    Env {
        sim,
        cache: tempfile::tempdir().unwrap(),
    }
}

impl Env {
    fn storage(&self, node: &str) -> Storage {
        self.storage_with(node, |_| {})
    }

    fn storage_with(&self, node: &str, tweak: impl FnOnce(&mut StorageConfig)) -> Storage {
        let client = Client::new(ClientConfig {
            controllers: vec![ControllerUrl::parse(&self.sim.url()).unwrap()],
            ..Default::default()
        })
        .unwrap();
        let mut cfg = StorageConfig::new(Platform::Proxmox, node);
        cfg.dev_root = self.sim.dev_root(node);
        cfg.cache_dir = Some(self.cache.path().to_path_buf());
        cfg.device_timeout = Duration::from_secs(5);
        cfg.in_use_wait = Duration::from_millis(500);
        cfg.clone_timeout = Duration::from_secs(20);
        tweak(&mut cfg);
        Storage::new(cfg, client, Arc::new(FakeHost::default()))
    }

    fn rd_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.sim.state()["resource_definitions"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    fn rd_state(&self, rd: &str) -> Value {
        let state = self.sim.state();
        state["resource_definitions"]
            .as_object()
            .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(rd)))
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null)
    }

    /// (node, flags) of every resource of an RD.
    fn resources(&self, rd: &str) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = self.rd_state(rd)["resources"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(node, r)| {
                        let flags = r["flags"]
                            .as_array()
                            .map(|f| {
                                f.iter()
                                    .filter_map(|x| x.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (node.clone(), flags)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    fn diskful_nodes(&self, rd: &str) -> Vec<String> {
        self.resources(rd)
            .into_iter()
            .filter(|(_, f)| !f.iter().any(|x| x == "DISKLESS" || x == "DRBD_DISKLESS"))
            .map(|(n, _)| n)
            .collect()
    }

    /// A node without a disk of `rd`, preferring one without any resource of it.
    fn spare_node(&self, rd: &str) -> String {
        let res = self.resources(rd);
        let names: Vec<String> = self.sim.state()["nodes"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let diskful = self.diskful_nodes(rd);
        names
            .iter()
            .find(|n| !res.iter().any(|(r, _)| r == *n))
            .or_else(|| names.iter().find(|n| !diskful.contains(n)))
            .cloned()
            .expect("a node without a disk")
    }

    fn rd_props(&self, rd: &str) -> serde_json::Map<String, Value> {
        self.rd_state(rd)["props"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }
}

fn pm_spec(name: &str, vmid: &str) -> CreateSpec {
    let mut props = Props::new();
    props.insert(proxmox::VMID_PROP.into(), vmid.into());
    CreateSpec {
        name: name.into(),
        size_kib: 1024 * 1024,
        props,
        ..Default::default()
    }
}

#[tokio::test]
async fn sim_state_shape_is_what_these_tests_read() {
    let e = env(&["n1", "n2", "n3"]).await;
    let s = e.storage("n1");
    s.create(&pm_spec("pm-0000aaaa", "100")).await.unwrap();
    assert_eq!(e.rd_names(), vec!["pm-0000aaaa".to_string()]);
    assert_eq!(e.diskful_nodes("pm-0000aaaa").len(), 2);
    assert_eq!(
        e.rd_props("pm-0000aaaa")
            .get("Aux/pm/vmid")
            .and_then(Value::as_str),
        Some("100")
    );
}

#[tokio::test]
async fn round_trips_per_operation() {
    let e = env(&["n1", "n2", "n3"]).await;
    let s = e.storage("n1");

    e.sim.reset_stats();
    s.create(&pm_spec("pm-0000aaab", "100")).await.unwrap();
    assert_eq!(
        e.sim.request_count(),
        1,
        "create is one spawn: {:?}",
        e.sim.stats()
    );

    let on = e.diskful_nodes("pm-0000aaab");
    let local = e.storage(&on[0]);
    e.sim.reset_stats();
    let path = local.attach("pm-0000aaab", &on[0]).await.unwrap();
    assert_eq!(
        e.sim.request_count(),
        1,
        "attach when present: {:?}",
        e.sim.stats()
    );
    assert!(path.ends_with("drbd/by-res/pm-0000aaab/0"));

    let cap = s.capacity(None, Duration::from_secs(60)).await.unwrap();
    assert!(cap.total_kib > 0 && cap.free_kib > 0);
    e.sim.reset_stats();
    let again = s.capacity(None, Duration::from_secs(60)).await.unwrap();
    assert_eq!(e.sim.request_count(), 0, "capacity from a fresh cache");
    assert_eq!(again, cap);
    let other = e.storage("n2");
    other.capacity(None, Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        e.sim.request_count(),
        0,
        "the cache is per cluster and group, not per node"
    );

    e.sim.reset_stats();
    let n = s.list().await.unwrap().len();
    assert_eq!(n, 1);
    assert_eq!(
        e.sim.request_count(),
        2,
        "list is two requests whatever the count"
    );
}

#[tokio::test]
async fn list_reports_what_get_reports() {
    let e = env(&["n1", "n2", "n3", "n4"]).await;
    let s = e.storage("n1");
    s.create(&pm_spec("pm-0000bbb1", "100")).await.unwrap();
    s.create(&pm_spec("pm-0000bbb2", "101")).await.unwrap();
    let spare = e.spare_node("pm-0000bbb2");
    e.storage(&spare)
        .attach("pm-0000bbb2", &spare)
        .await
        .unwrap();

    let listed = s.list().await.unwrap();
    let mut got = Vec::new();
    for name in ["pm-0000bbb1", "pm-0000bbb2"] {
        got.push(s.get(name).await.unwrap().unwrap());
    }
    assert_eq!(listed, got, "the listing decodes the same volumes as get");
    let attached = &listed[1];
    assert_eq!(attached.size_kib, 1024 * 1024);
    assert!(attached.created_ms.is_some());
    assert!(
        attached
            .replicas
            .iter()
            .any(|r| r.node == spare && r.diskless),
        "diskless copy on {spare}: {:?}",
        attached.replicas
    );
    assert!(attached.replicas.iter().any(|r| !r.diskless));
}

#[tokio::test]
async fn clone_grown_and_migration_with_a_read_definition_skip_rereads() {
    const STATUS: &str = "GET /v1/resource-definitions/{rd}/clone/{clone}";
    let e = env(&["n1", "n2", "n3"]).await;
    let s = e.storage("n1");
    s.create(&pm_spec("pm-0000aac0", "100")).await.unwrap();

    let spec = pm_spec("pm-0000aac1", "101");
    let grown = || s.clone_grown("pm-0000aac0", &spec, 2 * 1024 * 1024);
    e.sim.reset_stats();
    assert_eq!(grown().await.unwrap(), CreateOutcome::Created);
    let stats = e.sim.stats();
    let polls = stats.get(STATUS).copied().unwrap_or(0);
    assert!(polls >= 1, "waited for the clone: {stats:?}");
    assert_eq!(
        e.sim.request_count() - polls,
        3,
        "source definition, clone, grow: {stats:?}"
    );
    assert_eq!(
        e.rd_state("pm-0000aac1")["volumes"][0]["size_kib"],
        2 * 1024 * 1024
    );
    assert_eq!(
        grown().await.unwrap(),
        CreateOutcome::Completed,
        "a retry takes its own clone over"
    );
    match s
        .clone_grown("pm-0000aac0", &pm_spec("pm-0000aac1", "999"), 0)
        .await
        .unwrap()
    {
        CreateOutcome::Existing(info) => {
            assert_eq!(info.name, "pm-0000aac1");
            assert_eq!(info.size_kib, 2 * 1024 * 1024, "untouched");
            assert_eq!(e.rd_props("pm-0000aac1")[proxmox::VMID_PROP], "101");
        }
        o => panic!("another clone under the name is reported as existing: {o:?}"),
    }

    let on = e.diskful_nodes("pm-0000aac1");
    let target = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| !on.iter().any(|d| d == n))
        .unwrap();
    let src = e.storage(&on[0]);
    let def = src.lookup("pm-0000aac1").await.unwrap().unwrap();
    e.sim.reset_stats();
    src.owned(&def)
        .unwrap()
        .migrate_begin(&on[0], target, TwoPrimaries::Migration)
        .await
        .unwrap();
    assert_eq!(
        e.sim.request_count(),
        2,
        "allow-two-primaries and make-available: {:?}",
        e.sim.stats()
    );
    assert!(e.resources("pm-0000aac1").iter().any(|(n, _)| n == target));
    assert_eq!(
        e.rd_props("pm-0000aac1")
            .get(ALLOW_TWO_PRIMARIES)
            .and_then(Value::as_str),
        Some("yes")
    );

    let foreign = linstor_common::api::ResourceDefinition {
        name: "foreign-0001".into(),
        ..Default::default()
    };
    e.sim.reset_stats();
    assert!(matches!(src.owned(&foreign), Err(Error::NotOwned { .. })));
    assert_eq!(
        e.sim.request_count(),
        0,
        "a foreign definition is refused as is"
    );
}

#[tokio::test]
async fn bad_input_is_refused_before_any_request() {
    let e = env(&["n1", "n2"]).await;
    let s = e.storage("n1");
    e.sim.reset_stats();
    for (spec, needle) in [
        (pm_spec("1bad", "1"), "starts with '1'"),
        (pm_spec("has.dot", "1"), "contains '.'"),
        (pm_spec(&"x".repeat(49), "1"), "49 characters"),
        (
            CreateSpec {
                size_kib: 2,
                ..pm_spec("pm-0000aaac", "1")
            },
            "4 KiB",
        ),
        (
            CreateSpec {
                props: Props::new(),
                ..pm_spec("foreign-name", "1")
            },
            "ownership",
        ),
    ] {
        let err = s.create(&spec).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    assert!(s.attach("bad name", "n1").await.is_err());
    assert!(s
        .snapshot_create("pm-0000aaac", "9x", Props::new())
        .await
        .is_err());
    assert_eq!(e.sim.request_count(), 0);
}

#[tokio::test]
async fn foreign_volumes_are_refused_and_untouched() {
    let e = env(&["n1", "n2", "n3"]).await;
    spawn_foreign(&e.storage("n1"), "someone-else").await;
    let s = e.storage("n1");
    for err in [
        s.delete("someone-else").await.unwrap_err(),
        s.resize("someone-else", 8192).await.unwrap_err(),
        s.attach("someone-else", "n3")
            .await
            .map(|_| ())
            .unwrap_err(),
        s.snapshot_create("someone-else", "s1", Props::new())
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(err, Error::NotOwned { .. }), "{err:?}");
        assert!(
            err.to_string().contains("not managed by Proxmox VE"),
            "{err}"
        );
    }
    assert!(s.list().await.unwrap().is_empty());
    assert!(s.gc(true, &[]).await.unwrap().is_empty());
    assert_eq!(e.rd_names(), vec!["someone-else".to_string()]);
    assert_eq!(e.diskful_nodes("someone-else").len(), 2);
}

#[tokio::test]
async fn fifty_concurrent_creates_for_one_vm() {
    let e = env(&["n1", "n2", "n3"]).await;
    let s = e.storage("n1");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut spec = pm_spec("", "101");
            spec.size_kib = 4096;
            s.create_unique(spec, proxmox::new_resource_name).await
        }));
    }
    let mut names = Vec::new();
    for t in tasks {
        names.push(t.await.unwrap().unwrap());
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 50);
    assert_eq!(e.rd_names(), names);
    for n in &names {
        assert_eq!(e.diskful_nodes(n).len(), 2, "{n}");
    }
    assert!(s.gc(false, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn resize_grows_and_refuses_shrink() {
    let e = env(&["n1", "n2"]).await;
    let s = e.storage("n1");
    s.create(&pm_spec("pm-0000aaad", "100")).await.unwrap();
    s.resize("pm-0000aaad", 2 * 1024 * 1024).await.unwrap();
    s.resize("pm-0000aaad", 2 * 1024 * 1024).await.unwrap();
    let err = s.resize("pm-0000aaad", 1024).await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)));
    assert!(err.to_string().contains("can only grow"), "{err}");
    assert_eq!(
        s.get("pm-0000aaad").await.unwrap().unwrap().size_kib,
        2 * 1024 * 1024
    );
}

/// Two snapshots `s1` then `s2` of a new volume `rd`.
async fn two_snapshots(s: &Storage, rd: &str) {
    s.create(&pm_spec(rd, "100")).await.unwrap();
    for n in ["s1", "s2"] {
        s.snapshot_create(rd, n, Props::new()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn rollback_to_an_older_snapshot_follows_the_controller_version() {
    let e = env_version(&["n1", "n2", "n3"], "1.34.0").await;
    let s = e.storage("n1");
    two_snapshots(&s, "pm-0000bbb1").await;
    assert!(s
        .snapshot_rollback_blockers("pm-0000bbb1", "s1")
        .await
        .unwrap()
        .is_empty());
    s.snapshot_rollback("pm-0000bbb1", "s1").await.unwrap();
    assert_eq!(
        s.snapshot_list("pm-0000bbb1").await.unwrap().len(),
        2,
        "rolling back keeps the newer snapshot"
    );

    let e = env_version(&["n1", "n2", "n3"], "1.31.1").await;
    let s = e.storage("n1");
    two_snapshots(&s, "pm-0000bbb2").await;
    let err = s.snapshot_rollback("pm-0000bbb2", "s1").await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)));
    assert!(
        err.to_string()
            .contains("LINSTOR 1.31.1 rolls back only to the newest snapshot")
            && err.to_string().contains("s2"),
        "{err}"
    );
    s.snapshot_rollback("pm-0000bbb2", "s2").await.unwrap();
    let version_reads = || {
        e.sim
            .stats()
            .get("GET /v1/controller/version")
            .copied()
            .unwrap_or(0)
    };
    let before = version_reads();
    assert!(before >= 1);
    s.snapshot_rollback("pm-0000bbb2", "s2").await.unwrap();
    let _ = s.snapshot_rollback("pm-0000bbb2", "s1").await;
    assert_eq!(
        version_reads(),
        before,
        "the version is read once per client"
    );
}

#[tokio::test]
async fn snapshots_rollback_newest_only_restore_and_clone() {
    let e = env_version(&["n1", "n2", "n3"], "1.31.1").await;
    let s = e.storage("n1");
    s.create(&pm_spec("pm-0000aaae", "100")).await.unwrap();
    s.snapshot_create("pm-0000aaae", "s1", Props::new())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    s.snapshot_create("pm-0000aaae", "s2", Props::new())
        .await
        .unwrap();
    let names: Vec<String> = s
        .snapshot_list("pm-0000aaae")
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.name)
        .collect();
    assert_eq!(names, ["s1", "s2"]);
    let err = s.snapshot_rollback("pm-0000aaae", "s1").await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)));
    assert!(
        err.to_string().contains("only to the newest snapshot") && err.to_string().contains("s2"),
        "{err}"
    );
    s.snapshot_rollback("pm-0000aaae", "s2").await.unwrap();
    assert!(matches!(
        s.snapshot_rollback("pm-0000aaae", "nope").await,
        Err(Error::NotFound { .. })
    ));

    s.restore("pm-0000aaae", "s1", &pm_spec("pm-0000aaaf", "102"))
        .await
        .unwrap();
    assert_eq!(e.diskful_nodes("pm-0000aaaf").len(), 2);
    assert_eq!(
        e.rd_props("pm-0000aaaf")
            .get("Aux/pm/vmid")
            .and_then(Value::as_str),
        Some("102")
    );

    s.clone_volume("pm-0000aaae", &pm_spec("pm-0000aab0", "103"))
        .await
        .unwrap();
    let props = e.rd_props("pm-0000aab0");
    assert_eq!(
        props.get("Aux/pm/vmid").and_then(Value::as_str),
        Some("103")
    );
    assert_eq!(e.diskful_nodes("pm-0000aab0").len(), 2);

    let created = |rd: &str| -> i64 {
        e.rd_props(rd)
            .get(CREATED_PROP)
            .and_then(Value::as_str)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{rd} carries {CREATED_PROP}"))
    };
    let source = created("pm-0000aaae");
    assert!(
        created("pm-0000aaaf") > source && created("pm-0000aab0") > created("pm-0000aaaf"),
        "a restore and a clone carry their own creation time, not the source's"
    );
    e.sim.reset_stats();
    let listed = s.list_in_group().await.unwrap();
    assert_eq!(
        e.sim.request_count(),
        1,
        "volumes made here are listed from their definitions"
    );
    let times: Vec<(&str, Option<i64>)> = listed
        .iter()
        .map(|v| (v.name.as_str(), v.created_ms))
        .collect();
    assert_eq!(
        times,
        [
            ("pm-0000aaae", Some(source)),
            ("pm-0000aaaf", Some(created("pm-0000aaaf"))),
            ("pm-0000aab0", Some(created("pm-0000aab0"))),
        ]
    );

    s.delete("pm-0000aaae").await.unwrap();
    s.delete("pm-0000aaae").await.unwrap();
    assert!(!e.rd_names().contains(&"pm-0000aaae".to_string()));
}

/// Inject a failure at one step of an operation, then re-run it: it must converge.
async fn converge<F, Fut>(e: &Env, method: &str, path: &str, execute: bool, op: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = linstor_common::Result<()>>,
{
    e.sim.inject(Fault::FailMatching {
        method: method.into(),
        path_contains: path.into(),
        nth: 1,
        kind: FailKind::Status500,
        execute,
    });
    let first = op().await;
    e.sim.clear_faults();
    if first.is_ok() {
        return;
    }
    match op().await {
        Ok(()) => {}
        // The lost answer belonged to a request that completed the creation: the volume is
        // there and complete (the callers assert that), and a create of an existing name says so.
        Err(Error::AlreadyExists { .. }) if execute => {}
        Err(err) => panic!("re-run after a fault at {method} {path} (executed: {execute}): {err}"),
    }
}

#[tokio::test]
async fn crash_safety_create_attach_clone_delete() {
    let e = env(&["n1", "n2", "n3", "n4"]).await;
    let s = e.storage("n1");
    spawn_foreign(&s, "not-ours").await;
    let mut i = 0u32;
    for execute in [false, true] {
        for (method, path) in [
            ("POST", "/spawn"),
            ("POST", "/make-available"),
            ("POST", "/autoplace"),
            ("PUT", "/v1/resource-definitions/"),
        ] {
            i += 1;
            let name = format!("pm-{i:08x}");
            let spec = CreateSpec {
                local_replica: true,
                ..pm_spec(&name, "200")
            };
            converge(&e, method, path, execute, || async {
                s.create(&spec).await.map(|_| ())
            })
            .await;
            if path != "/make-available" {
                assert!(e.diskful_nodes(&name).contains(&"n1".to_string()), "{name}");
            }
            assert_eq!(e.diskful_nodes(&name).len(), 2, "{name}");
            assert!(!e.rd_props(&name).contains_key(INCOMPLETE_MARKER), "{name}");
        }
        for (method, path) in [
            ("GET", "/resources/NODE"),
            ("GET", "/v1/resource-definitions/"),
            ("POST", "/make-available"),
        ] {
            i += 1;
            let name = format!("pm-{i:08x}");
            s.create(&pm_spec(&name, "201")).await.unwrap();
            let spare = e.spare_node(&name);
            let there = e.storage(&spare);
            let path = path.replace("NODE", &spare);
            converge(&e, method, &path, execute, || async {
                there.attach(&name, &spare).await.map(|_| ())
            })
            .await;
            assert!(wanted_on(&e, &name, &spare));
        }
        for (method, path) in [("POST", "/clone"), ("GET", "/clone/")] {
            i += 1;
            let src = format!("pm-{i:08x}");
            s.create(&pm_spec(&src, "202")).await.unwrap();
            i += 1;
            let dst = format!("pm-{i:08x}");
            let spec = pm_spec(&dst, "203");
            converge(&e, method, path, execute, || async {
                s.clone_volume(&src, &spec).await.map(|_| ())
            })
            .await;
            assert_eq!(e.diskful_nodes(&dst).len(), 2);
        }
        for (method, path) in [
            ("GET", "/snapshots"),
            ("DELETE", "/snapshots/"),
            ("DELETE", "/v1/resource-definitions/"),
        ] {
            i += 1;
            let name = format!("pm-{i:08x}");
            s.create(&pm_spec(&name, "204")).await.unwrap();
            s.snapshot_create(&name, "snap", Props::new())
                .await
                .unwrap();
            converge(&e, method, path, execute, || async {
                s.delete(&name).await
            })
            .await;
            assert!(!e.rd_names().contains(&name));
        }
    }
    let report = s.gc(false, &[]).await.unwrap();
    assert!(report.half_created.is_empty(), "{report:?}");
    assert!(e.rd_names().contains(&"not-ours".to_string()));
    assert_eq!(e.diskful_nodes("not-ours").len(), 2);
}

/// A volume `name` of someone else, spawned in LINSTOR without the frontend's properties.
async fn spawn_foreign(s: &Storage, name: &str) {
    s.client()
        .spawn(
            "DfltRscGrp",
            &linstor_common::api::ResourceGroupSpawn {
                resource_definition_name: name.into(),
                volume_sizes: vec![4096],
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn gc_finds_half_created_and_orphan_diskless_only() {
    let e = env(&["n1", "n2", "n3", "n4"]).await;
    let s = e.storage("n1");
    spawn_foreign(&s, "not-ours").await;
    let mut props = Props::new();
    props.insert(proxmox::VMID_PROP.into(), "300".into());
    s.client()
        .spawn(
            "DfltRscGrp",
            &linstor_common::api::ResourceGroupSpawn {
                resource_definition_name: "pm-0000dead".into(),
                volume_sizes: vec![4096],
                definitions_only: true,
                resource_definition_props: props,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.create(&pm_spec("pm-0000beef", "301")).await.unwrap();
    let spare = e.spare_node("pm-0000beef");
    e.storage(&spare)
        .attach("pm-0000beef", &spare)
        .await
        .unwrap();
    e.storage("n3").attach("not-ours", "n3").await.unwrap_err();

    let report = s.gc(false, &[]).await.unwrap();
    assert_eq!(report.half_created, ["pm-0000dead"]);
    assert_eq!(
        report.orphan_diskless,
        [("pm-0000beef".to_string(), spare.clone())]
    );
    let kept = s
        .gc(false, &[("pm-0000beef".to_string(), spare.clone())])
        .await
        .unwrap();
    assert!(kept.orphan_diskless.is_empty());

    s.gc(true, &[]).await.unwrap();
    assert!(!e.rd_names().contains(&"pm-0000dead".to_string()));
    assert!(!wanted_on(&e, "pm-0000beef", &spare));
    assert_eq!(e.diskful_nodes("pm-0000beef").len(), 2);
    assert_eq!(e.diskful_nodes("not-ours").len(), 2);
    assert!(s.gc(false, &[]).await.unwrap().is_empty());
}

fn wanted_on(e: &Env, rd: &str, node: &str) -> bool {
    e.resources(rd)
        .iter()
        .any(|(n, f)| n == node && !f.iter().any(|x| x == "TIE_BREAKER"))
}

#[tokio::test]
async fn live_migration_commit_and_abort() {
    let e = env(&["n1", "n2", "n3", "n4"]).await;
    let s = e.storage("n1");
    s.create(&pm_spec("pm-0000c0de", "400")).await.unwrap();
    let diskful = e.diskful_nodes("pm-0000c0de");
    let mut spare = ["n1", "n2", "n3", "n4"]
        .into_iter()
        .filter(|n| !diskful.iter().any(|d| d == n));
    let (src, dst) = (spare.next().unwrap(), spare.next().unwrap());

    let on_src = e.storage(src);
    on_src.attach("pm-0000c0de", src).await.unwrap();
    e.sim.set_in_use("pm-0000c0de", src, true);

    let on_dst = e.storage(dst);
    on_dst
        .volume("pm-0000c0de")
        .await
        .unwrap()
        .unwrap()
        .migrate_begin(src, dst, TwoPrimaries::Migration)
        .await
        .unwrap();
    assert!(
        wanted_on(&e, "pm-0000c0de", dst),
        "diskless appears on the target"
    );
    assert_eq!(
        e.rd_props("pm-0000c0de")
            .get(ALLOW_TWO_PRIMARIES)
            .and_then(Value::as_str),
        Some("yes")
    );
    e.sim.set_in_use("pm-0000c0de", dst, true);
    e.sim.set_in_use("pm-0000c0de", src, false);
    on_dst
        .migrate_commit("pm-0000c0de", src, dst)
        .await
        .unwrap();
    assert!(
        !wanted_on(&e, "pm-0000c0de", src),
        "source diskless removed"
    );
    assert!(wanted_on(&e, "pm-0000c0de", dst));
    assert!(!e.rd_props("pm-0000c0de").contains_key(ALLOW_TWO_PRIMARIES));
    assert_eq!(e.diskful_nodes("pm-0000c0de"), diskful);

    on_src
        .volume("pm-0000c0de")
        .await
        .unwrap()
        .unwrap()
        .migrate_begin(dst, src, TwoPrimaries::Migration)
        .await
        .unwrap();
    assert!(wanted_on(&e, "pm-0000c0de", src));
    on_src.migrate_abort("pm-0000c0de", dst, src).await.unwrap();
    assert!(
        !wanted_on(&e, "pm-0000c0de", src),
        "target diskless removed after abort"
    );
    assert!(wanted_on(&e, "pm-0000c0de", dst));
    assert!(!e.rd_props("pm-0000c0de").contains_key(ALLOW_TWO_PRIMARIES));
    assert_eq!(e.diskful_nodes("pm-0000c0de"), diskful);

    let on_diskful = e.storage(&diskful[0]);
    on_diskful.detach("pm-0000c0de", &diskful[0]).await.unwrap();
    assert_eq!(
        e.diskful_nodes("pm-0000c0de"),
        diskful,
        "diskful replicas are never removed"
    );

    on_src
        .volume("pm-0000c0de")
        .await
        .unwrap()
        .unwrap()
        .migrate_begin(dst, src, TwoPrimaries::Permanent)
        .await
        .unwrap();
    assert!(!e.rd_props("pm-0000c0de").contains_key(ALLOW_TWO_PRIMARIES));
}

#[tokio::test]
async fn detach_waits_for_the_primary_and_refuses_when_it_stays() {
    let e = env(&["n1", "n2", "n3"]).await;
    let s = e.storage("n1");
    s.create(&pm_spec("pm-0000f00d", "500")).await.unwrap();
    let diskful = e.diskful_nodes("pm-0000f00d");
    let spare = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| !diskful.iter().any(|d| d == n))
        .unwrap();
    let st = e.storage(spare);
    st.attach("pm-0000f00d", spare).await.unwrap();
    e.sim.set_in_use("pm-0000f00d", spare, true);
    let err = st.detach("pm-0000f00d", spare).await.unwrap_err();
    assert!(matches!(err, Error::InUse { .. }), "{err:?}");
    assert!(wanted_on(&e, "pm-0000f00d", spare));
}

#[tokio::test]
async fn controller_outage_and_controller_vm() {
    let e = env(&["n1", "n2", "n3"]).await;
    let setup = e.storage("n1");
    let mut spec = pm_spec("vm-100-disk-1", "100");
    spec.local_replica = true;
    setup.create(&spec).await.unwrap();
    setup.create(&pm_spec("pm-0000abcd", "555")).await.unwrap();
    setup.attach("pm-0000abcd", "n1").await.unwrap();
    setup.capacity(None, Duration::from_secs(0)).await.unwrap();

    let s = e.storage_with("n1", |c| c.controller_vm = Some("100".into()));
    e.sim.set_down(true);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let t = Instant::now();
    let path = s.activate_local("vm-100-disk-1").await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(path.ends_with("drbd/by-res/vm-100-disk-1/0"));
    s.delete("vm-100-disk-1").await.unwrap();
    s.detach("vm-100-disk-1", "n1").await.unwrap();

    let path = s.activate_local("pm-0000abcd").await.unwrap();
    assert!(path.ends_with("drbd/by-res/pm-0000abcd/0"));

    let cap = s.capacity(None, Duration::from_secs(0)).await.unwrap();
    assert!(cap.stale && cap.total_kib > 0);

    let url = e.sim.url();
    let t = Instant::now();
    for err in [
        s.create(&pm_spec("pm-0000abce", "556"))
            .await
            .map(|_| ())
            .unwrap_err(),
        s.snapshot_create("vm-100-disk-1", "s1", Props::new())
            .await
            .unwrap_err(),
        s.resize("vm-100-disk-1", 4 * 1024 * 1024)
            .await
            .unwrap_err(),
    ] {
        assert!(err.is_controller_unreachable(), "{err:?}");
        assert!(err.to_string().contains(&url), "{err}");
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    e.sim.set_down(false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(e.rd_names().contains(&"vm-100-disk-1".to_string()));
    s.delete("vm-100-disk-1").await.unwrap();
    assert!(
        e.rd_names().contains(&"vm-100-disk-1".to_string()),
        "controller VM volume kept"
    );
}

#[tokio::test]
async fn a_taken_name_is_ours_half_created_or_foreign_as_create_says() {
    let e = env(&["n1", "n2", "n3"]).await;
    let s = e.storage("n1");
    let spec = pm_spec("pm-0000e001", "600");
    assert_eq!(s.create(&spec).await.unwrap(), CreateOutcome::Created);

    let again = s.create(&spec).await.unwrap();
    let CreateOutcome::Existing(info) = &again else {
        panic!("a finished volume of ours is reported as existing: {again:?}");
    };
    assert_eq!(info.name, "pm-0000e001");
    assert_eq!(info.diskful_nodes().len(), 2);
    assert!(info.is_made_from(&spec), "same spec: a retry");
    assert!(matches!(
        again.clone().fresh(&spec.name),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        again.clone().fresh_or_retry_of(&spec),
        Ok(CreateOutcome::Existing(_))
    ));
    let bigger = CreateSpec {
        size_kib: spec.size_kib * 2,
        ..spec.clone()
    };
    assert!(matches!(
        again.clone().fresh_or_retry_of(&bigger),
        Err(Error::AlreadyExists { .. })
    ));
    match s.create(&pm_spec("pm-0000e001", "601")).await.unwrap() {
        CreateOutcome::Existing(other) => assert!(
            !other.is_made_from(&pm_spec("pm-0000e001", "601")),
            "another VM's volume is not a retry of this create"
        ),
        o => panic!("{o:?}"),
    }
    assert_eq!(e.rd_props("pm-0000e001")[proxmox::VMID_PROP], "600");

    spawn_foreign(&s, "pm-0000e002").await;
    let err = s.create(&pm_spec("pm-0000e002", "600")).await.unwrap_err();
    assert!(matches!(err, Error::NotOwned { .. }), "foreign: {err:?}");
    let err = s
        .clone_volume("pm-0000e001", &pm_spec("pm-0000e002", "600"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotOwned { .. }),
        "foreign clone target: {err:?}"
    );
    assert_eq!(e.diskful_nodes("pm-0000e002").len(), 2, "left untouched");
    assert!(!e.rd_props("pm-0000e002").contains_key(proxmox::VMID_PROP));

    let names = std::sync::Mutex::new(vec!["pm-0000e003", "pm-0000e002", "pm-0000e001"]);
    let got = s
        .create_unique(pm_spec("", "602"), || {
            names.lock().unwrap().pop().unwrap().to_string()
        })
        .await
        .unwrap();
    assert_eq!(
        got, "pm-0000e003",
        "taken names, ours or foreign, are skipped"
    );
    assert_eq!(e.rd_props("pm-0000e003")[proxmox::VMID_PROP], "602");
}

#[tokio::test]
async fn controller_vm_rule_wait_unused_and_diskless_copies_here() {
    let e = env(&["n1", "n2", "n3"]).await;
    let s = e.storage_with("n1", |c| c.controller_vm = Some("700".into()));
    assert!(s.is_controller_vm_id("700"));
    assert!(!s.is_controller_vm_id("70") && !s.is_controller_vm_id("7000"));
    assert!(s.is_controller_vm("vm-700-disk-0", None));
    assert!(!s.is_controller_vm("vm-701-disk-0", None));
    assert!(
        !e.storage("n1").is_controller_vm_id("700"),
        "none configured"
    );

    s.create(&pm_spec("pm-0000e100", "701")).await.unwrap();
    let diskful = e.diskful_nodes("pm-0000e100");
    let spare = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| !diskful.iter().any(|d| d == n))
        .unwrap();
    let there = e.storage(spare);
    let vol = there
        .volume_with_resources("pm-0000e100")
        .await
        .unwrap()
        .unwrap();
    assert!(
        vol.on(spare).is_none_or(|r| r.is_tiebreaker()),
        "no usable copy there yet"
    );
    e.sim.reset_stats();
    vol.attach(spare, None).await.unwrap();
    assert_eq!(
        e.sim.request_count(),
        1,
        "make-available only: {:?}",
        e.sim.stats()
    );
    let vol = there
        .volume_with_resources("pm-0000e100")
        .await
        .unwrap()
        .unwrap();
    e.sim.reset_stats();
    vol.attach(spare, None).await.unwrap();
    assert_eq!(
        e.sim.request_count(),
        0,
        "a usable copy is read, not asked for"
    );

    let listed = there.list().await.unwrap();
    let here: Vec<&str> = there
        .diskless_copies_here(&listed)
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(here, vec!["pm-0000e100"]);
    let on_disk = e.storage(&diskful[0]);
    assert!(on_disk.diskless_copies_here(&listed).is_empty());

    e.sim.set_in_use("pm-0000e100", spare, true);
    let info = there.get("pm-0000e100").await.unwrap().unwrap();
    let still = there.wait_unused(info).await.unwrap().unwrap();
    assert_eq!(still.in_use_nodes(), vec![spare], "the wait is bounded");
    e.sim.set_in_use("pm-0000e100", spare, false);
    let info = there.get("pm-0000e100").await.unwrap().unwrap();
    let free = there.wait_unused(info).await.unwrap().unwrap();
    assert!(free.in_use_nodes().is_empty());
}

#[tokio::test]
async fn a_hung_controller_leaves_volumes_present_here_usable_within_the_budget() {
    let e = env(&["n1", "n2", "n3", "n4"]).await;
    let n1 = e.storage("n1");
    let mut spec = pm_spec("pm-0000beef", "700");
    spec.local_replica = true;
    n1.create(&spec).await.unwrap();
    n1.attach("pm-0000beef", "n1").await.unwrap();
    let n3 = e.storage("n3");
    if !e.diskful_nodes("pm-0000beef").contains(&"n3".to_string()) {
        n3.attach("pm-0000beef", "n3").await.unwrap();
    }
    let held = e.resources("pm-0000beef");
    let absent = ["n2", "n4"]
        .into_iter()
        .find(|a| held.iter().all(|(n, _)| n != a))
        .expect("a node without a resource of the volume");
    let elsewhere = e.storage(absent);
    n1.capacity(None, Duration::ZERO).await.unwrap();

    for (what, fault) in [
        (
            "hung",
            Fault::Hang {
                method: None,
                path_contains: None,
                max: Duration::from_secs(60),
            },
        ),
        (
            "blackholed",
            Fault::Blackhole {
                max: Duration::from_secs(60),
            },
        ),
    ] {
        e.sim.inject(fault);
        for (node, s) in [("n1", &n1), ("n3", &n3)] {
            let t = Instant::now();
            let path = s.activate_local("pm-0000beef").await.unwrap();
            let took = t.elapsed();
            println!("activate on {node}, controller {what}: {took:?}");
            assert!(path.ends_with("drbd/by-res/pm-0000beef/0"));
            assert!(took < Duration::from_secs(3), "{what} {node}: {took:?}");
        }
        let t = Instant::now();
        let cap = n1.capacity(None, Duration::ZERO).await.unwrap();
        let took = t.elapsed();
        println!("capacity, controller {what}: {took:?} (from the cache)");
        assert!(cap.stale && cap.total_kib > 0, "{cap:?}");
        assert!(took < Duration::from_secs(3), "{what}: {took:?}");
        let t = Instant::now();
        let err = elsewhere.activate_local("pm-0000beef").await.unwrap_err();
        println!(
            "activate where absent, controller {what}: {:?}: {err}",
            t.elapsed()
        );
        assert!(err.is_controller_unreachable(), "{err:?}");
        assert!(err.to_string().contains(&e.sim.url()), "{err}");
        e.sim.clear_faults();
    }
    assert_eq!(
        e.diskful_nodes("pm-0000beef").len(),
        2,
        "nothing lost: {:?}",
        e.resources("pm-0000beef")
    );
}

#[tokio::test]
async fn capacity_without_size_info_falls_back_to_the_storage_pools_never_zero() {
    let e = env(&["n1", "n2", "n3"]).await;
    let s = e.storage("n1");
    let real = s.capacity(None, Duration::from_secs(0)).await.unwrap();
    assert!(real.total_kib > 0);
    for kind in [
        FailKind::NotImplemented,
        FailKind::OtherJson,
        FailKind::Garbage,
    ] {
        e.sim.inject(Fault::FailMatching {
            method: "POST".into(),
            path_contains: "query-size-info".into(),
            nth: 1,
            kind,
            execute: false,
        });
        let cap = s.capacity(None, Duration::from_secs(0)).await.unwrap();
        println!("{kind:?}: size info {real:?}, storage pools {cap:?}");
        assert!(!cap.stale, "{kind:?}");
        assert!(
            cap.total_kib > 0 && cap.free_kib > 0 && cap.free_kib <= cap.total_kib,
            "{kind:?}: {cap:?}"
        );
    }
}

#[tokio::test]
async fn a_listing_asks_for_what_the_last_one_needed_together_with_the_definitions() {
    let e = env(&["n1", "n2", "n3"]).await;
    let s = e.storage("n1");
    s.create(&pm_spec("pm-0000c001", "100")).await.unwrap();
    let mut props = Props::new();
    props.insert(proxmox::VMID_PROP.into(), "101".into());
    s.client()
        .spawn(
            "DfltRscGrp",
            &linstor_common::api::ResourceGroupSpawn {
                resource_definition_name: "pm-0000c002".into(),
                volume_sizes: vec![4096],
                resource_definition_props: props,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let names = |l: &[linstor_common::volume::ListedVolume]| -> Vec<String> {
        l.iter().map(|v| v.name.clone()).collect()
    };

    e.sim.reset_stats();
    let first = s.list_in_group().await.unwrap();
    assert_eq!(names(&first), ["pm-0000c001", "pm-0000c002"]);
    assert!(
        first[1].created_ms.is_some(),
        "a volume made by LINBIT's plugin gets its first resource's creation time"
    );
    assert_eq!(
        e.sim.request_count(),
        2,
        "the definitions, then the resources of the volume made elsewhere"
    );

    e.sim.inject(Fault::Pause {
        method: "GET".into(),
        path_contains: "/v1/resource-definitions".into(),
        nth: 1,
        after_execute: false,
    });
    e.sim.reset_stats();
    let (second, view_while_held) = tokio::join!(s.list_in_group(), async {
        let mut seen = false;
        for _ in 0..500 {
            if e.sim.paused().is_some() {
                seen = e.sim.stats().contains_key("GET /v1/view/resources");
                if seen {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        e.sim.release_pause(true);
        seen
    });
    assert!(
        view_while_held,
        "the resources were asked for while the definitions were still on their way: {:?}",
        e.sim.stats()
    );
    assert_eq!(second.unwrap(), first);
    assert_eq!(e.sim.request_count(), 2);
    e.sim.clear_faults();
}
