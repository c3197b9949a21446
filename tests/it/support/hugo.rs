//! Real Hugo for the `ids: hugo` tests: whether it is installed, running it,
//! and the (guid, link) pairs of an RSS document.
//!
//! Without `hugo` on the PATH the tests that need it print a skip note and
//! pass, unless `TRIBUTARY_HUGO_REQUIRED=1` (CI installs it), which makes it
//! a failure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `hugo` runs; prints why a test is skipped when it does not.
pub fn hugo_available() -> bool {
    if Command::new("hugo")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    if std::env::var("TRIBUTARY_HUGO_REQUIRED").as_deref() == Ok("1") {
        panic!("TRIBUTARY_HUGO_REQUIRED=1 but hugo is not installed (apt-get install hugo)");
    }
    eprintln!("skipped: hugo is not installed (apt-get install hugo)");
    false
}

/// Build the Hugo site at `root` into `dest`; panic with Hugo's output if it fails.
pub fn run_hugo(root: &Path, dest: &Path) -> PathBuf {
    let out = Command::new("hugo")
        .arg("--source")
        .arg(root)
        .arg("--destination")
        .arg(dest)
        .arg("--quiet")
        .env("HUGO_ENVIRONMENT", "production")
        .output()
        .expect("run hugo");
    assert!(
        out.status.success(),
        "hugo failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dest.to_path_buf()
}

/// The (guid, link) pairs of the items of an RSS document.
pub fn rss_guid_links(xml: &str) -> BTreeSet<(String, String)> {
    let channel = rss::Channel::read_from(xml.as_bytes()).expect("RSS");
    channel
        .items()
        .iter()
        .map(|i| {
            (
                i.guid().map(|g| g.value().to_string()).unwrap_or_default(),
                i.link().unwrap_or_default().to_string(),
            )
        })
        .collect()
}
