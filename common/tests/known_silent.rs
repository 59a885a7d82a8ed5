//! The known-silent memory against the simulator: once a data-plane call found every controller
//! silent, the next ones take the short grace (and still send their request), control-plane
//! calls keep their bounds, an answer clears the mark, and the memory crosses processes through
//! the state dir (a corrupt or foreign file is ignored with a log line).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use linstor_common::api::{Props, ResourceDefinitionModify};
use linstor_common::client::data_plane;
use linstor_common::client::silent::FILE_NAME;
use linstor_common::config::{ClientConfig, ControllerUrl};
use linstor_common::host::FakeHost;
use linstor_common::naming::{proxmox, Platform};
use linstor_common::volume::{CreateSpec, Storage, StorageConfig, DATA_PLANE_BUDGET};
use linstor_common::{Client, Error};
use linstor_tests::faults::{lost, silent_controllers};
use linstor_tests::sim::{Fault, Sim, SimConfig};

const RD: &str = "pm-0000d00d";
const READ: Duration = Duration::from_secs(2);
const MUTATE: Duration = Duration::from_secs(3);

struct Env {
    sim: Sim,
    state: tempfile::TempDir,
}

async fn env() -> Env {
    let sim = Sim::start(SimConfig {
        nodes: ["n1", "n2", "n3"].iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    })
    .await
    .unwrap();
    Env {
        sim,
        state: tempfile::tempdir().unwrap(),
    }
}

impl Env {
    /// A fresh client ("process") for node n1 keeping its state in the shared state dir; the
    /// grace is wider than the default so a loaded machine never misses a healthy answer.
    fn storage(&self) -> Storage {
        self.storage_with_grace(Duration::from_millis(500))
    }

    fn storage_with_grace(&self, silent_grace: Duration) -> Storage {
        let client = Client::new(ClientConfig {
            controllers: vec![ControllerUrl::parse(&self.sim.url()).unwrap()],
            request_timeout: READ,
            mutate_timeout: MUTATE,
            silent_grace,
            state_dir: Some(self.state.path().to_path_buf()),
            ..Default::default()
        })
        .unwrap();
        let mut cfg = StorageConfig::new(Platform::Proxmox, "n1");
        cfg.dev_root = self.sim.dev_root("n1");
        cfg.cache_dir = Some(self.state.path().to_path_buf());
        cfg.device_timeout = Duration::from_secs(5);
        Storage::new(cfg, client, Arc::new(FakeHost::default()))
    }

    fn resource_gets(&self) -> u64 {
        self.sim
            .stats()
            .iter()
            .filter(|(k, _)| k.starts_with("GET ") && k.ends_with("/resources/{node}"))
            .map(|(_, v)| v)
            .sum()
    }

    async fn volume_on_n1(&self) -> Storage {
        let s = self.storage();
        let mut props = Props::new();
        props.insert(proxmox::VMID_PROP.into(), "700".into());
        s.create(&CreateSpec {
            name: RD.into(),
            size_kib: 8192,
            props,
            local_replica: true,
            ..Default::default()
        })
        .await
        .unwrap();
        s.attach(RD, "n1").await.unwrap();
        s
    }
}

/// Log lines written while `f` runs on this thread.
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = Arc::clone(&buf);
    let sub = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || Logs(Arc::clone(&b)))
        .finish();
    (buf, tracing::subscriber::set_default(sub))
}

fn text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

#[tokio::test]
async fn once_the_controller_is_known_silent_the_data_plane_goes_on_after_the_grace() {
    for (what, fault) in silent_controllers() {
        let e = env().await;
        e.volume_on_n1().await;
        let before = e.sim.state();
        e.sim.inject(fault);
        let s = e.storage();

        let t = Instant::now();
        let (first, shortcut) = data_plane(s.activate_local(RD)).await;
        let first_took = t.elapsed();
        assert!(first.unwrap().ends_with(format!("drbd/by-res/{RD}/0")));
        assert!(!shortcut, "{what}: nothing was known yet");
        assert_eq!(
            s.client().known_silent(),
            [e.sim.url()],
            "{what}: the silent controller is remembered"
        );

        let gets = e.resource_gets();
        let t = Instant::now();
        let (second, shortcut) = data_plane(s.attach_unless_silent(RD, "n1")).await;
        let second_took = t.elapsed();
        assert_eq!(
            second.unwrap(),
            None,
            "{what}: went on without the controller"
        );
        assert!(shortcut, "{what}: the known-silent path was taken");
        if what == "hung" {
            assert_eq!(
                e.resource_gets(),
                gets + 1,
                "the request is still sent, so a recovered controller is heard"
            );
        }
        let (third, shortcut) = data_plane(s.activate_local(RD)).await;
        assert!(third.unwrap().ends_with(format!("drbd/by-res/{RD}/0")));
        assert!(shortcut, "{what}: activate took the known-silent path");
        println!(
            "controller {what}: first data-plane call {first_took:?}, next one {second_took:?} (budget {DATA_PLANE_BUDGET:?})"
        );

        // Control-plane calls keep their bounds and name the controller.
        let t = Instant::now();
        let err = s.get(RD).await.unwrap_err();
        assert!(t.elapsed() >= READ, "{what}: a read waits its bound");
        match &err {
            Error::Timeout { tried, seconds, .. } => {
                assert_eq!(tried, &[e.sim.url()], "{err}");
                assert_eq!(*seconds, READ.as_secs_f64(), "{err}");
            }
            other => panic!("{what}: {other:?}"),
        }
        let t = Instant::now();
        let err = s
            .client()
            .resource_definition_modify(RD, &ResourceDefinitionModify::default())
            .await
            .unwrap_err();
        assert!(t.elapsed() >= MUTATE, "{what}: a change waits its bound");
        assert!(
            matches!(&err, Error::Timeout { seconds, .. } if *seconds == MUTATE.as_secs_f64()),
            "{what}: {err:?}"
        );
        assert!(err.to_string().contains(&e.sim.url()), "{err}");

        // Back: the very next data-plane call uses it and clears the mark; nothing lost.
        e.sim.clear_faults();
        let (back, _) = data_plane(s.attach_unless_silent(RD, "n1")).await;
        assert!(back.unwrap().is_some(), "{what}: the controller was used");
        assert!(s.client().known_silent().is_empty(), "{what}: mark cleared");
        assert!(
            !e.state.path().join(FILE_NAME).exists(),
            "{what}: and forgotten on disk"
        );
        let (_, shortcut) = data_plane(s.activate_local(RD)).await;
        assert!(!shortcut, "{what}: no shortcut once it answers");
        assert!(lost(&before, &e.sim.state(), None).is_empty());
    }
}

#[tokio::test]
async fn an_answer_after_the_grace_still_clears_the_mark() {
    let e = env().await;
    e.volume_on_n1().await;
    e.sim.inject(silent_controllers()[0].1.clone());
    let s = e.storage_with_grace(Duration::from_millis(100));
    s.activate_local(RD).await.unwrap();
    assert_eq!(s.client().known_silent(), [e.sim.url()]);
    e.sim.clear_faults();
    e.sim.inject(Fault::Latency(Duration::from_millis(300)));
    let (found, shortcut) = data_plane(s.attach_unless_silent(RD, "n1")).await;
    assert_eq!(found.unwrap(), None, "went on after the grace");
    assert!(shortcut);
    let t = Instant::now();
    while !s.client().known_silent().is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the late answer never cleared the mark"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (found, shortcut) = data_plane(s.attach_unless_silent(RD, "n1")).await;
    assert!(
        found.unwrap().is_some(),
        "the slow controller is waited for again"
    );
    assert!(!shortcut);
    e.sim.clear_faults();
}

/// When the mark of the controller was written, from the state dir.
fn marked_at(e: &Env) -> Option<u64> {
    let text = std::fs::read(e.state.path().join(FILE_NAME)).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v["silent_since_ms"][e.sim.url()].as_u64()
}

#[tokio::test]
async fn the_request_sent_with_the_grace_renews_the_mark_when_its_bound_passes() {
    let e = env().await;
    e.volume_on_n1().await;
    e.sim.inject(silent_controllers()[0].1.clone());
    let s = e.storage_with_grace(Duration::from_millis(100));
    s.activate_local(RD).await.unwrap();
    let first = marked_at(&e).expect("marked in the state dir");
    let (found, shortcut) = data_plane(s.attach_unless_silent(RD, "n1")).await;
    assert_eq!(found.unwrap(), None);
    assert!(shortcut);
    let t = Instant::now();
    while marked_at(&e) == Some(first) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the mark was not renewed when the read bound passed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(marked_at(&e) > Some(first), "renewed, still silent");
    assert_eq!(s.client().known_silent(), [e.sim.url()]);
    e.sim.clear_faults();
}

#[tokio::test]
async fn the_memory_crosses_processes_and_a_bad_file_is_ignored_with_a_log_line() {
    let e = env().await;
    e.volume_on_n1().await;
    e.sim.inject(silent_controllers()[0].1.clone());
    let first = e.storage();
    first.activate_local(RD).await.unwrap();
    assert_eq!(first.client().known_silent(), [e.sim.url()]);

    let next = e.storage();
    assert_eq!(
        next.client().known_silent(),
        [e.sim.url()],
        "read at start from the state dir"
    );
    let (path, shortcut) = data_plane(next.activate_local(RD)).await;
    assert!(path.unwrap().ends_with(format!("drbd/by-res/{RD}/0")));
    assert!(shortcut, "the next process goes on after the grace");

    let file = e.state.path().join(FILE_NAME);
    let foreign = format!(
        r#"{{"format":"another tool","silent_since_ms":{{"{}":{}}}}}"#,
        e.sim.url(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    for bad in [b"{\"silent\": tru".to_vec(), foreign.into_bytes()] {
        std::fs::write(&file, &bad).unwrap();
        let (logs, guard) = capture_logs();
        let s = e.storage();
        drop(guard);
        assert!(s.client().known_silent().is_empty(), "ignored");
        let logs = text(&logs);
        assert!(
            logs.contains("ignoring the known-silent controllers") && logs.contains(FILE_NAME),
            "one log line naming the file: {logs}"
        );
    }
    e.sim.clear_faults();
}

#[tokio::test]
async fn one_answering_controller_means_no_shortcut() {
    let e = env().await;
    e.volume_on_n1().await;
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = format!("http://{}", dead.local_addr().unwrap());
    let client = Client::new(ClientConfig {
        controllers: vec![
            ControllerUrl::parse(&silent).unwrap(),
            ControllerUrl::parse(&e.sim.url()).unwrap(),
        ],
        request_timeout: READ,
        ..Default::default()
    })
    .unwrap();
    let mut cfg = StorageConfig::new(Platform::Proxmox, "n1");
    cfg.dev_root = e.sim.dev_root("n1");
    let s = Storage::new(cfg, client, Arc::new(FakeHost::default()));
    let (found, shortcut) = data_plane(s.attach_unless_silent(RD, "n1")).await;
    assert_eq!(
        found.unwrap(),
        None,
        "the silent first controller took the budget"
    );
    assert!(!shortcut);
    assert_eq!(s.client().known_silent(), vec![silent.clone()]);
    for _ in 0..2 {
        let (found, shortcut) = data_plane(s.attach_unless_silent(RD, "n1")).await;
        assert!(
            found.unwrap().is_some(),
            "answered by the second controller"
        );
        assert!(!shortcut, "one controller answers: no shortcut");
    }
    assert_eq!(s.client().known_silent(), vec![silent.clone()]);
    drop(dead);
}
