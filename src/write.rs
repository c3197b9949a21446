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

/// Counts what passes through, for the manifest.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Let `fill` write a temp file beside `dest` (buffered), then fsync it.
/// Returns the staged file and how many bytes were written.
pub fn stage_with(
    dest: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<(Staged, u64)> {
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
        };
        fill(&mut w)?;
        let written = w.written;
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

/// Stage and commit one file.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    stage(dest, bytes)?.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

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
