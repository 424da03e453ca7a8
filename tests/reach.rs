//! `vpcfwd reach` and `vpcfwd diff`: the matrix of configs/lab.yaml agrees with every path of
//! scripts/demo.sh (read from the script), its text and JSON match golden files
//! (`UPDATE_GOLDEN=1 cargo test --test reach` rewrites them), `diff` against the lab without one
//! security-group rule names exactly the connections that rule served, and `diff` works on two
//! imports of the moto fixtures.

mod support;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::process::{Command, Output};
use support::golden;
use vpcfwd::config::Config;
use vpcfwd::import::{self, Options};
use vpcfwd::reach::{self, Matrix, Selection, Service, diff::diff};

fn bin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(args)
        .output()
        .expect("runs vpcfwd")
}

fn matrix(cfg: &Config, services: &str) -> Matrix {
    let snap = support::compile(cfg);
    let sel = Selection {
        services: Service::parse_list(services).unwrap(),
        ..Selection::default()
    };
    reach::reach(cfg, &snap, &sel).expect("reach runs")
}

/// The words of a shell line (double quotes group; no escapes in demo.sh's path lines).
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for ch in line.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// demo.sh's paths: (from, dst, port, expected answer, expected verdict line).
fn demo_paths() -> Vec<(String, IpAddr, u16, String, String)> {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo.sh"))
        .expect("reads demo.sh");
    let paths: Vec<_> = script
        .lines()
        .filter(|l| l.starts_with("path "))
        .map(|l| {
            let w = words(l);
            assert_eq!(w.len(), 7, "path FROM DST PORT ANSWER VERDICT WHAT: {l}");
            (
                w[1].clone(),
                w[2].parse().expect("address"),
                w[3].parse().expect("port"),
                w[4].clone(),
                w[5].clone(),
            )
        })
        .collect();
    assert!(paths.len() >= 14, "demo.sh's paths: {}", paths.len());
    paths
}

#[test]
fn reach_agrees_with_every_demo_path() {
    let paths = demo_paths();
    let ports: BTreeSet<u16> = paths.iter().map(|p| p.2).collect();
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let m = matrix(&support::lab(), &list.join(","));
    for (from, dst, port, answer, verdict) in &paths {
        let what = format!("{from} -> {dst}:{port}");
        let cell = m
            .find(from, *dst, &format!("tcp/{port}"))
            .unwrap_or_else(|| panic!("{what}: no cell (is {dst} a destination of reach?)"));
        let req = cell.request.as_ref().expect("traced");
        if let Some(egress) = verdict.strip_prefix("verdict: ACCEPT egress=") {
            assert_eq!(req.verdict, "ACCEPT", "{what}: {cell:?}");
            assert_eq!(req.egress.as_deref(), Some(egress), "{what}");
        } else {
            let reason = verdict
                .strip_prefix("verdict: DROP reason=")
                .unwrap_or_else(|| panic!("demo verdict {verdict:?}"));
            assert_eq!(req.verdict, "DROP", "{what}");
            assert_eq!(req.reason.as_deref(), Some(reason), "{what}");
            assert!(
                req.by.as_deref().is_some_and(|b| !b.is_empty()),
                "{what}: names what decided: {req:?}"
            );
        }
        // The demo's real connection answers exactly when the packet and its reply both pass.
        assert_eq!(cell.works(), answer != "TIMEOUT", "{what}: {cell:?}");
    }
    // What decided, for the demo's drops.
    let by = |from: &str, dst: &str, port: u16| {
        let c = m.find(from, dst.parse().unwrap(), &format!("tcp/{port}"));
        c.and_then(|c| c.failure()).and_then(|(l, _)| l.by.clone())
    };
    assert_eq!(
        by("app", "203.0.113.100", 23).as_deref(),
        Some("acl-private rule 90 outbound")
    );
    assert_eq!(
        by("web", "10.0.2.10", 8080).as_deref(),
        Some("sg-app ingress (eni-app)")
    );
    assert_eq!(
        by("app", "10.0.2.20", 80).as_deref(),
        Some("sg-app egress (eni-app)")
    );
    assert_eq!(
        by("app", "203.0.113.200", 80).as_deref(),
        Some("rtb-private blackhole 203.0.113.128/25")
    );
    assert_eq!(
        by("internet", "198.51.100.5", 80).as_deref(),
        Some("nat-lab: connection opened from outside")
    );
}

#[test]
fn lab_matrix_matches_golden_files() {
    let m = matrix(&support::lab(), "22,80,443,icmp");
    let name = "configs/lab.yaml";
    let mut mismatches = Vec::new();
    let json = serde_json::to_string_pretty(&m.json(name)).unwrap() + "\n";
    let dir = golden::dir("");
    golden::compare_file(&dir.join("reach-lab.txt"), &m.text(name), &mut mismatches);
    golden::compare_file(&dir.join("reach-lab.json"), &json, &mut mismatches);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The CLI prints the same (its stderr has the timing).
    let o = bin(&["reach", "-c", "configs/lab.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), m.text(name));
    assert!(String::from_utf8_lossy(&o.stderr).contains("traces/s"));
    let o = bin(&["reach", "-c", "configs/lab.yaml", "--json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), json);
}

#[test]
fn csv_markdown_and_selectors() {
    let o = bin(&[
        "reach",
        "-c",
        "configs/lab.yaml",
        "--ports",
        "443,udp/53",
        "--from",
        "app",
        "eni-web",
        "--to",
        "vpce-lab-api",
        "--csv",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let csv = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("from,to,address,service,works,"));
    // 2 sources × (the endpoint's 2 ENIs and its 2 service addresses) × 2 services.
    assert_eq!(lines.len(), 1 + 16, "{csv}");
    assert!(
        lines.contains(&"app,eni-lab-api-b,10.0.2.20,tcp/443,true,ACCEPT,,,api,ACCEPT,,"),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("web,eni-lab-api-a,10.0.1.20,udp/53,false,DROP,SG_NO_ALLOW,")),
        "{csv}"
    );
    // `-c -`: the config from standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args([
            "reach",
            "-c",
            "-",
            "--from",
            "app",
            "--to",
            "eni-lab-api-b",
            "--csv",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(support::LAB_YAML.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("app,eni-lab-api-b,10.0.2.20,tcp/443,true,"),
        "{o:?}"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).starts_with("reach <stdin>: 4 connections, "),
        "{o:?}"
    );
    let o = bin(&["reach", "-c", "configs/lab.yaml", "--markdown"]);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("### tcp/22\n\n| from |"), "{md}");
    assert!(md.contains("| app |"), "{md}");
    // Unknown selectors and services: exit 2, said.
    let o = bin(&["reach", "-c", "configs/lab.yaml", "--from", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--from nope"));
    let o = bin(&["reach", "-c", "configs/lab.yaml", "--ports", "sctp/9"]);
    assert_eq!(o.status.code(), Some(2));
}

/// sg-app's egress rule "tcp 443 to 10.0.0.0/16".
const SG_APP_443: &str = "      - IsEgress: true
        IpProtocol: tcp
        FromPort: 443
        ToPort: 443
        CidrIpv4: 10.0.0.0/16
";

#[test]
fn diff_names_exactly_the_connections_a_removed_rule_served() {
    let old = support::lab();
    let new_yaml = support::lab_with(SG_APP_443, "");
    let new = vpcfwd::config::load::parse_str(&new_yaml, "new.yaml").unwrap();
    let (mo, mn) = (
        matrix(&old, "22,80,443,icmp"),
        matrix(&new, "22,80,443,icmp"),
    );
    // The connections the rule served: those whose packet passed sg-app egress by it (rule #4
    // of sg-app's rules in order).
    let served: BTreeSet<(String, String, String)> = mo
        .live()
        .filter(|c| {
            c.works()
                && c.request
                    .as_ref()
                    .is_some_and(|l| l.path.iter().any(|p| p == "sg-app egress rule #4"))
        })
        .map(|c| {
            (
                mo.sources[c.from].id.clone(),
                mo.dests[c.to].address.to_string(),
                mo.services[c.service].to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = [
        ("app", "10.0.1.20", "tcp/443"),
        ("app", "10.0.2.20", "tcp/443"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(served, want);
    let changes = diff(&mo, &mn);
    let got: BTreeSet<(String, String, String)> = changes
        .iter()
        .map(|c| (c.from.clone(), c.address.clone(), c.service.clone()))
        .collect();
    assert_eq!(got, want, "{changes:#?}");
    assert!(changes.iter().all(|c| c.broken));
    let line = &changes
        .iter()
        .find(|c| c.address == "10.0.2.20")
        .unwrap()
        .line;
    assert_eq!(
        line,
        "eni-app → 10.0.2.20:443 (eni-lab-api-b): ACCEPT → DROP SG_NO_ALLOW (sg-app egress (eni-app); was allowed by sg-app egress rule #4)"
    );

    // The CLI: exit 1 when something stops working, 0 when nothing does (the other way round
    // only adds connections).
    let dir = tempfile::tempdir().unwrap();
    let newf = dir.path().join("new.yaml");
    std::fs::write(&newf, &new_yaml).unwrap();
    let newf = newf.to_str().unwrap();
    let o = bin(&["diff", "-c", "configs/lab.yaml", "-c", newf]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains(line.as_str()), "{out}");
    assert!(
        out.ends_with("2 connections changed, 2 stopped working\n"),
        "{out}"
    );
    let o = bin(&["diff", "-c", "configs/lab.yaml", "-c", newf, "--json"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["broken"], 2);
    assert_eq!(j["changes"][0]["old"], "ACCEPT");
    assert_eq!(j["changes"][0]["new"], "DROP SG_NO_ALLOW");
    let o = bin(&["diff", "-c", newf, "-c", "configs/lab.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("ACCEPT"));
    let o = bin(&["diff", "-c", "configs/lab.yaml", "-c", "configs/lab.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("0 connections changed"));
    let o = bin(&["diff", "-c", "configs/lab.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn diff_of_two_imports() {
    let root = env!("CARGO_MANIFEST_DIR");
    let imp = import::import(
        &[std::path::Path::new(root).join("tests/fixtures/aws")],
        &Options::default(),
    )
    .map_err(|e| e.0)
    .unwrap();
    // The change: the private subnet's NACL rule 90 denies all TCP out, not only telnet.
    let telnet = "        PortRange: {From: 23, To: 23}\n";
    assert_eq!(imp.yaml.matches(telnet).count(), 1, "{}", imp.yaml);
    let after = imp
        .yaml
        .replacen(telnet, "        PortRange: {From: 0, To: 65535}\n", 1);
    let changed = vpcfwd::config::load::parse_str(&after, "after.yaml").unwrap();
    let (mo, mn) = (matrix(&imp.config, "80,443"), matrix(&changed, "80,443"));
    let changes = diff(&mo, &mn);
    assert!(!changes.is_empty());
    assert!(changes.iter().any(|c| c.broken), "{changes:#?}");
    assert!(
        changes
            .iter()
            .filter(|c| c.broken)
            .all(|c| c.new.contains("NACL_DENY")),
        "{changes:#?}"
    );
    // Through the CLI, on the written YAML of both imports.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        dir.path().join("before.yaml"),
        dir.path().join("after.yaml"),
    );
    std::fs::write(&a, &imp.yaml).unwrap();
    std::fs::write(&b, &after).unwrap();
    let o = bin(&[
        "diff",
        "-c",
        a.to_str().unwrap(),
        "-c",
        b.to_str().unwrap(),
        "--ports",
        "80,443",
    ]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.lines().filter(|l| l.contains("ACCEPT → DROP")).count(),
        changes.iter().filter(|c| c.broken).count(),
        "{out}"
    );
}

/// Real packets agree with the matrix (root): a copy of the lab, brought up by `scripts/lab.sh
/// up -c COPY --check` as a lab of its own (namespaces `vpcfwd-<tag>-<port>`, beside a running
/// default lab), has every TCP connection of `vpcfwd reach` on the demo's ports made for real:
/// those reach says work are answered by the destination's service, the others are not.
#[test]
fn lab_sh_check_finds_what_reach_says_on_the_lab() {
    if !support::lab::can_run("lab_sh_check_finds_what_reach_says_on_the_lab") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("lab-copy.yaml");
    std::fs::write(&copy, support::LAB_YAML).unwrap();
    let lab_sh = |args: &[&str]| {
        let o = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lab.sh"))
            .args(args)
            .env("LAB_BIN", env!("CARGO_BIN_EXE_vpcfwd"))
            .env("LAB_SERVICE_PORTS", "22 23 80 443 8080")
            .output()
            .expect("runs lab.sh");
        (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    struct Down<'a>(&'a dyn Fn(&[&str]) -> (bool, String), String);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["down", "-c", &self.1]);
        }
    }
    let c = copy.to_str().unwrap().to_string();
    let _down = Down(&lab_sh, c.clone());
    let (ok, out) = lab_sh(&["up", "-c", &c, "--check"]);
    assert!(ok, "{out}");
    assert!(out.contains(", 0 mismatches"), "{out}");
    assert!(
        out.contains("namespaces vpcfwd-") && !out.contains("namespaces vpcfwd-<port>"),
        "a lab of its own: {out}"
    );
    println!(
        "{}",
        out.lines()
            .find(|l| l.starts_with("lab check:"))
            .unwrap_or("")
    );
}

/// Issue 14: `reach` over IPv6 on configs/lab6.yaml — ENI IPv6 addresses, the IPv6 internet
/// host, the dual-stack interface and gateway endpoints — pinned by `reach-lab6.txt`, with
/// AWS's IPv6 verdicts asserted cell by cell.
#[test]
fn lab6_matrix_over_ipv6_matches_its_golden_file() {
    let yaml = include_str!("../configs/lab6.yaml");
    let cfg = vpcfwd::config::load::parse_str(yaml, "configs/lab6.yaml").unwrap();
    let m = matrix(&cfg, "80,443");
    let code = |from: &str, to: &str, svc: &str| {
        let s = m.sources.iter().position(|s| s.id == from).unwrap();
        let to: IpAddr = to.parse().unwrap();
        let d = m.dests.iter().position(|d| d.address == to).unwrap();
        let v = m
            .services
            .iter()
            .position(|x| x.to_string() == svc)
            .unwrap();
        let c = m
            .cells
            .iter()
            .find(|c| c.from == s && c.to == d && c.service == v)
            .unwrap();
        c.code(&m.dests[d])
    };
    for (from, to, svc, want) in [
        ("v6", "2001:db8:ff::100", "tcp/80", "✓"),
        ("web", "2001:db8:ff::100", "tcp/80", "✓"),
        ("internet", "2001:db8:10:1::10", "tcp/80", "✓"),
        ("internet", "2001:db8:10:3::10", "tcp/80", "EGRESS_ONLY"),
        ("web", "2001:db8:10:3::10", "tcp/80", "✓"),
        ("web", "2001:db8:10:1::20", "tcp/443", "✓"),
        ("v6", "2001:db8:10:1::20", "tcp/443", "✓"),
        ("v6", "2001:db8:10:1::20", "tcp/80", "SG_NO_ALLOW"),
        ("v6", "2001:db8:53::10", "tcp/443", "✓"),
        ("web", "2001:db8:53::10", "tcp/443", "✓"),
        ("s3", "2001:db8:10:3::10", "tcp/80", "UNSOLICITED"),
    ] {
        assert_eq!(code(from, to, svc), want, "{from} -> {to} {svc}");
    }
    let name = "configs/lab6.yaml";
    let mut mismatches = Vec::new();
    golden::compare_file(
        &golden::dir("").join("reach-lab6.txt"),
        &m.text(name),
        &mut mismatches,
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // `--to` takes an IPv6 address.
    let o = bin(&[
        "reach",
        "-c",
        name,
        "--ports",
        "80",
        "--to",
        "2001:db8:10:3::10",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("2001:db8:10:3::10") && out.contains("EGRESS_ONLY"),
        "{out}"
    );
}
