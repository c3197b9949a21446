//! tributary: publish Markdown posts as RSS 2.0, Atom 1.0 and JSON Feed 1.1.
//!
//! The pipeline, one module per concern:
//! `config` (site and feed files) → `content` (posts on disk) → `render`
//! (Markdown to safe, absolute HTML) → `entry` (the one model every part speaks)
//! → `plan` (select, ids + ledger, paginate, fingerprints) → `app::build`
//! (render and write what changed) → `emit::{rss, atom, json}`
//! → `write` (atomic files). `validate` checks the bytes the emitters wrote;
//! `cli` is the command line on top.
//!
//! Upstream feeds: `aggregate` runs `fetch` (HTTP) → `parse` (any feed) →
//! `store` (SQLite), and draws stored items into combined feeds with `merge`.
//! `digest` writes a newsletter's releases section from a combined feed.
//!
//! The modules form layers (`util` → model → `config` → engines → `site` →
//! outputs → pipelines → `serve` → `cli`); each imports only its layer and
//! below. README.md, "Architecture", draws them; `tests/it/layers.rs`
//! enforces them, so a new module needs a place there.

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
