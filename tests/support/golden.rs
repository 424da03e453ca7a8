//! Golden files: compare an output with its file under `tests/golden/`, or (with
//! `UPDATE_GOLDEN` set) write it. Mismatches are collected so one run reports them all.

use std::path::{Path, PathBuf};

/// `tests/golden/<sub>`.
pub fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(sub)
}

/// Whether this run regenerates the golden files.
pub fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

/// Compares `got` with `file` (or writes it when updating), pushing a diff-like report of a
/// mismatch onto `mismatches`.
pub fn compare_file(file: &Path, got: &str, mismatches: &mut Vec<String>) {
    if updating() {
        if let Some(d) = file.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(file, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(file)
        .unwrap_or_else(|_| panic!("missing golden file {}", file.display()));
    if want != got {
        mismatches.push(format!(
            "{}:\n--- want\n{want}--- got\n{got}",
            file.display()
        ));
    }
}
