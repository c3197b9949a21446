//! Helpers: temporary sites, running the binary, reading and validating
//! outputs, and the site configs of tests that draw from upstream feeds.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use tributary::config::Format;
use tributary::Diagnostic;

/// The site configuration most tests use.
pub const BASIC_CONFIG: &str = "title: Test Site\nbase_url: https://example.org/\n";

/// A feed with every default: `public/main.{atom,rss,json}`.
pub const MAIN_FEED: &str = "title: Main\n";

/// A site in a temporary directory. The site lives in `<tmp>/site`; commands
/// run with `<tmp>` as working directory and `-C <tmp>/site`, so that a
/// command that ignored `-C` would be noticed.
pub struct Site {
    tmp: tempfile::TempDir,
    root: PathBuf,
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (None when killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Panic with the output unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn expect_success(&self) -> &Self {
        self.expect_code(0)
    }

    /// Panic unless stderr contains `needle`.
    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr should contain {needle:?}; it was:\n{}",
            self.stderr
        );
        self
    }

    /// stderr lines that are warnings (`path:line: warning: ...`).
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains(": warning: "))
            .collect()
    }
}

impl Site {
    /// A site with `tributary.yaml` = `config` and no feeds or posts.
    pub fn new(config: &str) -> Site {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("site");
        fs::create_dir_all(root.join("content")).unwrap();
        fs::create_dir_all(root.join("feeds")).unwrap();
        let site = Site { tmp, root };
        site.write("tributary.yaml", config);
        site
    }

    /// A site with [`BASIC_CONFIG`] and the feed `main` ([`MAIN_FEED`]).
    pub fn basic() -> Site {
        let site = Site::new(BASIC_CONFIG);
        site.feed("main", MAIN_FEED);
        site
    }

    /// The site root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory commands run in (the site's parent).
    pub fn cwd(&self) -> &Path {
        self.tmp.path()
    }

    /// Write a file relative to the site root, creating directories.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let path = self.root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, contents).unwrap();
    }

    /// Write `content/NAME`.
    pub fn post(&self, name: &str, text: impl AsRef<[u8]>) {
        self.write(&format!("content/{name}"), text);
    }

    /// Write `feeds/NAME.yaml`.
    pub fn feed(&self, name: &str, yaml: &str) {
        self.write(&format!("feeds/{name}.yaml"), yaml);
    }

    /// Run `tributary -C SITE ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        run_command(self.command(args))
    }

    /// The command `tributary -C SITE ARGS...`, not started yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tributary"));
        cmd.current_dir(self.cwd())
            .arg("-C")
            .arg(&self.root)
            .args(args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1");
        cmd
    }

    /// `tributary build` (with extra global flags before the subcommand).
    pub fn build_with(&self, flags: &[&str]) -> Run {
        let mut args: Vec<&str> = flags.to_vec();
        args.push("build");
        self.run(&args)
    }

    pub fn build(&self) -> Run {
        self.build_with(&[])
    }

    /// Build, panic unless it succeeded, and validate every output.
    #[track_caller]
    pub fn build_ok(&self) -> Run {
        self.build_ok_with(&[])
    }

    #[track_caller]
    pub fn build_ok_with(&self, flags: &[&str]) -> Run {
        let r = self.build_with(flags);
        r.expect_success();
        self.assert_all_valid();
        r
    }

    /// The output directory.
    pub fn public(&self) -> PathBuf {
        self.root.join("public")
    }

    /// Bytes of `public/REL`.
    #[track_caller]
    pub fn read_bytes(&self, rel: &str) -> Vec<u8> {
        let p = self.public().join(rel);
        fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
    }

    /// Text of `public/REL`.
    #[track_caller]
    pub fn read(&self, rel: &str) -> String {
        String::from_utf8(self.read_bytes(rel)).expect("output is UTF-8")
    }

    /// `public/REL` parsed as JSON.
    #[track_caller]
    pub fn json(&self, rel: &str) -> serde_json::Value {
        serde_json::from_slice(&self.read_bytes(rel)).expect("output is JSON")
    }

    /// `public/REL` parsed as Atom.
    #[track_caller]
    pub fn atom(&self, rel: &str) -> atom_syndication::Feed {
        atom_syndication::Feed::read_from(&self.read_bytes(rel)[..]).expect("output is Atom")
    }

    /// `public/REL` parsed as RSS.
    #[track_caller]
    pub fn rss(&self, rel: &str) -> rss::Channel {
        rss::Channel::read_from(&self.read_bytes(rel)[..]).expect("output is RSS")
    }

    /// Every file under `public/`, relative, with `/` separators, sorted.
    pub fn public_files(&self) -> Vec<String> {
        list_files(&self.public())
    }

    /// Bytes of every file under `public/` plus the manifest.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out: BTreeMap<String, Vec<u8>> = self
            .public_files()
            .into_iter()
            .map(|f| {
                let b = self.read_bytes(&f);
                (f, b)
            })
            .collect();
        if let Ok(m) = fs::read(self.root.join(".tributary/build-manifest.json")) {
            out.insert("<manifest>".to_string(), m);
        }
        out
    }

    /// Every feed document under `public/` (not the HTML pages).
    pub fn feed_files(&self) -> Vec<String> {
        self.public_files()
            .into_iter()
            .filter(|f| !f.ends_with(".html") && !f.ends_with(".xsl"))
            .collect()
    }

    /// Validate every feed document under `public/` with
    /// `tributary::emit::validate::check`; panic on any error or warning.
    #[track_caller]
    pub fn assert_all_valid(&self) {
        let files = self.feed_files();
        assert!(!files.is_empty(), "no files in public/");
        for f in files {
            let bytes = self.read_bytes(&f);
            let ds = validate_file(Path::new(&f), &bytes);
            assert!(
                ds.is_empty(),
                "{f} does not validate:\n{}",
                ds.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

/// Run the shared feed oracle (`../shared/oracles/check-feed`) on `files`
/// under `dir` when `TRIBUTARY_ORACLES=1` and it is there; every file must
/// be `ok`. Returns whether it ran.
#[track_caller]
pub fn check_feed_oracle(dir: &Path, files: &[&str]) -> bool {
    let oracle = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/oracles/check-feed");
    if std::env::var("TRIBUTARY_ORACLES").as_deref() != Ok("1") || !oracle.is_file() {
        println!("check-feed skipped: set TRIBUTARY_ORACLES=1 with ../shared present");
        return false;
    }
    let out = Command::new(&oracle)
        .args(files)
        .current_dir(dir)
        .output()
        .expect("run check-feed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("check-feed:\n{stdout}{stderr}");
    assert!(out.status.success(), "check-feed failed:\n{stdout}{stderr}");
    assert_eq!(stdout.matches(": ok:").count(), files.len(), "{stdout}");
    true
}

pub fn run_command(mut cmd: Command) -> Run {
    let out = cmd.output().expect("run tributary");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir` (recursively), relative with `/` separators, sorted.
/// An absent directory has no files.
pub fn list_files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap();
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The format of a feed file: from its extension; `.xml` (or anything else)
/// is guessed from the content.
pub fn format_of(path: &Path, bytes: &[u8]) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("atom") => Format::Atom,
        Some("rss") => Format::Rss,
        Some("json") => Format::Json,
        _ => {
            let text = String::from_utf8_lossy(bytes);
            if text.trim_start().starts_with('{') {
                Format::Json
            } else if text.contains("<rss") {
                Format::Rss
            } else if text.contains("<feed") {
                Format::Atom
            } else {
                panic!("{}: cannot tell the feed format", path.display())
            }
        }
    }
}

/// Run the crate's validator on one document.
pub fn validate_file(path: &Path, bytes: &[u8]) -> Vec<Diagnostic> {
    tributary::emit::validate::check(format_of(path, bytes), bytes, path)
}

/// A post with front matter `fm` (lines without the `---`) and `body`.
pub fn post_text(fm: &str, body: &str) -> String {
    let fm = fm.trim_end_matches('\n');
    format!("---\n{fm}\n---\n{body}")
}

/// Texts between `<TAG...>` and `</TAG>` in `xml`, in order (the tag's
/// attributes are skipped; self-closing tags are not counted).
pub fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        // `<title` must not match `<titles`.
        match after.chars().next() {
            Some('>') | Some(' ') => {}
            _ => {
                rest = after;
                continue;
            }
        }
        let Some(gt) = after.find('>') else { break };
        if after[..gt].ends_with('/') {
            rest = &after[gt + 1..];
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push(&body[..end]);
        rest = &body[end + close.len()..];
    }
    out
}

/// The part of `xml` from the first `<entry>` / `<item>` on: entry-level text.
pub fn after_first<'a>(xml: &'a str, marker: &str) -> &'a str {
    match xml.find(marker) {
        Some(i) => &xml[i..],
        None => "",
    }
}

/// The part of `xml` before the first `marker`: feed-level text.
pub fn before_first<'a>(xml: &'a str, marker: &str) -> &'a str {
    match xml.find(marker) {
        Some(i) => &xml[..i],
        None => xml,
    }
}

/// Number of non-overlapping occurrences.
pub fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// JSON Feed items.
pub fn items(doc: &serde_json::Value) -> &Vec<serde_json::Value> {
    doc["items"].as_array().expect("items array")
}

/// This process's limits on open files: (soft, hard).
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 here, narrower on some targets
pub fn nofile_limits() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which lives
    // for the whole call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", std::io::Error::last_os_error());
    (lim.rlim_cur as u64, lim.rlim_max as u64)
}

/// Raise this process's soft limit on open files to at least `want`
/// (tests that hold hundreds of sockets open); panics if the hard limit
/// is lower.
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 here, narrower on some targets
pub fn raise_nofile(want: u64) {
    let (soft, hard) = nofile_limits();
    if soft >= want {
        return;
    }
    assert!(
        hard >= want,
        "this test needs {want} open files; the hard limit is {hard}"
    );
    let lim = libc::rlimit {
        rlim_cur: want as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// Make `cmd` start with `soft` and `hard` limits on open files.
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 here, narrower on some targets
pub fn limit_nofile(cmd: &mut Command, soft: u64, hard: u64) {
    use std::os::unix::process::CommandExt;
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: setrlimit is one, and the
    // closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

/// A site config for upstreams on the loopback test server (`fetch:`
/// allows private addresses, 2 s timeout).
pub fn config() -> String {
    format!("{BASIC_CONFIG}fetch: {{ {LOOPBACK_FETCH} }}\n")
}

/// The `fetch:` settings of [`config`].
pub const LOOPBACK_FETCH: &str = "allow_private_addresses: true, timeout: 2";

/// A site with `fetch: { FETCH }` in its config whose `feeds/stream.yaml`
/// ([`stream_yaml`]) draws at most `limit` entries from `upstreams` (url, name).
pub fn stream_site(fetch: &str, limit: usize, upstreams: &[(&str, &str)]) -> Site {
    let site = Site::new(&format!("{BASIC_CONFIG}fetch: {{ {fetch} }}\n"));
    site.feed("stream", &stream_yaml(limit, upstreams));
    site
}

/// A feed file `title: Stream` of `limit` entries drawing from `upstreams` (url, name).
pub fn stream_yaml(limit: usize, upstreams: &[(&str, &str)]) -> String {
    let mut out = format!("title: Stream\nlimit: {limit}\nupstreams:\n");
    for (url, name) in upstreams {
        out.push_str(&format!("  - url: \"{url}\"\n    name: \"{name}\"\n"));
    }
    out
}

/// The `fetched N, not modified N, failed N, new items N ...` line.
#[track_caller]
pub fn summary(r: &Run) -> &str {
    r.stderr
        .lines()
        .find(|l| l.starts_with("fetched "))
        .unwrap_or_else(|| panic!("no summary line in stderr:\n{}", r.stderr))
}
