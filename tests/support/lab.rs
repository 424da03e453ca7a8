//! The lab harness of the end-to-end tests: namespaces this test process creates (named
//! `vpcfwd-t<pid>-<n>-<port>`) and always removes — a Drop guard stops every process it
//! started, by PID, and deletes every namespace, also on panic. Needs root: `can_run` says
//! whether a test can (and prints SKIPPED when not).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use super::sans_io::LAB_YAML as LAB;
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub fn have_net_admin() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root && std::path::Path::new("/dev/net/tun").exists()
        && Command::new("ip")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// False (after printing SKIPPED) when the test cannot run here; under CI=true that is a
/// failure instead.
pub fn can_run(test: &str) -> bool {
    if have_net_admin() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test} needs root (CAP_NET_ADMIN), /dev/net/tun and iproute2 under CI=true"
    );
    println!("SKIPPED: {test} needs root (CAP_NET_ADMIN) and /dev/net/tun");
    false
}

/// Everything the test started; torn down in Drop, whatever happened.
pub struct Lab {
    pub prefix: String,
    pub vpcfwd: Option<Child>,
    pub servers: Vec<Child>,
    /// Streams of `stream_in`, until `finish` takes them.
    pub streams: Vec<Option<Child>>,
    pub namespaces: Vec<String>,
    /// The admin API's address.
    pub admin: String,
    pub config: std::path::PathBuf,
    pub flow_log: std::path::PathBuf,
    pub log: std::path::PathBuf,
    pub dir: tempfile::TempDir,
}

/// The lab services: (port, listening addresses).
pub const SERVICES: [(&str, &[&str]); 6] = [
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

impl Lab {
    pub fn ns(&self, port: &str) -> String {
        format!("{}-{port}", self.prefix)
    }

    pub fn up() -> Lab {
        Lab::up_with(LAB)
    }

    /// `yaml_src` (configs/lab.yaml, possibly edited) with this lab's namespace names.
    fn localize(prefix: &str, yaml_src: &str) -> String {
        let mut yaml = String::new();
        for line in yaml_src.lines() {
            yaml.push_str(line);
            yaml.push('\n');
            if let Some(id) = line.trim().strip_prefix("- PortId: ") {
                yaml.push_str(&format!("    Namespace: {prefix}-{id}\n"));
            }
        }
        yaml
    }

    /// Replaces the config file (for a reload) with `yaml_src`, localized.
    pub fn write_config(&self, yaml_src: &str) {
        let tmp = self.dir.path().join("next.yaml");
        std::fs::write(&tmp, Lab::localize(&self.prefix, yaml_src)).unwrap();
        std::fs::rename(&tmp, &self.config).unwrap();
    }

    /// The lab from `yaml` (configs/lab.yaml, possibly edited), with flow logs every second.
    pub fn up_with(yaml_src: &str) -> Lab {
        Lab::up_with_args(yaml_src, &[])
    }

    /// `up_with`, with extra `vpcfwd run` options.
    pub fn up_with_args(yaml_src: &str, args: &[&str]) -> Lab {
        let mut lab = Lab::unstarted(yaml_src);
        lab.start_vpcfwd(args);
        lab.start_services();
        lab
    }

    /// The lab's names, config and files, nothing started yet (Drop still cleans up whatever
    /// a test then starts under these names).
    pub fn unstarted(yaml_src: &str) -> Lab {
        Lab::unstarted_with(yaml_src, &["web", "app", "internet", "s3", "ddb", "api"])
    }

    /// Any config (e.g. configs/lab6.yaml) whose ports are `ports`, with `services` — (port,
    /// listening addresses) — started in their namespaces.
    pub fn up_custom(
        yaml_src: &str,
        ports: &[&str],
        services: &[(&str, &[&str])],
        args: &[&str],
    ) -> Lab {
        let mut lab = Lab::unstarted_with(yaml_src, ports);
        lab.start_vpcfwd(args);
        lab.start_services_with(services);
        lab
    }

    /// `unstarted` for a config whose ports are `ports`.
    pub fn unstarted_with(yaml_src: &str, ports: &[&str]) -> Lab {
        // Unique per test in this process: tests run in parallel.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("vpcfwd-t{}-{n}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("lab.yaml");
        std::fs::write(&cfg, Lab::localize(&prefix, yaml_src)).unwrap();
        let flow_log = dir.path().join("flow.log");
        let log = dir.path().join("vpcfwd.log");
        Lab {
            namespaces: ports.iter().map(|p| format!("{prefix}-{p}")).collect(),
            prefix,
            vpcfwd: None,
            servers: Vec::new(),
            streams: Vec::new(),
            admin: String::new(),
            config: cfg,
            flow_log,
            log,
            dir,
        }
    }

    /// Starts the lab services in their namespaces and waits until each accepts.
    pub fn start_services(&mut self) {
        self.start_services_with(&SERVICES);
    }

    /// `start_services` for other services: (port, listening addresses).
    pub fn start_services_with(&mut self, services: &[(&str, &[&str])]) {
        let lab = self;
        for &(port, addrs) in services {
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
        for &(port, addrs) in services {
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
    }

    /// Starts `vpcfwd run` on this lab's config (namespaces created as needed, flow logs every
    /// second, admin API on a free loopback port) with `args` added, and waits until it is
    /// ready. Its log is appended to `self.log`.
    pub fn start_vpcfwd(&mut self, args: &[&str]) {
        self.start_vpcfwd_in(true, args);
    }

    /// `start_vpcfwd`, with `--create-namespaces` or without (the test made them).
    pub fn start_vpcfwd_in(&mut self, create_namespaces: bool, args: &[&str]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
            .arg("run")
            .args(create_namespaces.then_some("--create-namespaces"))
            .args(["--admin", "127.0.0.1:0"])
            .args(["--flow-log-interval", "1", "--flow-log"])
            .arg(&self.flow_log)
            .args(args)
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starts vpcfwd");
        let stdout = child.stdout.take().unwrap();
        self.vpcfwd = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut admin = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("vpcfwd: admin API on http://") {
                    admin = a.to_string();
                }
                if line.starts_with("vpcfwd: ready") {
                    let _ = tx.send(admin.clone());
                }
            }
        });
        self.admin = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => panic!(
                "vpcfwd reports ready within 30 s; its log:\n{}",
                self.vpcfwd_log()
            ),
        };
    }

    /// A TCP connection from namespace of `port` to addr:p: the service's answer or
    /// TIMEOUT/REFUSED.
    pub fn connect_in(&self, port: &str, addr: &str, p: &str, timeout: f64) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(port), "python3"])
            .arg(format!("{ROOT}/scripts/lab_client.py"))
            .args([addr, p, &timeout.to_string()])
            .output()
            .expect("runs the lab client");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// One ICMP (or ICMPv6) echo from `port`'s namespace to `addr` (scripts/lab_ping.py):
    /// `REPLY from SOURCE` or TIMEOUT.
    pub fn ping_in(&self, port: &str, addr: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns(port), "python3"])
            .arg(format!("{ROOT}/scripts/lab_ping.py"))
            .args([addr, "2"])
            .output()
            .expect("runs the lab ping");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Starts a bounded echo stream (scripts/lab_stream.py) of `secs` seconds from `port`'s
    /// namespace; its one-line verdict comes from `finish`.
    pub fn stream_in(&mut self, port: &str, addr: &str, p: &str, secs: f64) -> usize {
        let c = Command::new("ip")
            .args(["netns", "exec", &self.ns(port), "python3"])
            .arg(format!("{ROOT}/scripts/lab_stream.py"))
            .args([addr, p, &secs.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts the lab stream");
        self.streams.push(Some(c));
        self.streams.len() - 1
    }

    /// The verdict line of a stream started by `stream_in`.
    pub fn finish(&mut self, i: usize) -> String {
        let c = self.streams[i].take().expect("a stream not finished yet");
        let out = c.wait_with_output().expect("stream ends");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// One admin API request: (status, body).
    pub fn api(&self, method: &str, path: &str) -> (u16, String) {
        vpcfwd::control::client::request(&self.admin, method, path).expect("admin API answers")
    }

    /// The value of one Prometheus series (`name{labels}` exactly as rendered, labels sorted
    /// as the exporter writes them), 0 when absent.
    pub fn metric(&self, series: &str) -> f64 {
        let (_, body) = self.api("GET", "/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    pub fn vpcfwd_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for s in self
            .servers
            .iter_mut()
            .chain(self.streams.iter_mut().flatten())
        {
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
        if std::thread::panicking() {
            eprintln!("--- vpcfwd log ---\n{}", self.vpcfwd_log());
        }
        for ns in &self.namespaces {
            if std::path::Path::new("/var/run/netns").join(ns).exists() {
                let _ = Command::new("ip").args(["netns", "delete", ns]).status();
            }
        }
    }
}
