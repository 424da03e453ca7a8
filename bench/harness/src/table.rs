//! Prefix tables on disk: one CIDR a line, plain or gzip-compressed (`.gz`), blank lines and
//! `#` comments skipped. Used by `vpcfwd bench lpm`, the criterion bench and the full-table tests.

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

/// Reads a table; the first malformed line is reported with its number.
pub fn read(path: &Path) -> Result<PrefixTable, TableError> {
    let io = |source| TableError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    parse(BufReader::new(reader), path)
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
}
