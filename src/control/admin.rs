//! The admin API (HTTP/1 on the control plane's tokio runtime). Bound to loopback by default.
//!
//! - `GET /metrics`: Prometheus text.
//! - `GET /ports`, `GET /route-tables` (as compiled: prefix lists expanded, ties resolved),
//!   `GET /flows?addr=&eni=&offset=&limit=`, `GET /nat?offset=&limit=`: JSON views.
//! - `POST /flows/flush?addr=&eni=` (or `?all=true`): removes matching flows.
//! - `POST /reload`, `GET /reload`: reload the config file; the last outcome.
//! - `POST /pcap/start?port=&dir=`, `POST /pcap/stop?port=`: captures on a running forwarder.
//! - `GET /` for a browser (`Accept: text/html`): the web page (`crate::ui`), with its
//!   `/ui/…` assets and `/api/…` (graph, trace, live samples and server-sent events); for
//!   anything else `/` lists these endpoints.
//!
//! With a token (`--admin-token[-file]`; required off loopback) every call carries
//! `Authorization: Bearer TOKEN` (else 401). Query strings are bounded ([`MAX_QUERY`]; ids
//! [`MAX_ID`], `dir=` [`MAX_DIR`]), bodies too ([`MAX_BODY`]); captures write only below the
//! pcap directory ([`pcap_dir_within`]).
//!
//! Reads walk the flow tables one shard lock at a time (a worker waits at most for one shard's
//! pass) on a blocking thread, never on a worker.

use super::Control;
use crate::flow::key::bits_addr;
use crate::flow::{FlowKey, FlowView, Side};
use crate::observe::metrics::Series;
use crate::snapshot::{PortKind, Zone, kind_name};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;

type Ctl = State<Arc<Control>>;

/// Longest query string a call may carry (every value is bounded by it).
pub const MAX_QUERY: usize = 1024;
/// Longest request body (no call takes one: this only bounds what a client may send).
pub const MAX_BODY: usize = 4096;
/// Longest `port=` / `eni=` value.
pub const MAX_ID: usize = 64;
/// Longest `dir=` value.
pub const MAX_DIR: usize = 255;

/// Refuses an admin address other than loopback without a token: anyone who can reach it could
/// read flows, start captures and reload the config.
pub fn check_exposure(addr: &str, token: Option<&str>) -> Result<SocketAddr, String> {
    let sa: SocketAddr = addr
        .parse()
        .map_err(|e| format!("--admin {addr}: not an IP:port address ({e})"))?;
    if !sa.ip().is_loopback() && token.is_none() {
        return Err(format!(
            "--admin {sa} is not a loopback address: anyone who can reach it could read flows, start captures and reload the config; give --admin-token-file FILE (or --admin-token) so that every call must carry it, or bind 127.0.0.1"
        ));
    }
    Ok(sa)
}

/// Binds the admin address (before privileges are dropped); see [`check_exposure`].
pub fn bind(addr: &str, token: Option<&str>) -> std::io::Result<std::net::TcpListener> {
    let sa = check_exposure(addr, token).map_err(std::io::Error::other)?;
    if !sa.ip().is_loopback() {
        tracing::warn!(
            "the admin API listens on {sa}, not on loopback: every call needs the token"
        );
    }
    let l = std::net::TcpListener::bind(sa)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// The admin API's routes, behind the token check and the request bounds.
pub fn router(ctl: Arc<Control>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/ports", get(ports))
        .route("/route-tables", get(route_tables))
        .route("/flows", get(flows))
        .route("/flows/flush", post(flush))
        .route("/nat", get(nat))
        .route("/reload", get(reload_status).post(reload))
        .route("/pcap/start", post(pcap_start))
        .route("/pcap/stop", post(pcap_stop))
        .with_state(Arc::clone(&ctl))
        // The web page (`/` for a browser) and its API: live counters from this forwarder.
        .merge(crate::ui::router(
            Arc::new(crate::ui::UiState {
                config: ctl.args.config.clone(),
                live: Some(Arc::new(LivePage(Arc::clone(&ctl)))),
            }),
            false,
        ))
        // Every route, the page's included: the token, then the request bounds.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(ctl, guard))
}

pub async fn serve(listener: tokio::net::TcpListener, ctl: Arc<Control>) {
    if let Err(e) = axum::serve(listener, router(ctl)).await {
        tracing::error!("admin API: {e}");
    }
}

fn refuse(code: StatusCode, msg: &str) -> Response {
    (code, Json(json!({"error": msg}))).into_response()
}

/// Equal in time independent of where the strings differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Every call: the bearer token (when one is set), then the bounds on the query string and body.
async fn guard(
    State(c): Ctl,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(t) = &c.admin_token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !same_secret(given.as_bytes(), t.as_bytes()) {
            let mut r = refuse(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            return r;
        }
    }
    if req.uri().query().is_some_and(|q| q.len() > MAX_QUERY) {
        return refuse(
            StatusCode::URI_TOO_LONG,
            &format!("query string over {MAX_QUERY} bytes"),
        );
    }
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.parse::<u64>().unwrap_or(u64::MAX));
    if length.is_some_and(|n| n > MAX_BODY as u64) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body over {MAX_BODY} bytes"),
        );
    }
    if length.is_none() && req.headers().contains_key(header::TRANSFER_ENCODING) {
        return refuse(StatusCode::LENGTH_REQUIRED, "give a Content-Length");
    }
    next.run(req).await
}

/// A `port=` / `eni=` value over [`MAX_ID`] bytes.
fn long_id(v: &Option<String>, name: &str) -> Option<Response> {
    v.as_ref().filter(|x| x.len() > MAX_ID).map(|_| {
        refuse(
            StatusCode::BAD_REQUEST,
            &format!("{name}= is over {MAX_ID} bytes"),
        )
    })
}

/// Where `POST /pcap/start?dir=` may write: `dir` below the pcap directory `base` (relative to
/// it, or absolute inside it), created if missing; refused: `..`, a path outside `base`, a
/// symbolic link on the way (one could lead out). `None` is `base` itself.
pub fn pcap_dir_within(
    base: &std::path::Path,
    dir: Option<&std::path::Path>,
) -> Result<std::path::PathBuf, String> {
    use std::path::Component;
    std::fs::create_dir_all(base).map_err(|e| format!("{}: {e}", base.display()))?;
    let cbase = base
        .canonicalize()
        .map_err(|e| format!("{}: {e}", base.display()))?;
    let Some(d) = dir else {
        return Ok(cbase);
    };
    if d.components().any(|c| c == Component::ParentDir) {
        return Err(format!("dir={}: `..` is not allowed", d.display()));
    }
    let rel = if d.is_absolute() {
        d.strip_prefix(&cbase)
            .or_else(|_| d.strip_prefix(base))
            .map_err(|_| {
                format!(
                    "dir={}: outside the pcap directory {}",
                    d.display(),
                    cbase.display()
                )
            })?
    } else {
        d
    };
    let mut cur = cbase.clone();
    for c in rel.components() {
        let Component::Normal(name) = c else {
            continue;
        };
        cur.push(name);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "dir={}: {} is a symbolic link",
                    d.display(),
                    cur.display()
                ));
            }
            Ok(m) if !m.is_dir() => {
                return Err(format!(
                    "dir={}: {} is not a directory",
                    d.display(),
                    cur.display()
                ));
            }
            Ok(_) => {}
            Err(_) => std::fs::create_dir(&cur).map_err(|e| format!("{}: {e}", cur.display()))?,
        }
    }
    let real = cur
        .canonicalize()
        .map_err(|e| format!("{}: {e}", cur.display()))?;
    if !real.starts_with(&cbase) {
        return Err(format!("dir={}: outside the pcap directory", d.display()));
    }
    Ok(real)
}

/// What the web page reads from a running forwarder.
struct LivePage(Arc<Control>);

impl crate::ui::Live for LivePage {
    fn metrics(&self) -> String {
        self.0.render_metrics()
    }
    fn flows(&self, limit: usize) -> Value {
        let q = FlowQuery {
            limit: Some(limit),
            ..FlowQuery::default()
        };
        flow_page(&self.0, q)
    }
    fn flow_log_tail(&self, n: usize) -> Vec<String> {
        self.0
            .args
            .flow_log
            .as_deref()
            .map(|p| crate::ui::tail(p, n))
            .unwrap_or_default()
    }
}

/// `/`: the web page for a browser, the list of endpoints for anything else.
async fn index(headers: axum::http::HeaderMap) -> Response {
    let html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if html {
        return crate::ui::page();
    }
    Json(json!({
        "endpoints": [
            "GET /metrics", "GET /ports", "GET /route-tables",
            "GET /flows?addr=&eni=&offset=&limit=", "POST /flows/flush?addr=&eni=|all=true",
            "GET /nat?offset=&limit=", "GET /reload", "POST /reload",
            "POST /pcap/start?port=&dir=", "POST /pcap/stop?port=",
            "GET / (Accept: text/html): the web page"
        ]
    }))
    .into_response()
}

/// Runs `f` on the blocking pool (flow-table walks, compiles).
async fn blocking<T: Send + 'static>(
    ctl: Arc<Control>,
    f: impl FnOnce(&Control) -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(move || f(&ctl))
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
}

async fn metrics(State(c): Ctl) -> Response {
    match blocking(c, |c| c.render_metrics()).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(r) => r,
    }
}

impl Control {
    /// Pushes every total into the Prometheus recorder and renders it.
    pub fn render_metrics(&self) -> String {
        let s = &self.shared;
        let reg = &s.stats;
        for (series, v) in reg.totals() {
            reg.counter(&series, v);
        }
        let f = s.flows.stats();
        let plain = |n: &'static str| -> Series { (n, vec![]) };
        reg.counter(&plain("vpcfwd_flow_inserts_total"), f.conns.inserts);
        reg.counter(&plain("vpcfwd_flow_expiries_total"), f.conns.expiries);
        // "No room", per table; "no free port" is vpcfwd_nat_port_allocation_errors_total.
        for (table, n) in [
            ("sg", f.conns.refusals),
            ("nat", f.nat.refusals),
            ("privatelink", f.privatelink_refusals),
        ] {
            reg.counter(
                &("vpcfwd_flow_refusals_total", vec![("table", table.into())]),
                n,
            );
        }
        reg.counter(
            &plain("vpcfwd_flow_flushes_total"),
            self.flushed.load(Ordering::Relaxed),
        );
        reg.counter(
            &plain("vpcfwd_nat_port_allocation_errors_total"),
            f.nat.port_allocation_errors + f.privatelink_port_allocation_errors,
        );
        reg.counter(
            &plain("vpcfwd_nat_idle_timeouts_total"),
            f.nat.idle_timeouts,
        );
        let st = self
            .reload_status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        reg.counter(
            &("vpcfwd_reloads_total", vec![("result", "ok".into())]),
            st.ok,
        );
        reg.counter(
            &("vpcfwd_reloads_total", vec![("result", "error".into())]),
            st.errors,
        );
        reg.counter(
            &plain("vpcfwd_flow_log_records_total"),
            self.flow_log_written.load(Ordering::Relaxed),
        );
        let mut gauges: Vec<(Series, f64)> = vec![
            (plain("vpcfwd_flows"), f.conns.size as f64),
            (plain("vpcfwd_nat_bindings"), f.nat.active as f64),
            (
                plain("vpcfwd_privatelink_bindings"),
                f.privatelink_bindings as f64,
            ),
            (plain("vpcfwd_config_generation"), st.generation as f64),
            (
                plain("vpcfwd_last_reload_success"),
                if st.last_ok == Some(false) { 0.0 } else { 1.0 },
            ),
        ];
        for ((ext, dst, dport, proto), n) in s.flows.nat().ports_per_destination() {
            gauges.push((
                (
                    "vpcfwd_nat_ports_in_use",
                    vec![
                        ("address", ext.to_string()),
                        ("destination", dst.to_string()),
                        ("destination_port", dport.to_string()),
                        ("protocol", proto.to_string()),
                    ],
                ),
                f64::from(n),
            ));
        }
        reg.gauges(&gauges);
        for p in s.live.load().ports.iter() {
            let l = vec![("port", p.plan.port_id.clone())];
            reg.counter(
                &("vpcfwd_pcap_packets_total", l.clone()),
                p.capture.packets.load(Ordering::Relaxed),
            );
            reg.counter(
                &("vpcfwd_pcap_truncated_total", l),
                p.capture.truncated.load(Ordering::Relaxed),
            );
        }
        reg.render()
    }
}

async fn ports(State(c): Ctl) -> Json<Value> {
    let live = c.shared.live.load_full();
    let totals = c.shared.stats.totals();
    let count = |name: &'static str, port: &str, dir: &str| -> u64 {
        let labels = vec![("port", port.to_string()), ("direction", dir.to_string())];
        totals.get(&(name, labels)).copied().unwrap_or(0)
    };
    let (packets, bytes) = ("vpcfwd_port_packets_total", "vpcfwd_port_bytes_total");
    let v: Vec<Value> = live
        .ports
        .iter()
        .zip(live.snap.ports.iter())
        .map(|(p, spec)| {
            let kind = match spec.kind {
                PortKind::Eni(e) => json!({"network_interface_id": live.snap.enis[e].id}),
                PortKind::Internet => json!({"internet_gateway_id": live.snap.igw_id}),
                PortKind::Service(ep) => {
                    json!({"vpc_endpoint_id": live.snap.endpoints[ep].id})
                }
            };
            let id = &p.plan.port_id;
            json!({
                "port_id": id,
                "attachment": kind,
                "namespace": p.plan.namespace,
                "device": p.plan.device,
                "addresses": p.plan.addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "mtu": p.plan.mtu,
                "offload": if p.vnet { "vnet-hdr, TSO4/6, csum" } else { "none" },
                "queues": p.queues.len(),
                "pcap": p.capture.path().map(|x| x.display().to_string()),
                "rx_packets": count(packets, id, "rx"), "rx_bytes": count(bytes, id, "rx"),
                "tx_packets": count(packets, id, "tx"), "tx_bytes": count(bytes, id, "tx"),
            })
        })
        .collect();
    Json(json!({"generation": live.generation, "ports": v}))
}

async fn route_tables(State(c): Ctl) -> Json<Value> {
    let live = c.shared.live.load_full();
    let s = &live.snap;
    let v: Vec<Value> = s
        .route_tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let subnets: Vec<&str> = s
                .subnets
                .iter()
                .filter(|x| x.route_table.index() == i)
                .map(|x| x.id.as_str())
                .collect();
            let routes: Vec<Value> = t
                .routes
                .iter()
                .map(|r| {
                    let pl = match &r.source {
                        crate::snapshot::RouteSource::PrefixList { pl, .. } => Some(pl.clone()),
                        _ => None,
                    };
                    json!({
                        "destination": r.dest.to_string(),
                        "target": r.target_name(),
                        "origin": kind_name(&r.source),
                        "prefix_list_id": pl,
                        "won_over": r.won_over_text(),
                    })
                })
                .collect();
            json!({"route_table_id": t.id, "subnets": subnets, "routes": routes})
        })
        .collect();
    Json(json!({"generation": live.generation, "route_tables": v}))
}

#[derive(Debug, Deserialize, Default)]
struct FlowQuery {
    addr: Option<IpAddr>,
    eni: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
    all: Option<bool>,
}

/// The ends of a flow key, initiator first.
fn ends(k: &FlowKey, v: &FlowView) -> ((IpAddr, u16), (IpAddr, u16)) {
    let v6 = k.class & 0x80 != 0;
    let lo = (bits_addr(k.lo, v6), k.lo_port);
    let hi = (bits_addr(k.hi, v6), k.hi_port);
    match v.init {
        Side::Lo => (lo, hi),
        Side::Hi => (hi, lo),
    }
}

/// The egress-only internet gateway's connections, named by its id.
fn snap_eigw(s: &crate::snapshot::Snapshot) -> Option<(Zone, String)> {
    s.eigw_id.clone().map(|id| (crate::pipeline::EIGW_ZONE, id))
}

impl Control {
    /// ENI id (or egress-only internet gateway id) per flow-table zone, from the running snapshot.
    fn zone_names(&self) -> BTreeMap<Zone, String> {
        self.shared
            .live
            .load()
            .snap
            .enis
            .iter()
            .map(|e| (e.zone, e.id.clone()))
            .chain(snap_eigw(&self.shared.live.load().snap))
            .collect()
    }

    fn matches(q: &FlowQuery, names: &BTreeMap<Zone, String>, k: &FlowKey, v: &FlowView) -> bool {
        let ((a, _), (b, _)) = ends(k, v);
        q.addr.is_none_or(|x| x == a || x == b)
            && q.eni
                .as_ref()
                .is_none_or(|e| names.get(&v.zone).is_some_and(|n| n == e))
    }
}

async fn flows(State(c): Ctl, Query(q): Query<FlowQuery>) -> Response {
    if let Some(r) = long_id(&q.eni, "eni") {
        return r;
    }
    let r = blocking(c, move |c| flow_page(c, q)).await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

/// One page of the flow table (blocking: walks the shards).
fn flow_page(c: &Control, q: FlowQuery) -> Value {
    let names = c.zone_names();
    let now = c.shared.now();
    let mut rows: Vec<(String, Value)> = Vec::new();
    c.shared.flows.conns().for_each(now, |k, v| {
        if !Control::matches(&q, &names, k, v) {
            return;
        }
        let ((a, ap), (b, bp)) = ends(k, v);
        let eni = names
            .get(&v.zone)
            .cloned()
            .unwrap_or_else(|| format!("zone-{}", v.zone));
        let sort = format!("{eni} {a} {ap} {b} {bp} {}", k.proto);
        rows.push((
            sort,
            json!({
                "network_interface_id": eni,
                "protocol": k.proto,
                "src": a.to_string(), "src_port": ap,
                "dst": b.to_string(), "dst_port": bp,
                "state": format!("{:?}", v.state),
                "tracked": v.tracked,
                "expires_in_secs": (v.expires - now).as_secs(),
            }),
        ));
    });
    rows.sort_by(|x, y| x.0.cmp(&y.0));
    page(
        rows.into_iter().map(|r| r.1).collect(),
        q.offset,
        q.limit,
        "flows",
    )
}

fn page(rows: Vec<Value>, offset: Option<usize>, limit: Option<usize>, name: &str) -> Value {
    let total = rows.len();
    let offset = offset.unwrap_or(0).min(total);
    let limit = limit.unwrap_or(100).clamp(1, 10_000);
    let items: Vec<Value> = rows.into_iter().skip(offset).take(limit).collect();
    json!({"total": total, "offset": offset, "limit": limit, name: items})
}

async fn flush(State(c): Ctl, Query(q): Query<FlowQuery>) -> Response {
    if let Some(r) = long_id(&q.eni, "eni") {
        return r;
    }
    if q.addr.is_none() && q.eni.is_none() && q.all != Some(true) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "give addr=, eni= or all=true"})),
        )
            .into_response();
    }
    let r = blocking(c, move |c| {
        let names = c.zone_names();
        let n = c
            .shared
            .flows
            .conns()
            .remove_matching(|k, v| Control::matches(&q, &names, k, v));
        c.flushed.fetch_add(n as u64, Ordering::Relaxed);
        tracing::info!("admin: flushed {n} flows");
        n
    })
    .await;
    match r {
        Ok(n) => Json(json!({"flushed": n})).into_response(),
        Err(r) => r,
    }
}

async fn nat(State(c): Ctl, Query(q): Query<FlowQuery>) -> Response {
    if let Some(r) = long_id(&q.eni, "eni") {
        return r;
    }
    let r = blocking(c, move |c| {
        let now = c.shared.now();
        let live = c.shared.live.load_full();
        let gw = |a: std::net::Ipv4Addr| {
            live.snap
                .nat_gateways
                .iter()
                .find(|n| n.public_ips.contains(&a) || n.private_ips.contains(&a))
                .map(|n| n.id.clone())
        };
        let mut rows = Vec::new();
        c.shared.flows.nat().for_each(now, |f, ext, eport, exp| {
            if q.addr
                .is_none_or(|x| x == IpAddr::V4(f.src) || x == IpAddr::V4(f.dst))
            {
                rows.push((
                    (f.src, f.sport, f.dst, f.dport, f.proto),
                    json!({
                        "nat_gateway_id": gw(ext),
                        "protocol": f.proto,
                        "inside": format!("{}:{}", f.src, f.sport),
                        "destination": format!("{}:{}", f.dst, f.dport),
                        "translated": format!("{ext}:{eport}"),
                        "expires_in_secs": (exp - now).as_secs(),
                    }),
                ));
            }
        });
        rows.sort_by_key(|r| r.0);
        let mut v = page(rows.into_iter().map(|r| r.1).collect(), q.offset, q.limit, "bindings");
        v["ports_per_destination"] = c
            .shared
            .flows
            .nat()
            .ports_per_destination()
            .into_iter()
            .map(|((ext, dst, dport, proto), n)| {
                json!({"address": ext.to_string(), "destination": format!("{dst}:{dport}"),
                       "protocol": proto, "ports_in_use": n, "limit": crate::flow::xlat::MAX_PER_DESTINATION})
            })
            .collect();
        v
    })
    .await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn reload_status(State(c): Ctl) -> Json<Value> {
    let st = c
        .reload_status
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    Json(json!(st))
}

async fn reload(State(c): Ctl) -> Response {
    match blocking(c, |c| c.reload("admin API")).await {
        Ok(Ok(g)) => Json(json!({"ok": true, "generation": g})).into_response(),
        Ok(Err(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"ok": false, "errors": errors, "note": "the running config is unchanged"})),
        )
            .into_response(),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
struct PcapQuery {
    port: Option<String>,
    dir: Option<std::path::PathBuf>,
}

async fn pcap_start(State(c): Ctl, Query(q): Query<PcapQuery>) -> Response {
    if let Some(r) = long_id(&q.port, "port") {
        return r;
    }
    if q.dir
        .as_ref()
        .is_some_and(|d| d.as_os_str().len() > MAX_DIR)
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!("dir= is over {MAX_DIR} bytes"),
        );
    }
    let r = blocking(c, move |c| -> Result<Vec<String>, String> {
        let dir = {
            let mut d = c.pcap_dir.lock().unwrap_or_else(|e| e.into_inner());
            let dir = match &q.dir {
                Some(x) => pcap_dir_within(&c.pcap_base, Some(x))?,
                // The last directory chosen (absolute, below the base), else the base.
                None => match d.as_deref() {
                    Some(x) if x != c.pcap_base => pcap_dir_within(&c.pcap_base, Some(x))?,
                    _ => pcap_dir_within(&c.pcap_base, None)?,
                },
            };
            *d = Some(dir.clone());
            dir
        };
        let live = c.shared.live.load_full();
        let mut files = Vec::new();
        for p in live
            .ports
            .iter()
            .filter(|p| q.port.as_ref().is_none_or(|x| *x == p.plan.port_id))
        {
            let f = c.capture_start(p, &dir).map_err(|e| e.to_string())?;
            files.push(f.display().to_string());
        }
        if files.is_empty() {
            return Err(format!("no port {}", q.port.clone().unwrap_or_default()));
        }
        Ok(files)
    })
    .await;
    match r {
        Ok(Ok(files)) => Json(json!({"capturing": files})).into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
        Err(r) => r,
    }
}

async fn pcap_stop(State(c): Ctl, Query(q): Query<PcapQuery>) -> Response {
    if let Some(r) = long_id(&q.port, "port") {
        return r;
    }
    let live = c.shared.live.load_full();
    let files: Vec<String> = live
        .ports
        .iter()
        .filter(|p| q.port.as_ref().is_none_or(|x| *x == p.plan.port_id))
        .filter_map(|p| p.capture.stop())
        .map(|f| f.display().to_string())
        .collect();
    Json(json!({"stopped": files})).into_response()
}
