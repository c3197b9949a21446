//! tributary: publish Markdown posts as RSS 2.0, Atom 1.0 and JSON Feed 1.1,
//! and merge upstream feeds into combined ones.
//!
//! The folders are the layers, highest first; each imports only its own
//! layer and the ones below (`tests/it/layers.rs` enforces it, README.md
//! "Architecture" tells where a new piece goes):
//!
//! ```text
//! cli          the command line
//! serve        the daemon
//! app          each command's work: build, aggregate, lease, digest, adopt, diff, sources
//! plan  emit   ids + ledger; the bytes of every format and page, and their checks
//! site         a loaded site
//! content  parse  fetch  store  merge     engines, none knows a site
//! config       tributary.yaml and feeds/*.yaml as plain data
//! model        Entry, Diagnostic, Error, the URL policy
//! util         dates, text, atomic writes, parallel map, YAML, tag scanner
//! ```
//!
//! A post: `content` (file → `Post`, Markdown → HTML) → `plan` (→ `Entry`,
//! select, ids + ledger, paginate, fingerprints) → `app::build` (render what
//! changed) → `emit` (bytes) →
//! `util::write` (atomic files) → `serve` (snapshot, HTTP).
//! An upstream item: `app::aggregate` → `fetch` → `parse` (→ `Entry`) →
//! `store`; at build time store → `merge` (rules, related, same story) →
//! `emit`.

pub mod app;
pub mod cli;
pub mod config;
pub mod content;
pub mod emit;
pub mod fetch;
pub mod merge;
pub mod model;
pub mod parse;
pub mod plan;
pub mod serve;
pub mod site;
pub mod store;
pub mod util;

pub use model::{Diagnostic, Entry, Error, Person, Severity, Source};
