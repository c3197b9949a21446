//! What the integration tests share: test files import only from here, never
//! from each other.
//!
//! `upstream_server.rs`, `pg.rs` and `load_check.rs` are also included by the
//! benchmarks (`#[path]`), so they use nothing from this crate.

#![allow(dead_code)]

pub mod daemon;
pub mod feedparser_suite;
pub mod feeds;
pub mod folder;
pub mod hugo;
pub mod jekyll;
pub mod load_check;
pub mod pg;
pub mod reader;
pub mod site;
pub mod upstream_server;
pub mod websub;
