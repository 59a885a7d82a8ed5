//! Host side effects (device waits, mkfs, mount) behind [`HostOps`], with the real
//! implementation (argv only, never a shell string) and an in-memory fake for tests.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// What the storage layer and the frontends need from the host.
pub trait HostOps: Send + Sync + Debug {
    /// True when the device path exists now.
    fn device_exists(&self, path: &Path) -> bool;
    /// Wait until the device path exists (settling udev where available), bounded by `timeout`.
    fn wait_for_device(&self, path: &Path, timeout: Duration) -> Result<()>;
    /// Filesystem type on the device, `None` when it carries none.
    fn filesystem_type(&self, device: &Path) -> Result<Option<String>>;
    /// Make a filesystem (`mkfs.<fstype> [opts] device`).
    fn mkfs(&self, device: &Path, fstype: &str, opts: &[String]) -> Result<()>;
    /// Mount `device` on `target` (created if missing).
    fn mount(&self, device: &Path, target: &Path, fstype: &str, opts: &[String]) -> Result<()>;
    /// Unmount `target`.
    fn umount(&self, target: &Path) -> Result<()>;
    /// True when something is mounted on `target`.
    fn is_mounted(&self, target: &Path) -> Result<bool>;
    /// Grow the filesystem mounted at `target` on `device` to the device size.
    fn grow_fs(&self, device: &Path, target: &Path, fstype: &str) -> Result<()>;
    /// Size of a block device in bytes (`blockdev --getsize64`).
    fn block_device_size(&self, device: &Path) -> Result<u64>;
}

/// The real host: runs programs with argv, polls paths.
#[derive(Debug, Default, Clone)]
pub struct RealHost;

fn run(program: &str, args: &[&std::ffi::OsStr]) -> Result<String> {
    let op = format!(
        "{program} {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::HostIo {
            op: format!("cannot run {program} ({op})"),
            source: e,
        })?;
    if !out.status.success() {
        return Err(Error::Host {
            op,
            message: format!(
                "exit {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn unescape_mount_field(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Mount points listed in a `/proc/self/mounts`-style text.
pub fn mount_points(mounts: &str) -> Vec<PathBuf> {
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|p| PathBuf::from(unescape_mount_field(p)))
        .collect()
}

impl HostOps for RealHost {
    fn device_exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn wait_for_device(&self, path: &Path, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut settled = false;
        loop {
            if path.exists() {
                return Ok(());
            }
            if !settled
                && (Path::new("/usr/bin/udevadm").exists() || Path::new("/bin/udevadm").exists())
            {
                settled = true;
                let _ = Command::new("udevadm")
                    .args(["settle", "--timeout=2"])
                    .status();
                continue;
            }
            if Instant::now() >= deadline {
                return Err(Error::DeviceTimeout {
                    path: path.to_path_buf(),
                    seconds: timeout.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn filesystem_type(&self, device: &Path) -> Result<Option<String>> {
        let out = Command::new("blkid")
            .args(["-p", "-o", "value", "-s", "TYPE"])
            .arg(device)
            .output()
            .map_err(|e| Error::HostIo {
                op: format!("blkid {}", device.display()),
                source: e,
            })?;
        match out.status.code() {
            Some(0) => {
                let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
                Ok((!t.is_empty()).then_some(t))
            }
            Some(2) => Ok(None),
            _ => Err(Error::Host {
                op: format!("blkid {}", device.display()),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            }),
        }
    }

    fn mkfs(&self, device: &Path, fstype: &str, opts: &[String]) -> Result<()> {
        let program = format!("mkfs.{fstype}");
        let mut args: Vec<&std::ffi::OsStr> = Vec::new();
        if fstype.starts_with("ext") {
            args.push("-q".as_ref());
        }
        args.extend(opts.iter().map(|o| std::ffi::OsStr::new(o.as_str())));
        args.push(device.as_os_str());
        run(&program, &args).map(|_| ())
    }

    fn mount(&self, device: &Path, target: &Path, fstype: &str, opts: &[String]) -> Result<()> {
        std::fs::create_dir_all(target).map_err(|e| Error::HostIo {
            op: format!("mkdir {}", target.display()),
            source: e,
        })?;
        let joined = opts.join(",");
        let mut args: Vec<&std::ffi::OsStr> = vec!["-t".as_ref(), fstype.as_ref()];
        if !joined.is_empty() {
            args.push("-o".as_ref());
            args.push(joined.as_ref());
        }
        args.push(device.as_os_str());
        args.push(target.as_os_str());
        run("mount", &args).map(|_| ())
    }

    fn umount(&self, target: &Path) -> Result<()> {
        run("umount", &[target.as_os_str()]).map(|_| ())
    }

    fn is_mounted(&self, target: &Path) -> Result<bool> {
        let mounts = std::fs::read_to_string("/proc/self/mounts").map_err(|e| Error::HostIo {
            op: "read /proc/self/mounts".into(),
            source: e,
        })?;
        let canon = target
            .canonicalize()
            .unwrap_or_else(|_| target.to_path_buf());
        Ok(mount_points(&mounts)
            .iter()
            .any(|m| *m == canon || m == target))
    }

    fn grow_fs(&self, device: &Path, target: &Path, fstype: &str) -> Result<()> {
        match fstype {
            "xfs" => run("xfs_growfs", &[target.as_os_str()]).map(|_| ()),
            _ => run("resize2fs", &[device.as_os_str()]).map(|_| ()),
        }
    }

    fn block_device_size(&self, device: &Path) -> Result<u64> {
        let out = run("blockdev", &["--getsize64".as_ref(), device.as_os_str()])?;
        out.trim().parse().map_err(|_| Error::Host {
            op: format!("blockdev --getsize64 {}", device.display()),
            message: format!("unexpected output '{}'", out.trim()),
        })
    }
}

/// In-memory host for tests: devices "exist" when their path exists on disk or was added with
/// [`FakeHost::add_device`]; filesystems and mounts are recorded.
#[derive(Debug, Default)]
pub struct FakeHost {
    state: Mutex<FakeState>,
}

#[derive(Debug, Default)]
struct FakeState {
    devices: Vec<PathBuf>,
    filesystems: BTreeMap<PathBuf, String>,
    mounts: BTreeMap<PathBuf, PathBuf>,
    sizes: BTreeMap<PathBuf, u64>,
    calls: Vec<String>,
}

impl FakeHost {
    /// Make a device path exist.
    pub fn add_device(&self, path: &Path) {
        self.lock().devices.push(path.to_path_buf());
    }
    /// Give a device a size for [`HostOps::block_device_size`].
    pub fn set_device_size(&self, path: &Path, bytes: u64) {
        self.lock().sizes.insert(path.to_path_buf(), bytes);
    }
    /// Calls made so far, as `op arg…` strings.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }
    /// Current mounts (target → device).
    pub fn mounts(&self) -> BTreeMap<PathBuf, PathBuf> {
        self.lock().mounts.clone()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn record(&self, call: String) {
        self.lock().calls.push(call);
    }
}

impl HostOps for FakeHost {
    fn device_exists(&self, path: &Path) -> bool {
        path.symlink_metadata().is_ok() || self.lock().devices.iter().any(|d| d == path)
    }
    fn wait_for_device(&self, path: &Path, timeout: Duration) -> Result<()> {
        self.record(format!("wait {}", path.display()));
        let deadline = Instant::now() + timeout;
        while !self.device_exists(path) {
            if Instant::now() >= deadline {
                return Err(Error::DeviceTimeout {
                    path: path.to_path_buf(),
                    seconds: timeout.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
    fn filesystem_type(&self, device: &Path) -> Result<Option<String>> {
        Ok(self.lock().filesystems.get(device).cloned())
    }
    fn mkfs(&self, device: &Path, fstype: &str, _opts: &[String]) -> Result<()> {
        self.record(format!("mkfs {fstype} {}", device.display()));
        self.lock()
            .filesystems
            .insert(device.to_path_buf(), fstype.to_string());
        Ok(())
    }
    fn mount(&self, device: &Path, target: &Path, _fstype: &str, _opts: &[String]) -> Result<()> {
        self.record(format!("mount {} {}", device.display(), target.display()));
        self.lock()
            .mounts
            .insert(target.to_path_buf(), device.to_path_buf());
        Ok(())
    }
    fn umount(&self, target: &Path) -> Result<()> {
        self.record(format!("umount {}", target.display()));
        self.lock().mounts.remove(target);
        Ok(())
    }
    fn is_mounted(&self, target: &Path) -> Result<bool> {
        Ok(self.lock().mounts.contains_key(target))
    }
    fn grow_fs(&self, device: &Path, target: &Path, fstype: &str) -> Result<()> {
        self.record(format!(
            "growfs {fstype} {} {}",
            device.display(),
            target.display()
        ));
        Ok(())
    }
    fn block_device_size(&self, device: &Path) -> Result<u64> {
        self.record(format!("blockdev --getsize64 {}", device.display()));
        self.lock()
            .sizes
            .get(device)
            .copied()
            .ok_or_else(|| Error::Host {
                op: format!("blockdev --getsize64 {}", device.display()),
                message: "no such device".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mount_points_with_escapes() {
        let text = "/dev/sda1 / ext4 rw 0 0\n/dev/loop3 /var/lib/x\\040y ext4 rw 0 0\n";
        assert_eq!(
            mount_points(text),
            vec![PathBuf::from("/"), PathBuf::from("/var/lib/x y")]
        );
    }
}
