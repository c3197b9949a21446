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

/// Deserialize `text` into `T`, reporting errors with their line.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
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

/// Serialize a value as YAML (used to scaffold new posts).
pub fn to_string<T: serde::Serialize>(value: &T) -> Result<String, YamlError> {
    serde_yaml::to_string(value).map_err(|e| YamlError {
        line: None,
        message: e.to_string(),
    })
}

/// Make serde's wording about fields read as wording about keys.
fn tidy(message: &str) -> String {
    message
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key")
        .replace('`', "\"")
}
