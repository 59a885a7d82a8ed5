//! End to end with the real Docker engine (runs only with `LINSTOR_E2E_DOCKER=1`, as root):
//! installs docker.io through `scripts/ensure-docker.sh --install-only`, starts a private dockerd
//! of its own (`linstor_tests::dockerd`: own data root, exec root and socket; the machine's
//! dockerd is never used), imports a busybox image into it, starts `linstor-sim --backing loop`
//! and two plugin instances standing in for nodes n1 and n3.
//!
//! With the simulator stopped (SIGSTOP, a hung controller), a container on the volume, which has
//! its disk on n1, starts and reads its data, and `docker volume ls`/`inspect` answer; once it
//! continues, `docker volume rm` leaves nothing behind.
//!
//! One dockerd binds a volume name to one driver, so the instance for node n1 is the driver
//! `lse2e1` used through the Docker CLI, and the instance for node n3 (driver `lse2e3`, its own
//! socket, state and mount root) is called on its socket the way dockerd calls it; its
//! mountpoint is then given to a container as a bind mount. The simulator binary comes from
//! `LINSTOR_SIM_BIN` or is built with `cargo build -p linstor-tests --bin linstor-sim` into the
//! target directory of this test.
//!
//! dockerd keeps every legacy volume driver it has called in memory and asks each of them on every
//! `docker volume ls` (15 s of retries for a driver whose socket is gone), and only a restart
//! makes it forget one. So the test registers its drivers only with its private dockerd, which it
//! stops and removes at the end, and checks that the machine's dockerd (when one runs) knows the
//! same volume drivers as before the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use linstor_tests::cmd::{run, run_ok};
use linstor_tests::docker_plugin;
use linstor_tests::dockerd::{machine_volume_drivers, Dockerd};
use serde_json::Value;

const IMAGE: &str = "linstor-e2e:latest";
const VOL: &str = "e2edata";
const DRIVER_A: &str = "lse2e1";
const DRIVER_B: &str = "lse2e3";

fn docker(d: &Dockerd, args: &[&str]) -> String {
    d.cli_ok(args)
}

struct Plugin {
    child: Child,
    args: Vec<String>,
    socket: PathBuf,
}

impl Plugin {
    fn start(bin: &Path, args: Vec<String>, socket: PathBuf) -> Self {
        let child = Command::new(bin)
            .args(&args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start plugin");
        assert!(
            docker_plugin::socket_opens(&socket, Duration::from_secs(10)),
            "plugin socket did not appear"
        );
        Plugin {
            child,
            args,
            socket,
        }
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    fn call(&self, method: &str, body: &str) -> Value {
        docker_plugin::post(
            &self.socket,
            &format!("/{method}"),
            body,
            Duration::from_secs(120),
        )
        .unwrap()
        .body
    }
}

struct Env {
    sim: Option<Child>,
    plugins: Vec<Plugin>,
    containers: Vec<String>,
    tmp: tempfile::TempDir,
    /// Dropped last, after the containers, volume and plugin daemons are gone.
    dockerd: Dockerd,
}

impl Drop for Env {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = self.dockerd.cli(&["rm", "-f", c]);
        }
        let _ = self.dockerd.cli(&["volume", "rm", "-f", VOL]);
        for p in &mut self.plugins {
            p.stop();
        }
        if let Some(mut sim) = self.sim.take() {
            let _ = Command::new("kill")
                .args(["-CONT", &sim.id().to_string()])
                .status();
            let _ = Command::new("kill")
                .args(["-TERM", &sim.id().to_string()])
                .status();
            let _ = sim.wait();
        }
        let mnt = self.tmp.path().join("mnt");
        if let Ok(text) = std::fs::read_to_string("/proc/self/mounts") {
            for line in text.lines() {
                if let Some(m) = line.split_whitespace().nth(1) {
                    if Path::new(m).starts_with(&mnt) {
                        let _ = run("umount", &["-l", m]);
                    }
                }
            }
        }
    }
}

fn sim_binary(plugin_bin: &Path) -> PathBuf {
    if let Ok(p) = std::env::var("LINSTOR_SIM_BIN") {
        return PathBuf::from(p);
    }
    let dir = plugin_bin.parent().unwrap();
    let sim = dir.join("linstor-sim");
    if !sim.exists() {
        let target = dir.parent().unwrap();
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "linstor-tests", "--bin", "linstor-sim"])
            .env("CARGO_TARGET_DIR", target)
            .status()
            .expect("cargo build linstor-sim");
        assert!(status.success());
    }
    sim
}

fn sim_state(url: &str) -> Value {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /sim/state HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (_, body) = out.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

#[test]
fn docker_end_to_end() {
    if std::env::var("LINSTOR_E2E_DOCKER").as_deref() != Ok("1") {
        eprintln!("skipped: set LINSTOR_E2E_DOCKER=1 to run the Docker end-to-end test (root, apt-get, loop devices; it installs docker.io and runs a private dockerd)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ensure-docker.sh");
    run_ok("bash", &[script.to_str().unwrap(), "--install-only"]);
    let machine_drivers = machine_volume_drivers();
    let plugin_bin = PathBuf::from(env!("CARGO_BIN_EXE_linstor-docker-volume"));
    let sim_bin = sim_binary(&plugin_bin);
    let tmp = tempfile::tempdir().unwrap();
    let dockerd = Dockerd::start().expect("private dockerd");
    dockerd.import_busybox_image(IMAGE).expect("test image");

    let mut sim = Command::new(&sim_bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--nodes",
            "n1,n2,n3",
            "--backing",
            "loop",
            "--pool-size-gib",
            "2",
        ])
        .arg("--dev-dir")
        .arg(tmp.path().join("dev"))
        .arg("--data-dir")
        .arg(tmp.path().join("simdata"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start linstor-sim");
    let mut first = String::new();
    let mut out = BufReader::new(sim.stdout.take().unwrap());
    out.read_line(&mut first).unwrap();
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected simulator banner: {first}"))
        .to_string();
    let mut env = Env {
        sim: Some(sim),
        plugins: Vec::new(),
        containers: Vec::new(),
        tmp,
        dockerd,
    };
    let t = env.tmp.path().to_path_buf();
    let plugin_args = |driver: &str, node: &str| -> (Vec<String>, PathBuf) {
        let socket = PathBuf::from(format!("/run/docker/plugins/{driver}.sock"));
        let args = vec![
            "--socket".into(),
            socket.display().to_string(),
            "--controllers".into(),
            url.clone(),
            "--node".into(),
            node.into(),
            "--state-dir".into(),
            t.join(node).join("state").display().to_string(),
            "--mount-root".into(),
            t.join("mnt").join(node).display().to_string(),
            "--dev-root".into(),
            t.join("dev").join(node).display().to_string(),
            "--config".into(),
            t.join("none.conf").display().to_string(),
        ];
        (args, socket)
    };
    let (args_a, sock_a) = plugin_args(DRIVER_A, "n1");
    env.plugins.push(Plugin::start(&plugin_bin, args_a, sock_a));
    let (args_b, sock_b) = plugin_args(DRIVER_B, "n3");
    env.plugins.push(Plugin::start(&plugin_bin, args_b, sock_b));

    // Create with options; a container writes a file and is removed.
    docker(
        &env.dockerd,
        &[
            "volume",
            "create",
            "-d",
            DRIVER_A,
            "--opt",
            "size=64M",
            "--opt",
            "nodes=n1,n2",
            "--opt",
            "fs=ext4",
            VOL,
        ],
    );
    env.dockerd.run_once(
        &format!("{VOL}:/data"),
        IMAGE,
        &["sh", "-c", "echo hello-linstor > /data/hello && sync"],
    );

    // ls and inspect.
    let ls = docker(
        &env.dockerd,
        &["volume", "ls", "--format", "{{.Driver}} {{.Name}}"],
    );
    assert!(ls.lines().any(|l| l == format!("{DRIVER_A} {VOL}")), "{ls}");
    let inspect: Value =
        serde_json::from_str(&docker(&env.dockerd, &["volume", "inspect", VOL])).unwrap();
    let v = &inspect[0];
    assert_eq!(v["Driver"], DRIVER_A);
    assert_eq!(v["Scope"], "global");
    assert!(!v["CreatedAt"].as_str().unwrap().starts_with("0001"), "{v}");
    assert_eq!(v["Status"]["replicas"], 2, "{v}");
    assert_eq!(v["Status"]["size"], "64 MiB", "{v}");

    // dockerd restart: nothing is lost.
    env.dockerd.restart().unwrap();
    let inspect: Value =
        serde_json::from_str(&docker(&env.dockerd, &["volume", "inspect", VOL])).unwrap();
    assert_eq!(inspect[0]["Driver"], DRIVER_A);

    // Two containers on one node share the volume; the plugin restarts in between.
    for c in ["e2e-c1", "e2e-c2"] {
        env.dockerd
            .start_sleeping(c, &format!("{VOL}:/data"), IMAGE);
        env.containers.push(c.into());
    }
    assert_eq!(
        docker(&env.dockerd, &["exec", "e2e-c2", "cat", "/data/hello"]).trim(),
        "hello-linstor"
    );
    docker(
        &env.dockerd,
        &[
            "exec",
            "e2e-c1",
            "sh",
            "-c",
            "echo shared > /data/two && sync",
        ],
    );
    assert_eq!(
        docker(&env.dockerd, &["exec", "e2e-c2", "cat", "/data/two"]).trim(),
        "shared"
    );

    let a = env.plugins.remove(0);
    let (args, socket) = (a.args.clone(), a.socket.clone());
    let mut a = a;
    a.stop();
    env.plugins
        .insert(0, Plugin::start(&plugin_bin, args, socket));
    docker(&env.dockerd, &["rm", "-f", "e2e-c2"]);
    assert_eq!(
        docker(&env.dockerd, &["exec", "e2e-c1", "cat", "/data/two"]).trim(),
        "shared",
        "the mount of the other container survives a plugin restart and one Unmount"
    );

    // Node n3 is refused while n1 uses the volume, naming n1.
    let b = &env.plugins[1];
    let mount_b = format!("{{\"Name\":\"{VOL}\",\"ID\":\"{}\"}}", "b".repeat(64));
    let r = b.call("VolumeDriver.Mount", &mount_b);
    assert!(
        r["Err"]
            .as_str()
            .unwrap_or_default()
            .contains("in use on node n1"),
        "{r}"
    );

    docker(&env.dockerd, &["rm", "-f", "e2e-c1"]);
    env.containers.clear();

    // Node n3 serves the same volume (diskless) to a container that reads the file back.
    let r = b.call("VolumeDriver.Mount", &mount_b);
    let mp = r["Mountpoint"].as_str().unwrap_or_default().to_string();
    assert!(!mp.is_empty(), "{r}");
    let st = sim_state(&url);
    let n3 = &st["resource_definitions"][VOL]["resources"]["n3"];
    assert!(
        n3["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "DISKLESS"),
        "diskless on n3: {n3}"
    );
    let got = env
        .dockerd
        .run_once(&format!("{mp}:/data"), IMAGE, &["cat", "/data/hello"]);
    assert_eq!(got.trim(), "hello-linstor");
    let r = b.call("VolumeDriver.Unmount", &mount_b);
    assert_eq!(r["Err"], "", "{r}");

    // The controller hung (SIGSTOP: connections are accepted, nothing answers): a container on
    // the volume, which has its disk on n1, starts and reads its data; ls and inspect answer.
    let sim_pid = env.sim.as_ref().map(Child::id).unwrap().to_string();
    let run_on_volume = || {
        let t0 = Instant::now();
        let got = env
            .dockerd
            .run_once(&format!("{VOL}:/data"), IMAGE, &["cat", "/data/hello"]);
        assert_eq!(
            got.trim(),
            "hello-linstor",
            "the container reads the volume"
        );
        t0.elapsed()
    };
    let healthy_took = run_on_volume();
    run_ok("kill", &["-STOP", &sim_pid]);
    let run_took = run_on_volume();
    let run_again_took = run_on_volume();
    let t0 = Instant::now();
    let ls = docker(
        &env.dockerd,
        &["volume", "ls", "--format", "{{.Driver}} {{.Name}}"],
    );
    let ls_took = t0.elapsed();
    assert!(ls.lines().any(|l| l == format!("{DRIVER_A} {VOL}")), "{ls}");
    let t0 = Instant::now();
    let inspect: Value =
        serde_json::from_str(&docker(&env.dockerd, &["volume", "inspect", VOL])).unwrap();
    let inspect_took = t0.elapsed();
    assert_eq!(inspect[0]["Name"], VOL, "{inspect}");
    assert_eq!(inspect[0]["Driver"], DRIVER_A, "{inspect}");
    println!(
        "docker run with the controller healthy {healthy_took:?}; controller hung: docker run {run_took:?}, again (controller known silent) {run_again_took:?}, docker volume ls {ls_took:?}, docker volume inspect {inspect_took:?}"
    );
    run_ok("kill", &["-CONT", &sim_pid]);

    // Remove leaves nothing in the simulator.
    docker(&env.dockerd, &["volume", "rm", VOL]);
    let st = sim_state(&url);
    assert!(
        st["resource_definitions"].as_object().unwrap().is_empty(),
        "{}",
        st["resource_definitions"]
    );

    // The private dockerd is gone with its directories, no socket of the test drivers is left,
    // and the machine's dockerd (if one runs) knows the same volume drivers as before: it never
    // saw the test drivers (otherwise every `docker volume ls` there waits for dead sockets).
    let sockets: Vec<PathBuf> = env.plugins.iter().map(|p| p.socket.clone()).collect();
    let private_dir = env.dockerd.dir().to_path_buf();
    let private_pid = env.dockerd.pid().expect("private dockerd running");
    drop(env);
    for s in &sockets {
        assert!(!s.exists(), "{} left behind", s.display());
    }
    assert!(
        !private_dir.exists(),
        "{} left behind",
        private_dir.display()
    );
    assert!(
        !Path::new(&format!("/proc/{private_pid}")).exists(),
        "the private dockerd {private_pid} still runs"
    );
    let drivers = machine_volume_drivers();
    assert_eq!(
        drivers, machine_drivers,
        "the machine's dockerd volume drivers changed"
    );
    let drivers = drivers.unwrap_or_default();
    assert!(
        !drivers.iter().any(|d| d == DRIVER_A || d == DRIVER_B),
        "the machine's dockerd knows a test driver: {drivers:?}"
    );
    if machine_drivers.is_some() {
        let ls = run_ok("docker", &["volume", "ls", "--format", "{{.Driver}}"]);
        assert!(!ls.lines().any(|d| d == DRIVER_A || d == DRIVER_B), "{ls}");
    }
}
