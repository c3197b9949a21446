//! The daemon's log of source health changes. In `serve`, not `health`,
//! because it reads fetch results (`aggregate`), which `health` sits below.

use crate::app::aggregate::SourceResult;
use crate::store::health::short_reason;
use std::collections::HashMap;
use std::sync::Mutex;

/// The daemon's memory of which sources are failing, so that it logs the
/// change (one WARN when a source starts failing, one INFO when it
/// recovers) rather than every fetch.
#[derive(Debug, Default)]
pub struct Transitions {
    /// Failing sources by name, with the reason last logged.
    failing: Mutex<HashMap<String, u32>>,
}

impl Transitions {
    /// Log what `result` changes for `source`; whether it changed (the
    /// `/` page, which shows health, is then out of date).
    pub fn observe(&self, source: &str, result: &SourceResult) -> bool {
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            SourceResult::Failed(e) => {
                let count = failing.entry(source.to_string()).or_insert(0);
                *count += 1;
                if *count == 1 {
                    tracing::warn!(
                        "source {source:?} is failing: {}; retried with backoff (`tributary sources show {source:?}` has the details)",
                        short_reason(e)
                    );
                    return true;
                }
                tracing::debug!("source {source:?} still failing: {e}");
                false
            }
            SourceResult::Gone => {
                failing.remove(source);
                tracing::warn!("source {source:?} is gone (410): disabled");
                true
            }
            SourceResult::Fetched { .. } | SourceResult::NotModified => {
                let Some(n) = failing.remove(source) else {
                    return false;
                };
                let fetches = if n == 1 { "fetch" } else { "fetches" };
                tracing::info!("source {source:?} recovered after {n} failed {fetches}");
                true
            }
            SourceResult::NotDue | SourceResult::Elsewhere | SourceResult::Disabled(_) => false,
        }
    }
}
