//! A real feed reader (newsboat) subscribed to a feed file served on
//! 127.0.0.1: what readers see before and after a switch.

use std::fs;

/// An HTTP server on 127.0.0.1 answering every GET with the current bytes of
/// the file `serving` points at, as `application/atom+xml`.
pub fn serve_file(serving: std::sync::Arc<std::sync::Mutex<std::path::PathBuf>>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/feed.xml", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let path = serving.lock().unwrap().clone();
            let body = fs::read(path).unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/atom+xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    url
}

/// One `newsboat -x reload` of `url` with its own config and cache in `dir`;
/// returns the number of items in its cache.
pub fn newsboat_reload(dir: &std::path::Path, url: &str) -> usize {
    fs::create_dir_all(dir.join("home")).unwrap();
    fs::write(dir.join("urls"), format!("{url}\n")).unwrap();
    fs::write(dir.join("config"), "").unwrap();
    let out = std::process::Command::new("newsboat")
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("home/.config"))
        .env("XDG_DATA_HOME", dir.join("home/.local/share"))
        .args(["-u", dir.join("urls").to_str().unwrap()])
        .args(["-c", dir.join("cache.db").to_str().unwrap()])
        .args(["-C", dir.join("config").to_str().unwrap()])
        .args(["-x", "reload"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "newsboat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new("sqlite3")
        .arg(dir.join("cache.db"))
        .arg("select count(*) from rss_item")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
