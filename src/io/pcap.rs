//! Packet capture in the classic pcap format with `LINKTYPE_RAW` (101: each record is an IP
//! packet, v4 or v6), which tcpdump and Wireshark read. One file per port holds what the port
//! receives and what is sent out of it; past its size cap a file takes no more packets (they
//! are counted), so a forgotten capture cannot fill the disk.
//!
//! Capture is a wrapper around a port ([`Captured`]): a [`Port`] that forwards every call to the
//! port inside and records the IP packet of each frame it reads or writes while a capture runs.
//! The worker knows nothing of it.

use super::port::{Frame, Out, Port, RxMeta, Tx};
use crate::wire::pcap as format;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Creates `path` (truncating) and writes the global header. A symbolic link at `path` is
    /// refused (`O_NOFOLLOW`): a capture never writes through one.
    pub fn create(path: &Path, cap_bytes: u64) -> io::Result<PcapFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let mut out = BufWriter::new(f);
        out.write_all(&format::raw_global_header(SNAPLEN))?;
        let header = format::GLOBAL_HEADER_LEN as u64;
        Ok(PcapFile {
            out,
            size: header,
            cap: cap_bytes.max(header),
            path: path.to_path_buf(),
        })
    }

    /// Appends one packet captured at `unix_micros`; `Ok(false)` when the cap is reached.
    pub fn write(&mut self, pkt: &[u8], unix_micros: u64) -> io::Result<bool> {
        let len = pkt.len().min(SNAPLEN as usize);
        let rec = (format::RECORD_HEADER_LEN + len) as u64;
        if self.size + rec > self.cap {
            return Ok(false);
        }
        let h = format::raw_record_header(unix_micros, len as u32, pkt.len() as u32);
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

/// Wall-clock time of a capture record.
fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A port whose traffic can be captured: what it receives and what is sent out of it go to its
/// [`Capture`] while one runs (one relaxed load per packet otherwise). Dereferences to the port
/// inside, so its fields read as the port's own.
pub struct Captured<P> {
    pub inner: P,
    /// Shared with the `Captured` that replaces this one when a reload only changes addresses.
    pub capture: Arc<Capture>,
}

impl<P> Captured<P> {
    pub fn new(inner: P, capture: Arc<Capture>) -> Captured<P> {
        Captured { inner, capture }
    }
}

impl<P> std::ops::Deref for Captured<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.inner
    }
}

impl<P: Port> Port for Captured<P> {
    fn queues(&self) -> usize {
        self.inner.queues()
    }

    fn headroom(&self) -> usize {
        self.inner.headroom()
    }

    fn wait(&self, q: usize, timeout: Duration) -> io::Result<bool> {
        self.inner.wait(q, timeout)
    }

    #[inline]
    fn recv(&self, q: usize, frame: &mut [u8]) -> io::Result<Option<RxMeta>> {
        let r = self.inner.recv(q, frame);
        if let Ok(Some(m)) = &r
            && self.capture.active()
        {
            let h = self.inner.headroom();
            if let Some(pkt) = frame.get(h..h + m.len) {
                self.capture.record(pkt, unix_micros());
            }
        }
        r
    }

    #[inline]
    fn send(&self, q: usize, frame: &mut [u8], tx: Tx) -> io::Result<()> {
        if self.capture.active()
            && let Some(pkt) = frame.get(self.inner.headroom()..)
        {
            self.capture.record(pkt, unix_micros());
        }
        self.inner.send(q, frame, tx)
    }

    #[inline]
    fn recv_batch(&self, q: usize, frames: &mut [Frame], metas: &mut [RxMeta]) -> usize {
        let n = self.inner.recv_batch(q, frames, metas);
        if self.capture.active() {
            let h = self.inner.headroom();
            let now = unix_micros();
            for (f, m) in frames.iter().zip(metas.iter()).take(n) {
                if let Some(pkt) = f.get(h..h + m.len) {
                    self.capture.record(pkt, now);
                }
            }
        }
        n
    }

    #[inline]
    fn send_batch(
        &self,
        q: usize,
        frames: &mut [Frame],
        outs: &[Out],
        done: &mut dyn FnMut(&Out, bool),
    ) {
        if self.capture.active() {
            let h = self.inner.headroom();
            let now = unix_micros();
            for o in outs {
                if let Some(pkt) = frames.get(o.slot).and_then(|f| f.get(h..o.len)) {
                    self.capture.record(pkt, now);
                }
            }
        }
        self.inner.send_batch(q, frames, outs, done)
    }

    fn takes_uso(&self) -> bool {
        self.inner.takes_uso()
    }

    fn takes_tso(&self) -> bool {
        self.inner.takes_tso()
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
        // Read back by the core's independent reader (magic, link type, timestamps, lengths).
        let r = format::read(&b).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].nanos, 1_700_000_000_123_456_000);
        assert_eq!(r[0].packet, Some(&pkt[..]));
        assert_eq!(r[1].nanos, 1_700_000_001_000_000_000);
    }

    #[test]
    fn a_captured_port_records_what_it_reads_and_sends_only_while_capturing() {
        use crate::io::mem::MemPort;
        let d = tempfile::tempdir().unwrap();
        let p = Captured::new(MemPort::new(1, 0), Arc::new(Capture::default()));
        let mut frame = vec![0u8; 64];
        p.inner.push(0, vec![0x45; 20]);
        assert!(p.recv(0, &mut frame).unwrap().is_some());
        assert_eq!(p.capture.packets.load(Relaxed), 0, "no capture running");
        p.capture.start(&d.path().join("p.pcap"), 1 << 20).unwrap();
        p.inner.push(0, vec![0x45; 20]);
        let m = p.recv(0, &mut frame).unwrap().unwrap();
        assert_eq!(m.len, 20);
        p.send(0, &mut [0x46; 28], Tx::Forwarded).unwrap();
        assert_eq!(p.capture.packets.load(Relaxed), 2);
        let path = p.capture.stop().unwrap();
        let b = std::fs::read(path).unwrap();
        assert_eq!(b.len(), 24 + (16 + 20) + (16 + 28));
        let r = format::read(&b).unwrap();
        assert_eq!(r[0].packet, Some(&[0x45; 20][..]));
        assert_eq!(r[1].packet, Some(&[0x46; 28][..]));
        assert_eq!(
            p.inner.sent(0),
            vec![vec![0x46; 28]],
            "the frame went through"
        );
    }
}
