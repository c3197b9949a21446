//! The model every part speaks: `Entry` (local posts, upstream items and
//! merged entries alike), diagnostics and the error that stops a command,
//! and the one URL policy every URL passes before it leaves tributary.

pub mod diag;
pub mod entry;
pub mod error;
pub mod urlpolicy;

pub use diag::{Diagnostic, Severity};
pub use entry::{Entry, Person, Source};
pub use error::{Error, StoreFault};
