//! Cache and state files: each written whole (a temporary file beside it, then a rename), so a
//! reader sees the old content or the new, never a mix. A long-lived helper can [`defer`] cache
//! writes: it answers first and writes them with [`flush`] before it reads the next request.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Cache files waiting for [`flush`]: `None` until [`defer`], then path and content.
type Queue = Option<Vec<(PathBuf, Vec<u8>)>>;

static QUEUE: Mutex<Queue> = Mutex::new(None);
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Write `bytes` to `path` in one piece, creating its directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{seq}", std::process::id()));
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// From now on, [`write_cache`] in this process queues until [`flush`].
pub fn defer() {
    let mut q = QUEUE.lock().unwrap_or_else(PoisonError::into_inner);
    q.get_or_insert_with(Vec::new);
}

/// Write a cache file now, or queue it (the last content per file wins) after [`defer`].
pub fn write_cache(path: PathBuf, bytes: Vec<u8>) -> io::Result<()> {
    {
        let mut q = QUEUE.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(queue) = q.as_mut() {
            queue.retain(|(p, _)| *p != path);
            queue.push((path, bytes));
            return Ok(());
        }
    }
    write_atomic(&path, &bytes)
}

/// Write the queued cache files; a failure is logged with its file, the others still written.
pub fn flush() {
    let pending = {
        let mut q = QUEUE.lock().unwrap_or_else(PoisonError::into_inner);
        q.as_mut().map(std::mem::take).unwrap_or_default()
    };
    for (path, bytes) in pending {
        if let Err(e) = write_atomic(&path, &bytes) {
            tracing::warn!(file = %path.display(), error = %e, "cache file not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deferred_writes_land_at_flush_with_the_last_content() {
        let dir = tempfile::tempdir().unwrap();
        let now = dir.path().join("a/now.json");
        write_cache(now.clone(), b"1".to_vec()).unwrap();
        assert_eq!(
            std::fs::read(&now).unwrap(),
            b"1",
            "written at once before defer"
        );

        defer();
        let later = dir.path().join("later.json");
        write_cache(later.clone(), b"old".to_vec()).unwrap();
        write_cache(later.clone(), b"new".to_vec()).unwrap();
        assert!(!later.exists(), "queued, not written");
        flush();
        assert_eq!(std::fs::read(&later).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
        *QUEUE.lock().unwrap() = None;
    }
}
