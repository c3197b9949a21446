//! Each command's work over a loaded site, returning a report: `build`,
//! `aggregate` (fetch runs and combined feeds), `lease` (who fetches what on
//! a shared store), `digest`, `init`, `adopt` and `diff` (switching over), `sources`.

pub mod adopt;
pub mod aggregate;
pub mod build;
pub mod check;
pub mod diff;
pub mod digest;
pub mod index;
pub mod init;
pub mod lease;
pub mod links;
pub mod push;
pub mod sources;
