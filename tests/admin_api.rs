//! The admin API's refusals, through its axum router (no root, no devices): the bearer token,
//! bounded query strings and bodies, captures only below the pcap directory, and `vpcfwd run`
//! refusing a non-loopback admin address without a token.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::sync::Arc;
use tower::ServiceExt;
use vpcfwd::control::{Control, RunArgs, admin};
use vpcfwd::flow::FlowTable;
use vpcfwd::io::{Live, Shared};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn control(extra: &[&str]) -> Arc<Control> {
    let mut args = vec!["-c", support::LAB_PATH];
    args.extend_from_slice(extra);
    let args = RunArgs::parse_from(args).unwrap();
    let live = Live::new(1, support::lab_snapshot(), Vec::new());
    let shared = Arc::new(Shared::new(live, FlowTable::new(1024), None));
    Arc::new(Control::new(shared, args).unwrap())
}

async fn call(c: &Arc<Control>, req: Request<Body>) -> (StatusCode, String) {
    let r = admin::router(Arc::clone(c)).oneshot(req).await.unwrap();
    let code = r.status();
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    (code, String::from_utf8_lossy(&body).into_owned())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post(uri: &str) -> Request<Body> {
    Request::post(uri).body(Body::empty()).unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn with_a_token_every_call_needs_it() {
    rt().block_on(async {
        let c = control(&["--admin-token", TOKEN]);
        for uri in [
            "/",
            "/metrics",
            "/ports",
            "/flows",
            "/nat",
            "/reload",
            "/route-tables",
        ] {
            let (code, _) = call(&c, get(uri)).await;
            assert_eq!(code, StatusCode::UNAUTHORIZED, "GET {uri} without a token");
            let wrong = Request::get(uri)
                .header("Authorization", "Bearer 0123456789abcdef0123456789abcdeX")
                .body(Body::empty())
                .unwrap();
            assert_eq!(call(&c, wrong).await.0, StatusCode::UNAUTHORIZED, "{uri}");
            let basic = Request::get(uri)
                .header("Authorization", format!("Basic {TOKEN}"))
                .body(Body::empty())
                .unwrap();
            assert_eq!(call(&c, basic).await.0, StatusCode::UNAUTHORIZED, "{uri}");
            let right = Request::get(uri)
                .header("Authorization", format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap();
            assert_eq!(
                call(&c, right).await.0,
                StatusCode::OK,
                "GET {uri} with the token"
            );
        }
        for uri in [
            "/reload",
            "/flows/flush?all=true",
            "/pcap/start",
            "/pcap/stop",
        ] {
            assert_eq!(
                call(&c, post(uri)).await.0,
                StatusCode::UNAUTHORIZED,
                "POST {uri}"
            );
        }
        // Without a token configured (loopback), calls need none.
        let open = control(&[]);
        assert_eq!(call(&open, get("/ports")).await.0, StatusCode::OK);
    });
}

#[test]
fn weak_tokens_are_refused() {
    for t in ["short", "has space in it 0123456789", ""] {
        let args = RunArgs::parse_from(["-c", support::LAB_PATH, "--admin-token", t]).unwrap();
        let live = Live::new(1, support::lab_snapshot(), Vec::new());
        let shared = Arc::new(Shared::new(live, FlowTable::new(16), None));
        assert!(Control::new(shared, args).is_err(), "{t:?}");
    }
}

#[test]
fn query_strings_and_bodies_are_bounded() {
    rt().block_on(async {
        let c = control(&[]);
        let long = "a".repeat(admin::MAX_QUERY + 1);
        let (code, _) = call(&c, get(&format!("/flows?eni={long}"))).await;
        assert_eq!(code, StatusCode::URI_TOO_LONG);
        let id = "e".repeat(admin::MAX_ID + 1);
        for uri in [format!("/flows?eni={id}"), format!("/nat?eni={id}")] {
            assert_eq!(
                call(&c, get(&uri)).await.0,
                StatusCode::BAD_REQUEST,
                "{uri}"
            );
        }
        for uri in [
            format!("/flows/flush?eni={id}"),
            format!("/pcap/start?port={id}"),
            format!("/pcap/stop?port={id}"),
            format!("/pcap/start?dir={}", "d".repeat(admin::MAX_DIR + 1)),
        ] {
            assert_eq!(
                call(&c, post(&uri)).await.0,
                StatusCode::BAD_REQUEST,
                "{uri}"
            );
        }
        let big = Request::post("/reload")
            .header("Content-Length", (admin::MAX_BODY + 1).to_string())
            .body(Body::from(vec![b'x'; admin::MAX_BODY + 1]))
            .unwrap();
        assert_eq!(call(&c, big).await.0, StatusCode::PAYLOAD_TOO_LARGE);
        let chunked = Request::post("/reload")
            .header("Transfer-Encoding", "chunked")
            .body(Body::from("x"))
            .unwrap();
        assert_eq!(call(&c, chunked).await.0, StatusCode::LENGTH_REQUIRED);
    });
}

#[test]
fn captures_write_only_below_the_pcap_directory() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("pcap");
    let outside = dir.path().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&base).unwrap();
    std::os::unix::fs::symlink(&outside, base.join("out")).unwrap();
    let b = base.to_str().unwrap().to_string();
    rt().block_on(async {
        let c = control(&["--pcap", &b]);
        for (dir, why) in [
            ("..", "`..`"),
            ("a/../../elsewhere", "`..`"),
            (outside.to_str().unwrap(), "outside the pcap directory"),
            ("/tmp", "outside the pcap directory"),
            ("out", "symbolic link"),
            ("out/deeper", "symbolic link"),
        ] {
            let (code, body) = call(&c, post(&format!("/pcap/start?dir={dir}"))).await;
            assert_eq!(code, StatusCode::BAD_REQUEST, "dir={dir}: {body}");
            assert!(body.contains(why), "dir={dir}: {body}");
        }
        // Inside (relative, or absolute below it): accepted; no port here, so nothing starts.
        for dir in ["today".to_string(), format!("{b}/abs")] {
            let (code, body) = call(&c, post(&format!("/pcap/start?dir={dir}"))).await;
            assert!(body.contains("no port"), "dir={dir}: {code} {body}");
        }
    });
    assert!(base.join("today").is_dir() && base.join("abs").is_dir());
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
}

#[test]
fn the_path_check_itself() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("p");
    assert_eq!(
        admin::pcap_dir_within(&base, None).unwrap(),
        base.canonicalize().unwrap()
    );
    let f = base.join("file");
    std::fs::write(&f, b"").unwrap();
    assert!(
        admin::pcap_dir_within(&base, Some(std::path::Path::new("file")))
            .unwrap_err()
            .contains("not a directory")
    );
    let got = admin::pcap_dir_within(&base, Some(std::path::Path::new("x/y"))).unwrap();
    assert_eq!(got, base.canonicalize().unwrap().join("x/y"));
}

#[test]
fn a_pcap_file_that_is_a_symlink_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::write(&target, b"keep").unwrap();
    let link = dir.path().join("app.pcap");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(vpcfwd::io::pcap::PcapFile::create(&link, 1 << 20).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
}

#[test]
fn the_admin_address_off_loopback_needs_a_token() {
    assert!(admin::check_exposure("127.0.0.1:9180", None).is_ok());
    assert!(admin::check_exposure("[::1]:9180", None).is_ok());
    let e = admin::check_exposure("0.0.0.0:9180", None).unwrap_err();
    assert!(e.contains("--admin-token"), "{e}");
    assert!(admin::check_exposure("10.0.0.1:9180", Some(TOKEN)).is_ok());
    // And `vpcfwd run` refuses to start, before touching anything (exit 2, no root needed).
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args(["run", "-c", support::LAB_PATH, "--admin", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not a loopback address") && err.contains("--admin-token"),
        "{err}"
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args([
            "run",
            "-c",
            support::LAB_PATH,
            "--user",
            "no-such-user-vpcfwd",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such user"));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_vpcfwd"))
        .args([
            "run",
            "-c",
            support::LAB_PATH,
            "--static-ports",
            "--create-namespaces",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}
