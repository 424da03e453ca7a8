//! `vpcfwd top`: a running forwarder in the terminal — packets/s per port, drops per reason
//! and per object, the flow table's first flows, NAT ports in use — refreshed every second
//! from the admin API (`/metrics`, `/ports`, `/flows`, `/nat`). `q`, Esc or Ctrl-C quits.

use crate::control::client::{AdminArgs, request};
use crate::ui::prom;
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct TopArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Refresh interval in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub interval_ms: u64,
}

/// One reading of the admin API.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub at: Option<Instant>,
    pub summary: Value,
    pub ports: Value,
    pub flows: Value,
    pub nat: Value,
}

fn get(addr: &str, path: &str) -> Result<String, String> {
    match request(addr, "GET", path)? {
        (200, body) => Ok(body),
        (code, body) => Err(format!("{path}: HTTP {code}: {body}")),
    }
}

fn get_json(addr: &str, path: &str) -> Result<Value, String> {
    serde_json::from_str(&get(addr, path)?).map_err(|e| format!("{path}: {e}"))
}

/// Reads `/metrics`, `/ports`, `/flows`, `/nat` once.
pub fn fetch(addr: &str) -> Result<Sample, String> {
    let metrics = prom::parse(&get(addr, "/metrics")?);
    Ok(Sample {
        at: Some(Instant::now()),
        summary: prom::summary(&metrics),
        ports: get_json(addr, "/ports")?,
        flows: get_json(addr, "/flows?limit=50")?,
        nat: get_json(addr, "/nat?limit=1")?,
    })
}

/// What the screen shows: the latest sample and the one before (for rates).
#[derive(Debug, Default)]
pub struct Model {
    pub admin: String,
    pub now: Sample,
    pub prev: Option<Sample>,
    pub error: Option<String>,
}

impl Model {
    fn seconds(&self) -> f64 {
        match (&self.prev, self.now.at) {
            (Some(p), Some(n)) => {
                p.at.map_or(1.0, |a| n.duration_since(a).as_secs_f64().max(0.001))
            }
            _ => 1.0,
        }
    }

    /// Per-second rate of a counter between the last two samples.
    fn rate(&self, now: f64, prev: impl Fn(&Sample) -> Option<f64>) -> f64 {
        match self.prev.as_ref().and_then(prev) {
            Some(p) => ((now - p) / self.seconds()).max(0.0),
            None => 0.0,
        }
    }
}

fn n(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Draws one frame.
pub fn draw(f: &mut Frame, m: &Model) {
    let [head, top, mid, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Percentage(35),
        Constraint::Percentage(30),
        Constraint::Fill(1),
    ])
    .areas(f.area());
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let title = match &m.error {
        Some(e) => format!("vpcfwd top — {} — ERROR: {e} — q quits", m.admin),
        None => format!(
            "vpcfwd top — {} — generation {} — {:.0} flows — q quits",
            m.admin,
            m.now.ports["generation"],
            n(&m.now.summary["flow_count"])
        ),
    };
    f.render_widget(Paragraph::new(Line::styled(title, bold)), head);

    // Ports.
    let [ports_area, drops_area] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Fill(1)]).areas(top);
    let mut rows = Vec::new();
    for p in m.now.ports["ports"].as_array().into_iter().flatten() {
        let id = p["port_id"].as_str().unwrap_or("?").to_string();
        let prev = |k: &'static str| {
            let id = id.clone();
            move |s: &Sample| {
                s.ports["ports"]
                    .as_array()?
                    .iter()
                    .find(|q| q["port_id"] == id.as_str())
                    .map(|q| n(&q[k]))
            }
        };
        let rx = m.rate(n(&p["rx_packets"]), prev("rx_packets"));
        let tx = m.rate(n(&p["tx_packets"]), prev("tx_packets"));
        let att = p["attachment"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(|v| v.as_str())
            .unwrap_or("-")
            .to_string();
        rows.push(Row::new(vec![
            id,
            att,
            format!("{rx:.0}"),
            format!("{tx:.0}"),
            p["rx_packets"].to_string(),
            p["tx_packets"].to_string(),
        ]));
    }
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(10),
                Constraint::Length(14),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(9),
                Constraint::Length(9),
            ],
        )
        .header(Row::new(["PORT", "ATTACHED", "RX/s", "TX/s", "RX", "TX"]).style(bold))
        .block(Block::bordered().title(" ports (packets) ")),
        ports_area,
    );

    // Drops per reason.
    let drops: BTreeMap<String, f64> = m.now.summary["drops"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), n(v))).collect())
        .unwrap_or_default();
    let rows: Vec<Row> = drops
        .iter()
        .map(|(r, v)| {
            let rate = m.rate(*v, |s| s.summary["drops"][r.as_str()].as_f64());
            Row::new(vec![r.clone(), format!("{v:.0}"), format!("{rate:.0}")])
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Fill(1),
                Constraint::Length(9),
                Constraint::Length(7),
            ],
        )
        .header(Row::new(["REASON", "DROPS", "/s"]).style(bold))
        .block(Block::bordered().title(" drops by reason ")),
        drops_area,
    );

    // Drops per object, NAT ports.
    let [obj_area, nat_area] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Fill(1)]).areas(mid);
    let rows: Vec<Row> = m.now.summary["object_drops"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            Row::new(vec![
                o["object"].as_str().unwrap_or("").to_string(),
                o["detail"].as_str().unwrap_or("").to_string(),
                format!("{:.0}", n(&o["value"])),
            ])
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(16),
                Constraint::Fill(1),
                Constraint::Length(7),
            ],
        )
        .header(Row::new(["OBJECT", "WHERE", "DROPS"]).style(bold))
        .block(Block::bordered().title(" drops per object (NACL, SG, route table) ")),
        obj_area,
    );
    let rows: Vec<Row> = m.now.nat["ports_per_destination"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            Row::new(vec![
                x["address"].as_str().unwrap_or("").to_string(),
                x["destination"].as_str().unwrap_or("").to_string(),
                x["protocol"].to_string(),
                format!("{}/{}", x["ports_in_use"], x["limit"]),
            ])
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(15),
                Constraint::Fill(1),
                Constraint::Length(5),
                Constraint::Length(11),
            ],
        )
        .header(Row::new(["NAT ADDRESS", "DESTINATION", "PROTO", "PORTS"]).style(bold))
        .block(Block::bordered().title(format!(
            " NAT ports in use ({} bindings) ",
            m.now.nat["total"]
        ))),
        nat_area,
    );

    // Flows.
    let rows: Vec<Row> = m.now.flows["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            Row::new(vec![
                x["network_interface_id"].as_str().unwrap_or("").to_string(),
                x["protocol"].to_string(),
                format!("{}:{}", x["src"].as_str().unwrap_or(""), x["src_port"]),
                format!("{}:{}", x["dst"].as_str().unwrap_or(""), x["dst_port"]),
                x["state"].as_str().unwrap_or("").to_string(),
                format!("{}s", x["expires_in_secs"]),
            ])
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(16),
                Constraint::Length(5),
                Constraint::Length(22),
                Constraint::Length(22),
                Constraint::Fill(1),
                Constraint::Length(7),
            ],
        )
        .header(
            Row::new(["ENI", "PROTO", "INITIATOR", "RESPONDER", "STATE", "EXPIRES"]).style(bold),
        )
        .block(Block::bordered().title(format!(" flows ({} tracked) ", m.now.flows["total"]))),
        bottom,
    );
}

/// Runs `vpcfwd top` until q / Esc / Ctrl-C.
pub fn run(a: &TopArgs) -> ExitCode {
    let mut m = Model {
        admin: a.admin.admin.clone(),
        ..Model::default()
    };
    // Fail before taking over the terminal when nothing answers at all.
    match fetch(&m.admin) {
        Ok(s) => m.now = s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        eprintln!("error: vpcfwd top needs a terminal (for a script: vpcfwd stats / flows)");
        return ExitCode::from(1);
    }
    let mut term = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: vpcfwd top: the terminal: {e}");
            return ExitCode::from(1);
        }
    };
    let interval = Duration::from_millis(a.interval_ms.max(100));
    let result = (|| -> std::io::Result<()> {
        loop {
            term.draw(|f| draw(f, &m))?;
            let deadline = Instant::now() + interval;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                if event::poll(left)?
                    && let Event::Key(k) = event::read()?
                    && k.kind == KeyEventKind::Press
                    && (matches!(k.code, KeyCode::Char('q') | KeyCode::Esc)
                        || (k.code == KeyCode::Char('c')
                            && k.modifiers.contains(KeyModifiers::CONTROL)))
                {
                    return Ok(());
                }
            }
            match fetch(&m.admin) {
                Ok(s) => {
                    m.prev = Some(std::mem::replace(&mut m.now, s));
                    m.error = None;
                }
                Err(e) => m.error = Some(e),
            }
        }
    })();
    ratatui::restore();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use serde_json::json;

    fn sample(rx: u64, drops: u64) -> Sample {
        let text = format!(
            "vpcfwd_port_packets_total{{port=\"app\",direction=\"rx\"}} {rx}\n\
             vpcfwd_drops_total{{reason=\"NACL_DENY\"}} {drops}\n\
             vpcfwd_nacl_drops_total{{network_acl=\"acl-private\",direction=\"outbound\",rule=\"90\"}} {drops}\n\
             vpcfwd_flows 1\n"
        );
        Sample {
            at: Some(Instant::now()),
            summary: prom::summary(&prom::parse(&text)),
            ports: json!({"generation": 1, "ports": [{"port_id": "app",
                "attachment": {"network_interface_id": "eni-app"}, "rx_packets": rx, "tx_packets": 0}]}),
            flows: json!({"total": 1, "flows": [{"network_interface_id": "eni-app", "protocol": 6,
                "src": "10.0.2.10", "src_port": 40000, "dst": "203.0.113.100", "dst_port": 80,
                "state": "TcpEstablished", "expires_in_secs": 300}]}),
            nat: json!({"total": 1, "ports_per_destination": [{"address": "198.51.100.5",
                "destination": "203.0.113.100:80", "protocol": 6, "ports_in_use": 1, "limit": 55000}]}),
        }
    }

    #[test]
    fn screen_shows_ports_drops_flows_nat() {
        let mut m = Model {
            admin: "127.0.0.1:9180".into(),
            now: sample(10, 1),
            prev: None,
            error: None,
        };
        m.prev = Some(std::mem::replace(&mut m.now, sample(30, 3)));
        let mut t = Terminal::new(TestBackend::new(140, 40)).unwrap();
        t.draw(|f| draw(f, &m)).unwrap();
        let screen: String = t
            .backend()
            .buffer()
            .content()
            .chunks(140)
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>() + "\n")
            .collect();
        for want in [
            "eni-app",
            "NACL_DENY",
            "acl-private",
            "198.51.100.5",
            "203.0.113.100:80",
            "TcpEstablished",
        ] {
            assert!(screen.contains(want), "{want} missing:\n{screen}");
        }
    }
}
