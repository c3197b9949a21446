//! The command line: `init`, `build`, `check`, `new`, `adopt`, `diff`, `fetch`, `sources`, `parse`, `digest`.

mod commands;

use crate::app::build::Options;
use crate::app::digest::PreReleases;
use crate::model::{Diagnostic, Error, Severity};
use clap::{Parser, Subcommand};
use commands::{migrate_store, sources};
use std::path::PathBuf;
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
    /// Start a site here: tributary.yaml, feeds/main.yaml and content/.
    /// With --from-jekyll or --from-hugo, switch that site in place: its
    /// settings read from its configuration, the feed it built adopted.
    Init {
        /// A Jekyll site (its `_config.yml`, `_posts` and `_site/feed.xml`).
        #[arg(long, value_name = "DIR", conflicts_with = "from_hugo")]
        from_jekyll: Option<PathBuf>,
        /// A Hugo site (its `hugo.yaml` or `hugo.toml`, `content/posts` and
        /// `public/index.xml`).
        #[arg(long, value_name = "DIR")]
        from_hugo: Option<PathBuf>,
        /// The site's title (default: the old site's, else the folder's name).
        #[arg(long)]
        title: Option<String>,
        /// Where the site is published, such as https://example.org/blog/.
        #[arg(long)]
        base_url: Option<String>,
    },
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
        /// Address to listen on: `HOST:PORT`, `localhost:PORT`, `:PORT` or
        /// `PORT` (the last two on 127.0.0.1); default: `listen:` in
        /// tributary.yaml, else 127.0.0.1:8080.
        #[arg(long, value_parser = listen_address)]
        listen: Option<std::net::SocketAddr>,
        /// Link the HTML pages (the `/` page, the Subscribe boxes) to this
        /// URL instead of `base_url`, for a preview on this machine; alone,
        /// the address it listens on (http://127.0.0.1:8080/). Feeds keep
        /// their published URLs.
        #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
        public_url: Option<String>,
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
        /// The feed file (feeds/NAME.yaml) to add them to, created if
        /// missing; default: the only feed with upstreams, else `upstreams`.
        #[arg(long)]
        feed: Option<String>,
    },
    /// Print every configured source as OPML 2.0.
    Export,
    /// Add a feed, or the feed an HTML page announces, to a feed file.
    Add {
        /// An http(s) URL, or the path of a feed file (relative to the site root).
        url: String,
        /// The feed file to add it to; default as for `import`.
        #[arg(long)]
        feed: Option<String>,
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

/// `--listen`'s value.
fn listen_address(text: &str) -> Result<std::net::SocketAddr, String> {
    crate::config::parse_listen(text).ok_or_else(|| {
        format!("{text:?} is not an address to listen on, such as 127.0.0.1:8080, localhost:8080 or :8080")
    })
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

/// Run the command; `Err` for errors that stop it. Each command's work is a
/// function of [`commands`] (or of `app/`); this only dispatches.
pub fn run(cli: &Cli) -> Result<ExitCode, Error> {
    match &cli.command {
        Command::Init {
            from_jekyll,
            from_hugo,
            title,
            base_url,
        } => {
            let from = match (from_jekyll, from_hugo) {
                (Some(dir), _) => crate::app::init::From::Jekyll(dir.clone()),
                (None, Some(dir)) => crate::app::init::From::Hugo(dir.clone()),
                (None, None) => crate::app::init::From::Nothing,
            };
            commands::init(cli, from, title.clone(), base_url.clone())
        }
        Command::Build { keep_going, fetch } => commands::build(cli, *keep_going, *fetch),
        Command::Check { deny_warnings } => commands::check(cli, *deny_warnings),
        Command::Adopt {
            feed,
            feed_name,
            json,
        } => commands::adopt(cli, feed, feed_name.as_deref(), *json),
        Command::Diff { against, json } => commands::diff(cli, against.as_deref(), *json),
        Command::Fetch { all, source } => commands::fetch(cli, *all, source.clone()),
        Command::Sources { command } => sources(cli, command),
        Command::Store {
            command: StoreCommand::Migrate { from, to },
        } => {
            migrate_store(cli, from, to)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { listen, public_url } => {
            commands::serve(cli, *listen, public_url.as_deref())
        }
        Command::Parse { jsonl, files } => Ok(crate::parse::jsonl::run(files, *jsonl)),
        Command::New {
            title,
            tags,
            from_digest,
            digest,
        } => commands::new(cli, title, tags, *from_digest, digest),
        Command::Digest { digest } => commands::digest(cli, digest),
    }
}
