//! `tributary.yaml` (the site) and `feeds/NAME.yaml` (one file per published feed).
//!
//! Unknown keys are errors naming file, line and key: a misspelt key that was
//! silently ignored would publish the wrong feed.

mod feed;
mod fetch;
pub mod front_matter;
mod rules;
mod site;
mod websub;

pub use feed::{
    parse_schedule, Archive, FeedDef, Format, Formats, Limit, OutputPaths, PostFilter,
    PostSelection, Rules, UpstreamDef, UpstreamLocation,
};
pub use fetch::{AllowEntry, BadAllowEntry, Cidr, FetchSettings};
pub use rules::{MatchRule, Matcher, REGEX_SIZE_LIMIT};
pub use site::{
    jekyll_permalink_style, key_line, parse_listen, IdScheme, ServeSettings, SiteConfig,
};
pub use websub::{WebSubSettings, CALLBACK_PATH, HUB_PATH};

use crate::model::diag::Diagnostic;
use crate::model::entry::Person;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::Path;

/// Read a YAML file into `T`, with errors as `path:line: message`.
pub(crate) fn load_yaml<T: serde::de::DeserializeOwned>(
    text: &str,
    shown_path: &Path,
) -> Result<T, Diagnostic> {
    crate::util::yaml::from_str(text).map_err(|e| Diagnostic::error(shown_path, e.line, e.message))
}

/// A person written as `"Name <email>"` or as `{ name, email, uri }`.
pub(crate) fn deserialize_person<'de, D: Deserializer<'de>>(d: D) -> Result<Person, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Person;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a name (\"Name <email>\") or a map with name, email, uri")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Person, E> {
            Ok(Person::parse(v))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Person, A::Error> {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Fields {
                name: String,
                email: Option<String>,
                #[serde(alias = "url")]
                uri: Option<String>,
            }
            let f = Fields::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(Person {
                name: f.name,
                email: f.email,
                uri: f.uri,
            })
        }
    }
    d.deserialize_any(V)
}

pub(crate) fn deserialize_opt_person<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Person>, D::Error> {
    deserialize_person(d).map(Some)
}

/// A duration written as `N` plus a unit: `s`, `m`, `h`, `d` or `w` (`30d`, `12h`).
pub fn parse_duration(text: &str) -> Option<chrono::Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: i64 = n.parse().ok()?;
    let secs = match unit.trim() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    // A hundred years is more than any window or retention means; beyond it,
    // date arithmetic would overflow.
    let secs = n.checked_mul(secs).filter(|s| *s <= 100 * 366 * 86_400)?;
    chrono::Duration::try_seconds(secs)
}
