//! The error that stops a command: what `main` prints, exit code 1.

use super::diag::Diagnostic;
use std::path::{Path, PathBuf};

/// How a store failure bears on trying the same work again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFault {
    /// Unreachable, or refusing connections for now.
    Unreachable,
    /// Locked by another process.
    Locked,
    /// Out of descriptors or memory.
    Exhausted,
    /// Damaged, foreign, too new, refused: trying again will not mend it.
    Permanent,
}

/// Errors that stop a command. `main` prints them; exit code 1.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The site's content or configuration has problems the user must fix.
    #[error("{}", join(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A feed document could not be serialized (a bug, or an impossible value).
    #[error("{}: cannot write feed: {message}", .path.display())]
    Emit { path: PathBuf, message: String },
    /// The store of upstream items failed. The store turns its own error
    /// into this one (`From<StoreError>`), saying whether trying again may
    /// help, so that this layer needs no knowledge of the store.
    #[error("{message}")]
    Store { fault: StoreFault, message: String },
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn invalid(d: Diagnostic) -> Self {
        Error::Invalid(vec![d])
    }

    /// One error at `path:line` (the line when known): the usual way a
    /// command reports what the user must fix.
    pub fn at(path: impl AsRef<Path>, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::invalid(Diagnostic::error(path, line, message))
    }

    /// Whether the same work may succeed if simply tried again: the process
    /// was out of descriptors or memory, or the store was busy or
    /// unreachable. A problem in the site's files is not: it fails the same
    /// way until it is fixed.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Io { source, .. } => is_exhausted(source),
            Error::Store { fault, .. } => *fault != StoreFault::Permanent,
            // A file that could not be read becomes a diagnostic, which
            // keeps the words of the I/O error, not the error: look for
            // those words, exactly as `io::Error` displays them.
            Error::Invalid(ds) => {
                let words = exhausted_texts();
                ds.iter()
                    .any(|d| words.iter().any(|w| d.message.contains(w.as_str())))
            }
            _ => false,
        }
    }
}

/// Out of descriptors (the process's or the system's), buffers or memory:
/// a passing state, not a fault of what was asked.
pub fn is_exhausted(e: &std::io::Error) -> bool {
    if e.kind() == std::io::ErrorKind::OutOfMemory {
        return true;
    }
    #[cfg(unix)]
    {
        matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        )
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// How [`is_exhausted`] errors read in a message.
fn exhausted_texts() -> Vec<String> {
    #[cfg(unix)]
    {
        [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM]
            .into_iter()
            .map(|code| std::io::Error::from_raw_os_error(code).to_string())
            .collect()
    }
    #[cfg(not(unix))]
    {
        Vec::new()
    }
}

fn join(ds: &[Diagnostic]) -> String {
    ds.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_descriptors_is_transient_even_inside_a_diagnostic() {
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert!(Error::io("content", emfile).is_transient());
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        let d = Diagnostic::error(
            "tributary.yaml",
            None,
            format!("cannot read the site configuration: {emfile}"),
        );
        assert!(Error::invalid(d).is_transient());
        let broken = Diagnostic::error("content/a.md", Some(2), "date: not a date");
        assert!(!Error::invalid(broken).is_transient());
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(!Error::io("content", missing).is_transient());
    }
}
