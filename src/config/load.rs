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
            message: e.to_string(),
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
    parse_str(&text, &file)
}
