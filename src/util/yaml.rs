//! The one place that knows which YAML library is used.
//!
//! serde_yaml is unmaintained but stable; keeping every call here means a
//! maintained fork can replace it by editing this file alone.

use serde::de::DeserializeOwned;

/// A YAML problem with the 1-based line it was found on (relative to the text given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: Option<usize>,
    pub message: String,
}

/// Collections nested deeper than this are refused before the YAML parser
/// sees them: libyaml's cost grows quadratically with flow nesting
/// (`[[[[…` 100,000 deep took 19.5 s to refuse), and no site or post needs it.
pub const MAX_DEPTH: usize = 64;

/// Deserialize `text` into `T`, reporting errors with their line.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    check_depth(text, MAX_DEPTH)?;
    serde_yaml::from_str(text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        let mut message = e.to_string();
        // serde_yaml appends " at line L column C"; the caller prints file:line itself.
        if let Some(pos) = message.find(" at line ") {
            message.truncate(pos);
        }
        YamlError {
            line,
            message: tidy(&message),
        }
    })
}

/// Refuse `text` when its flow collections (`[`, `{`) or its block
/// indentation nest deeper than `max`, in one linear pass. Quoted strings and
/// comments are skipped; block scalars are text, so their lines (indented
/// under a `|` or `>` header) are not counted.
fn check_depth(text: &str, max: usize) -> Result<(), YamlError> {
    let refuse = |line: usize| YamlError {
        line: Some(line),
        message: format!("collections nested deeper than {max} levels"),
    };
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote: Option<char> = None;
    // Lines indented more than this belong to a block scalar.
    let mut scalar_above: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start_matches(' ');
        let indent = line.len() - body.len();
        if let Some(top) = scalar_above {
            if body.is_empty() || indent > top {
                continue;
            }
            scalar_above = None;
        }
        if quote.is_none() && flow == 0 && !body.is_empty() && !body.starts_with('#') {
            while indents.last().is_some_and(|&i| i >= indent) {
                indents.pop();
            }
            // `- ` items nest one level deeper than their indentation shows.
            let dashes = body.split("- ").take_while(|s| s.is_empty()).count();
            indents.push(indent);
            if indents.len() + dashes > max {
                return Err(refuse(n + 1));
            }
        }
        let mut prev = ' ';
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some('"'), '\\') => {
                    chars.next();
                }
                (Some(q), c) if c == q => {
                    // `''` inside a single-quoted string is an escaped quote.
                    if q == '\'' && chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        quote = None;
                    }
                }
                (Some(_), _) => {}
                (None, '#') if prev == ' ' || prev == '\t' => break,
                (None, '"' | '\'') if matches!(prev, ' ' | '\t' | '[' | '{' | ',' | ':') => {
                    quote = Some(c)
                }
                (None, '[' | '{') => {
                    flow += 1;
                    if flow > max {
                        return Err(refuse(n + 1));
                    }
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
        let trimmed = body.trim_end();
        if quote.is_none()
            && flow == 0
            && (trimmed.ends_with('|')
                || trimmed.ends_with('>')
                || trimmed.ends_with("|-")
                || trimmed.ends_with(">-")
                || trimmed.ends_with("|+")
                || trimmed.ends_with(">+"))
        {
            scalar_above = Some(indent);
        }
    }
    Ok(())
}

/// Serialize a value as YAML (used to scaffold new posts).
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, YamlError> {
    serde_yaml::to_string(value).map_err(|e| YamlError {
        line: None,
        message: e.to_string(),
    })
}

/// Make serde's wording about fields read as wording about keys, with a
/// hint for the common mistakes.
fn tidy(message: &str) -> String {
    let text = message
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
        .replace('`', "\"");
    match hint(&text) {
        Some(h) => format!("{text}; {h}"),
        None => text,
    }
}

/// What to do about the YAML mistakes people make most.
fn hint(message: &str) -> Option<String> {
    if message.starts_with("mapping values are not allowed in this context") {
        // `title: Part 1: the start`: the second colon starts a map.
        return Some(
            "a value with \": \" in it must be quoted, such as title: \"Part 1: the start\""
                .to_string(),
        );
    }
    // `unknown variant "rss2", expected one of "atom", "rss", "json"` (and
    // the same for keys): name the nearest one.
    let rest = message
        .split_once("unknown variant \"")
        .or_else(|| message.split_once("unknown key \""))
        .map(|(_, r)| r)?;
    let (got, expected) = rest.split_once("\", expected one of ")?;
    let valid: Vec<&str> = expected
        .split(", ")
        .map(|v| v.trim().trim_matches('"'))
        .collect();
    nearest(got, &valid).map(|v| format!("did you mean \"{v}\"?"))
}

/// The candidate nearest to `word`: one edit away (a letter added, left
/// out, changed, or two swapped), or `word` with something added to or cut
/// from its end (`rss2` → `rss`).
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let w = word.to_lowercase();
    candidates
        .iter()
        .find(|c| one_edit(&w, c))
        .or_else(|| {
            candidates
                .iter()
                .find(|c| c.len() >= 3 && (w.starts_with(**c) || c.starts_with(w.as_str())))
        })
        .copied()
}

/// Whether `a` and `b` differ by exactly one edit: a character inserted,
/// deleted or replaced, or two neighbours swapped (`tgas`, `tilte`).
pub fn one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    match (a.len(), b.len()) {
        (x, y) if x == y => {
            a[1..] == b[1..] || (x >= 2 && a[0] == b[1] && a[1] == b[0] && a[2..] == b[2..])
        }
        (x, y) if x == y + 1 => a[1..] == *b,
        (x, y) if x + 1 == y => *a == b[1..],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_refused_at_its_line_in_linear_time() {
        let deep = format!(
            "title: x\ntags: {}{}\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let t = std::time::Instant::now();
        let err = from_str::<serde_yaml::Value>(&deep).unwrap_err();
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(err.line, Some(2));
        assert!(
            err.message.contains("nested deeper than 64"),
            "{}",
            err.message
        );

        let mut block = String::new();
        for i in 0..200 {
            block.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        assert!(from_str::<serde_yaml::Value>(&block)
            .unwrap_err()
            .message
            .contains("nested deeper"));
    }

    #[test]
    fn common_mistakes_get_a_hint() {
        let e = from_str::<serde_yaml::Value>("title: Part 1: the start\n").unwrap_err();
        assert!(e.message.contains("must be quoted"), "{}", e.message);
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "lowercase")]
        enum F {
            Atom,
            Rss,
            Json,
        }
        let e = from_str::<Vec<F>>("[rss2]").unwrap_err();
        assert!(e.message.contains("did you mean \"rss\"?"), "{}", e.message);
        assert!(
            e.message.contains("\"atom\", \"rss\", \"json\""),
            "{}",
            e.message
        );
        for (a, b, one) in [
            ("tgas", "tags", true),
            ("tilte", "title", true),
            ("titl", "title", true),
            ("titles", "title", true),
            ("tags", "tags", false),
            ("date", "slug", false),
            ("tgs", "tags", true),
        ] {
            assert_eq!(one_edit(a, b), one, "{a} {b}");
        }
    }

    #[test]
    fn ordinary_yaml_is_untouched() {
        let text = "title: 'a [[[ b'\nsummary: \"{{{{\"\ntags: [a, [b, {c: d}]] # [[[[\nbody: |\n  [[[[[[\n      deep text\nlist:\n  - - - x\n";
        let v: serde_yaml::Value = from_str(text).unwrap();
        assert_eq!(v["title"].as_str(), Some("a [[[ b"));
        let nested = format!("x: {}1{}\n", "[".repeat(60), "]".repeat(60));
        assert!(from_str::<serde_yaml::Value>(&nested).is_ok());
    }
}
