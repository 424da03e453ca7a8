//! The web page: the topology drawn (Graphviz), a packet's path lit stage by stage, and — when
//! served by `vpcfwd run`'s admin API — live counters, drops and flows over server-sent events.
//! `vpcfwd ui -c FILE` serves it without root, trace-only. Every asset is embedded in the
//! binary; nothing comes from a CDN.
//!
//! Routes (under any axum server): `/` the page, `/ui/app.js`, `/ui/style.css`,
//! `GET /api/info`, `GET /api/graph`, `GET /api/trace?from=&dst=&proto=&sport=&dport=&src=&reply=`,
//! `GET /api/events` (live only: one JSON event a second), `GET /api/sample` (one sample).
//!
//! Hooks for work in flight elsewhere: `/api/info` answers `"scenarios": null` and
//! `"reach": null`; when a scenario runner or the reach matrix lands, it fills those (a list of
//! scenario names, a URL of the grid's JSON) and the page's `hooks` section shows them.

pub mod prom;

use crate::graph::{self, cli::ProbeArgs};
use crate::{config, snapshot, trace};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const INDEX: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");

/// What a running forwarder tells the page (implemented by the admin API).
pub trait Live: Send + Sync + 'static {
    /// Prometheus text, as `/metrics` serves it.
    fn metrics(&self) -> String;
    /// `/flows`' JSON for the first `limit` flows.
    fn flows(&self, limit: usize) -> Value;
    /// The last `n` flow-log records written (none without `--flow-log`).
    fn flow_log_tail(&self, _n: usize) -> Vec<String> {
        Vec::new()
    }
}

/// The last `n` lines of a text file (reads at most its last 64 KiB).
pub fn tail(path: &std::path::Path, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    let mut buf = String::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_string(&mut buf).is_err() {
        return Vec::new();
    }
    let mut lines: Vec<&str> = buf.lines().collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // a partial first line
    }
    let from = lines.len().saturating_sub(n);
    lines[from..].iter().map(|l| l.to_string()).collect()
}

/// Where the page's data comes from.
pub struct UiState {
    /// The config file (read again per request: the page follows edits and reloads).
    pub config: PathBuf,
    pub live: Option<Arc<dyn Live>>,
}

/// The page itself.
pub fn page() -> Response {
    Html(INDEX).into_response()
}

/// The page's routes; `with_root`: also `/` (the admin API routes `/` itself).
pub fn router(state: Arc<UiState>, with_root: bool) -> Router {
    let mut r = Router::new()
        .route("/ui/app.js", get(app_js))
        .route("/ui/style.css", get(style))
        .route("/api/info", get(info))
        .route("/api/graph", get(graph_view))
        .route("/api/trace", get(trace_view))
        .route("/api/events", get(events))
        .route("/api/sample", get(one_sample));
    if with_root {
        r = r.route("/", get(|| async { page() }));
    }
    r.with_state(state)
}

type St = State<Arc<UiState>>;

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        APP_JS,
    )
        .into_response()
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

/// An HTTP error status and its JSON body.
type Failure = (StatusCode, Value);

fn answer(r: Result<Result<Value, Failure>, tokio::task::JoinError>) -> Response {
    match r {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err((code, v))) => (code, Json(v)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn load(s: &UiState) -> Result<(config::Config, snapshot::Snapshot), Failure> {
    let bad = |errors: Vec<config::ConfigError>| {
        let e: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "invalid config", "errors": e}),
        )
    };
    let cfg = config::load_file(&s.config).map_err(bad)?;
    let snap = snapshot::compile(&cfg).map_err(bad)?;
    Ok((cfg, snap))
}

async fn info(State(s): St) -> Json<Value> {
    Json(json!({
        "mode": if s.live.is_some() { "live" } else { "trace-only" },
        "config": s.config.display().to_string(),
        "scenarios": null,
        "reach": null,
    }))
}

/// The SVG (or why there is none) and what each node offers: a `from` to trace from, an
/// address to trace to.
fn drawing(cfg: &config::Config, path: Option<&graph::Path>) -> Value {
    let g = graph::build(cfg);
    let dot = graph::dot_with(&g, path, false);
    let (svg, error) = match graph::svg(&dot) {
        Ok(s) => (Some(s), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let port_of = |att: &str| {
        cfg.ports.iter().find(|p| {
            p.network_interface_id.as_deref() == Some(att)
                || p.internet_gateway_id.as_deref() == Some(att)
                || p.vpc_endpoint_id.as_deref() == Some(att)
        })
    };
    let nodes: Vec<Value> = g
        .nodes
        .iter()
        .map(|n| {
            let (from, addr) = match n.kind {
                graph::Kind::Port => {
                    let p = cfg
                        .ports
                        .iter()
                        .find(|p| graph::port_node(&p.port_id) == n.id);
                    (
                        p.map(|p| p.port_id.clone()),
                        p.and_then(|p| p.addresses.first())
                            .map(|a| a.addr().to_string()),
                    )
                }
                graph::Kind::Eni | graph::Kind::EndpointEni => {
                    let e = cfg
                        .network_interfaces
                        .iter()
                        .find(|e| e.network_interface_id == n.id);
                    (
                        port_of(&n.id).map(|p| p.port_id.clone()),
                        e.and_then(eni_address),
                    )
                }
                graph::Kind::InternetGateway | graph::Kind::GatewayEndpoint => {
                    let p = port_of(&n.id);
                    (
                        p.map(|p| p.port_id.clone()),
                        p.and_then(|p| p.addresses.first())
                            .map(|a| a.addr().to_string()),
                    )
                }
                graph::Kind::InterfaceEndpoint => {
                    let ep = cfg.vpc_endpoints.iter().find(|e| e.vpc_endpoint_id == n.id);
                    let addr = ep
                        .and_then(|e| e.network_interface_ids.first())
                        .and_then(|x| {
                            cfg.network_interfaces
                                .iter()
                                .find(|e| &e.network_interface_id == x)
                        })
                        .and_then(eni_address);
                    (None, addr)
                }
                _ => (None, None),
            };
            json!({"id": n.id, "html_id": graph::html_id(&n.id), "kind": n.kind.name(),
                   "label": n.label, "from": from, "addr": addr})
        })
        .collect();
    json!({"svg": svg, "error": error, "nodes": nodes})
}

async fn graph_view(State(s): St) -> Response {
    let r = tokio::task::spawn_blocking(move || -> Result<Value, Failure> {
        let (cfg, _) = load(&s)?;
        Ok(drawing(&cfg, None))
    })
    .await;
    answer(r)
}

#[derive(Debug, Deserialize)]
struct TraceQuery {
    from: String,
    dst: String,
    src: Option<String>,
    proto: Option<String>,
    sport: Option<String>,
    dport: Option<String>,
    reply: Option<String>,
}

impl TraceQuery {
    /// As `vpcfwd trace` arguments (so the page and the CLI parse alike).
    fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--from".into(),
            self.from.clone(),
            "--dst".into(),
            self.dst.clone(),
        ];
        for (k, v) in [
            ("--src", &self.src),
            ("--proto", &self.proto),
            ("--sport", &self.sport),
            ("--dport", &self.dport),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                a.push(k.into());
                a.push(v.clone());
            }
        }
        if matches!(self.reply.as_deref(), Some("1" | "true" | "on")) {
            a.push("--reply".into());
        }
        a
    }
}

async fn trace_view(State(s): St, Query(q): Query<TraceQuery>) -> Response {
    let r = tokio::task::spawn_blocking(move || -> Result<Value, Failure> {
        let (cfg, snap) = load(&s)?;
        let bad = |e: String| (StatusCode::BAD_REQUEST, json!({"error": e}));
        let pa = <ProbeArgs as clap::Parser>::try_parse_from(q.args())
            .map_err(|e| bad(e.to_string()))?;
        let probe = pa.probe().map_err(bad)?;
        let t = trace::trace(&snap, &cfg, &probe).map_err(bad)?;
        let g = graph::build(&cfg);
        let path = graph::path(&g, &t);
        let mut v = drawing(&cfg, Some(&path));
        v["trace"] = t.json();
        v["text"] = json!(t.text());
        v["path"] = json!(path);
        Ok(v)
    })
    .await;
    answer(r)
}

/// One live sample: port packet counters, drops by reason and per object, NAT ports, flows.
fn sample(live: &dyn Live) -> Value {
    let m = prom::parse(&live.metrics());
    let mut v = prom::summary(&m);
    v["flows"] = live.flows(20);
    v["flow_log"] = json!(live.flow_log_tail(10));
    v
}

/// One sample without a stream (`?poll=1` pages, scripts).
async fn one_sample(State(s): St) -> Response {
    let Some(live) = s.live.clone() else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "trace-only"}))).into_response();
    };
    let r = tokio::task::spawn_blocking(move || Ok(sample(live.as_ref()))).await;
    answer(r)
}

async fn events(State(s): St) -> Response {
    let Some(live) = s.live.clone() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "trace-only: no running forwarder (use vpcfwd run's admin API)"})),
        )
            .into_response();
    };
    let stream = futures_util::stream::unfold((live, true), |(live, first)| async move {
        if !first {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let l = live.clone();
        let v = tokio::task::spawn_blocking(move || sample(l.as_ref()))
            .await
            .unwrap_or_else(|e| json!({"error": e.to_string()}));
        let ev = Event::default().event("sample").data(v.to_string());
        Some((Ok::<_, std::convert::Infallible>(ev), (live, false)))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `vpcfwd ui` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct UiArgs {
    /// Config file.
    #[arg(short = 'c', long = "config")]
    pub config: PathBuf,
    /// Where to listen. Anything but loopback is reachable by others: vpcfwd says so loudly.
    /// Port 0 picks a free port (the URL is printed).
    #[arg(long, default_value = "127.0.0.1:9180")]
    pub listen: String,
}

/// Binds `addr`; anything but loopback gets a loud warning.
async fn bind(addr: &str) -> std::io::Result<tokio::net::TcpListener> {
    let sa: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| std::io::Error::other(format!("not an IP:port address ({e})")))?;
    if !sa.ip().is_loopback() {
        eprintln!(
            "WARNING: the page listens on {sa}, not on loopback: anyone who can reach it can read the config's topology and trace it"
        );
    }
    tokio::net::TcpListener::bind(sa).await
}

/// `vpcfwd ui`: the page, trace-only, until SIGINT/SIGTERM.
pub fn run(a: &UiArgs) -> ExitCode {
    if let Err(code) = graph::cli::load(&a.config) {
        return code;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async {
        let listener = match bind(&a.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {}: {e}", a.listen);
                return ExitCode::from(1);
            }
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        println!("vpcfwd ui: http://{addr}/ (trace-only; Ctrl-C stops it)");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let state = Arc::new(UiState {
            config: a.config.clone(),
            live: None,
        });
        let app = router(state, true);
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {},
            }
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
        ExitCode::SUCCESS
    })
}

/// An ENI's first address as the page shows it: its private IPv4, else its first IPv6.
fn eni_address(e: &crate::config::NetworkInterface) -> Option<String> {
    e.private_ip_address
        .map(|a| a.to_string())
        .or_else(|| e.ipv6_addresses.first().map(|a| a.ipv6_address.to_string()))
}
