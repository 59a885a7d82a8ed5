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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("on host '{host}': {op}: {message}")]
pub struct HostError {
    /// Host name.
    pub host: String,
    /// The step.
    pub op: String,
    /// What went wrong.
    pub message: String,
}

/// Host-side operations. Every host and path argument has been validated by the parser; the
/// implementations still quote everything that crosses a shell.
pub trait HostSteps: Send + Sync + Debug {
    /// Device path of volume 0 of `rd` as seen on `host`.
    fn device(&self, host: &str, rd: &str) -> PathBuf;
    /// Wait until the device exists on `host`.
    fn wait_device(&self, host: &str, rd: &str, timeout: Duration) -> Result<PathBuf, HostError>;
    /// `mkdir -p <dir of link>; ln -sfn <device> <link>`.
    fn link(&self, host: &str, link: &str, rd: &str) -> Result<(), HostError>;
    /// `rm -f <path>` (no error when absent).
    fn unlink(&self, host: &str, path: &str) -> Result<(), HostError>;
    /// `mkdir -p <dir>`.
    fn make_dir(&self, host: &str, dir: &str) -> Result<(), HostError>;
    /// `rm -rf <dir>`.
    fn remove_dir(&self, host: &str, dir: &str) -> Result<(), HostError>;
    /// Copy the regular files of a VM directory (context ISO, checkpoints) from one host to
    /// another through the front-end; symlinks to devices are not copied.
    fn copy_dir(
        &self,
        src_host: &str,
        dir: &str,
        dst_host: &str,
        dst_dir: &str,
    ) -> Result<(), HostError>;
    /// Write the image at `url` (file path or URL) into the device of `rd` on `host`; returns
    /// the detected format (`raw`, `qcow2`, ...).
    fn write_image(&self, host: &str, rd: &str, url: &str) -> Result<String, HostError>;
    /// Format the device of `rd` on `host`: a filesystem (`ext4`, `xfs`, ...), `swap`, or an
    /// empty `qcow2` image of `size_mb`.
    fn mkfs(&self, host: &str, rd: &str, fs: &str, size_mb: u64) -> Result<(), HostError>;
    /// MD5 of the device of `rd` on `host`.
    fn md5(&self, host: &str, rd: &str) -> Result<String, HostError>;
    /// Build the context ISO from `files` on the front-end and put it at `path` on `host`.
    fn context(&self, files: &[String], host: &str, path: &str) -> Result<(), HostError>;
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

/// The real hosts, reached with `ssh`.
#[derive(Debug, Clone)]
pub struct SshHosts {
    /// `ssh` program.
    pub ssh: String,
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
            dev_root: PathBuf::from("/dev"),
            remotes,
        }
    }
}

impl SshHosts {
    fn ssh_cmd(&self, host: &str, argv: &[&str]) -> Command {
        let mut c = Command::new(&self.ssh);
        c.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "--", host])
            .arg(shell_line(argv));
        c
    }

    fn run(&self, host: &str, op: &str, argv: &[&str]) -> Result<String, HostError> {
        let out = self
            .ssh_cmd(host, argv)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| err(host, op, format!("cannot run {}: {e}", self.ssh)))?;
        if !out.status.success() {
            return Err(err(
                host,
                op,
                format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

fn err(host: &str, op: &str, message: impl Into<String>) -> HostError {
    HostError {
        host: host.into(),
        op: op.into(),
        message: message.into(),
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

    fn wait_device(&self, host: &str, rd: &str, timeout: Duration) -> Result<PathBuf, HostError> {
        let dev = self.device(host, rd);
        let d = dev.to_string_lossy().into_owned();
        let secs = timeout.as_secs().max(1).to_string();
        let script = "i=0; while [ ! -e \"$1\" ]; do i=$((i+1)); [ \"$i\" -gt \"$(($2*10))\" ] && exit 1; sleep 0.1; done";
        self.run(
            host,
            &format!("wait for {d}"),
            &["sh", "-c", script, "wait", &d, &secs],
        )
        .map(|_| dev)
        .map_err(|e| HostError {
            message: format!("device did not appear within {secs} s ({})", e.message),
            ..e
        })
    }

    fn link(&self, host: &str, link: &str, rd: &str) -> Result<(), HostError> {
        let dev = self.device(host, rd).to_string_lossy().into_owned();
        self.run(
            host,
            &format!("mkdir -p {}", parent(link)),
            &["mkdir", "-p", parent(link)],
        )?;
        self.run(
            host,
            &format!("ln -sfn {dev} {link}"),
            &["ln", "-sfn", &dev, link],
        )
        .map(|_| ())
    }

    fn unlink(&self, host: &str, path: &str) -> Result<(), HostError> {
        self.run(host, &format!("rm -f {path}"), &["rm", "-f", path])
            .map(|_| ())
    }

    fn make_dir(&self, host: &str, dir: &str) -> Result<(), HostError> {
        self.run(host, &format!("mkdir -p {dir}"), &["mkdir", "-p", dir])
            .map(|_| ())
    }

    fn remove_dir(&self, host: &str, dir: &str) -> Result<(), HostError> {
        self.run(host, &format!("rm -rf {dir}"), &["rm", "-rf", dir])
            .map(|_| ())
    }

    fn copy_dir(
        &self,
        src_host: &str,
        dir: &str,
        dst_host: &str,
        dst_dir: &str,
    ) -> Result<(), HostError> {
        let op = format!("copy {src_host}:{dir} to {dst_host}:{dst_dir}");
        self.make_dir(dst_host, dst_dir)?;
        let mut src = self
            .ssh_cmd(
                src_host,
                &["tar", "-C", dir, "--exclude=disk.*.snap", "-cf", "-", "."],
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| err(src_host, &op, e.to_string()))?;
        let out = src
            .stdout
            .take()
            .ok_or_else(|| err(src_host, &op, "no pipe"))?;
        let dst = self
            .ssh_cmd(
                dst_host,
                &["tar", "-C", dst_dir, "--skip-old-files", "-xf", "-"],
            )
            .stdin(Stdio::from(out))
            .output()
            .map_err(|e| err(dst_host, &op, e.to_string()))?;
        let s = src.wait().map_err(|e| err(src_host, &op, e.to_string()))?;
        if !s.success() {
            return Err(err(src_host, &op, format!("tar exited with {s}")));
        }
        if !dst.status.success() {
            return Err(err(
                dst_host,
                &op,
                String::from_utf8_lossy(&dst.stderr).trim().to_string(),
            ));
        }
        Ok(())
    }

    fn write_image(&self, host: &str, rd: &str, url: &str) -> Result<String, HostError> {
        let dev = self.device(host, rd).to_string_lossy().into_owned();
        let op = format!("copy {url} into {dev}");
        let downloader = self.remotes.join("datastore/downloader.sh");
        let mut dl = Command::new(&downloader)
            .args([url, "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                err(
                    "front-end",
                    &op,
                    format!("cannot run {}: {e}", downloader.display()),
                )
            })?;
        let mut out = dl.stdout.take().ok_or_else(|| err(host, &op, "no pipe"))?;
        let mut head = vec![0u8; 512];
        let mut got = 0;
        while got < head.len() {
            match out.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => return Err(err("front-end", &op, e.to_string())),
            }
        }
        head.truncate(got);
        let format = sniff_format(&head).to_string();
        let mut dd = self
            .ssh_cmd(
                host,
                &[
                    "dd",
                    &format!("of={dev}"),
                    "bs=4M",
                    "iflag=fullblock",
                    "oflag=direct",
                    "conv=sparse",
                    "status=none",
                ],
            )
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| err(host, &op, e.to_string()))?;
        let mut pipe = dd.stdin.take().ok_or_else(|| err(host, &op, "no pipe"))?;
        let copied = pipe
            .write_all(&head)
            .and_then(|_| std::io::copy(&mut out, &mut pipe).map(|_| ()));
        drop(pipe);
        let dd_out = dd
            .wait_with_output()
            .map_err(|e| err(host, &op, e.to_string()))?;
        let dl_out = dl
            .wait_with_output()
            .map_err(|e| err("front-end", &op, e.to_string()))?;
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
        if !dd_out.status.success() {
            return Err(err(
                host,
                &op,
                format!(
                    "dd failed: {}",
                    String::from_utf8_lossy(&dd_out.stderr).trim()
                ),
            ));
        }
        copied.map_err(|e| err(host, &op, e.to_string()))?;
        Ok(format)
    }

    fn mkfs(&self, host: &str, rd: &str, fs: &str, size_mb: u64) -> Result<(), HostError> {
        let dev = self.device(host, rd).to_string_lossy().into_owned();
        if fs == "qcow2" {
            let size = format!("{size_mb}M");
            return self
                .run(
                    host,
                    &format!("qemu-img create {dev}"),
                    &["qemu-img", "create", "-q", "-f", "qcow2", &dev, &size],
                )
                .map(|_| ());
        }
        if fs == "swap" {
            return self
                .run(host, &format!("mkswap {dev}"), &["mkswap", &dev])
                .map(|_| ());
        }
        let prog = format!("mkfs.{fs}");
        let mut argv = vec!["sudo", "-n", prog.as_str()];
        if fs.starts_with("ext") {
            argv.push("-q");
            argv.push("-F");
        }
        argv.push(&dev);
        self.run(host, &format!("{prog} {dev}"), &argv).map(|_| ())
    }

    fn md5(&self, host: &str, rd: &str) -> Result<String, HostError> {
        let dev = self.device(host, rd).to_string_lossy().into_owned();
        let out = self.run(host, &format!("md5sum {dev}"), &["md5sum", &dev])?;
        out.split_whitespace()
            .next()
            .map(str::to_string)
            .ok_or_else(|| err(host, "md5sum", "no output"))
    }

    fn context(&self, files: &[String], host: &str, path: &str) -> Result<(), HostError> {
        let script = self.remotes.join("tm/ssh/context");
        let mut c = Command::new(&script);
        c.args(files).arg(format!("{host}:{path}")).args(["0", "0"]);
        let out = c.output().map_err(|e| {
            err(
                host,
                "context",
                format!("cannot run {}: {e}", script.display()),
            )
        })?;
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

fn io(host: &str, op: &str) -> impl Fn(std::io::Error) -> HostError {
    let (host, op) = (host.to_string(), op.to_string());
    move |e| err(&host, &op, e.to_string())
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

impl HostSteps for LocalHosts {
    fn device(&self, host: &str, rd: &str) -> PathBuf {
        naming::device_path(&self.dev_dir.join(host), rd, 0)
    }

    fn wait_device(&self, host: &str, rd: &str, timeout: Duration) -> Result<PathBuf, HostError> {
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

    fn link(&self, host: &str, link: &str, rd: &str) -> Result<(), HostError> {
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

    fn unlink(&self, host: &str, path: &str) -> Result<(), HostError> {
        let p = self.on(host, "rm -f", path)?;
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(host, "rm -f")(e)),
            _ => Ok(()),
        }
    }

    fn make_dir(&self, host: &str, dir: &str) -> Result<(), HostError> {
        let p = self.on(host, "mkdir -p", dir)?;
        std::fs::create_dir_all(p).map_err(io(host, "mkdir -p"))
    }

    fn remove_dir(&self, host: &str, dir: &str) -> Result<(), HostError> {
        let p = self.on(host, "rm -rf", dir)?;
        match std::fs::remove_dir_all(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(host, "rm -rf")(e)),
            _ => Ok(()),
        }
    }

    fn copy_dir(
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

    fn write_image(&self, host: &str, rd: &str, url: &str) -> Result<String, HostError> {
        let op = format!("copy {url}");
        self.check(host, &op)?;
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

    fn mkfs(&self, host: &str, rd: &str, fs: &str, size_mb: u64) -> Result<(), HostError> {
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

    fn md5(&self, host: &str, rd: &str) -> Result<String, HostError> {
        self.check(host, "md5sum")?;
        let dev = self.device(host, rd);
        let out = Command::new("md5sum")
            .arg(&dev)
            .output()
            .map_err(io(host, "md5sum"))?;
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

    fn context(&self, files: &[String], host: &str, path: &str) -> Result<(), HostError> {
        let p = self.on(host, "context", path)?;
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(io(host, "mkdir -p"))?;
        }
        std::fs::write(&p, format!("LOCAL-CONTEXT-ISO {}\n", files.join(" ")))
            .map_err(io(host, "context"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn formats() {
        assert_eq!(sniff_format(b"QFI\xfb\0\0\0\x03"), "qcow2");
        assert_eq!(sniff_format(b"\0\0\0"), "raw");
        assert_eq!(sniff_format(b""), "raw");
    }

    #[test]
    fn local_links_and_dead_hosts() {
        let d = tempfile::tempdir().unwrap();
        let h = LocalHosts {
            root: d.path().join("hosts"),
            dev_dir: d.path().join("dev"),
        };
        h.link("n1", "/ds/0/5/disk.0", "one-vm-5-disk-0").unwrap();
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
}
