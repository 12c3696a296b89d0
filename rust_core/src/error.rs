//! Input errors: what was wrong, and where (a JSON path into the record).

use std::fmt;

/// A record or tariff that cannot be priced. `field` is a JSON path such as
/// `charging_periods[2].dimensions[0].volume`; empty when the whole document is at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub field: String,
    pub message: String,
}

impl InputError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// Prefix the path with an enclosing field (`prefix.field` or `prefix[..]`).
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = join_path(prefix, &self.field);
        self
    }
}

pub(crate) fn join_path(prefix: &str, rest: &str) -> String {
    if rest.is_empty() {
        prefix.to_string()
    } else if prefix.is_empty() || rest.starts_with('[') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}.{rest}")
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for InputError {}

/// serde_json reports our visitor errors as `"<path>\u{1f}<message> at line L column C"`;
/// split that back into a path and a message.
pub(crate) fn from_json_error(err: &serde_json::Error) -> InputError {
    let text = err.to_string();
    // Nested syntax errors come back re-raised with a path, so recognise them by their text too.
    const SYNTAX: [&str; 9] = ["EOF while parsing", "expected value", "expected `", "trailing c", "key must be a string",
        "control character", "invalid escape", "invalid number", "invalid unicode"];
    let syntax = err.is_syntax() || err.is_eof() || SYNTAX.iter().any(|p| text.contains(p));
    match text.split_once(PATH_SEP) {
        Some((path, msg)) if syntax => InputError::new(path, format!("invalid JSON: {msg}")),
        Some((path, msg)) => InputError::new(path, msg),
        None => InputError::new("", format!("invalid JSON: {text}")),
    }
}

pub(crate) const PATH_SEP: char = '\u{1f}';
