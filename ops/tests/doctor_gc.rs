//! `linstor-plugins doctor` and `gc` run as the operator runs them, against the LINSTOR
//! controller simulator: a healthy setup is all green; each field failure (unreachable
//! controller, wrong node name, missing resource group, DRBD 8, missing udev links) is reported
//! with its fix; gc finds only what the platform owns and removes it only with `--apply`.

use std::path::PathBuf;
use std::sync::Arc;

use linstor_common::api::{Props, ResourceDefinition, ResourceDefinitionCreate};
use linstor_common::config::{ClientConfig, ControllerUrl};
use linstor_common::host::RealHost;
use linstor_common::naming::{docker, Platform};
use linstor_common::volume::{CreateSpec, Storage, StorageConfig};
use linstor_common::Client;
use linstor_tests::sim::{Backing, Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_linstor-plugins");

struct Env {
    sim: Sim,
    dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        let sim = Sim::start(SimConfig {
            backing: Backing::File,
            ..Default::default()
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("drbd9"),
            "version: 9.2.8 (api:2/proto:86-122)\nGIT-hash: 0 build by root@b, 2024-01-01\nTransports (api:18): tcp (9.2.8)\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("drbd8"),
            "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 8F7ECA0D9E0A2A4C8A9F8C1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("docker-volume.conf"),
            format!("[global]\ncontrollers = {}\nfs = ext4\n", sim.url()),
        )
        .unwrap();
        Env { sim, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn client(&self) -> Client {
        Client::new(ClientConfig {
            controllers: vec![ControllerUrl::parse(&self.sim.url()).unwrap()],
            ..Default::default()
        })
        .unwrap()
    }

    fn storage(&self, node: &str) -> Storage {
        let mut cfg = StorageConfig::new(Platform::Docker, node);
        cfg.dev_root = self.sim.dev_root(node);
        Storage::new(cfg, self.client(), Arc::new(RealHost))
    }

    async fn docker_volume(&self, name: &str) {
        let mut props = Props::new();
        props.insert(docker::MARKER_PROP.into(), "true".into());
        self.storage("n1")
            .create(&CreateSpec {
                name: name.into(),
                size_kib: 64 * 1024,
                props,
                ..Default::default()
            })
            .await
            .unwrap();
    }

    /// Doctor for the Docker plugin with the healthy defaults, plus `extra` arguments.
    async fn doctor(&self, extra: &[&str]) -> (bool, String) {
        let mut args: Vec<String> = vec![
            "doctor".into(),
            "--platform".into(),
            "docker".into(),
            "--config".into(),
            self.path("docker-volume.conf").display().to_string(),
            "--dev-root".into(),
            self.sim.dev_root("n1").display().to_string(),
            "--timeout".into(),
            "3".into(),
        ];
        if !extra.contains(&"--node") {
            args.push("--node".into());
            args.push("n1".into());
        }
        if !extra.contains(&"--proc-drbd") {
            args.push("--proc-drbd".into());
            args.push(self.path("drbd9").display().to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        run(&args).await
    }
}

async fn run(args: &[String]) -> (bool, String) {
    let out = tokio::process::Command::new(BIN)
        .args(args)
        .env_remove("LS_CONTROLLERS")
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
}

/// The block of a check: its line plus the indented fix lines after it.
fn block(out: &str, prefix: &str) -> String {
    let mut lines = out.lines().skip_while(|l| !l.starts_with(prefix));
    let mut s = lines
        .next()
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
        .to_string();
    for l in lines.take_while(|l| l.starts_with("       ")) {
        s.push('\n');
        s.push_str(l);
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_setup_is_all_green() {
    let env = Env::start().await;
    env.docker_volume("vol1").await;
    env.docker_volume("vol2").await;
    let (ok, out) = env.doctor(&[]).await;
    assert!(ok, "doctor failed on a healthy setup:\n{out}");
    assert!(!out.contains("[FAIL]") && !out.contains("[SKIP]"), "{out}");
    for prefix in [
        "[ OK ] configuration",
        &format!("[ OK ] controller {}", env.sim.url()),
        "[ OK ] node 'n1'",
        "[ OK ] resource group 'DfltRscGrp'",
        "[ OK ] DRBD kernel module: DRBD 9.2.8",
        "[ OK ] udev links",
    ] {
        line(&out, prefix);
    }
    let links = line(&out, "[ OK ] udev links");
    assert!(
        !links.contains(": 0 volume"),
        "no link was checked: {links}"
    );
    assert!(out.contains("0 failed"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_node_name_is_reported_with_fix() {
    let env = Env::start().await;
    let (ok, out) = env.doctor(&["--node", "n1.example.com"]).await;
    assert!(!ok, "{out}");
    let b = block(&out, "[FAIL] node 'n1.example.com'");
    assert!(b.contains("knows n1"), "similar node not suggested: {b}");
    assert!(b.contains("linstor node list"), "{b}");
    assert!(b.contains("linstor node create n1.example.com"), "{b}");
    line(&out, "[ OK ] resource group");
    line(&out, "[SKIP] udev links");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_resource_group_is_reported_with_fix() {
    let env = Env::start().await;
    let (ok, out) = env.doctor(&["--resource-group", "NoSuchGrp"]).await;
    assert!(!ok, "{out}");
    let b = block(&out, "[FAIL] resource group 'NoSuchGrp'");
    assert!(b.contains("existing: DfltRscGrp"), "{b}");
    assert!(b.contains("linstor resource-group create NoSuchGrp"), "{b}");
    assert!(b.contains("docker-volume.conf"), "{b}");
    line(&out, "[ OK ] node 'n1'");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_configuration_the_plugin_refuses_is_a_failure_with_its_reason() {
    let env = Env::start().await;
    let (ok, out) = env.doctor(&["--controllers", "ftp://ctrl"]).await;
    assert!(!ok, "{out}");
    let b = block(&out, "[FAIL] client configuration");
    assert!(b.contains("the plugin would refuse it"), "{b}");
    assert!(b.contains("unknown scheme 'ftp://'"), "{b}");
    assert!(b.contains("linstor+ssl://host"), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_controller_is_reported_each_on_its_own() {
    let env = Env::start().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = format!("http://127.0.0.1:{closed}");
    let both = format!("{dead},{}", env.sim.url());
    let (ok, out) = env.doctor(&["--controllers", &both]).await;
    assert!(!ok, "{out}");
    let b = block(&out, &format!("[FAIL] controller {dead}"));
    assert!(b.contains("not reachable"), "{b}");
    assert!(b.contains("systemctl status linstor-controller"), "{b}");
    line(&out, &format!("[ OK ] controller {}", env.sim.url()));
    line(&out, "[ OK ] node 'n1'");

    let (ok, out) = env.doctor(&["--controllers", &dead]).await;
    assert!(!ok, "{out}");
    line(&out, &format!("[FAIL] controller {dead}"));
    line(&out, "[SKIP] node 'n1'");
    line(&out, "[SKIP] resource group");
    line(&out, "[ OK ] DRBD kernel module");

    env.sim.set_down(true);
    let (ok, out) = env.doctor(&[]).await;
    assert!(!ok, "{out}");
    line(&out, &format!("[FAIL] controller {}", env.sim.url()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drbd8_module_is_reported_with_fix() {
    let env = Env::start().await;
    let drbd8 = env.path("drbd8").display().to_string();
    let (ok, out) = env.doctor(&["--proc-drbd", &drbd8]).await;
    assert!(!ok, "{out}");
    let b = block(&out, "[FAIL] DRBD kernel module");
    assert!(b.contains("8.4.11"), "{b}");
    assert!(b.contains("in-tree DRBD 8"), "{b}");
    assert!(b.contains("drbd-dkms"), "{b}");
    assert!(b.contains("rmmod drbd && modprobe drbd"), "{b}");

    let missing = env.path("no-proc-drbd").display().to_string();
    let (ok, out) = env.doctor(&["--proc-drbd", &missing]).await;
    assert!(!ok, "{out}");
    let b = block(&out, "[FAIL] DRBD kernel module");
    assert!(b.contains("no DRBD module is loaded"), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_by_res_link_is_reported_with_fix() {
    let env = Env::start().await;
    env.docker_volume("vol1").await;
    let dev = env.sim.dev_root("n1");
    let link = dev.join("drbd/by-res/vol1/0");
    let on_n1 = std::fs::symlink_metadata(&link).is_ok();
    if !on_n1 {
        let (_, out) = env.doctor(&[]).await;
        panic!("the simulator placed no replica of vol1 on n1; cannot test by-res links:\n{out}");
    }
    std::fs::remove_file(&link).unwrap();
    let (ok, out) = env.doctor(&[]).await;
    assert!(!ok, "{out}");
    let b = block(&out, "[FAIL] udev links");
    assert!(b.contains(&link.display().to_string()), "{b}");
    assert!(b.contains("udevadm trigger"), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmox_storage_cfg_drives_the_checks() {
    let env = Env::start().await;
    let host = env.sim.url().trim_start_matches("http://").to_string();
    let cfg = env.path("storage.cfg");
    std::fs::write(
        &cfg,
        format!("dir: local\n\tpath /var/lib/vz\n\ndrbd: drbdstorage\n\tcontent images,rootdir\n\tcontroller {host}\n\tresourcegroup DfltRscGrp\n"),
    )
    .unwrap();
    let args: Vec<String> = [
        "doctor",
        "--platform",
        "proxmox",
        "--config",
        &cfg.display().to_string(),
        "--node",
        "n2",
        "--proc-drbd",
        &env.path("drbd9").display().to_string(),
        "--dev-root",
        &env.sim.dev_root("n2").display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (ok, out) = run(&args).await;
    assert!(ok, "{out}");
    assert!(
        line(&out, "[ OK ] configuration").contains("drbd storage 'drbdstorage'"),
        "{out}"
    );
    line(
        &out,
        "[ OK ] resource group 'DfltRscGrp' (resourcegroup of storage 'drbdstorage')",
    );

    std::fs::write(&cfg, format!("drbd: drbdstorage\n\tcontroller {host}\n")).unwrap();
    let (ok, out) = run(&args).await;
    assert!(!ok, "{out}");
    let b = block(&out, "[FAIL] configuration");
    assert!(b.contains("pvesm set drbdstorage --resourcegroup"), "{b}");
}

fn names(defs: &[ResourceDefinition]) -> Vec<String> {
    let mut v: Vec<String> = defs.iter().map(|d| d.name.clone()).collect();
    v.sort();
    v
}

async fn rd_create(client: &Client, name: &str, props: &[(&str, &str)]) {
    let mut rd = ResourceDefinition {
        name: name.into(),
        ..Default::default()
    };
    for (k, v) in props {
        rd.props.insert((*k).into(), (*v).into());
    }
    client
        .resource_definition_create(&ResourceDefinitionCreate {
            resource_definition: rd,
            ..Default::default()
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_lists_then_removes_only_owned_leftovers() {
    let env = Env::start().await;
    let client = env.client();
    env.docker_volume("keep1").await;
    rd_create(&client, "halfmade", &[(docker::MARKER_PROP, "true")]).await;
    rd_create(&client, "foreign", &[]).await;
    rd_create(&client, "pm-0badf00d", &[("Aux/pm/vmid", "100")]).await;
    let vol = env.storage("n1").get("keep1").await.unwrap().unwrap();
    let spare = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| !vol.diskful_nodes().contains(n))
        .expect("a node without a replica");
    env.storage(spare).attach("keep1", spare).await.unwrap();
    assert!(env.sim.set_in_use("keep1", spare, false));
    let before = names(&client.resource_definitions(&[]).await.unwrap());

    let gc = |apply: bool| {
        let mut a: Vec<String> = ["gc", "--platform", "docker", "--controllers"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.push(env.sim.url());
        if apply {
            a.push("--apply".into());
        }
        a
    };
    let (ok, out) = run(&gc(false)).await;
    assert!(ok, "{out}");
    assert!(
        line(&out, "half-created volume halfmade").contains("would remove"),
        "{out}"
    );
    assert!(
        line(
            &out,
            &format!("orphan diskless resource keep1 on node {spare}")
        )
        .contains("would remove"),
        "{out}"
    );
    assert!(
        !out.contains("foreign") && !out.contains("pm-0badf00d"),
        "{out}"
    );
    line(&out, "2 finding(s); run again with --apply");
    assert_eq!(
        names(&client.resource_definitions(&[]).await.unwrap()),
        before
    );

    let (ok, out) = run(&gc(true)).await;
    assert!(ok, "{out}");
    line(&out, "2 finding(s) removed");
    assert_eq!(
        names(&client.resource_definitions(&[]).await.unwrap()),
        ["foreign", "keep1", "pm-0badf00d"]
    );
    let after = env.storage("n1").get("keep1").await.unwrap().unwrap();
    assert_eq!(after.diskful_nodes(), vol.diskful_nodes());
    assert!(
        after
            .replicas
            .iter()
            .filter(|r| r.node == spare)
            .all(|r| r.tiebreaker),
        "the diskless copy on {spare} is still there (only a tie-breaker may stay): {:?}",
        after.replicas
    );

    let (ok, out) = run(&gc(false)).await;
    assert!(ok, "{out}");
    line(&out, "nothing to collect");
}
