//! End to end with the real Docker engine (runs only with `LINSTOR_E2E_DOCKER=1`, as root):
//! installs/starts dockerd through `scripts/ensure-docker.sh`, imports a busybox image, starts
//! `linstor-sim --backing loop` and two plugin instances standing in for nodes n1 and n2.
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
//! makes it forget one. So the test leaves dockerd as it found it: it removes its volume, stops its
//! daemons (which remove their sockets) and restarts dockerd when it still knows `lse2e1` or
//! `lse2e3`, then checks that it does not.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const IMAGE: &str = "linstor-e2e:latest";
const VOL: &str = "e2edata";
const DRIVER_A: &str = "lse2e1";
const DRIVER_B: &str = "lse2e3";

fn sh(cmd: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn must(cmd: &str, args: &[&str]) -> String {
    let (ok, out, err) = sh(cmd, args);
    assert!(ok, "{cmd} {args:?} failed:\n{out}\n{err}");
    out
}

fn docker(args: &[&str]) -> String {
    must("docker", args)
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
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "plugin socket did not appear");
            std::thread::sleep(Duration::from_millis(50));
        }
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
        let mut s = UnixStream::connect(&self.socket).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        write!(
            s,
            "POST /{method} HTTP/1.1\r\nHost: plugin.moby.localhost\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (_, json) = out.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(json).unwrap()
    }
}

struct Env {
    sim: Option<Child>,
    plugins: Vec<Plugin>,
    containers: Vec<String>,
    tmp: tempfile::TempDir,
    script: PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = sh("docker", &["rm", "-f", c]);
        }
        let _ = sh("docker", &["volume", "rm", "-f", VOL]);
        for p in &mut self.plugins {
            p.stop();
        }
        if let Some(mut sim) = self.sim.take() {
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
                        let _ = sh("umount", &["-l", m]);
                    }
                }
            }
        }
        if let Err(e) = forget_test_drivers(&self.script) {
            eprintln!("cleanup: {e}");
        }
    }
}

/// Volume drivers dockerd holds in memory (`docker info`, Plugins.Volume).
fn known_drivers() -> Vec<String> {
    let (_, out, _) = sh("docker", &["info", "--format", "{{json .Plugins.Volume}}"]);
    serde_json::from_str(out.trim()).unwrap_or_default()
}

/// Restarts dockerd when it still knows a driver of this test (its sockets are gone by now).
fn forget_test_drivers(script: &Path) -> Result<(), String> {
    if known_drivers()
        .iter()
        .any(|d| d == DRIVER_A || d == DRIVER_B)
    {
        restart_dockerd(script)?;
    }
    Ok(())
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

fn build_image(tmp: &Path) {
    if sh("docker", &["image", "inspect", IMAGE]).0 {
        return;
    }
    let root = tmp.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static");
    for tool in ["sh", "cat", "echo", "sleep", "ls", "sync", "test"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(tool)).unwrap();
    }
    let tar = tmp.join("rootfs.tar");
    must(
        "tar",
        &[
            "-C",
            root.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ],
    );
    docker(&["import", tar.to_str().unwrap(), IMAGE]);
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

fn restart_dockerd(script: &Path) -> Result<(), String> {
    let (_, pids, _) = sh("pidof", &["dockerd"]);
    for pid in pids.split_whitespace() {
        let (ok, _, err) = sh("kill", &["-TERM", pid]);
        if !ok {
            return Err(format!("kill dockerd {pid}: {err}"));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{pid}")).exists() {
            if Instant::now() > deadline {
                return Err(format!("dockerd {pid} did not stop within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let (ok, out, err) = sh("bash", &[script.to_str().unwrap()]);
    if ok {
        Ok(())
    } else {
        Err(format!("{} failed:\n{out}\n{err}", script.display()))
    }
}

#[test]
fn docker_end_to_end() {
    if std::env::var("LINSTOR_E2E_DOCKER").as_deref() != Ok("1") {
        eprintln!("skipped: set LINSTOR_E2E_DOCKER=1 to run the Docker end-to-end test (root, apt-get, loop devices; it installs and starts docker.io)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ensure-docker.sh");
    must("bash", &[script.to_str().unwrap()]);
    let plugin_bin = PathBuf::from(env!("CARGO_BIN_EXE_linstor-docker-volume"));
    let sim_bin = sim_binary(&plugin_bin);
    let tmp = tempfile::tempdir().unwrap();
    build_image(tmp.path());

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
        script: script.clone(),
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
    docker(&[
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
    ]);
    docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{VOL}:/data"),
        IMAGE,
        "sh",
        "-c",
        "echo hello-linstor > /data/hello && sync",
    ]);

    // ls and inspect.
    let ls = docker(&["volume", "ls", "--format", "{{.Driver}} {{.Name}}"]);
    assert!(ls.lines().any(|l| l == format!("{DRIVER_A} {VOL}")), "{ls}");
    let inspect: Value = serde_json::from_str(&docker(&["volume", "inspect", VOL])).unwrap();
    let v = &inspect[0];
    assert_eq!(v["Driver"], DRIVER_A);
    assert_eq!(v["Scope"], "global");
    assert!(!v["CreatedAt"].as_str().unwrap().starts_with("0001"), "{v}");
    assert_eq!(v["Status"]["replicas"], 2, "{v}");
    assert_eq!(v["Status"]["size"], "64 MiB", "{v}");

    // dockerd restart: nothing is lost.
    restart_dockerd(&script).unwrap();
    let inspect: Value = serde_json::from_str(&docker(&["volume", "inspect", VOL])).unwrap();
    assert_eq!(inspect[0]["Driver"], DRIVER_A);

    // Two containers on one node share the volume; the plugin restarts in between.
    for c in ["e2e-c1", "e2e-c2"] {
        docker(&[
            "run",
            "-d",
            "--name",
            c,
            "-v",
            &format!("{VOL}:/data"),
            IMAGE,
            "sleep",
            "600",
        ]);
        env.containers.push(c.into());
    }
    assert_eq!(
        docker(&["exec", "e2e-c2", "cat", "/data/hello"]).trim(),
        "hello-linstor"
    );
    docker(&[
        "exec",
        "e2e-c1",
        "sh",
        "-c",
        "echo shared > /data/two && sync",
    ]);
    assert_eq!(
        docker(&["exec", "e2e-c2", "cat", "/data/two"]).trim(),
        "shared"
    );

    let a = env.plugins.remove(0);
    let (args, socket) = (a.args.clone(), a.socket.clone());
    let mut a = a;
    a.stop();
    env.plugins
        .insert(0, Plugin::start(&plugin_bin, args, socket));
    docker(&["rm", "-f", "e2e-c2"]);
    assert_eq!(
        docker(&["exec", "e2e-c1", "cat", "/data/two"]).trim(),
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

    docker(&["rm", "-f", "e2e-c1"]);
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
    let got = docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{mp}:/data"),
        IMAGE,
        "cat",
        "/data/hello",
    ]);
    assert_eq!(got.trim(), "hello-linstor");
    let r = b.call("VolumeDriver.Unmount", &mount_b);
    assert_eq!(r["Err"], "", "{r}");

    // Remove leaves nothing in the simulator.
    docker(&["volume", "rm", VOL]);
    let st = sim_state(&url);
    assert!(
        st["resource_definitions"].as_object().unwrap().is_empty(),
        "{}",
        st["resource_definitions"]
    );

    // dockerd is left as it was found: no volume naming the test drivers, no socket, and it
    // forgot the drivers (otherwise every `docker volume ls` waits for their dead sockets).
    let sockets: Vec<PathBuf> = env.plugins.iter().map(|p| p.socket.clone()).collect();
    drop(env);
    for s in &sockets {
        assert!(!s.exists(), "{} left behind", s.display());
    }
    let drivers = known_drivers();
    assert!(
        !drivers.iter().any(|d| d == DRIVER_A || d == DRIVER_B),
        "dockerd still knows a test driver: {drivers:?}"
    );
    let ls = docker(&["volume", "ls", "--format", "{{.Driver}}"]);
    assert!(!ls.lines().any(|d| d == DRIVER_A || d == DRIVER_B), "{ls}");
}
