//! Host-side steps of the driver (links in the system datastore directory, device waits, image
//! copies, mkfs, context ISO) behind [`HostSteps`]: [`SshHosts`] runs them over ssh with argv and
//! quoted arguments, [`LocalHosts`] performs them on a directory per host for tests.

use std::fmt::Debug;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use linstor_common::naming;

/// A host step that failed.
#[derive(Debug, thiserror::Error)]
#[error("on host '{host}': {op}")]
pub struct HostError {
    /// Host name.
    pub host: String,
    /// The step.
    pub op: String,
    /// What went wrong.
    #[source]
    pub cause: HostCause,
}

/// Why a host step failed.
#[derive(Debug, thiserror::Error)]
pub enum HostCause {
    /// The step ran and failed: its error output, or its exit status.
    #[error("{0}")]
    Failed(String),
    /// A program could not be started.
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file, pipe or child process failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One host step of a remote script. Every name and path in it has been validated by the
/// parser; the scripts still quote every word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Wait until the device of volume 0 of `rd` exists, at most `timeout`.
    WaitDevice {
        /// Resource name.
        rd: String,
        /// Bound on the wait.
        timeout: Duration,
    },
    /// `mkdir -p <dir of link> && ln -sfn <device of rd> <link>`.
    Link {
        /// Where the link goes.
        link: String,
        /// Resource name.
        rd: String,
    },
    /// `rm -f <path>` (no error when absent).
    Unlink {
        /// The path.
        path: String,
    },
    /// `mkdir -p <dir>`.
    MakeDir {
        /// The directory.
        dir: String,
    },
    /// `rm -rf <dir>`.
    RemoveDir {
        /// The directory.
        dir: String,
    },
    /// Format the device of `rd`: a filesystem (`ext4`, `xfs`, ...), `swap`, or an empty
    /// `qcow2` image of `size_mb`.
    Mkfs {
        /// Resource name.
        rd: String,
        /// Filesystem, `swap` or `qcow2`.
        fs: String,
        /// Size of a `qcow2` image.
        size_mb: u64,
    },
}

/// Host-side operations. Every host and path argument has been validated by the parser; the
/// implementations still quote everything that crosses a shell. Each method is one connection
/// to each host it touches.
pub trait HostSteps: Send + Sync + Debug {
    /// Device path of volume 0 of `rd` as seen on `host`.
    fn device(&self, host: &str, rd: &str) -> PathBuf;
    /// Run `steps` in order on `host` over one connection, stopping at the first that fails;
    /// the error names that step.
    fn run(&self, host: &str, steps: &[Step]) -> Result<(), HostError>;
    /// Copy a VM directory (context ISO, checkpoints) from one host to another through the
    /// front-end, creating `dst_dir`, then run `then` on `dst_host` over the same connection.
    /// `Ok(Some(e))` when only the copy failed (the directory exists and the steps ran); `Err`
    /// when a step, or the connection to `dst_host`, failed.
    fn copy_dir(
        &self,
        src_host: &str,
        dir: &str,
        dst_host: &str,
        dst_dir: &str,
        then: &[Step],
    ) -> Result<Option<HostError>, HostError>;
    /// Wait (at most `wait`) for the device of `rd` on `host`, then write the image at `url`
    /// (file path or URL) into it; returns the detected format (`raw`, `qcow2`, ...).
    fn write_image(
        &self,
        host: &str,
        rd: &str,
        url: &str,
        wait: Duration,
    ) -> Result<String, HostError>;
    /// Wait (at most `wait`) for the device of `rd` on `host`, then its MD5.
    fn md5(&self, host: &str, rd: &str, wait: Duration) -> Result<String, HostError>;
    /// Build the context ISO from `files` on the front-end and put it at `path` on `host`.
    fn context(&self, files: &[String], host: &str, path: &str) -> Result<(), HostError>;

    /// [`Step::WaitDevice`] alone; the device path.
    fn wait_device(&self, host: &str, rd: &str, timeout: Duration) -> Result<PathBuf, HostError> {
        self.run(
            host,
            &[Step::WaitDevice {
                rd: rd.into(),
                timeout,
            }],
        )?;
        Ok(self.device(host, rd))
    }
    /// [`Step::Unlink`] alone.
    fn unlink(&self, host: &str, path: &str) -> Result<(), HostError> {
        self.run(host, &[Step::Unlink { path: path.into() }])
    }
    /// [`Step::MakeDir`] alone.
    fn make_dir(&self, host: &str, dir: &str) -> Result<(), HostError> {
        self.run(host, &[Step::MakeDir { dir: dir.into() }])
    }
    /// [`Step::RemoveDir`] alone.
    fn remove_dir(&self, host: &str, dir: &str) -> Result<(), HostError> {
        self.run(host, &[Step::RemoveDir { dir: dir.into() }])
    }
}

/// Quote one argument for a POSIX shell.
pub fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:=,+@".contains(&b))
    {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', "'\\''"))
}

/// A shell command line from argv, every word quoted.
pub fn shell_line(argv: &[&str]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Format of an image from its first bytes.
pub fn sniff_format(head: &[u8]) -> &'static str {
    if head.starts_with(b"QFI\xfb") {
        "qcow2"
    } else if head.starts_with(b"KDMV") {
        "vmdk"
    } else if head.starts_with(b"conectix") {
        "vpc"
    } else if head.starts_with(b"<<< Oracle VM VirtualBox Disk Image >>>") {
        "vdi"
    } else {
        "raw"
    }
}

/// The real hosts, reached with `ssh`: every [`HostSteps`] call is one `ssh` connection per
/// host, its steps one remote `sh` script.
#[derive(Debug, Clone)]
pub struct SshHosts {
    /// `ssh` program.
    pub ssh: String,
    /// An ssh client configuration used instead of `~/.ssh/config` (`ssh -F`).
    pub config: Option<PathBuf>,
    /// Root of device paths on the hosts (`/dev`).
    pub dev_root: PathBuf,
    /// OpenNebula remotes directory (for `downloader.sh` and `tm/ssh/context`).
    pub remotes: PathBuf,
}

impl Default for SshHosts {
    fn default() -> Self {
        let remotes = std::env::var_os("ONE_LOCATION")
            .map(|l| PathBuf::from(l).join("var/remotes"))
            .unwrap_or_else(|| PathBuf::from("/var/lib/one/remotes"));
        Self {
            ssh: "ssh".into(),
            config: None,
            dev_root: PathBuf::from("/dev"),
            remotes,
        }
    }
}

/// Marker a remote script prints on stderr before it exits for a failed step.
const STEP_MARK: &str = "LINSTOR-ONE-STEP-FAILED";
/// Marker a remote script prints on stderr when unpacking a copied VM directory failed.
const COPY_MARK: &str = "LINSTOR-ONE-COPY-FAILED";
/// Exit status of a remote script whose step failed (ssh itself uses 255).
const STEP_EXIT: i32 = 3;

/// Polls for a device: `linstor_wait <path> <tenths of a second>`.
const WAIT_FN: &str = "linstor_wait() { i=0; while [ ! -e \"$1\" ]; do i=$((i+1)); if [ \"$i\" -gt \"$2\" ]; then echo \"$1 did not appear within $(($2/10)) s\" >&2; return 1; fi; sleep 0.1; done; }";
/// `$SUDO` runs a command as root: nothing for root, `sudo -n` for `oneadmin`.
const SUDO_FN: &str = "if [ \"$(id -u)\" -eq 0 ]; then SUDO=; else SUDO='sudo -n'; fi";

impl SshHosts {
    /// The hosts as configured by the environment: `LINSTOR_ONE_SSH` (program),
    /// `LINSTOR_ONE_SSH_CONFIG` (client configuration) and `LINSTOR_ONE_DEV_ROOT` (device root
    /// on the hosts), each defaulting to the OpenNebula host layout.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut h = Self::default();
        if let Some(s) = var("LINSTOR_ONE_SSH") {
            h.ssh = s;
        }
        h.config = var("LINSTOR_ONE_SSH_CONFIG").map(PathBuf::from);
        if let Some(d) = var("LINSTOR_ONE_DEV_ROOT") {
            h.dev_root = PathBuf::from(d);
        }
        h
    }

    fn ssh_cmd(&self, host: &str, remote: &str) -> Command {
        let mut c = Command::new(&self.ssh);
        if let Some(cfg) = &self.config {
            c.arg("-F").arg(cfg);
        }
        c.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "--", host])
            .arg(remote);
        c
    }

    fn dev(&self, rd: &str) -> String {
        naming::device_path(&self.dev_root, rd, 0)
            .to_string_lossy()
            .into_owned()
    }

    /// The command line of one step and its description for errors.
    fn step_line(&self, step: &Step) -> (String, String) {
        match step {
            Step::WaitDevice { rd, timeout } => {
                let d = self.dev(rd);
                let tenths = (timeout.as_millis() / 100).to_string();
                (
                    shell_line(&["linstor_wait", &d, &tenths]),
                    format!("wait for {d}"),
                )
            }
            Step::Link { link, rd } => {
                let d = self.dev(rd);
                (
                    format!(
                        "{} && {}",
                        shell_line(&["mkdir", "-p", parent(link)]),
                        shell_line(&["ln", "-sfn", &d, link])
                    ),
                    format!("ln -sfn {d} {link}"),
                )
            }
            Step::Unlink { path } => (shell_line(&["rm", "-f", path]), format!("rm -f {path}")),
            Step::MakeDir { dir } => (shell_line(&["mkdir", "-p", dir]), format!("mkdir -p {dir}")),
            Step::RemoveDir { dir } => (shell_line(&["rm", "-rf", dir]), format!("rm -rf {dir}")),
            Step::Mkfs { rd, fs, size_mb } => {
                let d = self.dev(rd);
                if fs == "qcow2" {
                    let size = format!("{size_mb}M");
                    return (
                        shell_line(&["qemu-img", "create", "-q", "-f", "qcow2", &d, &size]),
                        format!("qemu-img create {d}"),
                    );
                }
                if fs == "swap" {
                    return (shell_line(&["mkswap", &d]), format!("mkswap {d}"));
                }
                let prog = format!("mkfs.{fs}");
                let mut argv = vec![prog.as_str()];
                if fs.starts_with("ext") {
                    argv.extend(["-q", "-F"]);
                }
                argv.push(&d);
                (
                    format!("$SUDO {}", shell_line(&argv)),
                    format!("{prog} {d}"),
                )
            }
        }
    }

    /// The remote script of `steps` (run by `sh -c`), and the description of each step. A
    /// failing step prints a marker line with its index on stderr and exits with status 3.
    pub fn script(&self, steps: &[Step]) -> (String, Vec<String>) {
        let (mut lines, body, ops) = self.script_parts(steps);
        lines.extend(body);
        (lines.join("\n"), ops)
    }

    /// The functions the steps need, one line per step, and the description of each step.
    fn script_parts(&self, steps: &[Step]) -> (Vec<String>, Vec<String>, Vec<String>) {
        let mut prelude = Vec::new();
        if steps.iter().any(|s| matches!(s, Step::WaitDevice { .. })) {
            prelude.push(WAIT_FN.to_string());
        }
        if steps.iter().any(|s| matches!(s, Step::Mkfs { .. })) {
            prelude.push(SUDO_FN.to_string());
        }
        let mut lines = Vec::new();
        let mut ops = Vec::new();
        for (i, step) in steps.iter().enumerate() {
            let (line, op) = self.step_line(step);
            lines.push(format!(
                "{line} || {{ echo; echo '{STEP_MARK} {i}'; exit {STEP_EXIT}; }} >&2"
            ));
            ops.push(op);
        }
        (prelude, lines, ops)
    }

    /// Runs `script` on `host` with `stdin`; maps a failure to the step that failed.
    fn run_script(
        &self,
        host: &str,
        script: &str,
        ops: &[String],
        stdin: Stdio,
    ) -> Result<String, HostError> {
        let first = ops.first().map(String::as_str).unwrap_or("ssh");
        let out = self
            .ssh_cmd(host, &shell_line(&["sh", "-c", script]))
            .stdin(stdin)
            .output()
            .map_err(spawn(host, first, &self.ssh))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(step_error(host, ops, None, out.status, &out.stderr))
    }
}

/// The error of a remote script: the step named by its [`STEP_MARK`] line with the stderr
/// printed before it, else (ssh failed, or the script was killed) the whole stderr against
/// `whole` (the first step when `None`).
fn step_error(
    host: &str,
    ops: &[String],
    whole: Option<&str>,
    status: std::process::ExitStatus,
    stderr: &[u8],
) -> HostError {
    let text = String::from_utf8_lossy(stderr);
    let marked = (status.code() == Some(STEP_EXIT))
        .then(|| text.rsplit_once(STEP_MARK))
        .flatten()
        .and_then(|(before, idx)| Some((before, idx.trim().parse::<usize>().ok()?)))
        .and_then(|(before, i)| Some((before, ops.get(i)?)));
    match marked {
        Some((before, op)) => err(host, op, before.trim().to_string()),
        None => err(
            host,
            whole.or(ops.first().map(String::as_str)).unwrap_or("ssh"),
            format!("{status}: {}", text.trim()),
        ),
    }
}

fn err(host: &str, op: &str, message: impl Into<String>) -> HostError {
    HostError {
        host: host.into(),
        op: op.into(),
        cause: HostCause::Failed(message.into()),
    }
}

fn io(host: &str, op: &str) -> impl Fn(std::io::Error) -> HostError {
    let (host, op) = (host.to_string(), op.to_string());
    move |e| HostError {
        host: host.clone(),
        op: op.clone(),
        cause: HostCause::Io(e),
    }
}

fn spawn(host: &str, op: &str, program: &str) -> impl FnOnce(std::io::Error) -> HostError {
    let (host, op, program) = (host.to_string(), op.to_string(), program.to_string());
    move |source| HostError {
        host,
        op,
        cause: HostCause::Spawn { program, source },
    }
}

fn parent(p: &str) -> &str {
    match p.rsplit_once('/') {
        Some(("", _)) | None => "/",
        Some((d, _)) => d,
    }
}

impl HostSteps for SshHosts {
    fn device(&self, _host: &str, rd: &str) -> PathBuf {
        naming::device_path(&self.dev_root, rd, 0)
    }

    fn run(&self, host: &str, steps: &[Step]) -> Result<(), HostError> {
        if steps.is_empty() {
            return Ok(());
        }
        let (script, ops) = self.script(steps);
        self.run_script(host, &script, &ops, Stdio::null())
            .map(|_| ())
    }

    fn copy_dir(
        &self,
        src_host: &str,
        dir: &str,
        dst_host: &str,
        dst_dir: &str,
        then: &[Step],
    ) -> Result<Option<HostError>, HostError> {
        let op = format!("copy {src_host}:{dir} to {dst_host}:{dst_dir}");
        let mut src = self
            .ssh_cmd(
                src_host,
                &shell_line(&["tar", "-C", dir, "--exclude=disk.*.snap", "-cf", "-", "."]),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn(src_host, &op, &self.ssh))?;
        let out = src
            .stdout
            .take()
            .ok_or_else(|| err(src_host, &op, "no pipe"))?;
        let mut steps = vec![Step::MakeDir {
            dir: dst_dir.into(),
        }];
        steps.extend_from_slice(then);
        let (mut lines, body, ops) = self.script_parts(&steps);
        let mut body = body.into_iter();
        lines.extend(body.next());
        lines.push(format!(
            "{} || echo '{COPY_MARK}' >&2",
            shell_line(&["tar", "-C", dst_dir, "--skip-old-files", "-xf", "-"])
        ));
        lines.extend(body);
        let script = lines.join("\n");
        let dst = self
            .ssh_cmd(dst_host, &shell_line(&["sh", "-c", &script]))
            .stdin(Stdio::from(out))
            .output()
            .map_err(spawn(dst_host, &op, &self.ssh))?;
        let s = src.wait_with_output().map_err(io(src_host, &op))?;
        if !dst.status.success() {
            return Err(step_error(
                dst_host,
                &ops,
                Some(&op),
                dst.status,
                &dst.stderr,
            ));
        }
        if !s.status.success() {
            return Ok(Some(err(
                src_host,
                &op,
                format!(
                    "tar exited with {}: {}",
                    s.status,
                    String::from_utf8_lossy(&s.stderr).trim()
                ),
            )));
        }
        let stderr = String::from_utf8_lossy(&dst.stderr);
        if stderr.contains(COPY_MARK) {
            let msg = stderr.split(COPY_MARK).next().unwrap_or_default().trim();
            return Ok(Some(err(dst_host, &op, msg.to_string())));
        }
        Ok(None)
    }

    fn write_image(
        &self,
        host: &str,
        rd: &str,
        url: &str,
        wait: Duration,
    ) -> Result<String, HostError> {
        let dev = self.dev(rd);
        let op = format!("copy {url} into {dev}");
        let downloader = self.remotes.join("datastore/downloader.sh");
        let mut dl = Command::new(&downloader)
            .args([url, "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn("front-end", &op, &downloader.display().to_string()))?;
        let mut out = dl.stdout.take().ok_or_else(|| err(host, &op, "no pipe"))?;
        let mut head = vec![0u8; 512];
        let mut got = 0;
        while got < head.len() {
            match out.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => return Err(io("front-end", &op)(e)),
            }
        }
        head.truncate(got);
        let format = sniff_format(&head).to_string();
        let (wait_script, mut ops) = self.script(&[Step::WaitDevice {
            rd: rd.into(),
            timeout: wait,
        }]);
        ops.push(op.clone());
        let script = format!(
            "{wait_script}\n{} || {{ echo; echo '{STEP_MARK} 1'; exit {STEP_EXIT}; }} >&2",
            shell_line(&[
                "dd",
                &format!("of={dev}"),
                "bs=4M",
                "iflag=fullblock",
                "oflag=direct",
                "conv=sparse",
                "status=none",
            ])
        );
        let mut dd = self
            .ssh_cmd(host, &shell_line(&["sh", "-c", &script]))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn(host, &op, &self.ssh))?;
        let mut pipe = dd.stdin.take().ok_or_else(|| err(host, &op, "no pipe"))?;
        let copied = pipe
            .write_all(&head)
            .and_then(|_| std::io::copy(&mut out, &mut pipe).map(|_| ()));
        drop(pipe);
        drop(out);
        let dd_out = dd.wait_with_output().map_err(io(host, &op))?;
        let dl_out = dl.wait_with_output().map_err(io("front-end", &op))?;
        if !dd_out.status.success() {
            return Err(step_error(host, &ops, None, dd_out.status, &dd_out.stderr));
        }
        if !dl_out.status.success() {
            return Err(err(
                "front-end",
                &op,
                format!(
                    "downloader failed: {}",
                    String::from_utf8_lossy(&dl_out.stderr).trim()
                ),
            ));
        }
        copied.map_err(io(host, &op))?;
        Ok(format)
    }

    fn md5(&self, host: &str, rd: &str, wait: Duration) -> Result<String, HostError> {
        let dev = self.dev(rd);
        let (wait_script, mut ops) = self.script(&[Step::WaitDevice {
            rd: rd.into(),
            timeout: wait,
        }]);
        ops.push(format!("md5sum {dev}"));
        let script = format!(
            "{wait_script}\n{} || {{ echo; echo '{STEP_MARK} 1'; exit {STEP_EXIT}; }} >&2",
            shell_line(&["md5sum", &dev])
        );
        let out = self.run_script(host, &script, &ops, Stdio::null())?;
        out.split_whitespace()
            .next()
            .map(str::to_string)
            .ok_or_else(|| err(host, "md5sum", "no output"))
    }

    fn context(&self, files: &[String], host: &str, path: &str) -> Result<(), HostError> {
        let script = self.remotes.join("tm/ssh/context");
        let mut c = Command::new(&script);
        c.args(files).arg(format!("{host}:{path}")).args(["0", "0"]);
        let out = c
            .output()
            .map_err(spawn(host, "context", &script.display().to_string()))?;
        if !out.status.success() {
            return Err(err(
                host,
                "context",
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(())
    }
}

/// Hosts simulated as directories: host `h` is `<root>/<h>`, its devices live under
/// `<dev_dir>/<h>/drbd/by-res/` (the simulator's per-node device roots). A host with a file
/// `<root>/<h>.down` is unreachable.
#[derive(Debug, Clone)]
pub struct LocalHosts {
    /// Directory holding one directory per host.
    pub root: PathBuf,
    /// Per-host device roots.
    pub dev_dir: PathBuf,
}

impl LocalHosts {
    fn check(&self, host: &str, op: &str) -> Result<PathBuf, HostError> {
        if self.root.join(format!("{host}.down")).exists() {
            return Err(err(host, op, "ssh: connect to host: No route to host"));
        }
        Ok(self.root.join(host))
    }

    fn on(&self, host: &str, op: &str, path: &str) -> Result<PathBuf, HostError> {
        Ok(self.check(host, op)?.join(path.trim_start_matches('/')))
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let ft = e.file_type()?;
        let target = to.join(e.file_name());
        if ft.is_dir() {
            copy_tree(&e.path(), &target)?;
        } else if ft.is_file() && !target.exists() {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

impl LocalHosts {
    fn local_wait_device(
        &self,
        host: &str,
        rd: &str,
        timeout: Duration,
    ) -> Result<PathBuf, HostError> {
        self.check(host, "wait for device")?;
        let dev = self.device(host, rd);
        let deadline = Instant::now() + timeout;
        while dev.symlink_metadata().is_err() {
            if Instant::now() >= deadline {
                return Err(err(
                    host,
                    "wait for device",
                    format!(
                        "{} did not appear within {} s",
                        dev.display(),
                        timeout.as_secs()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(dev)
    }

    fn local_link(&self, host: &str, link: &str, rd: &str) -> Result<(), HostError> {
        let op = format!("ln -sfn {link}");
        let p = self.on(host, &op, link)?;
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(io(host, &op))?;
        }
        if p.symlink_metadata().is_ok() {
            std::fs::remove_file(&p).map_err(io(host, &op))?;
        }
        std::os::unix::fs::symlink(self.device(host, rd), &p).map_err(io(host, &op))
    }

    fn local_unlink(&self, host: &str, path: &str) -> Result<(), HostError> {
        let p = self.on(host, "rm -f", path)?;
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(host, "rm -f")(e)),
            _ => Ok(()),
        }
    }

    fn local_make_dir(&self, host: &str, dir: &str) -> Result<(), HostError> {
        let p = self.on(host, "mkdir -p", dir)?;
        std::fs::create_dir_all(p).map_err(io(host, "mkdir -p"))
    }

    fn local_remove_dir(&self, host: &str, dir: &str) -> Result<(), HostError> {
        let p = self.on(host, "rm -rf", dir)?;
        match std::fs::remove_dir_all(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(host, "rm -rf")(e)),
            _ => Ok(()),
        }
    }

    fn local_copy_dir(
        &self,
        src_host: &str,
        dir: &str,
        dst_host: &str,
        dst_dir: &str,
    ) -> Result<(), HostError> {
        let from = self.on(src_host, "tar", dir)?;
        let to = self.on(dst_host, "tar", dst_dir)?;
        if !from.exists() {
            return std::fs::create_dir_all(&to).map_err(io(dst_host, "mkdir -p"));
        }
        copy_tree(&from, &to).map_err(io(dst_host, "copy VM directory"))
    }

    fn local_write_image(
        &self,
        host: &str,
        rd: &str,
        url: &str,
        wait: Duration,
    ) -> Result<String, HostError> {
        let op = format!("copy {url}");
        self.local_wait_device(host, rd, wait)?;
        let mut src = std::fs::File::open(url).map_err(io(host, &op))?;
        let mut head = [0u8; 512];
        let n = src.read(&mut head).map_err(io(host, &op))?;
        let format = sniff_format(&head[..n]).to_string();
        let dev = self.device(host, rd);
        let mut dst = std::fs::OpenOptions::new()
            .write(true)
            .open(&dev)
            .map_err(io(host, &format!("open {}", dev.display())))?;
        dst.write_all(&head[..n]).map_err(io(host, &op))?;
        std::io::copy(&mut src, &mut dst).map_err(io(host, &op))?;
        Ok(format)
    }

    fn local_mkfs(&self, host: &str, rd: &str, fs: &str, size_mb: u64) -> Result<(), HostError> {
        let op = format!("mkfs.{fs}");
        self.check(host, &op)?;
        let dev = self.device(host, rd);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&dev)
            .map_err(io(host, &format!("open {}", dev.display())))?;
        let head: Vec<u8> = if fs == "qcow2" {
            let mut h = b"QFI\xfb\0\0\0\x03".to_vec();
            h.resize(24, 0);
            h.extend_from_slice(&(size_mb << 20).to_be_bytes());
            h
        } else {
            format!("LOCAL-MKFS {fs}\n").into_bytes()
        };
        f.write_all(&head).map_err(io(host, &op))
    }

    fn local_md5(&self, host: &str, rd: &str, wait: Duration) -> Result<String, HostError> {
        self.local_wait_device(host, rd, wait)?;
        let dev = self.device(host, rd);
        let out = Command::new("md5sum")
            .arg(&dev)
            .output()
            .map_err(spawn(host, "md5sum", "md5sum"))?;
        if !out.status.success() {
            return Err(err(
                host,
                "md5sum",
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .map(str::to_string)
            .ok_or_else(|| err(host, "md5sum", "no output"))
    }

    fn local_context(&self, files: &[String], host: &str, path: &str) -> Result<(), HostError> {
        let p = self.on(host, "context", path)?;
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(io(host, "mkdir -p"))?;
        }
        std::fs::write(&p, format!("LOCAL-CONTEXT-ISO {}\n", files.join(" ")))
            .map_err(io(host, "context"))
    }
}

impl HostSteps for LocalHosts {
    fn device(&self, host: &str, rd: &str) -> PathBuf {
        naming::device_path(&self.dev_dir.join(host), rd, 0)
    }

    fn run(&self, host: &str, steps: &[Step]) -> Result<(), HostError> {
        for step in steps {
            match step {
                Step::WaitDevice { rd, timeout } => {
                    self.local_wait_device(host, rd, *timeout)?;
                }
                Step::Link { link, rd } => self.local_link(host, link, rd)?,
                Step::Unlink { path } => self.local_unlink(host, path)?,
                Step::MakeDir { dir } => self.local_make_dir(host, dir)?,
                Step::RemoveDir { dir } => self.local_remove_dir(host, dir)?,
                Step::Mkfs { rd, fs, size_mb } => self.local_mkfs(host, rd, fs, *size_mb)?,
            }
        }
        Ok(())
    }

    fn copy_dir(
        &self,
        src_host: &str,
        dir: &str,
        dst_host: &str,
        dst_dir: &str,
        then: &[Step],
    ) -> Result<Option<HostError>, HostError> {
        let copied = self.local_copy_dir(src_host, dir, dst_host, dst_dir).err();
        if copied.is_some() {
            self.local_make_dir(dst_host, dst_dir)?;
        }
        self.run(dst_host, then)?;
        Ok(copied)
    }

    fn write_image(
        &self,
        host: &str,
        rd: &str,
        url: &str,
        wait: Duration,
    ) -> Result<String, HostError> {
        self.local_write_image(host, rd, url, wait)
    }

    fn md5(&self, host: &str, rd: &str, wait: Duration) -> Result<String, HostError> {
        self.local_md5(host, rd, wait)
    }

    fn context(&self, files: &[String], host: &str, path: &str) -> Result<(), HostError> {
        self.local_context(files, host, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linstor_common::error::chain;
    use linstor_tests::errors::{names_once, source};

    #[test]
    fn quoting() {
        assert_eq!(
            shell_quote("/var/lib/one/datastores/0/1/disk.0"),
            "/var/lib/one/datastores/0/1/disk.0"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_line(&["rm", "-f", "$(x)"]), "rm -f '$(x)'");
    }

    #[test]
    fn one_script_per_call_and_the_failing_step_named() {
        use std::os::unix::process::ExitStatusExt as _;
        let h = SshHosts::default();
        let (script, ops) = h.script(&[
            Step::WaitDevice {
                rd: "one-vm-5-disk-0".into(),
                timeout: Duration::from_secs(2),
            },
            Step::Link {
                link: "/ds/0/5/disk.0".into(),
                rd: "one-vm-5-disk-0".into(),
            },
        ]);
        assert!(script.starts_with("linstor_wait() {"), "{script}");
        assert!(script.contains("linstor_wait /dev/drbd/by-res/one-vm-5-disk-0/0 20 ||"));
        assert!(script.contains(
            "mkdir -p /ds/0/5 && ln -sfn /dev/drbd/by-res/one-vm-5-disk-0/0 /ds/0/5/disk.0 ||"
        ));
        assert_eq!(ops.len(), 2);
        let status = std::process::ExitStatus::from_raw(STEP_EXIT << 8);
        let e = step_error(
            "n1",
            &ops,
            None,
            status,
            format!("ln: Permission denied\n\n{STEP_MARK} 1\n").as_bytes(),
        );
        assert_eq!(e.op, ops[1]);
        assert!(
            matches!(&e.cause, HostCause::Failed(m) if m == "ln: Permission denied"),
            "{e:?}"
        );
        let refused = std::process::ExitStatus::from_raw(255 << 8);
        let e = step_error(
            "n1",
            &ops,
            None,
            refused,
            b"ssh: connect to host n1: No route to host",
        );
        assert_eq!(e.op, ops[0]);
        assert!(chain(&e).contains("No route to host"), "{e}");
    }

    #[test]
    fn formats() {
        assert_eq!(sniff_format(b"QFI\xfb\0\0\0\x03"), "qcow2");
        assert_eq!(sniff_format(b"\0\0\0"), "raw");
        assert_eq!(sniff_format(b""), "raw");
    }

    fn local_hosts(d: &tempfile::TempDir) -> LocalHosts {
        LocalHosts {
            root: d.path().join("hosts"),
            dev_dir: d.path().join("dev"),
        }
    }

    #[test]
    fn local_links_and_dead_hosts() {
        let d = tempfile::tempdir().unwrap();
        let h = local_hosts(&d);
        let link = Step::Link {
            link: "/ds/0/5/disk.0".into(),
            rd: "one-vm-5-disk-0".into(),
        };
        h.run("n1", &[link]).unwrap();
        let l = d.path().join("hosts/n1/ds/0/5/disk.0");
        assert_eq!(
            std::fs::read_link(&l).unwrap(),
            d.path().join("dev/n1/drbd/by-res/one-vm-5-disk-0/0")
        );
        h.unlink("n1", "/ds/0/5/disk.0").unwrap();
        h.unlink("n1", "/ds/0/5/disk.0").unwrap();
        std::fs::write(d.path().join("hosts/n2.down"), "").unwrap();
        let e = h.make_dir("n2", "/x").unwrap_err();
        assert!(e.to_string().contains("n2"), "{e}");
    }

    #[test]
    fn io_failures_keep_the_io_error() {
        let d = tempfile::tempdir().unwrap();
        let h = local_hosts(&d);
        std::fs::create_dir_all(d.path().join("hosts/n1/ds")).unwrap();
        std::fs::write(d.path().join("hosts/n1/ds/0"), "a file").unwrap();
        let e = h.make_dir("n1", "/ds/0/5").unwrap_err();
        let HostCause::Io(io) = source(&e) else {
            panic!("the I/O error is the source: {e:?}");
        };
        let shown = chain(&e);
        assert_eq!(
            names_once(&shown, io),
            format!("on host 'n1': mkdir -p: {io}")
        );
    }

    #[test]
    fn a_missing_program_keeps_the_spawn_error() {
        let h = SshHosts {
            ssh: "/nonexistent/ssh".into(),
            ..SshHosts::default()
        };
        let e = h.make_dir("n1", "/ds/0/5").unwrap_err();
        let cause: &HostCause = source(&e);
        assert!(matches!(cause, HostCause::Spawn { .. }), "{cause:?}");
        let io: &std::io::Error = source(&e);
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        let shown = chain(&e);
        assert_eq!(
            names_once(&shown, io),
            format!("on host 'n1': mkdir -p /ds/0/5: cannot run /nonexistent/ssh: {io}")
        );
    }
}
