//! The "known silent" memory: which controllers did not answer within their bound, and when.
//! While every configured controller is known silent (marks younger than the hold-off), a read
//! made inside a [`data_plane`] call is still sent, so a recovered controller is noticed, but
//! gets only the short grace instead of its bound (it runs on in the background with its bound,
//! so a late answer clears the mark and a bound passing renews it); any answer clears its
//! controller's mark.
//! With a state dir the memory is kept in `known-silent-controllers.json` (written atomically,
//! read at start), so per-call processes share it; a corrupt or foreign file is ignored.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// File name of the memory in the state dir.
pub const FILE_NAME: &str = "known-silent-controllers.json";
const FORMAT: &str = "linstor-plugins known-silent controllers v1";

tokio::task_local! {
    static DATA_PLANE: Cell<bool>;
}

/// Runs `call` as a data-plane call: its reads take the known-silent shortcut when every
/// controller is known silent. Returns the output and whether a read of `call` took the
/// shortcut (also inside an enclosing data-plane call).
pub async fn data_plane<F: std::future::Future>(call: F) -> (F::Output, bool) {
    if let Ok(before) = DATA_PLANE.try_with(|c| c.replace(false)) {
        let out = call.await;
        let took = DATA_PLANE.with(|c| {
            let took = c.get();
            c.set(before || took);
            took
        });
        return (out, took);
    }
    DATA_PLANE
        .scope(Cell::new(false), async move {
            let out = call.await;
            (out, DATA_PLANE.with(Cell::get))
        })
        .await
}

pub(crate) fn in_data_plane() -> bool {
    DATA_PLANE.try_with(|_| ()).is_ok()
}

pub(crate) fn note_shortcut() {
    let _ = DATA_PLANE.try_with(|c| c.set(true));
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileBody {
    format: String,
    /// Controller base URL -> when it was found silent (milliseconds since the epoch).
    silent_since_ms: BTreeMap<String, u64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The marks of one client's controllers, in configured order.
#[derive(Debug)]
pub(crate) struct KnownSilent {
    controllers: Vec<String>,
    marks: Mutex<Vec<Option<u64>>>,
    file: Option<PathBuf>,
    hold_off: Duration,
}

impl KnownSilent {
    /// The memory of `controllers`, read from `state_dir` when there is one.
    pub(crate) fn load(
        controllers: Vec<String>,
        state_dir: Option<&Path>,
        hold_off: Duration,
    ) -> Self {
        let file = state_dir.map(|d| d.join(FILE_NAME));
        let stored = file.as_deref().and_then(read_file).unwrap_or_default();
        let marks = controllers.iter().map(|c| stored.get(c).copied()).collect();
        Self {
            controllers,
            marks: Mutex::new(marks),
            file,
            hold_off,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<u64>>> {
        self.marks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fresh(&self, at: u64, now: u64) -> bool {
        at <= now.saturating_add(1000) && now.saturating_sub(at) < self.hold_off.as_millis() as u64
    }

    /// True when every controller is known silent, each mark younger than the hold-off.
    pub(crate) fn all_silent(&self) -> bool {
        let now = now_ms();
        self.lock()
            .iter()
            .all(|m| m.is_some_and(|at| self.fresh(at, now)))
    }

    /// The controllers known silent now.
    pub(crate) fn silent(&self) -> Vec<String> {
        let now = now_ms();
        self.lock()
            .iter()
            .zip(&self.controllers)
            .filter(|(m, _)| m.is_some_and(|at| self.fresh(at, now)))
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// Controller `idx` did not answer within its bound.
    pub(crate) fn mark(&self, idx: usize) {
        let mut marks = self.lock();
        marks[idx] = Some(now_ms());
        tracing::debug!(controller = %self.controllers[idx], "controller known silent");
        self.persist(&marks);
    }

    /// Controller `idx` answered.
    pub(crate) fn clear(&self, idx: usize) {
        let mut marks = self.lock();
        if marks[idx].take().is_some() {
            tracing::info!(controller = %self.controllers[idx], "controller answers again");
            self.persist(&marks);
        }
    }

    /// Writes this client's marks, keeping the fresh marks of other controllers in the file.
    fn persist(&self, marks: &[Option<u64>]) {
        let Some(file) = &self.file else {
            return;
        };
        let now = now_ms();
        let mut all = read_file(file).unwrap_or_default();
        all.retain(|c, at| !self.controllers.contains(c) && self.fresh(*at, now));
        for (c, m) in self.controllers.iter().zip(marks) {
            if let Some(at) = m {
                all.insert(c.clone(), *at);
            }
        }
        if let Err(e) = write_file(file, all) {
            tracing::warn!(file = %file.display(), error = %e, "known-silent controllers not written");
        }
    }
}

/// The marks in `file`; `None` (with a log line) when it is unreadable, corrupt or not ours.
fn read_file(file: &Path) -> Option<BTreeMap<String, u64>> {
    let text = match std::fs::read(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "ignoring the known-silent controllers: unreadable");
            return None;
        }
    };
    match serde_json::from_slice::<FileBody>(&text) {
        Ok(body) if body.format == FORMAT => Some(body.silent_since_ms),
        Ok(body) => {
            tracing::warn!(file = %file.display(), format = %body.format, "ignoring the known-silent controllers: not this format");
            None
        }
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "ignoring the known-silent controllers: corrupt or not ours");
            None
        }
    }
}

fn write_file(file: &Path, marks: BTreeMap<String, u64>) -> std::io::Result<()> {
    if marks.is_empty() {
        return match std::fs::remove_file(file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let body = FileBody {
        format: FORMAT.into(),
        silent_since_ms: marks,
    };
    crate::persist::write_atomic(
        file,
        &serde_json::to_vec(&body).map_err(std::io::Error::other)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctrls() -> Vec<String> {
        vec!["http://a:3370".into(), "http://b:3370".into()]
    }

    #[test]
    fn every_controller_must_be_marked_and_marks_expire() {
        let dir = tempfile::tempdir().unwrap();
        let m = KnownSilent::load(ctrls(), Some(dir.path()), Duration::from_secs(30));
        assert!(!m.all_silent());
        m.mark(0);
        assert!(!m.all_silent());
        m.mark(1);
        assert!(m.all_silent());
        let again = KnownSilent::load(ctrls(), Some(dir.path()), Duration::from_secs(30));
        assert_eq!(again.silent(), ctrls(), "read back by the next process");
        let expired = KnownSilent::load(ctrls(), Some(dir.path()), Duration::ZERO);
        assert!(!expired.all_silent());
        again.clear(0);
        assert!(!again.all_silent());
        let third = KnownSilent::load(ctrls(), Some(dir.path()), Duration::from_secs(30));
        assert_eq!(third.silent(), vec!["http://b:3370".to_string()]);
        third.clear(1);
        assert!(!dir.path().join(FILE_NAME).exists(), "no mark, no file");
    }

    #[test]
    fn other_controllers_marks_are_kept_and_bad_files_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let other = KnownSilent::load(
            vec!["http://c:3370".into()],
            Some(dir.path()),
            Duration::from_secs(30),
        );
        other.mark(0);
        let m = KnownSilent::load(ctrls(), Some(dir.path()), Duration::from_secs(30));
        m.mark(0);
        let other = KnownSilent::load(
            vec!["http://c:3370".into()],
            Some(dir.path()),
            Duration::from_secs(30),
        );
        assert_eq!(other.silent(), vec!["http://c:3370".to_string()]);
        let now = now_ms();
        for bad in [
            "\u{0}garbage".to_string(),
            format!(r#"{{"format":"something else","silent_since_ms":{{"http://a:3370":{now}}}}}"#),
            format!(r#"{{"http://a:3370":{now}}}"#),
        ] {
            std::fs::write(dir.path().join(FILE_NAME), bad).unwrap();
            let m = KnownSilent::load(ctrls(), Some(dir.path()), Duration::from_secs(30));
            assert!(m.silent().is_empty());
        }
    }
}
