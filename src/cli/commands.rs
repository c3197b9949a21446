//! Each command's work as the command line runs it: call `app/`, print
//! the report, choose the exit code.

use super::{options, print, Cli, DigestArgs, SourcesCommand};
use crate::app::build;
use crate::app::digest;
use crate::model::{Error, Severity};
use crate::site::Site;
use crate::util::text::plural;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `tributary init`: what was written and read, then the adopt report.
pub fn init(
    cli: &Cli,
    from: crate::app::init::From,
    title: Option<String>,
    base_url: Option<String>,
) -> Result<ExitCode, Error> {
    let opts = crate::app::init::InitOptions {
        from,
        title,
        base_url,
    };
    let r = crate::app::init::init(&cli.site, &opts)?;
    if let Some(read) = &r.read {
        println!("read {}:", read.display());
    }
    for (k, v) in &r.settings {
        println!("  {k}: {v}");
    }
    for w in &r.written {
        println!("wrote {}", w.display());
    }
    if let Some((feed, report)) = &r.adopted {
        println!("adopting the old feed {}:", feed.display());
        print_adopt(report);
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    let c = if cli.site == Path::new(".") {
        String::new()
    } else {
        format!("-C {} ", cli.site.display())
    };
    if let Some((feed, _)) = &r.adopted {
        let old = feed.parent().unwrap_or(Path::new("."));
        println!(
            "next: `tributary {c}build`, then `tributary {c}diff --against {}` shows what readers will see",
            old.display()
        );
    } else {
        println!("next: `tributary {c}new \"My first post\"`, then `tributary {c}serve --drafts` to see it");
    }
    Ok(ExitCode::SUCCESS)
}

/// `tributary build`.
pub fn build(cli: &Cli, keep_going: bool, fetch: bool) -> Result<ExitCode, Error> {
    require_feeds(&cli.site)?;
    let mut opts = options(cli);
    opts.keep_going = keep_going;
    if fetch {
        run_fetch(cli, false, None)?;
    }
    let r = build::build(&cli.site, &opts)?;
    print(&r.warnings, cli.quiet);
    print(&r.skipped, false);
    if !cli.quiet {
        eprintln!(
            "built {} into {} ({} written, {} unchanged{}) and {}{} in {:.2} s",
            plural(r.entries, "post", "posts"),
            plural(r.documents, "feed document", "feed documents"),
            r.written,
            r.unchanged,
            if r.removed > 0 {
                format!(", {} removed", r.removed)
            } else {
                String::new()
            },
            plural(r.pages, "page", "pages"),
            if r.skipped.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} skipped",
                    plural(r.skipped.len(), "broken post", "broken posts")
                )
            },
            r.elapsed.as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A site without a feed file would build nothing and say "0 feed
/// documents"; it is a mistake (a forgotten `feeds/`), said as one, after
/// the site configuration's own errors.
fn require_feeds(root: &Path) -> Result<(), Error> {
    use crate::config::{FeedDef, SiteConfig};
    SiteConfig::load(root).map_err(Error::invalid)?;
    let any = std::fs::read_dir(root.join(FeedDef::DIR))
        .map(|dir| {
            dir.filter_map(|e| e.ok()).any(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
            })
        })
        .unwrap_or(false);
    if any {
        return Ok(());
    }
    Err(Error::at(
        FeedDef::DIR,
        None,
        "no feed to publish: the site has no feeds/NAME.yaml; write feeds/main.yaml \
         (a line `title: Posts` is enough) or run `tributary init`",
    ))
}

/// `tributary check`: exit 1 on errors (and on warnings with `--deny-warnings`).
pub fn check(cli: &Cli, deny_warnings: bool) -> Result<ExitCode, Error> {
    require_feeds(&cli.site)?;
    let r = build::check(&cli.site, &options(cli))?;
    print(&r.diagnostics, cli.quiet);
    let count = |s: Severity| r.diagnostics.iter().filter(|d| d.severity == s).count();
    let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
    if !cli.quiet {
        eprintln!(
            "checked {} and {}: {}, {}",
            plural(r.posts, "post", "posts"),
            plural(r.documents, "feed document", "feed documents"),
            plural(errors, "error", "errors"),
            plural(warnings, "warning", "warnings"),
        );
    }
    Ok(if errors > 0 || (deny_warnings && warnings > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `tributary adopt FEED`.
pub fn adopt(
    cli: &Cli,
    feed: &str,
    feed_name: Option<&str>,
    json: bool,
) -> Result<ExitCode, Error> {
    let bytes = read_document(feed)?;
    let r = crate::app::adopt::adopt(&cli.site, feed, &bytes, feed_name, &options(cli))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        print_adopt(&r);
    }
    Ok(ExitCode::SUCCESS)
}

/// `tributary diff [--against DIR|URL]`: exit 3 when an id would change.
pub fn diff(cli: &Cli, against: Option<&str>, json: bool) -> Result<ExitCode, Error> {
    let opts = options(cli);
    let against = match against {
        Some(base) if is_url(base) => fetch_published(cli, base, &opts)?,
        Some(dir) => crate::app::diff::Against::Dir(PathBuf::from(dir)),
        None => {
            let site = Site::load(&cli.site)?;
            crate::app::diff::Against::Dir(site.output_dir(&opts))
        }
    };
    let r = crate::app::diff::diff(&cli.site, &against, &opts)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        print!("{}", crate::app::diff::render_text(&r));
    }
    Ok(if r.id_changes > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// Each document the build writes, fetched at its path under the live site's URL.
fn fetch_published(
    cli: &Cli,
    base: &str,
    opts: &build::Options,
) -> Result<crate::app::diff::Against, Error> {
    let paths = crate::app::diff::document_paths(&cli.site, opts)?;
    let base = if base.ends_with('/') {
        base.to_string()
    } else {
        format!("{base}/")
    };
    let urls: Vec<String> = paths.iter().map(|p| format!("{base}{p}")).collect();
    let bodies = crate::fetch::get_many_blocking(&urls, &crate::fetch::Limits::default())
        .map_err(fetch_error)?;
    Ok(crate::app::diff::Against::Fetched(
        paths.into_iter().zip(bodies).collect(),
    ))
}

/// `tributary fetch`: exit 1 when every source that was tried failed.
pub fn fetch(cli: &Cli, all: bool, source: Option<String>) -> Result<ExitCode, Error> {
    let r = run_fetch(cli, all, source)?;
    Ok(if r.failed() > 0 && r.fetched() + r.not_modified() == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `tributary serve`: until SIGTERM or SIGINT.
pub fn serve(
    cli: &Cli,
    listen: Option<std::net::SocketAddr>,
    public_url: Option<&str>,
) -> Result<ExitCode, Error> {
    let public_url = match public_url {
        None => None,
        Some(url) => Some(preview_url(cli, listen, url)?),
    };
    crate::serve::run(
        &cli.site,
        crate::serve::ServeOptions {
            listen,
            drafts: cli.drafts,
            future: cli.future,
            output: cli.output.clone(),
            public_url,
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `--public-url URL` checked and ending with `/`; empty, the address
/// `serve` listens on (127.0.0.1 for "every address").
fn preview_url(
    cli: &Cli,
    listen: Option<std::net::SocketAddr>,
    url: &str,
) -> Result<String, Error> {
    if url.is_empty() {
        let mut addr = match listen {
            Some(a) => a,
            None => {
                let config = crate::config::SiteConfig::load(&cli.site).map_err(Error::invalid)?;
                crate::config::parse_listen(&config.listen)
                    .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 8080)))
            }
        };
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        return Ok(format!("http://{addr}/"));
    }
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            let s = u.to_string();
            Ok(if s.ends_with('/') { s } else { format!("{s}/") })
        }
        _ => Err(Error::at(
            "serve",
            None,
            format!("--public-url {url:?} is not an http(s) URL such as http://127.0.0.1:8080/"),
        )),
    }
}

/// `tributary new TITLE`: the post's path on stdout.
pub fn new(
    cli: &Cli,
    title: &str,
    tags: &[String],
    from_digest: bool,
    digest: &DigestArgs,
) -> Result<ExitCode, Error> {
    let body = if from_digest {
        let now = chrono::Utc::now();
        let (d, window, site) = run_digest(cli, digest, now)?;
        let tz = site.config.timezone;
        let date = now.with_timezone(&tz).format("%Y-%m-%d").to_string();
        Some(fill_template(digest, &d, &window, tz, title, &date)?)
    } else {
        if *digest != DigestArgs::default() {
            return Err(Error::at(
                "new",
                None,
                "--feed, --since, --from, --to, --template, --notes, --pre-releases and --fetch \
                 choose what a digest holds; add --from-digest to write one into the post",
            ));
        }
        None
    };
    let path = new_post(&cli.site, title, tags, body.as_deref())?;
    println!("{}", path.display());
    if !cli.quiet {
        eprintln!(
            "{}: a draft (`draft: true`): `tributary serve --drafts` shows it; \
             delete the `draft: true` line to publish it",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `tributary digest`: the section on stdout (or `--output`), a summary on stderr.
pub fn digest(cli: &Cli, args: &DigestArgs) -> Result<ExitCode, Error> {
    let (d, window, site) = run_digest(cli, args, chrono::Utc::now())?;
    let text = match &args.template {
        None => d.markdown.clone(),
        Some(_) => {
            let tz = site.config.timezone;
            let (_, last) = window.bounds(tz);
            let date = last.get(..10).unwrap_or(&last);
            fill_template(args, &d, &window, tz, &d.feed_title, date)?
        }
    };
    match &cli.output {
        Some(out) => {
            crate::util::write::write_atomic(out, text.as_bytes()).map_err(|e| Error::io(out, e))?
        }
        None => print!("{text}"),
    }
    if !cli.quiet {
        eprintln!(
            "digest of {}: {} {} between {}{}{}",
            d.feed,
            d.releases,
            if d.releases == 1 { "entry" } else { "entries" },
            window.describe(site.config.timezone),
            match d.gaps.len() {
                0 => String::new(),
                1 => ", 1 possible gap".to_string(),
                n => format!(", {n} possible gaps"),
            },
            match d.unread.len() {
                0 => String::new(),
                1 => ", 1 source not fetched".to_string(),
                n => format!(", {n} sources not fetched"),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A digest as the command line asks for it (fetching first with
/// `--fetch`); its gap warnings are printed on stderr.
fn run_digest(
    cli: &Cli,
    args: &DigestArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(digest::Digest, digest::Window, Site), Error> {
    if args.fetch {
        run_fetch(cli, false, None)?;
    }
    let site = Site::load(&cli.site)?;
    let window = digest::Window::parse(
        args.since.as_deref(),
        args.from.as_deref(),
        args.to.as_deref(),
        site.config.timezone,
        now,
    )?;
    let d = digest::digest(
        &site,
        &digest::DigestOptions {
            feed: args.feed.clone(),
            window,
            notes: args.notes,
            pre_releases: args.pre_releases,
            now,
        },
    )?;
    // Gaps are warnings, and warnings go to stderr even with -q: a gap is
    // the one thing the section cannot say by itself.
    print(&d.warnings, false);
    Ok((d, window, site))
}

/// The template (`--template FILE`, else the shipped one) filled with the
/// digest `d` under `title` and `date`.
fn fill_template(
    args: &DigestArgs,
    d: &digest::Digest,
    window: &digest::Window,
    tz: chrono_tz::Tz,
    title: &str,
    date: &str,
) -> Result<String, Error> {
    let (path, template) = match args.template.as_deref() {
        Some(p) => (
            p.to_path_buf(),
            std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?,
        ),
        None => (
            PathBuf::from("(default digest template)"),
            digest::DEFAULT_TEMPLATE.to_string(),
        ),
    };
    let values = digest::slot_values(d, window, tz, title, date);
    digest::render_template(&template, &values, &path)
}

/// `tributary store migrate`: copy the store, then the id ledger (the
/// site's `tributary.ledger` for SQLite, the store's own for PostgreSQL),
/// then check that the destination holds every source and item.
pub fn migrate_store(cli: &Cli, from: &str, to: &str) -> Result<(), Error> {
    use crate::store::{self, Location};
    let from = Location::parse(from, &cli.site);
    let to = Location::parse(to, &cli.site);
    if from == to {
        return Err(Error::at(
            "store migrate",
            None,
            format!("--from and --to are the same store ({from})"),
        ));
    }
    if !from.exists() {
        return Err(Error::at(
            "store migrate",
            None,
            format!("{from} does not exist"),
        ));
    }
    let mut source = store::open(&from)?;
    let mut dest = store::open(&to)?;
    let copied = store::copy(&*source, &mut *dest)?;
    let ledger_lines = migrate_ledger(&cli.site, &mut *source, &mut *dest)?;
    verify_copy(&*source, &*dest, &to)?;
    if !cli.quiet {
        eprintln!(
            "copied {}, {} and {} from {from} to {to}",
            plural(copied.sources, "source", "sources"),
            plural(copied.items, "item", "items"),
            plural(ledger_lines, "ledger line", "ledger lines"),
        );
    }
    Ok(())
}

/// The ledger: what the source store's side holds (the site's
/// `tributary.ledger` for SQLite, the store's own for PostgreSQL), added to
/// the other side. Returns how many lines it had.
fn migrate_ledger(
    root: &Path,
    source: &mut dyn crate::store::Store,
    dest: &mut dyn crate::store::Store,
) -> Result<usize, Error> {
    use crate::plan::ledger::Side;
    let from_ledger = Side::of(source, root).read()?;
    Side::of(dest, root).add_missing(&from_ledger)?;
    Ok(from_ledger.posts.len() + from_ledger.feeds.len())
}

/// Nothing lost: every source of the old store has at least its items in the new one.
fn verify_copy(
    source: &dyn crate::store::Store,
    dest: &dyn crate::store::Store,
    to: &crate::store::Location,
) -> Result<(), Error> {
    let after: std::collections::HashMap<String, u64> =
        crate::store::census(dest)?.into_iter().collect();
    for (key, count) in crate::store::census(source)? {
        let found = after.get(&key).copied();
        if found.is_none_or(|n| n < count) {
            return Err(Error::at(
                "store migrate",
                None,
                format!(
                    "{to}: source {key} has {} after the copy, {count} before",
                    plural(found.unwrap_or(0) as usize, "item", "items")
                ),
            ));
        }
    }
    Ok(())
}

/// `tributary fetch`: due sources (or all, or one) into the store; a summary line.
fn run_fetch(
    cli: &Cli,
    all: bool,
    only: Option<String>,
) -> Result<crate::app::aggregate::FetchReport, Error> {
    use std::io::IsTerminal;
    let site = Site::load(&cli.site)?;
    let mut store = crate::app::aggregate::open_store(&site)?;
    let opts = crate::app::aggregate::FetchOptions {
        all,
        only,
        keys: None,
        slots: None,
        release_to: None,
        in_flight: None,
        now: chrono::Utc::now(),
        progress: !cli.quiet && std::io::stderr().is_terminal(),
    };
    let r = crate::app::lease::fetch(&site, &mut *store, &opts)?;
    // On a terminal the progress bar showed the run: only failures are worth
    // a line. Elsewhere (cron, CI, the daemon's log) every source gets one.
    for (name, result) in &r.sources {
        let failed = matches!(result, crate::app::aggregate::SourceResult::Failed(_));
        if failed || (!opts.progress && !cli.quiet) {
            eprintln!("{name}: {}", crate::app::aggregate::describe(result));
        }
    }
    if !cli.quiet {
        eprintln!("{}", r.summary());
    }
    Ok(r)
}

pub fn sources(cli: &Cli, command: &SourcesCommand) -> Result<ExitCode, Error> {
    use crate::app::sources;
    match command {
        SourcesCommand::List => {
            let site = Site::load(&cli.site)?;
            print!("{}", sources::health_table(&sources::health(&site)?));
        }
        SourcesCommand::Show { name } => {
            let site = Site::load(&cli.site)?;
            print!("{}", sources::show(&site, name)?);
        }
        SourcesCommand::Export => {
            let site = Site::load(&cli.site)?;
            print!("{}", sources::write_opml(&site));
        }
        SourcesCommand::Import { file, feed } => {
            let feed = &target_feed(cli, feed.as_deref())?;
            let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
            let subs = sources::read_opml(&bytes).map_err(|m| Error::at(file, None, m))?;
            let added = sources::add_to_feed(&cli.site, feed, &subs)?;
            eprintln!(
                "added {added} of {} to feeds/{feed}.yaml",
                plural(subs.len(), "source", "sources")
            );
        }
        SourcesCommand::Enable { name } => {
            let site = Site::load(&cli.site)?;
            let name = sources::set_disabled(&site, name, None)?;
            eprintln!("enabled {name}: fetched on the next run");
        }
        SourcesCommand::Disable { name, reason } => {
            let site = Site::load(&cli.site)?;
            let reason = reason.as_deref().unwrap_or_default();
            let name = sources::set_disabled(&site, name, Some(reason))?;
            eprintln!("disabled {name}: not fetched until `tributary sources enable`");
        }
        SourcesCommand::Add { url, feed, name } => {
            let feed = &target_feed(cli, feed.as_deref())?;
            let site = Site::load(&cli.site)?;
            let mut sub = sources::resolve_feed(&site, url)?;
            if name.is_some() {
                sub.name = name.clone();
            }
            let added = sources::add_to_feed(&cli.site, feed, std::slice::from_ref(&sub))?;
            if added == 0 {
                eprintln!("feeds/{feed}.yaml already has {}", sub.url);
            } else {
                eprintln!("added {} to feeds/{feed}.yaml", sub.url);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--feed NAME` checked, else the feed `sources import`/`add` write to.
fn target_feed(cli: &Cli, feed: Option<&str>) -> Result<String, Error> {
    match feed {
        Some(f) => {
            crate::app::sources::check_feed_name(f)?;
            Ok(f.to_string())
        }
        None => crate::app::sources::default_feed(&Site::load(&cli.site)?),
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn fetch_error(e: crate::fetch::FetchError) -> Error {
    Error::at("fetch", None, e.to_string())
}

/// A feed document from a file or an http(s) URL.
fn read_document(source: &str) -> Result<Vec<u8>, Error> {
    if !is_url(source) {
        return crate::app::adopt::read_source(source);
    }
    let mut got =
        crate::fetch::get_many_blocking(&[source.to_string()], &crate::fetch::Limits::default())
            .map_err(fetch_error)?;
    got.pop()
        .flatten()
        .ok_or_else(|| Error::at(source, None, "not found (HTTP 404 or 410)"))
}

fn print_adopt(r: &crate::app::adopt::AdoptReport) {
    use crate::app::adopt::MatchedBy;
    let count = |b: MatchedBy| r.matched.iter().filter(|m| m.by == b).count();
    println!(
        "adopted {} of {} from {} ({}): {} by link, {} by path on another host, {} by title and date",
        r.matched.len(),
        plural(r.matched.len() + r.unmatched.len(), "entry", "entries"),
        r.source,
        r.format,
        count(MatchedBy::Link),
        count(MatchedBy::Path),
        count(MatchedBy::TitleAndDate)
    );
    for m in &r.matched {
        if let Some(old) = &m.replaced {
            println!("  {}: id {} (was {old})", m.post, m.id);
        }
    }
    for u in &r.unmatched {
        println!("  not matched: {:?} ({}): {}", u.title, u.id, u.why);
    }
    match (&r.scheme, r.extended.len()) {
        (Some(scheme), n) => println!(
            "  the adopted ids are the `{}` scheme's: {} outside the document {} the ids it gave them",
            format!("{scheme:?}").to_lowercase(),
            plural(n, "older post", "older posts"),
            if n == 1 { "gets" } else { "get" }
        ),
        (None, _) if !r.matched.is_empty() => println!(
            "  warning: the adopted ids follow no known scheme; posts older than the document get new ids, and readers subscribed long ago may see them again"
        ),
        _ => {}
    }
    if let Some((name, line)) = &r.feed {
        println!(
            "  feed {name}: id {}{}",
            line.id,
            line.self_url
                .as_deref()
                .map(|u| format!(", readers subscribe at {u}"))
                .unwrap_or_default()
        );
    }
    if let Some(w) = &r.window {
        print_window(w);
    }
    println!("recorded in {}", crate::plan::ledger::FILE);
}

/// The old feed's window and the `limit:` that keeps it.
fn print_window(w: &crate::app::adopt::Window) {
    use crate::app::adopt::WindowAction;
    let limit = w.limit.map_or("all".to_string(), |n| n.to_string());
    let held = plural(w.entries, "entry", "entries");
    match w.action {
        WindowAction::Kept => println!("  the old feed held {held}; {} has limit: {limit}", w.file),
        WindowAction::Written => println!(
            "  the old feed held {held}: wrote limit: {limit} into {}, so that readers see no older post as new",
            w.file
        ),
        WindowAction::Differs => println!(
            "  warning: the old feed held {held} but {} has limit: {limit}; set limit: {} there, or readers see older posts as new",
            w.file, w.entries
        ),
    }
}

/// Write `content/YYYY-MM-DD-SLUG.md` with front matter (`draft: true`, so
/// that no placeholder is published before it is written) and `body` (else
/// a placeholder); never overwrites.
pub fn new_post(
    root: &Path,
    title: &str,
    tags: &[String],
    body: Option<&str>,
) -> Result<PathBuf, Error> {
    let cfg = crate::config::SiteConfig::load(root).map_err(Error::invalid)?;
    let now = chrono::Utc::now().with_timezone(&cfg.timezone);
    let mut slug = crate::content::permalink::slugify(title);
    if slug.is_empty() {
        slug = "post".to_string();
    }
    let rel = cfg
        .content
        .join(format!("{}-{slug}.md", now.format("%Y-%m-%d")));
    let path = root.join(&rel);
    let mut fm = serde_json::Map::new();
    fm.insert("title".into(), title.into());
    fm.insert(
        "date".into(),
        now.format("%Y-%m-%d %H:%M:%S %z").to_string().into(),
    );
    fm.insert("draft".into(), true.into());
    if !tags.is_empty() {
        fm.insert(
            "tags".into(),
            tags.iter().map(|t| t.trim()).collect::<Vec<_>>().into(),
        );
    }
    let yaml = crate::util::yaml::to_string(&fm).map_err(|e| Error::at(&rel, None, e.message))?;
    let body = body.unwrap_or("Write here.\n");
    let newline = if body.ends_with('\n') { "" } else { "\n" };
    let text = format!("---\n{yaml}---\n\n{body}{newline}");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::at(
                &rel,
                None,
                "already exists: a post with this title was started today; edit it, or choose another title",
            ),
            _ => Error::io(&rel, e),
        })?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| Error::io(&rel, e))?;
    Ok(rel)
}
