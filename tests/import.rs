//! `vpcfwd import`: the moto fixtures (tests/fixtures/aws, from scripts/aws-fixtures.sh) and a
//! hand-written account export (tests/fixtures/aws-account) import into configs `check` accepts,
//! traces on them follow AWS, every quirk and unmodelled object is reported, `--lab` keeps every
//! verdict with documentation addresses only, and bad input exits 2.

mod support;
use support::lab as common;

use ipnet::IpNet;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vpcfwd::config::{self, Config, InterfaceType};
use vpcfwd::import::{self, Imported, Options};
use vpcfwd::snapshot::{self, Snapshot};
use vpcfwd::trace::{Probe, parse_proto, trace};

const MOTO: &str = "tests/fixtures/aws";
const ACCOUNT: &str = "tests/fixtures/aws-account";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run_import(dir: &str, lab: bool) -> Imported {
    let opts = Options { vpc: None, lab };
    match import::import(&[root().join(dir)], &opts) {
        Ok(i) => i,
        Err(e) => panic!("import {dir}: {:?}", e.0),
    }
}

/// The written YAML loads back as the imported config, validates and compiles.
fn compiled(imp: &Imported) -> (Config, Snapshot) {
    let cfg = config::load::parse_str(&imp.yaml, "imported").expect("written YAML parses");
    assert_eq!(cfg, imp.config, "the YAML says what the import built");
    let errors = config::validate::validate(&cfg);
    assert!(errors.is_empty(), "check: {errors:#?}\n{}", imp.yaml);
    let snap = snapshot::compile(&cfg).expect("compiles");
    (cfg, snap)
}

fn probe(
    cfg: &Config,
    snap: &Snapshot,
    from: &str,
    dst: IpAddr,
    proto: &str,
    dport: u16,
) -> String {
    let p = Probe {
        from: from.to_string(),
        src: None,
        dst,
        proto: parse_proto(proto, dst.is_ipv6()).expect("proto"),
        sport: 49152,
        dport,
        icmp: (8, 0),
        reply: false,
    };
    trace(snap, cfg, &p).expect("trace runs").text()
}

fn verdict(text: &str) -> &str {
    text.lines().last().unwrap_or("")
}

fn eni_at(cfg: &Config, a: &str) -> String {
    let a: Ipv4Addr = a.parse().expect("addr");
    cfg.network_interfaces
        .iter()
        .find(|n| n.private_ip_address == Some(a))
        .unwrap_or_else(|| panic!("no ENI at {a}"))
        .network_interface_id
        .clone()
}

fn port_of(cfg: &Config, pred: impl Fn(&config::Port) -> bool) -> config::Port {
    cfg.ports.iter().find(|p| pred(p)).expect("port").clone()
}

fn list_entry(cfg: &Config, name: &str, k: usize) -> IpNet {
    cfg.managed_prefix_lists
        .iter()
        .find(|p| p.prefix_list_name == name)
        .unwrap_or_else(|| panic!("no prefix list {name}"))
        .entries[k]
        .cidr
}

fn plus(n: IpNet, k: u32) -> IpAddr {
    match n.network() {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) + k)),
        v6 => v6,
    }
}

/// One path: name, from (ENI or port id), destination, protocol, port, expected verdict line,
/// and a piece of the trace text that shows why.
struct Case {
    name: &'static str,
    from: String,
    dst: IpAddr,
    proto: &'static str,
    dport: u16,
    verdict: String,
    why: String,
}

/// The lab-like paths of the moto VPC, with ids found in the import (the fixtures' ids are
/// random: refreshing them must not break the test).
fn moto_cases(cfg: &Config) -> Vec<Case> {
    let web = eni_at(cfg, "10.0.1.10");
    let app = eni_at(cfg, "10.0.2.10");
    let pid = |eni: &str| port_of(cfg, |p| p.network_interface_id.as_deref() == Some(eni)).port_id;
    let internet = port_of(cfg, |p| p.internet_gateway_id.is_some()).addresses[0].addr();
    let svc = |name: &str| {
        let ep = cfg
            .vpc_endpoints
            .iter()
            .find(|e| e.service_name.ends_with(name))
            .expect("endpoint");
        port_of(cfg, |p| {
            p.vpc_endpoint_id.as_deref() == Some(&ep.vpc_endpoint_id)
        })
        .port_id
    };
    let s3 = list_entry(cfg, "com.amazonaws.us-east-1.s3", 0);
    let ddb = list_entry(cfg, "com.amazonaws.us-east-1.dynamodb", 0);
    let web_public = IpAddr::V4(
        cfg.network_interfaces
            .iter()
            .find(|n| n.network_interface_id == web)
            .unwrap()
            .association
            .as_ref()
            .unwrap()
            .public_ip,
    );
    let api_eni = cfg
        .network_interfaces
        .iter()
        .find(|n| {
            n.interface_type == Some(InterfaceType::VpcEndpoint)
                && n.subnet_id
                    == cfg
                        .network_interfaces
                        .iter()
                        .find(|m| m.network_interface_id == app)
                        .unwrap()
                        .subnet_id
        })
        .and_then(|n| n.private_ip_address.map(IpAddr::V4))
        .expect("endpoint ENI in the private subnet");
    let a = |s: &str| s.parse::<IpAddr>().unwrap();
    let acc = |p: &str| format!("verdict: ACCEPT egress={p}");
    let drop = |r: &str| format!("verdict: DROP reason={r}");
    let c = |name, from: &String, dst, proto, dport, verdict: String, why: &str| Case {
        name,
        from: from.clone(),
        dst,
        proto,
        dport,
        verdict,
        why: why.to_string(),
    };
    vec![
        c(
            "longest prefix beats the prefix-list route",
            &app,
            a("192.0.2.230"),
            "tcp",
            80,
            acc("internet"),
            "192.0.2.224/27 -> nat-",
        ),
        c(
            "prefix-list route beats the default route",
            &app,
            a("192.0.2.200"),
            "tcp",
            80,
            drop("NO_PUBLIC_IP"),
            "(longest prefix /26, prefix-list pl-",
        ),
        c(
            "CIDR beats the prefix list on a tie",
            &app,
            a("203.0.113.100"),
            "tcp",
            80,
            acc("internet"),
            "static CIDR route beats prefix-list route",
        ),
        c(
            "S3 gateway endpoint",
            &app,
            plus(s3, 2570),
            "tcp",
            443,
            acc(&svc(".s3")),
            "gateway-endpoint prefix-list",
        ),
        c(
            "host route inside the S3 list beats it",
            &app,
            s3.network(),
            "tcp",
            443,
            acc("internet"),
            "/32 -> nat-",
        ),
        c(
            "DynamoDB gateway endpoint",
            &app,
            plus(ddb, 9),
            "tcp",
            443,
            acc(&svc(".dynamodb")),
            "gateway-endpoint prefix-list",
        ),
        c(
            "NAT gateway, then the IGW",
            &app,
            internet,
            "tcp",
            80,
            acc("internet"),
            "nat        through nat-",
        ),
        c(
            "IGW from the public instance",
            &web,
            internet,
            "tcp",
            80,
            acc("internet"),
            "0.0.0.0/0 -> igw-",
        ),
        c(
            "IGW to the public IP",
            &"internet".to_string(),
            web_public,
            "tcp",
            80,
            acc(&pid(&web)),
            "igw",
        ),
        c(
            "NACL rule 90 denies telnet",
            &app,
            internet,
            "tcp",
            23,
            drop("NACL_DENY"),
            "rule 90 deny",
        ),
        c(
            "interface endpoint on 443",
            &app,
            api_eni,
            "tcp",
            443,
            acc(&svc("execute-api")),
            "egress",
        ),
        c(
            "interface endpoint's SG refuses 80",
            &app,
            api_eni,
            "tcp",
            80,
            drop("SG_NO_ALLOW"),
            "sg",
        ),
        c(
            "SSH from the web group (group reference)",
            &web,
            a("10.0.2.10"),
            "tcp",
            22,
            acc(&pid(&app)),
            "sg-",
        ),
        c(
            "8080 not allowed",
            &web,
            a("10.0.2.10"),
            "tcp",
            8080,
            drop("SG_NO_ALLOW"),
            "sg",
        ),
    ]
}

#[test]
fn moto_fixtures_import_and_trace_as_aws() {
    let imp = run_import(MOTO, false);
    assert!(
        imp.config.options.trace_only,
        "real AWS addresses: trace only"
    );
    let (cfg, snap) = compiled(&imp);
    for c in moto_cases(&cfg) {
        let t = probe(&cfg, &snap, &c.from, c.dst, c.proto, c.dport);
        assert_eq!(verdict(&t), c.verdict, "{}:\n{t}", c.name);
        assert!(
            t.contains(&c.why),
            "{}: trace lacks {:?}:\n{t}",
            c.name,
            c.why
        );
    }
}

fn count(report: &[String], needle: &str) -> usize {
    report.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn every_moto_quirk_is_reported() {
    let imp = run_import(MOTO, false);
    let r = &imp.report.0;
    for l in r {
        let parts: Vec<&str> = l.splitn(3, ": ").collect();
        assert!(
            parts.len() == 3 && !parts[0].contains(' '),
            "not `id: Field: what`: {l}"
        );
    }
    let text = r.join("\n");
    let expect = [
        ("IsDefault: the account's default VPC", 1),
        ("no `*` rule (32767 deny)", 2),
        (
            "exported as InterfaceType interface; AWS says nat_gateway",
            1,
        ),
        ("InterfaceType: exported as interface, but it is vpce-", 2),
        ("an endpoint's ENIs carry the endpoint's groups", 2),
        ("is outside subnet-", 3),
        (
            "is not a public address (moto gives Elastic IPs in 127.0.0.0/8)",
            1,
        ),
        ("ServiceTargets: the provider's targets are not visible", 1),
        ("the default group has no inbound rule from itself", 1),
    ];
    for (needle, n) in expect {
        assert_eq!(count(r, needle), n, "{needle:?} in the report:\n{text}");
    }
    // The NAT gateway's address is one of the moved ones (its ENI is moto's, outside the subnet).
    assert!(
        r.iter().any(|l| l.starts_with("nat-")
            && l.contains("NatGatewayAddresses[0].PrivateIp: ")
            && l.contains("moved to 10.0.1.")),
        "{text}"
    );
}

/// IPv4 addresses and prefixes in the YAML (comments left out).
fn v4_tokens(yaml: &str) -> Vec<IpNet> {
    let mut out = Vec::new();
    for line in yaml.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for tok in line.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '/')) {
            if let Ok(n) = tok.parse::<IpNet>() {
                out.push(n);
            } else if let Ok(a) = tok.parse::<Ipv4Addr>() {
                out.push(IpNet::from(IpAddr::V4(a)));
            }
        }
    }
    out
}

fn assert_lab_safe(imp: &Imported) {
    let m = imp.mapping.as_ref().expect("--lab has a mapping");
    let tokens = v4_tokens(&imp.yaml);
    assert!(!tokens.is_empty());
    for n in tokens {
        assert!(
            m.lab_safe(n),
            "{n}: neither a documentation nor a VPC address:\n{}",
            imp.yaml
        );
    }
    for n in import::lab::outside_prefixes(&imp.config) {
        assert!(m.lab_safe(n), "{n} outside the documentation ranges");
    }
    assert!(!imp.config.options.trace_only, "--lab runs live");
    assert!(imp.yaml.starts_with("# Imported by `vpcfwd import --lab`"));
    assert!(
        imp.yaml.contains("Options: {TraceOnly: false}"),
        "{}",
        imp.yaml
    );
}

#[test]
fn lab_remap_keeps_every_verdict_with_documentation_addresses_only() {
    let real = run_import(MOTO, false);
    let (rcfg, rsnap) = compiled(&real);
    let lab = run_import(MOTO, true);
    assert_lab_safe(&lab);
    let (lcfg, lsnap) = compiled(&lab);
    let m = lab.mapping.as_ref().unwrap();
    // Every mapped prefix appears in the comment block, and the mapping is deterministic.
    for p in &m.prefixes {
        assert!(lab.yaml.contains(&format!("{} -> {}", p.from, p.to)));
    }
    assert_eq!(run_import(MOTO, true).yaml, lab.yaml, "deterministic");
    for c in moto_cases(&rcfg) {
        let want = probe(&rcfg, &rsnap, &c.from, c.dst, c.proto, c.dport);
        let dst = m.map_addr(c.dst);
        let got = probe(&lcfg, &lsnap, &c.from, dst, c.proto, c.dport);
        assert_eq!(
            verdict(&got),
            verdict(&want),
            "{} ({} -> {dst}):\n{got}",
            c.name,
            c.dst
        );
    }
}

#[test]
fn account_export_imports_and_reports_what_vpcfwd_does_not_model() {
    let imp = run_import(ACCOUNT, false);
    let (cfg, snap) = compiled(&imp);
    let r = &imp.report.0;
    let text = r.join("\n");
    for needle in [
        "TransitGatewayId tgw-0f66f66f66f66f66f: a transit gateway is not modelled by vpcfwd: written as a blackhole route",
        "VpcPeeringConnectionId pcx-0a77a77a77a77a77a: a VPC peering connection is not modelled",
        "GatewayId vgw-0b88b88b88b88b88b: a VPN gateway is not modelled",
        "198.51.100.128/25: NatGatewayId nat-0e55e55e55e55e55e: the NAT gateway no longer exists",
        "nat-0e55e55e55e55e55e: State: deleted: not imported",
        "eni-0c11c11c11c11c11c: PrivateIpAddress: 10.20.3.7 is outside subnet-0b22b22b22b22b22b (10.20.2.0/24): moved to 10.20.2.4",
        "pl-0f22f22f22f22f22f: Entries: not in the input",
        "sg-0d66d66d66d66d66d: SecurityGroupRules[1]: references sg-0a00a00a00a00a00a",
        "describe-vpn-gateways.json: VpnGateways: not a describe-* output vpcfwd reads: skipped",
        "eni-0d22d22d22d22d22d: InterfaceType: the ENI of nat-0d44d44d44d44d44d",
        "eni-0f44f44f44f44f44f: InterfaceType: transit_gateway",
        "eni-0a55a55a55a55a55a: InterfaceType: lambda",
        "vpce-0b44b44b44b44b44b: ServiceTargets: the provider's targets are not visible",
    ] {
        assert!(text.contains(needle), "report lacks {needle:?}:\n{text}");
    }
    let partners = cfg
        .managed_prefix_lists
        .iter()
        .find(|p| p.prefix_list_id == "pl-0f22f22f22f22f22f")
        .unwrap();
    assert!(partners.entries.is_empty(), "kept empty");
    let app = "eni-0c11c11c11c11c11c";
    let a = |s: &str| s.parse::<IpAddr>().unwrap();
    let s3 = port_of(&cfg, |p| {
        p.vpc_endpoint_id.as_deref() == Some("vpce-0a33a33a33a33a33a")
    })
    .port_id;
    for (dst, want) in [
        (
            "10.30.0.5",
            "verdict: DROP reason=BLACKHOLE_ROUTE".to_string(),
        ),
        ("10.40.1.1", "verdict: DROP reason=BLACKHOLE_ROUTE".into()),
        ("172.20.0.1", "verdict: DROP reason=BLACKHOLE_ROUTE".into()),
        (
            "198.51.100.200",
            "verdict: DROP reason=BLACKHOLE_ROUTE".into(),
        ),
        ("192.0.2.10", format!("verdict: ACCEPT egress={s3}")),
        ("203.0.113.5", "verdict: ACCEPT egress=internet".into()),
    ] {
        let t = probe(&cfg, &snap, app, a(dst), "tcp", 443);
        assert_eq!(verdict(&t), want, "app -> {dst}:\n{t}");
    }
    let lab = run_import(ACCOUNT, true);
    assert_lab_safe(&lab);
    compiled(&lab);
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
}

#[test]
fn cli_import_then_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("imported.yaml");
    let o = bin()
        .arg("import")
        .arg("-o")
        .arg(&out)
        .arg(root().join(MOTO))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("moved to 10.0.1."), "{stderr}");
    let c = bin().arg("check").arg("-c").arg(&out).output().unwrap();
    assert_eq!(
        c.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&c.stderr)
    );
    // Files name by content, not by name: the same export under other names imports the same.
    let renamed = dir.path().join("renamed");
    std::fs::create_dir(&renamed).unwrap();
    for (i, e) in std::fs::read_dir(root().join(MOTO)).unwrap().enumerate() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue; // VERSIONS
        }
        // get-managed-prefix-list-entries output only says which list it is through its name.
        let new = match name.find("pl-") {
            Some(k) => format!("entries-{}", &name[k..]),
            None => format!("export-{i}.json"),
        };
        std::fs::copy(&p, renamed.join(new)).unwrap();
    }
    let again = import::import(&[renamed], &Options::default())
        .map_err(|e| e.0)
        .unwrap();
    assert_eq!(again.config, run_import(MOTO, false).config);
}

/// `vpcfwd import tests/fixtures/aws | vpcfwd check -c -`: check reads the config from stdin.
#[test]
fn import_piped_into_check() {
    let mut imp = bin()
        .arg("import")
        .arg(root().join(MOTO))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let c = bin()
        .args(["check", "-c", "-"])
        .stdin(imp.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(imp.wait().unwrap().success());
    let out = String::from_utf8_lossy(&c.stdout);
    assert_eq!(c.status.code(), Some(0), "{c:?}");
    assert!(out.starts_with("<stdin>: OK (1 VPC, 2 subnets"), "{out}");
    // An invalid config on stdin: exit 2, errors named <stdin>.
    let mut bad = bin()
        .args(["check", "-c", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    bad.stdin
        .take()
        .unwrap()
        .write_all(b"Vpcs: [{VpcId: vpc-1}]\n")
        .unwrap();
    let o = bad.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("<stdin>"),
        "{o:?}"
    );
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn malformed_json_and_missing_vpc_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bad.json",
        "{\n  \"Vpcs\": [\n    {\"VpcId\": \"vpc-1\",}\n  ]\n}\n",
    );
    let o = bin().arg("import").arg(dir.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let want = format!(
        "{}:3:23: malformed JSON",
        dir.path().join("bad.json").display()
    );
    assert!(stderr.contains(&want), "{want:?} in {stderr}");

    let none = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join(MOTO).join("describe-subnets.json"),
        none.path().join("s.json"),
    )
    .unwrap();
    let o = bin().arg("import").arg(none.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("holds no VPC"));

    // Several VPCs of the account's own: --vpc chooses.
    let two = tempfile::tempdir().unwrap();
    write(
        two.path(),
        "vpcs.json",
        r#"{"Vpcs": [{"VpcId": "vpc-a", "CidrBlock": "10.1.0.0/16", "IsDefault": false},
                     {"VpcId": "vpc-b", "CidrBlock": "10.2.0.0/16", "IsDefault": false}]}"#,
    );
    let o = bin().arg("import").arg(two.path()).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("choose one with --vpc (vpc-a, vpc-b)"));
    let opts = Options {
        vpc: Some("vpc-b".into()),
        lab: false,
    };
    let imp = import::import(&[two.path().to_path_buf()], &opts)
        .map_err(|e| e.0)
        .unwrap();
    assert_eq!(imp.config.vpcs[0].vpc_id, "vpc-b");
}

/// `--lab` output runs live: `vpcfwd run` on the imported moto VPC (in namespaces of this test
/// only, removed by the harness's Drop guard), real TCP from the instances' namespaces to the S3
/// stand-in and the internet host, through the NAT gateway and the NACL.
#[test]
fn lab_import_runs_live() {
    if !common::can_run("lab_import_runs_live") {
        return;
    }
    let imp = run_import(MOTO, true);
    let (cfg, _) = compiled(&imp);
    let prefix = format!("vpcfwd-t{}-imp", std::process::id());
    let mut yaml = String::new();
    for line in imp.yaml.lines() {
        yaml.push_str(line);
        yaml.push('\n');
        if let Some(id) = line.trim().strip_prefix("- PortId: ") {
            yaml.push_str(&format!("    Namespace: {prefix}-{id}\n"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("imported-lab.yaml");
    std::fs::write(&config, &yaml).unwrap();
    let log = dir.path().join("vpcfwd.log");
    let mut child = bin()
        .args([
            "run",
            "--create-namespaces",
            "--admin",
            "127.0.0.1:0",
            "--queues",
            "1",
            "-c",
        ])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starts vpcfwd");
    let stdout = child.stdout.take().unwrap();
    let mut lab = common::Lab {
        prefix: prefix.clone(),
        vpcfwd: Some(child),
        servers: vec![],
        streams: vec![],
        namespaces: cfg
            .ports
            .iter()
            .map(|p| format!("{prefix}-{}", p.port_id))
            .collect(),
        admin: String::new(),
        config,
        flow_log: dir.path().join("flow.log"),
        log,
        dir,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("vpcfwd: ready") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("vpcfwd ready within 30 s");
    let port = |pred: &dyn Fn(&config::Port) -> bool| port_of(&cfg, pred);
    let inet = port(&|p| p.internet_gateway_id.is_some());
    let s3_ep = cfg
        .vpc_endpoints
        .iter()
        .find(|e| e.service_name.ends_with(".s3"))
        .unwrap();
    let s3 = port(&|p| p.vpc_endpoint_id.as_deref() == Some(&s3_ep.vpc_endpoint_id));
    let (ih, sh) = (
        inet.addresses[0].addr().to_string(),
        s3.addresses[0].addr().to_string(),
    );
    for (p, name, addrs) in [
        (
            &inet.port_id,
            "internet",
            vec![format!("{ih}:80"), format!("{ih}:23")],
        ),
        (&s3.port_id, "s3", vec![format!("{sh}:80")]),
    ] {
        let s = Command::new("ip")
            .args(["netns", "exec", &lab.ns(p), "python3"])
            .arg(root().join("scripts/lab_server.py"))
            .arg(name)
            .args(&addrs)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts a lab service");
        lab.servers.push(s);
        let deadline = Instant::now() + Duration::from_secs(15);
        for a in &addrs {
            let (addr, pp) = a.rsplit_once(':').unwrap();
            while matches!(lab.connect_in(p, addr, pp, 0.5).as_str(), "REFUSED")
                || lab.connect_in(p, addr, pp, 0.5).starts_with("ERROR")
            {
                assert!(Instant::now() < deadline, "{a} not listening");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let eni_port = |a: &str| {
        let eni = eni_at(&cfg, a);
        port(&|p| p.network_interface_id.as_deref() == Some(&eni)).port_id
    };
    let (web, app) = (eni_port("10.0.1.10"), eni_port("10.0.2.10"));
    let nat_ip = cfg.nat_gateways[0].nat_gateway_addresses[0]
        .public_ip
        .unwrap()
        .to_string();
    let web_ip = cfg
        .network_interfaces
        .iter()
        .find(|n| n.private_ip_address == Some("10.0.1.10".parse().unwrap()))
        .unwrap()
        .association
        .as_ref()
        .unwrap()
        .public_ip
        .to_string();
    assert_eq!(
        lab.connect_in(&app, &sh, "80", 2.0),
        "s3 sees 10.0.2.10",
        "gateway endpoint keeps the private source"
    );
    assert_eq!(
        lab.connect_in(&app, &ih, "80", 2.0),
        format!("internet sees {nat_ip}"),
        "NAT gateway's Elastic IP"
    );
    assert_eq!(
        lab.connect_in(&web, &ih, "80", 2.0),
        format!("internet sees {web_ip}"),
        "the IGW's 1:1 public IP"
    );
    assert_eq!(
        lab.connect_in(&app, &ih, "23", 1.0),
        "TIMEOUT",
        "NACL rule 90"
    );
}

/// Runs `scripts/lab.sh ARGS` with this build's binary; (success, stdout and stderr).
fn lab_sh(args: &[&str], service_ports: &str) -> (bool, String) {
    let o = Command::new(root().join("scripts/lab.sh"))
        .args(args)
        .env("LAB_BIN", env!("CARGO_BIN_EXE_vpcfwd"))
        .env("LAB_SERVICE_PORTS", service_ports)
        .output()
        .expect("runs lab.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

/// Takes a `lab.sh up -c CONFIG` lab down, whatever happened (also on panic).
struct LabSh(PathBuf);

impl Drop for LabSh {
    fn drop(&mut self) {
        let _ = lab_sh(&["down", "-c", self.0.to_str().unwrap()], "");
    }
}

/// `vpcfwd import --lab` output runs with `scripts/lab.sh up -c FILE` (root): a lab of its own
/// (namespaces `vpcfwd-<tag>-<port>`, none of the default lab's), a service per port on the
/// config's addresses, and `--check` makes every TCP connection of `vpcfwd reach` for real and
/// finds what reach says; `down -c FILE` removes every namespace.
#[test]
fn lab_sh_runs_an_imported_lab_and_checks_it_against_reach() {
    if !common::can_run("lab_sh_runs_an_imported_lab_and_checks_it_against_reach") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("imported-lab.yaml");
    std::fs::write(&file, run_import(MOTO, true).yaml).unwrap();
    let f = file.to_str().unwrap();
    let guard = LabSh(file.clone());
    let (ok, out) = lab_sh(&["up", "-c", f, "--check"], "22 80 443");
    assert!(ok, "{out}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("lab check: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(summary.contains(", 0 mismatches"), "{out}");
    let answered: usize = summary
        .split(" answered")
        .next()
        .and_then(|r| r.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(answered >= 10, "{summary}");
    let ours = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            .filter(|n| n.starts_with("vpcfwd-"))
            .collect()
    };
    let listed = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    let run_dir = out
        .lines()
        .find_map(|l| l.strip_prefix("lab: run directory "))
        .and_then(|r| r.split(',').next())
        .unwrap_or_else(|| panic!("{out}"));
    let namespaces = std::fs::read_to_string(root().join(run_dir).join("namespaces")).unwrap();
    let mine: Vec<String> = ours(&namespaces);
    assert_eq!(mine.len(), 6, "{namespaces}");
    // vpcfwd-<tag>-<port>: a prefix of this lab's own.
    let prefix = &mine[0][.."vpcfwd-".len() + 7];
    assert!(prefix.ends_with('-'), "{prefix}");
    assert!(mine.iter().all(|n| n.starts_with(prefix)), "{mine:?}");
    assert!(!mine.contains(&"vpcfwd-internet".to_string()));
    assert!(
        ours(&listed)
            .iter()
            .filter(|n| n.starts_with(prefix))
            .count()
            == 6,
        "{listed}"
    );
    drop(guard);
    let after = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        ours(&after).iter().all(|n| !n.starts_with(prefix)),
        "lab.sh down removes its namespaces: {after}"
    );
}

mod lab_mapping {
    use ipnet::{IpNet, Ipv4Net};
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr};
    use vpcfwd::import::lab::mapping_for;

    /// Four /8s, so that random prefixes nest often.
    const BASES: [u32; 4] = [52 << 24, 54 << 24, 3 << 24, 172 << 24];

    fn addr(b: usize, x: u32) -> Ipv4Addr {
        Ipv4Addr::from(BASES[b] | (x & 0x00ff_ffff))
    }

    fn lpm(set: &[IpNet], a: IpAddr) -> Option<IpNet> {
        set.iter()
            .filter(|p| p.contains(&a))
            .max_by_key(|p| p.prefix_len())
            .copied()
    }

    proptest! {
        /// What `--lab` promises: a prefix contains (or equals) another after the remap exactly
        /// when it did before, and every address's longest match is the image of its old one.
        #[test]
        fn containment_and_longest_match_survive(
            raw in prop::collection::vec((0usize..4, any::<u32>(), 8u8..=32), 1..24),
            probes in prop::collection::vec((0usize..4, any::<u32>()), 1..32),
        ) {
            let items: Vec<IpNet> = raw
                .iter()
                .map(|&(b, x, len)| IpNet::V4(Ipv4Net::new(addr(b, x), len).unwrap().trunc()))
                .collect();
            let Ok(m) = mapping_for(vec![], items.clone()) else {
                return Ok(()); // more than the documentation ranges hold: reported, not mapped
            };
            let images: Vec<IpNet> = items.iter().map(|p| m.map_net(*p)).collect();
            for (a, ia) in items.iter().zip(&images) {
                prop_assert!(m.lab_safe(*ia), "{} -> {}", a, ia);
                for (b, ib) in items.iter().zip(&images) {
                    prop_assert_eq!(a.contains(b), ia.contains(ib), "{} {} -> {} {}", a, b, ia, ib);
                }
            }
            let mut probes: Vec<IpAddr> = probes.iter().map(|&(b, x)| IpAddr::V4(addr(b, x))).collect();
            probes.extend(items.iter().map(|p| p.addr()));
            for a in probes {
                let before = lpm(&items, a).map(|w| m.map_net(w));
                prop_assert_eq!(before, lpm(&images, m.map_addr(a)), "{} -> {}", a, m.map_addr(a));
            }
        }
    }
}
