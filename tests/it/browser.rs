//! The pages `serve` serves, in a real browser: headless Chromium loads the
//! index and a feed page of the served example site, dumps the DOM it built
//! and takes a screenshot. Skipped, with the reason printed, where no
//! Chromium is installed.

use crate::support::daemon::{copy_example_site, Daemon};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One Chromium run may take this long (first start on a cold disk is slow).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// `chromium` or `chromium-browser` on PATH.
fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Chromium, installed with apt-get when allowed (`TRIBUTARY_BROWSER=1`,
/// root, apt-get present); otherwise the reason to skip.
fn chromium() -> Result<PathBuf, String> {
    if let Some(p) = find_chromium() {
        return Ok(p);
    }
    if std::env::var("TRIBUTARY_BROWSER").as_deref() != Ok("1") {
        return Err("no chromium or chromium-browser on PATH (set TRIBUTARY_BROWSER=1 to let the test apt-get install it)".into());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return Err("no chromium on PATH, and not root to install it".into());
    }
    let installed = Command::new("apt-get")
        .args(["install", "-y", "chromium"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("no chromium on PATH and apt-get cannot run: {e}"))?;
    if !installed.success() {
        return Err(format!("apt-get install -y chromium failed ({installed})"));
    }
    find_chromium().ok_or_else(|| "apt-get installed chromium but it is not on PATH".into())
}

/// What one bounded browser run printed.
struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Run `cmd` for at most `limit`; the child is killed when it runs over.
fn run_bounded(mut cmd: Command, limit: Duration) -> Out {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let pipe_reader = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = pipe_reader(child.stdout.take().map(|s| Box::new(s) as _));
    let err = pipe_reader(child.stderr.take().map(|s| Box::new(s) as _));
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap_or_default();
    let mut stderr = err.join().unwrap_or_default();
    if status.is_none() {
        stderr.push_str(&format!("\n(killed after {limit:?})"));
    }
    Out {
        ok: status.is_some_and(|s| s.success()),
        stdout,
        stderr,
    }
}

/// A headless Chromium command with its own profile under `profile`.
fn browser(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1200,1600",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// The `title:` of every post under `content/`.
fn post_titles(content: &Path) -> Vec<String> {
    let mut titles: Vec<String> = std::fs::read_dir(content)
        .expect("content/")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter_map(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("title:"))
                .map(|t| t.trim().trim_matches('"').to_string())
        })
        .collect();
    titles.sort();
    titles
}

#[test]
fn chromium_renders_the_index_and_a_feed_page() {
    let chromium = match chromium() {
        Ok(p) => p,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("site");
    copy_example_site(&root);
    let d = Daemon::start(&root, tmp.path());
    let titles = post_titles(&root.join("content"));
    assert!(titles.len() >= 3, "{titles:?}");

    for (path, must_have) in [
        (
            "/",
            vec![
                "Last Week in Riverbed Development".to_string(),
                "Riverbed Weekly and the projects around it".to_string(),
                "Atom".to_string(),
                "JSON Feed".to_string(),
            ],
        ),
        ("/main.html", titles.clone()),
    ] {
        let url = d.url(path);
        let name = if path == "/" { "index" } else { "main" };

        let dom = run_bounded(
            {
                let mut c = browser(&chromium, &tmp.path().join(format!("profile-{name}-dom")));
                c.arg("--dump-dom").arg(&url);
                c
            },
            BROWSER_TIMEOUT,
        );
        assert!(dom.ok, "chromium --dump-dom {url} failed:\n{}", dom.stderr);
        assert!(
            dom.stdout.contains("<html") && dom.stdout.contains("</body>"),
            "not a DOM: {}\n{}",
            dom.stdout,
            dom.stderr
        );
        for text in &must_have {
            let escaped = html_escape::encode_text(text);
            assert!(
                dom.stdout.contains(text.as_str()) || dom.stdout.contains(escaped.as_ref()),
                "{url}: {text:?} not in the DOM:\n{}",
                dom.stdout
            );
        }

        let png = tmp.path().join(format!("{name}.png"));
        let shot = run_bounded(
            {
                let mut c = browser(&chromium, &tmp.path().join(format!("profile-{name}-shot")));
                c.arg(format!("--screenshot={}", png.display())).arg(&url);
                c
            },
            BROWSER_TIMEOUT,
        );
        assert!(
            shot.ok,
            "chromium --screenshot {url} failed:\n{}",
            shot.stderr
        );
        let bytes = std::fs::read(&png)
            .unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{}", png.display(), shot.stderr));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is a PNG",
            png.display()
        );
        assert!(
            bytes.len() > 10 * 1024,
            "{} is only {} bytes",
            png.display(),
            bytes.len()
        );
        println!(
            "screenshot of {url}: {} ({} bytes)",
            png.display(),
            bytes.len()
        );
    }
    // The screenshots go with the temp dir unless asked to keep them.
    if std::env::var_os("TRIBUTARY_KEEP_SCREENSHOTS").is_some() {
        let kept = tmp.keep();
        println!("kept {}", kept.display());
    }
}

/// The `/` page on a phone: at 400 px wide, a source failing with a long
/// URL and a long error is a short status, and nothing scrolls sideways.
#[test]
fn the_index_reads_on_a_phone() {
    let chromium = match chromium() {
        Ok(p) => p,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let server = crate::support::upstream_server::TestServer::start();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!(
            "http://127.0.0.1:{}/a/rather/long/path/to/a/release/feed/that/never/answers/releases.atom",
            l.local_addr().expect("addr").port()
        )
    };
    let site = crate::support::site::Site::new(&crate::support::site::config());
    site.feed("main", "title: Main\n");
    site.feed(
        "stream",
        &crate::support::site::stream_yaml(
            50,
            &[
                (
                    &server.url("/missing.atom"),
                    "A source whose name is rather long too",
                ),
                (&dead, "Dead"),
            ],
        ),
    );
    let d = Daemon::serve(&site);
    let html = crate::support::daemon::wait_for(
        Duration::from_secs(20),
        "both sources failing on /",
        || {
            let t = d.get("/").text();
            (t.matches("failing (1x)").count() == 2).then_some(t)
        },
    );
    assert!(html.contains("failing (1x): cannot connect"), "{html}");
    assert!(!html.contains(">failing (1x): http"), "{html}");

    // Headless Chromium's window is at least 500 px wide: the page goes in
    // a 400 px frame (its own viewport, so its media queries apply), and a
    // probe in the outer page reports how wide the frame's layout is.
    let tmp = tempfile::tempdir().expect("tempdir");
    let probed = format!(
        "<!DOCTYPE html><html><body style=\"margin:0\">\
         <iframe id=\"f\" style=\"width:400px;height:900px;border:0\" srcdoc=\"{}\"></iframe>\
         <script>var f=document.getElementById('f');function probe(){{\
         var d=f.contentDocument.documentElement;var p=document.createElement('pre');p.id='probe';\
         p.textContent=d.scrollWidth+' '+d.clientWidth;document.body.appendChild(p);}}\
         if(f.contentDocument&&f.contentDocument.readyState==='complete'&&f.contentDocument.body&&f.contentDocument.body.childNodes.length){{probe();}}else{{f.onload=probe;}}</script>\
         </body></html>",
        html_escape::encode_double_quoted_attribute(&html)
    );
    let page = tmp.path().join("index.html");
    std::fs::write(&page, probed).expect("write the probed page");
    let dom = run_bounded(
        {
            let mut c = browser(&chromium, &tmp.path().join("profile-phone"));
            c.arg("--window-size=500,900")
                .arg("--dump-dom")
                .arg(format!("file://{}", page.display()));
            c
        },
        BROWSER_TIMEOUT,
    );
    assert!(dom.ok, "chromium --dump-dom failed:\n{}", dom.stderr);
    let probe = dom
        .stdout
        .split("<pre id=\"probe\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_else(|| panic!("no probe in the DOM:\n{}", dom.stdout));
    let widths: Vec<u32> = probe
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(widths.len(), 2, "{probe}");
    assert!(widths[1] <= 400, "the window is {} px wide", widths[1]);
    assert!(
        widths[0] <= widths[1],
        "at {} px the page is {} px wide: it scrolls sideways",
        widths[1],
        widths[0]
    );

    let png = tmp.path().join("index-400.png");
    let shot = run_bounded(
        {
            let mut c = browser(&chromium, &tmp.path().join("profile-phone-shot"));
            c.arg("--window-size=500,900")
                .arg(format!("--screenshot={}", png.display()))
                .arg(format!("file://{}", page.display()));
            c
        },
        BROWSER_TIMEOUT,
    );
    assert!(shot.ok, "chromium --screenshot failed:\n{}", shot.stderr);
    println!("screenshot of / at 400 px: {}", png.display());
    if std::env::var_os("TRIBUTARY_KEEP_SCREENSHOTS").is_some() {
        let kept = tmp.keep();
        println!("kept {}", kept.display());
    }
}
