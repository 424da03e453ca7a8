//! The `vpcfwd check` contract: exit 0 and a summary for valid configs; exit 2 listing every
//! error — `file:line:column` for YAML errors, object id and field for semantic ones — and never
//! a panic. Each error class is produced by one small edit of configs/lab.yaml.

mod support;

use std::process::Command;
use support::{LAB_YAML as LAB, lab_with};

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn check_file(path: &std::path::Path) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(["check", "-c"])
        .arg(path)
        .output()
        .expect("runs vpcfwd");
    let out = Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        !out.stderr.contains("panicked") && !out.stderr.contains("RUST_BACKTRACE"),
        "{}",
        out.stderr
    );
    out
}

fn check_text(yaml: &str) -> Out {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vpc.yaml");
    std::fs::write(&path, yaml).unwrap();
    check_file(&path)
}

/// Asserts exit 2 with an error line containing every fragment.
fn assert_error(out: &Out, fragments: &[&str]) {
    assert_eq!(
        out.code,
        Some(2),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    let hit = out
        .stderr
        .lines()
        .any(|l| l.starts_with("error: ") && fragments.iter().all(|f| l.contains(f)));
    assert!(hit, "no error line with {fragments:?} in:\n{}", out.stderr);
}

#[test]
fn every_shipped_config_is_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/configs");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = check_file(&path);
            assert_eq!(out.code, Some(0), "{}: {}", path.display(), out.stderr);
            assert!(out.stdout.contains(": OK ("), "{}", out.stdout);
            n += 1;
        }
    }
    assert!(n >= 1);
}

#[test]
fn yaml_errors_give_file_line_column() {
    let out = check_text(&lab_with(
        "CidrBlock: 10.0.0.0/16",
        "CidrBlock: 10.0.0.0/33",
    ));
    assert_error(&out, &["vpc.yaml:", "invalid IP address"]);
    let line = LAB
        .lines()
        .position(|l| l.contains("CidrBlock: 10.0.0.0/16"))
        .unwrap()
        + 1;
    assert!(
        out.stderr.contains(&format!("vpc.yaml:{line}:")),
        "{}",
        out.stderr
    );
    let out = check_text(&lab_with(
        "    CidrBlock: 10.0.0.0/16",
        "    CidrBlok: 10.0.0.0/16",
    ));
    assert_error(
        &out,
        &[&format!("vpc.yaml:{line}:5"), "unknown field `CidrBlok`"],
    );
    assert_error(&check_text("Vpcs: [\n"), &["vpc.yaml:1:"]);
}

#[test]
fn unreadable_and_empty_files_are_clear_errors() {
    let out = check_file(std::path::Path::new("/nonexistent/vpc.yaml"));
    assert_error(&out, &["/nonexistent/vpc.yaml", "cannot read"]);
    assert_error(&check_text("   \n"), &["the file is empty"]);
}

#[test]
fn subnet_outside_the_vpc() {
    let out = check_text(&lab_with(
        "CidrBlock: 10.0.2.0/24",
        "CidrBlock: 10.9.2.0/24",
    ));
    assert_error(&out, &["subnet-private: CidrBlock:", "outside the VPC"]);
}

#[test]
fn overlapping_subnets() {
    let out = check_text(&lab_with(
        "CidrBlock: 10.0.2.0/24",
        "CidrBlock: 10.0.0.0/22",
    ));
    assert_error(
        &out,
        &[
            "subnet-private: CidrBlock:",
            "overlaps 10.0.1.0/24 of subnet-public",
        ],
    );
}

#[test]
fn private_ip_outside_its_subnet_or_reserved_or_reused() {
    let out = check_text(&lab_with(
        "PrivateIpAddress: 10.0.2.10",
        "PrivateIpAddress: 10.0.1.99",
    ));
    assert_error(
        &out,
        &["eni-app: PrivateIpAddress:", "outside subnet-private"],
    );
    let out = check_text(&lab_with(
        "PrivateIpAddress: 10.0.2.10",
        "PrivateIpAddress: 10.0.2.1",
    ));
    assert_error(&out, &["eni-app: PrivateIpAddress:", "reserved by AWS"]);
    let out = check_text(&lab_with(
        "PrivateIpAddress: 10.0.2.20",
        "PrivateIpAddress: 10.0.2.10",
    ));
    assert_error(
        &out,
        &["eni-lab-api-b: PrivateIpAddress:", "also eni-app's"],
    );
    let out = check_text(&lab_with("PrivateIp: 10.0.1.5", "PrivateIp: 10.0.3.5"));
    assert_error(
        &out,
        &[
            "nat-lab: NatGatewayAddresses.PrivateIp:",
            "not a usable address",
        ],
    );
}

#[test]
fn two_routes_with_the_same_destination() {
    let out = check_text(&lab_with(
        "      - DestinationCidrBlock: 203.0.113.128/25\n        State: blackhole",
        "      - DestinationCidrBlock: 0.0.0.0/0\n        State: blackhole",
    ));
    assert_error(
        &out,
        &["rtb-private: Routes[1]:", "a second route to 0.0.0.0/0"],
    );
}

#[test]
fn a_route_more_specific_than_local_that_aws_refuses() {
    let out = check_text(&lab_with(
        "      - DestinationCidrBlock: 203.0.113.128/25\n        State: blackhole",
        "      - DestinationCidrBlock: 10.0.1.0/25\n        NatGatewayId: nat-lab",
    ));
    assert_error(
        &out,
        &[
            "rtb-private: Routes[1].DestinationCidrBlock:",
            "more specific than the local route",
        ],
    );
    // A whole subnet CIDR to a NAT gateway is what AWS allows.
    let ok = check_text(&lab_with(
        "      - DestinationCidrBlock: 203.0.113.128/25\n        State: blackhole",
        "      - DestinationCidrBlock: 10.0.1.0/24\n        NatGatewayId: nat-lab",
    ));
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
}

#[test]
fn hand_written_endpoint_routes_and_reserved_destinations() {
    let out = check_text(&lab_with(
        "      - DestinationCidrBlock: 203.0.113.128/25\n        State: blackhole",
        "      - DestinationCidrBlock: 203.0.113.128/25\n        GatewayId: vpce-lab-s3",
    ));
    assert_error(
        &out,
        &[
            "rtb-private: Routes[1].GatewayId:",
            "managed by the endpoint",
        ],
    );
    let out = check_text(&lab_with(
        "      - DestinationCidrBlock: 203.0.113.128/25\n        State: blackhole",
        "      - DestinationCidrBlock: 169.254.168.0/24\n        State: blackhole",
    ));
    assert_error(
        &out,
        &["rtb-private: Routes[1].DestinationCidrBlock:", "reserved"],
    );
}

#[test]
fn unknown_references() {
    let out = check_text(&lab_with(
        "NatGatewayId: nat-lab\n      - DestinationCidrBlock: 203",
        "NatGatewayId: nat-nope\n      - DestinationCidrBlock: 203",
    ));
    assert_error(
        &out,
        &[
            "rtb-private: Routes[0].NatGatewayId:",
            "unknown target nat-nope",
        ],
    );
    let out = check_text(&lab_with(
        "RouteTableIds: [rtb-private]\n  - VpcEndpointId: vpce-lab-ddb",
        "RouteTableIds: [rtb-nope]\n  - VpcEndpointId: vpce-lab-ddb",
    ));
    assert_error(
        &out,
        &[
            "vpce-lab-s3: RouteTableIds[0]:",
            "unknown route table rtb-nope",
        ],
    );
    let out = check_text(&lab_with(
        "        PrefixListId: pl-lab-admins",
        "        PrefixListId: pl-nope",
    ));
    assert_error(
        &out,
        &[
            "sg-app: SecurityGroupRules[1].PrefixListId:",
            "unknown prefix list pl-nope",
        ],
    );
    let out = check_text(&lab_with(
        "          GroupId: sg-web\n",
        "          GroupId: sg-nope\n",
    ));
    assert_error(
        &out,
        &[
            "sg-app: SecurityGroupRules[0].ReferencedGroupInfo.GroupId:",
            "sg-nope",
        ],
    );
    let out = check_text(&lab_with(
        "    NetworkInterfaceId: eni-app",
        "    NetworkInterfaceId: eni-nope",
    ));
    assert_error(&out, &["app: NetworkInterfaceId:", "unknown ENI eni-nope"]);
}

#[test]
fn a_deleted_target_is_fine_when_the_route_says_blackhole() {
    // The lab's rtb-public has `NatGatewayId: nat-deleted, State: blackhole`; without the state
    // the same route is an error.
    let out = check_text(&lab_with(
        "        NatGatewayId: nat-deleted\n        State: blackhole\n",
        "        NatGatewayId: nat-deleted\n",
    ));
    assert_error(
        &out,
        &[
            "rtb-public: Routes[1].NatGatewayId:",
            "unknown target nat-deleted",
        ],
    );
}

#[test]
fn prefix_list_over_its_max_entries() {
    let out = check_text(&lab_with("    MaxEntries: 5", "    MaxEntries: 0"));
    assert_error(&out, &["pl-lab-admins: MaxEntries:", "allowed 1 to 1000"]);
    let out = check_text(&lab_with(
        "      - Cidr: 10.0.1.0/24\n        Description: bastions in the public subnet",
        "      - Cidr: 10.0.1.0/24\n      - Cidr: 10.0.3.0/24\n      - Cidr: 10.0.4.0/24\n      - Cidr: 10.0.5.0/24\n      - Cidr: 10.0.6.0/24\n      - Cidr: 10.0.7.0/24",
    ));
    assert_error(
        &out,
        &["pl-lab-admins: Entries:", "6 entries exceed MaxEntries 5"],
    );
}

#[test]
fn nacl_rule_numbers_out_of_range_or_repeated() {
    let out = check_text(&lab_with("RuleNumber: 90", "RuleNumber: 0"));
    assert_error(
        &out,
        &[
            "acl-private: Entries[0].RuleNumber:",
            "rule numbers are 1 to 32766",
        ],
    );
    let out = check_text(&lab_with("RuleNumber: 90", "RuleNumber: 40000"));
    assert_error(&out, &["acl-private: Entries[0].RuleNumber:", "1 to 32766"]);
    let out = check_text(&lab_with("RuleNumber: 90", "RuleNumber: 100"));
    assert_error(
        &out,
        &[
            "acl-private: Entries[1].RuleNumber:",
            "rule 100 is used twice for outbound",
        ],
    );
}

#[test]
fn sg_rule_with_two_peers_or_none() {
    let out = check_text(&lab_with(
        "        FromPort: 443\n        ToPort: 443\n        CidrIpv4: 10.0.0.0/16\n\nNetworkAcls",
        "        FromPort: 443\n        ToPort: 443\n        CidrIpv4: 10.0.0.0/16\n        PrefixListId: pl-lab-admins\n\nNetworkAcls",
    ));
    assert_error(
        &out,
        &[
            "sg-lab-api: SecurityGroupRules[0]:",
            "exactly one peer",
            "not 2",
        ],
    );
    let out = check_text(&lab_with(
        "        FromPort: 443\n        ToPort: 443\n        CidrIpv4: 10.0.0.0/16\n\nNetworkAcls",
        "        FromPort: 443\n        ToPort: 443\n\nNetworkAcls",
    ));
    assert_error(
        &out,
        &[
            "sg-lab-api: SecurityGroupRules[0]:",
            "exactly one peer",
            "not 0",
        ],
    );
}

#[test]
fn invalid_port_ranges() {
    let out = check_text(&lab_with(
        "        FromPort: 443\n        ToPort: 443\n        CidrIpv4: 10.0.0.0/16\n\nNetworkAcls",
        "        FromPort: 444\n        ToPort: 443\n        CidrIpv4: 10.0.0.0/16\n\nNetworkAcls",
    ));
    assert_error(
        &out,
        &[
            "sg-lab-api: SecurityGroupRules[0].FromPort:",
            "above ToPort",
        ],
    );
    let out = check_text(&lab_with(
        "PortRange: { From: 23, To: 23 }",
        "PortRange: { From: 23, To: 70000 }",
    ));
    assert_error(&out, &["acl-private: Entries[0].FromPort:", "0 to 65535"]);
}

#[test]
fn icmp_type_minus_one_with_a_code() {
    let out = check_text(&lab_with(
        "        IpProtocol: icmp\n        FromPort: -1\n        ToPort: -1\n        CidrIpv4: 0.0.0.0/0\n      - IsEgress: true\n        IpProtocol: \"-1\"",
        "        IpProtocol: icmp\n        FromPort: -1\n        ToPort: 3\n        CidrIpv4: 0.0.0.0/0\n      - IsEgress: true\n        IpProtocol: \"-1\"",
    ));
    assert_error(
        &out,
        &[
            "sg-web: SecurityGroupRules[1].ToPort:",
            "ICMP type -1 (any) requires code -1",
        ],
    );
}

#[test]
fn wrong_id_prefixes_and_duplicate_ids() {
    let out = check_text(&lab_with(
        "GroupId: sg-web\n    GroupName: web",
        "GroupId: web-group\n    GroupName: web",
    ));
    assert_error(&out, &["web-group: GroupId:", "starts with `sg-`"]);
    let out = check_text(&lab_with(
        "RouteTableId: rtb-main",
        "RouteTableId: rtb-public",
    ));
    assert_error(&out, &["rtb-public: RouteTableId:", "used twice"]);
}

#[test]
fn interface_endpoint_and_nat_and_port_rules() {
    let out = check_text(&lab_with(
        "AvailabilityZone: us-east-1b",
        "AvailabilityZone: us-east-1a",
    ));
    assert_error(
        &out,
        &[
            "vpce-lab-api: SubnetIds[1]:",
            "AZ that already has a subnet",
        ],
    );
    let out = check_text(&lab_with(
        "    ConnectivityType: public\n",
        "    ConnectivityType: private\n",
    ));
    assert_error(
        &out,
        &[
            "nat-lab: NatGatewayAddresses[0].PublicIp:",
            "private NAT gateway",
        ],
    );
    let out = check_text(&lab_with("  - PortId: ddb", "  - PortId: DDB_port_name"));
    assert_error(&out, &["DDB_port_name: PortId:", "[a-z0-9-]"]);
}

#[test]
fn every_error_is_listed_not_just_the_first() {
    let yaml = lab_with("RuleNumber: 90", "RuleNumber: 0").replacen(
        "CidrBlock: 10.0.2.0/24",
        "CidrBlock: 10.9.2.0/24",
        1,
    );
    let out = check_text(&yaml);
    assert_error(&out, &["acl-private: Entries[0].RuleNumber:"]);
    assert_error(&out, &["subnet-private: CidrBlock:"]);
    assert!(out.stderr.contains("errors"), "{}", out.stderr);
}

mod mutated {
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Edit {
        Byte(usize, u8),
        Delete(usize),
        Truncate(usize),
    }

    fn edit() -> impl Strategy<Value = Edit> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Byte(i, b)),
            any::<usize>().prop_map(Edit::Delete),
            any::<usize>().prop_map(Edit::Truncate),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Mutated lab YAML: load, validate and compile give errors (one line each) or a
        /// snapshot — never a panic.
        #[test]
        fn mutated_lab_never_panics(edits in prop::collection::vec(edit(), 1..6)) {
            let mut bytes = super::LAB.as_bytes().to_vec();
            for e in edits {
                let n = bytes.len().max(1);
                match e {
                    Edit::Byte(i, b) => {
                        let i = i % n;
                        if i < bytes.len() {
                            bytes[i] = b;
                        }
                    }
                    Edit::Delete(i) => {
                        if !bytes.is_empty() {
                            bytes.remove(i % n);
                        }
                    }
                    Edit::Truncate(i) => bytes.truncate(i % n),
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            match vpcfwd::config::load::parse_str(&text, "lab.yaml") {
                Ok(c) => {
                    if vpcfwd::config::validate::validate(&c).is_empty() {
                        let _ = vpcfwd::snapshot::compile(&c);
                    }
                }
                Err(errors) => {
                    for e in errors {
                        prop_assert!(!e.to_string().contains('\n'), "one line: {e}");
                    }
                }
            }
        }
    }
}

/// Configs at AWS's maxima (1,000 routes per table, prefix lists of 1,000 entries, 1,000 SG
/// rules per ENI, 20,000 NACL entries) check and compile. Not timed: the figures come from
/// `vpcfwd bench config-maxima` (docs/reliability.md).
#[test]
fn a_config_at_aws_maxima_checks_and_compiles() {
    use vpcfwd_bench::maxima::{Maxima, check_and_compile, yaml};
    let m = Maxima::AWS;
    assert_eq!(m.routes_per_table, 1_000);
    assert_eq!(m.prefix_list_entries, 1_000);
    assert_eq!(m.rules_per_eni(), 1_000);
    assert_eq!(m.total_nacl_entries(), 20_000);
    let text = yaml(&m);
    check_and_compile(&text).unwrap_or_else(|e| panic!("refused:\n{e}"));
    let out = check_text(&text);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("250 subnets"), "{}", out.stdout);
}

/// Nine levels of nine aliases (9^9 nodes if expanded): refused at once, naming
/// file:line:column. (The config's types stop this one at its first key; the YAML budget that
/// stops one the types would let through is pinned in `config::load`'s unit tests.)
#[test]
fn an_alias_bomb_is_refused_with_its_position() {
    let mut bomb = String::from(
        "Region: us-east-1\nVpcs:\n  - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..9 {
        let p = format!("*a{}", i - 1);
        bomb.push_str(&format!("  - &a{i} [{}]\n", vec![p; 9].join(", ")));
    }
    let out = check_text(&bomb);
    assert_error(&out, &["vpc.yaml:3:"]);
}

/// Collections nested 10,000 deep: refused at the nesting limit, at its line and column.
#[test]
fn deep_nesting_is_refused_with_its_position() {
    let deep = format!("Vpcs: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let out = check_text(&deep);
    assert_error(&out, &["vpc.yaml:1:"]);
    let col: u64 = out
        .stderr
        .lines()
        .next()
        .and_then(|l| l.split(':').nth(2))
        .and_then(|c| c.trim().parse().ok())
        .expect("a column");
    assert!(
        col <= 64,
        "refused near the start, not after parsing all: {}",
        out.stderr
    );
}

/// A config over 16 MiB is refused from its length (a file) or after 16 MiB + 1 byte (standard
/// input), before it is parsed.
#[test]
fn a_config_over_the_size_limit_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    // Sparse: 100 MB of length, no 100 MB written.
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(100_000_000).unwrap();
    let out = check_file(&path);
    assert_error(
        &out,
        &["huge.yaml:1:1", "too large", "100000000 bytes", "16 MiB"],
    );
    // Standard input: a stream larger than the limit.
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(["check", "-c", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let chunk = vec![b'#'; 1 << 20];
    let writer = std::thread::spawn(move || {
        // vpcfwd stops reading after the limit: the pipe breaks, which ends this loop.
        for _ in 0..100 {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("<stdin>:1:1") && err.contains("too large"),
        "{err}"
    );
}
