//! A private Docker engine for the Docker end-to-end suites, so they never touch the machine's
//! own dockerd (which would keep every legacy volume driver a test registers in memory, and
//! which only a restart, stopping the user's containers, makes forget one).
//!
//! [`Dockerd::start`] runs `dockerd` with its own `--data-root`, `--exec-root`, `--pidfile`,
//! configuration file (naming its own identity key, so `/etc/docker/key.json` is neither read nor
//! created) and `-H unix://` socket under one directory in `/tmp`, its own containerd
//! namespaces, and no network changes (`--bridge=none --iptables=false --ip-masq=false`;
//! containers run with `--network none`). When no containerd runs on the machine, dockerd starts
//! its own under the exec root. Dropping the [`Dockerd`] stops it (and that containerd), unmounts
//! what is left under its directory and removes the directory, also after a failed assertion.
//!
//! dockerd hard-codes two shared paths: legacy plugins are found in `/run/docker/plugins`
//! (`<name>.sock`), and managed plugins get their socket directory in
//! `/run/docker/plugins/<plugin id>/`; the machine's dockerd asks a legacy socket there only when
//! it is asked for that driver or lists volumes while the socket exists.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cmd::CmdOutput;

/// How long dockerd may take to answer after it starts, and to stop after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(90);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What can go wrong starting or driving the private engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerdError {
    /// A program could not be run at all.
    #[error("cannot run {program}; is it installed? (scripts/ensure-docker.sh --install-only installs docker.io and busybox-static)")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file or directory of the private engine could not be made.
    #[error("cannot prepare {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// dockerd did not answer on its socket in time, or exited.
    #[error("the private dockerd did not come up on {host} within {secs} s; last lines of {log}:\n{tail}")]
    NotReady {
        /// Its `-H` address.
        host: String,
        /// Seconds waited.
        secs: u64,
        /// Its log file.
        log: PathBuf,
        /// The end of that log.
        tail: String,
    },
    /// A step that prepares the engine (such as the test image) failed.
    #[error("{step} failed: {detail}")]
    Step {
        /// The step.
        step: String,
        /// Its error output.
        detail: String,
    },
}

/// A dockerd of its own for one test; see the module documentation.
#[derive(Debug)]
pub struct Dockerd {
    dir: PathBuf,
    namespace: String,
    child: Option<Child>,
    /// The containerd dockerd started under its exec root; `None` while it uses the machine's.
    containerd: Option<i32>,
}

impl Dockerd {
    /// Starts the private engine and waits until `docker -H <its socket> info` answers.
    pub fn start() -> Result<Self, DockerdError> {
        let dir = tempfile::Builder::new()
            .prefix("lsdockerd.")
            .tempdir_in("/tmp")
            .map_err(|source| DockerdError::Io {
                path: PathBuf::from("/tmp"),
                source,
            })?
            .keep();
        let mut d = Dockerd {
            namespace: format!("lse2e-{}", std::process::id()),
            dir,
            child: None,
            containerd: None,
        };
        let config = d.dir.join("daemon.json");
        // Its own identity key, instead of reading or creating /etc/docker/key.json.
        let settings = serde_json::json!({ "deprecated-key-path": d.dir.join("key.json") });
        std::fs::write(&config, format!("{settings}\n")).map_err(|source| DockerdError::Io {
            path: config,
            source,
        })?;
        d.spawn()?;
        Ok(d)
    }

    /// The `-H` address of the private engine (`unix:///tmp/lsdockerd.*/docker.sock`).
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    /// The directory holding everything of this engine; gone after drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its `--exec-root` (runc keeps plugin containers in `runtime-runc/<plugins namespace>`).
    pub fn exec_root(&self) -> PathBuf {
        self.dir.join("exec")
    }

    /// Its `--containerd-namespace` (`lse2e-<test pid>`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Its `--containerd-plugins-namespace`.
    pub fn plugins_namespace(&self) -> String {
        format!("{}-plugins", self.namespace)
    }

    /// The pid of the running dockerd.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A `docker` command pointed at this engine (`-H` and `DOCKER_HOST`).
    pub fn command(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", self.host()).arg("-H").arg(self.host());
        c
    }

    /// Runs `docker -H <this engine> ARGS`.
    pub fn cli(&self, args: &[&str]) -> Result<CmdOutput, DockerdError> {
        let out = self
            .command()
            .args(args)
            .output()
            .map_err(|source| DockerdError::Spawn {
                program: "docker".into(),
                source,
            })?;
        Ok(out.into())
    }

    /// Runs `docker -H <this engine> ARGS` and returns its stdout; panics with both outputs when
    /// the command cannot run or fails (for tests).
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args).expect("docker CLI");
        assert!(
            out.ok,
            "docker {args:?} failed:\n{}\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    }

    /// Runs `image cmd…` without a network, with `mount` (`<volume>:/data`, or a bind mount), in
    /// a container removed when it exits; its stdout. Panics when it fails (for tests).
    pub fn run_once(&self, mount: &str, image: &str, cmd: &[&str]) -> String {
        let mut args = vec!["run", "--rm", "--network", "none", "-v", mount, image];
        args.extend_from_slice(cmd);
        self.cli_ok(&args)
    }

    /// Starts container `name` of `image` without a network, with `mount`, sleeping for 10
    /// minutes (for tests; remove it with `docker rm -f`).
    pub fn start_sleeping(&self, name: &str, mount: &str, image: &str) {
        self.cli_ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "-v",
            mount,
            image,
            "sleep",
            "600",
        ]);
    }

    /// Stops dockerd and starts it again with the same directories (volumes, plugins and
    /// images stay; it forgets the legacy drivers it had in memory).
    pub fn restart(&mut self) -> Result<(), DockerdError> {
        self.stop_daemon();
        self.spawn()
    }

    /// Imports `image` (busybox-static with `sh`, `cat`, `echo`, `sleep`, `ls`, `sync`, `test`)
    /// into this engine unless it has it.
    pub fn import_busybox_image(&self, image: &str) -> Result<(), DockerdError> {
        if self.cli(&["image", "inspect", image])?.ok {
            return Ok(());
        }
        let root = self.dir.join("image");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DockerdError::Io { path, source }
        };
        let busybox = Path::new("/bin/busybox");
        if !busybox.is_file() {
            return Err(DockerdError::Step {
                step: format!("the test image {image}"),
                detail: "/bin/busybox is missing: install busybox-static".into(),
            });
        }
        std::fs::create_dir_all(root.join("bin")).map_err(io(&root))?;
        std::fs::copy(busybox, root.join("bin/busybox")).map_err(io(busybox))?;
        for tool in ["sh", "cat", "echo", "sleep", "ls", "sync", "test"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(tool))
                .map_err(io(&root.join("bin").join(tool)))?;
        }
        let tar = self.dir.join("image.tar");
        let out = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .output()
            .map_err(|source| DockerdError::Spawn {
                program: "tar".into(),
                source,
            })?;
        if !out.status.success() {
            return Err(DockerdError::Step {
                step: "tar of the test image".into(),
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let r = self.cli(&["import", &tar.display().to_string(), image])?;
        let _ = std::fs::remove_dir_all(&root);
        let _ = std::fs::remove_file(&tar);
        if r.ok {
            Ok(())
        } else {
            Err(DockerdError::Step {
                step: format!("docker import {image}"),
                detail: r.stderr,
            })
        }
    }

    fn spawn(&mut self) -> Result<(), DockerdError> {
        let log_path = self.dir.join("dockerd.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|source| DockerdError::Io {
                path: log_path.clone(),
                source,
            })?;
        let err_log = log.try_clone().map_err(|source| DockerdError::Io {
            path: log_path.clone(),
            source,
        })?;
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(self.dir.join("daemon.json"))
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("--pidfile")
            .arg(self.dir.join("dockerd.pid"))
            .arg("-H")
            .arg(self.host())
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .args(["--ip6tables=false", "--userland-proxy=false"])
            .arg("--containerd-namespace")
            .arg(&self.namespace)
            .arg("--containerd-plugins-namespace")
            .arg(self.plugins_namespace())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|source| DockerdError::Spawn {
                program: "dockerd".into(),
                source,
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.cli(&["info", "--format", "{{.ID}}"])?.ok {
                self.containerd =
                    std::fs::read_to_string(self.exec_root().join("containerd/containerd.pid"))
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .or(self.containerd);
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some();
            if exited || Instant::now() > deadline {
                let tail = std::fs::read_to_string(&log_path)
                    .unwrap_or_default()
                    .lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(DockerdError::NotReady {
                    host: self.host(),
                    secs: START_TIMEOUT.as_secs(),
                    log: log_path,
                    tail,
                });
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`]; then the containerd it supervised.
    fn stop_daemon(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(child.try_wait(), Ok(None)) {
                if Instant::now() > deadline {
                    eprintln!(
                        "private dockerd {pid} did not stop within {STOP_TIMEOUT:?}; killing it"
                    );
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.wait();
        }
        if let Some(pid) = self.containerd.take() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "containerd" {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                let deadline = Instant::now() + STOP_TIMEOUT;
                while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(100));
                }
                if Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let own_containerd = self.containerd.is_some();
        self.stop_daemon();
        if !own_containerd {
            // dockerd used the machine's containerd: drop the (now empty) namespaces it made.
            for ns in [self.namespace.clone(), self.plugins_namespace()] {
                let _ = Command::new("ctr")
                    .args(["namespaces", "rm", &ns])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| Path::new(m).starts_with(&self.dir))
            .map(str::to_string)
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        mounts.dedup();
        for m in &mounts {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// Volume drivers the machine's own dockerd holds in memory (`docker info`, Plugins.Volume), or
/// `None` when no engine answers on the default socket.
pub fn machine_volume_drivers() -> Option<Vec<String>> {
    let out = Command::new("timeout")
        .args([
            "20",
            "docker",
            "info",
            "--format",
            "{{json .Plugins.Volume}}",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    serde_json::from_slice(&out.stdout).ok()
}
