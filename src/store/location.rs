//! Where a store lives: a SQLite file (the default) or a PostgreSQL database.

use std::fmt;
use std::path::{Path, PathBuf};

/// A store's address, from `store:` in `tributary.yaml`, `TRIBUTARY_STORE`,
/// or `store migrate --from/--to`.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file (`.tributary/store.db`, `sqlite:PATH`).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://USER@HOST:PORT/DB`).
    Postgres(String),
}

impl Location {
    /// Read a `store:` value. `postgres://` and `postgresql://` URLs select
    /// PostgreSQL; `sqlite:PATH` or a bare path select SQLite, relative paths
    /// resolved against `root`.
    pub fn parse(text: &str, root: &Path) -> Location {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Location::Postgres(text.to_string());
        }
        let path = Path::new(text.strip_prefix("sqlite:").unwrap_or(text));
        if path.is_absolute() {
            Location::Sqlite(path.to_path_buf())
        } else {
            Location::Sqlite(root.join(path))
        }
    }

    /// Whether several processes on several machines may share it.
    pub fn is_shared(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }

    /// Whether a store is there already (a SQLite file that exists; a
    /// database server is assumed to be there).
    pub fn exists(&self) -> bool {
        match self {
            Location::Sqlite(p) => p.exists(),
            Location::Postgres(_) => true,
        }
    }
}

/// Shown in logs and errors: a password in a URL is never printed.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(u) => f.write_str(&redact(u)),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        // Not a URL we can read: show only the scheme.
        Err(_) => format!("{}://…", url.split("://").next().unwrap_or("postgres")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_postgres_and_paths_sqlite() {
        let root = Path::new("/site");
        assert_eq!(
            Location::parse("postgres://u@h:5432/db", root),
            Location::Postgres("postgres://u@h:5432/db".into())
        );
        assert!(Location::parse("postgresql://h/db", root).is_shared());
        assert_eq!(
            Location::parse(".tributary/store.db", root),
            Location::Sqlite("/site/.tributary/store.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:/var/lib/t.db", root),
            Location::Sqlite("/var/lib/t.db".into())
        );
    }

    proptest::proptest! {
        /// Whatever the password (percent-encoded as a URL needs), what is
        /// shown is the address with `***` in its place.
        #[test]
        fn redact_never_shows_the_password(
            user in "[a-z][a-z0-9_]{0,8}",
            password in "[ -~]{6,24}",
            host in "[a-z][a-z0-9-]{0,10}",
            port in 1u16..,
        ) {
            let encoded: String =
                url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
            let raw = format!("postgres://{user}:{encoded}@{host}:{port}/db");
            let shown = Location::parse(&raw, Path::new("/")).to_string();
            proptest::prop_assert_eq!(shown, format!("postgres://{user}:***@{host}:{port}/db"));
        }
    }

    #[test]
    fn passwords_are_never_shown() {
        let l = Location::parse("postgres://feeds:hunter2@db:5432/tributary", Path::new("/"));
        let shown = l.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("feeds:***@db"), "{shown}");
    }
}
