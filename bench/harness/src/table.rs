//! Prefix tables on disk: one CIDR a line, plain or gzip-compressed (`.gz`), blank lines and
//! `#` comments skipped. Used by `vpcfwd bench lpm`, the criterion bench and the full-table tests.
//!
//! [`read_routes`] also takes a next hop after the prefix (`PREFIX [via] NEXT_HOP`, one word,
//! kept as text): the tables `vpcfwd lookup` answers from.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// A table split by family, in file order.
#[derive(Debug, Default, Clone)]
pub struct PrefixTable {
    pub v4: Vec<Ipv4Net>,
    pub v6: Vec<Ipv6Net>,
}

/// Why a table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a CIDR prefix: {text:?}")]
    BadLine {
        path: PathBuf,
        line: usize,
        text: String,
    },
}

/// A table whose lines may name a next hop, split by family, in file order.
#[derive(Debug, Default, Clone)]
pub struct RouteTable {
    pub v4: Vec<(Ipv4Net, Option<String>)>,
    pub v6: Vec<(Ipv6Net, Option<String>)>,
}

/// Reads a table; the first malformed line is reported with its number.
pub fn read(path: &Path) -> Result<PrefixTable, TableError> {
    parse(open(path)?, path)
}

/// Reads a table of `PREFIX [[via] NEXT_HOP]` lines (see [`parse_routes`]).
pub fn read_routes(path: &Path) -> Result<RouteTable, TableError> {
    parse_routes(open(path)?, path)
}

fn open(path: &Path) -> Result<BufReader<Box<dyn Read>>, TableError> {
    let file = std::fs::File::open(path).map_err(|source| TableError::Io {
        path: path.to_owned(),
        source,
    })?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(BufReader::new(reader))
}

/// Parses `PREFIX [[via] NEXT_HOP]` lines: the next hop is one word after the prefix (an
/// optional `via` before it, as `ip route` writes it), kept as text; blank lines and `#`
/// comments are skipped, the first malformed line is reported with its number.
pub fn parse_routes(r: impl BufRead, path: &Path) -> Result<RouteTable, TableError> {
    let mut t = RouteTable::default();
    for (i, line) in r.lines().enumerate() {
        let line = line.map_err(|source| TableError::Io {
            path: path.to_owned(),
            source,
        })?;
        let s = line.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        let bad = || TableError::BadLine {
            path: path.to_owned(),
            line: i + 1,
            text: s.chars().take(80).collect(),
        };
        let mut words = s.split_whitespace();
        let prefix = words.next().ok_or_else(bad)?;
        let nh = match (words.next(), words.next(), words.next()) {
            (None, _, _) => None,
            (Some("via"), Some(w), None) => Some(w.to_owned()),
            (Some(w), None, _) if w != "via" => Some(w.to_owned()),
            _ => return Err(bad()),
        };
        match prefix.parse::<IpNet>() {
            Ok(IpNet::V4(p)) => t.v4.push((p, nh)),
            Ok(IpNet::V6(p)) => t.v6.push((p, nh)),
            Err(_) => return Err(bad()),
        }
    }
    Ok(t)
}

/// Parses table text (see [`read`]); `path` only names the source in errors.
pub fn parse(r: impl BufRead, path: &Path) -> Result<PrefixTable, TableError> {
    let mut t = PrefixTable::default();
    for (i, line) in r.lines().enumerate() {
        let line = line.map_err(|source| TableError::Io {
            path: path.to_owned(),
            source,
        })?;
        let s = line.trim();
        if s.is_empty() || s.starts_with('#') {
            continue;
        }
        match s.parse::<IpNet>() {
            Ok(IpNet::V4(p)) => t.v4.push(p),
            Ok(IpNet::V6(p)) => t.v6.push(p),
            Err(_) => {
                return Err(TableError::BadLine {
                    path: path.to_owned(),
                    line: i + 1,
                    text: s.chars().take(80).collect(),
                });
            }
        }
    }
    Ok(t)
}

/// The shared data directory: `$VPCFWD_SHARED`, else `<crate>/../shared`, else `/work/shared`.
pub fn shared_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("VPCFWD_SHARED") {
        return d.into();
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared")
}

/// Path of the Tier-1 table, if present.
pub fn tier1_path() -> Option<PathBuf> {
    let p = shared_dir().join("data/prefixes-tier1.txt.gz");
    p.is_file().then_some(p)
}

/// Deterministic next hop for a prefix in tests and benchmarks: a hash of the prefix kept below
/// 2^20 (DPDK's `rte_lpm` stores 24 bits, and real tables need at least 2^20).
pub fn nh_of(bits: u128, len: u8) -> u32 {
    let mut x = bits ^ ((len as u128) << 120) ^ 0x9E37_79B9_7F4A_7C15;
    x = x.wrapping_mul(0x2545_F491_4F6C_DD1D_9E37_79B9_7F4A_7C15);
    ((x >> 64) as u64 ^ (x as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15) as u32 >> 12
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reports_bad_line() {
        let t = parse(&b"# c\n\n10.0.0.0/8\n2001:db8::/32\n"[..], Path::new("x")).unwrap();
        assert_eq!(t.v4, vec!["10.0.0.0/8".parse::<Ipv4Net>().unwrap()]);
        assert_eq!(t.v6.len(), 1);
        let e = parse(&b"10.0.0.0/8\nnope\n"[..], Path::new("x")).unwrap_err();
        assert_eq!(e.to_string(), "x:2: not a CIDR prefix: \"nope\"");
    }

    #[test]
    fn routes_with_and_without_next_hops() {
        let t = parse_routes(
            &b"10.0.0.0/8\n10.1.0.0/16 via 192.0.2.1\n::/0 eth0\n"[..],
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(t.v4[0].1, None);
        assert_eq!(t.v4[1].1.as_deref(), Some("192.0.2.1"));
        assert_eq!(t.v6[0].1.as_deref(), Some("eth0"));
        for bad in [
            "10.0.0.0/8 via",
            "10.0.0.0/8 a b",
            "10.0.0.0/8 via a b",
            "nope x",
        ] {
            let e = parse_routes(bad.as_bytes(), Path::new("x")).unwrap_err();
            assert!(matches!(e, TableError::BadLine { line: 1, .. }), "{bad}");
        }
    }
}
