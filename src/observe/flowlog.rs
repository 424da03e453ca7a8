//! VPC flow logs in AWS's default format, version 2 (semantics doc §10):
//!
//! `version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status`
//!
//! or a custom format of the fields of versions 2–5 (`--flow-log-format`, [`super::format`]).
//! Besides the instances' and the interface endpoints' ENIs, a NAT gateway's own network
//! interface has records, as AWS writes them (`pkt-srcaddr` is the instance behind it).
//!
//! One record per ENI per 5-tuple (and action) per aggregation interval. Workers aggregate into
//! their own bounded map ([`Aggregator`], no lock, no allocation once warm) and hand it to the
//! writer when the interval ends; the writer merges the workers' maps of one interval (a flow
//! may be seen by several workers) and appends the records to a file that rotates by size.
//! Keys beyond the map's bound are counted and reported as a `SKIPDATA` record of their ENI,
//! as AWS does when it cannot capture everything.
//!
//! Memory stays bounded and is reused, interval after interval: each worker's map is reserved
//! once (its pages become resident as keys land on them: 65,536 keys hold about 15.9 MB); the
//! buffer an interval's records travel to the writer in comes back to the worker
//! ([`Batch::back`]); the writer keeps one emptied interval map and its sort buffer for the
//! next interval and streams the records to the file, so a second flood of records reuses
//! what the first one made resident instead of allocating again.

use super::Five;
use super::format::{Field, Format};
use crate::config::aws;
use crate::snapshot::Snapshot;
use crate::wire::IpProtocol;
use rustc_hash::FxHashMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};

/// The field names of the default format, in order (what a parser of AWS flow logs expects).
pub const FIELDS: [&str; 14] = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// Traffic AWS never logs: the VPC resolver and router addresses, instance metadata, Time Sync,
/// DHCP.
pub fn excluded(snap: &Snapshot, f: &Five) -> bool {
    let special = |a: IpAddr| match a {
        IpAddr::V4(v) => {
            v == aws::METADATA_V4
                || v == aws::TIME_SYNC_V4
                || v == aws::RESOLVER_LINK_LOCAL
                || snap.vpc_cidrs.iter().any(|n| match n {
                    ipnet::IpNet::V4(n) => v == aws::router(*n) || v == aws::resolver(*n),
                    ipnet::IpNet::V6(_) => false,
                })
        }
        // IPv6 metadata, DNS and Time Sync.
        IpAddr::V6(v) => aws::SERVICES_V6.contains(&v),
    };
    let dhcp = IpProtocol::from(f.proto) == IpProtocol::Udp
        && matches!(
            (f.sport, f.dport),
            (68, 67) | (67, 68) | (546, 547) | (547, 546)
        );
    dhcp || special(f.src) || special(f.dst)
}

/// An aggregation key: the ENI (by flow-table zone, stable across reloads), the tuple it saw,
/// and the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub zone: u16,
    pub five: Five,
    pub accept: bool,
}

/// Packets, bytes and first/last second of a key within an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agg {
    pub packets: u64,
    pub bytes: u64,
    pub first: u64,
    pub last: u64,
    pub ext: Ext,
}

/// What the fields beyond version 2 need of a record (the first packet's, flags OR-ed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ext {
    /// From the ENI's point of view: `Some(true)` egress, `Some(false)` ingress.
    pub egress: Option<bool>,
    /// The packet-level source and destination (`pkt-srcaddr`, `pkt-dstaddr`).
    pub pkt: Option<(IpAddr, IpAddr)>,
    /// `traffic-path` code of an egress record (0: `-`).
    pub path: u8,
    /// OR of the packets' flags, AWS's encoding ([`super::format::aws_tcp_flags`]).
    pub tcp_flags: u8,
}

/// The flow-table zones of the NAT gateways' own network interfaces: `NAT_ZONE_BASE + index`
/// (ENI zones count up from 0 and stay far below).
pub const NAT_ZONE_BASE: u16 = 0xff00;

/// One worker's records of one interval.
#[derive(Debug, Default)]
pub struct Batch {
    /// Start of the interval (Unix seconds).
    pub interval: u64,
    pub records: Vec<(Key, Agg)>,
    /// Keys not recorded because the map was full, per ENI zone.
    pub skipped: Vec<(u16, u64)>,
    /// The snapshot the worker used, to name the zones' ENIs.
    pub snap: Option<Arc<Snapshot>>,
    /// Where the writer returns `records`' buffer, emptied, for the worker's next interval.
    pub back: Option<Sender<Vec<(Key, Agg)>>>,
}

/// A worker's bounded aggregation map for the current interval.
pub struct Aggregator {
    map: FxHashMap<Key, Agg>,
    skipped: FxHashMap<u16, u64>,
    cap: usize,
    interval_secs: u64,
    /// Start of the current interval (Unix seconds).
    pub interval: u64,
    /// Record buffers the writer gave back (see [`Batch::back`]).
    returned: Receiver<Vec<(Key, Agg)>>,
    give_back: Sender<Vec<(Key, Agg)>>,
}

impl Aggregator {
    /// `cap` keys per interval (reserved up front), intervals of `interval_secs` aligned to the
    /// Unix epoch.
    pub fn new(cap: usize, interval_secs: u64, now_unix: u64) -> Aggregator {
        let interval_secs = interval_secs.max(1);
        let mut map = FxHashMap::default();
        map.reserve(cap);
        let (give_back, returned) = std::sync::mpsc::channel();
        Aggregator {
            map,
            skipped: FxHashMap::default(),
            cap,
            interval_secs,
            interval: now_unix - now_unix % interval_secs,
            returned,
            give_back,
        }
    }

    #[inline]
    pub fn add(&mut self, key: Key, packets: u64, bytes: u64, now_unix: u64) {
        self.add_ext(key, Ext::default(), packets, bytes, now_unix);
    }

    /// `add`, with what the fields beyond version 2 need.
    #[inline]
    pub fn add_ext(&mut self, key: Key, ext: Ext, packets: u64, bytes: u64, now_unix: u64) {
        if let Some(a) = self.map.get_mut(&key) {
            a.packets += packets;
            a.bytes += bytes;
            a.last = now_unix;
            a.ext.tcp_flags |= ext.tcp_flags;
        } else if self.map.len() < self.cap {
            self.map.insert(
                key,
                Agg {
                    packets,
                    bytes,
                    first: now_unix,
                    last: now_unix,
                    ext,
                },
            );
        } else {
            *self.skipped.entry(key.zone).or_default() += 1;
        }
    }

    /// Whether the interval containing `now_unix` is a later one (time to hand the batch over).
    #[inline]
    pub fn due(&self, now_unix: u64) -> bool {
        now_unix >= self.interval + self.interval_secs
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && self.skipped.is_empty()
    }

    /// Hands the interval's records over and starts the interval containing `now_unix`. The
    /// records travel in a buffer the writer gave back, if one came back: one or two buffers
    /// circulate per worker (more only while the writer lags; extra ones are let go here).
    pub fn take(&mut self, now_unix: u64, snap: Option<Arc<Snapshot>>) -> Batch {
        let mut records = Vec::new();
        if !self.map.is_empty() {
            records = self.returned.try_recv().unwrap_or_default();
            while let Ok(extra) = self.returned.try_recv() {
                if extra.capacity() > records.capacity() {
                    records = extra;
                }
            }
            records.clear();
            records.extend(self.map.drain());
        }
        let b = Batch {
            interval: self.interval,
            records,
            skipped: self.skipped.drain().collect(),
            snap,
            back: Some(self.give_back.clone()),
        };
        self.interval = now_unix - now_unix % self.interval_secs;
        b
    }
}

/// Formats one ACCEPT/REJECT record.
pub fn format_record(account: &str, eni: &str, k: &Key, a: &Agg) -> String {
    let f = &k.five;
    format!(
        "2 {account} {eni} {} {} {} {} {} {} {} {} {} {} OK",
        f.src,
        f.dst,
        f.sport,
        f.dport,
        f.proto,
        a.packets,
        a.bytes,
        a.first,
        a.last,
        if k.accept { "ACCEPT" } else { "REJECT" }
    )
}

/// Formats the record of an ENI whose records were partly skipped in `[start, end]`.
pub fn format_skipdata(account: &str, eni: &str, start: u64, end: u64) -> String {
    format!("2 {account} {eni} - - - - - - - {start} {end} - SKIPDATA")
}

/// Formats the record of an ENI that saw no traffic in `[start, end]`.
pub fn format_nodata(account: &str, eni: &str, start: u64, end: u64) -> String {
    format!("2 {account} {eni} - - - - - - - {start} {end} - NODATA")
}

/// The flow-log file: appended to, rotated to `<file>.1 … <file>.<keep>` past `max_bytes`.
pub struct RotatingFile {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max_bytes: u64,
    keep: usize,
    /// Lines not written yet: one `write` per 64 KiB instead of one per record.
    buf: Vec<u8>,
}

/// How much [`RotatingFile`] buffers before it writes.
const WRITE_CHUNK: usize = 64 << 10;

impl RotatingFile {
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            size,
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
            buf: Vec::with_capacity(WRITE_CHUNK),
        })
    }

    pub fn write_lines(&mut self, lines: &[String]) -> io::Result<()> {
        for l in lines {
            self.write_line(l)?;
        }
        self.flush()
    }

    /// Appends one record line (written by [`RotatingFile::flush`] or once 64 KiB are buffered);
    /// rotates first when the line would take the file past its size.
    pub fn write_line(&mut self, l: &str) -> io::Result<()> {
        if self.size > 0 && self.size + l.len() as u64 + 1 > self.max_bytes {
            self.flush()?;
            self.rotate()?;
        }
        self.buf.extend_from_slice(l.as_bytes());
        self.buf.push(b'\n');
        self.size += l.len() as u64 + 1;
        if self.buf.len() >= WRITE_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        let r = self.file.write_all(&self.buf);
        self.buf.clear();
        r
    }

    fn rotate(&mut self) -> io::Result<()> {
        let name = |i: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{i}"));
            PathBuf::from(p)
        };
        for i in (1..self.keep).rev() {
            let from = name(i);
            if from.exists() {
                std::fs::rename(&from, name(i + 1))?;
            }
        }
        std::fs::rename(&self.path, name(1))?;
        self.file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// Merges the workers' batches per interval and writes an interval once every worker had the
/// chance to hand it over (`grace` seconds after its end). Every closed interval gives each
/// known ENI its records, or one `NODATA` record when it saw no traffic, as AWS writes them.
pub struct Writer {
    out: RotatingFile,
    interval_secs: u64,
    grace: u64,
    pending: std::collections::BTreeMap<u64, Pending>,
    /// An interval's maps, emptied after it was written, for the next interval (capacity kept).
    spare: Option<Pending>,
    /// The sort buffer of the interval being written (capacity kept).
    sorted: Vec<(Key, Agg)>,
    /// Start of the next interval to close (`NODATA` is written from here on).
    next: u64,
    /// ENI id per zone (zones are never reused, so old names stay right).
    names: FxHashMap<u16, String>,
    /// The ENIs of the running config, in config order.
    current: Vec<u16>,
    account: String,
    /// A custom format (`None`: the default one, written as before).
    format: Option<Format>,
    /// What the custom fields say of each zone's ENI, and of the VPC.
    meta: FxHashMap<u16, Meta>,
    vpc: Vpc,
    /// Records written so far.
    pub written: u64,
}

/// An ENI as the custom fields name it.
#[derive(Debug, Clone, Default)]
struct Meta {
    subnet: Option<String>,
    instance: Option<String>,
    az_id: Option<String>,
}

/// The VPC as the custom fields name it.
#[derive(Debug, Clone, Default)]
struct Vpc {
    id: String,
    region: String,
    /// Address ranges of AWS services (AWS-managed prefix lists) and their names (`S3`).
    services: Vec<(ipnet::IpNet, String)>,
}

#[derive(Default)]
struct Pending {
    records: FxHashMap<Key, Agg>,
    skipped: FxHashMap<u16, u64>,
}

impl Writer {
    /// A writer whose first interval is the one containing `start_unix`.
    pub fn new(out: RotatingFile, interval_secs: u64, start_unix: u64) -> Writer {
        let interval_secs = interval_secs.max(1);
        Writer {
            out,
            interval_secs,
            grace: 2,
            pending: Default::default(),
            spare: None,
            sorted: Vec::new(),
            next: start_unix - start_unix % interval_secs,
            names: FxHashMap::default(),
            current: Vec::new(),
            account: "-".into(),
            format: None,
            meta: FxHashMap::default(),
            vpc: Vpc::default(),
            written: 0,
        }
    }

    /// Writes records in `format` instead of the default one.
    pub fn with_format(mut self, format: Format) -> Writer {
        self.format = Some(format);
        self
    }

    /// Everything the records name of a snapshot: its ENIs (and NAT gateways' interfaces), their
    /// subnets, instances and AZs, the VPC, the region, the AWS services' ranges.
    pub fn learn_snapshot(&mut self, s: &Snapshot) {
        let nats = s
            .nat_gateways
            .iter()
            .enumerate()
            .map(|(i, n)| (NAT_ZONE_BASE.saturating_add(i as u16), n.eni_id.clone()));
        self.learn(
            &s.account_id,
            s.enis.iter().map(|e| (e.zone.0, e.id.clone())).chain(nats),
        );
        for e in s.enis.iter() {
            let sub = &s.subnets[e.subnet];
            self.meta.insert(
                e.zone.0,
                Meta {
                    subnet: Some(sub.id.clone()),
                    instance: e.instance_id.clone(),
                    az_id: sub.az_id.clone(),
                },
            );
        }
        for (i, n) in s.nat_gateways.iter().enumerate() {
            let sub = &s.subnets[n.subnet];
            self.meta.insert(
                NAT_ZONE_BASE.saturating_add(i as u16),
                Meta {
                    subnet: Some(sub.id.clone()),
                    instance: None,
                    az_id: sub.az_id.clone(),
                },
            );
        }
        self.vpc = Vpc {
            id: s.vpc_id.clone(),
            region: s.region.clone(),
            services: s.aws_services.clone(),
        };
    }

    /// The value of custom field `f` of a record of `zone` (`-` where AWS writes `-`).
    fn value(&self, f: Field, zone: u16, rec: Option<(&Key, &Agg)>, span: (u64, u64)) -> String {
        let dash = || "-".to_string();
        let meta = self.meta.get(&zone);
        let service = |a: IpAddr| {
            self.vpc
                .services
                .iter()
                .find(|(n, _)| n.contains(&a))
                .map_or_else(dash, |(_, s)| s.clone())
        };
        let five = rec.map(|(k, _)| k.five);
        let ext = rec.map(|(_, a)| a.ext).unwrap_or_default();
        let pkt = ext.pkt.or(five.map(|f| (f.src, f.dst)));
        match f {
            Field::Version => "2".into(),
            Field::AccountId => self.account.clone(),
            Field::InterfaceId => self.names.get(&zone).cloned().unwrap_or_else(dash),
            Field::Srcaddr => five.map_or_else(dash, |f| f.src.to_string()),
            Field::Dstaddr => five.map_or_else(dash, |f| f.dst.to_string()),
            Field::Srcport => five.map_or_else(dash, |f| f.sport.to_string()),
            Field::Dstport => five.map_or_else(dash, |f| f.dport.to_string()),
            Field::Protocol => five.map_or_else(dash, |f| f.proto.to_string()),
            Field::Packets => rec.map_or_else(dash, |(_, a)| a.packets.to_string()),
            Field::Bytes => rec.map_or_else(dash, |(_, a)| a.bytes.to_string()),
            Field::Start => rec.map_or(span.0, |(_, a)| a.first).to_string(),
            Field::End => rec.map_or(span.1, |(_, a)| a.last).to_string(),
            Field::Action => rec.map_or_else(dash, |(k, _)| {
                if k.accept { "ACCEPT" } else { "REJECT" }.into()
            }),
            Field::LogStatus => "OK".into(),
            Field::VpcId => self.vpc.id.clone(),
            Field::SubnetId => meta.and_then(|m| m.subnet.clone()).unwrap_or_else(dash),
            Field::InstanceId => meta.and_then(|m| m.instance.clone()).unwrap_or_else(dash),
            Field::TcpFlags => match five {
                Some(f) if IpProtocol::from(f.proto) == IpProtocol::Tcp => {
                    ext.tcp_flags.to_string()
                }
                Some(_) => "0".into(),
                None => dash(),
            },
            Field::Type => five.map_or_else(dash, |f| {
                if f.src.is_ipv6() { "IPv6" } else { "IPv4" }.into()
            }),
            Field::PktSrcaddr => pkt.map_or_else(dash, |p| p.0.to_string()),
            Field::PktDstaddr => pkt.map_or_else(dash, |p| p.1.to_string()),
            Field::Region => self.vpc.region.clone(),
            Field::AzId => meta.and_then(|m| m.az_id.clone()).unwrap_or_else(dash),
            // No Wavelength Zone, Outpost or Local Zone here.
            Field::SublocationType | Field::SublocationId => dash(),
            Field::PktSrcAwsService => pkt.map_or_else(dash, |p| service(p.0)),
            Field::PktDstAwsService => pkt.map_or_else(dash, |p| service(p.1)),
            Field::FlowDirection => match ext.egress {
                Some(true) => "egress".into(),
                Some(false) => "ingress".into(),
                None => dash(),
            },
            Field::TrafficPath => match (ext.egress, ext.path) {
                (Some(true), p) if p != 0 => p.to_string(),
                _ => dash(),
            },
        }
    }

    fn record(&self, k: &Key, a: &Agg) -> String {
        match &self.format {
            None => format_record(&self.account, &self.name(k.zone), k, a),
            Some(f) => f.render(|x| self.value(x, k.zone, Some((k, a)), (a.first, a.last))),
        }
    }

    fn empty(&self, zone: u16, start: u64, end: u64, status: &str) -> String {
        match &self.format {
            None if status == "NODATA" => {
                format_nodata(&self.account, &self.name(zone), start, end)
            }
            None => format_skipdata(&self.account, &self.name(zone), start, end),
            Some(f) => f.render_empty(|x| match x {
                Field::LogStatus => status.to_string(),
                x => self.value(x, zone, None, (start, end)),
            }),
        }
    }

    fn name(&self, z: u16) -> String {
        self.names.get(&z).cloned().unwrap_or_else(|| "-".into())
    }

    /// The account and the ENIs (zone, id) of the running config.
    pub fn learn(&mut self, account: &str, enis: impl IntoIterator<Item = (u16, String)>) {
        self.account = account.to_string();
        self.current.clear();
        for (z, id) in enis {
            self.current.push(z);
            self.names.insert(z, id);
        }
    }

    pub fn add(&mut self, mut b: Batch) {
        if let Some(s) = &b.snap {
            self.learn_snapshot(s);
        }
        if b.records.is_empty() && b.skipped.is_empty() {
            if let Some(back) = b.back {
                let _ = back.send(b.records);
            }
            return;
        }
        let spare = &mut self.spare;
        let p = self
            .pending
            .entry(b.interval)
            .or_insert_with(|| spare.take().unwrap_or_default());
        for (k, a) in b.records.drain(..) {
            p.records
                .entry(k)
                .and_modify(|x| {
                    x.packets += a.packets;
                    x.bytes += a.bytes;
                    x.first = x.first.min(a.first);
                    x.last = x.last.max(a.last);
                    x.ext.tcp_flags |= a.ext.tcp_flags;
                })
                .or_insert(a);
        }
        for (z, n) in b.skipped {
            *p.skipped.entry(z).or_default() += n;
        }
        if let Some(back) = b.back {
            // The worker's next interval travels in it (a worker gone: dropped here).
            let _ = back.send(b.records);
        }
    }

    /// Bytes the writer keeps for the next interval (its spare map and sort buffer): after
    /// the first interval of a given size, later ones of that size allocate nothing.
    pub fn retained_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(Key, Agg)>();
        self.spare.as_ref().map_or(0, |p| p.records.capacity()) * (entry + 1)
            + self.sorted.capacity() * entry
    }

    /// Writes every interval that ended more than `grace` seconds before `now_unix`; with
    /// `all` (shutdown) also what is pending of the interval still open.
    pub fn flush(&mut self, now_unix: u64, all: bool) -> io::Result<()> {
        // Batches that came after their interval was written: their records, late.
        let late: Vec<u64> = self.pending.range(..self.next).map(|(i, _)| *i).collect();
        for i in late {
            self.write_interval(i, false)?;
        }
        while self.next + self.interval_secs + self.grace <= now_unix {
            self.write_interval(self.next, true)?;
            self.next += self.interval_secs;
        }
        if all {
            let open: Vec<u64> = self.pending.keys().copied().collect();
            for i in open {
                self.write_interval(i, false)?;
            }
        }
        Ok(())
    }

    fn write_interval(&mut self, i: u64, nodata: bool) -> io::Result<()> {
        let mut p = self.pending.remove(&i).unwrap_or_default();
        let mut recs = std::mem::take(&mut self.sorted);
        recs.clear();
        recs.extend(p.records.drain());
        recs.sort_by_key(|(k, a)| {
            (
                a.first,
                k.zone,
                k.five.src,
                k.five.dst,
                k.five.sport,
                k.five.dport,
            )
        });
        let end = i + self.interval_secs;
        let mut n = 0u64;
        let r = (|| {
            for (k, a) in &recs {
                let line = self.record(k, a);
                self.out.write_line(&line)?;
                n += 1;
            }
            for z in p.skipped.keys() {
                let line = self.empty(*z, i, end, "SKIPDATA");
                self.out.write_line(&line)?;
                n += 1;
            }
            if nodata {
                for j in 0..self.current.len() {
                    let z = self.current[j];
                    if !recs.iter().any(|(k, _)| k.zone == z) && !p.skipped.contains_key(&z) {
                        let line = self.empty(z, i, end, "NODATA");
                        self.out.write_line(&line)?;
                        n += 1;
                    }
                }
            }
            self.out.flush()
        })();
        self.written += n;
        p.skipped.clear();
        self.spare = Some(p);
        self.sorted = recs;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn five(sport: u16) -> Five {
        Five {
            src: "10.0.1.10".parse().unwrap(),
            dst: "203.0.113.100".parse().unwrap(),
            sport,
            dport: 80,
            proto: 6,
        }
    }

    #[test]
    fn aggregates_per_key_and_skips_beyond_the_bound() {
        let mut a = Aggregator::new(2, 60, 1_000_000);
        assert_eq!(a.interval, 999_960);
        let k = |s, accept| Key {
            zone: 1,
            five: five(s),
            accept,
        };
        a.add(k(1000, true), 1, 60, 1_000_001);
        a.add(k(1000, true), 1, 40, 1_000_005);
        a.add(k(1000, false), 1, 40, 1_000_006);
        a.add(k(1001, true), 1, 40, 1_000_007);
        assert!(!a.due(1_000_019));
        assert!(a.due(1_000_020));
        let b = a.take(1_000_020, None);
        assert_eq!(b.interval, 999_960);
        assert_eq!(a.interval, 1_000_020);
        let r = b
            .records
            .iter()
            .find(|(x, _)| *x == k(1000, true))
            .unwrap()
            .1;
        assert_eq!(
            r,
            Agg {
                packets: 2,
                bytes: 100,
                first: 1_000_001,
                last: 1_000_005,
                ext: Ext::default(),
            }
        );
        assert_eq!(b.records.len(), 2);
        assert_eq!(b.skipped, vec![(1, 1)]);
    }

    #[test]
    fn record_has_the_default_format_fields_in_order() {
        let k = Key {
            zone: 0,
            five: five(49152),
            accept: false,
        };
        let a = Agg {
            packets: 3,
            bytes: 180,
            first: 1700000000,
            last: 1700000009,
            ext: Ext::default(),
        };
        let line = format_record("123456789012", "eni-web", &k, &a);
        assert_eq!(
            line,
            "2 123456789012 eni-web 10.0.1.10 203.0.113.100 49152 80 6 3 180 1700000000 1700000009 REJECT OK"
        );
        assert_eq!(line.split(' ').count(), FIELDS.len());
        assert_eq!(
            format_skipdata("1", "eni-a", 60, 120).split(' ').count(),
            FIELDS.len()
        );
        assert_eq!(
            format_nodata("1", "eni-a", 60, 120).split(' ').count(),
            FIELDS.len()
        );
    }

    #[test]
    fn the_writer_merges_workers_and_waits_for_the_interval_to_close() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("flow.log");
        let mut w = Writer::new(RotatingFile::open(&p, 1 << 20, 2).unwrap(), 60, 600);
        let k = Key {
            zone: 7,
            five: five(40000),
            accept: true,
        };
        let a = |packets, first, last| Agg {
            packets,
            bytes: packets * 100,
            first,
            last,
            ext: Ext::default(),
        };
        // Two workers saw the same flow in the interval starting at 600; one overflowed.
        w.add(Batch {
            interval: 600,
            records: vec![(k, a(2, 610, 620))],
            skipped: vec![],
            snap: None,
            back: None,
        });
        w.add(Batch {
            interval: 600,
            records: vec![(k, a(3, 605, 640))],
            skipped: vec![(7, 4)],
            snap: None,
            back: None,
        });
        w.learn(
            "123456789012",
            [(7, "eni-x".to_string()), (8, "eni-quiet".to_string())],
        );
        w.flush(661, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "",
            "grace not over yet"
        );
        w.flush(662, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "2 123456789012 eni-x 10.0.1.10 203.0.113.100 40000 80 6 5 500 605 640 ACCEPT OK\n\
             2 123456789012 eni-x - - - - - - - 600 660 - SKIPDATA\n\
             2 123456789012 eni-quiet - - - - - - - 600 660 - NODATA\n"
        );
        assert_eq!(w.written, 3);
        // A quiet interval: NODATA for every ENI; shutdown writes the open one's records only.
        w.add(Batch {
            interval: 720,
            records: vec![(k, a(1, 730, 730))],
            skipped: vec![],
            snap: None,
            back: None,
        });
        w.flush(750, true).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let tail: Vec<&str> = text.lines().skip(3).collect();
        assert_eq!(
            tail,
            vec![
                "2 123456789012 eni-x - - - - - - - 660 720 - NODATA",
                "2 123456789012 eni-quiet - - - - - - - 660 720 - NODATA",
                "2 123456789012 eni-x 10.0.1.10 203.0.113.100 40000 80 6 1 100 730 730 ACCEPT OK",
            ]
        );
    }

    #[test]
    fn record_buffers_come_back_and_the_writer_reuses_its_own() {
        // Issue 17: a second flood of flow-log records grew RSS again by +6 to +60 MB. Each
        // interval allocated afresh: the worker's batch buffer, the writer's interval map
        // (doubling up to its size), a line per record held until all were written. Now an
        // interval of a size already seen allocates nothing: the batch buffer comes back to
        // the worker, and the writer keeps its emptied map and sort buffer.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("flow.log");
        let mut w = Writer::new(RotatingFile::open(&p, 1 << 30, 2).unwrap(), 60, 600);
        w.learn("123456789012", [(1, "eni-a".to_string())]);
        let mut agg = Aggregator::new(4096, 60, 600);
        let mut first = None;
        let mut retained = Vec::new();
        for round in 0..4u16 {
            let t = 600 + 60 * u64::from(round);
            for s in 0..3000u16 {
                let key = Key {
                    zone: 1,
                    five: five(10_000 + round * 3000 + s),
                    accept: true,
                };
                agg.add(key, 1, 100, t + 1);
            }
            let b = agg.take(t + 60, None);
            assert_eq!(b.records.len(), 3000);
            let at = b.records.as_ptr();
            match first {
                None => first = Some(at),
                Some(f) => assert_eq!(at, f, "round {round}: the batch came in a new buffer"),
            }
            w.add(b);
            w.flush(t + 62, false).unwrap();
            retained.push(w.retained_bytes());
        }
        assert!(retained[0] >= 3000 * std::mem::size_of::<(Key, Agg)>());
        assert!(
            retained.iter().all(|&r| r == retained[0]),
            "the writer allocated again: {retained:?}"
        );
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 4 * 3000);
        assert!(text.lines().all(|l| l.ends_with(" ACCEPT OK")));
    }

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("flow.log");
        let mut f = RotatingFile::open(&p, 100, 2).unwrap();
        let line = "x".repeat(59);
        for _ in 0..5 {
            f.write_lines(std::slice::from_ref(&line)).unwrap();
        }
        assert!(p.exists());
        assert!(d.path().join("flow.log.1").exists());
        assert!(d.path().join("flow.log.2").exists());
        assert!(!d.path().join("flow.log.3").exists());
        assert_eq!(std::fs::read_to_string(&p).unwrap().lines().count(), 1);
    }
}
