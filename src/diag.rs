//! Diagnostics that point at a file and line, and the crate's error type.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a diagnostic is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Severity {
    /// Information the user may want (an id the ledger kept), not a problem.
    Note,
    Warning,
    Error,
}

/// One problem in the user's files, printed as `path:line: message`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Path as the user knows it: relative to the site root where possible.
    pub path: PathBuf,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    pub message: String,
}

impl Diagnostic {
    pub fn error(path: impl AsRef<Path>, line: Option<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            path: path.as_ref().to_path_buf(),
            line,
            message: message.into(),
        }
    }

    pub fn warning(
        path: impl AsRef<Path>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(path, line, message)
        }
    }

    pub fn note(path: impl AsRef<Path>, line: Option<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Note,
            ..Diagnostic::error(path, line, message)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        match self.severity {
            Severity::Warning => write!(f, ": warning")?,
            Severity::Note => write!(f, ": note")?,
            Severity::Error => {}
        }
        write!(f, ": {}", self.message)
    }
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
    /// The store of upstream items failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
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

    /// Whether the same work may succeed if simply tried again: the process
    /// was out of descriptors or memory, or the store was busy or
    /// unreachable. A problem in the site's files is not: it fails the same
    /// way until it is fixed.
    pub fn is_transient(&self) -> bool {
        use crate::store::StoreError;
        match self {
            Error::Io { source, .. } => is_exhausted(source),
            Error::Store(StoreError::Database { .. } | StoreError::Locked { .. }) => true,
            Error::Store(StoreError::CreateDir { source, .. }) => is_exhausted(source),
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
