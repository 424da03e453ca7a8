//! `vpcfwd flows`, `vpcfwd stats`, `vpcfwd reload`: the admin API for people who live in a
//! terminal. A minimal blocking HTTP/1.1 client (one request per connection) is enough for a
//! loopback API, and keeps the CLI free of an HTTP client stack.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

/// Where the admin API listens (same default as `vpcfwd run --admin`).
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9180";

#[derive(Debug, Clone, clap::Args)]
pub struct AdminArgs {
    /// Admin API address of the running forwarder.
    #[arg(long, default_value = DEFAULT_ADMIN)]
    pub admin: String,
    /// The forwarder's admin token (sent as `Authorization: Bearer`), when it has one.
    #[arg(long, value_name = "TOKEN", conflicts_with = "admin_token_file")]
    pub admin_token: Option<String>,
    /// Read the admin token from this file (first line).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<std::path::PathBuf>,
}

impl AdminArgs {
    /// `addr` and the token to send.
    fn target(&self) -> Result<(String, Option<String>), String> {
        let token = match (&self.admin_token, &self.admin_token_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| format!("--admin-token-file {}: {e}", f.display()))?
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        Ok((self.admin.clone(), token))
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct FlowsArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Only flows with this address at either end.
    #[arg(long)]
    pub addr: Option<std::net::IpAddr>,
    /// Only flows tracked for this ENI.
    #[arg(long)]
    pub eni: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Also show series that are zero.
    #[arg(long)]
    pub all: bool,
}

/// One request; returns the status code and the body.
pub fn request(addr: &str, method: &str, path: &str) -> Result<(u16, String), String> {
    request_with(addr, None, method, path)
}

/// [`request`] with a bearer token.
pub fn request_with(
    addr: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
) -> Result<(u16, String), String> {
    let sa: std::net::SocketAddr = addr
        .parse()
        .map_err(|e| format!("{addr}: not an IP:port address ({e})"))?;
    let mut s = TcpStream::connect_timeout(&sa, Duration::from_secs(3))
        .map_err(|e| format!("admin API at {addr}: {e} (is `vpcfwd run` running?)"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let auth = token
        .as_ref()
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Length: 0\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| "malformed HTTP answer".to_string())?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "malformed HTTP status line".to_string())?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn get_json(a: &AdminArgs, method: &str, path: &str) -> Result<(u16, Value), String> {
    let (addr, token) = a.target()?;
    let (code, body) = request_with(&addr, token.as_deref(), method, path)?;
    let v = serde_json::from_str(&body).map_err(|e| format!("{path}: {e}: {body}"))?;
    Ok((code, v))
}

/// The body of a `200 OK` answer; anything else is printed as an error (exit code 1).
fn ok_body<T: std::fmt::Display>(answer: Result<(u16, T), String>) -> Result<T, ExitCode> {
    match answer {
        Ok((200, body)) => Ok(body),
        Ok((code, body)) => {
            eprintln!("error: HTTP {code}: {body}");
            Err(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(1))
        }
    }
}

pub fn flows(a: &FlowsArgs) -> ExitCode {
    let mut q = format!("/flows?offset={}&limit={}", a.offset, a.limit);
    if let Some(x) = a.addr {
        q.push_str(&format!("&addr={x}"));
    }
    if let Some(e) = &a.eni {
        q.push_str(&format!("&eni={e}"));
    }
    let v = match ok_body(get_json(&a.admin, "GET", &q)) {
        Ok(v) => v,
        Err(code) => return code,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<16} {:>5} {:<22} {:<22} {:<28} {:>7} {:>8}",
        "ENI", "PROTO", "INITIATOR", "RESPONDER", "STATE", "TRACKED", "EXPIRES"
    );
    for f in v["flows"].as_array().into_iter().flatten() {
        println!(
            "{:<16} {:>5} {:<22} {:<22} {:<28} {:>7} {:>7}s",
            f["network_interface_id"].as_str().unwrap_or("-"),
            f["protocol"],
            format!("{}:{}", f["src"].as_str().unwrap_or("-"), f["src_port"]),
            format!("{}:{}", f["dst"].as_str().unwrap_or("-"), f["dst_port"]),
            f["state"].as_str().unwrap_or("-"),
            f["tracked"],
            f["expires_in_secs"]
        );
    }
    println!(
        "({} of {} flows from offset {})",
        v["flows"].as_array().map_or(0, |x| x.len()),
        v["total"],
        v["offset"]
    );
    ExitCode::SUCCESS
}

pub fn stats(a: &StatsArgs) -> ExitCode {
    let body = match ok_body(
        a.admin
            .target()
            .and_then(|(addr, t)| request_with(&addr, t.as_deref(), "GET", "/metrics")),
    ) {
        Ok(b) => b,
        Err(code) => return code,
    };
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let zero = line
            .rsplit_once(' ')
            .is_some_and(|(_, v)| v.parse::<f64>().is_ok_and(|x| x == 0.0));
        if a.all || !zero {
            println!("{line}");
        }
    }
    ExitCode::SUCCESS
}

pub fn reload(a: &AdminArgs) -> ExitCode {
    match get_json(a, "POST", "/reload") {
        Ok((200, v)) => {
            println!("reloaded: generation {}", v["generation"]);
            ExitCode::SUCCESS
        }
        Ok((_, v)) => {
            for e in v["errors"].as_array().into_iter().flatten() {
                eprintln!("error: {}", e.as_str().unwrap_or("?"));
            }
            eprintln!("reload refused: the running config is unchanged");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
