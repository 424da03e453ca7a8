//! Restart hygiene and least privilege, end to end (root; SKIPPED without it, a failure under
//! CI=true): a forwarder killed with SIGKILL is replaced by a new one that starts cleanly over
//! the namespaces it left (and removes them on exit); one still running is not taken over; a
//! device in the way is named with the command that removes it; after start-up `vpcfwd run`
//! holds only CAP_NET_ADMIN (+ CAP_SYS_ADMIN unless --static-ports), also as `--user nobody`;
//! `scripts/lab.sh down` after a crash leaves nothing.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::lab::{Lab, ROOT, can_run};

const NET_ADMIN: u64 = 1 << 12;
const SYS_ADMIN: u64 = 1 << 21;

/// `CapXxx` and `Uid` lines of /proc/PID/status.
fn status(pid: u32) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn caps(pid: u32, set: &str) -> u64 {
    u64::from_str_radix(&status(pid)[set], 16).unwrap()
}

fn wait_exit(c: &mut std::process::Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(Some(s)) = c.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn ns_exists(ns: &str) -> bool {
    std::path::Path::new("/var/run/netns").join(ns).exists()
}

fn vpcfwd_pid(lab: &Lab) -> u32 {
    lab.vpcfwd.as_ref().unwrap().id()
}

#[test]
fn after_sigkill_a_new_forwarder_starts_over_the_leftovers_and_removes_them() {
    if !can_run("after_sigkill_a_new_forwarder_starts_over_the_leftovers") {
        return;
    }
    let mut lab = Lab::up();
    assert_eq!(
        lab.connect_in("web", "203.0.113.100", "80", 3.0),
        "internet sees 198.51.100.10"
    );
    let first = vpcfwd_pid(&lab);
    let mut c = lab.vpcfwd.take().unwrap();
    // SAFETY: signalling the PID of the child we started.
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    let _ = c.wait();
    // What a kill -9 leaves: the namespaces (the TUN devices went with the process).
    for ns in &lab.namespaces {
        assert!(ns_exists(ns), "{ns} left behind by the killed forwarder");
    }
    lab.start_vpcfwd(&[]);
    let log = lab.vpcfwd_log();
    assert!(
        log.contains(&format!("was left by vpcfwd PID {first} (gone)")),
        "{log}"
    );
    assert_eq!(
        lab.connect_in("web", "203.0.113.100", "80", 3.0),
        "internet sees 198.51.100.10"
    );
    assert_eq!(
        lab.connect_in("app", "192.0.2.10", "80", 3.0),
        "s3 sees 10.0.2.10"
    );
    // A clean stop of the second removes what the first made.
    let mut c = lab.vpcfwd.take().unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let st = wait_exit(&mut c, 10).expect("stops within 10 s");
    assert!(st.success(), "{st:?}\n{}", lab.vpcfwd_log());
    for ns in &lab.namespaces {
        assert!(!ns_exists(ns), "{ns} still there after the clean stop");
        assert!(!std::path::Path::new("/run/vpcfwd/netns").join(ns).exists());
    }
}

#[test]
fn a_running_forwarders_namespaces_are_not_taken_over() {
    if !can_run("a_running_forwarders_namespaces_are_not_taken_over") {
        return;
    }
    let lab = Lab::up();
    let first = vpcfwd_pid(&lab);
    let o = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(["run", "--create-namespaces", "--no-admin", "-c"])
        .arg(&lab.config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "belongs to vpcfwd PID {first}, which is still running"
        )) && err.contains(&format!("kill {first}")),
        "{err}"
    );
    assert_eq!(
        lab.connect_in("web", "203.0.113.100", "80", 3.0),
        "internet sees 198.51.100.10"
    );
}

#[test]
fn a_device_in_the_way_is_named_with_its_remedy() {
    if !can_run("a_device_in_the_way_is_named_with_its_remedy") {
        return;
    }
    let lab = Lab::unstarted(support::LAB_YAML);
    for ns in &lab.namespaces {
        assert!(
            Command::new("ip")
                .args(["netns", "add", ns])
                .status()
                .unwrap()
                .success()
        );
    }
    let web = lab.ns("web");
    assert!(
        Command::new("ip")
            .args(["-n", &web, "tuntap", "add", "mode", "tun", "name", "vf-web"])
            .status()
            .unwrap()
            .success()
    );
    let o = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(["run", "--no-admin", "-c"])
        .arg(&lab.config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("device vf-web already exists in namespace {web}"))
            && err.contains(&format!("ip -n {web} link delete vf-web")),
        "{err}"
    );
}

#[test]
fn after_start_up_only_the_needed_capabilities_are_held() {
    if !can_run("after_start_up_only_the_needed_capabilities_are_held") {
        return;
    }
    let lab = Lab::up();
    let pid = vpcfwd_pid(&lab);
    for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh"] {
        assert_eq!(caps(pid, set), NET_ADMIN | SYS_ADMIN, "{set}");
    }
    // Every thread (workers, control runtime), not only the main one.
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let t = t.unwrap().path();
        let s = std::fs::read_to_string(t.join("status")).unwrap();
        let eff = s
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .unwrap()
            .trim();
        assert_eq!(
            u64::from_str_radix(eff, 16).unwrap(),
            NET_ADMIN | SYS_ADMIN,
            "{t:?}"
        );
    }
    // A reload that adds nothing still works; flows still pass.
    assert_eq!(lab.api("POST", "/reload").0, 200);
    assert_eq!(
        lab.connect_in("web", "203.0.113.100", "80", 3.0),
        "internet sees 198.51.100.10"
    );
}

#[test]
fn as_nobody_with_static_ports_only_net_admin_is_kept() {
    if !can_run("as_nobody_with_static_ports_only_net_admin_is_kept") {
        return;
    }
    let Ok(nobody) = vpcfwd::control::privilege::lookup_user("nobody") else {
        println!("SKIPPED: no user nobody");
        return;
    };
    let mut lab = Lab::unstarted(support::LAB_YAML);
    for ns in &lab.namespaces {
        assert!(
            Command::new("ip")
                .args(["netns", "add", ns])
                .status()
                .unwrap()
                .success()
        );
    }
    // The flow log and pcap files are written as that user: a directory it may write.
    let dir = lab.dir.path().to_path_buf();
    std::os::unix::fs::chown(&dir, Some(nobody.uid), Some(nobody.gid)).unwrap();
    lab.start_vpcfwd_in(false, &["--user", "nobody", "--static-ports"]);
    lab.start_services();
    let pid = vpcfwd_pid(&lab);
    let st = status(pid);
    assert!(
        st["Uid"]
            .split_whitespace()
            .all(|u| u == nobody.uid.to_string()),
        "{st:?}"
    );
    for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        assert_eq!(caps(pid, set), NET_ADMIN, "{set}");
    }
    assert_eq!(
        lab.connect_in("web", "203.0.113.100", "80", 3.0),
        "internet sees 198.51.100.10"
    );
    assert_eq!(
        lab.api("POST", "/reload").0,
        200,
        "a reload that changes no port"
    );
    lab.write_config(
        &support::LAB_YAML.replace("Addresses: [192.0.2.10/26]", "Addresses: [192.0.2.11/26]"),
    );
    let (code, body) = lab.api("POST", "/reload");
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("--static-ports"), "{body}");
    assert_eq!(
        lab.connect_in("app", "192.0.2.10", "80", 3.0),
        "s3 sees 10.0.2.10"
    );
}

#[test]
fn lab_sh_down_after_a_crash_leaves_nothing() {
    if !can_run("lab_sh_down_after_a_crash_leaves_nothing") {
        return;
    }
    // A lab config of its own names: never the demo's namespaces another run may hold.
    let lab = Lab::unstarted(support::LAB_YAML);
    let run = lab.dir.path().join("lab-run");
    let admin = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sh = |cmd: &str| {
        Command::new(format!("{ROOT}/scripts/lab.sh"))
            .args([cmd, "-c"])
            .arg(&lab.config)
            .env("LAB_RUN_DIR", &run)
            .env("LAB_ADMIN", admin.to_string())
            .env("VPCFWD", env!("CARGO_BIN_EXE_vpcfwd"))
            .output()
            .unwrap()
    };
    /// `lab.sh down` however the test ends (it says "not up" when there is nothing left).
    struct Down<F: Fn(&str) -> std::process::Output>(F);
    impl<F: Fn(&str) -> std::process::Output> Drop for Down<F> {
        fn drop(&mut self) {
            (self.0)("down");
        }
    }
    let down = Down(sh);
    let sh = &down.0;
    let o = sh("up");
    assert!(o.status.success(), "{o:?}");
    let pid: i32 = std::fs::read_to_string(run.join("vpcfwd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The namespaces lab.sh gave this config (its own `vpcfwd-<tag>-<port>` names).
    let made: Vec<String> = std::fs::read_to_string(run.join("namespaces"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(!made.is_empty());
    // SAFETY: the PID lab.sh started for this test.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(300));
    for ns in &made {
        assert!(ns_exists(ns), "{ns}: the crash left it");
    }
    let o = sh("down");
    assert!(o.status.success(), "{o:?}");
    for ns in &made {
        assert!(!ns_exists(ns), "{ns} still there after lab.sh down");
        assert!(!std::path::Path::new("/run/vpcfwd/netns").join(ns).exists());
    }
    assert!(!run.exists(), "lab.sh down removes its run directory");
    // SAFETY: signal 0 only asks whether the PID exists.
    assert!(unsafe { libc::kill(pid, 0) } != 0, "vpcfwd {pid} is gone");
}
