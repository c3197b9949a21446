//! The command line: `build`, `check`, `new`, `adopt`, `diff`, `fetch`, `sources`, `parse`, `digest`.

use crate::app::build::{self, Options};
use crate::app::digest::{self, PreReleases};
use crate::model::{Diagnostic, Error, Severity};
use crate::site::Site;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "tributary",
    version,
    about = "Publish Markdown posts as RSS, Atom and JSON Feed."
)]
pub struct Cli {
    /// The site directory (holding tributary.yaml).
    #[arg(short = 'C', long = "site", global = true, default_value = ".")]
    pub site: PathBuf,
    /// Write feeds here instead of the configured `output:`.
    #[arg(long, global = true)]
    pub output: Option<PathBuf>,
    /// More log output (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Include posts marked `draft: true` or `published: false`.
    #[arg(long, global = true)]
    pub drafts: bool,
    /// Include posts dated in the future.
    #[arg(long, global = true)]
    pub future: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Regenerate every feed once and exit.
    Build {
        /// Skip broken posts (and report them) instead of failing the build.
        #[arg(long)]
        keep_going: bool,
        /// Fetch the upstream sources that are due first.
        #[arg(long)]
        fetch: bool,
    },
    /// Run the daemon: fetch on schedule, rebuild on changes, serve the feeds over HTTP.
    Serve {
        /// Address to listen on (default: `listen:` in tributary.yaml, else 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Fetch upstream sources into the store (those that are due).
    Fetch {
        /// Every enabled source now, ignoring schedules, minimum intervals and
        /// backoff (not a source disabled by 410 Gone).
        #[arg(long)]
        all: bool,
        /// Only the source with this name (or URL), now, whatever its schedule.
        #[arg(long)]
        source: Option<String>,
    },
    /// Upstream sources: list their health, import or export OPML, add one.
    Sources {
        #[command(subcommand)]
        command: SourcesCommand,
    },
    /// The store: move it between SQLite and PostgreSQL.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Report every problem and validate every feed the build would write; write nothing.
    Check {
        /// Exit 1 on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// Take over the entry ids of the feed readers already subscribe to.
    Adopt {
        /// The old feed: a file or an http(s) URL (Atom, RSS or JSON Feed).
        feed: String,
        /// Which feeds/NAME.yaml it is (default: the one at the same URL, or the only one).
        #[arg(long)]
        feed_name: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what readers will see if this build is published; exit 3 if an id would change.
    Diff {
        /// The published feeds: an output directory (default: the site's own), or the
        /// live site's URL (each document is fetched at its path under it).
        #[arg(long)]
        against: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read upstream feed files with the tolerant parser and print what it extracts.
    Parse {
        /// One JSON line per file, in the corpus reference shape.
        #[arg(long)]
        jsonl: bool,
        files: Vec<PathBuf>,
    },
    /// Scaffold a post in content/ with today's date.
    New {
        /// The post's title.
        title: String,
        /// Tags, comma separated.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// Fill the post from a digest template: the week's releases section
        /// written in (the digest options below apply).
        #[arg(long)]
        from_digest: bool,
        #[command(flatten)]
        digest: DigestArgs,
    },
    /// Write the newsletter's releases section from the stored release feeds
    /// of a combined feed: one bullet per release, newest first, by source.
    /// `--output FILE` writes it to FILE instead of standard output.
    Digest {
        #[command(flatten)]
        digest: DigestArgs,
    },
}

/// What a digest covers and how it is written (`digest`, `new --from-digest`).
#[derive(clap::Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestArgs {
    /// The combined feed (feeds/NAME.yaml with `upstreams:`); default: the
    /// only one, else `stream`.
    #[arg(long)]
    pub feed: Option<String>,
    /// The window's length, ending at --to: `36h`, `7d`, `2w` (default 7d).
    #[arg(long, conflicts_with = "from")]
    pub since: Option<String>,
    /// The window's first day (YYYY-MM-DD, site time zone) or an RFC 3339 time.
    #[arg(long)]
    pub from: Option<String>,
    /// The window's last day, included (YYYY-MM-DD), or an RFC 3339 time
    /// it ends before; default: now.
    #[arg(long)]
    pub to: Option<String>,
    /// A Markdown template with the slots {{title}}, {{date}}, {{from}},
    /// {{to}}, {{feed}} and {{digest}} (default for `new`: the shipped one).
    #[arg(long)]
    pub template: Option<PathBuf>,
    /// Add the first paragraph of each release's notes as a sub-bullet.
    #[arg(long)]
    pub notes: bool,
    /// Pre-releases (`-rc.1`, `-beta`, `-alpha`): listed, marked with
    /// " (pre-release)" after the link, or left out.
    #[arg(long, value_enum, default_value_t = PreReleases::Mark)]
    pub pre_releases: PreReleases,
    /// Fetch the sources that are due first, as `tributary fetch` does.
    #[arg(long)]
    pub fetch: bool,
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Copy sources, items, validators and the id ledger from one store to
    /// another, then compare their counts. Stop `serve` first.
    Migrate {
        /// The store to read: `sqlite:PATH` (or a path) or `postgres://USER@HOST:PORT/DB`.
        #[arg(long)]
        from: String,
        /// The store to write (created or migrated as needed).
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SourcesCommand {
    /// A health table: URL, last fetch, status, items, next due.
    List,
    /// Everything known of one source: URLs, the whole error, validators, dates.
    Show {
        /// The source's `name:` (as `sources list` shows it).
        name: String,
    },
    /// Add every feed of an OPML file to a feed file's `upstreams:`.
    Import {
        /// The OPML file.
        file: PathBuf,
        /// The feed file (feeds/NAME.yaml) to add them to; created if missing.
        #[arg(long, default_value = "upstreams")]
        feed: String,
    },
    /// Print every configured source as OPML 2.0.
    Export,
    /// Add a feed, or the feed an HTML page announces, to a feed file.
    Add {
        url: String,
        #[arg(long, default_value = "upstreams")]
        feed: String,
        /// Display name (default: the feed's title).
        #[arg(long)]
        name: Option<String>,
    },
    /// Fetch a disabled source again (after a 410, or `sources disable`).
    Enable {
        /// The source's name (or URL).
        name: String,
    },
    /// Stop fetching a source until `sources enable`; its items stay.
    Disable {
        /// The source's name (or URL).
        name: String,
        /// Why, shown by `sources list`.
        reason: Option<String>,
    },
}

/// Parse arguments, run, and turn the outcome into an exit code:
/// 0 ok, 1 content or configuration errors, 2 usage (clap's own).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e}");
            if let Error::Invalid(ds) = &e {
                let n = ds.iter().filter(|d| d.is_error()).count();
                if n > 1 {
                    eprintln!("tributary: {n} errors");
                }
            }
            ExitCode::from(1)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

fn options(cli: &Cli) -> Options {
    Options {
        drafts: cli.drafts,
        future: cli.future,
        output: cli.output.clone(),
        ..Options::default()
    }
}

fn print(ds: &[Diagnostic], quiet: bool) {
    for d in ds {
        if d.severity != Severity::Error && quiet {
            continue;
        }
        eprintln!("{d}");
    }
}

/// Run the command; `Err` for errors that stop it.
pub fn run(cli: &Cli) -> Result<ExitCode, Error> {
    match &cli.command {
        Command::Build { keep_going, fetch } => {
            let mut opts = options(cli);
            opts.keep_going = *keep_going;
            if *fetch {
                run_fetch(cli, false, None)?;
            }
            let r = build::build(&cli.site, &opts)?;
            print(&r.warnings, cli.quiet);
            print(&r.skipped, false);
            if !cli.quiet {
                eprintln!(
                    "built {} posts into {} feed documents ({} written, {} unchanged{}) and {} pages{} in {:.2} s",
                    r.entries,
                    r.documents,
                    r.written,
                    r.unchanged,
                    if r.removed > 0 { format!(", {} removed", r.removed) } else { String::new() },
                    r.pages,
                    if r.skipped.is_empty() {
                        String::new()
                    } else {
                        format!("; {} broken posts skipped", r.skipped.len())
                    },
                    r.elapsed.as_secs_f64()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { deny_warnings } => {
            let r = build::check(&cli.site, &options(cli))?;
            print(&r.diagnostics, cli.quiet);
            let count = |s: Severity| r.diagnostics.iter().filter(|d| d.severity == s).count();
            let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
            if !cli.quiet {
                eprintln!(
                    "checked {} posts and {} feed documents: {errors} errors, {warnings} warnings",
                    r.posts, r.documents
                );
            }
            Ok(if errors > 0 || (*deny_warnings && warnings > 0) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Adopt {
            feed,
            feed_name,
            json,
        } => {
            let bytes = read_document(feed)?;
            let r = crate::app::adopt::adopt(
                &cli.site,
                feed,
                &bytes,
                feed_name.as_deref(),
                &options(cli),
            )?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                print_adopt(&r);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { against, json } => {
            let opts = options(cli);
            let against = match against {
                Some(base) if is_url(base) => {
                    // Each document at its path under the live site's URL.
                    let paths = crate::app::diff::document_paths(&cli.site, &opts)?;
                    let base = if base.ends_with('/') {
                        base.clone()
                    } else {
                        format!("{base}/")
                    };
                    let urls: Vec<String> = paths.iter().map(|p| format!("{base}{p}")).collect();
                    let bodies =
                        crate::fetch::get_many_blocking(&urls, &crate::fetch::Limits::default())
                            .map_err(fetch_error)?;
                    crate::app::diff::Against::Fetched(paths.into_iter().zip(bodies).collect())
                }
                Some(dir) => crate::app::diff::Against::Dir(PathBuf::from(dir)),
                None => {
                    let site = Site::load(&cli.site)?;
                    crate::app::diff::Against::Dir(site.output_dir(&opts))
                }
            };
            let r = crate::app::diff::diff(&cli.site, &against, &opts)?;
            if *json {
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
        Command::Fetch { all, source } => {
            let r = run_fetch(cli, *all, source.clone())?;
            Ok(if r.failed() > 0 && r.fetched() + r.not_modified() == 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Sources { command } => sources(cli, command),
        Command::Store {
            command: StoreCommand::Migrate { from, to },
        } => {
            migrate_store(cli, from, to)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { listen } => {
            crate::serve::run(
                &cli.site,
                crate::serve::ServeOptions {
                    listen: *listen,
                    drafts: cli.drafts,
                    future: cli.future,
                    output: cli.output.clone(),
                },
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Parse { jsonl, files } => Ok(crate::parse::jsonl::run(files, *jsonl)),
        Command::New {
            title,
            tags,
            from_digest,
            digest,
        } => {
            let body = if *from_digest {
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Digest { digest } => {
            let (d, window, site) = run_digest(cli, digest, chrono::Utc::now())?;
            let text = match &digest.template {
                None => d.markdown.clone(),
                Some(_) => {
                    let tz = site.config.timezone;
                    let (_, last) = window.bounds(tz);
                    let date = last.get(..10).unwrap_or(&last);
                    fill_template(digest, &d, &window, tz, &d.feed_title, date)?
                }
            };
            match &cli.output {
                Some(out) => crate::util::write::write_atomic(out, text.as_bytes())
                    .map_err(|e| Error::io(out, e))?,
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
    }
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
fn migrate_store(cli: &Cli, from: &str, to: &str) -> Result<(), Error> {
    use crate::store::{self, Location};
    let from = Location::parse(from, &cli.site);
    let to = Location::parse(to, &cli.site);
    if from == to {
        return Err(Error::invalid(crate::model::diag::Diagnostic::error(
            "store migrate",
            None,
            format!("--from and --to are the same store ({from})"),
        )));
    }
    if !from.exists() {
        return Err(Error::invalid(crate::model::diag::Diagnostic::error(
            "store migrate",
            None,
            format!("{from} does not exist"),
        )));
    }
    let mut source = store::open(&from)?;
    let mut dest = store::open(&to)?;
    let copied = store::copy(&*source, &mut *dest)?;
    // The ledger: what the source store's side holds, added to the other side.
    use crate::plan::ledger::Side;
    let from_ledger = Side::of(&mut *source, &cli.site).read()?;
    let ledger_lines = from_ledger.posts.len() + from_ledger.feeds.len();
    Side::of(&mut *dest, &cli.site).add_missing(&from_ledger)?;
    // Nothing lost: every source of the old store has at least its items in the new one.
    let after: std::collections::HashMap<String, u64> =
        store::census(&*dest)?.into_iter().collect();
    for (key, count) in store::census(&*source)? {
        let found = after.get(&key).copied();
        if found.is_none_or(|n| n < count) {
            return Err(Error::invalid(crate::model::diag::Diagnostic::error(
                "store migrate",
                None,
                format!(
                    "{to}: source {key} has {} items after the copy, {count} before",
                    found.unwrap_or(0)
                ),
            )));
        }
    }
    if !cli.quiet {
        eprintln!(
            "copied {} sources, {} items and {ledger_lines} ledger lines from {from} to {to}",
            copied.sources, copied.items
        );
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

fn sources(cli: &Cli, command: &SourcesCommand) -> Result<ExitCode, Error> {
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
            sources::check_feed_name(feed)?;
            let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
            let subs = sources::read_opml(&bytes).map_err(|m| Error::at(file, None, m))?;
            let added = sources::add_to_feed(&cli.site, feed, &subs)?;
            eprintln!(
                "added {added} of {} sources to feeds/{feed}.yaml",
                subs.len()
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
            sources::check_feed_name(feed)?;
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
        "adopted {} of {} entries from {} ({}): {} by link, {} by path on another host, {} by title and date",
        r.matched.len(),
        r.matched.len() + r.unmatched.len(),
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
            "  the adopted ids are the `{}` scheme's: {n} older posts outside the document get the ids it gave them",
            format!("{scheme:?}").to_lowercase()
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
    println!("recorded in {}", crate::plan::ledger::FILE);
}

/// Write `content/YYYY-MM-DD-SLUG.md` with front matter and `body` (else a
/// placeholder); never overwrites.
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
        .map_err(|e| Error::io(&rel, e))?;
    std::io::Write::write_all(&mut f, text.as_bytes()).map_err(|e| Error::io(&rel, e))?;
    Ok(rel)
}
