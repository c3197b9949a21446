//! A loaded site: its configuration, its feed definitions, and where its
//! posts and store are. Its own module, below `build`, so that the modules
//! that only need a site (`aggregate`, `sources`, `lease`) need not import
//! the pipeline.

use crate::config::{FeedDef, SiteConfig};
use crate::content::LoadOptions;
use crate::model::Error;
use crate::store::{self, Store};
use std::path::{Path, PathBuf};

/// A loaded site: configuration and feed definitions.
#[derive(Debug, Clone)]
pub struct Site {
    pub root: PathBuf,
    pub config: SiteConfig,
    pub feeds: Vec<FeedDef>,
}

impl Site {
    /// Load `tributary.yaml` and `feeds/*.yaml`; every problem is reported.
    pub fn load(root: &Path) -> Result<Site, Error> {
        let config = SiteConfig::load(root).map_err(Error::invalid)?;
        let (feeds, problems) = FeedDef::load_all(root);
        if !problems.is_empty() {
            return Err(Error::Invalid(problems));
        }
        Ok(Site {
            // Absolute, so that paths made from it (local upstream files as
            // `file:` URLs, the store) mean the same from any working directory.
            root: std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf()),
            config,
            feeds,
        })
    }

    /// Where the posts are (`content:`, default `content/`).
    pub fn content_dir(&self) -> PathBuf {
        self.root.join(&self.config.content)
    }

    /// How posts of this site are read.
    pub fn load_options(&self) -> LoadOptions {
        let c = &self.config;
        LoadOptions {
            timezone: c.timezone,
            hugo: (c.ids == crate::config::IdScheme::Hugo).then(|| {
                crate::content::hugo::HugoOptions::new(
                    &c.permalink,
                    &c.content,
                    c.base_url.as_str(),
                )
            }),
            jekyll: crate::content::liquid::applies(&self.root, &self.config),
        }
    }

    /// Where the feeds go: `output` (the `--output` flag) if given, else
    /// `output:`; relative paths are under the site root.
    pub fn output_dir_for(&self, output: Option<&Path>) -> PathBuf {
        let out = output.unwrap_or(&self.config.output);
        if out.is_absolute() {
            out.to_path_buf()
        } else {
            self.root.join(out)
        }
    }

    /// Where the store is: `TRIBUTARY_STORE` if set (so that a password
    /// need not be written in a committed file), else `store:`; relative
    /// SQLite paths are under the site's root.
    pub fn store_location(&self) -> store::Location {
        match std::env::var("TRIBUTARY_STORE") {
            Ok(v) if !v.trim().is_empty() => store::Location::parse(&v, &self.root),
            _ => store::Location::parse(&self.config.store, &self.root),
        }
    }

    /// Open (creating if needed) the site's store.
    pub fn open_store(&self) -> Result<Box<dyn Store + Send>, Error> {
        Ok(store::open(&self.store_location())?)
    }

    /// Open the site's store if it has one already; `None` before the first
    /// fetch into a SQLite file (reading must not create it).
    pub fn open_existing_store(&self) -> Result<Option<Box<dyn Store + Send>>, Error> {
        let location = self.store_location();
        if !location.exists() {
            return Ok(None);
        }
        Ok(Some(store::open(&location)?))
    }
}
