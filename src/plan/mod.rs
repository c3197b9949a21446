//! What a build publishes before any byte is written: entry ids and the
//! ledger that keeps them for good.

pub mod ids;
pub mod ledger;
