//! CLI contracts of the admin-API commands (`vpcfwd flows`, `stats`, `reload`) and of `run`'s
//! refusals, without a running forwarder: clear errors and documented exit codes, never a panic.

use std::process::{Command, Output};

fn vpcfwd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(args)
        .output()
        .expect("runs vpcfwd")
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn admin_commands_without_a_forwarder_say_so_and_exit_1() {
    let addr = closed_port();
    for cmd in ["flows", "stats", "reload"] {
        let o = vpcfwd(&[cmd, "--admin", &addr]);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&addr) && err.contains("is `vpcfwd run` running?"),
            "{cmd}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_malformed_admin_address_is_a_clear_error() {
    let o = vpcfwd(&["stats", "--admin", "localhost"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an IP:port address"));
}

#[test]
fn run_refuses_a_trace_only_config_before_touching_anything() {
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/aws-s3-real.yaml");
    let o = vpcfwd(&["run", "-c", cfg, "--no-admin"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("TraceOnly"));
}

#[test]
fn run_help_documents_the_operating_options() {
    let o = vpcfwd(&["run", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--admin",
        "--no-admin",
        "--watch",
        "--flow-log",
        "--flow-log-interval",
        "--pcap",
        "--pcap-max-bytes",
        "--queues",
    ] {
        assert!(help.contains(flag), "{flag} in:\n{help}");
    }
}
