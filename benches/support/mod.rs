//! Shared by the benchmarks: peak memory from /proc (Linux) and sizes in MB.
#![allow(dead_code)]

/// Resets the peak-RSS high-water mark (Linux only; ignored elsewhere).
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A `/proc/self/status` field given in kB, in bytes.
pub fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Peak RSS since the last reset (`VmHWM`), if the platform reports it.
pub fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// Current RSS (`VmRSS`).
pub fn current_rss() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// Bytes as MB with one decimal.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

/// A peak as text, `n/a` where the platform does not report it.
pub fn peak_text(p: Option<u64>) -> String {
    p.map_or_else(|| "n/a".to_string(), mb)
}
