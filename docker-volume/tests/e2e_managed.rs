//! The managed plugin through the real Docker engine (runs only with `LINSTOR_E2E_DOCKER=1`, as
//! root), in a private dockerd of its own (`linstor_tests::dockerd`; the machine's dockerd is
//! never used, and knows the same volume drivers afterwards): `packaging/docker/build-plugin.sh`
//! (with `DOCKER_HOST` pointing at the private engine) builds the plugin directory from this machine's
//! Debian packages and runs `docker plugin create`; the test sets the controller (the simulator
//! over mutual TLS with basic auth, `--backing loop`), the TLS files under `/etc/linstor` and the
//! node name, enables it and uses it as a user does: `docker volume create -d` with options, two
//! containers sharing the volume, the plugin killed and restarted by dockerd with its mount and
//! counts intact, `docker plugin disable` refused while it is in use, disable and enable again
//! with the plugin's state intact, `docker volume rm`, `docker plugin rm`.
//!
//! The simulator's device links live under `/dev/<test dir>/n1` so the plugin, which sees the
//! host's `/dev`, finds `drbd/by-res/<volume>/0` → `/dev/loopN` there (`--dev-root`). Everything
//! the test creates (plugin, volume, containers, loop devices, mounts, directories) is removed.

use std::path::{Path, PathBuf};
use std::process::Command;

use linstor_tests::cmd::{run, run_ok, CmdOutput};
use linstor_tests::dockerd::{machine_volume_drivers, Dockerd};
use linstor_tests::pki::Pki;
use linstor_tests::sim::{Backing, BlockingSim, Sim, SimConfig};
use serde_json::Value;

const IMAGE: &str = "linstor-e2e:latest";
const PLUGIN: &str = "lse2e-managed";
const VOL: &str = "e2emanaged";
const USER: &str = "docker-e2e";
const PASSWORD: &str = "pw-6f1b0c3e9a2d";

fn try_docker(d: &Dockerd, args: &[&str]) -> CmdOutput {
    d.cli(args).expect("docker CLI")
}

fn docker(d: &Dockerd, args: &[&str]) -> String {
    d.cli_ok(args)
}

/// Host mount points below `dir` (not `dir` itself, which dockerd binds), each once (a
/// propagated mount shows up once per peer of the shared mount).
fn mounts_under(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| Path::new(m).starts_with(dir) && Path::new(m) != dir)
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Pid of the plugin's daemon, from runc's state of the plugin container (dockerd runs plugins
/// under `<exec root>/runtime-runc/<plugins namespace>`, named by plugin id).
fn plugin_pid(d: &Dockerd, id: &str) -> Option<u64> {
    let root = d
        .exec_root()
        .join("runtime-runc")
        .join(d.plugins_namespace());
    let out = run("runc", &["--root", root.to_str()?, "state", id]);
    let v: Value = serde_json::from_str(&out.stdout).ok().filter(|_| out.ok)?;
    (v["status"] == "running")
        .then(|| v["pid"].as_u64())
        .flatten()
}

/// Removes what the test created, in reverse order, also after a failed assertion.
struct Cleanup {
    containers: Vec<String>,
    sim: Option<BlockingSim>,
    dev_dir: PathBuf,
    /// Dropped last: stops the private dockerd and removes its directories.
    dockerd: Dockerd,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let d = &self.dockerd;
        for c in &self.containers {
            let _ = d.cli(&["rm", "-f", c]);
        }
        let _ = d.cli(&["volume", "rm", "-f", VOL]);
        if d.cli(&["plugin", "inspect", PLUGIN]).is_ok_and(|o| o.ok) {
            let _ = d.cli(&["plugin", "disable", "-f", PLUGIN]);
            let _ = d.cli(&["plugin", "rm", "-f", PLUGIN]);
        }
        drop(self.sim.take());
        let _ = std::fs::remove_dir_all(&self.dev_dir);
    }
}

#[test]
fn managed_plugin_through_the_engine() {
    if std::env::var("LINSTOR_E2E_DOCKER").as_deref() != Ok("1") {
        eprintln!("skipped: set LINSTOR_E2E_DOCKER=1 to run the managed-plugin test (root, apt-get, loop devices; it installs docker.io and runs a private dockerd)");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    run_ok(
        "bash",
        &[
            repo.join("scripts/ensure-docker.sh").to_str().unwrap(),
            "--install-only",
        ],
    );
    let machine_drivers = machine_volume_drivers();
    let dockerd = Dockerd::start().expect("private dockerd");
    if try_docker(&dockerd, &["plugin", "inspect", PLUGIN]).ok {
        panic!("a plugin '{PLUGIN}' exists already in a new private dockerd");
    }
    let tmp = tempfile::tempdir().unwrap();
    dockerd.import_busybox_image(IMAGE).expect("test image");

    let dev_dir = PathBuf::from(format!("/dev/lse2e-managed-{}", std::process::id()));
    let pki = Pki::new();
    let mut guard = Cleanup {
        containers: Vec::new(),
        sim: None,
        dev_dir: dev_dir.clone(),
        dockerd,
    };
    let sim = guard.sim.insert(
        Sim::start_blocking(SimConfig {
            nodes: vec!["n1".into(), "n2".into(), "n3".into()],
            backing: Backing::Loop,
            pool_size_gib: 2,
            dev_dir: Some(dev_dir.clone()),
            data_dir: Some(tmp.path().join("sim")),
            tls: Some(pki.server(true)),
            basic_auth: Some((USER.into(), PASSWORD.into())),
            ..Default::default()
        })
        .expect("simulator with loop backing (root)"),
    );

    // The plugin directory from Debian packages, and `docker plugin create`.
    let bundle = tmp.path().join("bundle");
    let out = Command::new("bash")
        .arg(repo.join("packaging/docker/build-plugin.sh"))
        .args(["--dir", bundle.to_str().unwrap(), PLUGIN])
        .env("PLUGIN_BIN", env!("CARGO_BIN_EXE_linstor-docker-volume"))
        .env("DOCKER_HOST", guard.dockerd.host())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "build-plugin.sh:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let rootfs = bundle.join("rootfs");
    for tool in [
        "usr/bin/linstor-docker-volume",
        "usr/sbin/blkid",
        "usr/sbin/mkfs.ext4",
        "usr/sbin/mkfs.xfs",
        "usr/bin/mount",
    ] {
        assert!(rootfs.join(tool).is_file(), "{tool} in the rootfs");
    }
    let packages =
        std::fs::read_to_string(rootfs.join("usr/share/doc/linstor-plugin/packages")).unwrap();
    for p in ["e2fsprogs ", "xfsprogs ", "util-linux ", "libc6 "] {
        assert!(packages.contains(p), "{p}in {packages}");
    }
    let info: Value =
        serde_json::from_str(&docker(&guard.dockerd, &["plugin", "inspect", PLUGIN])).unwrap();
    assert_eq!(
        info[0]["Enabled"], false,
        "a created plugin starts disabled"
    );
    let id = info[0]["Id"].as_str().unwrap().to_string();
    let docker_root = docker(&guard.dockerd, &["info", "--format", "{{.DockerRootDir}}"]);
    let propagated = Path::new(docker_root.trim())
        .join("plugins")
        .join(&id)
        .join("propagated-mount");

    // Settings as a user gives them: controllers, TLS files under /etc/linstor, node name.
    let pki_dir = pki.dir().display().to_string();
    let url = sim.url();
    let node_args = format!("args=--node n1 --dev-root {}", dev_dir.join("n1").display());
    docker(
        &guard.dockerd,
        &[
            "plugin",
            "set",
            PLUGIN,
            &format!("LS_CONTROLLERS={url}"),
            "LS_CA_FILE=/etc/linstor/ca.pem",
            "LS_CERT_FILE=/etc/linstor/client.pem",
            "LS_KEY_FILE=/etc/linstor/client.key",
            &format!("LS_USERNAME={USER}"),
            &format!("LS_PASSWORD={PASSWORD}"),
            &format!("etc-linstor.source={pki_dir}"),
            &node_args,
        ],
    );
    docker(
        &guard.dockerd,
        &["plugin", "enable", "--timeout", "120", PLUGIN],
    );

    docker(
        &guard.dockerd,
        &[
            "volume",
            "create",
            "-d",
            PLUGIN,
            "--opt",
            "size=64M",
            "--opt",
            "nodes=n1,n2",
            "--opt",
            "fs=ext4",
            VOL,
        ],
    );
    let rd = &sim.state()["resource_definitions"][VOL];
    assert_eq!(
        rd["props"]["Aux/is-linstor-docker-volume"], "true",
        "created through LINSTOR over mutual TLS with basic auth: {rd}"
    );
    guard.dockerd.run_once(
        &format!("{VOL}:/data"),
        IMAGE,
        &["sh", "-c", "echo hello-managed > /data/hello && sync"],
    );
    let device = std::fs::read_link(dev_dir.join(format!("n1/drbd/by-res/{VOL}/0")))
        .expect("the volume's device on n1");
    let fstype = run(
        "blkid",
        &["-p", "-o", "value", "-s", "TYPE", device.to_str().unwrap()],
    )
    .stdout;
    assert_eq!(fstype.trim(), "ext4", "the plugin made the filesystem");
    assert!(
        mounts_under(&propagated).is_empty(),
        "unmounted after the container ended"
    );

    // Two containers share the mount, which dockerd sees under the propagated mount.
    for c in ["e2em-c1", "e2em-c2"] {
        guard
            .dockerd
            .start_sleeping(c, &format!("{VOL}:/data"), IMAGE);
        guard.containers.push(c.into());
    }
    assert_eq!(
        mounts_under(&propagated),
        [propagated.join(VOL).display().to_string()],
        "mounted once, where dockerd expects it (propagatedMount)"
    );
    let state_file = propagated.join(".state/docker-volume-state.json");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).expect("plugin state");
    let ids = state["mounts"][VOL]["ids"].as_object().unwrap();
    assert_eq!(
        (ids.len(), ids.values().filter(|c| **c == 1).count()),
        (2, 2),
        "one reference per container: {state}"
    );
    assert_eq!(
        docker(&guard.dockerd, &["exec", "e2em-c2", "cat", "/data/hello"]).trim(),
        "hello-managed"
    );
    docker(
        &guard.dockerd,
        &[
            "exec",
            "e2em-c1",
            "sh",
            "-c",
            "echo shared > /data/two && sync",
        ],
    );
    assert_eq!(
        docker(&guard.dockerd, &["exec", "e2em-c2", "cat", "/data/two"]).trim(),
        "shared"
    );

    // The plugin crashes: dockerd starts it again at once, and it finds its mount and counts.
    let first = plugin_pid(&guard.dockerd, &id).expect("the plugin's process");
    run_ok("kill", &["-KILL", &first.to_string()]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let second = loop {
        match plugin_pid(&guard.dockerd, &id) {
            Some(p) if p != first && try_docker(&guard.dockerd, &["volume", "inspect", VOL]).ok => {
                break p
            }
            _ => {}
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dockerd did not restart the plugin"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert_ne!(first, second);
    assert_eq!(
        mounts_under(&propagated),
        [propagated.join(VOL).display().to_string()],
        "the mount survives the plugin's crash"
    );
    let again: Value = serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap())
        .expect("plugin state after the restart");
    assert_eq!(
        again["mounts"][VOL], state["mounts"][VOL],
        "mount counts survive the crash"
    );

    let CmdOutput {
        ok, stderr: err, ..
    } = try_docker(&guard.dockerd, &["plugin", "disable", PLUGIN]);
    assert!(!ok, "disable must be refused while the volume is mounted");
    assert!(err.contains("in use"), "{err}");

    docker(&guard.dockerd, &["rm", "-f", "e2em-c2"]);
    assert_eq!(
        docker(&guard.dockerd, &["exec", "e2em-c1", "cat", "/data/two"]).trim(),
        "shared",
        "one Unmount leaves the other container's mount"
    );
    docker(&guard.dockerd, &["rm", "-f", "e2em-c1"]);
    guard.containers.clear();
    assert!(
        mounts_under(&propagated).is_empty(),
        "last Unmount unmounts"
    );

    let before: Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).expect("plugin state");
    let CmdOutput {
        ok, stderr: err, ..
    } = try_docker(&guard.dockerd, &["plugin", "disable", PLUGIN]);
    if !ok {
        // dockerd counts references per volume it knows, not per mount: an existing, unmounted
        // volume still blocks a plain disable.
        assert!(err.contains("in use"), "{err}");
        eprintln!(
            "dockerd still counts the unmounted volume ({}); disabling with -f",
            err.trim()
        );
        docker(&guard.dockerd, &["plugin", "disable", "-f", PLUGIN]);
    }
    let info: Value =
        serde_json::from_str(&docker(&guard.dockerd, &["plugin", "inspect", PLUGIN])).unwrap();
    assert_eq!(info[0]["Enabled"], false);
    docker(
        &guard.dockerd,
        &["plugin", "enable", "--timeout", "120", PLUGIN],
    );
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap())
        .expect("plugin state after enable");
    assert_eq!(
        before, after,
        "mount counts and volume cache survive disable/enable"
    );

    let ls = docker(
        &guard.dockerd,
        &["volume", "ls", "--format", "{{.Driver}} {{.Name}}"],
    );
    assert!(
        ls.lines().any(|l| l == format!("{PLUGIN}:latest {VOL}")),
        "{ls}"
    );
    let inspect: Value =
        serde_json::from_str(&docker(&guard.dockerd, &["volume", "inspect", VOL])).unwrap();
    assert_eq!(inspect[0]["Status"]["replicas"], 2, "{inspect}");
    assert_eq!(
        docker(
            &guard.dockerd,
            &[
                "run",
                "--rm",
                "-v",
                &format!("{VOL}:/data"),
                IMAGE,
                "cat",
                "/data/hello",
                "/data/two"
            ]
        )
        .split_whitespace()
        .collect::<Vec<_>>(),
        ["hello-managed", "shared"]
    );

    docker(&guard.dockerd, &["volume", "rm", VOL]);
    assert!(
        sim.state()["resource_definitions"]
            .as_object()
            .unwrap()
            .is_empty(),
        "the volume is gone from LINSTOR"
    );
    docker(&guard.dockerd, &["plugin", "disable", PLUGIN]);
    docker(&guard.dockerd, &["plugin", "rm", PLUGIN]);
    assert!(!try_docker(&guard.dockerd, &["plugin", "inspect", PLUGIN]).ok);
    assert!(
        !propagated.exists(),
        "docker plugin rm removed its directory"
    );

    // The private dockerd stops with its directories and containerd, and the machine's dockerd
    // (if one runs) knows the same volume drivers as before.
    let private_dir = guard.dockerd.dir().to_path_buf();
    let private_pid = guard.dockerd.pid().expect("private dockerd running");
    drop(guard);
    assert!(
        !private_dir.exists(),
        "{} left behind",
        private_dir.display()
    );
    assert!(
        !Path::new(&format!("/proc/{private_pid}")).exists(),
        "the private dockerd {private_pid} still runs"
    );
    assert_eq!(
        machine_volume_drivers(),
        machine_drivers,
        "the machine's dockerd volume drivers changed"
    );
}
