//! Data flows one way: each module of the core and of the `vpcfwd` package imports only from
//! modules below it in the order their `lib.rs` writes down. This test reads the sources and
//! fails on an import that points up (or at a module missing from the order), so a cycle cannot
//! creep back in unnoticed.

use std::path::{Path, PathBuf};

/// `vpcfwd-core`, lowest first (core/src/lib.rs).
const CORE: &[&str] = &[
    "lpm", "wire", "config", "policy", "flow", "dns", "snapshot", "pipeline", "trace",
];

/// The `vpcfwd` package, lowest first (src/lib.rs); every core module is below all of them.
const VPCFWD: &[&str] = &[
    "load", "observe", "io", "graph", "ui", "control", "import", "reach", "top",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `crate::NAME` a file names (imports and paths alike).
fn crate_refs(text: &str) -> Vec<String> {
    let mut refs = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            refs.push(name);
        }
    }
    refs
}

/// Violations in package `root` whose modules are ordered as `order`.
fn check(root: &Path, order: &[&str]) -> Vec<String> {
    let rank = |m: &str| order.iter().position(|x| *x == m);
    let mut bad = Vec::new();
    for m in std::fs::read_dir(root).unwrap() {
        let p = m.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().to_string();
        if matches!(name.as_str(), "lib" | "main") || name.starts_with("cli") {
            continue;
        }
        let Some(r) = rank(&name) else {
            bad.push(format!(
                "{}: module `{name}` is not in the layer order",
                p.display()
            ));
            continue;
        };
        let mut files = Vec::new();
        if p.is_dir() {
            rust_files(&p, &mut files);
        } else {
            files.push(p.clone());
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for to in crate_refs(&text) {
                if to == name {
                    continue;
                }
                match rank(&to) {
                    Some(t) if t < r => {}
                    Some(_) => bad.push(format!(
                        "{}: `{name}` imports `{to}`, above it",
                        f.display()
                    )),
                    // Re-exports of the core (`crate::config` in the vpcfwd package) are below
                    // everything; anything else is unknown.
                    None if order == VPCFWD && CORE.contains(&to.as_str()) => {}
                    None => bad.push(format!(
                        "{}: `{name}` names unknown `crate::{to}`",
                        f.display()
                    )),
                }
            }
        }
    }
    bad
}

#[test]
fn the_core_imports_only_downwards() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("core/src");
    let bad = check(&root, CORE);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_vpcfwd_package_imports_only_downwards() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = check(&root, VPCFWD);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_core_depends_on_no_runtime_crate() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("core/Cargo.toml"))
            .unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .unwrap_or("");
    for runtime in [
        "tokio",
        "axum",
        "tun-rs",
        "libc",
        "clap",
        "tracing-subscriber",
    ] {
        assert!(
            !deps
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{runtime} "))
                    || l.trim_start().starts_with(&format!("{runtime}="))),
            "vpcfwd-core depends on {runtime}"
        );
    }
}

#[test]
fn an_upward_import_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lpm.rs"), "use crate::wire::IpProtocol;\n").unwrap();
    std::fs::create_dir(dir.path().join("wire")).unwrap();
    std::fs::write(dir.path().join("wire/mod.rs"), "use crate::lpm::Fib4;\n").unwrap();
    std::fs::write(dir.path().join("extra.rs"), "").unwrap();
    let bad = check(dir.path(), CORE);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(
        bad.iter()
            .any(|b| b.contains("`lpm` imports `wire`, above it"))
    );
    assert!(
        bad.iter()
            .any(|b| b.contains("`extra` is not in the layer order"))
    );
}
