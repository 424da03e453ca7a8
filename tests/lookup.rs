//! `vpcfwd lookup`: the forwarder's FIB over a table of the user's, addresses on stdin.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn lookup(table: &str, stdin: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("table.txt");
    std::fs::write(&t, table).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(["lookup", "--table"])
        .arg(&t)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    c.wait_with_output().unwrap()
}

#[test]
fn longest_prefix_and_next_hop_or_the_prefix_itself() {
    let table = "# a table\n10.0.0.0/8\n10.1.0.0/16 via 192.0.2.1\n10.1.2.3/32 tun0\n\
                 10.1.0.9/16 192.0.2.2\n2001:db8::/32\n::/0 via 2001:db8::1\n";
    let o = lookup(
        table,
        "10.9.9.9\n10.1.7.7\n10.1.2.3\n\n# skip\n11.0.0.1\n2001:db8:1::1\nfe80::1\n",
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "10.9.9.9 10.0.0.0/8 10.0.0.0/8\n\
         10.1.7.7 10.1.0.0/16 192.0.2.2\n\
         10.1.2.3 10.1.2.3/32 tun0\n\
         11.0.0.1 - -\n\
         2001:db8:1::1 2001:db8::/32 2001:db8::/32\n\
         fe80::1 ::/0 2001:db8::1\n"
    );
}

#[test]
fn bad_input_is_named_with_its_line_and_exit_2() {
    let o = lookup("10.0.0.0/8\n", "10.0.0.1\nnot-an-address\n10.0.0.2\n");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "10.0.0.1 10.0.0.0/8 10.0.0.0/8\n"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("stdin:2: not an IP address"));
    let o = lookup("10.0.0.0/8\n10.0.0.0/33\n", "10.0.0.1\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("table.txt:2: not a CIDR prefix"));
}

#[test]
fn help_defines_the_next_hop() {
    let o = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(["lookup", "--help"])
        .output()
        .unwrap();
    let h = String::from_utf8_lossy(&o.stdout);
    assert!(
        h.contains("the prefix itself when the line names none"),
        "{h}"
    );
}
