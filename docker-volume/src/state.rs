//! The plugin's persistent state in `--state-dir`: mount reference counts per (volume, mount
//! ID) with the boot id they belong to, and the volumes last seen, so Get and List can answer
//! while the controller is unreachable. Written atomically (temp file, fsync, rename).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use linstor_common::error::Cause;
use serde::{Deserialize, Serialize};

/// File name inside the state dir.
pub const STATE_FILE: &str = "docker-volume-state.json";

/// One volume mounted on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountEntry {
    /// LINSTOR resource name.
    pub rd: String,
    /// Where the filesystem is mounted (`<mount root>/<rd>`).
    pub target: PathBuf,
    /// Mount ID → number of Mounts not yet matched by an Unmount.
    pub ids: BTreeMap<String, u32>,
}

impl MountEntry {
    /// Outstanding mounts over all IDs.
    pub fn total(&self) -> u64 {
        self.ids.values().map(|c| u64::from(*c)).sum()
    }
}

/// A volume last seen on the controller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownVolume {
    /// LINSTOR resource name.
    pub rd: String,
    /// RFC 3339 creation time, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

/// Everything persisted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Boot id the mounts belong to (`/proc/sys/kernel/random/boot_id`).
    #[serde(default)]
    pub boot_id: String,
    /// Docker volume name → local mount.
    #[serde(default)]
    pub mounts: BTreeMap<String, MountEntry>,
    /// Docker volume name → last known volume.
    #[serde(default)]
    pub known: BTreeMap<String, KnownVolume>,
}

impl State {
    /// Add one reference for `id`; returns the volume's new total.
    pub fn add_ref(&mut self, name: &str, rd: &str, target: &Path, id: &str) -> u64 {
        let e = self
            .mounts
            .entry(name.to_string())
            .or_insert_with(|| MountEntry {
                rd: rd.to_string(),
                target: target.to_path_buf(),
                ids: BTreeMap::new(),
            });
        *e.ids.entry(id.to_string()).or_insert(0) += 1;
        e.total()
    }

    /// Drop one reference of `id`. `None` when the volume or the ID was not mounted (an
    /// unknown ID is not an error: Docker may repeat an Unmount); otherwise the new total.
    pub fn drop_ref(&mut self, name: &str, id: &str) -> Option<u64> {
        let e = self.mounts.get_mut(name)?;
        let c = e.ids.get_mut(id)?;
        *c -= 1;
        if *c == 0 {
            e.ids.remove(id);
        }
        Some(e.total())
    }
}

/// The state file of one plugin instance.
#[derive(Debug)]
pub struct StateStore {
    path: PathBuf,
}

/// Reading or writing the state failed.
#[derive(Debug, thiserror::Error)]
#[error("state file {}: {what}", .path.display())]
pub struct StateError {
    /// The file (or directory).
    pub path: PathBuf,
    /// What failed.
    pub what: &'static str,
    /// Why.
    #[source]
    pub source: Cause,
}

impl StateStore {
    /// The store in `dir` (created when missing).
    pub fn new(dir: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(|e| StateError {
            path: dir.to_path_buf(),
            what: "cannot create the state directory",
            source: e.into(),
        })?;
        Ok(Self {
            path: dir.join(STATE_FILE),
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Load; a missing file is an empty state.
    pub fn load(&self) -> Result<State, StateError> {
        let err = |what, source: Cause| StateError {
            path: self.path.clone(),
            what,
            source,
        };
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| err("unreadable; move it away to start afresh", e.into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(err("cannot read it", e.into())),
        }
    }

    /// Save atomically.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let err = |source: Cause| StateError {
            path: self.path.clone(),
            what: "cannot write it",
            source,
        };
        let tmp = self.path.with_extension("json.tmp");
        let data = serde_json::to_vec_pretty(state).map_err(|e| err(e.into()))?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| err(e.into()))?;
        f.write_all(&data).map_err(|e| err(e.into()))?;
        f.sync_all().map_err(|e| err(e.into()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| err(e.into()))?;
        Ok(())
    }
}

/// The current boot id (empty when unknown).
pub fn boot_id(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refcount_per_id_counts_repeats() {
        let mut s = State::default();
        let t = Path::new("/m/v");
        assert_eq!(s.add_ref("v", "v", t, "A"), 1);
        assert_eq!(
            s.add_ref("v", "v", t, "A"),
            2,
            "the same ID twice counts twice"
        );
        assert_eq!(s.add_ref("v", "v", t, "B"), 3);
        assert_eq!(s.drop_ref("v", "A"), Some(2));
        assert_eq!(s.drop_ref("v", "X"), None, "unknown ID");
        assert_eq!(s.drop_ref("w", "A"), None, "unknown volume");
        assert_eq!(s.drop_ref("v", "A"), Some(1));
        assert_eq!(s.drop_ref("v", "A"), None);
        assert_eq!(s.drop_ref("v", "B"), Some(0));
    }

    #[test]
    fn persists_across_instances() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::new(&dir.path().join("sub")).unwrap();
        assert_eq!(store.load().unwrap(), State::default());
        let mut s = State {
            boot_id: "b1".into(),
            ..Default::default()
        };
        s.add_ref("v", "v", Path::new("/m/v"), "A");
        s.known.insert(
            "v".into(),
            KnownVolume {
                rd: "v".into(),
                created_at: None,
            },
        );
        store.save(&s).unwrap();
        let again = StateStore::new(&dir.path().join("sub")).unwrap();
        assert_eq!(again.load().unwrap(), s);
        std::fs::write(again.path(), "{not json").unwrap();
        let e = again.load().unwrap_err().to_string();
        assert!(e.contains("move it away"), "{e}");
    }
}
