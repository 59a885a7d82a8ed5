//! Device backing of simulated volumes: sparse files, loop devices and the per-node
//! `drbd/by-res/<rsc>/<vlmnr>` symlinks frontends open.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// How volumes are backed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Backing {
    /// Symlinks point at `/dev/drbd<minor>` (dangling); no files.
    #[default]
    None,
    /// One sparse file per volume; symlinks point at the file.
    File,
    /// Sparse files plus one loop device per node and volume (root only).
    Loop,
}

impl std::str::FromStr for Backing {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Backing::None),
            "file" => Ok(Backing::File),
            "loop" => Ok(Backing::Loop),
            other => Err(format!("unknown backing '{other}' (loop|file|none)")),
        }
    }
}

/// File-system side of the simulator.
#[derive(Debug, Clone)]
pub struct Backend {
    pub mode: Backing,
    pub dev_dir: PathBuf,
    pub data_dir: PathBuf,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn copy_sparse(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(p) = to.parent() {
        fs::create_dir_all(p).map_err(|e| e.to_string())?;
    }
    run(Command::new("cp")
        .arg("--sparse=always")
        .arg("--reflink=auto")
        .arg(from)
        .arg(to))
    .map(|_| ())
}

impl Backend {
    pub fn has_files(&self) -> bool {
        self.mode != Backing::None
    }

    pub fn dev_root(&self, node: &str) -> PathBuf {
        self.dev_dir.join(node)
    }

    pub fn link_path(&self, node: &str, rsc: &str, vnr: u32) -> PathBuf {
        self.dev_root(node)
            .join("drbd/by-res")
            .join(rsc)
            .join(vnr.to_string())
    }

    pub fn vol_file(&self, rsc: &str, vnr: u32) -> PathBuf {
        self.data_dir
            .join("volumes")
            .join(format!("{}_{vnr:05}.img", rsc.to_ascii_lowercase()))
    }

    pub fn snap_file(&self, rsc: &str, snap: &str, vnr: u32) -> PathBuf {
        self.data_dir.join("snapshots").join(format!(
            "{}@{}_{vnr:05}.img",
            rsc.to_ascii_lowercase(),
            snap.to_ascii_lowercase()
        ))
    }

    /// Creates (or grows) the backing file of a volume.
    pub fn ensure_volume(&self, rsc: &str, vnr: u32, size_kib: u64) -> Result<(), String> {
        if !self.has_files() {
            return Ok(());
        }
        let path = self.vol_file(rsc, vnr);
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).map_err(|e| e.to_string())?;
        }
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let want = size_kib * 1024;
        let have = f.metadata().map_err(|e| e.to_string())?.len();
        if have < want {
            f.set_len(want).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    pub fn remove_volume(&self, rsc: &str, vnr: u32) {
        let _ = fs::remove_file(self.vol_file(rsc, vnr));
    }

    /// Attaches one volume on one node: loop device (if any) plus the by-res symlink.
    /// Returns the loop device path in loop mode.
    pub fn attach(
        &self,
        node: &str,
        rsc: &str,
        vnr: u32,
        minor: u32,
    ) -> Result<Option<String>, String> {
        let (target, lo) = match self.mode {
            Backing::None => (PathBuf::from(format!("/dev/drbd{minor}")), None),
            Backing::File => (self.vol_file(rsc, vnr), None),
            Backing::Loop => {
                let dev = run(Command::new("losetup")
                    .arg("--find")
                    .arg("--show")
                    .arg(self.vol_file(rsc, vnr)))?;
                (PathBuf::from(&dev), Some(dev))
            }
        };
        let link = self.link_path(node, rsc, vnr);
        if let Some(p) = link.parent() {
            fs::create_dir_all(p).map_err(|e| e.to_string())?;
        }
        let _ = fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).map_err(|e| e.to_string())?;
        Ok(lo)
    }

    /// Detaches every loop device whose backing file lies under this simulator's data
    /// directory: those a previous run left behind (killed, or a device lost from the state)
    /// and, at shutdown, any the state no longer names. Returns the devices detached.
    pub fn detach_stale(&self) -> Vec<String> {
        let Ok(root) = fs::canonicalize(&self.data_dir) else {
            return vec![];
        };
        let Ok(entries) = fs::read_dir("/sys/block") else {
            return vec![];
        };
        let mut out = vec![];
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("loop") {
                continue;
            }
            let Ok(bf) = fs::read_to_string(e.path().join("loop/backing_file")) else {
                continue;
            };
            let bf = bf.trim().trim_end_matches(" (deleted)");
            if Path::new(bf).starts_with(&root) {
                let dev = format!("/dev/{name}");
                if run(Command::new("losetup").arg("-d").arg(&dev)).is_ok() {
                    out.push(dev);
                }
            }
        }
        out
    }

    /// Removes the symlink and detaches the loop device of one volume on one node.
    pub fn detach(&self, node: &str, rsc: &str, vnr: u32, lo: Option<&str>) {
        let link = self.link_path(node, rsc, vnr);
        let _ = fs::remove_file(&link);
        if let Some(dir) = link.parent() {
            let _ = fs::remove_dir(dir);
        }
        if let Some(dev) = lo {
            let _ = run(Command::new("losetup").arg("-d").arg(dev));
        }
    }

    pub fn resize(
        &self,
        rsc: &str,
        vnr: u32,
        size_kib: u64,
        loops: &[String],
    ) -> Result<(), String> {
        self.ensure_volume(rsc, vnr, size_kib)?;
        for dev in loops {
            run(Command::new("losetup").arg("-c").arg(dev))?;
        }
        Ok(())
    }

    pub fn snapshot(&self, rsc: &str, snap: &str, vnr: u32) -> Result<(), String> {
        if !self.has_files() {
            return Ok(());
        }
        copy_sparse(&self.vol_file(rsc, vnr), &self.snap_file(rsc, snap, vnr))
    }

    pub fn remove_snapshot(&self, rsc: &str, snap: &str, vnr: u32) {
        let _ = fs::remove_file(self.snap_file(rsc, snap, vnr));
    }

    /// Copies snapshot data over a volume file, keeping the inode so loop devices see it.
    pub fn restore_into(
        &self,
        src_rsc: &str,
        snap: &str,
        vnr: u32,
        dst_rsc: &str,
        dst_vnr: u32,
    ) -> Result<(), String> {
        if !self.has_files() {
            return Ok(());
        }
        copy_sparse(
            &self.snap_file(src_rsc, snap, vnr),
            &self.vol_file(dst_rsc, dst_vnr),
        )
    }

    pub fn copy_volume(&self, src: &str, dst: &str, vnr: u32) -> Result<(), String> {
        if !self.has_files() {
            return Ok(());
        }
        copy_sparse(&self.vol_file(src, vnr), &self.vol_file(dst, vnr))
    }

    /// True when the device is held exclusively (mounted, or opened with O_EXCL).
    pub fn device_busy(dev: &str) -> bool {
        match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_EXCL)
            .open(dev)
        {
            Ok(_) => false,
            Err(e) => e.raw_os_error() == Some(libc::EBUSY),
        }
    }
}
