//! Reading classic pcap files (`trace --pcap`): the global header, then each record's
//! timestamp and IP packet, for `LINKTYPE_RAW` (what `vpcfwd run --pcap` writes) and Ethernet
//! captures (802.1Q tags skipped). A parser of bytes only: any input gives records or an
//! error, never a panic (fuzzed). The forwarder's writer is `vpcfwd`'s `io::pcap`.

use std::fmt;

/// Byte ranges of the global header and of a record header (fields in the file's byte order).
mod field {
    use std::ops::Range;
    pub(super) const MAGIC: Range<usize> = 0..4;
    pub(super) const VERSION_MAJOR: Range<usize> = 4..6;
    pub(super) const VERSION_MINOR: Range<usize> = 6..8;
    pub(super) const SNAPLEN: Range<usize> = 16..20;
    pub(super) const LINKTYPE: Range<usize> = 20..24;
    pub(super) const GLOBAL_LEN: usize = 24;
    pub(super) const TS_SEC: Range<usize> = 0..4;
    pub(super) const TS_FRAC: Range<usize> = 4..8;
    pub(super) const INCL_LEN: Range<usize> = 8..12;
    pub(super) const ORIG_LEN: Range<usize> = 12..16;
    pub(super) const RECORD_LEN: usize = 16;
}

/// Bytes of the global header.
pub const GLOBAL_HEADER_LEN: usize = field::GLOBAL_LEN;
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = field::RECORD_LEN;

/// Ethernet II framing.
mod ether {
    use std::ops::Range;
    pub(super) const TYPE: Range<usize> = 12..14;
    pub(super) const HEADER_LEN: usize = 14;
    /// An 802.1Q tag: 4 bytes, then the inner type.
    pub(super) const VLAN_TAG_LEN: usize = 4;
    pub(super) const TYPE_VLAN: u16 = 0x8100;
    pub(super) const TYPE_QINQ: u16 = 0x88a8;
    pub(super) const TYPE_IPV4: u16 = 0x0800;
    pub(super) const TYPE_IPV6: u16 = 0x86dd;
}

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// `LINKTYPE_RAW`: each record is an IPv4 or IPv6 packet.
pub const LINKTYPE_RAW: u32 = 101;

/// Why a capture cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcapError {
    /// Shorter than the global header, or not a pcap magic number (pcapng is not read).
    NotPcap,
    /// A link type other than raw IP and Ethernet.
    LinkType(u32),
    /// Record `index` (0-based) is cut short.
    TruncatedRecord { index: usize },
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::NotPcap => write!(f, "not a pcap file (pcapng is not supported)"),
            PcapError::LinkType(t) => write!(
                f,
                "link type {t}: only LINKTYPE_RAW (101) and Ethernet (1) are read"
            ),
            PcapError::TruncatedRecord { index } => {
                write!(f, "packet {} is cut short", index + 1)
            }
        }
    }
}

/// One record: when it was captured, and its IP packet (`None`: a frame that is not IP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Nanoseconds since the Unix epoch.
    pub nanos: u64,
    pub packet: Option<&'a [u8]>,
}

/// Reads every record of `data`: all of them, or the first error.
pub fn read(data: &[u8]) -> Result<Vec<Record<'_>>, PcapError> {
    let g = data.get(..field::GLOBAL_LEN).ok_or(PcapError::NotPcap)?;
    let word = |b: &[u8], r: std::ops::Range<usize>, le: bool| -> u32 {
        let w = [b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let (le, nanos) = match (word(g, field::MAGIC, true), word(g, field::MAGIC, false)) {
        (MAGIC_MICROS, _) => (true, false),
        (MAGIC_NANOS, _) => (true, true),
        (_, MAGIC_MICROS) => (false, false),
        (_, MAGIC_NANOS) => (false, true),
        _ => return Err(PcapError::NotPcap),
    };
    let link = word(g, field::LINKTYPE, le);
    if link != LINKTYPE_RAW && link != LINKTYPE_ETHERNET {
        return Err(PcapError::LinkType(link));
    }
    let mut out = Vec::new();
    let mut rest = &data[field::GLOBAL_LEN..];
    while !rest.is_empty() {
        let index = out.len();
        let h = rest
            .get(..field::RECORD_LEN)
            .ok_or(PcapError::TruncatedRecord { index })?;
        let incl = word(h, field::INCL_LEN, le) as usize;
        let frame = rest
            .get(field::RECORD_LEN..field::RECORD_LEN.saturating_add(incl))
            .ok_or(PcapError::TruncatedRecord { index })?;
        let sec = u64::from(word(h, field::TS_SEC, le));
        let frac = u64::from(word(h, field::TS_FRAC, le));
        let frac_nanos = if nanos {
            frac
        } else {
            frac.saturating_mul(1000)
        };
        out.push(Record {
            nanos: sec.saturating_mul(1_000_000_000).saturating_add(frac_nanos),
            packet: if link == LINKTYPE_RAW {
                Some(frame)
            } else {
                ethernet_payload(frame)
            },
        });
        rest = &rest[field::RECORD_LEN + incl..];
    }
    Ok(out)
}

/// The IP packet of an Ethernet frame (802.1Q / QinQ tags skipped), or `None`.
fn ethernet_payload(frame: &[u8]) -> Option<&[u8]> {
    let mut at = ether::TYPE.start;
    loop {
        let t = frame.get(at..at + 2)?;
        match u16::from_be_bytes([t[0], t[1]]) {
            ether::TYPE_VLAN | ether::TYPE_QINQ => at += ether::VLAN_TAG_LEN,
            ether::TYPE_IPV4 | ether::TYPE_IPV6 => {
                return frame.get(at + (ether::HEADER_LEN - ether::TYPE.start)..);
            }
            _ => return None,
        }
    }
}

/// The global header of a little-endian, microsecond `LINKTYPE_RAW` capture (version 2.4)
/// whose records hold at most `snaplen` bytes.
pub fn raw_global_header(snaplen: u32) -> [u8; GLOBAL_HEADER_LEN] {
    let mut h = [0u8; GLOBAL_HEADER_LEN];
    h[field::MAGIC].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
    h[field::VERSION_MAJOR].copy_from_slice(&2u16.to_le_bytes());
    h[field::VERSION_MINOR].copy_from_slice(&4u16.to_le_bytes());
    h[field::SNAPLEN].copy_from_slice(&snaplen.to_le_bytes());
    h[field::LINKTYPE].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
    h
}

/// A record header for that capture: captured at `unix_micros`, `incl` bytes kept of a packet
/// of `orig` bytes.
pub fn raw_record_header(unix_micros: u64, incl: u32, orig: u32) -> [u8; RECORD_HEADER_LEN] {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[field::TS_SEC].copy_from_slice(&((unix_micros / 1_000_000) as u32).to_le_bytes());
    h[field::TS_FRAC].copy_from_slice(&((unix_micros % 1_000_000) as u32).to_le_bytes());
    h[field::INCL_LEN].copy_from_slice(&incl.to_le_bytes());
    h[field::ORIG_LEN].copy_from_slice(&orig.to_le_bytes());
    h
}

/// Writes a `LINKTYPE_RAW` capture of `packets` (nanoseconds since the epoch, bytes) with
/// microsecond timestamps, little-endian: for tests and tools.
pub fn write_raw(packets: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = raw_global_header(u32::from(u16::MAX)).to_vec();
    for (ns, p) in packets {
        let len = p.len() as u32;
        out.extend_from_slice(&raw_record_header(ns / 1000, len, len));
        out.extend_from_slice(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_round_trip_and_bad_input() {
        let a = [0x45u8, 0, 0, 20];
        let f = write_raw(&[(1_500_000_000, &a), (2_000_001_000, &[])]);
        let r = read(&f).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].nanos, r[0].packet), (1_500_000_000, Some(&a[..])));
        assert_eq!(r[1].nanos, 2_000_001_000);
        assert_eq!(read(&f[..10]), Err(PcapError::NotPcap));
        assert_eq!(
            read(&f[..f.len() - 1]),
            Err(PcapError::TruncatedRecord { index: 1 })
        );
        for n in 0..f.len() {
            let _ = read(&f[..n]);
        }
    }

    #[test]
    fn ethernet_frames_yield_their_ip_packet() {
        let mut f = write_raw(&[]);
        f[field::LINKTYPE].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x81, 0, 0, 1, 0x08, 0, 0x45, 0]);
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 1, 2]);
        for fr in [&frame, &arp] {
            let mut h = [0u8; 16];
            h[8..12].copy_from_slice(&(fr.len() as u32).to_le_bytes());
            f.extend_from_slice(&h);
            f.extend_from_slice(fr);
        }
        let r = read(&f).unwrap();
        assert_eq!(r[0].packet, Some(&[0x45u8, 0][..]));
        assert_eq!(r[1].packet, None);
    }
}
