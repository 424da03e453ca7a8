//! End to end: real TCP connections through real TUN devices in network namespaces this test
//! creates (named `vpcfwd-t<pid>-<n>-<port>`) and always removes — a Drop guard stops every process
//! it started, by PID, and deletes every namespace, also on panic. Needs root (CAP_NET_ADMIN):
//! without it the test prints SKIPPED, and under CI=true that is a failure.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LAB: &str = include_str!("../configs/lab.yaml");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn have_net_admin() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && std::path::Path::new("/dev/net/tun").exists()
        && Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Everything the test started; torn down in Drop, whatever happened.
struct Lab {
    prefix: String,
    vpcfwd: Option<Child>,
    servers: Vec<Child>,
    namespaces: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Lab {
    fn ns(&self, port: &str) -> String {
        format!("{}-{port}", self.prefix)
    }

    fn up() -> Lab {
        Lab::up_with(LAB)
    }

    /// The lab from `yaml` (configs/lab.yaml, possibly edited).
    fn up_with(yaml_src: &str) -> Lab {
        // Unique per test in this process: tests run in parallel.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("vpcfwd-t{}-{n}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        // The lab config with this test's own namespace names.
        let mut yaml = String::new();
        for line in yaml_src.lines() {
            yaml.push_str(line);
            yaml.push('\n');
            if let Some(id) = line.trim().strip_prefix("- PortId: ") {
                yaml.push_str(&format!("    Namespace: {prefix}-{id}\n"));
            }
        }
        let cfg = dir.path().join("lab.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        let ports = ["web", "app", "internet", "s3", "ddb", "api"];
        let mut lab = Lab {
            namespaces: ports.iter().map(|p| format!("{prefix}-{p}")).collect(),
            prefix,
            vpcfwd: None,
            servers: Vec::new(),
            _dir: dir,
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
            .args(["run", "--create-namespaces", "-c"])
            .arg(&cfg)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts vpcfwd");
        let stdout = child.stdout.take().unwrap();
        lab.vpcfwd = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("vpcfwd: ready") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("vpcfwd reports ready within 30 s");
        let services: [(&str, &[&str]); 6] = [
            ("web", &["10.0.1.10:80", "10.0.1.10:22"]),
            ("app", &["10.0.2.10:22", "10.0.2.10:8080"]),
            (
                "internet",
                &["203.0.113.100:80", "203.0.113.100:23", "203.0.113.200:80"],
            ),
            ("s3", &["192.0.2.10:80"]),
            ("ddb", &["192.0.2.70:80"]),
            ("api", &["192.0.2.130:443", "192.0.2.131:443"]),
        ];
        for (port, addrs) in services {
            let s = Command::new("ip")
                .args(["netns", "exec", &lab.ns(port), "python3"])
                .arg(format!("{ROOT}/scripts/lab_server.py"))
                .arg(port)
                .args(addrs)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starts a lab service");
            lab.servers.push(s);
        }
        // Ready when every service accepts on its own namespace's loopback view.
        let deadline = Instant::now() + Duration::from_secs(15);
        for (port, addrs) in services {
            for a in addrs {
                let (addr, p) = a.rsplit_once(':').unwrap();
                while lab.connect_in(port, addr, p, 0.5).starts_with("ERROR")
                    || lab.connect_in(port, addr, p, 0.5) == "REFUSED"
                {
                    assert!(
                        Instant::now() < deadline,
                        "service {a} in {port} not listening"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        lab
    }

    /// A TCP connection from namespace of `port` to addr:p: the service's answer or
    /// TIMEOUT/REFUSED.
    fn connect_in(&self, port: &str, addr: &str, p: &str, timeout: f64) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(port), "python3"])
            .arg(format!("{ROOT}/scripts/lab_client.py"))
            .args([addr, p, &timeout.to_string()])
            .output()
            .expect("runs the lab client");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in &mut self.servers {
            let _ = s.kill();
            let _ = s.wait();
        }
        if let Some(mut c) = self.vpcfwd.take() {
            // SAFETY: signalling the PID of the child we started.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.namespaces {
            if std::path::Path::new("/var/run/netns").join(ns).exists() {
                let _ = Command::new("ip").args(["netns", "delete", ns]).status();
            }
        }
    }
}

#[test]
fn every_lab_path_with_real_packets() {
    if !have_net_admin() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "e2e needs root, /dev/net/tun and iproute2 under CI=true"
        );
        println!(
            "SKIPPED: every_lab_path_with_real_packets needs root (CAP_NET_ADMIN) and /dev/net/tun"
        );
        return;
    }
    let lab = Lab::up();
    // (from, dst, port, expected answer)
    let cases = [
        ("web", "203.0.113.100", "80", "internet sees 198.51.100.10"),
        ("internet", "198.51.100.10", "80", "web sees 203.0.113.100"),
        ("app", "192.0.2.10", "80", "s3 sees 10.0.2.10"),
        ("app", "192.0.2.70", "80", "ddb sees 10.0.2.10"),
        ("app", "203.0.113.100", "80", "internet sees 198.51.100.5"),
        ("app", "10.0.2.20", "443", "api sees 192.0.2.129"),
        ("web", "10.0.1.20", "443", "api sees 192.0.2.129"),
        ("web", "10.0.2.10", "22", "app sees 10.0.1.10"),
        ("app", "203.0.113.100", "23", "TIMEOUT"),
        ("web", "10.0.2.10", "8080", "TIMEOUT"),
        ("app", "10.0.2.20", "80", "TIMEOUT"),
        ("app", "203.0.113.200", "80", "TIMEOUT"),
        ("internet", "198.51.100.5", "80", "TIMEOUT"),
    ];
    let mut failures = Vec::new();
    for (from, dst, port, want) in cases {
        let got = lab.connect_in(from, dst, port, 1.5);
        if got != want {
            failures.push(format!(
                "{from} -> {dst}:{port}: got {got:?}, want {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shutdown_removes_every_namespace_and_device() {
    if !have_net_admin() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "e2e needs root under CI=true"
        );
        println!("SKIPPED: shutdown_removes_every_namespace_and_device needs root (CAP_NET_ADMIN)");
        return;
    }
    let names;
    {
        let mut lab = Lab::up();
        names = lab.namespaces.clone();
        let mut c = lab.vpcfwd.take().unwrap();
        // SAFETY: signalling the PID of the child we started.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let status = c.wait().unwrap();
        assert!(status.success(), "vpcfwd exits 0 on SIGTERM");
        for ns in &names {
            assert!(
                !std::path::Path::new("/var/run/netns").join(ns).exists(),
                "vpcfwd removed the namespace {ns} it created"
            );
        }
    }
}

#[test]
fn a_nacl_blocks_the_reply_although_the_request_passed() {
    if !have_net_admin() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "e2e needs root under CI=true"
        );
        println!(
            "SKIPPED: a_nacl_blocks_the_reply_although_the_request_passed needs root (CAP_NET_ADMIN)"
        );
        return;
    }
    // acl-private admits inbound traffic from the VPC only: app's request to the S3 stand-in
    // leaves (outbound rule 100), its reply from 192.0.2.10 is denied on the way back in.
    let inbound_all = "      - RuleNumber: 100\n        Egress: false\n        Protocol: \"-1\"\n        RuleAction: allow\n        CidrBlock: 0.0.0.0/0";
    assert_eq!(LAB.matches(inbound_all).count(), 1);
    let yaml = LAB.replacen(
        inbound_all,
        &inbound_all.replace("0.0.0.0/0", "10.0.0.0/16"),
        1,
    );
    let lab = Lab::up_with(&yaml);
    assert_eq!(lab.connect_in("app", "192.0.2.10", "80", 1.5), "TIMEOUT");
    // The same reply is admitted by security-group state alone once the NACL lets it in:
    // web (default NACL) reaches the internet and gets its answer.
    assert_eq!(
        lab.connect_in("web", "203.0.113.100", "80", 1.5),
        "internet sees 198.51.100.10"
    );
}
