//! Scenarios (`vpcfwd trace --scenario`): every file in configs/scenarios passes (exit 0, every
//! `Expect` held) and matches its golden text and JSON output under tests/golden/scenarios/
//! (`UPDATE_GOLDEN=1 cargo test --test scenarios` after an intended change); bad scenario
//! files are clear errors naming the step, never a panic; `--packet-hex`, `--pcap` and the
//! new packet options of `trace`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::golden;
use vpcfwd::trace::scenario;

const BIN: &str = env!("CARGO_BIN_EXE_vpcfwd");

fn vpcfwd(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every scenario file (configs they reload live in configs/scenarios/configs/).
fn scenario_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir("configs/scenarios")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| Path::new("configs/scenarios").join(p.file_name().unwrap()))
        .collect();
    v.sort();
    v
}

#[test]
fn every_scenario_passes_and_matches_its_golden_output() {
    let files = scenario_files();
    assert!(files.len() >= 9, "{files:?}");
    let mut mismatches = Vec::new();
    for f in &files {
        let sc = scenario::load(f).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        let report = scenario::run(&sc).unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
        assert!(
            report.error.is_none(),
            "{}: {:?}",
            f.display(),
            report.error
        );
        assert_eq!(report.first_failure(), None, "{}", f.display());
        let (n, held) = report.expectations();
        assert!(n > 0 && n == held, "{}: {held} of {n}", f.display());
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = golden::dir("scenarios");
        golden::compare_file(
            &dir.join(format!("{name}.txt")),
            &report.text(),
            &mut mismatches,
        );
        let json: String = report
            .steps
            .iter()
            .map(|s| s.json().to_string() + "\n")
            .collect();
        golden::compare_file(&dir.join(format!("{name}.json")), &json, &mut mismatches);
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn the_cli_exits_0_for_every_scenario_and_prints_one_json_object_per_step() {
    for f in scenario_files() {
        let o = vpcfwd(&["trace", "--scenario", f.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}: {}", f.display(), stderr(&o));
    }
    let o = vpcfwd(&[
        "trace",
        "--scenario",
        "configs/scenarios/nat-idle-rst.yaml",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["step"], 1);
    assert_eq!(lines[0]["verdict"], "ACCEPT");
    assert_eq!(lines[0]["leaves"]["port"], "internet");
    let last = &lines[4];
    assert_eq!(last["at"], 660.0);
    assert_eq!(last["reason"], "NAT_IDLE_TIMEOUT");
    assert_eq!(last["reply"]["kind"], "TCP RST");
    assert_eq!(last["reply"]["port"], "app");
    assert_eq!(last["reply"]["packet"]["tcp_flags"], "R");
    assert!(last["stages"].as_array().is_some_and(|s| !s.is_empty()));
}

/// Writes a scenario next to the lab config's directory and runs it.
fn run_text(dir: &Path, name: &str, text: &str) -> Output {
    let f = dir.join(name);
    std::fs::write(&f, text).unwrap();
    vpcfwd(&["trace", "--scenario", f.to_str().unwrap()])
}

fn bad_input_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let lab = std::fs::read_to_string(support::LAB_PATH).unwrap();
    std::fs::write(d.path().join("lab.yaml"), &lab).unwrap();
    std::fs::write(
        d.path().join("broken.yaml"),
        "Vpcs: [{VpcId: vpc-x, CidrBlock: nope}]\n",
    )
    .unwrap();
    d
}

#[test]
fn bad_scenarios_are_clear_errors_naming_the_step() {
    let d = bad_input_dir();
    let syn = "{At: 0, From: app, Dst: 203.0.113.100, TcpFlags: S}";
    let cases: &[(&str, String, &[&str])] = &[
        (
            "unknown-key.yaml",
            format!("Config: lab.yaml\nSteps:\n  - {syn}\n  - {{At: 1, From: app, Dst: 203.0.113.100, Colour: red}}\n"),
            &["unknown-key.yaml:4:", "step 2", "Colour"],
        ),
        (
            "later.yaml",
            format!("Config: lab.yaml\nSteps:\n  - {syn}\n  - {{At: 1, ReplyTo: 3}}\n  - {syn}\n"),
            &["later.yaml:4:", "step 2: ReplyTo: 3"],
        ),
        (
            "backwards.yaml",
            "Config: lab.yaml\nSteps:\n  - {At: 5, From: app, Dst: 203.0.113.100}\n  - {At: 2, From: app, Dst: 203.0.113.100}\n".to_string(),
            &["backwards.yaml:4:", "step 2: At: 2", "time only goes forward"],
        ),
        (
            "repeat.yaml",
            "Config: lab.yaml\nSteps:\n  - {At: 0, From: app, Dst: 203.0.113.100, Repeat: 10000001}\n".to_string(),
            &["repeat.yaml:3:", "step 1: Repeat: 10000001", "10000000"],
        ),
        (
            "dropped.yaml",
            "Config: lab.yaml\nSteps:\n  - {At: 0, From: app, Dst: 203.0.113.200}\n  - {At: 1, ReplyTo: 1}\n".to_string(),
            &["step 2: ReplyTo: 1", "dropped", "BLACKHOLE_ROUTE"],
        ),
        (
            "no-config.yaml",
            format!("Config: nosuch.yaml\nSteps:\n  - {syn}\n"),
            &["no-config.yaml: Config:", "nosuch.yaml"],
        ),
    ];
    for (name, text, want) in cases {
        let o = run_text(d.path(), name, text);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        for w in *want {
            assert!(err.contains(w), "{name}: want {w:?} in {err}");
        }
    }
}

#[test]
fn an_invalid_reload_reports_its_errors_and_the_old_config_stays() {
    let d = bad_input_dir();
    let steps =
        "  - {At: 0, From: app, Dst: 203.0.113.100, Dport: 80, Expect: {Verdict: ACCEPT}}\n";
    let after = "  - {At: 2, From: app, Dst: 203.0.113.100, Dport: 81, Expect: {Verdict: ACCEPT, Egress: internet}}\n";
    // Expected to fail: the step holds, the old config carries the next packet.
    let o = run_text(
        d.path(),
        "reload-expected.yaml",
        &format!(
            "Config: lab.yaml\nSteps:\n{steps}  - {{At: 1, Reload: broken.yaml, Expect: {{Reload: error}}}}\n{after}"
        ),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.contains("reload     REJECTED, the old config stays"),
        "{out}"
    );
    assert!(out.contains("broken.yaml"), "{out}");
    // Not expected: the step fails (exit 1, named), the run goes on with the old config.
    let o = run_text(
        d.path(),
        "reload-unexpected.yaml",
        &format!("Config: lab.yaml\nSteps:\n{steps}  - {{At: 1, Reload: broken.yaml}}\n{after}"),
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("step 2: expected the reload taken, got it rejected"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("== step 3"), "{out}");
}

#[test]
fn a_failed_expectation_exits_1_naming_the_step_with_expected_and_got() {
    let d = bad_input_dir();
    let o = run_text(
        d.path(),
        "fails.yaml",
        "Config: lab.yaml\nSteps:\n  - {At: 0, From: app, Dst: 203.0.113.100, Dport: 80}\n  - {At: 1, From: app, Dst: 203.0.113.100, Dport: 23, Expect: {Verdict: ACCEPT}}\n",
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("step 2: expected Verdict=ACCEPT, got DROP reason=NACL_DENY"),
        "{err}"
    );
}

#[test]
fn trace_takes_packet_options_and_raw_packets() {
    let lab = support::LAB_PATH;
    let o = vpcfwd(&[
        "trace",
        "-c",
        lab,
        "--from",
        "app",
        "--dst",
        "203.0.113.100",
        "--tcp-flags",
        "FA",
        "--ttl",
        "9",
        "--length",
        "60",
        "--payload-hex",
        "abcd",
        "--hex",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(out.contains("flags=FA ttl=9 len=60"), "{out}");
    assert!(
        out.contains("leaves     port internet: 198.51.100.5 -> 203.0.113.100 tcp"),
        "{out}"
    );
    assert!(out.lines().any(|l| l.starts_with("hex        45")), "{out}");
    assert!(
        out.trim_end().ends_with("verdict: ACCEPT egress=internet"),
        "{out}"
    );

    let o = vpcfwd(&[
        "trace",
        "-c",
        lab,
        "--from",
        "app",
        "--dst",
        "203.0.113.100",
        "--fragment",
        "mf,0",
        "--length",
        "1500",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("fragment=first"), "{out}");
    assert!(
        out.trim_end()
            .ends_with("verdict: DROP reason=NAT_FRAGMENT"),
        "{out}"
    );

    // The bytes `--hex` printed go back in through --packet-hex (from the internet side).
    let o = vpcfwd(&[
        "trace",
        "-c",
        lab,
        "--from",
        "app",
        "--packet-hex",
        "45000028000040004006f3600a00020acb007164c000005000000001000000005002faf0ac310000",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reason"], "MALFORMED(BAD_CHECKSUM)");

    for bad in [
        &["--tcp-flags", "SX"][..],
        &["--fragment", "3"],
        &["--length", "10"],
        &["--payload-hex", "abc"],
    ] {
        let mut a = vec![
            "trace",
            "-c",
            lab,
            "--from",
            "app",
            "--dst",
            "203.0.113.100",
        ];
        a.extend_from_slice(bad);
        let o = vpcfwd(&a);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(!stderr(&o).contains("panicked"), "{bad:?}");
    }
}

#[test]
fn trace_pcap_replays_a_capture_on_one_flow_table() {
    use vpcfwd::wire::{self, BuildOptions, IpProtocol, pcap};
    let ip = |s: &str| s.parse().unwrap();
    let syn = wire::build(
        ip("10.0.2.10"),
        ip("203.0.113.100"),
        IpProtocol::Tcp,
        40000,
        80,
        (0, 0),
        64,
    );
    let opts = BuildOptions {
        tcp_flags: wire::tcp::flags::parse("PA").unwrap(),
        ..Default::default()
    };
    let data = wire::build_with(
        ip("10.0.2.10"),
        ip("203.0.113.100"),
        IpProtocol::Tcp,
        40000,
        80,
        (0, 0),
        &opts,
    )
    .unwrap();
    // What the forwarder sent to app (a reply, after translation back): skipped.
    let sent = wire::build(
        ip("203.0.113.100"),
        ip("10.0.2.10"),
        IpProtocol::Tcp,
        80,
        40000,
        (0, 0),
        64,
    );
    let telnet = wire::build(
        ip("10.0.2.10"),
        ip("203.0.113.100"),
        IpProtocol::Tcp,
        40001,
        23,
        (0, 0),
        64,
    );
    let s = 1_800_000_000_000_000_000u64;
    let file = pcap::write_raw(&[
        (s, &syn),
        (s + 1_000_000, &sent),
        (s + 2_000_000, &data),
        (s + 3_000_000, &telnet),
        (s + 400_000_000_000, &data),
    ]);
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("app.pcap");
    std::fs::write(&path, &file).unwrap();
    let o = vpcfwd(&[
        "trace",
        "-c",
        support::LAB_PATH,
        "--from",
        "app",
        "--pcap",
        path.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), 5);
    assert_eq!(v[0]["verdict"], "ACCEPT");
    assert_eq!(v[1]["skipped"], "sent by the forwarder");
    assert_eq!(v[2]["stages"][2]["stage"], "src_dst_check");
    assert_eq!(
        v[2]["stages"][3]["stage"], "flow",
        "one flow table: {}",
        v[2]
    );
    assert_eq!(v[3]["reason"], "NACL_DENY");
    assert_eq!(v[4]["at"], 400.0);
    assert_eq!(
        v[4]["reason"], "NAT_IDLE_TIMEOUT",
        "the capture's timestamps: {}",
        v[4]
    );
    std::fs::write(&path, &file[..30]).unwrap();
    let o = vpcfwd(&[
        "trace",
        "-c",
        support::LAB_PATH,
        "--from",
        "app",
        "--pcap",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("packet 1 is cut short"),
        "{}",
        stderr(&o)
    );
}

/// What the fuzz target checks, on every prefix of every scenario file: an error or a
/// scenario, never a panic.
#[test]
fn the_scenario_parser_never_panics_on_cut_files() {
    for f in scenario_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in text.char_indices().step_by(7) {
            let _ = scenario::parse_str(&text[..i], "cut.yaml", Path::new("."));
        }
    }
}
