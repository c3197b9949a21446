//! Diagnostics that point at a file and line.

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
