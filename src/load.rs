//! Config loading for the CLI: a file, or `-` for standard input (`vpcfwd import … | vpcfwd
//! check -c -`). Parsing and validation are the core's (`config::load`, `config::validate`).

use crate::config::{self, Config, ConfigError, ErrorLocation};
use std::path::Path;

/// The name errors give standard input.
pub const STDIN: &str = "<stdin>";

/// Whether `path` means standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How a path is named in messages (`<stdin>` for `-`).
pub fn display(path: &Path) -> String {
    if is_stdin(path) {
        STDIN.to_string()
    } else {
        path.display().to_string()
    }
}

/// Reads, parses and validates `path` (`-`: standard input): every error found.
pub fn config(path: &Path) -> Result<Config, Vec<ConfigError>> {
    if !is_stdin(path) {
        return config::load_file(path);
    }
    let err = |line, column, message: String| ConfigError {
        location: ErrorLocation::Text {
            file: STDIN.to_string(),
            line,
            column,
        },
        message,
    };
    // At most MAX_CONFIG_BYTES (+1 to tell): a larger stream is refused, not read whole.
    let text = config::load::read_bounded(std::io::stdin().lock(), STDIN)?;
    if text.trim().is_empty() {
        return Err(vec![err(1, 1, "the input is empty".into())]);
    }
    let cfg = config::load::parse_str(&text, STDIN)?;
    let errors = config::validate::validate(&cfg);
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}
