//! Golden files (tests/golden/): compare an output with its file, or rewrite the file when
//! `UPDATE_GOLDEN` is set (then review the diff), as tests/trace_golden.rs does for traces.

use std::path::{Path, PathBuf};

/// tests/golden/.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Whether this run rewrites the golden files (`UPDATE_GOLDEN=1`).
pub fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

/// Compares `got` with `dir/file` (or writes it when updating); a mismatch is pushed as a
/// want/got message.
pub fn compare(dir: &Path, file: &str, got: &str, mismatches: &mut Vec<String>) {
    let path = dir.join(file);
    if updating() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {} (UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    if want != got {
        mismatches.push(format!(
            "{}:\n--- want\n{want}--- got\n{got}",
            path.display()
        ));
    }
}
