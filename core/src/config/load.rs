//! YAML → `Config`, with `file:line:column` on every syntax and type error.

use super::{Config, ConfigError, ErrorLocation};
use std::path::Path;

/// Parses YAML text; `file` names it in errors.
pub fn parse_str(text: &str, file: &str) -> Result<Config, Vec<ConfigError>> {
    serde_saphyr::from_str::<Config>(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        vec![ConfigError {
            location: ErrorLocation::Text {
                file: file.to_string(),
                line,
                column,
            },
            message: one_line(&e.to_string()),
        }]
    })
}

/// Reads and parses a file.
pub fn parse_file(path: &Path) -> Result<Config, Vec<ConfigError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError {
            location: ErrorLocation::Text {
                file: file.clone(),
                line: 0,
                column: 0,
            },
            message: format!("cannot read: {e}"),
        }]
    })?;
    if text.trim().is_empty() {
        return Err(vec![ConfigError {
            location: ErrorLocation::Text {
                file,
                line: 1,
                column: 1,
            },
            message: "the file is empty".into(),
        }]);
    }
    parse_str(&text, &file)
}

/// serde-saphyr renders a multi-line snippet; `check` prints one line per error, so keep the
/// message and drop the location prefix (the location is printed as `file:line:column`).
fn one_line(rendered: &str) -> String {
    let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((_, msg)) => msg.to_string(),
        None => first.to_string(),
    }
}
