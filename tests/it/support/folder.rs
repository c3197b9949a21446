//! The binary run in a plain folder that is not (yet) a site: `init`, and
//! the errors of a folder that is none.

use crate::support::site::{run_command, Run};
use std::path::Path;
use std::process::Command;

/// `tributary ARGS...` with `dir` as the working directory and no `-C`.
pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tributary"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1");
    run_command(cmd)
}

/// Write `rel` under `dir`, creating folders.
pub fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create folders");
    }
    std::fs::write(path, text).expect("write");
}

/// Whether `program --version` runs (Jekyll and Hugo are installed in CI).
pub fn installed(program: &str, version_arg: &str) -> bool {
    Command::new(program)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success())
}
