//! When to try a failing source again.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// Delay after the first failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5 * 60);
/// No source waits longer than this, whatever its record.
pub const BACKOFF_MAX: Duration = Duration::from_secs(24 * 60 * 60);

/// Delay before the next attempt after `consecutive_failures` failures in a
/// row: 5 min × 2^(n-1), capped at 24 h, then spread by ±20 % so that sources
/// that failed together (one host down) are not retried together. The jitter
/// is derived from `key` (the source) and `now` with xxh3, so it is
/// reproducible; the result never exceeds [`BACKOFF_MAX`]. Zero failures: no delay.
pub fn backoff(consecutive_failures: u32, key: &str, now: DateTime<Utc>) -> Duration {
    if consecutive_failures == 0 {
        return Duration::ZERO;
    }
    // 2^9 × 5 min already exceeds 24 h; clamping the exponent avoids overflow.
    let exp = (consecutive_failures - 1).min(16);
    let base = BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_MAX);
    let mut seed = Vec::with_capacity(key.len() + 12);
    seed.extend_from_slice(key.as_bytes());
    seed.extend_from_slice(&now.timestamp().to_le_bytes());
    seed.extend_from_slice(&now.timestamp_subsec_nanos().to_le_bytes());
    let h = xxhash_rust::xxh3::xxh3_64(&seed);
    // A factor in [0.8, 1.2], in 1/10000 steps.
    let factor = 0.8 + 0.4 * ((h % 10_001) as f64 / 10_000.0);
    base.mul_f64(factor).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn grows_exponentially_within_jitter() {
        assert_eq!(backoff(0, "a", t(0)), Duration::ZERO);
        for (n, minutes) in [(1u32, 5u64), (2, 10), (3, 20), (4, 40), (5, 80)] {
            let d = backoff(n, "https://example.org/feed", t(0)).as_secs_f64();
            let nominal = (minutes * 60) as f64;
            assert!(
                d >= nominal * 0.8 - 1e-6 && d <= nominal * 1.2 + 1e-6,
                "{n}: {d} vs {nominal}"
            );
        }
        assert!(backoff(40, "x", t(0)) <= BACKOFF_MAX);
        assert!(backoff(u32::MAX, "x", t(0)) <= BACKOFF_MAX);
        assert!(backoff(u32::MAX, "x", t(0)) >= BACKOFF_MAX.mul_f64(0.8));
    }

    #[test]
    fn jitter_is_deterministic_and_spreads_sources() {
        assert_eq!(backoff(3, "a", t(5)), backoff(3, "a", t(5)));
        let spread: std::collections::BTreeSet<_> = (0..50)
            .map(|i| backoff(3, &format!("https://host{i}.example/feed"), t(0)))
            .collect();
        assert!(spread.len() > 40, "only {} distinct delays", spread.len());
        assert_ne!(backoff(3, "a", t(0)), backoff(3, "a", t(1)));
    }

    proptest! {
        #[test]
        fn always_within_bounds(n in 1u32..64, key in ".{0,40}", s in 0i64..100_000_000) {
            let d = backoff(n, &key, t(s));
            prop_assert!(d >= BACKOFF_BASE.mul_f64(0.8));
            prop_assert!(d <= BACKOFF_MAX);
            if n > 1 {
                // Never shorter than the previous step's lower bound.
                let nominal = BACKOFF_BASE.saturating_mul(1u32 << (n - 1).min(16)).min(BACKOFF_MAX);
                prop_assert!(d >= nominal.mul_f64(0.8));
            }
        }
    }
}
