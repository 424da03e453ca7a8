//! The views of a running forwarder (root: the lab in namespaces this test creates and
//! removes): `vpcfwd top` driven in tmux (its screen shows the ports and the drop reasons),
//! and the web page at `/` of the admin API with its server-sent events.

mod support;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};
use support::lab::{Lab, can_run};

/// Installs tmux under CI if missing; false (SKIPPED) elsewhere.
fn have_tmux() -> bool {
    let ok = || Command::new("tmux").arg("-V").output().is_ok();
    if ok() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        let st = Command::new("sh")
            .arg("-c")
            .arg("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux")
            .status()
            .unwrap();
        assert!(st.success(), "apt-get install tmux failed");
        return ok();
    }
    false
}

/// A tmux session of this test (its own name); killed on drop, with what runs in it.
struct Tmux(String);

impl Tmux {
    fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

/// Some accepted and some dropped traffic, so that counters and drop reasons exist.
fn traffic(lab: &Lab) {
    assert!(
        lab.connect_in("app", "203.0.113.100", "80", 1.5)
            .contains("sees")
    );
    assert!(
        lab.connect_in("app", "192.0.2.10", "80", 1.5)
            .contains("sees")
    );
    assert_eq!(lab.connect_in("app", "203.0.113.100", "23", 1.0), "TIMEOUT");
    assert_eq!(lab.connect_in("web", "10.0.2.10", "8080", 1.0), "TIMEOUT");
}

#[test]
fn top_in_tmux_shows_ports_and_drop_reasons() {
    if !can_run("top_in_tmux_shows_ports_and_drop_reasons") {
        return;
    }
    if !have_tmux() {
        println!("SKIPPED: top_in_tmux_shows_ports_and_drop_reasons needs tmux");
        return;
    }
    let lab = Lab::up();
    traffic(&lab);
    let session = Tmux(format!("vpcfwd-top-{}", std::process::id()));
    let cmd = format!("{} top --admin {}", env!("CARGO_BIN_EXE_vpcfwd"), lab.admin);
    let st = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &session.0,
            "-x",
            "150",
            "-y",
            "45",
            &cmd,
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let want = [
        "vpcfwd top",
        "app",
        "internet",
        "s3",
        "NACL_DENY",
        "SG_NO_ALLOW",
        "acl-private",
    ];
    let mut screen = String::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        screen = session.screen();
        if want.iter().all(|w| screen.contains(w)) {
            break;
        }
    }
    for w in want {
        assert!(screen.contains(w), "{w} not on top's screen:\n{screen}");
    }
    // q quits: the session ends with it.
    Command::new("tmux")
        .args(["send-keys", "-t", &session.0, "q"])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Command::new("tmux")
        .args(["has-session", "-t", &session.0])
        .status()
        .unwrap()
        .success()
    {
        assert!(Instant::now() < deadline, "top did not quit on q");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn admin_api_serves_the_page_and_live_events() {
    if !can_run("admin_api_serves_the_page_and_live_events") {
        return;
    }
    let lab = Lab::up();
    traffic(&lab);
    // A browser gets the page at /; anything else still gets the list of endpoints.
    let mut s = std::net::TcpStream::connect(&lab.admin).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut page = String::new();
    s.read_to_string(&mut page).unwrap();
    assert!(page.contains("<script src=\"/ui/app.js\">"), "{page}");
    assert!(lab.api("GET", "/").1.contains("endpoints"));
    assert!(lab.api("GET", "/api/info").1.contains("\"live\""));
    // Server-sent events: a sample with the ports' counters and the drops by reason.
    let mut s = std::net::TcpStream::connect(&lab.admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    let data = loop {
        let n = s.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(i) = text.find("data: ")
            && let Some(j) = text[i..].find('\n')
        {
            break text[i + 6..i + j].to_string();
        }
        assert!(Instant::now() < deadline && n > 0, "no event: {text}");
    };
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert!(v["ports"]["app"]["rx"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["drops"]["NACL_DENY"].as_f64().unwrap() >= 1.0, "{v}");
    assert!(v["flows"]["total"].as_u64().unwrap() >= 1, "{v}");
    // The lab writes flow logs every second: the last records come along.
    assert!(v["flow_log"].is_array(), "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, body) = lab.api("GET", "/api/sample");
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let records = v["flow_log"].as_array().unwrap();
        if records
            .iter()
            .any(|r| r.as_str().unwrap().starts_with("2 123456789012 eni-"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "no flow-log records: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // A trace through the live page's API is the CLI's trace.
    let (code, t) = lab.api("GET", "/api/trace?from=app&dst=192.0.2.10&dport=80");
    assert_eq!(code, 200);
    let t: serde_json::Value = serde_json::from_str(&t).unwrap();
    assert_eq!(t["trace"]["egress"], "s3");
}
