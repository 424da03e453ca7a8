//! Packet capture in the classic pcap format with `LINKTYPE_RAW` (101: each record is an IP
//! packet, v4 or v6), which tcpdump and Wireshark read. One file per port holds what the port
//! receives and what is sent out of it; past its size cap a file takes no more packets (they
//! are counted), so a forgotten capture cannot fill the disk.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// pcap magic (microsecond timestamps), version 2.4.
const MAGIC: u32 = 0xa1b2_c3d4;
/// `LINKTYPE_RAW`.
pub const LINKTYPE_RAW: u32 = 101;
/// Snap length: a whole TSO super-packet.
const SNAPLEN: u32 = 65535;

/// An open capture file.
pub struct PcapFile {
    out: BufWriter<std::fs::File>,
    size: u64,
    cap: u64,
    pub path: PathBuf,
}

impl PcapFile {
    /// Creates `path` (truncating) and writes the global header.
    pub fn create(path: &Path, cap_bytes: u64) -> io::Result<PcapFile> {
        let mut out = BufWriter::new(std::fs::File::create(path)?);
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapFile {
            out,
            size: 24,
            cap: cap_bytes.max(24),
            path: path.to_path_buf(),
        })
    }

    /// Appends one packet captured at `unix_micros`; `Ok(false)` when the cap is reached.
    pub fn write(&mut self, pkt: &[u8], unix_micros: u64) -> io::Result<bool> {
        let len = pkt.len().min(SNAPLEN as usize);
        let rec = 16 + len as u64;
        if self.size + rec > self.cap {
            return Ok(false);
        }
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((unix_micros / 1_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((unix_micros % 1_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(len as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(pkt.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&pkt[..len])?;
        self.size += rec;
        Ok(true)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A port's capture switch: workers test `on` (one relaxed load per packet when off) and write
/// under the mutex only while a capture runs.
#[derive(Default)]
pub struct Capture {
    on: AtomicBool,
    file: Mutex<Option<PcapFile>>,
    pub packets: AtomicU64,
    pub truncated: AtomicU64,
}

impl Capture {
    #[inline]
    pub fn active(&self) -> bool {
        self.on.load(Relaxed)
    }

    /// Starts capturing into `path` (replacing a running capture).
    pub fn start(&self, path: &Path, cap_bytes: u64) -> io::Result<()> {
        let f = PcapFile::create(path, cap_bytes)?;
        let mut g = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut old) = g.replace(f) {
            let _ = old.flush();
        }
        self.on.store(true, Relaxed);
        Ok(())
    }

    /// Stops and flushes; returns the file's path if a capture was running.
    pub fn stop(&self) -> Option<PathBuf> {
        self.on.store(false, Relaxed);
        let mut g = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let mut f = g.take()?;
        let _ = f.flush();
        Some(f.path)
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|f| f.path.clone())
    }

    /// Records a packet if a capture runs.
    pub fn record(&self, pkt: &[u8], unix_micros: u64) {
        let mut g = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = g.as_mut() {
            match f.write(pkt, unix_micros) {
                Ok(true) => self.packets.fetch_add(1, Relaxed),
                _ => self.truncated.fetch_add(1, Relaxed),
            };
        }
    }

    /// Pushes buffered records to the file (the control plane calls it every second, so a
    /// reader sees packets while the capture runs).
    pub fn flush(&self) {
        if let Some(f) = self.file.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = f.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_records_follow_the_pcap_format_and_stop_at_the_cap() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.pcap");
        let mut f = PcapFile::create(&p, 24 + 2 * (16 + 20)).unwrap();
        let pkt = [0x45u8; 20];
        assert!(f.write(&pkt, 1_700_000_000_123_456).unwrap());
        assert!(f.write(&pkt, 1_700_000_001_000_000).unwrap());
        assert!(!f.write(&pkt, 1_700_000_002_000_000).unwrap());
        f.flush().unwrap();
        let b = std::fs::read(&p).unwrap();
        assert_eq!(b.len(), 24 + 2 * 36);
        assert_eq!(&b[0..4], &MAGIC.to_le_bytes());
        assert_eq!(
            u32::from_le_bytes(b[20..24].try_into().unwrap()),
            LINKTYPE_RAW
        );
        assert_eq!(
            u32::from_le_bytes(b[24..28].try_into().unwrap()),
            1_700_000_000
        );
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 123_456);
        assert_eq!(u32::from_le_bytes(b[32..36].try_into().unwrap()), 20);
        assert_eq!(&b[40..60], &pkt);
    }
}
