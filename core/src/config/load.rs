//! YAML → `Config`, with `file:line:column` on every syntax and type error.
//!
//! Hostile input is bounded before it costs much: a file over [`MAX_CONFIG_BYTES`] is refused
//! from its length (standard input: after reading one byte more than the limit), and the YAML
//! reader runs with a budget ([`yaml_options`]) that refuses alias bombs ("billion laughs")
//! and deep nesting with the position where the limit was hit, while leaving room for a
//! config at AWS's maxima (`vpcfwd bench config-maxima`: about 4 MB, 450,000 nodes).

use super::{Config, ConfigError, ErrorLocation};
use std::io::Read;
use std::path::Path;

/// The largest config accepted, in bytes (16 MiB; a config at AWS's maxima is about 4 MB).
pub const MAX_CONFIG_BYTES: usize = 16 << 20;
/// Deepest nesting of collections (a config needs 6; a scenario file 5).
pub const MAX_DEPTH: usize = 32;
/// Most YAML nodes (scalars, sequences, mappings): 10 times a config at AWS's maxima.
pub const MAX_NODES: usize = 5_000_000;
/// Most aliases (`*name`) in one file, and most events replayed through them in all: an
/// alias names a whole subtree, so a few nested ones multiply (a "billion laughs" bomb).
pub const MAX_ALIASES: usize = 10_000;
pub const MAX_ALIAS_REPLAYED_EVENTS: usize = 100_000;

/// The YAML reader's limits (see the module docs); the scenario reader uses them too.
pub fn yaml_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(MAX_CONFIG_BYTES);
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    budget.max_nodes = MAX_NODES;
    budget.max_events = 2 * MAX_NODES;
    budget.max_aliases = MAX_ALIASES;
    budget.max_anchors = MAX_ALIASES;
    budget.max_total_scalar_bytes = MAX_CONFIG_BYTES;
    let mut o = serde_saphyr::Options::default();
    o.budget = Some(budget);
    o.alias_limits.max_total_replayed_events = MAX_ALIAS_REPLAYED_EVENTS;
    o.alias_limits.max_replay_stack_depth = MAX_DEPTH;
    o
}

fn at(file: &str, line: u64, column: u64, message: String) -> Vec<ConfigError> {
    vec![ConfigError {
        location: ErrorLocation::Text {
            file: file.to_string(),
            line,
            column,
        },
        message,
    }]
}

fn too_big(file: &str, bytes: Option<u64>) -> Vec<ConfigError> {
    let size = bytes.map_or_else(
        || "more than the limit".to_string(),
        |b| format!("{b} bytes"),
    );
    at(
        file,
        1,
        1,
        format!(
            "the config is too large ({size}; at most {MAX_CONFIG_BYTES} bytes = 16 MiB): refused before reading it whole"
        ),
    )
}

/// Reads at most [`MAX_CONFIG_BYTES`] from `r` (a file or standard input) as text; more is
/// refused without reading the rest.
pub fn read_bounded(mut r: impl Read, file: &str) -> Result<String, Vec<ConfigError>> {
    let mut buf = Vec::new();
    (&mut r)
        .take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| at(file, 0, 0, format!("cannot read: {e}")))?;
    if buf.len() > MAX_CONFIG_BYTES {
        return Err(too_big(file, None));
    }
    String::from_utf8(buf).map_err(|e| {
        let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let column = before.iter().rev().take_while(|&&b| b != b'\n').count() as u64 + 1;
        at(file, line, column, "not UTF-8 text".into())
    })
}

/// Parses YAML text; `file` names it in errors.
pub fn parse_str(text: &str, file: &str) -> Result<Config, Vec<ConfigError>> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(too_big(file, Some(text.len() as u64)));
    }
    serde_saphyr::from_str_with_options::<Config>(text, yaml_options()).map_err(|e| {
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
    let f = std::fs::File::open(path).map_err(|e| at(&file, 0, 0, format!("cannot read: {e}")))?;
    // The length first: a huge file is refused without reading it.
    if let Ok(m) = f.metadata()
        && m.is_file()
        && m.len() > MAX_CONFIG_BYTES as u64
    {
        return Err(too_big(&file, Some(m.len())));
    }
    let text = read_bounded(f, &file)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text_location(e: &[ConfigError]) -> (u64, u64) {
        match &e[0].location {
            ErrorLocation::Text { line, column, .. } => (*line, *column),
            other => panic!("{other:?}"),
        }
    }

    /// Nine levels of nine aliases: 9^9 (387 million) scalars if expanded.
    fn billion_laughs() -> String {
        let mut y = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..9 {
            let p = format!("*a{}", i - 1);
            y.push_str(&format!("a{i}: &a{i} [{}]\n", vec![p; 9].join(", ")));
        }
        y.push_str("all: *a8\n");
        y
    }

    #[test]
    fn the_budget_refuses_an_alias_bomb_with_its_position() {
        let e = serde_saphyr::from_str_with_options::<serde_json::Value>(
            &billion_laughs(),
            yaml_options(),
        )
        .expect_err("refused");
        let loc = e.location().expect("a position");
        assert!(loc.line() >= 1, "{e}");
        let msg = e.to_string().to_lowercase();
        assert!(msg.contains("alias") || msg.contains("replay"), "{msg}");
        // As a config: refused too, with file:line:column.
        let errs = parse_str(&billion_laughs(), "bomb.yaml").expect_err("refused");
        assert!(text_location(&errs).0 >= 1, "{errs:?}");
    }

    #[test]
    fn the_budget_refuses_deep_nesting_with_its_position() {
        let flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let e = serde_saphyr::from_str_with_options::<serde_json::Value>(&flow, yaml_options())
            .expect_err("refused");
        let loc = e.location().expect("a position");
        assert_eq!(loc.line(), 1);
        assert!(loc.column() <= MAX_DEPTH as u64 + 2, "{e}");
        let mut block = String::new();
        for d in 0..100 {
            block.push_str(&format!("{}k{d}:\n", "  ".repeat(d)));
        }
        let e = serde_saphyr::from_str_with_options::<serde_json::Value>(&block, yaml_options())
            .expect_err("refused");
        let line = e.location().expect("a position").line();
        assert!(
            (MAX_DEPTH as u64 - 2..=MAX_DEPTH as u64 + 2).contains(&line),
            "{e}"
        );
        let errs = parse_str(&flow, "deep.yaml").expect_err("refused");
        assert_eq!(text_location(&errs).0, 1);
        // A config's real depth is well inside the limit.
        let fine = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH - 2),
            "]".repeat(MAX_DEPTH - 2)
        );
        assert!(
            serde_saphyr::from_str_with_options::<serde_json::Value>(&fine, yaml_options()).is_ok()
        );
    }

    #[test]
    fn a_stream_over_the_limit_is_refused_without_reading_it_whole() {
        // An endless reader: refused after MAX_CONFIG_BYTES + 1 bytes.
        let errs = read_bounded(std::io::repeat(b'#'), "<stdin>").expect_err("refused");
        assert!(errs[0].message.contains("too large"), "{errs:?}");
        assert_eq!(text_location(&errs), (1, 1));
        let ok = read_bounded(&b"Region: us-east-1\n"[..], "<stdin>").expect("small");
        assert_eq!(ok, "Region: us-east-1\n");
        let errs = read_bounded(&b"Region: \xff\n"[..], "x.yaml").expect_err("not UTF-8");
        assert_eq!(text_location(&errs), (1, 9));
        let big = "#".repeat(MAX_CONFIG_BYTES + 1);
        let errs = parse_str(&big, "big.yaml").expect_err("refused");
        assert!(errs[0].message.contains("16 MiB"), "{errs:?}");
    }
}
