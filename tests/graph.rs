//! `vpcfwd graph`: golden Mermaid and DOT of configs/lab.yaml (plain and with a traced path;
//! regenerate with `UPDATE_GOLDEN=1 cargo test --test graph` and review the diff), the DOT
//! laid out by Graphviz where installed, an imported VPC drawn in every format, and the path a
//! trace lays over the topology.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::lab_compiled;
use vpcfwd::trace::{Probe, parse_proto, trace};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn graph(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .arg("graph")
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "vpcfwd graph {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// (golden file, graph arguments)
const CASES: &[(&str, &[&str])] = &[
    ("graph-lab.mmd", &["-c", "configs/lab.yaml"]),
    (
        "graph-lab.dot",
        &["-c", "configs/lab.yaml", "--format", "dot"],
    ),
    (
        "graph-lab-telnet-drop.mmd",
        &[
            "-c",
            "configs/lab.yaml",
            "--trace",
            "--from",
            "app",
            "--dst",
            "203.0.113.100",
            "--dport",
            "23",
        ],
    ),
    (
        "graph-lab-nat-reply.dot",
        &[
            "-c",
            "configs/lab.yaml",
            "--format",
            "dot",
            "--trace",
            "--from",
            "app",
            "--dst",
            "203.0.113.100",
            "--reply",
        ],
    ),
];

#[test]
fn lab_mermaid_and_dot_match_golden_files() {
    let dir = root().join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for (name, args) in CASES {
        let got = graph(args);
        let file = dir.join(name);
        if update {
            std::fs::write(&file, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&file)
            .unwrap_or_else(|_| panic!("missing golden file {}", file.display()));
        if want != got {
            mismatches.push(format!(
                "{}:\n--- want\n{want}--- got\n{got}",
                file.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

fn have_dot() -> bool {
    Command::new("dot").arg("-V").output().is_ok()
}

fn dot_svg(dot: &str) -> String {
    use std::io::Write;
    let mut c = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "dot -Tsvg: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn golden_dot_lays_out_with_graphviz() {
    if !have_dot() {
        println!("SKIPPED: Graphviz's dot is not installed");
        return;
    }
    for (name, _) in CASES.iter().filter(|c| c.0.ends_with(".dot")) {
        let dot = std::fs::read_to_string(root().join("tests/golden").join(name)).unwrap();
        let svg = dot_svg(&dot);
        // Node, cluster and path-edge ids carry into the SVG (the web page lights them up).
        for id in [
            "n_eni_app",
            "n_port_internet",
            "c_subnet_private",
            "n_vpce_lab_s3",
        ] {
            assert!(svg.contains(&format!("id=\"{id}\"")), "{name}: no {id}");
        }
        if name.contains("reply") {
            assert!(svg.contains("id=\"p1\""), "{name}: no path edge p1");
        }
    }
    let svg = graph(&["-c", "configs/lab.yaml", "--format", "svg"]);
    assert!(svg.contains("<svg") && svg.contains("id=\"n_nat_lab\""));
}

#[test]
fn imported_vpc_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("imported.yaml");
    let o = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .arg("import")
        .arg("-o")
        .arg(&cfg)
        .arg(root().join("tests/fixtures/aws-account"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = cfg.to_str().unwrap();
    let mm = graph(&["-c", c]);
    assert!(mm.starts_with("flowchart LR\n") && mm.contains("subgraph"));
    let dot = graph(&["-c", c, "--format", "dot"]);
    assert!(dot.starts_with("digraph vpcfwd {"));
    if have_dot() {
        dot_svg(&dot);
        assert!(graph(&["-c", c, "--format", "svg"]).contains("<svg"));
    }
}

fn lab_path(from: &str, dst: &str, dport: u16, reply: bool) -> vpcfwd::graph::Path {
    let (cfg, snap) = lab_compiled();
    let probe = Probe {
        from: from.into(),
        src: None,
        dst: dst.parse().unwrap(),
        proto: parse_proto("tcp", false).unwrap(),
        sport: 49152,
        dport,
        icmp: (8, 0),
        reply,
    };
    let t = trace(&snap, &cfg, &probe).unwrap();
    vpcfwd::graph::path(&vpcfwd::graph::build(&cfg), &t)
}

#[test]
fn path_follows_the_stages() {
    let p = lab_path("app", "192.0.2.10", 80, false);
    assert_eq!(
        p.nodes(),
        [
            "port:app",
            "eni-app",
            "rtb-private",
            "acl-private",
            "vpce-lab-s3",
            "port:s3"
        ]
    );
    assert!(p.edges.iter().all(|e| e.drop.is_none()));
    let p = lab_path("app", "203.0.113.100", 23, false);
    let last = p.edges.last().unwrap();
    assert_eq!(last.to, "acl-private");
    assert_eq!(
        last.drop.as_deref(),
        Some("DROP NACL_DENY: acl-private (subnet-private) outbound: rule 90 deny")
    );
    let p = lab_path("app", "203.0.113.100", 80, true);
    assert!(p.edges.iter().any(|e| e.leg == "reply"));
    assert_eq!(p.verdicts.len(), 2);
    // Numbered in order, request first.
    for (i, e) in p.edges.iter().enumerate() {
        assert_eq!(e.n, i + 1);
    }
}

#[test]
fn svg_without_graphviz_fails_clearly() {
    let o = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(["graph", "-c", "configs/lab.yaml", "--format", "svg"])
        .current_dir(root())
        .env("PATH", Path::new("/nonexistent"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("apt-get install graphviz"), "{err}");
}
