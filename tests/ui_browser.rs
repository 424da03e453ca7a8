//! The web page in a real browser: headless Chromium (Debian's `chromium`; under CI=true it is
//! installed if missing, elsewhere a missing browser prints SKIPPED) loads the page from
//! `vpcfwd ui -c configs/lab.yaml` on 127.0.0.1 (a free port; the server stopped by its PID),
//! traces app → S3 and app → internet:23, and the DOM after the page's JavaScript ran must show
//! `trace --json`'s stages (JSON and text, in order) and the path lit over the drawing.
//! Screenshots, light and dark: target/ui/*.png.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs Debian packages under CI (as root); true when `cmd` is there afterwards.
fn ensure(cmd: &str, arg: &str, package: &str) -> bool {
    if have(cmd, arg) {
        return true;
    }
    if !ci() {
        return false;
    }
    let sh = format!(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}"
    );
    let st = Command::new("sh").arg("-c").arg(&sh).status().unwrap();
    assert!(st.success(), "{sh} failed");
    have(cmd, arg)
}

/// `vpcfwd ui` on 127.0.0.1 with a free port; killed (by its PID) on drop.
struct Ui {
    child: Child,
    url: String,
}

impl Ui {
    fn start() -> Ui {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
            .args(["ui", "-c", "configs/lab.yaml", "--listen", "127.0.0.1:0"])
            .current_dir(root())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_string();
        Ui { child, url }
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromium(args: &[&str]) -> String {
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=8000",
            "--window-size=1600,1000",
        ])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "chromium {args:?} failed");
    String::from_utf8(o.stdout).unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// A start tag's attributes and, for an element, its text up to `</close>`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    let end = tag[at..].find('"')? + at;
    Some(&tag[at..end])
}

/// Each `<li class="stage …">`: (attributes tag, text).
fn stage_items(dom: &str) -> Vec<(String, String)> {
    let mut v = Vec::new();
    let mut s = dom;
    while let Some(i) = s.find("<li class=\"stage") {
        let rest = &s[i..];
        // Attribute values escape `"`, so the tag ends at the first `>` outside quotes.
        let mut quoted = false;
        let mut end = 0;
        for (j, c) in rest.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '>' if !quoted => {
                    end = j;
                    break;
                }
                _ => {}
            }
        }
        let tag = rest[..end].to_string();
        let close = rest.find("</li>").unwrap();
        v.push((tag, unescape(&rest[end + 1..close])));
        s = &rest[close..];
    }
    v
}

/// The ids of drawn nodes with the `lit` class.
fn lit_nodes(dom: &str) -> Vec<String> {
    let mut v = Vec::new();
    let mut s = dom;
    while let Some(i) = s.find("<g ") {
        let rest = &s[i..];
        let end = rest.find('>').unwrap();
        let tag = &rest[..end];
        if let (Some(id), Some(class)) = (attr(tag, "id"), attr(tag, "class"))
            && class.split(' ').any(|c| c == "node")
            && class.split(' ').any(|c| c == "lit")
        {
            v.push(id.to_string());
        }
        s = &rest[end..];
    }
    v
}

fn trace_cli(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(["trace", "-c", "configs/lab.yaml"])
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap()
}

/// The drawn object a stage names, as the test reads `trace --json` (independent of the
/// page's own mapping): its id as the SVG names it.
fn expected_nodes(stage: &serde_json::Value) -> Vec<String> {
    let id = |k: &str| stage[k].as_str().map(str::to_string);
    let ids = match stage["stage"].as_str().unwrap() {
        "ingress" | "egress" => vec![id("port").map(|p| format!("port:{p}"))],
        "src_dst_check" | "security_group" | "flow" | "flow_new" | "flow_untracked" => {
            vec![id("eni")]
        }
        "route" => vec![id("route_table")],
        "network_acl" => vec![id("nacl")],
        "nat_gateway" => vec![id("nat_gateway")],
        "gateway_endpoint" => vec![id("endpoint")],
        "interface_endpoint" => vec![id("eni"), id("endpoint")],
        "translate" => vec![id("id")],
        _ => vec![],
    };
    ids.into_iter().flatten().collect()
}

fn svg_id(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("n_{s}")
}

#[test]
fn page_lights_the_traced_path_in_chromium() {
    if !ensure("chromium", "--version", "chromium") {
        println!("SKIPPED: no chromium (Debian: apt-get install chromium)");
        return;
    }
    if !ensure("dot", "-V", "graphviz") {
        println!("SKIPPED: no Graphviz dot: the page has no drawing to light up");
        return;
    }
    let ui = Ui::start();
    let shots = root().join("target/ui");
    std::fs::create_dir_all(&shots).unwrap();
    let cases = [
        ("app-s3", "192.0.2.10", "80", "ACCEPT egress=s3"),
        (
            "app-internet-23",
            "203.0.113.100",
            "23",
            "DROP reason=NACL_DENY",
        ),
    ];
    for (name, dst, dport, verdict) in cases {
        let url = format!("{}?from=app&dst={dst}&dport={dport}&play=all", ui.url);
        let dom = chromium(&["--dump-dom", &url]);
        assert!(
            dom.contains("data-traced=\"1\""),
            "{name}: page did not trace"
        );
        let want: serde_json::Value = serde_json::from_str(&trace_cli(&[
            "--from", "app", "--dst", dst, "--dport", dport, "--json",
        ]))
        .unwrap();
        let want_stages = want["stages"].as_array().unwrap();
        let text = trace_cli(&["--from", "app", "--dst", dst, "--dport", dport]);
        let want_lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("verdict:"))
            .collect();
        let items = stage_items(&dom);
        assert_eq!(items.len(), want_stages.len(), "{name}: stage count");
        let mut lit_want: Vec<String> = Vec::new();
        for (i, ((tag, li_text), st)) in items.iter().zip(want_stages).enumerate() {
            let json: serde_json::Value =
                serde_json::from_str(&unescape(attr(tag, "data-json").unwrap())).unwrap();
            assert_eq!(&json, st, "{name}: stage {i} JSON");
            assert_eq!(
                attr(tag, "data-stage"),
                st["stage"].as_str(),
                "{name}: stage {i}"
            );
            assert_eq!(li_text, want_lines[i], "{name}: stage {i} text");
            assert!(
                attr(tag, "class").unwrap().contains("done"),
                "{name}: stage {i} not shown"
            );
            let nodes = expected_nodes(st);
            assert_eq!(
                attr(tag, "data-nodes").unwrap(),
                nodes.join(","),
                "{name}: stage {i} place"
            );
            for n in nodes.iter().map(|n| svg_id(n)) {
                if !lit_want.contains(&n) {
                    lit_want.push(n);
                }
            }
        }
        let mut lit = lit_nodes(&dom);
        lit.sort();
        lit_want.sort();
        assert_eq!(lit, lit_want, "{name}: lit nodes");
        assert!(
            dom.contains(&format!("request: {verdict}")),
            "{name}: verdict {verdict}"
        );
        // Every path edge is drawn once the last stage is shown.
        assert!(dom.contains("id=\"p1\""), "{name}: no path edge");
        assert!(
            !dom.split("<g id=\"p")
                .skip(1)
                .any(|t| t[..t.find('>').unwrap()].contains("pending")),
            "{name}: hidden path edge"
        );
        if verdict.starts_with("DROP") {
            assert!(
                dom.contains("id=\"n_acl_private\" class=\"node k-network-acl lit dropped\""),
                "{name}: the deciding NACL is not marked"
            );
        }
        for theme in ["light", "dark"] {
            let png = shots.join(format!("{name}-{theme}.png"));
            chromium(&[
                &format!("--screenshot={}", png.display()),
                &format!("{url}&theme={theme}"),
            ]);
            let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
            assert!(size > 20_000, "{}: {size} bytes", png.display());
        }
    }
}

#[test]
fn ui_serves_page_and_api_without_a_browser() {
    let ui = Ui::start();
    let addr = ui.url.trim_start_matches("http://").trim_end_matches('/');
    let get = |p: &str| vpcfwd::control::client::request(addr, "GET", p).unwrap();
    let (code, body) = get("/");
    assert_eq!(code, 200);
    assert!(body.contains("<script src=\"/ui/app.js\">") && !body.contains("http"));
    let (code, js) = get("/ui/app.js");
    assert_eq!(code, 200);
    assert!(js.contains("EventSource") && !js.contains("https://"));
    let (_, info) = get("/api/info");
    assert!(info.contains("\"trace-only\""));
    let (code, t) = get("/api/trace?from=app&dst=203.0.113.100&dport=23");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
    assert_eq!(v["trace"]["reason"], "NACL_DENY");
    let (code, _) = get("/api/trace?from=nowhere&dst=203.0.113.100");
    assert_eq!(code, 400);
    // Trace-only: no live events.
    assert_eq!(get("/api/events").0, 404);
}
