//! Atomic file replacement: a reader (or a web server) sees the old file or
//! the new one, never a torn one, and a failed build leaves old files in place.
//!
//! Files are written in two phases: `stage` writes and fsyncs a temp file in
//! the destination's directory; `Staged::commit` renames it over the target.
//! A build stages every document first and commits only when all succeeded.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fully written temp file waiting to replace its destination.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

/// Write `bytes` to a temp file beside `dest` and fsync it.
pub fn stage(dest: &Path, bytes: &[u8]) -> io::Result<Staged> {
    stage_with(dest, |w| w.write_all(bytes)).map(|(s, _)| s)
}

/// Counts and hashes what passes through, for the manifest.
struct Counting<W> {
    inner: W,
    written: u64,
    hash: xxhash_rust::xxh3::Xxh3,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What `stage_with` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub len: u64,
    /// xxh3 of the bytes: tells whether a rewritten file really changed.
    pub hash: u64,
}

/// Let `fill` write a temp file beside `dest` (buffered), then fsync it.
/// Returns the staged file and what was written.
pub fn stage_with(
    dest: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<(Staged, Written)> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut w = Counting {
            inner: io::BufWriter::with_capacity(1 << 20, File::create(&tmp)?),
            written: 0,
            hash: xxhash_rust::xxh3::Xxh3::new(),
        };
        fill(&mut w)?;
        let written = Written {
            len: w.written,
            hash: w.hash.digest(),
        };
        let f = w.inner.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        Ok(written)
    })();
    match result {
        Ok(written) => Ok((
            Staged {
                tmp,
                dest: dest.to_path_buf(),
                committed: false,
            },
            written,
        )),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

impl Staged {
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Rename over the destination and fsync the directory so the rename survives a crash.
    pub fn commit(mut self) -> io::Result<()> {
        fs::rename(&self.tmp, &self.dest)?;
        self.committed = true;
        if let Some(dir) = self.dest.parent() {
            // Directory fsync is not supported everywhere; the rename is what matters.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Remove the temp files (`.NAME.tmp-PID-N`) that a killed process left
/// under `dir`: those whose process is gone. Returns how many were removed.
/// Only where the process table can be read (`/proc`); elsewhere none.
pub fn remove_stale_temps(dir: &Path) -> usize {
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let mut removed = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let path = e.path();
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let name = e.file_name();
            let Some(pid) = temp_owner(&name.to_string_lossy()) else {
                continue;
            };
            let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
            if !alive && fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// The process id in a temp file name `.NAME.tmp-PID-N`.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Stage and commit one file.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    stage(dest, bytes)?.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_files_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("tags");
        fs::create_dir_all(&sub).unwrap();
        // A pid no process has (above the kernel's limit).
        fs::write(sub.join(".a.atom.tmp-4194305-0"), "x").unwrap();
        let mine = format!(".b.atom.tmp-{}-1", std::process::id());
        fs::write(dir.path().join(&mine), "x").unwrap();
        fs::write(dir.path().join("feed.atom"), "x").unwrap();
        fs::write(dir.path().join(".tmp-notes"), "x").unwrap();
        if Path::new("/proc/self").exists() {
            assert_eq!(remove_stale_temps(dir.path()), 1);
            assert!(!sub.join(".a.atom.tmp-4194305-0").exists());
        }
        assert!(dir.path().join(mine).exists());
        assert!(dir.path().join("feed.atom").exists());
        assert!(dir.path().join(".tmp-notes").exists());
        assert_eq!(temp_owner(".x.rss.tmp-12-3"), Some(12));
        assert_eq!(temp_owner("x.rss"), None);
    }

    #[test]
    fn staged_files_appear_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a/feed.atom");
        write_atomic(&dest, b"old").unwrap();
        let staged = stage(&dest, b"new").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        drop(staged);
        assert_eq!(fs::read(&dest).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(dest.parent().unwrap()).unwrap().count(),
            1,
            "temp file removed"
        );
        stage(&dest, b"new").unwrap().commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"new");
    }
}
